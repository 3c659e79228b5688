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

.PHONY: book student test twins env chromium lock seeds bench clean

env: $(STAMP) chromium

$(STAMP): requirements/lock.txt pyproject.toml
	@echo "Creating the environment in $(VENV) from requirements/lock.txt (first run only; about 2 minutes)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)
	@echo "Environment ready."

## Build the rendered book into _build/html, executing every chapter (cached between builds).
book: $(STAMP)
	$(BIN)/python tools/book_cache.py _build/.jupyter_cache
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python tools/check_book.py _build/html
	$(BIN)/python tools/make_student.py
	@echo "Open _build/html/index.html (the student edition: _build/student/_build/html/index.html)"

## The student edition (run by `make book` too): notebooks whose solutions are removed and whose
## code exercises are stubs raising NotImplementedError with a hint (_build/student/notebooks),
## and the book without solutions (_build/student/_build/html), drawn from the outputs that
## `make book` executed and cached (chapters run only if the book has not been built).
student: $(STAMP)
	$(BIN)/python tools/make_student.py

## Benchmarks against the installable peers (optional, ~30 min on 2 cores): CSVs and env.json
## into book/appendix/benchmarks, which the book's Benchmarks page draws.
BENCH_PEERS := pytorch-metric-learning==2.9.0 pot==0.9.7.post1 lightly==1.6.0 \
	disentanglement-lib==1.5 gin-config==0.4.0 absl-py==2.5.1 six==1.17.0
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(BENCH_PEERS)
	$(BIN)/python tools/bench.py all --out book/appendix/benchmarks

## Run every test: unit tests, doctests, structure checks, every chapter through nbval.
test: $(STAMP) chromium
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile -q

## Regenerate the Colab notebooks (each chapter's .ipynb twin) from the .py sources, one-way:
## MyST turned into plain Markdown, Colab GPU metadata. `--check` (CI) lists stale twins.
twins: $(STAMP)
	$(BIN)/python tools/make_twins.py

## Debian's Chromium for the browser test (tests/test_browser.py): installed when /usr/bin/chromium
## is missing and this runs as root with apt-get; otherwise the test skips and says why.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for the browser test (first run only)..."; \
	  apt-get install -y -qq chromium >/dev/null 2>&1 \
	    || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	    || echo "WARNING: could not install chromium; tests/test_browser.py will skip"; \
	fi

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
