"""autograder/graph.py: the judge rebuilds a network from its exported graph, and refuses anything
that is not a graph of allowed operations with a reason."""
import copy
import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from autograder import executor
from autograder.graph import MAX_NODES, GraphNet, GraphRefused, live, operators, short, validate


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 13 * 13, 10)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(self.drop(x.view(x.size(0), -1)))


def _exported(model_class=Small):
    """What the executor's export step ships for the model: {"graphs": {mode: graph}} and its
    initial weights by name."""
    torch.manual_seed(0)
    tensors: dict = {}
    node = executor._export(model_class(), [2, 1, 28, 28], "graph", tensors)
    assert node["t"] == "graph", node
    state = {name: tensors[path] for name, path in node["state"].items()}
    return {"graphs": {"train": node["train"], "eval": node["eval"]}}, state


def test_the_rebuilt_network_computes_what_the_student_s_does():
    data, state = _exported()
    net = GraphNet(data["graphs"]["train"], data["graphs"]["eval"], state)
    original = Small()
    original.load_state_dict(state)
    x = torch.rand(5, 1, 28, 28)
    original.eval(), net.eval()
    assert torch.allclose(net(x), original(x))
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in original.parameters())
    assert [op for op in operators(data["graphs"]["eval"]) if op != "sym_size"][:3] == \
        ["conv2d", "relu", "max_pool2d"]
    net.train()
    torch.manual_seed(1)
    a = net(x)
    torch.manual_seed(2)
    assert not torch.equal(a, net(x))  # dropout is in the training graph
    net.eval()
    assert torch.equal(net(x), net(x))
    net.trace = []
    net(torch.rand(3, 1, 28, 28))  # any batch size
    layers = [step for step in net.trace if step.op in ("conv2d", "linear")]
    assert [step.op for step in layers] == ["conv2d", "linear"]
    assert layers[1].low >= 0  # the linear layer receives ReLU'd values
    pool = next(step for step in net.trace if step.op == "max_pool2d")
    assert pool.shape_in == (3, 4, 26, 26) and pool.shape_out == (3, 4, 13, 13)


class Detour(nn.Module):
    """A layer called on the features and thrown away, and (with `constant`) one called on a tensor
    made inside forward and added at no weight: neither is on the way from the input to the output."""

    def __init__(self, constant=False):
        super().__init__()
        self.fc1, self.unused, self.fc2 = nn.Linear(4, 3), nn.Linear(3, 3), nn.Linear(3, 2)
        self.constant = constant

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        self.unused(h)
        out = self.fc2(h)
        return out + self.unused(torch.ones(1, 3)).mean() * 0 if self.constant else out


def _export(model):
    tensors: dict = {}
    node = executor._export(model, [2, 4], "g", tensors)
    return node, {name: tensors[path] for name, path in node["state"].items()}


def test_only_what_the_input_flows_through_is_traced():
    node, state = _export(Detour())
    net = GraphNet(node["train"], node["eval"], state, "a network")
    assert operators(node["eval"]).count("linear") == 3  # forward called a linear layer three times
    net.trace = []
    net(torch.rand(5, 4))
    assert [step.op for step in net.trace if step.op == "linear"] == ["linear", "linear"]
    node, _ = _export(Detour(constant=True))
    graph = node["eval"]
    on_path = [short(n["target"]) for n in graph["nodes"] if n["name"] in live(graph)]
    assert operators(graph).count("linear") == 4 and on_path.count("linear") == 2


def test_it_trains():
    data, state = _exported()
    net = GraphNet(data["graphs"]["train"], data["graphs"]["eval"], state)
    x, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def _graph():
    data, state = _exported()
    return copy.deepcopy(data["graphs"]["eval"]), state


def _call(graph, index=None):
    return next(n for n in graph["nodes"] if n["op"] == "call" and (index is None or n["target"] == index))


