"""Confinement without namespaces: the `landlock` and `uid` sandbox tiers.

Docker's default seccomp profile, Kubernetes' RuntimeDefault and the lack of CAP_SYS_ADMIN refuse
the namespaces that bubblewrap needs, so inside a container (Gradescope, a Dask pod, a CI job) the
`bwrap` tier cannot start. Everything this module uses is allowed there when the grader is root:

1. `drop_uid`: setgroups([]), setgid, setuid to the submission's own uid (CAP_SETUID/CAP_SETGID are
   in Docker's default set). The process loses every capability; RLIMIT_NPROC applies; it can
   signal only its own uid's processes.
2. `PR_SET_NO_NEW_PRIVS`: no exec can give privileges back (set-uid binaries, file capabilities),
   and it lets an unprivileged process install the two filters below.
3. `landlock_restrict`: a Landlock ruleset (Linux >= 5.13). Read and execute only what a Python
   process needs (/usr, the library folders, the interpreter and the virtual environment, /proc,
   /sys, a few files of /etc and /dev); read and write only the submission's work folder. Nothing
   else: not the kit, not /autograder/source, not $HOME, not /tmp. Where the kernel's Landlock ABI
   allows, TCP bind/connect are refused too (ABI 4), and abstract unix sockets and signals are
   scoped to the sandbox's own processes (ABI 6).
4. `seccomp_filter`: a seccomp-bpf filter through libseccomp (`pyseccomp`): socket() refused for
   every family but AF_UNIX, so there is no network even where the container has one (and AF_UNIX
   too where Landlock cannot scope abstract unix sockets: the uid tier, or ABI < 6); ptrace,
   process_vm_readv/writev, keyctl, bpf, perf_event_open, userfaultfd, the mount family, unshare,
   setns, clone with a namespace flag, io_uring, personality, SysV IPC and POSIX message queues
   refused; clone3 answers ENOSYS so the C library falls back to clone, whose flags the filter can
   see.

Landlock and seccomp are inherited by every child and can never be lifted, so a process that is
restricted before it reads anything of a submission stays restricted whatever the submission does.

The `uid` tier is the floor for kernels without Landlock: steps 1, 2 and 4 only. What the sandbox
can read is then what file permissions let its uid read, so the kit itself must be readable by root
only (the Gradescope export's run_autograder makes it so). The self-test (`python confine.py
--self-test POLICY`) checks exactly that before the tier is used.

Like harness.py, this file is copied into the sandbox and imports nothing of the `autograder`
package; it runs as root until `apply` returns.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import sys

# --- Landlock (include/uapi/linux/landlock.h) ---------------------------------------------------
# No maintained Python binding exists (PyPI's `landlock` is a 2025 development release): these are
# three system calls and two structures, stable kernel ABI, so a small ctypes binding it is.
_NR = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446), "riscv64": (444, 445, 446)}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
FS_MAKE_SYM, FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 12, 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


def _fs_rights(abi: int) -> int:
    """Every filesystem right the kernel's ABI knows: all of them are handled (denied unless a
    rule grants them)."""
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall_numbers():
    return _NR.get(platform.machine())


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing, disabled or refused (an
    old kernel, a seccomp profile that blocks it)."""
    numbers = _syscall_numbers()
    if numbers is None or not sys.platform.startswith("linux"):
        return 0
    abi = _libc.syscall(numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return int(abi) if abi > 0 else 0


def _fail(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def landlock_restrict(read: list[str], write: list[str], devices: list[str] = ()) -> int:
    """Restrict this process (and all it will start) to reading `read`, reading and writing
    `write`, and using the device files `devices`. Returns the ABI applied. Missing paths are
    skipped (a library folder this system does not have)."""
    abi = landlock_abi()
    if abi < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available in this kernel")
    create, add, restrict = _syscall_numbers()
    handled = _fs_rights(abi)
    attr = _RulesetAttr(handled, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise _fail("landlock_create_ruleset")
    try:
        rules = [(p, READ) for p in read] + [(p, handled) for p in write]
        rules += [(p, FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV) for p in devices]
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # not on this system
            try:
                if not os.path.isdir(path):
                    rights &= _FILE_RIGHTS  # a rule on a file may grant only a file's rights
                beneath = _PathBeneath(rights & handled, fd)
                if _libc.syscall(add, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                                 ctypes.byref(beneath), ctypes.c_uint32(0)) != 0:
                    raise _fail(f"landlock_add_rule {path}")
            finally:
                os.close(fd)
        if _libc.syscall(restrict, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise _fail("landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


# --- seccomp -------------------------------------------------------------------------------------

DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "keyctl", "add_key", "request_key", "bpf",
    "perf_event_open", "userfaultfd", "mount", "umount2", "pivot_root", "chroot", "open_tree",
    "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "unshare", "setns",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "personality", "open_by_handle_at",
    "name_to_handle_at", "kexec_load", "init_module", "finit_module", "delete_module", "acct",
    "swapon", "swapoff", "reboot", "quotactl", "lookup_dcookie", "kcmp",
    # SysV IPC and POSIX message queues: with no IPC namespace they would outlive a submission
    # and reach the next one (torch needs neither; its shared memory is files, refused elsewhere)
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "semget",
    "semop", "semtimedop", "semctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr",
    # A session of its own is an autogroup of its own where the kernel groups by session (the
    # default on most distributions, for processes outside a container's cpu cgroup): forty busy
    # loops in forty sessions would take forty shares of the CPU from a neighbour's one. Kept in
    # the sandbox's session, all of a submission shares one (benchmarks/starvation.py).
    "setsid",
)
_CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                     0x40000000, 0x00000080)  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_AF_UNIX = 1


def seccomp_filter(unix_sockets: bool = True) -> None:
    """Install the filter described in the module's docstring (needs no_new_privs or root).
    `unix_sockets` False refuses socket() for every family: where Landlock cannot scope abstract
    unix sockets to the sandbox (the uid tier, Landlock ABI < 6), a unix socket could reach a
    listener of the host's network namespace (a container with --network host shares it)."""
    import pyseccomp as seccomp

    f = seccomp.SyscallFilter(seccomp.ALLOW)  # a foreign architecture's calls are killed (default)
    if unix_sockets:
        f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.NE, _AF_UNIX))
    else:
        f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket")
    for name in DENIED_SYSCALLS:
        try:
            f.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (OSError, RuntimeError, ValueError):
            continue  # a call this architecture or libseccomp does not know
    for flag in _CLONE_NAMESPACES:
        f.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    try:
        f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    except (OSError, RuntimeError, ValueError):
        pass
    # Preallocation claims disk at once (gigabytes in milliseconds, no data written). Refused as
    # unsupported, the C library's posix_fallocate falls back to writing the blocks, which
    # RLIMIT_FSIZE bounds per file.
    f.add_rule(seccomp.ERRNO(errno.EOPNOTSUPP), "fallocate")
    f.load()


# --- the whole sequence --------------------------------------------------------------------------

_PR_SET_NO_NEW_PRIVS = 38


def drop_uid(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(errno.EPERM, f"could not become uid {uid}")


def no_new_privs() -> None:
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")


def apply(policy: dict) -> dict:
    """Confine this process as `policy` says: {"tier": "landlock"|"uid", "uid": int|None,
    "read": [...], "write": [...], "devices": [...]}. Raises OSError where any step fails: a
    sandbox that cannot be built must never run student code. Returns what was applied."""
    import pyseccomp  # noqa: F401 - loaded (and libseccomp found) while /usr is still readable

    uid = policy.get("uid")
    if os.getuid() == 0 and not (isinstance(uid, int) and uid > 0):
        raise OSError(errno.EPERM, "a confined sandbox started as root must name a uid of its own")
    if uid is not None:
        drop_uid(int(uid))
    no_new_privs()
    applied = {"tier": policy["tier"], "uid": os.getuid(), "landlock_abi": 0}
    if policy["tier"] == "landlock":
        applied["landlock_abi"] = landlock_restrict(policy["read"], policy["write"],
                                                    policy.get("devices", []))
    # unix sockets only where Landlock keeps abstract ones within the sandbox (ABI 6 scoping)
    applied["unix_sockets"] = applied["landlock_abi"] >= 6
    seccomp_filter(applied["unix_sockets"])
    return applied


# --- the self-test: run as `python -I confine.py --self-test POLICY_JSON` ------------------------

def _denied(action) -> bool:
    try:
        action()
    except OSError:
        return True
    return False


def self_test(policy: dict) -> dict:
    """Confine a fresh process as `policy` says, then check that it holds: the Python environment
    is readable, the work folder writable, every path in policy["forbidden"] unreadable, /tmp not
    writable (landlock), and no network socket can be made. Returns {"ok": bool, "problem": str}."""
    import socket

    try:
        applied = apply(policy)
    except (OSError, ImportError, RuntimeError) as exc:
        return {"ok": False, "problem": f"could not confine a process ({exc})"}
    for path in policy.get("must_read", []):
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as exc:
            return {"ok": False, "problem": f"the sandbox's uid cannot read {path} ({exc.strerror}): "
                    "every folder above the Python environment must be searchable by others "
                    "(e.g. chmod o+x on it) and its files readable"}
    work = policy["write"][0] if policy.get("write") else None
    if work:
        try:
            with open(os.path.join(work, "probe-write"), "w") as f:
                f.write("ok")
        except OSError as exc:
            return {"ok": False, "problem": f"the sandbox cannot write its work folder ({exc.strerror})"}
    for path in policy.get("forbidden", []):
        if not _denied(lambda: open(path, "rb").close()) or \
                (os.path.isdir(path) and not _denied(lambda: os.listdir(path))):
            how = ("make the kit readable by root only (chmod -R go-rwx on it), as the Gradescope "
                   "export's run_autograder does") if policy["tier"] == "uid" else "Landlock did not hold"
            return {"ok": False, "problem": f"the sandbox's uid can read {path}: {how}"}
    if policy["tier"] == "landlock":
        if not _denied(lambda: open(os.path.join(policy.get("outside", "/tmp"),
                                                 f"autograder-selftest-{os.getpid()}"), "w").close()):
            return {"ok": False, "problem": "Landlock did not stop a write outside the work folder"}
    if not _denied(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()):
        return {"ok": False, "problem": "the seccomp filter did not refuse a network socket"}
    unix = not _denied(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
    if unix != applied["unix_sockets"]:
        return {"ok": False, "problem": f"the seccomp filter {'allowed' if unix else 'refused'} a "
                                        "unix socket against its policy"}
    return {"ok": True, "problem": "", **applied}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        try:
            outcome = self_test(json.loads(sys.argv[2]))
        except Exception as exc:  # noqa: BLE001 - any failure is a failed self-test
            outcome = {"ok": False, "problem": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(outcome) + "\n")
        sys.stdout.flush()
        os._exit(0)
    sys.exit("usage: python confine.py --self-test POLICY_JSON")
