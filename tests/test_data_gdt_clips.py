"""reptutor.data.gdt_clips: closed forms, loop references, group relations, errors."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reptutor.data import (
    Sensor,
    make_clips,
    observe,
    random_sensor,
    time_reverse,
    time_shift,
    transform_grid,
)

import _validation as V
from _helpers import gen


# ---------------------------------------------------------------- make_clips: closed form
def test_clip_closed_form():
    length, k, ns, beta, lam = 32, 4, 4, 1.5, 4.0
    clips = make_clips(6, gen(1), length=length, num_classes=k, num_shifts=ns, pulse=beta,
                       decay=lam, dtype=torch.float64)
    assert clips.x.shape == (6, length) and clips.label.shape == (6,)
    assert clips.content.shape == (6, k) and clips.label.dtype == torch.long
    t = torch.arange(length, dtype=torch.float64)
    c = (length - 1) / 2
    expect = torch.stack([
        sum(clips.content[n, j] * torch.cos(2 * math.pi * j * ns * (t - c) / length)
            for j in range(k)) + beta * torch.exp(-t / lam)
        for n in range(6)])
    torch.testing.assert_close(clips.x, expect)


def test_class_mean_amplitudes_and_determinism():
    a = make_clips(4000, gen(2), spread=0.3, dtype=torch.float64)
    # a_n = e_{k_n} + 0.3 xi: the class's own harmonic has mean 1, the others mean 0.
    for k in range(4):
        mean = a.content[a.label == k].mean(0)
        target = torch.nn.functional.one_hot(torch.tensor(k), 4).double()
        # standard error 0.3 / sqrt(~1000) ~ 0.01: 0.05 is 5 standard errors.
        assert (mean - target).abs().max() < 0.05
    b = make_clips(4000, gen(2), spread=0.3, dtype=torch.float64)
    assert torch.equal(a.x, b.x) and torch.equal(a.label, b.label)
    assert make_clips(3, gen(0)).x.dtype == torch.float32


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), ns=st.sampled_from([1, 2, 4]), k=st.integers(2, 4))
def test_content_is_invariant_and_transient_is_not(seed, ns, k):
    length = 32
    g = gen(seed)
    plain = make_clips(5, g, length=length, num_classes=k, num_shifts=ns, pulse=0.0,
                       dtype=torch.float64)
    ones = torch.ones(5, dtype=torch.bool)
    torch.testing.assert_close(time_reverse(plain.x, ones), plain.x)
    for j in range(ns):
        torch.testing.assert_close(time_shift(plain.x, torch.full((5,), j * length // ns)),
                                   plain.x)
    full = make_clips(5, gen(seed), length=length, num_classes=k, num_shifts=ns,
                      dtype=torch.float64)
    transient = full.x - plain.x  # same generator state: same content
    torch.testing.assert_close(transient, 1.5 * torch.exp(-torch.arange(length,
                                                                     dtype=torch.float64) / 4)
                               .expand(5, -1))
    assert not torch.allclose(time_reverse(full.x, ones), full.x)


# ---------------------------------------------------------------- transformations
def test_time_reverse_reference_and_int_flags():
    x = torch.randn(5, 7, generator=gen(3))
    flags = torch.tensor([1, 0, 1, 1, 0])
    ref = torch.stack([x[n].flip(0) if flags[n] else x[n] for n in range(5)])
    assert torch.equal(time_reverse(x, flags), ref)
    assert torch.equal(time_reverse(x, flags.bool()), ref)


def test_time_shift_reference_and_group_relations():
    length = 12
    x = torch.randn(6, length, generator=gen(4), dtype=torch.float64)
    k = torch.tensor([0, 1, 5, -2, 12, 25])
    ref = torch.stack([torch.roll(x[n], int(k[n])) for n in range(6)])
    assert torch.equal(time_shift(x, k), ref)
    j = torch.tensor([3, 3, 7, 1, 0, 11])
    # S^a S^b = S^{a+b}; S^L = identity; R S^k = S^{-k} R.
    assert torch.equal(time_shift(time_shift(x, k), j), time_shift(x, k + j))
    assert torch.equal(time_shift(x, torch.full((6,), length)), x)
    r = torch.ones(6, dtype=torch.bool)
    assert torch.equal(time_reverse(time_shift(x, k), r), time_shift(time_reverse(x, r), -k))


def test_transform_grid_enumerates_every_combination_once():
    grid = transform_grid(3, [2, 4])
    assert grid.sample_index.shape == (24,) and grid.params.shape == (24, 2)
    for s in range(3):
        rows = grid.params[grid.sample_index == s]
        combos = {tuple(r) for r in rows.tolist()}
        assert combos == {(a, b) for a in range(2) for b in range(4)}
    assert grid.params.dtype == torch.long and grid.sample_index.dtype == torch.long
    empty = transform_grid(3, [])
    assert empty.sample_index.tolist() == [0, 1, 2] and empty.params.shape == (3, 0)


# ---------------------------------------------------------------- sensors
def test_observe_closed_form_layout_and_noise():
    g = gen(5)
    sensor = random_sensor(3, g, dtype=torch.float64)
    x = make_clips(400, g, dtype=torch.float64).x
    clean = observe(x, sensor, noise=0.0)
    n, t, c = 7, 11, 2
    assert clean[n, t * 3 + c].item() == pytest.approx(
        math.tanh(sensor.weight[c].item() * x[n, t].item() + sensor.bias[c].item()))
    noisy = observe(x, sensor, g, noise=0.1)
    resid = noisy - clean
    # 38,400 draws of N(0, 0.01): mean within 5 standard errors, std within 2 %.
    assert abs(resid.mean().item()) < 5 * 0.1 / math.sqrt(resid.numel())
    assert resid.std().item() == pytest.approx(0.1, rel=0.02)
    assert not torch.equal(observe(x, sensor, g), observe(x, sensor, g))  # fresh noise each call
    s1, s2 = random_sensor(3, gen(9)), random_sensor(3, gen(9))
    assert torch.equal(s1.weight, s2.weight) and torch.equal(s1.bias, s2.bias)


# ---------------------------------------------------------------- errors
def test_error_messages():
    g = gen()
    x = torch.randn(4, 8)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        make_clips(3, 0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        make_clips(0, g)
    with pytest.raises(ValueError, match="length must be a multiple of num_shifts=4, got 30"):
        make_clips(3, g, length=30)
    with pytest.raises(ValueError, match=r"need length > 24 \(below Nyquist\), got length=24"):
        make_clips(3, g, length=24)
    with pytest.raises(ValueError, match="spread must be >= 0"):
        make_clips(3, g, spread=-1.0)
    with pytest.raises(ValueError, match="decay must be > 0"):
        make_clips(3, g, decay=0.0)
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype"):
        make_clips(3, g, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"reverse must have shape \(4,\) \(one entry per clip\)"):
        time_reverse(x, torch.ones(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="reverse must have an integer or bool dtype"):
        time_reverse(x, torch.ones(4))
    with pytest.raises(TypeError, match="reverse must be a torch.Tensor with one entry per clip"):
        time_reverse(x, [1, 0, 1, 0])
    with pytest.raises(ValueError, match="reverse must hold only 0 and 1"):
        time_reverse(x, torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="reverse must be on x's device"):
        time_reverse(x, torch.ones(4, dtype=torch.bool, device="meta"))
    with pytest.raises(ValueError, match="x must be 2-D"):
        time_shift(x[0], torch.tensor([1]))
    with pytest.raises(TypeError, match="steps must have an integer dtype, got torch.bool"):
        time_shift(x, torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"sizes\[1\] must be >= 1"):
        transform_grid(2, [2, 0])
    with pytest.raises(TypeError, match="sizes must be a sequence of integers, got "):
        transform_grid(2, 3)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        random_sensor(0, g)
    with pytest.raises(ValueError, match="bias_scale must be >= 0"):
        random_sensor(2, g, bias_scale=-0.1)
    sensor = random_sensor(2, g)
    with pytest.raises(TypeError, match="sensor must be a Sensor"):
        observe(x, (sensor.weight, sensor.bias))
    with pytest.raises(TypeError, match="x and sensor.weight must have the same dtype"):
        observe(x.double(), sensor, g)
    with pytest.raises(ValueError, match="sensor.weight and sensor.bias must have the same shape"):
        observe(x, Sensor(sensor.weight, sensor.bias[:1]), g)
    with pytest.raises(ValueError, match="generator must be given when noise > 0"):
        observe(x, sensor)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        observe(x, sensor, g, noise=-1.0)
    # Only one real device type exists here: data on the meta device against a CPU generator.
    meta = Sensor(sensor.weight.to("meta"), sensor.bias.to("meta"))
    with pytest.raises(ValueError, match=r"generator must be on the data's device \(meta\), got "
                                         r"a generator on cpu"):
        observe(x.to("meta"), meta, g)


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("data.make_clips", lambda: {"n": 8, "generator": V.gen()}, (
        V.nonpositive("n"), V.nonpositive("spread", -1), V.nonpositive("length"),
        V.wrong_type("generator", lambda x: None, "torch.Generator"))),
    V.Entry("data.time_reverse", lambda: {"x": V.randn(4, 6), "reverse": torch.tensor([True, False] * 2)}, (
        V.rank("x"), V.shape("reverse", lambda k: k["reverse"][:3]), V.empty("x", "reverse"),
        V.nonfinite("x"), V.device_mismatch("x", "reverse"), V.wrong_type("x"),
        V.custom("dtype-mismatch", "reverse", lambda k: k["reverse"].float(),
                 V.all_of("reverse", "bool", "float32"), error=TypeError))),
    V.Entry("data.time_shift", lambda: {"x": V.randn(4, 6), "steps": torch.tensor([0, 1, 2, 3])}, (
        V.rank("x"), V.shape("steps", lambda k: k["steps"][:3]), V.empty("x", "steps"),
        V.nonfinite("x"), V.device_mismatch("x", "steps"), V.wrong_type("x"),
        V.custom("dtype-mismatch", "steps", lambda k: k["steps"].float(),
                 V.all_of("steps", "integer", "float32"), error=TypeError))),
    V.Entry("data.transform_grid", lambda: {"n": 3, "sizes": [2, 2]}, (
        V.nonpositive("n"), V.custom("nonpositive", "sizes", lambda k: [2, 0],
                                     V.all_of(r"sizes\[1\]", ">= 1", "got 0")),
        V.wrong_type("sizes", lambda x: 2, "sequence"))),
    V.Entry("data.random_sensor", lambda: {"channels": 3, "generator": V.gen()}, (
        V.nonpositive("channels"), V.nonpositive("bias_scale", -1),
        V.wrong_type("generator", lambda x: None, "torch.Generator"))),
    V.Entry("data.observe", lambda: {"x": V.randn(4, 6), "sensor": random_sensor(3, V.gen()),
                                     "generator": V.gen(1)}, (
        V.rank("x"), V.empty("x"), V.nonfinite("x"), V.nonpositive("noise", -1), V.wrong_type("x"),
        V.custom("shape", "sensor", lambda k: Sensor(k["sensor"].weight, k["sensor"].bias[:2]),
                 V.all_of("sensor", r"\(2,\)")),
        V.custom("dtype-mismatch", "sensor", lambda k: Sensor(k["sensor"].weight.double(), k["sensor"].bias.double()),
                 V.all_of("x", "sensor", "dtype", "float64"), error=TypeError),
        V.custom("device-mismatch", "sensor", lambda k: Sensor(k["sensor"].weight.to("meta"), k["sensor"].bias.to("meta")),
                 V.all_of("x", "sensor", "device", "meta")))),
]
