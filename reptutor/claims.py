r"""The book's asserted claims.

A chapter states what a paper claims and then *measures* it. :func:`check` turns the
measurement into an assertion: it raises :class:`AssertionError` quoting the paper's statement,
the measured value and the bound when the claim fails, and records every check so that the
claims appendix can list them with their latest values.

**Kinds.** Every check says what it is (``kind=``):

* ``"reproduction"``: a result the paper reports (its table, figure or headline), measured here;
* ``"theorem"``: a stated mathematical result, checked numerically on finite samples or on
  trained models (it can fail through finite-sample error, optimisation, or a bug);
* ``"observation"``: our own finding, not the paper's.

Something that holds for *any* correct implementation whatever the data (an identity, a solver's
stopping rule, a mask invariant) is not a claim: it is a unit test and lives in ``tests/``.

**Nulls.** A reproduction or observation that measures a trained model also measures the same
quantity on an honest control (an untrained encoder, the raw input, shuffled labels, a random
projection): ``null=value, null_name="untrained encoder"``. The null must *fail* the bound,
otherwise the claim says nothing about training and :func:`check` raises. A reproduction or
observation that involves no trained model says why with ``no_null="..."``.

**Not reproduced.** :func:`not_reproduced` records a paper claim that was measured and does not
hold at this scale, with its measured value and why: the registry shows failures as well as
passes.

**Calibration.** Thresholds are chosen on seeds 0-4 and confirmed on seeds 5-9
(``python tools/run_chapter.py CHAPTER --calibrate``). The committed record
(``reptutor/calibration/<paper>.json``, shipped with the package so that Colab has it) gives each
claim's range and margin; the chapter's prose quotes it through :func:`glue_calibration`, never by
typing numbers.

Semantics of the bound (exactly one form per call):

* ``expected=e, tol=t``: passes iff :math:`|m - e| \le t`.
* ``lower=a`` and/or ``upper=b``, optional ``tol=t``: passes iff
  :math:`a - t \le m \le b + t` (``tol`` is slack for round-off, default 0).

The **margin** of a value is its distance inside the bound (:math:`t - |m - e|`, or the smaller
of :math:`m - (a - t)` and :math:`(b + t) - m`): non-negative iff the value passes.

Records are kept in memory for the running process (:func:`records`, :func:`summary`) and, when
the environment variable ``REPTUTOR_CLAIMS_LOG`` names a file, appended to it as JSON lines
(the book build and the calibration tool set it; nothing is written otherwise).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reptutor import _checks, runtime

__all__ = [
    "check",
    "not_reproduced",
    "glue_calibration",
    "calibration",
    "Calibration",
    "ClaimRecord",
    "records",
    "summary",
    "margin",
    "code_digest",
    "CLAIM_ID",
    "KINDS",
    "CALIBRATION_DIR",
    "CALIBRATION_SEEDS",
    "CONFIRMATION_SEEDS",
]

#: Claim ids start with the paper id used in the book's map, e.g. ``P07.infonce-ceiling``.
CLAIM_ID = re.compile(r"^P\d{2}\.[a-z0-9][a-z0-9-]*$")
#: The three kinds of claim (see the module docstring).
KINDS = ("reproduction", "theorem", "observation")
#: Where the committed calibration records live (one JSON file per paper id).
CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"
#: Seeds on which thresholds are chosen, and the held-out seeds on which they are confirmed.
CALIBRATION_SEEDS = (0, 1, 2, 3, 4)
CONFIRMATION_SEEDS = (5, 6, 7, 8, 9)

_RECORDS: list[ClaimRecord] = []


@dataclass(frozen=True)
class ClaimRecord:
    """One executed claim check (or one not-reproduced record)."""

    claim_id: str
    paper: str
    chapter: str
    kind: str
    status: str  # "passed", "failed" or "not reproduced"
    statement: str
    measured: float
    expected: float | None
    lower: float | None
    upper: float | None
    tol: float
    passed: bool
    null: float | None
    null_name: str | None
    no_null: str | None
    expected_text: str | None  # not reproduced: what the paper reports
    why: str | None  # not reproduced: why it does not hold here
    scale: str
    seed: int | None
    time: str
    cpu_s: float = 0.0  # CPU time of this process (the chapter's kernel) when it was recorded

    @property
    def bound(self) -> str:
        """The bound in words, e.g. ``"4.852 ± 0.2"`` or ``"[8.8, 10.1]"``."""
        if self.status == "not reproduced":
            return f"paper: {self.expected_text}"
        return _bound_text(self.expected, self.lower, self.upper, self.tol)


def _bound_text(expected, lower, upper, tol) -> str:
    if expected is not None:
        return f"{expected:.6g} ± {tol:.3g}"
    lo = "-inf" if lower is None else f"{lower:.6g}"
    hi = "+inf" if upper is None else f"{upper:.6g}"
    slack = f" (slack {tol:.3g})" if tol else ""
    return f"[{lo}, {hi}]{slack}"


def margin(value: float, *, expected: float | None = None, lower: float | None = None,
           upper: float | None = None, tol: float = 0.0) -> float:
    r"""Distance of ``value`` inside the bound: non-negative iff the value satisfies it.

    A non-finite value has margin :math:`-\infty`.

    Examples:
        >>> margin(4.8, upper=5.0)
        0.2...
        >>> margin(1.3, expected=1.0, tol=0.2)
        -0.1...
    """
    if not math.isfinite(value):
        return -math.inf
    if expected is not None:
        return tol - abs(value - expected)
    sides = []
    if lower is not None:
        sides.append(value - (lower - tol))
    if upper is not None:
        sides.append((upper + tol) - value)
    return min(sides) if sides else math.inf


def _parse_bound(expected, lower, upper, tol):
    tol = _checks.number("tol", tol, nonnegative=True)
    has_bounds = lower is not None or upper is not None
    if expected is None and not has_bounds:
        raise ValueError("check needs a bound: pass expected= (with tol=) or lower= and/or upper=")
    if expected is not None and has_bounds:
        raise ValueError("pass either expected= or lower=/upper=, not both")
    if expected is not None:
        expected = _checks.number("expected", expected)
    if lower is not None:
        lower = _checks.number("lower", lower)
    if upper is not None:
        upper = _checks.number("upper", upper)
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"lower must be <= upper, got lower={lower} and upper={upper}")
    return expected, lower, upper, tol


def _claim_id(claim_id: str) -> None:
    _checks.string("claim_id", claim_id)
    if not CLAIM_ID.match(claim_id):
        raise ValueError(
            "claim_id must look like 'P07.short-name' (paper id, a dot, lowercase words "
            f"joined by '-'), got {claim_id!r}"
        )


def _kind(kind: Any) -> str:
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(repr(k) for k in KINDS)}, got {kind!r}")
    return kind


def _seed() -> int | None:
    env_seed = os.environ.get("REPTUTOR_SEED")
    return int(env_seed) if env_seed not in (None, "") and env_seed.isdigit() else None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def check(
    claim_id: str,
    measured: Any,
    *,
    kind: str,
    statement: str,
    expected: float | None = None,
    lower: float | None = None,
    upper: float | None = None,
    tol: float = 0.0,
    null: Any = None,
    null_name: str | None = None,
    no_null: str | None = None,
) -> ClaimRecord:
    r"""Assert that a measured quantity satisfies a paper's claim, and that its null does not.

    Args:
        claim_id: ``"Pxx.short-name"``, the paper id from the book's map and a slug.
        measured: the measured value (a Python number, NumPy scalar or one-element tensor).
        kind: ``"reproduction"``, ``"theorem"`` or ``"observation"`` (module docstring).
        statement: the claim in the paper's words (paraphrased), with its conditions; shown
            when the check fails.
        expected: the value the claim predicts; use with ``tol``.
        lower: lower bound of the claim (inclusive).
        upper: upper bound of the claim (inclusive).
        tol: with ``expected``, the allowed absolute deviation; with bounds, slack added to
            both sides (for round-off). Must be >= 0. The chapter says why it chose it.
        null: the same measurement on the honest control; it must *fail* the bound.
        null_name: what the control is (``"untrained encoder"``); required with ``null``.
        no_null: for a reproduction or observation without a trained model, the reason there
            is no null. A reproduction or observation needs exactly one of ``null``/``no_null``.

    Returns:
        The :class:`ClaimRecord` that was recorded.

    Raises:
        AssertionError: when the measurement violates the claim, or when the null satisfies it
            (the claim would say nothing); the message quotes the statement, the values and
            the bound.
        ValueError / TypeError: for a malformed call (bad id or kind, no bound, a null without
            its name, ...).

    Examples:
        >>> import math
        >>> r = check("P07.example", 4.80, kind="theorem", upper=math.log(128),
        ...           statement="I_NCE <= log K")
        >>> r.passed
        True
        >>> check("P07.example", 0.9, kind="observation", lower=0.8, statement="probe >= 0.8",
        ...       null=0.85, null_name="untrained encoder")
        Traceback (most recent call last):
        ...
        AssertionError: P07.example is vacuous: the null (untrained encoder) measures 0.85, ...
    """
    _claim_id(claim_id)
    kind = _kind(kind)
    _checks.string("statement", statement)
    value = _as_float("measured", measured)  # NaN/inf allowed: they fail the claim below
    expected, lower, upper, tol = _parse_bound(expected, lower, upper, tol)
    null_value = _null(null, null_name)
    if no_null is not None:
        _checks.string("no_null", no_null)
        if null is not None:
            raise ValueError("pass either null= (with null_name=) or no_null=, not both")
    if kind in ("reproduction", "observation") and null is None and no_null is None:
        raise ValueError(
            f"a {kind} needs null= (the same measurement on an untrained model, raw input, "
            "shuffled labels...) or no_null='why no trained model is involved'"
        )
    m = margin(value, expected=expected, lower=lower, upper=upper, tol=tol)
    passed = m >= 0
    null_passes = null_value is not None and margin(
        null_value, expected=expected, lower=lower, upper=upper, tol=tol) >= 0
    record = _record(
        claim_id, kind=kind, status="passed" if passed and not null_passes else "failed",
        statement=statement, measured=value, expected=expected, lower=lower, upper=upper,
        tol=tol, passed=bool(passed and not null_passes), null=null_value, null_name=null_name,
        no_null=no_null, expected_text=None, why=None)
    where = (f"(scale={record.scale}, seed={record.seed if record.seed is not None else 'default'})")
    if not passed:
        _fail(f"{claim_id} failed: {statement}\n  measured {value:.6g}, required {record.bound} "
              + where)
    if null_passes:
        _fail(f"{claim_id} is vacuous: the null ({null_name}) measures {null_value:.6g}, which "
              f"also satisfies {record.bound}; the trained value {value:.6g} proves nothing. Make "
              f"the claim stronger (a tighter bound, a harder task) or drop it. " + where)
    return record


def _fail(message: str) -> None:
    # REPTUTOR_CLAIMS_NO_RAISE=1 (tools/run_chapter.py --no-raise only) lets an author see every
    # claim's value in one run while choosing thresholds; tests and the book never set it.
    if os.environ.get("REPTUTOR_CLAIMS_NO_RAISE") == "1":
        print("CLAIM FAILED (not raised): " + message)
        return
    raise AssertionError(message)


def not_reproduced(
    claim_id: str,
    *,
    measured: Any,
    expected: float | str,
    statement: str,
    why: str,
    kind: str = "reproduction",
    null: Any = None,
    null_name: str | None = None,
) -> ClaimRecord:
    r"""Record a paper's claim that was measured here and does not hold at this scale.

    It does not fail the chapter (the book shows it with status "not reproduced"); it fails only
    when the measurement is not a finite number, so the record always carries a real value.

    Args:
        claim_id: ``"Pxx.short-name"``.
        measured: what this chapter measured.
        expected: what the paper reports or predicts (a number or a short text such as
            ``"SCRL > BYOL (+2.1 AP)"``).
        statement: the paper's claim, with its conditions.
        why: why it does not hold here (scale, data, a variant), as far as the chapter knows.
        kind: ``"reproduction"`` (the paper's result, the usual case) or ``"observation"`` (a
            finding the chapter expected of its own and measured not to hold).
        null: optional, the same measurement on a control; with ``null_name``.
        null_name: what the control is.

    Examples:
        >>> r = not_reproduced("P08.example", measured=0.41, expected="> BYOL's 0.45",
        ...                    statement="SCRL beats BYOL on the object-class probe",
        ...                    why="toy scenes have one object class per crop")
        >>> r.status
        'not reproduced'
    """
    _claim_id(claim_id)
    if _kind(kind) == "theorem":
        raise ValueError("kind must be 'reproduction' or 'observation' for a not-reproduced "
                         "record, got 'theorem' (a theorem that fails on data is a bug or a "
                         "violated assumption: say which in the chapter)")
    _checks.string("statement", statement)
    _checks.string("why", why)
    value = _as_float("measured", measured)
    if not math.isfinite(value):
        raise AssertionError(f"{claim_id}: a not-reproduced record needs a finite measurement, "
                             f"got {value}")
    if isinstance(expected, str):
        _checks.string("expected", expected)
        expected_text = expected
    else:
        expected_text = f"{_checks.number('expected', expected):.6g}"
    return _record(
        claim_id, kind=kind, status="not reproduced", statement=statement, measured=value,
        expected=None, lower=None, upper=None, tol=0.0, passed=False,
        null=_null(null, null_name), null_name=null_name, no_null=None,
        expected_text=expected_text, why=why)


def _null(null: Any, null_name: str | None) -> float | None:
    """The control's value (finite, named), or None when there is no null."""
    if null is None:
        if null_name is not None:
            raise ValueError(f"null_name={null_name!r} was given without null=")
        return None
    value = _as_float("null", null)
    if not math.isfinite(value):
        raise ValueError(f"null must be finite (it is a measured control), got {value}")
    if null_name is None:
        raise ValueError("null_name must name the control when null= is given, "
                         "e.g. null_name='untrained encoder'")
    _checks.string("null_name", null_name)
    return value


