# Two commands on a fresh machine: `make demo` (release + grade the bundled examples) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: setup bwrap demo test student-kit release bench bench-venv bench-batch clean

setup: bwrap $(VENV)/.installed

# The sandbox needs bubblewrap. As root (CI, containers) install it; otherwise say how.
bwrap:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap; \
	  else echo "bubblewrap is missing: sudo apt-get install bubblewrap (or grade with --sandbox none)"; exit 1; fi; }

# Exact versions come from constraints.txt; torch/torchvision are taken from the local wheel cache.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[notebooks,dask,otter,dev]'
	touch $@

release: setup
	$(PY) -m autograder release

demo: release
	$(PY) -m autograder grade-batch examples/03_network --assignment 03_network --out out/demo

# Two pytest workers (pytest-xdist), each file's tests on one of them so that its module fixtures
# (a graded class, the attacks of a tier) are built once: most tests wait on one grader process at a
# time, so two workers keep both cores busy. tests/conftest.py gives the files that measure the whole
# machine (EXCLUSIVE_FILES) the machine to themselves, and orders the files so that they wait for
# nothing long. TEST_WORKERS=0 runs them all in this process.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=30

# The student's first install, as the exported kit's README says, in a fresh venv, and every
# notebook run in it (a few minutes; `make test` runs a fast subset of tests/test_student_kit.py).
student-kit: setup
	AUTOGRADER_STUDENT_KIT=1 $(PY) -m pytest -q -s tests/test_student_kit.py

bench: setup
	$(PY) benchmarks/grade_one.py

# The anchors the batch benchmark compares against; not dependencies of the kit.
bench-venv: .bench-venv/.installed
.bench-venv/.installed:
	$(PYTHON) -m venv .bench-venv
	.bench-venv/bin/pip install -q otter-grader==7.0.0 ipykernel
	touch $@

bench-batch: setup bench-venv
	$(PY) benchmarks/batch_overhead.py

clean:
	rm -rf out
