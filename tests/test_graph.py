"""autograder/graph.py: the judge rebuilds a network from its exported graph, and refuses anything
that is not a graph of allowed operations with a reason."""
import copy

import pytest
import torch
from torch import nn

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
    with pytest.raises(GraphRefused, match="far larger"):
        net(torch.rand(2, 1, 28, 28))
