"""reptutor.data.sequences: structure of the events, the generative model's closed forms, errors."""
import pytest
import torch

import reptutor.data as DATA
from reptutor.data import GlobalLocalSequences, make_global_local_sequences

import _robustness as R
import _validation as V


def _draw(n=64, seed=0, **kw):
    return make_global_local_sequences(n, torch.Generator().manual_seed(seed), **kw)


def test_shapes_dtypes_and_ranges():
    d = _draw(50, length=12, num_classes=5, num_event_types=3, x_dim=7, y_dim=9)
    assert isinstance(d, GlobalLocalSequences)
    assert d.x.shape == (50, 12, 7) and d.y.shape == (50, 12, 9)
    assert d.labels.shape == (50,) and d.events.shape == (50, 12)
    assert d.global_latent.shape == (50, 4)
    assert d.x.dtype == torch.float32 and d.labels.dtype == torch.long and d.events.dtype == torch.long
    assert 0 <= int(d.labels.min()) and int(d.labels.max()) < 5
    assert 0 <= int(d.events.min()) and int(d.events.max()) <= 3
    assert _draw(3, dtype=torch.float64).y.dtype == torch.float64


@pytest.mark.parametrize("length,event_length,lo,hi", [(16, 2, 2, 4), (13, 3, 0, 4), (10, 1, 10, 10)])
def test_events_are_blocks_in_slots(length, event_length, lo, hi):
    d = _draw(200, seed=1, length=length, event_length=event_length, events_per_clip=(lo, hi))
    slots = length // event_length
    body = d.events[:, : slots * event_length].reshape(200, slots, event_length)
    # Every slot holds one event type (or none) for all of its steps.
    assert bool((body == body[:, :, :1]).all())
    # Steps after the last full slot never hold an event.
    assert bool((d.events[:, slots * event_length:] == 0).all())
    count = (body[:, :, 0] > 0).sum(1)
    assert int(count.min()) >= lo and int(count.max()) <= hi
    if hi > lo:  # the count is drawn uniformly: every value occurs in 200 clips
        assert set(count.tolist()) == set(range(lo, hi + 1))


def test_distinct_event_types():
    # Every clip holds each of the E types exactly once when n_min = n_max = E ...
    d = _draw(100, seed=2, events_per_clip=(4, 4), event_types="distinct")
    per_type = torch.stack([(d.events == e).sum(1) for e in range(1, 5)], 1)  # (N, E) steps
    assert bool((per_type == 2).all())
    assert float((d.events == 0).float().mean()) == 0.5  # 8 of 16 steps are empty
    # ... the order differs between clips (24 orders; 100 clips show many of them) ...
    firsts = {tuple(row[row > 0][::2].tolist()) for row in d.events}
    assert len(firsts) > 10
    # ... and with fewer events than types no type repeats within a clip.
    d = _draw(100, seed=3, events_per_clip=(1, 3), event_types="distinct")
    assert bool((torch.stack([(d.events == e).sum(1) for e in range(1, 5)], 1) <= 2).all())


def test_determinism_and_generator_state():
    a, b = _draw(8, seed=3), _draw(8, seed=3)
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    assert not torch.equal(a.x, _draw(8, seed=4).x)


def test_global_latent_is_class_centre_plus_spread():
    # g_i = mu_{k_i} + sigma_g eps_i: within-class residuals have standard deviation sigma_g.
    # 4000 clips x 4 dims -> ~16,000 residual entries, relative s.e. of the std ~ 0.6%; 3% is ~5 s.e.
    d = _draw(4000, seed=5, class_spread=0.4)
    g, k = d.global_latent, d.labels
    means = torch.stack([g[k == c].mean(0) for c in range(8)])
    resid = g - means[k]
    assert resid.std().item() == pytest.approx(0.4, rel=0.03)
    d0 = _draw(50, seed=5, class_spread=0.0)
    means0 = {int(c): d0.global_latent[d0.labels == c][0] for c in d0.labels.unique()}
    assert all(torch.equal(d0.global_latent[i], means0[int(d0.labels[i])]) for i in range(50))


