"""Network(sizes): structure, initialisation and the forward pass."""
import math

import pytest
import torch

from autograder.evidence import check, depends, fail

CONTAINERS = ("torch.nn.modules.container.ModuleList", "torch.nn.modules.container.Sequential")
LINEAR = "torch.nn.modules.linear.Linear"
LAYERS_CHECK = "test_layers_are_registered_linear_modules__catches_plain_python_list"
SHAPES_CHECK = "test_layer_shapes_follow_sizes__catches_off_by_one_layers"


def _forward(probe, activation: str, what: str):
    """The forward probe's evidence of one activation's network, or "not graded" where building or
    running it raised and a layer check says why (each network was built and run apart)."""
    ev = probe("forward", what)
    raised = ev.node(f"{activation}.raised") or {}
    if raised.get("t") == "exception":
        depends((LAYERS_CHECK, SHAPES_CHECK), f"{what} raised {ev.kind(f'{activation}.raised')}: "
                f"{str(raised.get('message', ''))[:300]}")
    return ev


def _weights(ref, ev, layers: str, sizes):
    """The network's weights, checked against sizes; a wrong shape is the shape check's to charge."""
    try:
        return ref.weights(ev, layers, sizes)
    except pytest.fail.Exception as exc:
        depends((LAYERS_CHECK, SHAPES_CHECK), str(exc.msg))


def _layers(ev, i: int) -> list[str]:
    """The paths of the layers Network(sizes)'s `layers` holds, in order (a ModuleList's children,
    or a plain list's items)."""
    path = f"m{i}.layers"
    node = ev.node(path)
    if isinstance(node, dict) and node.get("t") == "module":
        return [f"{path}/{name}" for name, _ in node.get("children") or []]
    return ev.items(path)


def test_layers_are_registered_linear_modules__catches_plain_python_list(probe, p):
    """`self.layers` holds one nn.Linear per pair of sizes, in a container PyTorch can see
    (nn.ModuleList), so that model.parameters() finds every weight."""
    ev = probe("structure", "Network's layers")
    for i, sizes in enumerate(p.structure_sizes):
        kind = ev.typename(f"m{i}.layers")
        check(kind in CONTAINERS, f"Network({sizes}).layers is a {kind.rsplit('.', 1)[-1]}; use "
              "nn.ModuleList, or the optimizer never sees the layers' weights")
        types = [ev.typename(layer) for layer in _layers(ev, i)]
        check(len(types) == len(sizes) - 1, f"Network({sizes}).layers holds {len(types)} layers; "
              f"expected {len(sizes) - 1}, one nn.Linear per pair of consecutive sizes")
        check(all(t == LINEAR for t in types), f"Network({sizes}).layers should hold only nn.Linear "
              f"layers; found {[t.rsplit('.', 1)[-1] for t in types]}")


def test_layer_shapes_follow_sizes__catches_off_by_one_layers(probe, p):
    """Layer i maps sizes[i] -> sizes[i+1]: Network([3, 5, 2]) has exactly two layers, with weights
    of shape (5, 3) and (2, 5)."""
    ev = probe("structure", "Network's layer shapes")
    for i, sizes in enumerate(p.structure_sizes):
        layers = _layers(ev, i)
        n = len(layers)
        if n != len(sizes) - 1:
            depends(LAYERS_CHECK, f"Network({sizes}) should have {len(sizes) - 1} layers, found {n}")
        for j, layer in enumerate(layers):
            if not ev.has_tensor(f"{layer}/weight"):  # not an nn.Linear: the layers check says so
                depends(LAYERS_CHECK, f"layer {j} of Network({sizes}) has no weight")
            w = ev.tensor(f"{layer}/weight", dtype=None, finite=False,
                          what=f"the weight of layer {j} of Network({sizes})")
            expected = (sizes[j + 1], sizes[j])
            check(tuple(w.shape) == expected, f"layer {j} of Network({sizes}) has a weight of shape "
                  f"{tuple(w.shape)}; expected {expected} (nn.Linear(sizes[{j}], sizes[{j + 1}]))")


