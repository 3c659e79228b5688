"""reptutor.runtime: scale, pick, seeds, threads, devices, glue."""
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


def test_scale_default_follows_cuda(monkeypatch):
    monkeypatch.delenv("REPTUTOR_SCALE", raising=False)
    assert runtime.scale() == ("full" if torch.cuda.is_available() else "ci")


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


def test_glue_returns_value_and_validates_name():
    assert runtime.glue("P00.x", 1.5) == 1.5
    assert runtime.glue("P00.t", torch.tensor(2.0)) == 2.0
    out = runtime.glue("P00.n", np.float64(0.5))
    assert out == 0.5 and type(out) is float
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        runtime.glue("", 1.0)


@pytest.mark.parametrize("key", ["P07.trained-gap", "P07.logk", "P38.pair01-two-views",
                                 "P07.trained-gap.seeds-0-4", "P07.trained-gap.null-range",
                                 "P11.sk-iters-max"])
def test_glue_keys_follow_the_claim_id_pattern(key):
    assert runtime.GLUE_KEY.match(key)
    assert runtime.glue(key, 1.0) == 1.0


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
