"""Fixtures of the kit's own tests (tests/hidden has its own conftest: it is the judge's suite)."""
import pytest

from kit import ROOT, calibrate


@pytest.fixture(scope="session")
def reference_sources():
    """Each assignment's reference solution as the module a submission would become."""
    from autograder.extract import extract
    sources = {}
    for solution in sorted(ROOT.glob("solutions/*/*.ipynb")):
        aid = solution.parent.name
        sources[aid] = extract(solution, solution, aid).source
    return sources


@pytest.fixture(scope="session")
def reference_source(reference_sources):
    return reference_sources["03_network"]


@pytest.fixture(scope="session")
def calibrated(tmp_path_factory):
    """calibrated(aid) -> kit.Calibrated: the CI subset of `autograder calibrate`, once a session.
    The mutant and variant tests read its first seed, which is the config's own."""
    runs = {}

    def get(aid: str):
        if aid not in runs:
            runs[aid] = calibrate(aid, tmp_path_factory.mktemp(f"calibrate-{aid}"))
        return runs[aid]
    return get