def test_parameter_count__catches_missing_or_extra_parameters(probe, p):
    """model.parameters() holds exactly the weights and biases of the linear layers."""
    ev = probe("structure", "Network's parameters")
    for i, sizes in enumerate(p.structure_sizes):
        expected = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        layers = _layers(ev, i)
        # what the layers hold (one that is not an nn.Linear holds nothing: the layers check says so)
        tensors = sum(ev.tensor(f"{layer}/{k}", dtype=None, finite=False).numel()
                      for layer in layers for k in ("weight", "bias") if ev.has_tensor(f"{layer}/{k}"))
        seen = sum(t.numel() for _, t in ev.parameters(f"m{i}"))
        said = (f"Network({sizes})'s layers hold {tensors} numbers; expected {expected}" if
                tensors != expected else f"Network({sizes}) has {seen} trainable numbers; expected {expected}")
        if expected in (tensors, seen) and tensors == seen:
            continue
        # layers that are not registered, too few, not all nn.Linear or of the wrong shapes: those
        # checks say so
        if ev.typename(f"m{i}.layers") not in CONTAINERS or len(layers) != len(sizes) - 1 \
                or any(ev.typename(layer) != LINEAR for layer in layers):
            depends(LAYERS_CHECK, said)
        shapes = [tuple(ev.tensor(f"{layer}/weight", dtype=None, finite=False).shape) for layer in layers]
        if shapes != [(b, a) for a, b in zip(sizes[:-1], sizes[1:])]:
            depends(SHAPES_CHECK, said)
        fail(said)


def _initial(ev, path: str, shape: tuple, what: str):
    """A first layer's initial weight or bias, in any floating-point dtype; a wrong shape is the
    shape check's to charge."""
    try:
        return ev.tensor(path, shape, dtype=None, what=what)
    except pytest.fail.Exception as exc:
        depends((LAYERS_CHECK, SHAPES_CHECK), str(exc.msg))


def test_biases_start_at_zero__catches_default_init(probe, p):
    """Every bias starts at exactly zero (nn.init.zeros_)."""
    ev = probe("init", "Network's initial biases")
    b = _initial(ev, "layers/0/bias", (p.init_sizes[1],), "the bias")
    check(bool((b == 0).all()), "the biases do not start at zero: use nn.init.zeros_(layer.bias) "
          "(PyTorch's default initialises them randomly)")


def test_weights_are_xavier_normal__catches_default_or_uniform_init(probe, p):
    """Weights start Xavier-normal: mean 0, standard deviation sqrt(2 / (fan_in + fan_out)), and
    normally distributed (not uniform)."""
    ev = probe("init", "Network's initial weights")
    fan_in, fan_out = p.init_sizes
    w = _initial(ev, "layers/0/weight", (fan_out, fan_in), "the weight").double()
    expected = math.sqrt(2.0 / (fan_in + fan_out))
    std = w.std().item()
    rel = abs(std - expected) / expected
    if rel > p.xavier_std_rel_tol:
        hint = " (this looks like PyTorch's default initialisation)" if std < 0.7 * expected else ""
        fail(f"on a {fan_in}->{fan_out} layer the initial weights have standard deviation "
             f"{std:.4f}; Xavier-normal gives {expected:.4f}{hint}: use nn.init.xavier_normal_")
    tail = (w.abs() > math.sqrt(3) * expected).double().mean().item()
    check(tail >= p.xavier_tail_min_fraction, "the initial weights have the right spread but are "
          "not normally distributed (no values beyond the uniform range): use xavier_normal_, "
          "not xavier_uniform_")


ACTIVATED_OUTPUT = ("the activation is also applied after the last layer; the last layer must "
                    "return raw scores")
FORWARD_CHECK = "test_forward_matches_recomputation__catches_wrong_activation_or_activated_output"


