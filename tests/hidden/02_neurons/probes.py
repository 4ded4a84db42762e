"""Probes of 02_neurons: what the sandbox calls in the student's module, and what it ships back.

Each probe is a recipe, `name(r, args, device)` (autograder/recipe.py): it calls the student's
functions on inputs the judge chose and ships what came back, as it is. They hold no secrets (a
student may read this file): the judge compares everything with PyTorch's own functions and its own
replay of the perceptron rule. An XORNet leaves the sandbox as a graph of standard operators with
its initial weights, and the judge rebuilds it (autograder/graph.py) and trains it with the
course's loop itself: an XORNet is graded on its own, and no training runs beside the student's
code. Where a function must leave its input alone, the input is shipped again after
the call (a reported check: only the student's process knows what it did to its own memory).
"""


def softmax(r, args, device):
    z = r.let(r.input(args["input"]))
    r.ship("p", r.student.softmax(z) if args["dim"] is None else r.student.softmax(z, dim=args["dim"]))
    r.ship("z_after", z)


def one_hot(r, args, device):
    r.ship("encoded", r.student.one_hot(r.input("one_hot.labels"), args["num_classes"]))


def cross_entropy(r, args, device):
    """The loss on logits that require gradients, and the gradient backward() leaves on them."""
    logits = r.let(r.input("ce.logits"))
    logits.requires_grad_(True)
    loss = r.student.cross_entropy(logits, r.input("ce.targets"))
    r.ship("loss", loss)
    with r.catch() as failed:  # a float has no backward(); a detached tensor refuses it
        loss.sum().backward()
    r.ship("backward", failed)
    r.ship("grad", logits.grad)


def relu(r, args, device):
    x = r.let(r.input("act.x"))
    r.ship("out", r.student.relu(x))
    r.ship("x_after", x)


def leaky_relu(r, args, device):
    for key, extra in (("default", ()), ("custom", (args["slope"],))):
        x = r.let(r.input("act.x"))
        r.ship(key, r.student.leaky_relu(x, *extra))
        r.ship(f"{key}_x_after", x)


def perceptron_step(r, args, device):
    """One step per case, each on its own copy of the case's w (shipped again after the call)."""
    for k, lr in enumerate(args["lrs"]):
        w = r.let(r.input("pst.w")[k])
        label = r.lib("builtins.int")(r.input("pst.y")[k])
        r.ship(f"step{k}", r.student.perceptron_step(w, r.input("pst.b")[k], r.input("pst.x")[k],
                                                     label, lr))
        r.ship(f"w{k}_after", w)


def train_gate(r, args, device):
    r.ship("result", r.student.train_gate(r.input("gate.X"), r.input(f"gate.{args['gate']}")))


def xor_net(r, args, device):
    """A fresh XORNet per restart seed, as graphs with its initial weights."""
    for k, seed in enumerate(args["seeds"]):
        r.seed(seed)
        r.export(f"net{k}", r.student.XORNet(), [3, 2])
