"""reptutor.runtime: scale, pick, seeds, threads, devices, glue."""
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from reptutor import runtime

import _validation as V


def test_scale_reads_environment(monkeypatch):
    monkeypatch.setenv("REPTUTOR_SCALE", "full")
    assert runtime.scale() == "full"
    monkeypatch.setenv("REPTUTOR_SCALE", "ci")
    assert runtime.scale() == "ci"


def test_scale_default_is_ci_until_a_full_run_is_verified(monkeypatch):
    monkeypatch.delenv("REPTUTOR_SCALE", raising=False)
    monkeypatch.setitem(runtime._picked, "full_verified", False)
    assert runtime.scale() == "ci"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setitem(runtime._picked, "full_verified", True)
    assert runtime.scale() == "ci"  # no GPU: never full by default


# --- scale on a GPU is honest: full only once that configuration has run on a GPU -------------

CI, FULL = {"n": 8, "sizes": (1, 2)}, {"n": 4096, "sizes": (64, 128)}


@pytest.fixture
def gpu(monkeypatch, tmp_path):
    """CUDA 'available', REPTUTOR_SCALE unset, and an empty record of full runs in tmp_path."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("REPTUTOR_SCALE", raising=False)
    monkeypatch.delenv("REPTUTOR_PICK_LOG", raising=False)
    monkeypatch.setitem(runtime._picked, "full_verified", False)
    record = tmp_path / "full_runs.json"
    record.write_text(json.dumps({"runs": {}}))
    monkeypatch.setattr(runtime, "FULL_RUNS", record)
    return record


def _record(path, config, **extra):
    rec = {"config": config, "code_sha256": "0" * 64, "device": "NVIDIA H100", "wall_s": 123.4,
           "claims": {}, **extra}
    path.write_text(json.dumps({"runs": {"notebooks/x/01_x.py": rec}}))


def test_gpu_without_a_verified_full_run_runs_ci_and_says_how_to_try_full(gpu, capsys):
    assert runtime.pick(ci=CI, full=FULL) is CI
    assert runtime.scale() == "ci"
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, "one line, not more"
    assert "REPTUTOR_SCALE=full" in out[0] and "not been run on a GPU" in out[0]


def test_gpu_with_a_verified_full_run_runs_full(gpu, capsys):
    _record(gpu, {"n": 4096, "sizes": [64, 128]})  # JSON: the tuple is a list
    assert runtime.pick(ci=CI, full=FULL) is FULL
    assert runtime.scale() == "full"
    out = capsys.readouterr().out
    assert "verified on NVIDIA H100 in 123 s" in out and "REPTUTOR_SCALE=ci" in out


def test_a_record_of_another_configuration_does_not_verify(gpu, capsys):
    _record(gpu, {"n": 2048, "sizes": [64, 128]})
    assert runtime.pick(ci=CI, full=FULL) is CI
    assert runtime.scale() == "ci"
    assert "REPTUTOR_SCALE=full" in capsys.readouterr().out


def test_environment_overrides_on_a_gpu_silently(gpu, monkeypatch, capsys):
    monkeypatch.setenv("REPTUTOR_SCALE", "full")
    assert runtime.pick(ci=CI, full=FULL) is FULL
    monkeypatch.setenv("REPTUTOR_SCALE", "ci")
    _record(gpu, FULL)
    assert runtime.pick(ci=CI, full=FULL) is CI
    assert capsys.readouterr().out == ""


def test_no_gpu_runs_ci_silently(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("REPTUTOR_SCALE", raising=False)
    assert runtime.pick(ci=CI, full=FULL) is CI
    assert capsys.readouterr().out == ""


def test_pick_log_records_what_ran(gpu, monkeypatch, tmp_path, capsys):
    log = tmp_path / "picks.jsonl"
    monkeypatch.setenv("REPTUTOR_PICK_LOG", str(log))
    runtime.pick(ci=CI, full=FULL)
    assert json.loads(log.read_text()) == {"scale": "ci", "config": {"n": 8, "sizes": [1, 2]}}


def test_committed_full_runs_are_fresh_and_complete():
    """Every record names a chapter, the code it ran (still the chapter's), where, how long and
    every claim's value; a chapter changed since its GPU run must be rerun there (or its record
    deleted, which makes its full configuration unverified again)."""
    from reptutor import claims

    root = Path(__file__).resolve().parents[1]
    data = json.loads(runtime.FULL_RUNS.read_text(encoding="utf-8"))
    assert set(data) <= {"about", "runs"} and isinstance(data["runs"], dict)
    for rel, rec in data["runs"].items():
        src = root / rel
        assert src.exists(), f"full_runs.json names a missing chapter {rel}"
        missing = {"config", "code_sha256", "device", "date", "wall_s", "claims"} - set(rec)
        assert not missing, f"{rel}: the full-run record lacks {sorted(missing)}"
        assert rec["code_sha256"] == claims.code_digest(src), (
            f"{rel} changed since its full configuration ran on a GPU: rerun it there with "
            f"`tools/run_chapter.py {rel} --scale full --record-full`, or delete its record")
        assert rec["claims"] and all(c.get("status") in ("passed", "not reproduced")
                                     for c in rec["claims"].values()), (
            f"{rel}: a full-run record has every claim checked, none failed")


def test_scale_rejects_unknown_value_and_lists_options(monkeypatch):
    monkeypatch.setenv("REPTUTOR_SCALE", "huge")
    with pytest.raises(ValueError, match=r"REPTUTOR_SCALE must be one of 'ci', 'full'; got 'huge'"):
        runtime.scale()


def test_pick(monkeypatch):
    monkeypatch.setenv("REPTUTOR_SCALE", "ci")
    assert runtime.pick(ci=1, full=2) == 1
    monkeypatch.setenv("REPTUTOR_SCALE", "full")
    assert runtime.pick(ci=1, full=2) == 2


def test_pick_is_keyword_only():
    with pytest.raises(TypeError):
        runtime.pick(1, 2)  # type: ignore[misc]


def test_seed_everything_reproduces_all_generators(monkeypatch):
    monkeypatch.delenv("REPTUTOR_SEED", raising=False)
    assert runtime.seed_everything(11) == 11
    a = (random.random(), np.random.rand(), torch.rand(3))
    runtime.seed_everything(11)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_seed_environment_overrides_default(monkeypatch):
    monkeypatch.setenv("REPTUTOR_SEED", "3")
    assert runtime.seed_everything(0) == 3
    x = torch.rand(2)
    monkeypatch.delenv("REPTUTOR_SEED")
    runtime.seed_everything(3)
    assert torch.equal(x, torch.rand(2))


def test_seed_errors(monkeypatch):
    monkeypatch.setenv("REPTUTOR_SEED", "abc")
    with pytest.raises(ValueError, match="REPTUTOR_SEED must be a non-negative integer, got 'abc'"):
        runtime.seed_everything(0)
    monkeypatch.delenv("REPTUTOR_SEED")
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        runtime.seed_everything(-1)
    with pytest.raises(TypeError, match="seed must be an integer, got float 1.5"):
        runtime.seed_everything(1.5)  # type: ignore[arg-type]


def test_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("REPTUTOR_THREADS", raising=False)
        monkeypatch.setenv("REPTUTOR_SCALE", "ci")
        monkeypatch.setenv("REPTUTOR_DEVICE", "cpu")
        runtime.seed_everything(0)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("REPTUTOR_THREADS", "2")
        runtime.seed_everything(0)
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("REPTUTOR_THREADS", "zero")
        with pytest.raises(ValueError, match="REPTUTOR_THREADS must be a positive integer, got 'zero'"):
            runtime.seed_everything(0)
        with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
            runtime.seed_everything(0, threads=0)
    finally:
        torch.set_num_threads(before)


def test_device(monkeypatch):
    monkeypatch.setenv("REPTUTOR_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")
    monkeypatch.setenv("REPTUTOR_DEVICE", "toaster")
    with pytest.raises(ValueError, match="REPTUTOR_DEVICE must name a torch device .* got 'toaster'"):
        runtime.device()
    monkeypatch.delenv("REPTUTOR_DEVICE")
    assert runtime.device().type in {"cpu", "cuda", "mps"}


def test_generator_is_independent_of_global_state():
    g = runtime.generator(5)
    torch.manual_seed(123)
    a = torch.randn(3, generator=g)
    torch.manual_seed(999)
    assert torch.equal(a, torch.randn(3, generator=runtime.generator(5)))
    with pytest.raises(ValueError, match="seed must be >= 0"):
        runtime.generator(-2)


def test_glue_returns_none_converts_values_and_validates_name(monkeypatch):
    import myst_nb

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: seen.update({name: value}))
    # None: a glue call that ends a cell leaves no stray number in the rendered page
    assert runtime.glue("P00.x", 1.5) is None
    runtime.glue("P00.t", torch.tensor(2.0))
    runtime.glue("P00.n", np.float64(0.5))
    assert seen == {"P00.x": 1.5, "P00.t": 2.0, "P00.n": 0.5}
    assert type(seen["P00.t"]) is float and type(seen["P00.n"]) is float
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        runtime.glue("", 1.0)


@pytest.mark.parametrize("key", ["P07.trained-gap", "P07.logk", "P38.pair01-two-views",
                                 "P07.trained-gap.seeds-0-4", "P07.trained-gap.null-range",
                                 "P11.sk-iters-max"])
def test_glue_keys_follow_the_claim_id_pattern(key):
    assert runtime.GLUE_KEY.match(key)
    runtime.glue(key, 1.0)


@pytest.mark.parametrize("key", ["p46-r", "p11-logK", "P07.logK", "P07.", "P7.mi", "P07..mi",
                                 "P07.mi.", "P07.-mi", "P07_mi", "P07.mi gap", "x"])
def test_glue_rejects_keys_off_the_pattern(key):
    assert not runtime.GLUE_KEY.match(key)
    with pytest.raises(ValueError, match=r"name must be a glue key: a paper id, a dot and lowercase .* got "
                       + re.escape(repr(key))):
        runtime.glue(key, 1.0)


def test_claim_ids_are_glue_keys():
    # a claim's value is glued under its id: every valid claim id must be a valid glue key
    from reptutor import claims

    pattern = claims.CLAIM_ID.pattern.rstrip("$")
    assert runtime.GLUE_KEY.pattern.startswith(pattern)


_CHAPTERS = sorted(p for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*/*.py")
                   if p.with_suffix(".ipynb").exists())  # a chapter has its notebook twin
_GLUE_CALL = re.compile(r"""runtime\.glue\(\s*(f?)(["'])(.*?)\2""")
_GLUE_ROLE = re.compile(r"\{glue(?::[a-z]+)?\}`([^`<]+?)(?::[^`:]*)?`")


@pytest.mark.parametrize("chapter", _CHAPTERS, ids=lambda p: p.stem)
def test_chapter_glue_keys_match_the_pattern(chapter):
    # Static check of the sources (the executed build checks that each key resolves): every
    # literal key of a runtime.glue call, the literal head of an f-string key, and every key a
    # {glue} role in the prose refers to.
    text = chapter.read_text()
    bad = []
    for is_f, _, key in _GLUE_CALL.findall(text):
        if is_f:
            head = key.split("{")[0]
            if not re.match(r"^P\d{2}\.[a-z0-9][a-z0-9.-]*$", head):
                bad.append(f"runtime.glue(f{key!r}): the literal head {head!r}")
        elif not runtime.GLUE_KEY.match(key):
            bad.append(f"runtime.glue({key!r})")
    for key in _GLUE_ROLE.findall(text):
        if not runtime.GLUE_KEY.match(key):
            bad.append(f"{{glue}}`{key}`")
    assert not bad, f"{chapter.name}: glue keys off the pattern {runtime.GLUE_KEY.pattern}: {bad}"


def test_the_glue_key_scan_finds_keys():
    # the static scan is not vacuous: it sees the calls and roles it is meant to check
    text = 'runtime.glue("P07.mi", 1)\nruntime.glue(f"P08.acc-{n}", 2)\n{glue:text}`P07.mi:.2f` {glue}`p46-r`'
    assert [k for _, _, k in _GLUE_CALL.findall(text)] == ["P07.mi", "P08.acc-{n}"]
    assert _GLUE_ROLE.findall(text) == ["P07.mi", "p46-r"]


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("runtime.pick", lambda: {"ci": 1, "full": 2}, (),
            na={"type": "ci and full may be any values: pick only chooses between them"}),
    V.Entry("runtime.seed_everything", lambda: {"seed": 0}, (
        V.nonpositive("seed", -1), V.nonpositive("threads"), V.wrong_type("seed", lambda x: 0.5, "integer")),
        call_valid=False),
    V.Entry("runtime.generator", lambda: {"seed": 0}, (
        V.nonpositive("seed", -1), V.wrong_type("seed", lambda x: "0", "integer"))),
    V.Entry("runtime.glue", lambda: {"name": "P00.validation-matrix", "value": 1.0}, (
        V.wrong_type("name", lambda x: None, "string"),
        V.custom("range", "name", lambda k: "p46-r", V.all_of(V.named("name"), "glue key", "p46-r"))),
        call_valid=False),
]
