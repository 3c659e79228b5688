"""reptutor.data.multiview: shapes, determinism, the generative model's ground truth, errors."""
import math

import pytest
import torch

from reptutor.data import MultiviewData, make_multiview

import _validation as V
from _helpers import gen


def test_shapes_dtypes_and_determinism():
    d = make_multiview(50, generator=gen(), num_views=3, num_classes=5, shared_dim=2, nuisance_dim=3,
                       private_dim=1, obs_dim=7)
    assert isinstance(d, MultiviewData)
    assert d.views.shape == (3, 50, 7) and d.views.dtype == torch.float32
    assert d.labels.shape == (50,) and d.labels.dtype == torch.long
    assert int(d.labels.min()) >= 0 and int(d.labels.max()) < 5
    assert d.nuisance.shape == (50, 3)
    assert d.prototypes.shape == (5, 2)
    assert d.mixing.shape == (3, 2 + 3 + 1, 7)
    again = make_multiview(50, generator=gen(), num_views=3, num_classes=5, shared_dim=2,
                           nuisance_dim=3, private_dim=1, obs_dim=7)
    for a, b in zip(d, again):
        assert torch.equal(a, b)
    other = make_multiview(50, generator=gen(1), num_views=3, num_classes=5, shared_dim=2,
                           nuisance_dim=3, private_dim=1, obs_dim=7)
    assert not torch.equal(d.views, other.views)


def test_dtype_is_a_cast_of_the_float64_draw():
    d64 = make_multiview(30, generator=gen(), dtype=torch.float64)
    d32 = make_multiview(30, generator=gen(), dtype=torch.float32)
    assert d64.views.dtype == torch.float64
    torch.testing.assert_close(d32.views, d64.views.float())
    assert torch.equal(d32.labels, d64.labels)


def test_reconstruct_views_from_ground_truth():
    # Without jitter, private noise and observation noise, a view in S is exactly
    # tanh([mu_y; s_u u; 0] A_k): the returned factors and sensors reproduce it.
    s_u = 2.0
    d = make_multiview(40, generator=gen(3), num_views=3, class_noise=0.0, private_scale=0.0,
                       obs_noise=0.0, nuisance_scale=s_u, nuisance_views=(0, 2),
                       dtype=torch.float64)
    h = torch.cat([d.prototypes[d.labels], s_u * d.nuisance,
                   torch.zeros(40, d.mixing.shape[1] - 8, dtype=torch.float64)], dim=1)
    for k in (0, 2):
        torch.testing.assert_close(d.views[k], torch.tanh(h @ d.mixing[k]))
    # View 1 is not in S: it has its own nuisance draw.
    assert not torch.allclose(d.views[1], torch.tanh(h @ d.mixing[1]))


def test_class_only_world_is_a_function_of_the_label():
    d = make_multiview(200, generator=gen(), nuisance_scale=0.0, class_noise=0.0,
                       private_scale=0.0, obs_noise=0.0)
    for c in d.labels.unique():
        rows = d.views[:, d.labels == c]  # (V, N_c, D)
        assert torch.allclose(rows, rows[:, :1].expand_as(rows))


def test_only_views_in_s_share_the_nuisance():
    # Within a class, views 0 and 1 are correlated through u; views 2 and 3 are independent
    # given the class. Correlations of independent variables over ~2,000 samples per class are
    # O(1/sqrt(2000)) ~ 0.02; the threshold 0.12 allows the max over 16 x 16 coordinate pairs
    # (about 4.4 standard errors).
    d = make_multiview(20_000, generator=gen(), num_classes=10, dtype=torch.float64)

    def max_within_class_corr(a, b):
        worst = 0.0
        for c in range(3):
            m = d.labels == c
            xa, xb = d.views[a, m], d.views[b, m]
            xa = (xa - xa.mean(0)) / xa.std(0)
            xb = (xb - xb.mean(0)) / xb.std(0)
            worst = max(worst, float((xa.T @ xb / (xa.shape[0] - 1)).abs().max()))
        return worst

    assert max_within_class_corr(2, 3) < 0.12
    assert max_within_class_corr(0, 1) > 0.5


def test_marginals():
    n = 20_000
    d = make_multiview(n, generator=gen(), num_classes=4, dtype=torch.float64)
    # Labels uniform: each count ~ Binomial(n, 1/4), sd ~ 61; allow 5 sd.
    counts = torch.bincount(d.labels, minlength=4).double()
    assert float((counts - n / 4).abs().max()) < 5 * math.sqrt(n * 0.25 * 0.75)
    # Nuisance standard normal: mean sd 1/sqrt(n) ~ 0.007, variance sd sqrt(2/n) ~ 0.01.
    assert float(d.nuisance.mean(0).abs().max()) < 0.04
    assert float((d.nuisance.var(0) - 1).abs().max()) < 0.06
    assert float(d.views.abs().max()) < 1 + 0.05 * 6  # tanh plus 6 sd of observation noise


def test_edge_cases():
    d = make_multiview(5, generator=gen(), num_views=1, nuisance_views=(), nuisance_dim=0,
                       private_dim=0)
    assert d.views.shape == (1, 5, 16) and d.nuisance.shape == (5, 0)


def test_errors():
    with pytest.raises(TypeError, match="generator must be a torch.Generator, got int"):
        make_multiview(10, generator=0)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        make_multiview(0, generator=gen())
    with pytest.raises(ValueError, match="num_classes must be >= 2, got 1"):
        make_multiview(10, generator=gen(), num_classes=1)
    with pytest.raises(TypeError, match="obs_dim must be an integer, got float 4.0"):
        make_multiview(10, generator=gen(), obs_dim=4.0)
    with pytest.raises(ValueError, match="nuisance_scale must be >= 0, got -1.0"):
        make_multiview(10, generator=gen(), nuisance_scale=-1.0)
    with pytest.raises(ValueError, match=r"nuisance_views\[1\] must be <= 3, got 4"):
        make_multiview(10, generator=gen(), nuisance_views=(0, 4))
    with pytest.raises(ValueError, match=r"nuisance_views must not repeat a view, got \(1, 1\)"):
        make_multiview(10, generator=gen(), nuisance_views=(1, 1))
    with pytest.raises(TypeError, match="nuisance_views must be a sequence of view indices, got 3"):
        make_multiview(10, generator=gen(), nuisance_views=3)
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype, got torch.int64"):
        make_multiview(10, generator=gen(), dtype=torch.long)


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("data.make_multiview", lambda: {"n": 8, "generator": V.gen()}, (
        V.nonpositive("n"), V.nonpositive("num_views"), V.nonpositive("obs_noise", -1),
        V.wrong_type("generator", lambda x: None, "torch.Generator"))),
]
