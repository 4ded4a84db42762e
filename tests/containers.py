"""Run commands in a real Docker container with Docker's DEFAULT security (default seccomp profile
and capabilities; no --privileged, --cap-add or --security-opt), as Gradescope and most CI runners
do. The image is a minimal Debian bookworm built from Debian's packages by .ci/docker-setup; the
host's Python and the kit's venv are bound read-only at the same paths, so sys.executable works
inside.

    reason = containers.ensure()          # None when usable; runs .ci/docker-setup if needed (root)
    proc = containers.run([sys.executable, "-c", "import torch"], binds=[containers.kit_bind()])
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / ".ci" / "docker-setup"
IMAGE = os.environ.get("AUTOGRADER_TEST_IMAGE", "autograder-test:bookworm")
LABEL = "autograder.test=1"  # every container this module starts: `docker ps -a --filter label=...`
SETUP_TIMEOUT = 1500  # install + debootstrap take about a minute on a fresh machine


def docker_binary() -> str | None:
    """The client that ships with the daemon .ci/docker-setup installs, else any on PATH."""
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    return shutil.which("docker")


def docker(*args: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
    """`docker ARGS`, captured as text."""
    binary = docker_binary()
    if binary is None:
        raise FileNotFoundError("no docker client")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                          check=check, stdin=subprocess.DEVNULL)


def available() -> str | None:
    """None when the daemon answers and the image exists, else why not."""
    if docker_binary() is None:
        return "no docker client (run .ci/docker-setup as root)"
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=20)
        if info.returncode != 0 or not info.stdout.strip():
            return f"the docker daemon does not answer: {(info.stderr or info.stdout).strip()[-300:]}"
        image = docker("image", "inspect", "--format", "{{.Id}}", IMAGE, timeout=20)
    except subprocess.TimeoutExpired as exc:
        return f"docker did not answer in time ({' '.join(map(str, exc.cmd))})"
    if image.returncode != 0:
        return f"no image {IMAGE} (run .ci/docker-setup)"
    return None


_ensured: list[str | None] = []  # once a process: a failed setup is not retried by every test


def ensure() -> str | None:
    """available(), after running .ci/docker-setup when needed and possible (root). The reason why
    containers can't be used, or None. Setup runs at most once a process, under a lock so that
    concurrent test processes don't install or build twice."""
    if _ensured:
        return _ensured[0]
    reason = available()
    if reason is not None:
        if os.geteuid() != 0:
            reason = f"{reason}; not root, so .ci/docker-setup was not run"
        else:
            with open("/tmp/autograder-docker-setup.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                reason = available()
                if reason is not None:
                    reason = _setup()
    _ensured.append(reason)
    return reason


def _setup() -> str | None:
    try:
        proc = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True,
                              timeout=SETUP_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f".ci/docker-setup did not finish in {SETUP_TIMEOUT} s"
    if proc.returncode != 0:
        return f".ci/docker-setup failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-1500:]}"
    return available()


def environment_roots() -> list[str]:
    """The interpreter's and the venv's folders, as autograder.harness.environment_roots finds them
    (kept here so these tests don't depend on the harness's internals)."""
    roots = {os.path.realpath(sys.base_prefix), os.path.abspath(sys.prefix),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    return sorted(roots)


def kit_bind(read_only: bool = True) -> tuple[str, str, bool]:
    """The checkout at its own path: the venv's editable install imports `autograder` from it."""
    return (str(ROOT), str(ROOT), read_only)


def _mount(host: str, inside: str, read_only: bool) -> str:
    for path in (host, inside):
        if "," in path:
            raise ValueError(f"a bind path with a comma: {path!r}")
    return f"type=bind,source={host},target={inside}" + (",readonly" if read_only else "")


def run(cmd: list[str], *, binds=(), env: dict | None = None, network: str = "host",
        timeout: float = 600, workdir: str | None = None, user: str | None = None,
        copies=(), extra: list[str] = ()) -> subprocess.CompletedProcess:
    """Run CMD in a fresh container of IMAGE, as root (or USER), with Docker's default security.

    binds: (host, inside, read_only) triples, added to the read-only environment roots.
    copies: (host, inside) pairs copied in (`docker cp`, owned by root) before CMD starts: for a
    tree the container may change without touching the host's.
    network: "host" (the container shares the host's loopback) or "none".
    Returns the CompletedProcess (text, stdout and stderr captured); raises TimeoutExpired after
    TIMEOUT seconds. The container is removed in every case, a timeout included.
    """
    if network not in ("host", "none"):
        raise ValueError(f"network must be 'host' or 'none', not {network!r}")
    binary = docker_binary()
    if binary is None:
        raise FileNotFoundError("no docker client")
    name = f"autograder-test-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    args = ["--name", name, "--label", LABEL, f"--network={network}"]
    for root in environment_roots():
        args += ["--mount", _mount(root, root, True)]
    for host, inside, read_only in binds:
        args += ["--mount", _mount(os.path.abspath(host), inside, read_only)]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    if workdir:
        args += ["-w", workdir]
    if user:
        args += ["-u", user]
    args += list(extra)
    try:
        if not copies:
            return subprocess.run([binary, "run", "--rm", *args, IMAGE, *cmd], capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        docker("create", *args, IMAGE, *cmd, timeout=60, check=True)
        for host, inside in copies:
            docker("cp", os.path.abspath(host), f"{name}:{inside}", timeout=timeout, check=True)
        return subprocess.run([binary, "start", "-a", name], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    finally:
        # `run --rm` removes it on a normal exit; after a timeout the client is gone, not the container
        try:
            docker("rm", "-f", name, timeout=60)
        except subprocess.TimeoutExpired:
            pass


def python(code: str, **kwargs) -> subprocess.CompletedProcess:
    """run([sys.executable, "-c", CODE], **kwargs): the host's interpreter, in the container."""
    return run([sys.executable, "-c", code], **kwargs)
