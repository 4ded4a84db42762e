"""The sandbox's command line and policy, without running anything."""
import os
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


needs_root = pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0,
                                reason="the sandbox drops to its own uid only when the grader is root")


@needs_root
def test_sandboxes_running_at_once_get_their_own_uids():
    """Side by side in a batch, two sandboxes never share a uid, so RLIMIT_NPROC and signals stay
    within one submission; a released uid is free again."""
    with sandbox.claim_uid("bwrap") as a, sandbox.claim_uid("bwrap") as b:
        assert a != b and {a, b} <= set(sandbox.SANDBOX_UIDS)
    with sandbox.claim_uid("bwrap") as again:
        assert again == a
    with sandbox.claim_uid("none") as nothing:
        assert nothing is None


@needs_root
def test_a_process_left_running_as_a_sandbox_uid_is_killed_when_the_uid_is_claimed():
    """A grader that died mid-grading can leave its sandbox's processes behind; the next claim of
    that uid (and the end of every grading) kills them, so nothing of one submission lives on into
    another's."""
    import subprocess

    with sandbox.claim_uid("bwrap") as uid:
        pass  # the first free uid, which the next claim gets again
    orphan = subprocess.Popen(["sleep", "60"], user=uid, group=uid)
    try:
        assert (orphan.pid, uid) in sandbox.stray_processes()
        with sandbox.claim_uid("bwrap") as again:
            assert again == uid
            orphan.wait(timeout=5)
        assert orphan.returncode == -9 and (orphan.pid, uid) not in sandbox.stray_processes()
    finally:
        orphan.kill()
