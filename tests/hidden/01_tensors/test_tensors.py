"""Creating tensors, dtypes, arithmetic and broadcasting, indexing: values recomputed by the judge."""
import torch

from autograder.evidence import check, fail

FLOAT32_HINT = ("numpy arrays are float64 by default and torch.tensor(array) keeps the array's dtype: "
                "pass dtype=torch.float32")


def _draws(seed, shape, uniform_first=False):
    g = torch.Generator().manual_seed(seed)  # the same stream torch.manual_seed(seed) starts
    if uniform_first:
        uniform = torch.rand(shape, generator=g)
        return torch.randn(shape, generator=g), uniform
    return torch.randn(shape, generator=g), torch.rand(shape, generator=g)


def _pair(ev, key, shape):
    normal, uniform = ev.parts(key, 2, "random_pair")
    return (ev.tensor(normal, shape, what="the first (normal) tensor"),
            ev.tensor(uniform, shape, what="the second (uniform) tensor"))


def _same(pair, expected) -> bool:
    return all(torch.equal(a, b) for a, b in zip(pair, expected))


def test_random_pair_repeats_the_seeded_draws__catches_wrong_order_or_missing_seed(probe, p, plan):
    """random_pair(shape, seed) seeds torch with `seed`, then draws torch.randn(shape) first and
    torch.rand(shape) second; the judge makes the same draws and compares them exactly. It is
    called from two different random states with the same seed, and once with another seed."""
    ev = probe("random_pair", "random_pair")
    shape = tuple(p.random_shape)
    args = next(s.args for s in plan.probes if s.name == "random_pair")
    seed, first_state = args["seed"], args["states"][0]
    normal, uniform = pair = _pair(ev, "pair", shape)
    expected_normal, expected_uniform = expected = _draws(seed, shape)
    if not _same(pair, expected):
        if torch.equal(normal, expected_uniform) and torch.equal(uniform, expected_normal):
            fail("the two tensors are returned in the wrong order: return (normal, uniform)")
        if _same(pair, _draws(seed, shape, uniform_first=True)):
            fail("the uniform tensor was drawn first: each draw moves the generator on, so draw "
                 "torch.randn before torch.rand")
        if _same(pair, _draws(first_state, shape)) or _same(pair, _draws(first_state, shape, True)):
            fail("the tensors follow torch's random state from before the call, not the seed: "
                 "call torch.manual_seed(seed) before drawing (np.random.seed or random.seed do "
                 "not seed torch)")
        if bool((normal >= 0).all() and (normal < 1).all()) and bool((uniform < 0).any()):
            fail("the first tensor looks uniform and the second normal: torch.randn is the normal one")
        fail("the tensors differ from torch.randn and torch.rand drawn right after "
             "torch.manual_seed(seed): seed first, then draw with the given shape")
    check(_same(_pair(ev, "again", shape), expected),
          "called again with the same seed after other random draws, random_pair gave other "
          "tensors: seed torch with `seed` inside the function, every time")
    check(_same(_pair(ev, "other", shape), _draws(args["other_seed"], shape)),
          "with another seed random_pair gave the draws of a different seed: seed torch with the "
          "`seed` argument, not a fixed number")


def test_shape_and_ndim__catches_len_used_for_ndim(probe, p):
    """shape_and_ndim(t) returns (tuple(t.shape), t.ndim): the size of every dimension, and how
    many dimensions there are."""
    ev = probe("shape_and_ndim", "shape_and_ndim")
    for i, shape in enumerate(p.ndim_shapes):
        shape_out, ndim_out = ev.parts(f"s{i}", 2, "shape_and_ndim")
        kind = ev.typename(shape_out)
        check(kind in ("builtins.tuple", "torch.Size"), f"for a tensor of shape {tuple(shape)} the "
              f"shape came back as a {kind.rsplit('.', 1)[-1]}; return a tuple (tuple(t.shape))")
        seen = [ev.number(d) for d in ev.items(shape_out)]
        check(seen == list(shape) and all(ev.typename(d) == "builtins.int" for d in ev.items(shape_out)),
              f"for a tensor of shape {tuple(shape)} the shape came back as "
              f"{[s if s is None else int(s) for s in seen]}")
        ndim = ev.number(ndim_out) if ev.typename(ndim_out) == "builtins.int" else None
        if ndim != len(shape):
            hint = (" (that is len(t), the size of the first dimension; t.ndim counts dimensions)"
                    if ndim == shape[0] else "")
            fail(f"for a tensor of shape {tuple(shape)} ndim came back as "
                 f"{'a ' + ev.kind(ndim_out) if ndim is None else int(ndim)}; expected "
                 f"{len(shape)}{hint}")