def _record(claim_id: str, **fields: Any) -> ClaimRecord:
    """Build, keep, log and glue one record (its value, and its null's when there is one)."""
    record = ClaimRecord(
        claim_id=claim_id, paper=claim_id.split(".")[0],
        chapter=os.environ.get("REPTUTOR_CHAPTER", ""), scale=runtime.scale(), seed=_seed(),
        time=_now(), cpu_s=time.process_time(), **fields)
    _RECORDS.append(record)
    _write(record)
    runtime.glue(claim_id, record.measured)
    if record.null is not None:
        runtime.glue(f"{claim_id}.null", record.null)
    return record


def _as_float(name: str, x: Any) -> float:
    if hasattr(x, "numel") and hasattr(x, "item"):
        if x.numel() != 1:
            raise ValueError(f"{name} must be a single number, got a tensor of shape {tuple(x.shape)}")
        x = x.item()
    if hasattr(x, "item") and getattr(x, "shape", None) == ():
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__} {x!r}"[:200])
    return float(x)


def _write(record: ClaimRecord) -> None:
    path = os.environ.get("REPTUTOR_CLAIMS_LOG")
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(record)) + "\n")


def records(prefix: str | None = None) -> list[ClaimRecord]:
    """The checks run so far in this process, optionally only ids starting with ``prefix``."""
    if prefix is not None:
        _checks.string("prefix", prefix)
    return [r for r in _RECORDS if prefix is None or r.claim_id.startswith(prefix)]


