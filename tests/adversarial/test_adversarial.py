"""Hostile submissions, graded in one batch under the real sandbox: each gets exactly the outcome
it deserves, with the reason, and leaves the host untouched. See cases.py for the attacks."""
import json
import socket
from pathlib import Path

import pytest
import yaml

from autograder.config import load_config
from autograder.extract import extract
from autograder.sandbox import SANDBOX_UIDS, WATCH_S, QuotaWatch, stray_processes
from kit import ROOT, grade_split, require_tier

import cases as attacks  # tests/adversarial is put on sys.path below

CFG = load_config(ROOT / "grading_config.yaml").assignment("03_network")
NAMES = list(CFG.tests)
_SOLUTION = ROOT / "solutions/03_network/03_network.ipynb"

def _secret_seeds(node) -> list[str]:
    """Every secret seed of the config, as text: what no sandbox may find anywhere."""
    if isinstance(node, dict):
        return [str(v) for k, v in node.items() if k == "secret_seed"] + \
            [s for v in node.values() for s in _secret_seeds(v)]
    return []


# Small quotas, so the attacks on them stay small: every honest probe of 03 writes under 1 MB.
QUOTA = {"max_written_mb": 64, "max_files": 2000, "tmp_memory_mb": 32, "max_file_mb": 32}
SECRETS = _secret_seeds(yaml.safe_load((ROOT / "grading_config.yaml").read_text()))
CASE_NAMES = list(attacks.cases(extract(_SOLUTION, _SOLUTION, "03_network").source, NAMES,
                                {"port": 0, "repo_paths": [], "result_targets": [], "pickle_marker": "",
                                 "secret_file": "", "secrets": SECRETS, "quota": QUOTA}))
MiB = 1 << 20


class HostLoss:
    """Samples, while the attacks are graded, how much of the host's disk (free space where the
    sandboxes' work folders live) and RAM held in tmpfs (Shmem) is gone since the start."""

    def __init__(self):
        import tempfile
        import threading

        self.folder = tempfile.gettempdir()
        self.rate = self._write_rate()
        self.start = self._sample()
        self.worst = (0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _write_rate(self, mib: int = 128, runs: int = 3) -> float:
        """Bytes per second one process writes here, the way the attacks write (1 MiB blocks into
        the page cache), the fastest of a few runs: what a submission gets past a quota per second
        before a look stops it."""
        import os
        import tempfile
        import time

        block, fastest = b"x" * MiB, 0.0
        for _ in range(runs):
            with tempfile.NamedTemporaryFile(dir=self.folder) as f:
                start = time.monotonic()
                for _ in range(mib):
                    f.write(block)
                f.flush()
                fastest = max(fastest, mib * MiB / (time.monotonic() - start))
                os.truncate(f.name, 0)
        return fastest

    def _sample(self) -> tuple[int, int]:
        import os

        disk = os.statvfs(self.folder)
        shmem = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo")
                     if line.startswith("Shmem:"))
        return disk.f_bavail * disk.f_frsize, shmem

    def lost(self) -> tuple[int, int]:
        disk, shmem = self._sample()
        return self.start[0] - disk, shmem - self.start[1]

    def _run(self):
        while not self._stop.wait(0.05):
            self.worst = tuple(max(a, b) for a, b in zip(self.worst, self.lost()))

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"worst": self.worst, "after": self.lost(), "rate": self.rate}


def _failed(results) -> dict[str, str]:
    return {t["extra_data"]["check"]: t["output"] for t in results["tests"] if t["status"] == "failed"}


def _stray_processes() -> set:
    """Processes running as a sandbox uid that no grading holds (another grading running on the
    machine at the same time holds its own uid, so it does not count)."""
    return set(stray_processes())


SECRET = "HOST-SECRET-6f1c"  # in a host file that an attack links to; no output may show it


TIERS = [("bwrap", "warm"), ("bwrap", "cold"), ("landlock", "warm"), ("landlock", "cold")]
# A cold start differs from a warm one only in how the sandbox comes up: who builds the namespaces
# or confines the process, mounts /tmp, drops the uid, sets the limits, installs the filter, passes
# the channel and watches the quota from outside. The probes, the harness's own quota watch and
# the reading back are the same code. So the cold tiers run the attacks on those (the process
# tree, the files, the network, the kernel, the limits, tmp, the grader's watch) and the warm ones,
# the default wherever the grader is root, run them all.
COLD = {"exit_at_import", "sigkill_parent", "links_and_fifos_then_kill_parent", "patched_harness",
        "read_repository", "read_other_processes", "detect_grader", "write_results_json",
        "connect_localhost", "fork_storm", "memory_bomb", "sleep_forever", "huge_file",
        "kernel_attack_surface", "disk_fill_preallocated", "tmp_fill",
        "flood_with_the_harness_stopped"}