def _diagnose(ref, ws, bs, activation, x, out):
    """Name the likely bug by recomputing the forward pass the ways students get it wrong."""
    wrong = {ACTIVATED_OUTPUT: ref.forward(ws, bs, activation, x, activate_last=True)}
    if activation == "relu":
        wrong["ReLU is computed as min(0, x); it is max(0, x)"] = ref.forward(
            ws, bs, activation, x, relu=lambda z: torch.clamp(z, max=0))
    for name, fn in (("sigmoid", "sigmoid"), ("tanh", "tanh"), ("relu", "relu")):
        if name != activation:
            wrong[f"activation={activation!r} applies {fn} instead"] = ref.forward(ws, bs, name, x)
    for why, candidate in wrong.items():
        if torch.allclose(out, candidate, atol=1e-5, rtol=1e-4):
            return why
    return "the output differs from applying the activation after every layer but the last"


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_forward_matches_recomputation__catches_wrong_activation_or_activated_output(
        probe, p, plan, ref, activation):
    """forward() applies the chosen activation after every layer except the last, which returns
    raw scores. The judge recomputes the output from your network's own weights."""
    ev = _forward(probe, activation, f"Network(..., activation={activation!r}).forward")
    x = plan.inputs["forward.x"]
    sizes = p.forward_sizes
    ws, bs = _weights(ref, ev, f"{activation}.layers", sizes)
    out = ev.tensor(f"{activation}.out", (len(x), sizes[-1]), dtype=None, what="the output").float()
    expected = ref.forward(ws, bs, activation, x)
    if not torch.allclose(out, expected, atol=p.forward_atol, rtol=1e-4):
        why = _diagnose(ref, ws, bs, activation, x, out)
        # one bug of every activation (the output activated too) is charged once
        fail(f"forward with activation={activation!r}: {why}",
             cause=why if why == ACTIVATED_OUTPUT else None)


def test_default_activation_is_sigmoid(probe, p, plan, ref):
    """Network(sizes) without an activation argument uses sigmoid."""
    ev = _forward(probe, "default", "Network(sizes).forward")
    x = plan.inputs["forward.x"]
    ws, bs = _weights(ref, ev, "default.layers", p.forward_sizes)
    out = ev.tensor("default.out", (len(x), p.forward_sizes[-1]), dtype=None, what="the output").float()
    if torch.allclose(out, ref.forward(ws, bs, "sigmoid", x), atol=p.forward_atol, rtol=1e-4):
        return
    said = "Network(sizes) with no activation argument should use sigmoid hidden layers"
    if ev.has_tensor("sigmoid.out") and torch.equal(
            ev.tensor("sigmoid.out", dtype=None, finite=False).float(), out):
        # the default is the student's own sigmoid network: what is wrong is the sigmoid network
        depends(f"{FORWARD_CHECK}[sigmoid]", said)
    if torch.allclose(out, ref.forward(ws, bs, "sigmoid", x, activate_last=True), atol=p.forward_atol):
        fail(f"Network(sizes): {ACTIVATED_OUTPUT}", cause=ACTIVATED_OUTPUT)
    fail(said)


def test_unknown_activation_raises_valueerror(probe, plan, ref):
    """Network(sizes, activation="swish") raises ValueError: a typo must not silently train a
    different network."""
    ev = probe("bad_activation", "Network(..., activation='swish')")
    # The exception only counts beside a network that demonstrably computes (recomputed here from
    # its own weights, with any of the three activations: which one is the forward checks' claim).
    # The two calls were made apart, so a crash of the first costs only the checks it is about.
    if (ev.node("demo.raised") or {}).get("t") == "exception":
        depends((LAYERS_CHECK, SHAPES_CHECK, "test_default_activation_is_sigmoid"),
                "Network([3, 4, 2]) and its forward pass "
                f"raised {ev.kind('demo.raised')}, so there is no working network to compare with")
    x = plan.inputs["forward.x"][:, :3]
    ws, bs = _weights(ref, ev, "demo.layers", [3, 4, 2])
    out = ev.tensor("demo.out", (len(x), 2), dtype=None, what="the output of Network([3, 4, 2])").float()
    if not any(torch.allclose(out, ref.forward(ws, bs, activation, x, activate_last=last), atol=1e-4)
               for activation in ("sigmoid", "tanh", "relu") for last in (False, True)):
        depends((LAYERS_CHECK, SHAPES_CHECK, "test_default_activation_is_sigmoid"),
                "Network([3, 4, 2]) does not compute a network of its own weights")
    raised = ev.node("raised") or {}
    if raised.get("t") != "exception":
        fail("Network(..., activation='swish') did not raise; raise ValueError for an unknown name")
    check("builtins.ValueError" in (raised.get("mro") or []), "Network(..., activation='swish') "
          f"raised {ev.kind('raised')}; raise ValueError instead")