@pytest.mark.parametrize("spoil, said", [
    (lambda g: _call(g).__setitem__("target", "aten.abs.default"), "uses abs, which the grader does not run"),
    (lambda g: _call(g)["args"].__setitem__(0, {"ref": "nowhere"}), "no earlier node defines"),
    (lambda g: _call(g)["args"].append({"const": {"a": 1}}), "not a number, a flag or a name"),
    (lambda g: _call(g)["args"].append({"const": float("nan")}), "not finite"),
    (lambda g: _call(g)["args"].append({"pickle": "x"}), "not in the expected form"),
    (lambda g: g["nodes"].extend({"name": f"n{i}", "op": "input", "kind": "buffer", "target": "x"}
                                 for i in range(MAX_NODES)), "operations"),
    (lambda g: g["nodes"].insert(0, {"name": "y", "op": "input", "kind": "user_input", "target": "y"}),
     "forward takes 2 tensors"),
    (lambda g: g.__setitem__("nodes", "rm -rf /"), "not in the expected form"),
    (lambda g: _call(g, "aten.linear.default").setdefault("kwargs", {}).__setitem__(
        "out", {"ref": "x"}), r"writes into another tensor \(out=\)"),
])
def test_a_spoiled_graph_is_refused_with_a_reason(spoil, said):
    graph, _ = _graph()
    spoil(graph)
    with pytest.raises(GraphRefused, match=said):
        validate(graph)


def test_weights_must_match_the_graph():
    graph, state = _graph()
    with pytest.raises(GraphRefused, match="not among the network's weights"):
        GraphNet(graph, graph, {k: v for k, v in state.items() if k != "fc.weight"})
    with pytest.raises(GraphRefused, match="not a floating-point tensor"):
        GraphNet(graph, graph, {**state, "fc.weight": state["fc.weight"].long()})


def test_an_operation_that_would_not_fit_is_refused_before_it_runs():
    graph, state = _graph()
    net = GraphNet(graph, graph, {**state, "conv.weight": torch.zeros(20_000, 1, 3, 3),
                                  "conv.bias": torch.zeros(20_000)})
    # said in the student's terms: the layer, its feature maps, numbers per image; no node names
    with pytest.raises(GraphRefused, match=r"^conv layer 1 \(conv2d\) would make 20,000 feature maps "
                       r"of 26x26 \(13,520,000 numbers\) per image, far larger than a CNN of the "
                       r"described shape needs; the grader computes at most 8,000,000 numbers per "
                       r"image in one layer"):
        net(torch.rand(2, 1, 28, 28))


def _notebook_text(aid: str) -> str:
    import nbformat

    from autograder.config import load_config, solution_path
    from kit import ROOT

    nb = nbformat.read(solution_path(ROOT, aid, load_config(ROOT / "grading_config.yaml")
                                     .assignment(aid).notebook), as_version=4)
    return " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")


def test_04s_notebook_states_the_per_image_bound_the_judge_enforces():
    """The element cap meets the batch the judge trains with at exactly the per-image bound the
    notebook states (scoring splits its batches as it needs: the test above): limits follow the
    stated spec."""
    from autograder.config import load_config
    from autograder.graph import MAX_ELEMENTS
    from kit import ROOT

    batch = load_config(ROOT / "grading_config.yaml").params("04_digits_cnn").train.batch_size
    assert f"no layer makes more than {MAX_ELEMENTS // batch:,} numbers per image" in \
        _notebook_text("04_digits_cnn")


def _cnn(conv1, conv2, flat: int, act=torch.relu, pool=None, flatten=None, drop=None):
    """A DigitCNN of the described shape whose layers are written one way or another."""
    pool = pool or (lambda x: F.max_pool2d(x, 2))
    flatten = flatten or (lambda x: torch.flatten(x, 1))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = conv1(), conv2()
            self.f1, self.f2, self.f3 = nn.Linear(flat, 32), nn.Linear(32, 16), nn.Linear(16, 10)
            self.d = nn.Dropout(0.25)

        def forward(self, x):
            x = pool(act(self.c1(x)))
            x = pool(act(self.c2(x)))
            x = drop(self, flatten(x)) if drop else self.d(flatten(x))
            return self.f3(act(self.f2(act(self.f1(x)))))
    return Net


def _k3(cin, cout, **kw):
    return lambda: nn.Conv2d(cin, cout, 3, **kw)