def test_as_float32_converts_any_array__catches_float64_kept(probe, plan):
    """as_float32(array) returns a float32 tensor with the array's values, for float64 and integer
    arrays alike."""
    ev = probe("as_float32", "as_float32")
    for name in ("float64", "int64"):
        source = plan.inputs[f"dtypes.{name}"]
        t = ev.tensor(name, tuple(source.shape), dtype=None, what=f"the result for a {name} array")
        if t.dtype != torch.float32:
            fail(f"for a {name} array the result has dtype {t.dtype}; expected torch.float32 "
                 f"({FLOAT32_HINT})")
        check(torch.equal(t, source.float()), f"for a {name} array the values changed")


def test_broadcast_gives_the_full_table__catches_transposed_or_wrong_shape(probe, plan):
    """broadcast(a, b) for a of shape (1, n) and b of shape (m, 1) returns (a + b, a * b), each of
    shape (m, n), with entry [i, j] combining b[i] and a[j]."""
    ev = probe("broadcast", "broadcast")
    a, b = plan.inputs["ops.a"].double(), plan.inputs["ops.b"].double()
    m, n = b.shape[0], a.shape[1]
    for key, path, expected in zip(("sum", "product"), ev.parts("result", 2, "broadcast"),
                                   (a + b, a * b)):
        t = ev.tensor(path, dtype=None, what=f"the {key}")
        if tuple(t.shape) == (n, m):
            fail(f"the {key} has shape {(n, m)}, the transpose of the expected {(m, n)}: entry [i, j] "
                 "combines b[i] (rows) with a[j] (columns); just write a + b and a * b")
        check(tuple(t.shape) == (m, n), f"the {key} has shape {tuple(t.shape)}; broadcasting (1, {n}) "
              f"with ({m}, 1) gives ({m}, {n})")
        check(torch.allclose(t.double(), expected, atol=1e-6, rtol=1e-6),
              f"the {key} has the right shape but wrong values"
              + (": is it the other operation?" if key == "sum" and torch.allclose(
                  t.double(), a * b, atol=1e-6) or key == "product" and torch.allclose(
                  t.double(), a + b, atol=1e-6) else ""))


def test_mean_and_sum_are_python_floats__catches_tensors_or_swapped_results(probe, plan, p):
    """mean_and_sum(x) returns (the mean, the sum) of all of x's elements as Python floats."""
    ev = probe("mean_and_sum", "mean_and_sum")
    parts = ev.parts("result", 2, "mean_and_sum")
    types = [ev.typename(path) for path in parts]
    if types != ["builtins.float", "builtins.float"]:
        fail(f"mean_and_sum returned ({', '.join(str(t).rsplit('.', 1)[-1] for t in types)}); "
             "return Python floats, e.g. x.mean().item()")
    x = plan.inputs["ops.x"].double()
    mean, total = (ev.value(path, float) for path in parts)
    want_mean, want_sum = x.mean().item(), x.sum().item()
    close = lambda v, w: abs(v - w) <= p.value_rtol * max(1.0, abs(w))  # noqa: E731
    if close(mean, want_sum) and close(total, want_mean):
        fail("the mean and the sum are swapped: return (mean, sum)")
    check(close(mean, want_mean), f"the mean came back as {mean:.6g}; the mean of all elements is "
          f"{want_mean:.6g}" + (" (that looks like the mean of one dimension only)"
                                if any(close(mean, v) for v in x.mean(dim=0).tolist()
                                       + x.mean(dim=1).tolist()) else ""))
    check(close(total, want_sum), f"the sum came back as {total:.6g}; the sum of all elements is "
          f"{want_sum:.6g}")


def test_first_row_and_column__catches_rows_and_columns_swapped(probe, plan):
    """first_row_and_column(X) returns (X[0], X[:, 0]): the first row, then the first column, each
    1-dimensional."""
    ev = probe("first_row_and_column", "first_row_and_column")
    X = plan.inputs["index.X"]
    rows, cols = X.shape
    row_path, column_path = ev.parts("result", 2, "first_row_and_column")
    row = ev.tensor(row_path, dtype=None, what="the row")
    column = ev.tensor(column_path, dtype=None, what="the column")
    if tuple(row.shape) == (rows,) and tuple(column.shape) == (cols,):
        fail("the row and the column are swapped: X[0] is the first row, X[:, 0] the first column")
    check(tuple(row.shape) == (cols,), f"for X of shape {(rows, cols)} the row has shape "
          f"{tuple(row.shape)}; the first row is 1-D with {cols} entries (X[0])")
    check(tuple(column.shape) == (rows,), f"for X of shape {(rows, cols)} the column has shape "
          f"{tuple(column.shape)}; the first column is 1-D with {rows} entries (X[:, 0])")
    check(torch.equal(row, X[0]), "the row's values are not those of X's first row")
    check(torch.equal(column, X[:, 0]), "the column's values are not those of X's first column")