@pytest.fixture(scope="module", params=TIERS, ids=[f"{t}-{s}" for t, s in TIERS])
def attack(request, tmp_path_factory, reference_source):
    """Every attack, graded in one grader process, in each sandbox tier: warm (one zygote forks
    each submission's sandbox) and cold (a fresh sandbox per submission). Where the guarantee is
    the same, the outcome must be the same; where a tier protects less, test_what_a_submission_
    can_see asserts the documented difference."""
    tier, start = request.param
    require_tier(tier)
    folder = tmp_path_factory.mktemp(f"hostile-{tier}-{start}")
    out = folder / "out"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.5)
    ctx = {
        "port": listener.getsockname()[1],
        "repo_paths": [str(ROOT / "grading_config.yaml"), str(ROOT / "tests/hidden/03_network/conftest.py"),
                       str(ROOT / "solutions/03_network/03_network.ipynb"), str(ROOT), str(Path.home())],
        "result_targets": [str(out / "write_results_json" / "results.json"), str(out / "results.json"),
                           str(folder / "results.json")],
        "pickle_marker": str(folder / "PICKLE_RAN"),
        "secret_file": str(folder / "secret.txt"),
        "secrets": SECRETS,
        "quota": QUOTA,
    }
    (folder / "secret.txt").write_text(f"{SECRET}\n" * 50)
    table = attacks.cases(reference_source, NAMES, ctx)
    if start == "cold":
        table = {name: case for name, case in table.items() if name in COLD}
    paths = []
    for name, (source, _, _) in table.items():
        (folder / f"{name}.py").write_text(source)
        paths.append(folder / f"{name}.py")
    # one honest submission last in each grader process (grade_split deals every n-th path): it is
    # graded by the same worker (and, warm, the same zygote) right after that worker's attacks
    for i in range(GRADERS):
        (folder / f"{HONEST}{i}.py").write_text(reference_source)
        paths.append(folder / f"{HONEST}{i}.py")
    # a submission that ships files beside it: pytest and Python must ignore them all
    for shipped in ("conftest.py", "sitecustomize.py", "usercustomize.py"):
        (folder / shipped).write_text(f"open({str(folder / 'SHIPPED_RAN')!r}, 'w').write('{shipped}')\n")
    (folder / "pytest.ini").write_text("[pytest]\naddopts = --collect-only\n")
    data = yaml.safe_load((ROOT / "grading_config.yaml").read_text())
    data["assignments"]["03_network"]["probe_timeout_s"]["accuracy"] = 5
    data["limits"].update(QUOTA)
    config = folder / "grading_config.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    before = _stray_processes()
    host = HostLoss()
    # two grader processes side by side (2 cores): four tiers' worth of attacks in CI's time
    try:
        results = grade_split(paths, out, extra=("--config", config, "--sandbox", tier),
                              env={"AUTOGRADER_SANDBOX_START": start})
    finally:
        loss = host.stop()
    arrived = []
    try:
        while True:
            conn, _ = listener.accept()
            arrived.append(conn.recv(100))
    except OSError:
        pass
    listener.close()
    return {"results": results, "table": table, "folder": folder, "out": out, "arrived": arrived,
            "leftover": _stray_processes() - before, "tier": tier, "loss": loss,
            "cold": start == "cold"}


def test_at_least_twenty_attacks(attack):
    assert len(CASE_NAMES) >= 20
    assert set(attack["table"]) == (COLD if attack["cold"] else set(CASE_NAMES))
    assert len(SECRETS) >= 2  # the secret seeds read_other_processes looks for


@pytest.mark.parametrize("name", CASE_NAMES)
def test_attack_gets_exactly_what_it_deserves(attack, name):
    if name not in attack["table"]:
        pytest.skip("graded warm only (see COLD)")
    _, lost, reason = attack["table"][name]
    results = attack["results"][name]
    failed = _failed(results)
    if lost is None:  # the attack breaks the probe unpredictably: it may only lose, never gain
        bob = attack["results"]["fake_score_output"]  # the same bug, no attack on the checker
        assert results["score"] <= bob["score"]
        return
    assert set(failed) == lost, sorted(set(failed) ^ lost)
    assert results["score"] == CFG.max_points - sum(CFG.tests[n].points for n in lost)
    if reason:
        options = (reason,) if isinstance(reason, str) else reason  # tiers may stop it differently
        assert any(o in text for o in options for text in failed.values()), list(failed.values())[:2]


