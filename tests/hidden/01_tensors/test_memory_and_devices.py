"""The numpy bridge and devices. Sharing memory is seen, not reported: the probe changes the source
after your function returned, and the judge looks at whether your result changed with it. Memory and
devices exist only in the process that ran your code, so these checks are `reported: true`: worth
little, since a process that lies about itself could fake them (README, Security model)."""
import torch

from autograder.evidence import check, fail


def _shared(ev, source, plan, name, what, array=False):
    """Whether the result followed the change the probe made to the source after the call (after
    checking that it held the source's values to begin with)."""
    args = next(s.args for s in plan.probes if s.name == name)
    read = ev.array if array else ev.tensor
    before = read("before", tuple(source.shape), dtype=None, what=f"{what}'s values")
    after = read("after", tuple(source.shape), dtype=None, what=f"{what}'s values")
    check(before.dtype == source.dtype, f"{what} has dtype {before.dtype}; the source has "
          f"{source.dtype}, and a result that shares its memory must have the same dtype")
    check(torch.equal(before, source), f"{what} does not hold the source's values")
    changed = source.clone()
    changed[tuple(args["index"])] = args["marker"]
    if torch.equal(after, changed):
        return True
    check(torch.equal(after, source), f"{what} changed in an unexpected way after the call")
    return False


def test_to_numpy_shares_memory__catches_a_copy(probe, plan):
    """to_numpy(t) returns a numpy array that shares memory with t, so a change to t shows in the
    array (t.numpy() does this)."""
    ev = probe("to_numpy", "to_numpy")
    if not _shared(ev, plan.inputs["bridge.t"], plan, "to_numpy", "the array from to_numpy",
                   array=True):
        fail("the array from to_numpy did not see a later change to the tensor, so it is a copy: "
             "t.numpy() shares the tensor's memory (np.array(t) and .copy() do not)")


def test_share_from_numpy_shares_memory__catches_a_copy(probe, plan):
    """share_from_numpy(a) returns a tensor that shares memory with the array a
    (torch.from_numpy)."""
    ev = probe("share_from_numpy", "share_from_numpy")
    if not _shared(ev, plan.inputs["bridge.a"], plan, "share_from_numpy", "the tensor from share_from_numpy"):
        fail("the tensor from share_from_numpy did not see a later change to the array, so it is a "
             "copy: torch.tensor(a) copies, torch.from_numpy(a) shares the array's memory")


def test_copy_from_numpy_is_independent__catches_shared_memory(probe, plan):
    """copy_from_numpy(a) returns a tensor with a's values and dtype that does not change when a
    does (torch.tensor copies)."""
    ev = probe("copy_from_numpy", "copy_from_numpy")
    if _shared(ev, plan.inputs["bridge.a"], plan, "copy_from_numpy", "the tensor from copy_from_numpy"):
        fail("the tensor from copy_from_numpy changed when the array changed, so it shares the "
             "array's memory: torch.from_numpy(a) shares, torch.tensor(a) copies")


def _device_type(probe, name):
    ev = probe(name, "pick_device")
    node = ev.node("device")
    kind = ev.typename("device")
    name = node.get("v") if isinstance(node, dict) and kind in ("torch.device", "builtins.str") else None
    if not isinstance(name, str):
        fail(f"pick_device returned a {ev.kind('device')}; return a torch.device")
    try:
        return torch.device(name).type
    except (RuntimeError, ValueError):
        fail(f"pick_device returned {name[:40]!r}, which is not a device")


def test_pick_device_follows_cuda_availability__catches_hardcoded_device(probe, submission_run):
    """pick_device() gives cuda exactly when torch.cuda.is_available() says so, and cpu otherwise.
    The grader also runs your notebook as if a GPU were present, and as if none were (a device
    chosen once when the notebook is loaded follows that too)."""
    with_cuda = _device_type(probe, "pick_device_gpu")
    without = _device_type(probe, "pick_device_cpu")
    check(with_cuda == "cuda", f"with a GPU available pick_device chose {with_cuda!r}; it should "
          "choose cuda when torch.cuda.is_available() is true (is the device hard-coded?)")
    check(without == "cpu", f"with no GPU available pick_device chose {without!r}; it should fall "
          "back to cpu")
    actual = _device_type(probe, "pick_device")
    check(actual == submission_run.device, f"on the grading machine pick_device chose {actual!r}, "
          f"but torch.cuda.is_available() there says {submission_run.device!r}")


def test_to_device_returns_the_moved_tensor__catches_result_not_used(probe, plan, submission_run):
    """to_device(t, device) returns t on `device`, with the same shape, dtype and values. t.to()
    returns a new tensor and leaves t where it was, so return its result."""
    ev = probe("to_device", "to_device")
    t = plan.inputs["device.t"]
    for label, target in (("meta", "meta"), ("grading", submission_run.device)):
        node = ev.node(label) or {}
        if node.get("t") != "tensor":
            fail(f"to_device(t, {target!r}) returned a {ev.kind(label)}, not a tensor")
        where = ev.reported(label, "device")
        if where != target:
            stayed = " (it stayed where it was: return the result of t.to(device))" if where == "cpu" else ""
            fail(f"to_device(t, {target!r}) returned a tensor on {where!r}{stayed}")
        check(node.get("shape") == list(t.shape) and node.get("dtype") == str(t.dtype).removeprefix("torch."),
              f"to_device(t, {target!r}) changed the tensor's shape or dtype")
    moved = ev.tensor("grading", tuple(t.shape), what="the moved tensor")
    check(torch.equal(moved, t), "to_device changed the tensor's values")
