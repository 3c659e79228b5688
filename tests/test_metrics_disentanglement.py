"""Tests of reptutor.metrics.disentanglement: closed forms, references, invariants, messages.

References used here are disentanglement_lib's algorithms written out with NumPy / scikit-learn /
SciPy in the way its ``evaluation/metrics/{utils,mig,factor_vae,dci}.py`` compute them (per-pair
``mutual_info_score`` loops, ``np.histogram`` + ``np.digitize``, one vote per loop iteration,
``scipy.stats.entropy``), so that the tests need no optional peer.
(gradcheck does not apply: every metric here is a function of counts or of an argmin.)
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import Lasso
from sklearn.metrics import mutual_info_score

from reptutor.metrics import (
    dci,
    dci_from_importance,
    discrete_entropy,
    discrete_mutual_info,
    discretize,
    factor_vae_batches,
    factor_vae_score,
    mig,
)
from reptutor.metrics import disentanglement as dis


# ---------------------------------------------------------------------------------------------
# References (disentanglement_lib's algorithms, loops included).
# ---------------------------------------------------------------------------------------------
def ref_discretize(x: np.ndarray, bins: int) -> np.ndarray:
    out = np.zeros(x.shape, dtype=np.int64)
    for j in range(x.shape[1]):  # as utils._histogram_discretize, minus its 1-based offset
        out[:, j] = np.digitize(x[:, j], np.histogram(x[:, j], bins)[1][:-1]) - 1
    return out


def ref_mutual_info(c: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.array([[mutual_info_score(v[:, m], c[:, j]) for m in range(v.shape[1])]
                     for j in range(c.shape[1])])


def ref_mig(z: np.ndarray, v: np.ndarray, bins: int = 20) -> float:
    m = ref_mutual_info(ref_discretize(z, bins), v)
    h = np.array([mutual_info_score(v[:, k], v[:, k]) for k in range(v.shape[1])])
    s = np.sort(m, axis=0)[::-1]
    return float(np.mean((s[0] - s[1]) / h))


def ref_factor_vae(votes, fixed, global_codes, num_factors, num_train, threshold):
    global_var = np.var(global_codes, axis=0, ddof=1)
    active = np.sqrt(global_var) >= threshold
    if not active.any():
        return 0.0, 0.0
    tallies = []
    for part in (range(num_train), range(num_train, len(votes))):
        t = np.zeros((num_factors, votes.shape[2]), dtype=np.int64)
        for i in part:  # one vote per iteration, as _generate_training_batch
            local = np.var(votes[i], axis=0, ddof=1)
            t[fixed[i], np.argmin(local[active] / global_var[active])] += 1
        tallies.append(t)
    classifier = np.argmax(tallies[0], axis=0)
    cols = np.arange(votes.shape[2])
    return tuple(float(t[classifier, cols].sum() / t.sum()) for t in reversed(tallies))


def ref_dc(r: np.ndarray) -> tuple[float, float]:
    per_code = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=r.shape[1])
    per_factor = 1.0 - scipy.stats.entropy(r + 1e-11, base=r.shape[0])
    w = r if r.sum() > 0 else np.ones_like(r)
    return (float(np.sum(per_code * w.sum(1) / w.sum())),
            float(np.sum(per_factor * w.sum(0) / w.sum())))


def toy(seed: int, n: int = 2000, sizes=(3, 5, 8)):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, s, (n,), generator=g) for s in sizes], dim=1), g


# ---------------------------------------------------------------------------------------------
# discretize
# ---------------------------------------------------------------------------------------------
def test_discretize_closed_form():
    z = torch.tensor([[0.0], [0.24], [0.25], [0.99], [1.0]])
    # edges 0, .25, .5, .75 (4 bins on [0, 1]): the maximum goes to the last bin
    assert discretize(z, bins=4).flatten().tolist() == [0, 0, 1, 3, 3]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_discretize_matches_numpy_histogram_edges(dtype, data):
    n = data.draw(st.integers(2, 300))
    bins = data.draw(st.integers(1, 40))
    scale = data.draw(st.sampled_from([1e-6, 1.0, 1e5]))
    seed = data.draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, 3)) * scale).astype(dtype)
    x[:, 1] = np.round(x[:, 1], 1)  # many ties and values exactly on edges
    x[:, 2] = x[0, 2]  # a constant column (np.histogram widens it by 1/2)
    # exact equality: same edges in the same dtype and order of operations as np.linspace
    assert (discretize(torch.from_numpy(x), bins=bins).numpy() == ref_discretize(x, bins)).all()


def test_discretize_follows_dtype_and_returns_long():
    z = torch.randn(50, 4, dtype=torch.float64)
    out = discretize(z, bins=7)
    assert out.dtype == torch.long and out.shape == (50, 4)
    assert int(out.min()) == 0 and int(out.max()) == 6


# ---------------------------------------------------------------------------------------------
# discrete_mutual_info / discrete_entropy
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dense", [True, False])
def test_mutual_info_matches_sklearn_loop(dense, monkeypatch):
    if not dense:
        monkeypatch.setattr(dis, "_DENSE_CELLS", 0)  # force the sort-based path
    rng = np.random.default_rng(1)
    c = rng.integers(-3, 20, (1500, 4)) * 7  # arbitrary values: negative, with gaps
    v = rng.integers(0, 6, (1500, 3))
    v[:, 0] = c[:, 0] // 14  # a dependent pair
    c[:, 3] = 5  # a constant code
    got = discrete_mutual_info(torch.from_numpy(c), torch.from_numpy(v)).numpy()
    # float64 from the same counts: only summation order differs (a few ulps of ~1 nat)
    np.testing.assert_allclose(got, ref_mutual_info(c, v), rtol=0, atol=1e-12)
    assert (got[3] == 0).all()


def test_entropy_matches_sklearn_and_closed_form():
    rng = np.random.default_rng(2)
    v = rng.integers(0, 9, (800, 4))
    got = discrete_entropy(torch.from_numpy(v)).numpy()
    ref = [mutual_info_score(v[:, k], v[:, k]) for k in range(4)]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)  # float64, same counts
    uniform = torch.arange(12).remainder(3)[:, None]
    assert math.isclose(discrete_entropy(uniform)[0].item(), math.log(3), rel_tol=1e-12)


def test_mutual_info_symmetric_and_bounded_by_entropies():
    v, g = toy(3)
    c = torch.randint(0, 4, (2000, 2), generator=g)
    mi = discrete_mutual_info(c, v)  # (2, 3)
    mi_t = discrete_mutual_info(v, c)  # (3, 2)
    torch.testing.assert_close(mi, mi_t.T, rtol=0, atol=1e-12)  # I(a; b) = I(b; a)
    bound = torch.minimum(discrete_entropy(c)[:, None], discrete_entropy(v)[None, :])
    assert bool((mi <= bound + 1e-12).all()) and bool((mi >= 0).all())


# ---------------------------------------------------------------------------------------------
# MIG
# ---------------------------------------------------------------------------------------------
def test_mig_closed_forms():
    v, g = toy(4)
    z = torch.cat([v.float(), torch.randn(2000, 1, generator=g)], dim=1)
    # codes = factors: top-1 MI is H(v_m) (every factor has <= 20 values so bins are exact),
    # top-2 is the noise or another independent factor (MI ~ plug-in bias, a few 1e-3 nats)
    result = mig(z, v)
    assert result.score > 0.98
    torch.testing.assert_close(result.mutual_info.diagonal(), result.factor_entropy,
                               rtol=0, atol=1e-12)
    exact = mig(torch.stack([v[:, 0].float(), torch.zeros(2000)], dim=1), v[:, :1])
    assert exact.score == pytest.approx(1.0, abs=1e-12)  # the other code is constant: gap = H


def test_mig_independent_codes_near_zero():
    v, g = toy(5, n=10000)
    z = torch.randn(10000, 6, generator=g)
    # plug-in MI of independent variables is biased up by about (bins-1)(K-1)/(2N) <= 0.007
    # nats here, so the gap over H(v) >= log 3 is below 0.01
    assert 0.0 <= mig(z, v).score < 0.01


def test_mig_permutation_and_monotone_invariance():
    v, g = toy(6)
    z = torch.randn(2000, 5, generator=g)
    z[:, :3] += v.float()
    base = mig(z, v).score
    perm = torch.tensor([3, 0, 4, 2, 1])
    assert mig(z[:, perm], v).score == base  # same bins, same counts: exactly equal
    # an increasing affine map of a code keeps its bins up to float rounding at the edges
    assert mig(z * 3.0 + 10.0, v).score == pytest.approx(base, abs=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mig_matches_disentanglement_lib_algorithm(dtype):
    v, g = toy(7, n=3000, sizes=(3, 6, 40, 32))
    z = (v.double() @ torch.randn(4, 6, generator=g, dtype=torch.float64)
         + torch.randn(3000, 6, generator=g, dtype=torch.float64)).to(dtype)
    got = mig(z, v).score
    # identical bins (exact) and float64 MI from the same counts: only round-off remains
    assert got == pytest.approx(ref_mig(z.numpy(), v.numpy()), abs=1e-12)


def test_mig_messages():
    z, v = torch.randn(10, 3), torch.randint(0, 3, (10, 2))
    with pytest.raises(TypeError, match="codes must have a floating-point dtype"):
        mig(v, v)
    with pytest.raises(ValueError, match="codes must have at least 2 dimensions"):
        mig(z[:, :1], v)
    with pytest.raises(TypeError, match=r"factors must have an integer dtype \(e.g. torch.long\), got torch.float32"):
        mig(z, v.float())
    with pytest.raises(TypeError, match="factors must be a torch.Tensor of integers, got an array of shape"):
        mig(z, v.numpy())
    with pytest.raises(ValueError, match=r"factors must have 10 rows \(one per sample of the codes\), got shape \(9, 2\)"):
        mig(z, v[:9])
    with pytest.raises(ValueError, match=r"factors must be 2-D \(N, M\), got shape \(10,\)"):
        mig(z, v[:, 0])
    with pytest.raises(ValueError, match=r"factors must not be constant: column\(s\) \[1\]"):
        mig(z, torch.stack([v[:, 0], torch.zeros(10, dtype=torch.long)], 1))
    with pytest.raises(ValueError, match="bins must be >= 1, got 0"):
        mig(z, v, bins=0)
    with pytest.raises(ValueError, match="codes must be finite"):
        mig(torch.full((10, 3), float("nan")), v)
    with pytest.raises(TypeError, match="codes_discrete must have an integer dtype"):
        discrete_mutual_info(z, v)
    with pytest.raises(ValueError, match="factors must not be empty"):
        discrete_entropy(torch.zeros(0, 2, dtype=torch.long))


# ---------------------------------------------------------------------------------------------
# FactorVAE score
# ---------------------------------------------------------------------------------------------
SIZES = (4, 6, 10, 8)


def sample_factors(n, gen):
    return torch.stack([torch.randint(0, s, (n,), generator=gen) for s in SIZES], dim=1)


def test_factor_vae_batches_fix_one_factor():
    g = torch.Generator().manual_seed(0)
    codes, k = factor_vae_batches(sample_factors, lambda v: v.double(), num_factors=4,
                                  num_batches=50, batch_size=16, generator=g)
    assert codes.shape == (50, 16, 4) and codes.dtype == torch.float64 and k.shape == (50,)
    spread = codes.std(dim=1)  # (50, 4)
    assert bool((spread[torch.arange(50), k] == 0).all())  # the fixed factor: one value
    others = spread.clone()
    others[torch.arange(50), k] = 1.0
    assert bool((others > 0).all())  # the others vary (16 draws of >= 4 values)
    assert set(k.tolist()) == {0, 1, 2, 3}  # every factor gets fixed somewhere in 50 draws
    g2 = torch.Generator().manual_seed(0)
    again, k2 = factor_vae_batches(sample_factors, lambda v: v.double(), num_factors=4,
                                   num_batches=50, batch_size=16, generator=g2)
    assert torch.equal(again, codes) and torch.equal(k2, k)  # the generator decides all


def test_factor_vae_score_identity_encoder_is_one():
    g = torch.Generator().manual_seed(1)
    encode = lambda v: torch.cat([v.float(), torch.randn(v.shape[0], 2, generator=g)], 1)  # noqa: E731
    codes, k = factor_vae_batches(sample_factors, encode, num_factors=4, num_batches=400,
                                  generator=g)
    result = factor_vae_score(codes, k, global_codes=encode(sample_factors(2000, g)),
                              num_factors=4, num_train=300)
    # the fixed factor's code has variance exactly 0, every other code's is > 0: no error
    assert result.score == 1.0 and result.train_accuracy == 1.0
    assert result.classifier[:4].tolist() == [0, 1, 2, 3] and result.num_active_dims == 6


def test_factor_vae_score_noise_is_chance():
    g = torch.Generator().manual_seed(2)
    encode = lambda v: torch.randn(v.shape[0], 5, generator=g)  # noqa: E731
    codes, k = factor_vae_batches(sample_factors, encode, num_factors=4, num_batches=3000,
                                  batch_size=32, generator=g)
    result = factor_vae_score(codes, k, global_codes=encode(sample_factors(1000, g)),
                              num_factors=4, num_train=1000)
    # argmin independent of the factor: accuracy ~ 1/4; sd sqrt(.25 .75 / 2000) ~ 0.01, and
    # the fitted majority adds at most a few points of overfit, so 0.07 is > 5 sd of slack
    assert abs(result.score - 0.25) < 0.07
    assert result.train_votes.sum() == 1000 and result.eval_votes.sum() == 2000


def test_factor_vae_matches_disentanglement_lib_loop_with_pruning():
    g = torch.Generator().manual_seed(3)
    mix = torch.randn(4, 6, generator=g)
    mix[:, 2] = 0.0  # a code that ignores the factors ...

    def encode(v):
        z = v.float() @ mix + 0.5 * torch.randn(v.shape[0], 6, generator=g)
        z[:, 2] *= 0.01  # ... and is collapsed: std ~ 0.005 < 0.05, so pruned
        return z

    codes, k = factor_vae_batches(sample_factors, encode, num_factors=4, num_batches=600,
                                  batch_size=20, generator=g)
    glob = encode(sample_factors(500, g))
    result = factor_vae_score(codes, k, global_codes=glob, num_factors=4, num_train=400)
    ref_eval, ref_train = ref_factor_vae(codes.numpy(), k.numpy(), glob.numpy(), 4, 400, 0.05)
    # same votes: a vote could only flip on a float32 near-tie of two variance ratios, and
    # the accuracies are ratios of integers, so they agree to float64 round-off
    assert result.score == pytest.approx(ref_eval, abs=1e-12)
    assert result.train_accuracy == pytest.approx(ref_train, abs=1e-12)
    assert result.num_active_dims == 5 and int(result.train_votes[:, 2].sum()) == 0


def test_factor_vae_all_collapsed_scores_zero():
    codes = torch.zeros(10, 8, 3)
    codes[..., 0] = 0.001 * torch.arange(8.0)
    result = factor_vae_score(codes, torch.zeros(10, dtype=torch.long),
                              global_codes=codes[0], num_factors=2, num_train=5)
    assert (result.score, result.train_accuracy, result.num_active_dims) == (0.0, 0.0, 0)


def test_factor_vae_messages():
    codes, k, glob = torch.randn(6, 8, 3), torch.tensor([0, 1, 0, 1, 0, 1]), torch.randn(20, 3)
    ok = dict(global_codes=glob, num_factors=2, num_train=4)
    with pytest.raises(ValueError, match=r"codes must be 3-D, got shape \(6, 8\)"):
        factor_vae_score(codes[:, :, 0], k, **ok)
    with pytest.raises(ValueError, match="codes must hold at least 2 codes per batch"):
        factor_vae_score(codes[:, :1], k, **ok)
    with pytest.raises(ValueError, match=r"global_codes must have size 3 along dim 1 \(the code dimension L\)"):
        factor_vae_score(codes, k, **{**ok, "global_codes": glob[:, :2]})
    with pytest.raises(TypeError, match="codes and global_codes must have the same dtype"):
        factor_vae_score(codes, k, **{**ok, "global_codes": glob.double()})
    with pytest.raises(ValueError, match="fixed_factor must be < num_factors=2, got maximum 2"):
        factor_vae_score(codes, k + 1, **ok)
    with pytest.raises(ValueError, match=r"fixed_factor must have length 6 \(one label per sample\), got 5"):
        factor_vae_score(codes, k[:5], **ok)
    with pytest.raises(ValueError, match="num_train must be <= 5, got 6"):
        factor_vae_score(codes, k, **{**ok, "num_train": 6})
    with pytest.raises(ValueError, match="threshold must be >= 0, got -1.0"):
        factor_vae_score(codes, k, threshold=-1.0, **ok)
    bad = codes.clone()
    bad[2, 3, 1] = float("inf")
    with pytest.raises(ValueError, match=r"codes must be finite, got 1 NaN or infinite value\(s\)"):
        factor_vae_score(bad, k, **ok)
    with pytest.raises(ValueError, match="codes must be small enough for their variance to be finite"):
        factor_vae_score(codes * 1e30, k, **ok)
    g = torch.Generator()
    with pytest.raises(ValueError, match=r"sample_factors\(n, generator\) must return a tensor of shape \(8, 4\)"):
        factor_vae_batches(lambda n, gen: torch.zeros(n, 3), lambda v: v, num_factors=4,
                           num_batches=2, batch_size=4, generator=g)
    with pytest.raises(ValueError, match=r"encode must return a tensor of shape \(8, L\)"):
        factor_vae_batches(sample_factors, lambda v: v[:3].float(), num_factors=4,
                           num_batches=2, batch_size=4, generator=g)
    with pytest.raises(TypeError, match="generator must be a torch.Generator, got int 0"):
        factor_vae_batches(sample_factors, lambda v: v, num_factors=4, num_batches=2,
                           generator=0)
    with pytest.raises(ValueError, match="batch_size must be >= 2, got 1"):
        factor_vae_batches(sample_factors, lambda v: v, num_factors=4, num_batches=2,
                           batch_size=1, generator=g)
    with pytest.raises(TypeError, match="sample_factors must be callable, got NoneType None"):
        factor_vae_batches(None, lambda v: v, num_factors=4, num_batches=2, generator=g)
    with pytest.raises(TypeError, match=r"encode must be callable, got a tensor of shape \(\)"):
        factor_vae_batches(sample_factors, torch.tensor(0.0), num_factors=4, num_batches=2,
                           generator=g)


# ---------------------------------------------------------------------------------------------
# DCI
# ---------------------------------------------------------------------------------------------
@given(seed=st.integers(0, 2**31 - 1), zero_row=st.booleans())
def test_dci_from_importance_matches_scipy_reference(seed, zero_row):
    r = np.random.default_rng(seed).exponential(size=(6, 4)) ** 3
    if zero_row:
        r[1] = 0.0
    s = dci_from_importance(torch.from_numpy(r))
    ref_d, ref_c = ref_dc(r)
    # float64, same formula, different summation order: round-off of a sum of <= 24 terms
    assert s.disentanglement == pytest.approx(ref_d, abs=1e-12)
    assert s.completeness == pytest.approx(ref_c, abs=1e-12)


def test_dci_from_importance_closed_forms_and_invariance():
    eye = torch.eye(4, dtype=torch.float64)
    s = dci_from_importance(eye)
    assert s.disentanglement == pytest.approx(1.0, abs=1e-9)  # 1e-11 offset: H ~ 1e-9
    assert s.completeness == pytest.approx(1.0, abs=1e-9)
    one_code = torch.zeros(4, 3, dtype=torch.float64)
    one_code[0] = 1.0  # one code predicts every factor: disentanglement 0, completeness 1
    s = dci_from_importance(one_code)
    assert s.disentanglement == pytest.approx(0.0, abs=1e-9)
    assert s.completeness == pytest.approx(1.0, abs=1e-9)
    r = torch.rand(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a, b = dci_from_importance(r), dci_from_importance(r[[4, 2, 0, 1, 3]][:, [2, 0, 1]] * 7.0)
    # permutations and scale change nothing but the 1e-11 offset's relative size (~1e-11)
    assert a.disentanglement == pytest.approx(b.disentanglement, abs=1e-9)
    assert a.completeness == pytest.approx(b.completeness, abs=1e-9)
    zero = dci_from_importance(torch.zeros(3, 2, dtype=torch.float64))
    assert zero.disentanglement == pytest.approx(0.0, abs=1e-12)  # uniform after the offset


def _standardized(x):
    return (x - x.mean(0)) / x.std(0)


def test_dci_lasso_matches_sklearn():
    g = torch.Generator().manual_seed(8)
    v = torch.randn(3000, 3, generator=g, dtype=torch.float64)
    z = v @ torch.randn(3, 5, generator=g, dtype=torch.float64) + 0.3 * torch.randn(
        3000, 5, generator=g, dtype=torch.float64)
    result = dci(z, v, importance="lasso", alpha=0.02, tol=1e-10)
    zs, vs = _standardized(z.numpy()), _standardized(v.numpy())
    ref = np.stack([np.abs(Lasso(alpha=0.02, fit_intercept=False, tol=1e-12, max_iter=100000)
                           .fit(zs, vs[:, m]).coef_) for m in range(3)], axis=1)
    # both solve the same strictly convex problem to ~1e-10; weights are O(1)
    np.testing.assert_allclose(result.importance.numpy(), ref, rtol=0, atol=1e-6)


def test_dci_ridge_closed_form():
    g = torch.Generator().manual_seed(9)
    v = torch.randn(500, 2, generator=g, dtype=torch.float64)
    z = torch.randn(500, 4, generator=g, dtype=torch.float64) + v @ torch.ones(2, 4, dtype=torch.float64)
    result = dci(z, v, importance="ridge", alpha=0.5)
    zs, vs = _standardized(z.numpy()), _standardized(v.numpy())
    w = np.linalg.solve(zs.T @ zs / 500 + 0.5 * np.eye(4), zs.T @ vs / 500)
    np.testing.assert_allclose(result.importance.numpy(), np.abs(w), rtol=1e-10, atol=1e-12)


def test_dci_on_linear_mixes():
    g = torch.Generator().manual_seed(10)
    v = torch.randn(4000, 3, generator=g)
    noise = 0.05 * torch.randn(4000, 4, generator=g)
    # a scaled permutation plus a pure-noise code: disentangled, complete, informative
    clean = torch.cat([v[:, [2, 0, 1]] * torch.tensor([2.0, -1.0, 0.5]), noise[:, :1]], 1)
    good = dci(clean + noise, v)
    assert good.disentanglement > 0.95 and good.completeness > 0.95
    assert good.informativeness < 0.1  # NRMSE of a near-exact linear fit (noise 0.05/0.5)
    # factor 0 split evenly over two codes: still disentangled, factor 0 is not complete
    split = torch.stack([v[:, 0], v[:, 0], v[:, 1], v[:, 2]], 1) + noise
    result = dci(split, v, importance="ridge", alpha=0.0)
    assert result.disentanglement > 0.95
    assert result.completeness_per_factor[0] < 0.6  # 1 - log_4(2) = 0.5 for an even split
    assert result.completeness_per_factor[1] > 0.95


def test_dci_eval_set_and_dtype():
    g = torch.Generator().manual_seed(11)
    v = torch.randint(0, 5, (1000, 2), generator=g)  # integer factors are accepted
    z = v.float() + 0.1 * torch.randn(1000, 2, generator=g)
    r = dci(z[:800], v[:800], eval_codes=z[800:], eval_factors=v[800:], importance="ridge")
    assert r.importance.dtype == torch.float32 and r.importance.shape == (2, 2)
    assert r.informativeness < 0.2  # held-out NRMSE with noise sd 0.1 on factors of sd 1.4


def test_dci_messages():
    z, v = torch.randn(20, 3), torch.randn(20, 2)
    with pytest.raises(ValueError, match="importance must be one of 'lasso', 'ridge'; got 'gbt'"):
        dci(z, v, importance="gbt")
    with pytest.raises(ValueError, match="alpha must be >= 0, got -0.1"):
        dci(z, v, alpha=-0.1)
    with pytest.raises(ValueError, match="eval_codes and eval_factors must be given together"):
        dci(z, v, eval_codes=z)
    with pytest.raises(ValueError, match=r"factors must have size 20 along dim 0 \(one row per code\)"):
        dci(z, v[:10])
    with pytest.raises(ValueError, match="factors must have at least 2 columns"):
        dci(z, v[:, :1])
    with pytest.raises(TypeError, match="factors must have a real"):
        dci(z, v > 0)
    with pytest.raises(TypeError, match="codes and factors must have the same dtype"):
        dci(z, v.double())
    with pytest.raises(ValueError, match=r"eval_codes must have size 3 along dim 1 \(the code dimension L\)"):
        dci(z, v, eval_codes=z[:, :2], eval_factors=v)
    with pytest.raises(TypeError, match=r"codes and eval_factors must have the same dtype, got torch\.float32 and torch\.float64"):
        dci(z, v, eval_codes=z, eval_factors=v.double())
    with pytest.raises(TypeError, match=r"eval_factors must have a real \(integer or float\) dtype, got torch\.bool"):
        dci(z, v, eval_codes=z, eval_factors=v > 0)
    with pytest.raises(ValueError, match="importance must be non-negative, got minimum -1.0"):
        dci_from_importance(-torch.ones(2, 2))
    with pytest.raises(ValueError, match="importance must have at least 2 columns"):
        dci_from_importance(torch.ones(3, 1))
