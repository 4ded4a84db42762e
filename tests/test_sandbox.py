"""The sandbox's command line and policy, without running anything."""
import json
import os
import shutil
import sys
from pathlib import Path

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
    """bwrap asked for by name and missing is an error of the grader (exit 2), never a score."""
    from autograder.errors import SandboxUnavailable

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
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


def _as_uid(uid: int, call) -> tuple[int, int]:
    """call(syscall) in a child that is `uid`: (its result, errno)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.write(w, json.dumps([call(libc.syscall), ctypes.get_errno()]).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        return tuple(json.loads(f.read()))


@needs_root
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the key syscalls' numbers are x86-64's")
def test_a_key_left_in_a_sandbox_uids_keyrings_is_gone_when_the_uid_is_released():
    """A key a submission adds to its uid's user keyring outlives every process of the uid; the
    next sandbox to run as that uid must not find it. Added here without the seccomp filter (which
    refuses add_key), as a tier without it, or a grader that died, would leave it."""
    add_key, keyctl, search, enokey = 248, 250, 10, 126
    with sandbox.claim_uid("bwrap") as uid:
        added, err = _as_uid(uid, lambda sc: sc(add_key, b"user", b"left-behind", b"secret", 6, -4))
        if added < 0:
            pytest.skip(f"this machine refuses add_key (errno {err}): no key can be left")
        assert _as_uid(uid, lambda sc: sc(keyctl, search, -4, b"user", b"left-behind", 0))[0] == added
    assert _as_uid(uid, lambda sc: sc(keyctl, search, -4, b"user", b"left-behind", 0)) == (-1, enokey)


def _signal_and_wait(pid: int, sig: int, state: str) -> None:
    """Send `sig`, then wait until the process shows `state`: a signal is delivered when the
    process next runs, which on a loaded machine is not at once."""
    import time

    os.kill(pid, sig)
    deadline = time.monotonic() + 10
    while sandbox._stat(pid)[0] != state and time.monotonic() < deadline:
        time.sleep(0.01)


@needs_root
def test_the_graders_backstop_leaves_a_running_harness_to_stop_its_probe(tmp_path):
    """Past twice the quota the grader stops the whole sandbox only when the harness (the uid's
    first process) is stopped or gone; while it runs, the harness's own stop of one probe comes
    first, up to four times the quota."""
    import signal
    import subprocess

    from autograder.config import Limits

    limits = Limits(max_written_mb=1, max_files=100)
    with sandbox.claim_uid("bwrap") as uid:
        harness_like = subprocess.Popen(["sleep", "60"], user=uid, group=uid)
        try:
            watch = sandbox.QuotaWatch(tmp_path, limits, uid)
            assert watch.check() == ""  # the first look finds the harness
            (tmp_path / "three").write_bytes(b"x" * (3 << 20))
            assert watch.check() == ""  # 3 MiB: the running harness's to stop
            _signal_and_wait(harness_like.pid, signal.SIGSTOP, "T")
            assert "more than 2 MiB" in watch.check()
            _signal_and_wait(harness_like.pid, signal.SIGCONT, "S")
            assert watch.check() == ""
            (tmp_path / "two").write_bytes(b"x" * (2 << 20))
            assert "more than 4 MiB" in watch.check()  # 5 MiB: stopped even so
        finally:
            harness_like.kill()
            harness_like.wait()


# --- the warm sandbox (autograder/zygote.py): nothing of one submission reaches the next ---------

LEAVE = '''
import ctypes, json, os, socket, time
libc = ctypes.CDLL(None, use_errno=True)
left = {}
for path in ("/tmp/leak", "/dev/shm/leak", "/var/tmp/leak", "/leak", "/dev/leak", "/sandbox/leak",
             "/sandbox/../leak"):
    try:
        with open(path, "w") as f:
            f.write("leak")
        left[path] = True
    except OSError:
        pass
left["shm"] = libc.shmget(0x5EED, 4096, 0o1666) >= 0   # IPC_CREAT | 0666: outlives its process
left["msg"] = libc.msgget(0x5EED, 0o1666) >= 0
left["sem"] = libc.semget(0x5EED, 1, 0o1666) >= 0
if os.fork() == 0:  # a daemon holding an abstract unix socket, detached as far as it may be
    try:
        os.setsid()
    except OSError:
        pass  # the seccomp filter keeps it in the sandbox's session
    if os.fork() == 0:
        server = socket.socket(socket.AF_UNIX)
        server.bind("\\0autograder-leak")
        server.listen(1)
        time.sleep(120)
    os._exit(0)
time.sleep(0.5)
probe = socket.socket(socket.AF_UNIX)
left["socket"] = probe.connect_ex("\\0autograder-leak") == 0
raise RuntimeError("left " + json.dumps(left))
'''

LOOK = '''
import ctypes, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
found = {}
for path in ("/tmp/leak", "/dev/shm/leak", "/var/tmp/leak", "/leak", "/dev/leak", "/sandbox/leak"):
    if os.path.exists(path):
        found[path] = True
for name, ok in (("shm", libc.shmget(0x5EED, 0, 0) >= 0), ("msg", libc.msgget(0x5EED, 0) >= 0),
                 ("sem", libc.semget(0x5EED, 0, 0) >= 0)):
    if ok:
        found[name] = True
probe = socket.socket(socket.AF_UNIX)
if probe.connect_ex("\\0autograder-leak") == 0:
    found["socket"] = True
probe.close()
mine = {os.getpid(), os.getppid()}
others = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode()
    except OSError:
        continue
    if int(pid) not in mine and int(pid) != 1:
        if "harness.py" not in cmd:
            others.append(pid)  # a count only: the report must fit a clipped message
        try:
            status = open(f"/proc/{pid}/status").read()
            uid = int(status.split("Uid:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            continue
        if uid not in (0, os.getuid()):  # the test keeps those that are sandbox uids
            found.setdefault("uids", set()).add(uid)
found["uids"] = sorted(found.get("uids", ()))
found["processes"] = len(others)
fds = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass  # the listing's own descriptor, closed by now
found["fds"] = sorted(target for fd, target in fds.items() if fd not in ("0", "1", "2"))
found["uid"] = os.getuid()
raise RuntimeError("found " + json.dumps(found))
'''


@needs_root
@pytest.mark.parametrize("tier", ["bwrap", "landlock"])
def test_a_submission_leaves_nothing_for_the_next_in_the_warm_sandbox(tmp_path, reference_source, tier):
    """Two submissions graded one after the other by one grader, so by one zygote: the first
    leaves files wherever it can write, SysV IPC objects, and a detached daemon holding an
    abstract unix socket; the second finds none of it, and holds no descriptor but its standard
    streams. In bwrap it sees no process but its own harness; in the landlock tier (no pid
    namespace) it may see other processes, but none of the first submission's."""
    import json

    sys.path.insert(0, str(Path(__file__).parent / "adversarial"))
    from cases import ACCURACY_DEF, in_function
    from kit import grade_many, require_tier

    require_tier(tier)

    paths = []
    for name, code in (("a_leave", LEAVE), ("b_look", LOOK)):
        paths.append(tmp_path / f"{name}.py")
        paths[-1].write_text(in_function(reference_source, ACCURACY_DEF, code))
    results = grade_many(paths, tmp_path / "out", extra=("--sandbox", tier))

    def said(stem: str, word: str) -> dict:
        for test in results[stem]["tests"]:
            if f"{word} {{" in test["output"]:
                text = test["output"].split(f"{word} ", 1)[1]
                return json.loads(text[: text.index("}") + 1])
        raise AssertionError(f"{stem} said nothing: {results[stem]['tests']}")

    left, found = said("a_leave", "left"), said("b_look", "found")
    assert found["uid"] in sandbox.SANDBOX_UIDS
    if tier == "bwrap":
        # the socket attempt was real (the network namespace keeps it in); SysV IPC is refused by
        # the seccomp filter where libseccomp loads, and otherwise made in the job's IPC namespace
        ipc = not sandbox.seccomp_available()
        assert left["shm"] == left["msg"] == left["sem"] == ipc and left["socket"], left
        assert left.get("/sandbox/leak"), left
        assert found["processes"] == 0, found  # nothing but its own harness
        # the probe's own log (its standard streams) and nothing else: not the channel, not the zygote's
        assert set(found["fds"]) <= {"/sandbox/out/accuracy.log"}, found
    else:
        # no namespaces: SysV IPC is refused outright (it would outlive the submission), files
        # can be written only in the work folder, which goes with it; the daemon's socket was real
        from autograder import confine
        unix = confine.landlock_abi() >= 6  # unix sockets only where Landlock scopes them
        assert not (left["shm"] or left["msg"] or left["sem"]) and left["socket"] == unix, left
        assert not {k for k in left if k.startswith("/")}, left
        assert len(found["fds"]) == 1 and found["fds"][0].endswith("/out/accuracy.log"), found
    assert not {k for k in found if k not in ("processes", "fds", "uid", "uids")}, found
    # the first one's daemon died with its grading: no other sandbox uid runs
    assert not set(found["uids"]) & set(sandbox.SANDBOX_UIDS), found