def summary(prefix: str | None = None):
    """A :class:`pandas.DataFrame` of :func:`records`: status, claim, kind, measured, null, bound.

    A claim without a null (a theorem, or ``no_null=``) shows ``"-"`` in the null column, not NaN.
    """
    import pandas as pd

    cols = ["status", "claim", "kind", "measured", "null", "bound", "statement"]
    rows = [
        {
            "status": r.status,
            "claim": r.claim_id,
            "kind": r.kind,
            "measured": r.measured,
            "null": "-" if r.null is None else r.null,
            "bound": r.bound,
            "statement": r.statement,
        }
        for r in records(prefix)
    ]
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------------------------
# Calibration records: seeds 0-4 choose the thresholds, seeds 5-9 confirm them.


@dataclass(frozen=True)
class Calibration:
    """One claim's calibration: its values over seeds 0-4 and 5-9, margins and null values.

    ``margin_*`` is the smallest margin over those seeds (non-negative: the claim held on all
    of them); ``null_margin`` the largest margin of the null over all ten seeds (negative: the
    null failed on all of them). For a not-reproduced record the margins are ``None``.
    """

    claim_id: str
    kind: str
    status: str
    values: dict[int, float]
    nulls: dict[int, float] = field(default_factory=dict)
    margin_calibration: float | None = None
    margin_confirmation: float | None = None
    null_margin: float | None = None

    def values_on(self, seeds) -> list[float]:
        """The measured values on ``seeds`` (in that order)."""
        return [self.values[s] for s in seeds]

    @property
    def margin(self) -> float | None:
        """The smallest margin over all ten seeds."""
        if self.margin_calibration is None or self.margin_confirmation is None:
            return None
        return min(self.margin_calibration, self.margin_confirmation)


