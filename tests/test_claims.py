"""reptutor.claims.check: semantics of bounds, failure messages, records, the log file."""
import json
import math

import numpy as np
import pytest
import torch

from reptutor import claims

import _validation as V


def test_expected_with_tolerance_passes_and_fails_at_the_edge():
    assert claims.check("P01.edge", 1.05, expected=1.0, tol=0.05 + 1e-12, kind="theorem", statement="s").passed
    with pytest.raises(AssertionError, match=r"P01.edge failed: s\n  measured 1.06, required 1 ± 0.05"):
        claims.check("P01.edge", 1.06, expected=1.0, tol=0.05, kind="theorem", statement="s")


def test_bounds_are_inclusive_and_tol_is_slack():
    assert claims.check("P01.lo", 2.0, lower=2.0, kind="theorem", statement="s").passed
    assert claims.check("P01.hi", 2.0, upper=2.0, kind="theorem", statement="s").passed
    assert claims.check("P01.slack", 2.0 + 1e-7, upper=2.0, tol=1e-6, kind="theorem", statement="s").passed
    with pytest.raises(AssertionError, match=r"required \[3, 4\]"):
        claims.check("P01.band", 2.0, lower=3.0, upper=4.0, kind="theorem", statement="s")
    with pytest.raises(AssertionError, match=r"required \[-inf, 1\]"):
        claims.check("P01.hi", 2.0, upper=1.0, kind="theorem", statement="s")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_measurements_fail_the_claim(bad):
    with pytest.raises(AssertionError, match="P01.nan failed"):
        claims.check("P01.nan", bad, lower=-1e300, kind="theorem", statement="s")
    with pytest.raises(AssertionError, match="P01.nan failed"):
        claims.check("P01.nan", bad, expected=0.0, tol=1e300, kind="theorem", statement="s")


def test_accepts_tensor_and_numpy_scalars():
    assert claims.check("P01.tensor", torch.tensor(0.5), expected=0.5, kind="theorem", statement="s").measured == 0.5
    assert claims.check("P01.numpy", np.float32(0.25), expected=0.25, kind="theorem", statement="s").passed


def test_malformed_calls():
    with pytest.raises(ValueError, match=r"claim_id must look like 'P07.short-name'.*got 'infonce'"):
        claims.check("infonce", 1.0, upper=2.0, kind="theorem", statement="s")
    with pytest.raises(ValueError, match="check needs a bound"):
        claims.check("P01.x", 1.0, kind="theorem", statement="s")
    with pytest.raises(ValueError, match="pass either expected= or lower=/upper=, not both"):
        claims.check("P01.x", 1.0, expected=1.0, upper=2.0, kind="theorem", statement="s")
    with pytest.raises(ValueError, match="lower must be <= upper, got lower=3.0 and upper=1.0"):
        claims.check("P01.x", 1.0, lower=3.0, upper=1.0, kind="theorem", statement="s")
    with pytest.raises(ValueError, match="tol must be >= 0, got -1.0"):
        claims.check("P01.x", 1.0, expected=1.0, tol=-1.0, kind="theorem", statement="s")
    with pytest.raises(TypeError, match="statement must be a non-empty string"):
        claims.check("P01.x", 1.0, expected=1.0, kind="theorem", statement="")
    with pytest.raises(TypeError, match="measured must be a real number, got str"):
        claims.check("P01.x", "1.0", expected=1.0, kind="theorem", statement="s")
    with pytest.raises(ValueError, match=r"measured must be a single number, got a tensor of shape \(2,\)"):
        claims.check("P01.x", torch.ones(2), expected=1.0, kind="theorem", statement="s")
    with pytest.raises(TypeError, match="expected must be a real number"):
        claims.check("P01.x", 1.0, expected="1", kind="theorem", statement="s")


def test_records_and_summary():
    claims.check("P02.recorded", 3.0, lower=0.0, kind="theorem", statement="positive")
    recs = claims.records("P02.recorded")
    assert recs[-1].measured == 3.0 and recs[-1].paper == "P02" and recs[-1].bound == "[0, +inf]"
    df = claims.summary("P02.recorded")
    assert list(df.columns) == ["status", "claim", "kind", "measured", "null", "bound", "statement"]
    assert df.iloc[-1]["status"] == "passed"
    assert df.iloc[-1]["null"] == "-"  # no NaN on the page for a claim without a null


def test_failed_checks_are_recorded_too():
    with pytest.raises(AssertionError):
        claims.check("P02.failing", 0.0, lower=1.0, kind="theorem", statement="s")
    assert claims.records("P02.failing")[-1].passed is False


