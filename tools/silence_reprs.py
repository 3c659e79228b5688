"""Find (and with ``--fix`` silence) stray reprs in chapters: a code cell that ends with a
plotting call whose return value Jupyter would print (``<matplotlib.legend.Legend at 0x...>``,
``Text(0.5, 1.0, '...')``, ``(0.0, 1.0, 0.0, 1.0)``).

The fix appends ``;`` to the cell's last statement, which hides the value and leaves the
chapter's calibration record fresh (``claims.code_digest`` hashes the syntax tree, in which a
trailing ``;`` does not appear).

    python tools/silence_reprs.py notebooks/01_information/04_gdt.py [...]        # list
    python tools/silence_reprs.py --fix notebooks/01_information/04_gdt.py [...]  # fix
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

#: Methods and functions whose return value is a matplotlib object or a tuple nobody reads.
PLOTTING = {
    "legend", "set_title", "set_xlabel", "set_ylabel", "text", "annotate", "axis", "set",
    "plot", "scatter", "bar", "barh", "imshow", "matshow", "colorbar", "fill_between", "hist",
    "axhline", "axvline", "axhspan", "axvspan", "set_xticks", "set_yticks", "set_xticklabels",
    "set_yticklabels", "suptitle", "set_xlim", "set_ylim", "errorbar", "contour", "contourf",
    "pcolormesh", "add_patch", "arrow", "step", "stem", "boxplot", "violinplot", "twinx",
    "set_aspect", "add_artist", "semilogy", "semilogx", "loglog",
    # reptutor.plot helpers return the axes
    "measured_vs_theory", "reference_line", "history", "embedding", "heatmap",
}


def _called_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Attribute):
            return f.attr
        if isinstance(f, ast.Name):
            return f.id
    return None


def stray_cells(path: Path) -> list[tuple[int, str, int, int]]:
    """(cell index, its source, end line in the cell, end column in characters) of each cell
    to silence."""
    import jupytext

    nb = jupytext.read(path)
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        if not tree.body or not isinstance(tree.body[-1], ast.Expr):
            continue
        last = tree.body[-1]
        line = cell.source.split("\n")[last.end_lineno - 1]
        col = len(line.encode("utf-8")[: last.end_col_offset].decode("utf-8"))  # bytes -> chars
        if line[col:].lstrip().startswith(";"):
            continue
        if _called_name(last.value) in PLOTTING:
            out.append((i, cell.source, last.end_lineno, col))
    return out


def fix(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    cells = stray_cells(path)
    for _, source, line, col in cells:
        lines = source.split("\n")
        lines[line - 1] = lines[line - 1][:col] + ";" + lines[line - 1][col:]
        new = "\n".join(lines)
        if text.count(source) != 1:
            raise ValueError(f"{path}: cannot locate a cell's source uniquely:\n{source[:200]}")
        text = text.replace(source, new)
    path.write_text(text, encoding="utf-8")
    return len(cells)


def main(argv: list[str]) -> int:
    do_fix = "--fix" in argv
    paths = [Path(a) for a in argv if a != "--fix"]
    found = 0
    for path in paths:
        if do_fix:
            n = fix(path)
            print(f"{path}: silenced {n} cell(s)")
        else:
            for i, source, line, _ in stray_cells(path):
                found += 1
                print(f"{path}: cell {i}: {source.split(chr(10))[line - 1].strip()}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