def calibration_path(paper: str) -> Path:
    """``reptutor/calibration/<paper>.json``."""
    return CALIBRATION_DIR / f"{paper}.json"


def calibration(claim_id: str) -> Calibration:
    """The committed calibration of one claim (see ``tools/run_chapter.py --calibrate``).

    Raises:
        FileNotFoundError: when the chapter has no committed record.
        KeyError: when the record does not have this claim (the record is stale).
    """
    _claim_id(claim_id)
    path = calibration_path(claim_id.split(".")[0])
    if not path.exists():
        raise FileNotFoundError(
            f"no calibration record for {claim_id}: {path} is missing; run "
            "`python tools/run_chapter.py <chapter>.py --calibrate` and commit the record")
    data = json.loads(path.read_text(encoding="utf-8"))
    if claim_id not in data["claims"]:
        raise KeyError(f"the calibration record {path.name} has no claim {claim_id!r}; it is "
                       "older than the chapter: run `tools/run_chapter.py --calibrate` again")
    c = data["claims"][claim_id]
    return Calibration(
        claim_id=claim_id, kind=c["kind"], status=c["status"],
        values={int(k): float(v) for k, v in c["measured"].items()},
        nulls={int(k): float(v) for k, v in (c.get("null") or {}).items()},
        margin_calibration=c.get("margin_calibration"),
        margin_confirmation=c.get("margin_confirmation"),
        null_margin=c.get("null_margin"),
    )


