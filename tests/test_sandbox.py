"""The sandbox's command line and policy, without running anything."""
import shutil
import sys

import pytest

from autograder import sandbox
from autograder.errors import UserError


def test_private_tmp_is_mounted_before_the_environment():
    """A later mount hides an earlier one: with /tmp last, a CI checkout under /tmp vanished."""
    argv = sandbox.bwrap_argv(["python"], sandbox.Path("/tmp/work"), "cpu")
    tmpfs = argv.index("--tmpfs")
    binds = [i for i, a in enumerate(argv) if a == "--ro-bind" and argv[i + 1] == sys.prefix]
    assert argv[tmpfs + 1] == "/tmp" and binds and tmpfs < binds[0]


def test_isolation_flags():
    argv = sandbox.bwrap_argv(["python"], sandbox.Path("/tmp/work"), "cpu")
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    assert argv[argv.index("--bind") + 2] == sandbox.INSIDE
    assert not any("/dev/nvidia" in a for a in argv)  # GPUs only when asked for


def test_unknown_mode_is_a_user_error():
    with pytest.raises(UserError, match="--sandbox must be one of"):
        sandbox.require("docker")


def test_missing_bwrap_says_how_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="apt-get install bubblewrap"):
        sandbox.require("bwrap")
    sandbox.require("none")  # never needs bwrap