class Functional(nn.Module):
    """Parameters and functions only: F.conv2d without a bias, x @ w.T, torch.matmul, F.linear."""

    def __init__(self):
        super().__init__()
        self.w1, self.b1 = nn.Parameter(torch.randn(4, 1, 3, 3) * .3), nn.Parameter(torch.zeros(4))
        self.w2 = nn.Parameter(torch.randn(8, 4, 3, 3) * .2)
        self.l1, self.l2 = nn.Parameter(torch.randn(16, 200) * .1), nn.Parameter(torch.randn(8, 16) * .2)
        self.l3 = nn.Parameter(torch.randn(10, 8) * .3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(F.conv2d(x, self.w1, self.b1)), 2)
        x = F.max_pool2d(F.relu(F.conv2d(x, self.w2)), 2)
        x = F.dropout(x.flatten(1), 0.25, self.training)
        x = F.relu(x @ self.l1.T)
        x = F.relu(torch.matmul(x, self.l2.t()))
        return F.linear(x, self.l3)


class InALoop(nn.Module):
    """nn.Sequential built in a loop, in float64, converting its input with x.double()."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        for cin, cout in [(1, 4), (4, 8)]:
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        layers += [nn.Flatten(), nn.Dropout(0.25)]
        for a, b in [(8 * 7 * 7, 32), (32, 16)]:
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(16, 10)).double()

    def forward(self, x):
        return self.net(x.double())


# Every way PyTorch offers to write the layers the notebooks allow: each one the judge must run.
FORMS = {
    "padding same, no bias": _cnn(_k3(1, 4, padding="same", bias=False), _k3(4, 8, padding="same", bias=False), 8 * 7 * 7),
    "padding valid": _cnn(_k3(1, 4, padding="valid"), _k3(4, 8, padding="valid"), 8 * 5 * 5),
    "tuple padding and stride": _cnn(lambda: nn.Conv2d(1, 4, (3, 3), padding=(1, 1), stride=(1, 1)),
                                     lambda: nn.Conv2d(4, 8, (5, 5), padding=(2, 2)), 8 * 7 * 7),
    "reflect padding": _cnn(_k3(1, 4, padding=1, padding_mode="reflect"), _k3(4, 8, padding=1), 8 * 7 * 7),
    "circular and replicate padding": _cnn(_k3(1, 4, padding=1, padding_mode="circular"),
                                           _k3(4, 8, padding=1, padding_mode="replicate"), 8 * 7 * 7),
    "nn.ReLU(inplace=True)": _cnn(_k3(1, 4), _k3(4, 8), 200, act=nn.ReLU(inplace=True)),
    "F.relu(inplace=True)": _cnn(_k3(1, 4), _k3(4, 8), 200, act=lambda x: F.relu(x, inplace=True)),
    "x.relu()": _cnn(_k3(1, 4), _k3(4, 8), 200, act=lambda x: x.relu()),
    "x.clamp(min=0)": _cnn(_k3(1, 4), _k3(4, 8), 200, act=lambda x: x.clamp(min=0)),
    "torch.clamp_min(x, 0)": _cnn(_k3(1, 4), _k3(4, 8), 200, act=lambda x: torch.clamp_min(x, 0)),
    "nn.MaxPool2d with tuples": _cnn(_k3(1, 4), _k3(4, 8), 200, pool=nn.MaxPool2d((2, 2), stride=(2, 2))),
    "max-pooling with indices": _cnn(_k3(1, 4), _k3(4, 8), 200,
                                     pool=lambda x: F.max_pool2d(x, 2, return_indices=True)[0]),
    "ceil_mode pooling": _cnn(_k3(1, 4), _k3(4, 8), 8 * 6 * 6, pool=nn.MaxPool2d(2, ceil_mode=True)),
    "view(-1, n)": _cnn(_k3(1, 4), _k3(4, 8), 200, flatten=lambda x: x.view(-1, 200)),
    "view(x.size(0), -1)": _cnn(_k3(1, 4), _k3(4, 8), 200, flatten=lambda x: x.view(x.size(0), -1)),
    "reshape(x.shape[0], -1)": _cnn(_k3(1, 4), _k3(4, 8), 200, flatten=lambda x: x.reshape(x.shape[0], -1)),
    "nn.Flatten()": _cnn(_k3(1, 4), _k3(4, 8), 200, flatten=nn.Flatten()),
    "x.flatten(start_dim=1)": _cnn(_k3(1, 4), _k3(4, 8), 200, flatten=lambda x: x.flatten(start_dim=1)),
    "F.dropout(training=self.training)": _cnn(_k3(1, 4), _k3(4, 8), 200,
                                              drop=lambda m, x: F.dropout(x, m.d.p, m.training)),
    "F.dropout in place": _cnn(_k3(1, 4), _k3(4, 8), 200,
                               drop=lambda m, x: F.dropout(x, m.d.p, m.training, inplace=True)),
    "functional, no modules": Functional,
    "nn.Sequential in a loop, float64": InALoop,
}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_of_an_allowed_layer_runs_and_trains(form):
    torch.manual_seed(0)
    model = FORMS[form]()
    tensors: dict = {}
    node = executor._export(model, [2, 1, 28, 28], "graph", tensors)
    assert node["t"] == "graph", node
    net = GraphNet.from_node(node, tensors, "DigitCNN")
    x = torch.rand(5, 1, 28, 28)
    model.eval(), net.eval()
    with torch.no_grad():
        assert torch.allclose(net(x), model(x), atol=1e-6)
    net.train()
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_a_forward_that_fails_names_the_layer_and_the_shapes():
    """A shape mismatch reaches the student as their layer and two numbers, not torch.export's
    symbolic sizes."""
    class WrongFlatten(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.fc1 = nn.Linear(400, 10)

        def forward(self, x):
            return self.fc1(torch.flatten(F.max_pool2d(torch.relu(self.conv(x)), 2), 1))

    tensors: dict = {}
    node = executor._export(WrongFlatten(), [2, 1, 28, 28], "graph", tensors)
    with pytest.raises(GraphRefused) as refused:
        GraphNet.from_node(node, tensors, "DigitCNN")
    said = str(refused.value)
    assert said.startswith("DigitCNN's forward fails on a batch of 2 images of shape (1, 28, 28) in "
                           "self.fc1 (Linear): RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    assert "expects 400 features per image and receives 676" in said
    assert not re.search(r"\bs\d+\b", said)


def test_scoring_runs_in_halves_what_training_could_run_whole(monkeypatch):
    """Without gradients, in evaluation mode, a batch whose layer would not fit the cap is scored in
    halves, with the same scores; training at that batch is refused, in the student's terms."""
    from autograder import graph

    data, state = _exported()
    net = GraphNet(data["graphs"]["train"], data["graphs"]["eval"], state)
    x = torch.rand(9, 1, 28, 28)
    net.eval()
    with torch.no_grad():
        whole = net(x)
    monkeypatch.setattr(graph, "MAX_ELEMENTS", 4 * 26 * 26 * 3)  # three images' first conv layer
    with torch.no_grad():
        assert torch.allclose(net(x), whole, atol=1e-6)
    net.train()
    with pytest.raises(GraphRefused, match=r"^conv layer 1 \(conv2d\) would make 4 feature maps of "
                       r"26x26 \(2,704 numbers\) per image, far larger .* at most 901 numbers"):
        net(x)


