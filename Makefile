# Two entry points (see README): `make book` and `make test`. Both create the environment
# they need in .venv from the pinned requirements/lock.txt on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.reptutor-installed
JOBS   ?= 2
# One torch/OpenMP thread per process; parallelism comes from processes (see DESIGN.md 4).
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: book test env lock seeds bench clean

env: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	@echo "Creating the environment in $(VENV) from requirements/lock.txt (first run only; about 2 minutes)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)
	@echo "Environment ready."

## Build the rendered book into _build/html, executing every chapter (cached between builds).
book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python tools/check_book.py _build/html
	@echo "Open _build/html/index.html"

## Benchmarks against the installable peers (optional, ~30 min on 2 cores): CSVs and env.json
## into book/appendix/benchmarks, which the book's Benchmarks page draws.
BENCH_PEERS := pytorch-metric-learning==2.9.0 pot==0.9.7.post1 lightly==1.6.0 \
	disentanglement-lib==1.5 gin-config==0.4.0 absl-py==2.5.1 six==1.17.0
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(BENCH_PEERS)
	$(BIN)/python tools/bench.py all --out book/appendix/benchmarks

## Run every test: unit tests, doctests, structure checks, every chapter through nbval.
test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile -q

## Run every chapter under seeds 0..4 and print its time and claim values.
seeds: $(STAMP)
	$(BIN)/python tools/run_chapter.py --all --seeds 0 1 2 3 4 --jobs $(JOBS)

## Re-resolve requirements/lock.txt from requirements/base.txt.
lock:
	rm -rf /tmp/reptutor-lock && $(PYTHON) -m venv /tmp/reptutor-lock
	/tmp/reptutor-lock/bin/pip install --quiet -r requirements/base.txt
	{ head -n 3 requirements/lock.txt; /tmp/reptutor-lock/bin/pip freeze | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements/lock.new
	mv requirements/lock.new requirements/lock.txt

clean:
	rm -rf _build
