"""Network(sizes): structure, initialisation and the forward pass."""
import math

import pytest
import torch

from autograder.evidence import check, fail

CONTAINERS = ("torch.nn.modules.container.ModuleList", "torch.nn.modules.container.Sequential")
LINEAR = "torch.nn.modules.linear.Linear"


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
        check(n == len(sizes) - 1, f"Network({sizes}) should have {len(sizes) - 1} layers, found {n}")
        for j, layer in enumerate(layers):
            w = ev.tensor(f"{layer}/weight", what=f"the weight of layer {j} of Network({sizes})")
            expected = (sizes[j + 1], sizes[j])
            check(tuple(w.shape) == expected, f"layer {j} of Network({sizes}) has a weight of shape "
                  f"{tuple(w.shape)}; expected {expected} (nn.Linear(sizes[{j}], sizes[{j + 1}]))")


def test_parameter_count__catches_missing_or_extra_parameters(probe, p):
    """model.parameters() holds exactly the weights and biases of the linear layers."""
    ev = probe("structure", "Network's parameters")
    for i, sizes in enumerate(p.structure_sizes):
        expected = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        tensors = sum(ev.tensor(f"{layer}/{k}", dtype=None, what=f"layer {j}'s {k}").numel()
                      for j, layer in enumerate(_layers(ev, i)) for k in ("weight", "bias"))
        check(tensors == expected, f"Network({sizes})'s layers hold {tensors} numbers; expected {expected}")
        seen = sum(t.numel() for _, t in ev.parameters(f"m{i}"))
        check(seen == expected, f"Network({sizes}) has {seen} trainable numbers; expected {expected}")


def test_biases_start_at_zero__catches_default_init(probe, p):
    """Every bias starts at exactly zero (nn.init.zeros_)."""
    ev = probe("init", "Network's initial biases")
    b = ev.tensor("layers/0/bias", (p.init_sizes[1],), what="the bias")
    check(bool((b == 0).all()), "the biases do not start at zero: use nn.init.zeros_(layer.bias) "
          "(PyTorch's default initialises them randomly)")


def test_weights_are_xavier_normal__catches_default_or_uniform_init(probe, p):
    """Weights start Xavier-normal: mean 0, standard deviation sqrt(2 / (fan_in + fan_out)), and
    normally distributed (not uniform)."""
    ev = probe("init", "Network's initial weights")
    fan_in, fan_out = p.init_sizes
    w = ev.tensor("layers/0/weight", (fan_out, fan_in), what="the weight").double()
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


def _diagnose(ref, ws, bs, activation, x, out):
    """Name the likely bug by recomputing the forward pass the ways students get it wrong."""
    wrong = {
        "the activation is also applied after the last layer; the last layer must return raw "
        "scores": ref.forward(ws, bs, activation, x, activate_last=True),
    }
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
    ev = probe("forward", f"Network(..., activation={activation!r}).forward")
    x = plan.inputs["forward.x"]
    sizes = p.forward_sizes
    ws, bs = ref.weights(ev, f"{activation}.layers", sizes)
    out = ev.tensor(f"{activation}.out", (len(x), sizes[-1]), what="the output")
    expected = ref.forward(ws, bs, activation, x)
    if not torch.allclose(out, expected, atol=p.forward_atol, rtol=1e-4):
        fail(f"forward with activation={activation!r}: {_diagnose(ref, ws, bs, activation, x, out)}")


def test_default_activation_is_sigmoid(probe, p, plan, ref):
    """Network(sizes) without an activation argument uses sigmoid."""
    ev = probe("forward", "Network(sizes).forward")
    x = plan.inputs["forward.x"]
    ws, bs = ref.weights(ev, "default.layers", p.forward_sizes)
    out = ev.tensor("default.out", (len(x), p.forward_sizes[-1]), what="the output")
    check(torch.allclose(out, ref.forward(ws, bs, "sigmoid", x), atol=p.forward_atol, rtol=1e-4),
          "Network(sizes) with no activation argument should use sigmoid hidden layers")


def test_unknown_activation_raises_valueerror(probe, plan, ref):
    """Network(sizes, activation="swish") raises ValueError: a typo must not silently train a
    different network."""
    ev = probe("bad_activation", "Network(..., activation='swish')")
    # The exception only counts beside a network that demonstrably computes (recomputed here from
    # its own weights).
    x = plan.inputs["forward.x"][:, :3]
    ws, bs = ref.weights(ev, "demo.layers", [3, 4, 2])
    out = ev.tensor("demo.out", (len(x), 2), dtype=None, what="the output of Network([3, 4, 2])").float()
    check(any(torch.allclose(out, ref.forward(ws, bs, "sigmoid", x, activate_last=last), atol=1e-4)
              for last in (False, True)),
          "Network([3, 4, 2]) does not compute a sigmoid network from its own weights")
    raised = ev.node("raised") or {}
    if raised.get("t") != "exception":
        fail("Network(..., activation='swish') did not raise; raise ValueError for an unknown name")
    check("builtins.ValueError" in (raised.get("mro") or []), "Network(..., activation='swish') "
          f"raised {ev.kind('raised')}; raise ValueError instead")