# --- cleanup that no tree can defeat, and a /tmp that cannot hold the host's memory -------------

def _deep_tree(top: Path, depth: int, outside: Path) -> None:
    """`depth` nested folders under `top`, each with a file and a link to `outside`, the deepest
    one unreadable: far deeper than a path (PATH_MAX) or the recursion limit allows."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
        os.symlink(outside, "link", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.fchmod(fd, 0)
    os.close(fd)


def test_remove_tree_takes_any_depth_and_follows_no_link(tmp_path):
    from autograder import harness

    outside = tmp_path / "keep.txt"
    outside.write_text("kept")
    _deep_tree(tmp_path / "tree", 3000, outside)
    harness.remove_tree(str(tmp_path / "tree"))
    assert not (tmp_path / "tree").exists()
    assert outside.read_text() == "kept"


@needs_root
def test_remove_tree_never_empties_a_mount_inside_the_tree(tmp_path):
    """The warm bwrap job binds a Python environment that lives under /tmp (a checkout in /tmp)
    back into its fresh /tmp, read-only; emptying that /tmp after a probe once walked the whole
    environment, every file refused, for minutes per probe. A mount inside a tree is left alone."""
    import subprocess

    from autograder import harness

    mount = tmp_path / "tree" / "env" / "mounted"
    mount.mkdir(parents=True)
    (tmp_path / "tree" / "mine.txt").write_text("removed")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (mount / "theirs.txt").write_text("kept")
        with pytest.raises(OSError):
            harness.remove_tree(str(tmp_path / "tree"))
        assert (mount / "theirs.txt").read_text() == "kept"
        assert not (tmp_path / "tree" / "mine.txt").exists()
    finally:
        subprocess.run(["umount", str(mount)])


def test_sweep_removes_a_dead_zygotes_deep_tree(tmp_path, monkeypatch):
    """A folder left by a dead grader, poisoned with a tree that defeats shutil.rmtree, is removed
    by the next grader's sweep instead of crashing it."""
    import subprocess
    import tempfile

    from autograder import zygote

    dead = subprocess.Popen(["true"])
    dead.wait()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    leftover = tmp_path / f"{zygote._PREFIX}{dead.pid}-poisoned"
    leftover.mkdir()
    _deep_tree(leftover / "jobs", 3000, tmp_path / "nowhere")
    zygote._sweep()
    assert not leftover.exists()


