"""Print the validation matrix as a markdown table: public functions x bad-input kinds.

    python tools/validation_table.py            # markdown table on stdout
    python tools/validation_table.py --reasons  # also list every n/a cell with its reason

Counts come from the parametrized ids that ``pytest --collect-only -q`` reports for
``tests/test_validation_matrix.py::test_cell`` (ids ``<qualified.name>-<kind>[:<arg>]``), so a
cell counts only if pytest would run it. The n/a cells and their reasons come from the test
module's registry: ``n/a`` is a kind that the callable's signature exposes but that does not
apply (the reason is written in the registry); ``.`` is a kind the signature does not expose
(no labels argument, a single tensor, no string option...).
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_FILE = ROOT / "tests" / "test_validation_matrix.py"
ID = re.compile(r"::test_cell\[reptutor\.(?P<fn>[\w.]+)-(?P<kind>[a-z-]+?)(?::[^\]]*)?\]$")


def collected_counts() -> Counter[tuple[str, str]]:
    """(function, kind) -> number of collected test_cell tests."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         str(TEST_FILE.relative_to(ROOT))],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"pytest --collect-only failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    counts: Counter[tuple[str, str]] = Counter()
    for line in out.stdout.splitlines():
        m = ID.search(line.strip())
        if m:
            counts[(m["fn"], m["kind"])] += 1
    return counts


def load_registry():  # noqa: ANN201 - the test module, imported by path
    spec = importlib.util.spec_from_file_location("_validation_matrix", TEST_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def table(counts: Counter[tuple[str, str]], module) -> tuple[str, list[str]]:  # noqa: ANN001
    kinds = list(module.KINDS)
    header = "| function | " + " | ".join(kinds) + " | total |"
    rule = "|" + "---|" * (len(kinds) + 2)
    rows, reasons = [header, rule], []
    col_totals = Counter()
    na_total = 0
    for entry in module.REGISTRY:
        applicable = module.applicable_kinds(entry.obj)
        cells, total = [], 0
        for kind in kinds:
            n = counts.get((entry.name, kind), 0)
            if n:
                cells.append(str(n))
                total += n
                col_totals[kind] += n
            elif kind in entry.na:
                cells.append("n/a")
                na_total += 1
                reasons.append(f"- `{entry.name}` / {kind}: {entry.na[kind]}")
            elif kind in applicable:
                cells.append("**0**")  # the meta-test fails on this: should never be printed
            else:
                cells.append(".")
        rows.append(f"| `{entry.name}` | " + " | ".join(cells) + f" | {total} |")
    grand = sum(col_totals.values())
    rows.append("| **total** | " + " | ".join(str(col_totals[k]) for k in kinds) + f" | {grand} |")
    summary = (f"\n{len(module.REGISTRY)} public callables, {grand} bad-input tests, "
               f"{na_total} n/a cells with a written reason; `.` = kind not exposed by the "
               "signature.")
    return "\n".join(rows) + summary, reasons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reasons", action="store_true", help="list the n/a cells' reasons")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))  # the harness imports its helpers as pytest does
    module = load_registry()
    text, reasons = table(collected_counts(), module)
    print(text)
    if args.reasons:
        print("\nNot applicable:\n" + "\n".join(reasons))


if __name__ == "__main__":
    main()
