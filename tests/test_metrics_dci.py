"""reptutor.metrics.dci: scipy / scikit-learn references, closed forms, linear mixes, messages.

The importance scores are checked against disentanglement_lib's formulas with ``scipy.stats.entropy``;
the Lasso importances against scikit-learn's ``Lasso`` (the solver itself: ``test_solvers_lasso.py``).
(gradcheck does not apply: the scores are not used as training objectives.)
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import Lasso

import reptutor.metrics as M
from reptutor.metrics import dci, dci_from_importance

import _robustness as R
import _validation as V


# ---------------------------------------------------------------------------------------------
# Reference (disentanglement_lib's formulas).
# ---------------------------------------------------------------------------------------------
def ref_dc(r: np.ndarray) -> tuple[float, float]:
    per_code = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=r.shape[1])
    per_factor = 1.0 - scipy.stats.entropy(r + 1e-11, base=r.shape[0])
    w = r if r.sum() > 0 else np.ones_like(r)
    return (float(np.sum(per_code * w.sum(1) / w.sum())),
            float(np.sum(per_factor * w.sum(0) / w.sum())))


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


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("metrics.dci_from_importance", lambda: {"importance": V.randn(3, 2).abs()}, (
        V.rank("importance"), V.empty("importance"), V.nonfinite("importance"), V.wrong_type("importance"),
        V.custom("shape", "importance", lambda k: k["importance"][:, :1],
                 V.all_of("importance", "at least 2 columns", r"\(3, 1\)")),
        V.custom("range", "importance", lambda k: -k["importance"],
                 V.all_of("importance", "non-negative", "got minimum -")))),
    V.Entry("metrics.dci",
            lambda: {"codes": V.randn(20, 3), "factors": V.randn(20, 2, seed=1),
                     "eval_codes": V.randn(10, 3, seed=2), "eval_factors": V.randn(10, 2, seed=3),
                     "max_iter": 50}, (
              V.rank("codes"), V.shape("factors", lambda k: k["factors"][:19]),
              V.shape("eval_codes", lambda k: k["eval_codes"][:, :2]),
              V.shape("eval_factors", lambda k: k["eval_factors"][:9]),
              V.empty("codes", "factors"), V.empty("eval_codes", "eval_factors"),
              V.nonfinite("codes"), V.nonfinite("factors"), V.nonfinite("eval_codes"),
              V.nonfinite("eval_factors"),
              V.nonpositive("alpha", -1), V.nonpositive("max_iter"), V.nonpositive("tol"),
              V.choice("importance", ("lasso", "ridge")),
              V.dtype_mismatch("codes", "factors"), V.dtype_mismatch("codes", "eval_codes"),
              V.dtype_mismatch("codes", "eval_factors"),
              V.device_mismatch("codes", "factors"), V.device_mismatch("codes", "eval_codes"),
              V.device_mismatch("codes", "eval_factors"),
              V.wrong_type("codes"), V.wrong_type("factors"), V.wrong_type("eval_factors"),
              V.custom("type", "eval_factors", lambda k: None,
                       V.all_of("eval_codes", "eval_factors", "together")))),
]

LINALG = {
    "metrics.dci": R.LinalgCase(lambda dt: R.pair(dt), lambda c, f: M.dci(c, f, max_iter=50)),
}