def test_log_file_only_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "sub" / "claims.jsonl"
    monkeypatch.setenv("REPTUTOR_CLAIMS_LOG", str(log))
    monkeypatch.setenv("REPTUTOR_SEED", "4")
    claims.check("P03.logged", 1.5, expected=1.5, kind="theorem", statement="s")
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["claim_id"] == "P03.logged" and rec["measured"] == 1.5 and rec["seed"] == 4
    monkeypatch.delenv("REPTUTOR_CLAIMS_LOG")
    claims.check("P03.logged", 1.5, expected=1.5, kind="theorem", statement="s")
    assert len(log.read_text().splitlines()) == 1


# ---- kinds, nulls, not-reproduced records, calibration (issue: honest claims) ----------------


def test_kind_is_required_and_validated():
    with pytest.raises(TypeError, match="kind"):
        claims.check("P01.x", 1.0, upper=2.0, statement="s")  # no kind at all
    with pytest.raises(ValueError, match=r"kind must be one of 'reproduction', 'theorem', "
                                         r"'observation', got 'identity'"):
        claims.check("P01.x", 1.0, upper=2.0, kind="identity", statement="s")


@pytest.mark.parametrize("kind", ["reproduction", "observation"])
def test_trained_kinds_need_a_null_or_a_reason(kind):
    with pytest.raises(ValueError, match=f"a {kind} needs null="):
        claims.check("P01.x", 1.0, upper=2.0, kind=kind, statement="s")
    r = claims.check("P01.x", 1.0, upper=2.0, kind=kind, statement="s",
                     no_null="closed-form solver output, no trained model")
    assert r.passed and r.no_null.startswith("closed-form")
    r = claims.check("P01.x", 1.0, upper=2.0, kind=kind, statement="s", null=3.0,
                     null_name="untrained encoder")
    assert r.passed and r.null == 3.0 and r.null_name == "untrained encoder"


def test_a_null_that_passes_makes_the_claim_vacuous():
    with pytest.raises(AssertionError, match=r"P01.vac is vacuous: the null \(raw input\) measures "
                                             r"0.95, which also satisfies \[0.85, \+inf\]"):
        claims.check("P01.vac", 0.97, lower=0.85, kind="reproduction", statement="s",
                     null=0.95, null_name="raw input")
    rec = claims.records("P01.vac")[-1]
    assert rec.status == "failed" and not rec.passed
    # the same claim with a bound the null fails is fine; the null is recorded beside it
    rec = claims.check("P01.vac", 0.97, lower=0.96, kind="reproduction", statement="s",
                       null=0.95, null_name="raw input")
    assert rec.passed and rec.status == "passed" and rec.null == 0.95


def test_null_arguments_are_validated():
    with pytest.raises(ValueError, match="null_name must name the control"):
        claims.check("P01.x", 1.0, upper=2.0, kind="observation", statement="s", null=3.0)
    with pytest.raises(ValueError, match="null_name='u' was given without null="):
        claims.check("P01.x", 1.0, upper=2.0, kind="observation", statement="s", null_name="u",
                     no_null="r")
    with pytest.raises(ValueError, match="either null= .* or no_null=, not both"):
        claims.check("P01.x", 1.0, upper=2.0, kind="observation", statement="s", null=3.0,
                     null_name="u", no_null="r")
    with pytest.raises(ValueError, match="null must be finite"):
        claims.check("P01.x", 1.0, upper=2.0, kind="observation", statement="s",
                     null=math.nan, null_name="u")


def test_a_failing_claim_is_reported_before_its_null():
    with pytest.raises(AssertionError, match="P01.f failed"):
        claims.check("P01.f", 0.5, lower=0.9, kind="reproduction", statement="s", null=0.95,
                     null_name="u")


def test_no_raise_mode_only_prints(monkeypatch, capsys):
    monkeypatch.setenv("REPTUTOR_CLAIMS_NO_RAISE", "1")
    rec = claims.check("P01.soft", 0.5, lower=0.9, kind="theorem", statement="s")
    assert rec.status == "failed" and "CLAIM FAILED (not raised)" in capsys.readouterr().out


