"""Fixtures of the kit's own tests (tests/hidden has its own conftest: it is the judge's suite)."""
import pytest

from kit import ROOT


@pytest.fixture(scope="session")
def reference_source():
    from autograder.extract import extract
    sol = ROOT / "solutions/03_network/03_network.ipynb"
    return extract(sol, sol, "03_network").source
