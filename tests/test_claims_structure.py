"""Every chapter's claims are typed, have their nulls, and are calibrated on seeds 0-9.

Read from the chapters' code cells (``ast``, nothing is executed) and from the committed
calibration records ``reptutor/calibration/<paper>.json`` written by
``python tools/run_chapter.py <chapter>.py --calibrate``:

* every ``claims.check`` call passes ``kind=`` (a literal of :data:`reptutor.claims.KINDS`);
* a reproduction or observation passes ``null=`` (with ``null_name=``) or ``no_null=``;
* every ``claims.not_reproduced`` call passes ``measured``, ``expected``, ``statement``, ``why``;
* the chapter quotes its calibration through ``claims.glue_calibration`` and its prose types no
  seed ranges;
* each paper of the chapter has a record made from the chapter's current code cells, listing
  exactly the chapter's claims, in which every claim held on all ten seeds with a non-negative
  margin and every null failed on all ten.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import jupytext
import pytest

from reptutor import claims

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*/*.py"))
STALE = "run `python tools/run_chapter.py {src} --calibrate` and commit reptutor/calibration/"


def _calls(src: Path) -> list[tuple[str, ast.Call]]:
    """(function name, call node) of every claims.check / claims.not_reproduced call."""
    nb = jupytext.read(src)
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        # IPython magics and shell escapes are not Python: blank them before parsing
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                         for line in cell.source.splitlines())
        for node in ast.walk(ast.parse(code)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("check", "not_reproduced")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "claims"):
                out.append((node.func.attr, node))
    return out


def _kw(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg}


def _claim_id(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_every_claim_has_a_kind_and_its_null(src: Path):
    problems = []
    for fn, call in _calls(src):
        cid = _claim_id(call) or f"line {call.lineno}"
        kw = _kw(call)
        if fn == "not_reproduced":
            missing = {"measured", "expected", "statement", "why"} - set(kw)
            if missing:
                problems.append(f"{cid}: not_reproduced needs {sorted(missing)}")
            continue
        kind = kw.get("kind")
        if not (isinstance(kind, ast.Constant) and kind.value in claims.KINDS):
            problems.append(f"{cid}: kind= must be one of {claims.KINDS} written as a literal")
            continue
        if kind.value in ("reproduction", "observation") and not ({"null", "no_null"} & set(kw)):
            problems.append(f"{cid}: a {kind.value} needs null= (untrained model, raw input, "
                            "shuffled labels...) or no_null='why no trained model is involved'")
        if "null" in kw and "null_name" not in kw:
            problems.append(f"{cid}: null= needs null_name=")
    assert not problems, f"{src.name}:\n  " + "\n  ".join(problems)


def _ids(src: Path) -> dict[str, str]:
    """claim id -> "check" or "not_reproduced" for the literal ids of the chapter."""
    return {cid: fn for fn, call in _calls(src) if (cid := _claim_id(call))}


# "seeds 0-4: 3.64-3.93", "seed 0 gives 0.907": measured numbers typed into prose
TYPED_RANGE = re.compile(r"seeds?\s*\d+\s*(?:[-–]|to)\s*\d+\W{0,3}\s*[:=]?\s*-?\d+\.\d+\s*(?:[-–]|to)\s*-?\d+\.\d+")


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_prose_quotes_the_calibration_instead_of_typing_it(src: Path):
    nb = jupytext.read(src)
    text = src.read_text(encoding="utf-8")
    assert "claims.glue_calibration(" in text, (
        f"{src.name}: quote the calibrated ranges with claims.glue_calibration(...) and "
        "{glue:text}`<id>.seeds-0-4`")
    typed = [m.group(0) for c in nb.cells if c.cell_type == "markdown"
             for m in TYPED_RANGE.finditer(c.source)]
    assert not typed, f"{src.name}: typed seed ranges in the prose (glue them instead): {typed}"


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_calibration_record_is_present_fresh_and_holds_on_ten_seeds(src: Path):
    rel = src.relative_to(ROOT)
    papers = jupytext.read(src).metadata.get("reptutor", {}).get("papers", [])
    ids = _ids(src)
    digest = claims.code_digest(src)
    seen: set[str] = set()
    for paper in papers:
        mine = {cid for cid in ids if cid.startswith(paper + ".")}
        if not mine:
            continue
        path = claims.calibration_path(paper)
        assert path.exists(), f"{rel}: no calibration record {path.name}; " + STALE.format(src=rel)
        rec = json.loads(path.read_text(encoding="utf-8"))
        assert rec["chapter"] == str(rel), f"{path.name} was made from {rec['chapter']}, not {rel}"
        assert rec["code_sha256"] == digest, (
            f"{path.name} is older than the code of {rel} (its code cells changed since the "
            "calibration); " + STALE.format(src=rel))
        assert rec["seeds"] == {"calibration": list(claims.CALIBRATION_SEEDS),
                                "confirmation": list(claims.CONFIRMATION_SEEDS)}
        assert set(rec["claims"]) == mine, (
            f"{path.name} lists {sorted(rec['claims'])}, the chapter checks {sorted(mine)}; "
            + STALE.format(src=rel))
        for cid, c in rec["claims"].items():
            assert set(c["measured"]) == {str(s) for s in range(10)}, f"{cid}: not ten seeds"
            if ids[cid] == "not_reproduced":
                assert c["status"] == "not reproduced", f"{cid}: recorded as {c['status']}"
                continue
            assert c["status"] == "claim" and c["failed_seeds"] == [], (
                f"{cid} failed on seeds {c['failed_seeds']}")
            assert c["margin_calibration"] >= 0 and c["margin_confirmation"] >= 0, (
                f"{cid}: negative margin {c['margin_calibration']}, {c['margin_confirmation']}")
            if c.get("null"):
                assert set(c["null"]) == {str(s) for s in range(10)}, f"{cid}: null not on ten seeds"
                assert c["null_margin"] < 0, (
                    f"{cid}: the null ({c['null_name']}) satisfied the bound on some seed "
                    f"(largest null margin {c['null_margin']:.3g}): the claim is vacuous there")
        seen |= mine
    assert seen == set(ids), f"{rel}: claims of no listed paper: {sorted(set(ids) - seen)}"
