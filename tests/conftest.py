"""Fixtures of the kit's own tests (tests/hidden has its own conftest: it is the judge's suite)."""
import fcntl
import os

import pytest

from kit import ROOT, calibrate, read_calibrated

# files that need the machine to themselves under pytest-xdist: they measure the whole machine (the
# host's free disk and tmpfs RAM while attacks are graded) and already grade on both cores
EXCLUSIVE_FILES = {"test_adversarial"}
# a file of a few seconds, run right after them: whichever worker does not take the exclusive
# file starts with it, so the exclusive one waits seconds for the machine, not a long file
QUICK_FILE = "test_config"


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture parameters
def pytest_collection_modifyitems(config, items):
    """The order pytest-xdist hands out files in (`make test` passes --no-loadscope-reorder): the
    exclusive files, then QUICK_FILE, then the rest as collected. A plain run keeps the same order.
    The sort is stable, so each file's own tests keep theirs."""
    def rank(item):
        stem = item.path.stem
        return 0 if stem in EXCLUSIVE_FILES else 1 if stem == QUICK_FILE else 2
    items.sort(key=rank)


def _shared_tmp(tmp_path_factory):
    """A folder every pytest-xdist worker of this run sees (pytest-N/, above each worker's
    popen-gwK/); without xdist, this run's own."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if "PYTEST_XDIST_WORKER" in os.environ else base


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
    """calibrated(aid) -> kit.Calibrated: the CI subset of `autograder calibrate`, once a run.
    The mutant and variant tests read its first seed, which is the config's own. Under pytest-xdist
    the files that read it may sit on different workers: the first to ask runs it in the shared
    folder under a lock, and the others wait for it and read it back."""
    shared = _shared_tmp(tmp_path_factory)
    runs = {}

    def get(aid: str):
        if aid not in runs:
            folder = shared / f"calibrate-{aid}"
            with open(shared / f"calibrate-{aid}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                done = (folder / "log.txt").exists()  # written last; a failed run is resumed
                runs[aid] = read_calibrated(folder) if done else calibrate(aid, folder)
        return runs[aid]
    return get


@pytest.fixture(scope="module", autouse=True)
def _machine_share(request, tmp_path_factory):
    """Under pytest-xdist, a file in EXCLUSIVE_FILES runs with no other worker's file beside it; the
    others share the machine. A lock file in the run's shared temporary folder: shared for a file,
    exclusive for an exclusive one, taken for the whole file (its module fixtures included, which
    is where the grading happens). A gate taken first gives the exclusive file priority: once it
    waits, no other file starts, so it cannot wait for ever while the other worker goes from file
    to file. Without xdist (a plain `pytest`) this does nothing."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    shared = _shared_tmp(tmp_path_factory)
    exclusive = request.path.stem in EXCLUSIVE_FILES
    with open(shared / "machine.gate", "a") as gate, open(shared / "machine.lock", "a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