def test_a_crafted_stride_of_zero_is_refused_as_a_reason():
    graph, state = _graph()
    conv = _call(graph, "aten.conv2d.default")
    conv["args"] = conv["args"][:3] + [{"list": [{"const": 0}, {"const": 0}]}]
    net = GraphNet(graph, graph, state)
    with pytest.raises(GraphRefused, match="conv layer 1 \\(conv2d\\) failed when the grader ran it"):
        net(torch.rand(2, 1, 28, 28))


def test_the_size_of_a_same_padded_layer_is_the_input_s():
    from autograder.graph import _result_shape

    x, w = torch.zeros(64, 1, 28, 28), torch.zeros(128, 1, 5, 5)
    assert _result_shape("aten.conv2d.padding", [x, w, None, [1, 1], "same"]) == (64, 128, 28, 28)
    assert _result_shape("aten.conv2d.padding", [x, w, None, [1, 1], "valid"]) == (64, 128, 24, 24)
    assert _result_shape("aten.conv2d.default", [x, w, None, [2, 2], [2, 2]]) == (64, 128, 14, 14)


class FixedBatch(nn.Module):
    """A network that flattens with a fixed batch size of 32: x.view(32, -1) (2 images of 784
    pixels make 32 rows of 49)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return self.fc(x.view(32, -1))


def test_a_fixed_batch_size_is_named_as_such():
    tensors: dict = {}
    node = executor._export(FixedBatch(), [2, 1, 28, 28], "graph", tensors)
    with pytest.raises(GraphRefused) as refused:
        GraphNet.from_node(node, tensors, "DigitCNN")
    said = str(refused.value)
    assert "A batch of 2 became 32 rows on its way to the linear layer" in said, said
    assert "expects" not in said