def test_noiseless_observation_is_a_function_of_the_shared_content():
    # Without private latents and noise, a step is tanh(W^T (s g_i, s eta_e)): two steps of one
    # clip with the same event type are identical, and empty steps differ from event steps.
    d = _draw(30, seed=6, private_clip_dim=0, private_step_dim=0, noise=0.0)
    for seq in (d.x, d.y):
        assert float(seq.abs().max()) < 1.0  # tanh range
        for i in range(30):
            ev = d.events[i]
            for e in ev.unique():
                rows = seq[i, ev == e]
                torch.testing.assert_close(rows, rows[:1].expand_as(rows))
            if (ev > 0).any() and (ev == 0).any():
                assert not torch.allclose(seq[i, ev == 0][0], seq[i, ev > 0][0])
    # Clips with the same latent (same class, spread 0) and the same events are identical.
    d = _draw(200, seed=7, private_clip_dim=0, private_step_dim=0, noise=0.0, class_spread=0.0,
              events_per_clip=(0, 0))
    same = (d.labels == d.labels[0]).nonzero().flatten()
    torch.testing.assert_close(d.x[same], d.x[same[:1]].expand(len(same), -1, -1))


def test_modalities_share_only_declared_content():
    # With private content only (signal_scale tiny), the two modalities are nearly independent:
    # their per-feature correlation is ~1/sqrt(N*T) ~ 0.006 for N*T=25,600; 0.05 is ~8 s.e.
    d = _draw(1600, seed=8, signal_scale=1e-6)
    x = d.x.reshape(-1, d.x.shape[-1])
    y = d.y.reshape(-1, d.y.shape[-1])
    xc, yc = (x - x.mean(0)) / x.std(0), (y - y.mean(0)) / y.std(0)
    corr = xc.T @ yc / x.shape[0]
    assert float(corr.abs().max()) < 0.05


def test_errors():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        make_global_local_sequences(0, g)
    with pytest.raises(TypeError, match="generator must be a torch.Generator, got int"):
        make_global_local_sequences(4, 0)
    with pytest.raises(ValueError, match="length must be >= 2, got 1"):
        make_global_local_sequences(4, g, length=1)
    with pytest.raises(ValueError, match=r"events_per_clip\[1\] must be <= length // event_length = 8"):
        make_global_local_sequences(4, g, events_per_clip=(2, 9))
    with pytest.raises(ValueError, match=r"events_per_clip must be a pair \(n_min, n_max\), got 3"):
        make_global_local_sequences(4, g, events_per_clip=3)
    with pytest.raises(ValueError, match=r"events_per_clip\[1\] must be >= 3, got 2"):
        make_global_local_sequences(4, g, events_per_clip=(3, 2))
    with pytest.raises(ValueError, match="num_event_types must be <= event_dim=4"):
        make_global_local_sequences(4, g, num_event_types=5)
    with pytest.raises(ValueError, match="event_length must be <= 16, got 17"):
        make_global_local_sequences(4, g, event_length=17)
    with pytest.raises(ValueError, match="class_spread must be >= 0, got -0.1"):
        make_global_local_sequences(4, g, class_spread=-0.1)
    with pytest.raises(ValueError, match="signal_scale must be > 0, got 0.0"):
        make_global_local_sequences(4, g, signal_scale=0.0)
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype"):
        make_global_local_sequences(4, g, dtype=torch.int64)
    with pytest.raises(ValueError, match="event_types must be one of 'random', 'distinct'; got 'all'"):
        make_global_local_sequences(4, g, event_types="all")
    with pytest.raises(ValueError, match=r"events_per_clip\[1\] must be <= num_event_types=4 with "
                                         "event_types='distinct', got 5"):
        make_global_local_sequences(4, g, events_per_clip=(2, 5), event_types="distinct")
    with pytest.raises(ValueError, match="private_step_dim must be >= 0, got -1"):
        make_global_local_sequences(4, g, private_step_dim=-1)


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("data.make_global_local_sequences", lambda: {"n": 4, "generator": V.gen()}, (
        V.nonpositive("n"), V.nonpositive("noise", -1), V.nonpositive("length"),
        V.choice("event_types", ("random", "distinct")),
        V.wrong_type("generator", lambda x: None, "torch.Generator"))),
]

LINALG = {
    # a generator: `dtype` is its input, not a tensor; the QR runs in float32
    "data.make_global_local_sequences": R.LinalgCase(
        lambda dt: (dt,), lambda dt: DATA.make_global_local_sequences(4, R.gen(0), dtype=dt),
        exact=False, meta="n/a: its tensors come from the generator's device, never from an input"),
}
