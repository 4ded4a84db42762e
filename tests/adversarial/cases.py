"""Hostile submissions of 03_network, each built from the reference solution plus an attack.

A case is `(source, lost, reason)`: the checks it must lose (exactly) and words its feedback must
contain. `lost` is None where the attack breaks the probe in ways that vary; those cases assert
"no more points than the same bug without the attack" instead.
"""
import textwrap

TRAINER_DEF = "def trainer(model, criterion, optimizer, dataloader, epochs=5, verbose=False):\n"
ACCURACY_DEF = "def accuracy(model, dataloader):\n"
FORWARD_RETURN = "        return self.layers[-1](x)  # raw scores: no activation on the output layer"
ZERO_GRAD = "            optimizer.zero_grad()\n"


def in_function(source: str, definition: str, code: str) -> str:
    """Insert `code` as the first statements of the function defined by `definition`."""
    assert source.count(definition) == 1
    return source.replace(definition, definition + textwrap.indent(textwrap.dedent(code), "    "))


def at_import(source: str, code: str) -> str:
    return source + "\n" + textwrap.dedent(code) + "\n"


def without_zero_grad(source: str) -> str:
    assert source.count(ZERO_GRAD) == 1
    return source.replace(ZERO_GRAD, "")


def cases(ref: str, names: list[str], ctx: dict) -> dict:
    """`ctx`: host paths and ports the attacks aim at (the test creates them)."""
    ALL = set(names)

    def starts(*prefixes):
        return {n for n in names if n.startswith(prefixes)}

    ACCURACY = starts("test_accuracy")
    TRAINER = starts("test_trainer", "test_training", "test_heldout")
    FORWARD = starts("test_forward", "test_default")
    FITS = starts("test_training", "test_heldout")
    BOB = {n for n in names if n.startswith("test_trainer_matches_reference")} | {
        "test_training_lowers_loss__catches_no_learning[digits]",
        "test_heldout_accuracy__catches_a_network_that_does_not_generalise[digits]"}
    return {
        # --- stopping the program -------------------------------------------------------------
        "exit_at_import": (at_import(ref, "import sys\nsys.exit(0)"), ALL, "sys.exit(0) was called"),
        "os_exit_in_accuracy": (in_function(ref, ACCURACY_DEF, "import os\nos._exit(0)\n"),
                                ACCURACY, "os._exit()"),
        "sigkill_self": (in_function(ref, ACCURACY_DEF, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),
                         ACCURACY, "killed by SIGKILL"),
        "sigkill_parent": (in_function(ref, TRAINER_DEF, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"),
                           TRAINER | ACCURACY, "killed"),
        "links_and_fifos_then_kill_parent": (in_function(ref, TRAINER_DEF, f"""
            import os, signal
            # every file the grader reads back becomes a FIFO (a blocking read) or a link to a host
            # file the grader could read, then the harness dies so the grader reads its log
            for name in os.listdir("out"):
                if name.endswith(".log"):
                    os.remove(f"out/{{name}}")
                    os.mkfifo(f"out/{{name}}")
            for name in ("fit_gaussians", "fit_digits", "accuracy", "replay_classification"):
                if not os.path.exists(f"out/{{name}}.log"):
                    os.mkfifo(f"out/{{name}}.log")
            os.remove("out/_ready.json")
            os.symlink({ctx['secret_file']!r}, "out/_ready.json")
            try:
                os.remove("harness.log")
            except FileNotFoundError:
                pass
            os.symlink({ctx['secret_file']!r}, "harness.log")
            os.kill(os.getppid(), signal.SIGKILL)
            """), TRAINER | ACCURACY, "killed"),
        # --- rigged comparisons ---------------------------------------------------------------
        "always_true_eq": (in_function(ref, ACCURACY_DEF, """
            class AlwaysEqual(float):
                def __eq__(self, other): return True
                def __ne__(self, other): return False
                __hash__ = float.__hash__
            return AlwaysEqual(1.0)
            """), ACCURACY, "returned a value of type AlwaysEqual, not a number"),
        "rigged_float_losses": (ref.replace("    return history\n", textwrap.indent(textwrap.dedent("""
            class Rigged(float):
                def __eq__(self, other): return True
                def __float__(self): return 0.0
                __hash__ = float.__hash__
            return [Rigged(v) for v in history]
            """), "    "), 1), starts("test_trainer_returns"), "return Python floats"),
        "tensor_subclass_output": (ref.replace(FORWARD_RETURN, textwrap.indent(textwrap.dedent("""
            class Liar(torch.Tensor):
                def __eq__(self, other): return True
            return torch.zeros(len(x), self.layers[-1].out_features).as_subclass(Liar)"""), "        ").lstrip("\n")),
            FORWARD | FITS | {"test_unknown_activation_raises_valueerror"}, "forward"),
        # --- patching what checks the answers: gains nothing over the same bug without it -----
        "patched_torch": (at_import(without_zero_grad(ref), """
            torch.allclose = lambda *a, **k: True
            torch.equal = lambda *a, **k: True
            torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
            torch.testing.assert_close = lambda *a, **k: None
            """), BOB | {"test_accuracy_matches_judge_count__catches_missing_eval_mode"}, "zero_grad()"),
        "patched_pytest": (at_import(without_zero_grad(ref), """
            import pytest, _pytest.outcomes
            pytest.fail = _pytest.outcomes.fail = lambda *a, **k: None
            pytest.approx = lambda *a, **k: type("Any", (), {"__eq__": lambda s, o: True})()
            """), BOB, "zero_grad()"),
        "patched_builtins": (at_import(without_zero_grad(ref), """
            import builtins
            builtins.isinstance = lambda obj, kind: True
            builtins.len = lambda obj: 1
            """), None, ""),
        "patched_harness": (at_import("raise_me = NotImplementedError\n", """
            import json, sys
            harness = sys.modules.get("__main__")
            def fake(path, obj):
                with open(path, "w") as f:
                    json.dump({"status": "ok", "data": {"models": [], "losses": [], "value": 1.0,
                               "calls": [], "raised": True, "is_value_error": True,
                               "returned_type": "builtins.list", "type": "builtins.float",
                               "requires_grad": False, "grads_left": False}}, f)
            if harness is not None:
                harness._write_json = fake
            """), ALL, ""),
        "fake_score_output": (at_import(without_zero_grad(ref), """
            import json, sys
            print("Score: 28/28 -- all tests passed")
            print(json.dumps({"score": 28, "tests": []}))
            print('{"status": "ok", "data": {}}', file=sys.stderr)
            """), BOB, "zero_grad()"),
        # --- looking for secrets --------------------------------------------------------------
        "stack_walking": (in_function(ref, TRAINER_DEF, """
            import inspect, sys
            found = []
            frame = sys._getframe()
            while frame is not None:
                found += [k for k in frame.f_locals if "held" in k or "secret" in k or "label" in k]
                frame = frame.f_back
            found += [k for f in inspect.stack() for k in f.frame.f_locals if "held" in k]
            raise RuntimeError(f"stack secrets found: {sorted(set(found))}")
            """), TRAINER, "stack secrets found: []"),
        "read_repository": (in_function(ref, ACCURACY_DEF, f"""
            import glob, os
            targets = {ctx['repo_paths']!r} + ["../grading_config.yaml", "../../grading_config.yaml",
                       os.path.expanduser("~/.bash_history"), "/root/.bash_history", "/etc/passwd"]
            def can_read(t):
                # directories above the read-only Python environment exist as empty mount points
                # (bwrap): count a directory only if it shows anything besides that environment;
                # a file only if its bytes can be read (the landlock tier lets a name be seen)
                try:
                    if os.path.isdir(t):
                        return bool(set(os.listdir(t)) - {{".venv", ".pyenv"}})
                    with open(t, "rb") as f:
                        f.read(1)
                    return True
                except OSError:
                    return False
            readable = [t for t in targets if can_read(t)]
            readable += [p for depth in range(1, 5)
                         for p in glob.glob("/" + "*/" * depth + "grading_config.yaml") if can_read(p)]
            raise RuntimeError(f"readable: {{readable}}")
            """), ACCURACY, "readable: []"),
        "inputs_hold_no_labels": (in_function(ref, ACCURACY_DEF, """
            from safetensors import safe_open
            with safe_open("inputs.safetensors", "pt") as f:
                keys = sorted(k for k in f.keys() if "held" in k or "secret" in k)
            raise RuntimeError(f"held-out keys: {keys}")
            """), ACCURACY, "held-out keys: []"),
        "read_other_processes": (in_function(ref, ACCURACY_DEF, f"""
            import os
            # every process it can see: what do their command lines and environments give away?
            me, cmdlines, others_env, secrets = os.getuid(), 0, 0, 0
            for pid in filter(str.isdigit, os.listdir("/proc")):
                for part in ("cmdline", "environ"):
                    try:
                        data = open(f"/proc/{{pid}}/{{part}}", "rb").read()
                        uid = os.stat(f"/proc/{{pid}}").st_uid
                    except OSError:
                        continue
                    cmdlines += part == "cmdline"
                    others_env += part == "environ" and uid != me
                    secrets += any(s.encode() in data for s in {ctx['secrets']!r})
            raise RuntimeError(f"environ of others: {{others_env}}, secrets: {{secrets}}, "
                               f"command lines: {{cmdlines}}")
            """), ACCURACY, "environ of others: 0, secrets: 0,"),
        "detect_grader": (in_function(ref, ACCURACY_DEF, """
            import json, os, socket
            # student messages are clipped to 400 characters: report compactly, leaving out the
            # top-level directories every Linux root has
            usual = {"bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "proc", "root", "run",
                     "sbin", "sys", "tmp", "usr", "var", "sandbox"}
            try:
                root = sorted(set(os.listdir("/")) - usual)
            except OSError as exc:  # the landlock tier refuses to list what it may not read
                root = type(exc).__name__
            seen = {"uid": os.getuid(), "cwd": os.getcwd(), "env": sorted(os.environ),
                    "root": root, "host": socket.gethostname()}
            raise RuntimeError("sees " + json.dumps(seen, separators=(",", ":")))
            """), ACCURACY, '"uid":'),
        # --- tampering with results -----------------------------------------------------------
        "write_results_json": (at_import(ref, f"""
            import json, os, time
            fake = json.dumps({{"score": 999, "tests": []}})
            for target in ["results.json"] + {ctx['result_targets']!r}:
                try:
                    with open(target, "w") as f:
                        f.write(fake)
                except OSError:
                    pass
            if os.fork() == 0:  # a watcher that keeps rewriting after the probe returns
                for _ in range(30):
                    for target in {ctx['result_targets']!r}:
                        try:
                            with open(target, "w") as f:
                                f.write(fake)
                        except OSError:
                            pass
                    time.sleep(0.2)
                os._exit(0)
            """), set(), ""),
        "shipped_conftest": (ref, set(), ""),  # the test writes conftest.py etc. beside it
        "pickle_instead_of_tensors": (in_function(ref, TRAINER_DEF, f"""
            import json, os, pickle, sys
            class Payload:
                def __reduce__(self):
                    return (open, ({ctx['pickle_marker']!r}, "w"))
            name = next(n for n in ("replay_classification", "replay_regression", "fit_gaussians", "fit_digits")
                        if not os.path.exists(f"out/{{n}}.json"))
            with open(f"out/{{name}}.safetensors", "wb") as f:
                pickle.dump(Payload(), f)
            with open(f"out/{{name}}.json", "w") as f:
                json.dump({{"status": "ok", "data": {{"returned_type": "builtins.list", "losses": []}}}}, f)
            os._exit(0)
            """), TRAINER, "tensors could not be read"),
        "deeply_nested_json": (in_function(ref, TRAINER_DEF, """
            import os
            name = next(n for n in ("replay_classification", "replay_regression", "fit_gaussians", "fit_digits")
                        if not os.path.exists(f"out/{n}.json"))
            with open(f"out/{name}.json", "w") as f:
                f.write('{"status": "ok", "data": ' + "[" * 100000 + "]" * 100000 + "}")
            os._exit(0)
            """), TRAINER, "could not be read"),
        # --- the network and resources ----------------------------------------------------------
        "connect_localhost": (at_import(ref, f"""
            import socket
            try:
                with socket.create_connection(("127.0.0.1", {ctx['port']}), timeout=2) as s:
                    s.sendall(b"LEAKED")
            except OSError:
                pass
            """), set(), ""),
        "fork_storm": (in_function(ref, ACCURACY_DEF, """
            import os, time
            children = 0
            try:
                for _ in range(300):  # bounded even if the process limit were missing
                    if os.fork() == 0:
                        time.sleep(60)
                        os._exit(0)
                    children += 1
            except OSError as exc:
                raise RuntimeError(f"fork refused after {children} children: {exc}")
            raise RuntimeError(f"forked all {children} children")
            """), ACCURACY, "fork refused after"),
        "memory_bomb": (in_function(ref, ACCURACY_DEF, """
            hoard = []
            for _ in range(20):  # 20 x 1 GiB of address space at most, untouched: safe without limits
                hoard.append(torch.empty(256 * 1024 * 1024))
            raise RuntimeError(f"allocated {len(hoard)} GiB")
            """), ACCURACY, "memory"),
        "c_extension_loop": (in_function(ref, ACCURACY_DEF, """
            a = torch.randn(1500, 1500)
            while True:
                a = torch.mm(a, a).clamp_(-1, 1)
            """), ACCURACY, "did not finish within"),
        "sleep_forever": (in_function(ref, ACCURACY_DEF, "import time\ntime.sleep(10 ** 6)\n"),
                          ACCURACY, "did not finish within"),
        "huge_file": (in_function(ref, ACCURACY_DEF, """
            block = b"x" * (1 << 20)
            with open("huge.bin", "wb") as f:
                for _ in range(1024):  # 1 GiB at most
                    f.write(block)
            """), ACCURACY, "File too large"),
        "kernel_attack_surface": (in_function(ref, ACCURACY_DEF, """
            import ctypes, os, platform
            # what no probe needs and every tier's seccomp filter refuses: each succeeds (a
            # descriptor, a key, a namespace, a session) where nothing refuses it
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            allowed = []
            child = os.fork()  # a process group's leader may never make a session: a child may
            if child == 0:
                os._exit(0 if libc.setsid() >= 0 else 1)
            if os.waitpid(child, 0)[1] == 0:
                allowed.append("setsid")
            if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER: root with every capability inside
                allowed.append("unshare")
            if platform.machine() == "x86_64":
                params = ctypes.create_string_buffer(120)
                if libc.syscall(425, 4, params) >= 0:
                    allowed.append("io_uring_setup")
                if libc.syscall(323, 0) >= 0:
                    allowed.append("userfaultfd")
                if libc.syscall(248, b"user", b"left-behind", b"v", 1, -3) >= 0:  # session keyring
                    allowed.append("add_key")
            raise RuntimeError(f"kernel calls allowed: {allowed}")
            """), ACCURACY, "kernel calls allowed: []"),
        # --- the submission's quota (the fixture's config: ctx["quota"]) ------------------------
        # Each is bounded (a few hundred MiB, 50,000 files) so the machine survives a broken limit.
        "disk_fill_many_files": (in_function(ref, ACCURACY_DEF, """
            block = b"x" * (1 << 20)
            for i in range(40):  # 40 files of 8 MiB, each under the per-file limit
                with open(f"fill{i}.bin", "wb") as f:
                    for _ in range(8):
                        f.write(block)
            raise RuntimeError("wrote all 320 MiB")
            """), ACCURACY, f"wrote more than {ctx['quota']['max_written_mb']} MiB"),
        "disk_fill_preallocated": (in_function(ref, ACCURACY_DEF, """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            for i in range(40):  # 40 x 8 MiB claimed without writing, where fallocate is allowed
                fd = os.open(f"claim{i}.bin", os.O_WRONLY | os.O_CREAT, 0o600)
                if libc.fallocate(fd, 0, ctypes.c_long(0), ctypes.c_long(8 << 20)) != 0:
                    os.posix_fallocate(fd, 0, 8 << 20)  # refused: the C library writes instead
                os.close(fd)
            raise RuntimeError("claimed all 320 MiB")
            """), ACCURACY, f"wrote more than {ctx['quota']['max_written_mb']} MiB"),
        "disk_fill_deleted_but_open": (in_function(ref, ACCURACY_DEF, """
            import os
            block, held = b"x" * (1 << 20), []
            for i in range(40):  # invisible to a walk of the folder: only /proc shows them
                f = open(f"gone{i}.bin", "wb")
                os.unlink(f"gone{i}.bin")
                for _ in range(8):
                    f.write(block)
                f.flush()
                held.append(f)
            raise RuntimeError("holds 320 MiB of deleted files")
            """), ACCURACY, f"wrote more than {ctx['quota']['max_written_mb']} MiB"),
        "inode_flood": (in_function(ref, ACCURACY_DEF, """
            import os
            os.makedirs("flood", exist_ok=True)
            for i in range(50_000):
                open(f"flood/{i}", "w").close()
            raise RuntimeError("made all 50000 files")
            """), ACCURACY, f"more than {ctx['quota']['max_files']} files"),
        "tmp_fill": (in_function(ref, ACCURACY_DEF, """
            import os, tempfile
            block = b"x" * (1 << 20)
            try:
                for i in range(40):  # the bwrap tier's /tmp is a sized tmpfs (RAM); elsewhere disk
                    with open(os.path.join(tempfile.gettempdir(), f"fill{i}.bin"), "wb") as f:
                        for _ in range(8):
                            f.write(block)
            except OSError as exc:
                raise RuntimeError(f"tmp refused: {exc}")
            raise RuntimeError("wrote 320 MiB to tmp")
            """), ACCURACY, ("No space left on device", f"wrote more than {ctx['quota']['max_written_mb']} MiB")),
        "flood_with_the_harness_stopped": (in_function(ref, TRAINER_DEF, """
            import os, signal, time
            os.kill(os.getppid(), signal.SIGSTOP)  # the harness can no longer watch: the grader must
            block = b"x" * (1 << 20)
            for i in range(256):  # 2 GiB at most: far past any bound the test allows
                with open(f"unwatched{i}.bin", "wb") as f:
                    for _ in range(8):
                        f.write(block)
            time.sleep(60)
            """), TRAINER | ACCURACY, f"wrote more than {2 * ctx['quota']['max_written_mb']} MiB"),
        "parse_bomb": (in_function(ref, TRAINER_DEF, """
            import os
            # 2 million empty lists in 6 MB, within every cap (four probes' worth stay inside the
            # test's 64 MiB quota): json.loads would build them all (about 150 MB) in the grader.
            # tests/test_quota.py measures the grader's peak on a larger one.
            name = next(n for n in ("replay_classification", "replay_regression", "fit_gaussians", "fit_digits")
                        if not os.path.exists(f"out/{n}.json"))
            with open(f"out/{name}.json", "w") as f:
                f.write('{"status": "ok", "data": {"x": [' + "[]," * 2_000_000 + '[]]}}')
            os._exit(0)
            """), TRAINER, "more than 200,000 values"),
        # --- garbage outputs ------------------------------------------------------------------
        "inf_outputs": (ref.replace(FORWARD_RETURN, "        return self.layers[-1](x) + float('inf')"),
                        FORWARD | FITS | {"test_unknown_activation_raises_valueerror"}, "NaN or infinite"),
        "float64_outputs": (ref.replace(FORWARD_RETURN, "        return self.layers[-1](x).double()"),
                            FORWARD, "dtype torch.float64"),
        "enormous_output": (ref.replace(FORWARD_RETURN, "        return torch.zeros(40_000_000) if self.layers[0].in_features == 5 else self.layers[-1](x)"),
                            FORWARD, "Error while serializing"),  # over the file-size limit
    }