GRADERS = 2  # grade_split's processes: two submissions are graded at once
HONEST = "honest_after_the_attacks_"


def test_the_next_honest_grading_on_each_worker_is_unaffected(attack):
    """Whatever the attacks left behind (files, processes, keys, a stopped harness, a full tmp),
    the reference solution graded next on each worker gets every point."""
    honest = {name: r for name, r in attack["results"].items() if name.startswith(HONEST)}
    assert len(honest) == GRADERS
    for name, results in honest.items():
        assert results["score"] == CFG.max_points and not _failed(results), (name, _failed(results))


def test_the_host_loses_at_most_the_quotas_while_grading_and_nothing_after(attack):
    """Disk: per submission graded at once, at worst what the grader's backstop allows (twice the
    quota with the harness stopped, four times while it runs and is late) plus 32 MiB; on top of
    that, what the machine writes in two watch intervals (sandbox.WATCH_S; the harness looks as
    often), the overshoot a watch that polls allows. Writes share the disk, so that is counted
    once. RAM in tmpfs: the bwrap tier's sized /tmp. Without the quotas, the flood alone would take
    2 GiB. After grading, all of it is back (a few MiB of results.json files aside)."""
    disk, shmem = attack["loss"]["worst"]
    overshoot = attack["loss"]["rate"] * 2 * WATCH_S
    print(f"{attack['tier']}: worst host loss while grading: disk {disk / MiB:.0f} MiB, "
          f"tmpfs RAM {shmem / MiB:.0f} MiB; after: {attack['loss']['after'][0] / MiB:.0f} MiB; "
          f"writes here at {attack['loss']['rate'] / MiB:.0f} MiB/s")
    backstop = QuotaWatch.FACTOR_HARNESS_RUNNING * QUOTA["max_written_mb"]
    assert disk <= GRADERS * (backstop + 32) * MiB + overshoot, disk / MiB
    assert shmem <= GRADERS * (QUOTA["tmp_memory_mb"] + 16) * MiB, shmem / MiB
    assert attack["loss"]["after"][0] <= 32 * MiB, attack["loss"]["after"][0] / MiB


def test_results_json_cannot_be_overwritten(attack):
    written = json.loads((attack["out"] / "write_results_json" / "results.json").read_text())
    assert written["score"] == CFG.max_points and written["tests"]
    assert not (attack["out"] / "results.json").exists()
    assert not (attack["folder"] / "results.json").exists()


def test_nothing_reaches_the_network(attack):
    assert attack["arrived"] == []


def test_shipped_conftest_and_sitecustomize_never_run(attack):
    assert not (attack["folder"] / "SHIPPED_RAN").exists()


def test_pickle_is_never_unpickled(attack):
    if "pickle_instead_of_tensors" not in attack["table"]:
        pytest.skip("graded warm only (see COLD)")
    assert not (attack["folder"] / "PICKLE_RAN").exists()


def test_no_host_file_reaches_the_feedback(attack):
    """The grader reads back what the sandbox wrote without following links or opening FIFOs."""
    for results in attack["results"].values():
        assert SECRET not in json.dumps(results)


def test_no_process_outlives_the_grading(attack):
    assert not attack["leftover"], attack["leftover"]


def test_what_a_submission_can_see(attack):
    """The sandbox shows student code a minimal world: a uid of its own, /sandbox, a few variables."""
    text = _failed(attack["results"]["detect_grader"])["test_accuracy_matches_judge_count__catches_missing_eval_mode"]
    report = text.split("sees ", 1)[1].split("\n")[0]
    assert not report.endswith("..."), f"the attack's report was clipped; shorten it: {report}"
    seen = json.loads(report)
    assert seen["uid"] in SANDBOX_UIDS
    assert set(seen["env"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED",
                                "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTORCH_NVML_BASED_CUDA_CHECK",
                                "MPLBACKEND", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH",
                                "PWD", "TORCHINDUCTOR_CACHE_DIR"}  # set by bwrap and by torch itself
    if attack["tier"] == "bwrap":  # namespaces: a world of its own
        assert seen["cwd"] == "/sandbox" and seen["host"] == "sandbox"
        assert "tests" not in seen["root"] and "solutions" not in seen["root"]
    else:  # the documented difference: the host's own names, but nothing outside may be listed
        assert seen["cwd"].startswith("/") and seen["cwd"] != "/sandbox"
        assert seen["host"] == socket.gethostname()
        assert seen["root"] == "PermissionError"
