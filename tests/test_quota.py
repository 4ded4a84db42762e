"""The per-submission quota's measuring parts, and what reading back a submission may cost the
trusted side. The quota's enforcement, end to end in every tier, is in tests/adversarial."""
import json
import os
import tracemalloc
from pathlib import Path

from autograder import harness, probe
from autograder.extract import Extraction


def test_usage_counts_allocated_blocks_each_inode_once_and_no_link(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "data").write_bytes(b"x" * (1 << 20))
    os.link(tmp_path / "a" / "data", tmp_path / "again")   # a hard link is not a second MiB
    (tmp_path / "link").symlink_to("/usr")                # a link is never followed
    with open(tmp_path / "sparse", "wb") as f:            # a sparse file costs what it holds
        f.truncate(1 << 30)
    written, entries, deep = harness.usage(str(tmp_path))
    assert (1 << 20) <= written < (1 << 20) + 64 * 1024
    assert entries == 5 and not deep


def test_usage_stops_early_and_says_a_tree_is_too_deep(tmp_path):
    flood = tmp_path / "flood"
    flood.mkdir()
    for i in range(3000):
        (flood / str(i)).touch()
    _, entries, _ = harness.usage(str(tmp_path), stop_entries=100)
    assert entries == 101  # a million files cost no more than the quota's worth of looking
    deep = tmp_path / "deep"
    path = deep
    for _ in range(harness.MAX_DEPTH + 5):
        path = path / "d"
    os.makedirs(path)
    assert harness.usage(str(deep))[2]
    assert not harness.usage(str(flood))[2]


def test_open_deleted_files_are_counted(tmp_path):
    with open(tmp_path / "gone", "wb") as f:
        f.write(b"x" * (4 << 20))
        f.flush()
        os.unlink(tmp_path / "gone")
        held = harness.open_deleted([os.getpid()])
    assert held >= 4 << 20


def test_quota_reasons_are_in_a_students_words():
    quota = {"max_written_mb": 1024, "max_files": 20000}
    assert harness.over_quota(10, 10, False, quota) == ""
    said = harness.over_quota(1100 << 20, 10, False, quota)
    assert said.startswith("your code wrote more than 1 GiB to disk and tmp"), said
    assert "more than 2 GiB" in harness.over_quota(3 << 30, 10, False, quota, factor=2)
    assert "more than 20000 files" in harness.over_quota(0, 20001, False, quota)
    assert "nested more than" in harness.over_quota(0, 1, True, quota)


def _channel(tmp_path: Path, result: str, tensors: bytes = b"") -> Path:
    path = tmp_path / "channel"
    header = {"name": "bomb", "status": {"status": "exited", "exit_code": 0, "seconds": 1.0},
              "tensor_bytes": len(tensors), "result": result}
    path.write_bytes(json.dumps(header).encode() + b"\n" + tensors)
    return path


def _read(path: Path, cap: int) -> probe.ProbeOutcome:
    records = probe.read_channel(path, cap)
    spec = probe.ProbeSpec("bomb", "f", timeout_s=1)
    return probe.read_outcome(records.get("bomb"), spec, "", Extraction("x = 1\n"), "")


def test_a_json_bomb_costs_the_trusted_side_little(tmp_path):
    """10 million empty lists in 30 MB: json.loads alone would take about 800 MB. Read back, it is
    refused for what it is, and the peak stays near the bytes themselves."""
    result = '{"status": "ok", "data": {"x": [' + "[]," * 10_000_000 + "[]]}}"
    path = _channel(tmp_path, result)
    del result
    tracemalloc.start()
    outcome = _read(path, 64 << 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert outcome.status == "invalid" and "more than 200,000 values" in outcome.reason
    assert peak < 4 * path.stat().st_size, peak  # the line, its decoded string: no objects


def test_a_safetensors_header_of_countless_tensors_is_refused_unread(tmp_path):
    entries = {f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(50_000)}
    header = json.dumps(entries).encode()
    blob = len(header).to_bytes(8, "little") + header
    path = _channel(tmp_path, json.dumps({"status": "ok", "data": {}}), blob)
    tracemalloc.start()
    outcome = _read(path, 64 << 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert outcome.status == "invalid" and "more than 1024 tensors" in outcome.reason
    assert peak < 4 * path.stat().st_size, peak


def test_an_honest_output_is_still_read(tmp_path):
    path = _channel(tmp_path, json.dumps({"status": "ok", "data": {"losses": [0.5] * 1000}}))
    outcome = _read(path, 64 << 20)
    assert outcome.ok and outcome.data["losses"] == [0.5] * 1000