def _range_text(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}–{hi:{fmt}}"


def glue_calibration(claim_id: str, fmt: str = ".3g") -> Calibration | None:
    r"""Glue a claim's calibrated ranges into the chapter's prose, from the committed record.

    Glues the texts ``<id>.seeds-0-4`` and ``<id>.seeds-5-9`` (``"lo–hi"`` of the measured
    values), ``<id>.null-range`` (the null's range over the ten seeds, when there is a null) and
    the number ``<id>.margin`` (the smallest margin over the ten seeds). Use them in the text
    as ``{glue:text}`P07.trained-gap.seeds-0-4```.

    While ``tools/run_chapter.py --calibrate`` runs the chapter (``REPTUTOR_CALIBRATING=1``) the
    record is being made: placeholders are glued and ``None`` is returned.
    """
    _claim_id(claim_id)
    try:
        format(1.0, fmt)
    except (TypeError, ValueError):
        raise ValueError(f"fmt must be a format spec for numbers such as '.3g', got {fmt!r}") from None
    if os.environ.get("REPTUTOR_CALIBRATING") == "1":
        for key in ("seeds-0-4", "seeds-5-9", "null-range"):
            runtime.glue(f"{claim_id}.{key}", "(calibrating)")
        runtime.glue(f"{claim_id}.margin", math.nan)
        return None
    cal = calibration(claim_id)
    runtime.glue(f"{claim_id}.seeds-0-4", _range_text(cal.values_on(CALIBRATION_SEEDS), fmt))
    runtime.glue(f"{claim_id}.seeds-5-9", _range_text(cal.values_on(CONFIRMATION_SEEDS), fmt))
    if cal.nulls:
        runtime.glue(f"{claim_id}.null-range", _range_text(list(cal.nulls.values()), fmt))
    if cal.margin is not None:
        runtime.glue(f"{claim_id}.margin", cal.margin)
    return cal


