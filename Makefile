# relforge: two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The CPU build of torch, pinned here (a plain `torch` requirement would pull a multi-GB CUDA build).
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test,ray,text,baselines
STAMP := $(VENV)/.relforge-installed
DEMO_OUT ?= demo_out

.PHONY: all install demo test test-slow bench clean default-model prior-model

all: test

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m relforge.demo --out $(DEMO_OUT)

# The data-backed tests read $RELFORGE_DATA, else ../shared/data next to the repository; without it
# they skip, and the summary says how many ran. PYTEST_ARGS adds flags: .ci/run passes
# --require-data --require-browser, which turn those skips into failures.
PYTEST_ARGS ?=
test: $(STAMP)
	$(PY) -m pytest -m "not slow and not gpu" $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m "slow"

# The packaged zero-shot model: tiny RT pretrained on synthetic databases only, exactly the prior
# benchmark's relforge-default run, seed 0 (v1 generator, 16 databases, 24 M tokens, no extra masks,
# number targets predicted from their column's visible mean in the context, --copy-skip; MiniLM
# embedder; ~10 min on 2 CPU cores; docs/results.md "Prior benchmark", "Session 17").
default-model: $(STAMP)
	$(PY) -m relforge.experiments.prior --contender relforge-default --seed 0 --tokens 24000000 --copy-skip \
		--out src/relforge/assets/default_model.safetensors --work out/default_model

# The new prior's model (issue 14): one prior-benchmark run of relforge-new-shuffled-nomask, seed 0,
# as a predict-ready checkpoint (not packaged: see docs/results.md "Session 8").
prior-model: $(STAMP)
	$(PY) -m relforge.experiments.prior --out out/prior_model.safetensors --work out/prior_model

# Benchmarks against the anchors (plurel 1.1.0, relational-transformer 1.10.0; ../shared/anchors).
# Each prepares its own inputs (the anchor venv, plurel databases in the bench cache) and prints
# one JSON summary as its last line; docs/benchmarks.md says what each ratio compares.
bench: $(STAMP)
	$(PY) bench/generate.py
	$(PY) bench/model.py
	$(PY) bench/sampler.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache build dist src/*.egg-info
