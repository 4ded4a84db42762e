"""Probe of 05_quiz. It runs in the sandbox, next to the student's code, and holds no answers.

It reports what the student wrote in ANSWERS as plain data, and nothing else: only exact bools,
ints, floats, strings and None are read as values; any other object (a subclass, an object with a
rigged __eq__) is reported by its type alone and never asked anything. The answer key stays with the
judge, which decides what each value means.

Each probe is `name(student, args, inputs, device) -> (json_dict, tensor_dict)`.
"""
MAX_ENTRIES = 200
MAX_TEXT = 60


def _type(x) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def _describe(value) -> dict:
    kind = type(value)
    if value is None:
        return {"kind": "none"}
    if kind is bool:
        return {"kind": "bool", "value": value}
    if kind is int:
        return {"kind": "int", "value": value if abs(value) < 2**53 else None}
    if kind is float:
        return {"kind": "float", "value": value}
    if kind is str:
        return {"kind": "str", "value": value[:MAX_TEXT]}
    if _type(value) == "numpy.bool":  # np.True_ / np.False_: numpy's own type, safe to convert
        return {"kind": "bool", "value": bool(value)}
    return {"kind": "other", "type": _type(value)[:MAX_TEXT]}


def answers(student, args, inputs, device):
    if not hasattr(student, "ANSWERS"):
        return {"kind": "missing"}, {}
    raw = student.ANSWERS
    if type(raw) is not dict:
        return {"kind": "not_a_dict", "type": _type(raw)[:MAX_TEXT]}, {}
    entries = [{"key": _describe(k), "value": _describe(v)}
               for k, v in list(dict.items(raw))[:MAX_ENTRIES]]
    return {"kind": "dict", "entries": entries, "truncated": len(raw) > MAX_ENTRIES}, {}