def test_not_reproduced_records_the_value_and_never_fails_on_it(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("REPTUTOR_CLAIMS_LOG", str(log))
    r = claims.not_reproduced("P08.probe", measured=0.41, expected="SCRL > BYOL",
                              statement="SCRL beats BYOL on the object-class probe",
                              why="toy scale", null=0.45, null_name="untrained encoder")
    assert r.status == "not reproduced" and r.kind == "reproduction" and r.bound == "paper: SCRL > BYOL"
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["status"] == "not reproduced" and rec["measured"] == 0.41 and rec["why"] == "toy scale"
    assert claims.not_reproduced("P08.num", measured=1.0, expected=2.5, statement="s",
                                 why="w").expected_text == "2.5"
    with pytest.raises(AssertionError, match="needs a finite measurement"):
        claims.not_reproduced("P08.probe", measured=math.nan, expected="x", statement="s", why="w")
    with pytest.raises(TypeError, match="why must be a non-empty string"):
        claims.not_reproduced("P08.probe", measured=1.0, expected="x", statement="s", why="")


@pytest.mark.parametrize("value,bound,expected", [
    (4.8, dict(upper=5.0), 0.2), (5.2, dict(upper=5.0), -0.2), (1.3, dict(expected=1.0, tol=0.2), -0.1),
    (2.0, dict(lower=1.0, upper=2.5), 0.5), (2.0, dict(lower=2.1, tol=0.2), 0.1),
    (math.nan, dict(lower=0.0), -math.inf)])
def test_margin_is_the_distance_inside_the_bound(value, bound, expected):
    assert claims.margin(value, **bound) == pytest.approx(expected)


def _run(seed: int, value: float, null: float | None = 0.1, upper=None) -> list[dict]:
    return [
        {"claim_id": "P99.a", "kind": "reproduction", "status": "passed", "statement": "s",
         "measured": value, "expected": None, "lower": 0.5, "upper": upper, "tol": 0.0,
         "null": null, "null_name": "untrained", "no_null": None, "expected_text": None,
         "why": None},
        {"claim_id": "P99.b", "kind": "reproduction", "status": "not reproduced", "statement": "s",
         "measured": -value, "expected": None, "lower": None, "upper": None, "tol": 0.0,
         "null": None, "null_name": None, "no_null": None, "expected_text": "> 0", "why": "w"},
    ]


def test_calibration_record_margins_split_calibration_and_held_out_seeds(tmp_path, monkeypatch):
    runs = {s: _run(s, 0.6 + 0.01 * s, null=0.1 + 0.01 * s) for s in range(10)}
    rec = claims.build_calibration("notebooks/x/y.py", "abc", runs)["P99"]
    a = rec["claims"]["P99.a"]
    assert a["margin_calibration"] == pytest.approx(0.1)  # seed 0: 0.60 - 0.5
    assert a["margin_confirmation"] == pytest.approx(0.15)  # seed 5: 0.65 - 0.5
    assert a["null_margin"] == pytest.approx(0.19 - 0.5)  # the null's best seed still fails
    assert a["failed_seeds"] == [] and rec["code_sha256"] == "abc"
    assert rec["claims"]["P99.b"]["status"] == "not reproduced"
    # a failing seed is recorded as such
    runs[7] = _run(7, 0.4)
    assert claims.build_calibration("c", "abc", runs)["P99"]["claims"]["P99.a"]["failed_seeds"] == [7]
    with pytest.raises(ValueError, match="runs must cover seeds 0-9 exactly"):
        claims.build_calibration("c", "abc", {s: runs[s] for s in range(5)})
    runs[3] = runs[3][:1]
    with pytest.raises(ValueError, match="seed 3 checked other claims than seed 0"):
        claims.build_calibration("c", "abc", runs)


def test_glue_calibration_reads_the_committed_record(tmp_path, monkeypatch):
    runs = {s: _run(s, 0.6 + 0.01 * s) for s in range(10)}
    rec = claims.build_calibration("c", "abc", runs)["P99"]
    monkeypatch.setattr(claims, "CALIBRATION_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="no calibration record for P99.a"):
        claims.glue_calibration("P99.a")
    (tmp_path / "P99.json").write_text(json.dumps(rec))
    glued = {}
    monkeypatch.setattr(claims.runtime, "glue", lambda k, v: glued.__setitem__(k, v))
    cal = claims.glue_calibration("P99.a", fmt=".2f")
    assert glued["P99.a.seeds-0-4"] == "0.60–0.64" and glued["P99.a.seeds-5-9"] == "0.65–0.69"
    assert glued["P99.a.null-range"] == "0.10" and glued["P99.a.margin"] == pytest.approx(0.1)
    assert cal.values_on([9]) == [pytest.approx(0.69)] and cal.margin == pytest.approx(0.1)
    with pytest.raises(KeyError, match="has no claim 'P99.zz'"):
        claims.calibration("P99.zz")
    monkeypatch.setenv("REPTUTOR_CALIBRATING", "1")
    assert claims.glue_calibration("P99.a") is None and glued["P99.a.seeds-0-4"] == "(calibrating)"


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("claims.check", lambda: {"claim_id": "P99.validation-matrix", "measured": 1.0,
                                     "kind": "theorem", "expected": 1.0, "tol": 0.1,
                                     "statement": "x equals 1", "null": 2.0,
                                     "null_name": "untrained"}, (
        V.nonpositive("tol", -1), V.wrong_type("measured", lambda x: "1.0", "real number"),
        V.choice("kind", claims.KINDS),
        V.custom("nonfinite", "null", lambda k: float("nan"), V.all_of("null", "finite")),
        V.custom("type", "null_name", lambda k: 3, V.all_of("null_name", "string"), error=TypeError),
        V.custom("range", "claim_id", lambda k: "bad id", V.all_of("claim_id", "P07.short-name", "'bad id'")),
        V.custom("nonfinite", "expected", lambda k: float("nan"), V.all_of("expected", "finite", "nan")),
        V.custom("shape", "measured", lambda k: torch.ones(2), V.all_of("measured", "single number", r"\(2,\)")),
    ), na={}),
    V.Entry("claims.not_reproduced", lambda: {
        "claim_id": "P99.validation-matrix", "measured": 0.4, "expected": "> 0.5",
        "statement": "s", "why": "toy scale"}, (
        V.wrong_type("measured", lambda x: "0.4", "real number"),
        V.wrong_type("why", lambda x: None, "string"),
        V.custom("range", "claim_id", lambda k: "bad id", V.all_of("claim_id", "P07.short-name", "'bad id'")),
        V.custom("nonfinite", "measured", lambda k: float("nan"), V.all_of("finite", "nan"),
                 error=AssertionError),
    ), na={"choice": "expected is free text or a number: what the paper reports"}),
    V.Entry("claims.glue_calibration", lambda: {"claim_id": "P99.validation-matrix"}, (
        V.custom("range", "claim_id", lambda k: "bad id", V.all_of("claim_id", "P07.short-name", "'bad id'")),
        V.wrong_type("claim_id", lambda x: 3, "string"),
        V.custom("type", "fmt", lambda k: ".3q", V.all_of("fmt", "format spec", "'.3q'"), error=ValueError),
    ), na={"choice": "fmt is a format spec, checked when it is used"}, call_valid=False),
    *(V.Entry(f"claims.{name}", lambda: {"prefix": "P99."}, (
        V.wrong_type("prefix", lambda x: 3, "string"),))
      for name in ("records", "summary")),
]


def test_not_reproduced_kind():
    r = claims.not_reproduced("P46.own", measured=0.5, expected="|gap| <= 0.3", statement="s",
                              why="w", kind="observation")
    assert r.kind == "observation" and r.status == "not reproduced"
    with pytest.raises(ValueError, match="'reproduction' or 'observation' for a not-reproduced"):
        claims.not_reproduced("P46.own", measured=0.5, expected="x", statement="s", why="w",
                              kind="theorem")
    with pytest.raises(ValueError, match="kind must be one of"):
        claims.not_reproduced("P46.own", measured=0.5, expected="x", statement="s", why="w",
                              kind="fact")


_CHAPTER = '''# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# Prose {text}.

# %% tags=["hide-cell", "install"]
print("install {pin}")

# %%
import math
x = math.sqrt(2.0)  # comment {text}
x{semicolon}

# %% [markdown] tags=["solution"]
# ```{{solution-start}} ex-p99-1
# :class: dropdown
# ```

# %% tags=["solution"]
def f(x):
    # HINT: {hint}
    # BEGIN SOLUTION
    return x ** {power}
    # END SOLUTION
'''


def _digest(tmp_path, **kw):
    fields = dict(text="a", pin="v1", semicolon="", hint="square it", power="2")
    fields.update(kw)
    p = tmp_path / f"ch{abs(hash(tuple(sorted(fields.items()))))}.py"
    p.write_text(_CHAPTER.format(**fields))
    return claims.code_digest(p)


def test_code_digest_follows_what_the_code_computes(tmp_path):
    base = _digest(tmp_path)
    # prose, comments, the install cell and a repr-silencing ';' do not make a record stale
    assert _digest(tmp_path, text="b") == base
    assert _digest(tmp_path, pin="v2") == base
    assert _digest(tmp_path, semicolon=";") == base
    # nor do the exercises' solutions (cells tagged "solution", after the last claim)
    assert _digest(tmp_path, hint="cube it", power="3") == base
    # a change to what a computing cell does does
    p = tmp_path / "changed.py"
    p.write_text(_CHAPTER.format(text="a", pin="v1", semicolon="", hint="h", power="2")
                 .replace("2.0", "3.0"))
    assert claims.code_digest(p) != base
    # and the same solution code untagged counts as chapter code
    p = tmp_path / "untagged.py"
    p.write_text(_CHAPTER.format(text="a", pin="v1", semicolon="", hint="h", power="2")
                 .replace('# %% tags=["solution"]', "# %%"))
    assert claims.code_digest(p) != base