def test_private_tmp_is_sized():
    argv = sandbox.bwrap_argv(["python"], sandbox.Path("/tmp/work"), "cpu", tmp_mb=16)
    tmpfs = argv.index("--tmpfs")
    assert argv[tmpfs - 2:tmpfs] == ["--size", str(16 * 1024 * 1024)]


FILL_TMP = '''
said = {}
# fill /tmp far past its size, bounded (64 MiB) so the host survives even if no cap held
try:
    with open("/tmp/fill", "wb") as f:
        for _ in range(64):
            f.write(b"x" * (1 << 20))
            f.flush()
    said["tmp"] = "filled"
except OSError as exc:
    said["tmp"] = exc.strerror
raise RuntimeError("tmp said " + repr(said))
'''

DEEP_TREES = '''
import os
# leave a tree that shutil.rmtree cannot remove, in tmp and in the work folder
for top in ("/tmp/deep", "deep"):
    os.mkdir(top)
    fd = os.open(top, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
'''


@needs_root
@pytest.mark.parametrize("start", ["warm", "cold"])
def test_a_full_tmp_and_a_deep_tree_harm_no_one(tmp_path, reference_source, start):
    """bwrap's /tmp is a tmpfs of `tmp_memory_mb`: a submission that writes past it gets "No space
    left on device" in its own check and holds no more of the host's memory. Its trainer leaves
    trees 3,000 folders deep in /tmp and its work folder: past the quota's depth, so that probe is
    stopped and they are removed (shutil.rmtree could not). The next submission in the same
    grader scores full marks, and nothing of either is left on the host."""
    import glob

    import yaml

    sys.path.insert(0, str(Path(__file__).parent / "adversarial"))
    from cases import ACCURACY_DEF, TRAINER_DEF, in_function
    from kit import grade_many, require_tier

    require_tier("bwrap")
    data = yaml.safe_load((Path(__file__).parent.parent / "grading_config.yaml").read_text())
    data["limits"]["tmp_memory_mb"] = 16
    config = tmp_path / "grading_config.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    paths = [tmp_path / "a_fill.py", tmp_path / "b_honest.py"]
    paths[0].write_text(in_function(in_function(reference_source, ACCURACY_DEF, FILL_TMP),
                                    TRAINER_DEF, DEEP_TREES))
    paths[1].write_text(reference_source)
    # the grader's own temporary folder (work folders, the channel): private to this test, so that
    # another grading on the machine at the same time cannot look like a leftover of this one
    host_tmp = tmp_path / "host-tmp"
    host_tmp.mkdir()
    results = grade_many(paths, tmp_path / "out", extra=("--sandbox", "bwrap", "--config", config),
                         env={"AUTOGRADER_SANDBOX_START": start, "TMPDIR": str(host_tmp)})
    said = [t["output"] for t in results["a_fill"]["tests"] if "tmp said" in t["output"]]
    assert said and "No space left on device" in said[0], results["a_fill"]["tests"]
    # a tree past the quota's depth stops the probe that made it; it is removed, and the probes
    # after it run
    deep = [t["output"] for t in results["a_fill"]["tests"] if "nested more than" in t["output"]]
    assert deep, results["a_fill"]["tests"]
    assert results["b_honest"]["score"] == results["b_honest"]["max_score"]
    assert results["a_fill"]["score"] < results["b_honest"]["score"]
    left = set(glob.glob(os.path.join(host_tmp, "autograder-*")))
    assert not left, left


def test_the_seccomp_filter_refuses_preallocation(tmp_path):
    """fallocate claims gigabytes of disk in milliseconds without writing them; under the filter
    it is refused, and the file holds no block."""
    import subprocess

    pytest.importorskip("pyseccomp")
    code = f'''
import ctypes, errno, os, sys
sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
from autograder import confine
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
confine.seccomp_filter()
fd = os.open({str(tmp_path / "big")!r}, os.O_WRONLY | os.O_CREAT, 0o600)
said = libc.fallocate(fd, 0, ctypes.c_long(0), ctypes.c_long(1 << 30))
print(said, ctypes.get_errno() == errno.EOPNOTSUPP, os.fstat(fd).st_blocks)
'''
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["-1", "True", "0"], proc.stdout + proc.stderr