def code_digest(path: str | os.PathLike) -> str:
    """SHA-256 of what a chapter's code cells compute (what its calibration record was made from).

    Each code cell is reduced to its Python syntax tree (``ast.dump``), so prose edits, comments,
    formatting and a trailing ``;`` that silences a repr leave the digest unchanged, while any
    change to what the code does makes the record stale. Cells tagged ``install`` (the Colab
    set-up cell, which installs the package and computes nothing) and cells tagged ``solution``
    (the exercises' solutions, which come after the chapter's last claim and check none) are left
    out. A cell that is not plain Python (an IPython magic) enters as its stripped text.
    """
    import ast

    import jupytext

    nb = jupytext.read(str(path))
    parts = []
    for c in nb.cells:
        tags = c.get("metadata", {}).get("tags", [])
        if c.cell_type != "code" or "install" in tags or "solution" in tags:
            continue
        try:
            parts.append(ast.dump(ast.parse(c.source)))
        except SyntaxError:
            parts.append(c.source.strip())
    code = "\n\x1e\n".join(parts)
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def build_calibration(chapter: str, code_sha256: str, runs: dict[int, list[dict]],
                      scale: str = "ci") -> dict[str, dict]:
    """Calibration records (one per paper) from ten runs' claim logs: ``{paper: record}``.

    ``runs`` maps each seed of 0-9 to the JSON records its run logged. Used by
    ``tools/run_chapter.py --calibrate``.
    """
    seeds = set(CALIBRATION_SEEDS) | set(CONFIRMATION_SEEDS)
    if set(runs) != seeds:
        raise ValueError(f"runs must cover seeds 0-9 exactly, got {sorted(runs)}")
    ids = [r["claim_id"] for r in runs[0]]
    for s, recs in runs.items():
        if [r["claim_id"] for r in recs] != ids:
            raise ValueError(f"seed {s} checked other claims than seed 0: "
                             f"{[r['claim_id'] for r in recs]} vs {ids}")
    out: dict[str, dict] = {}
    for i, cid in enumerate(ids):
        first = runs[0][i]
        bound = dict(expected=first["expected"], lower=first["lower"], upper=first["upper"],
                     tol=first["tol"])
        values = {s: runs[s][i]["measured"] for s in sorted(seeds)}
        nulls = {s: runs[s][i]["null"] for s in sorted(seeds) if runs[s][i]["null"] is not None}
        entry = {
            "kind": first["kind"], "status": first["status"] if first["status"] ==
            "not reproduced" else "claim", "statement": first["statement"],
            **bound, "null_name": first["null_name"], "no_null": first["no_null"],
            "expected_text": first["expected_text"], "why": first["why"],
            "measured": {str(s): v for s, v in values.items()},
            "null": {str(s): v for s, v in nulls.items()} or None,
        }
        if entry["status"] == "claim":
            # each seed's margin against that seed's own bound (a bound may be a closed form of
            # the seed's sample, e.g. log K or the sample's true MI)
            def bound_of(s):
                b = runs[s][i]
                return dict(expected=b["expected"], lower=b["lower"], upper=b["upper"],
                            tol=b["tol"])
            m = {s: margin(v, **bound_of(s)) for s, v in values.items()}
            entry["margin_calibration"] = min(m[s] for s in CALIBRATION_SEEDS)
            entry["margin_confirmation"] = min(m[s] for s in CONFIRMATION_SEEDS)
            entry["failed_seeds"] = sorted(s for s in seeds if m[s] < 0 or
                                           runs[s][i]["status"] != "passed")
            entry["null_margin"] = (max(margin(v, **bound_of(s)) for s, v in nulls.items())
                                    if nulls else None)
        paper = cid.split(".")[0]
        rec = out.setdefault(paper, {
            "paper": paper, "chapter": chapter, "scale": scale, "code_sha256": code_sha256,
            "seeds": {"calibration": list(CALIBRATION_SEEDS),
                      "confirmation": list(CONFIRMATION_SEEDS)},
            "claims": {},
        })
        rec["claims"][cid] = entry
    return out
