"""reptutor.metrics.mig: closed forms, disentanglement_lib's algorithm, invariances, messages.

The reference is disentanglement_lib's MIG written out with NumPy / scikit-learn (``np.histogram`` +
``np.digitize`` bins, a ``mutual_info_score`` loop over pairs). (gradcheck does not apply: MIG is a
function of counts.)
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from reptutor.metrics import mig

import _validation as V
from _helpers import ref_discretize, ref_mutual_info


# ---------------------------------------------------------------------------------------------
# Reference (disentanglement_lib's algorithm, loops included).
# ---------------------------------------------------------------------------------------------


def ref_mig(z: np.ndarray, v: np.ndarray, bins: int = 20) -> float:
    m = ref_mutual_info(ref_discretize(z, bins), v)
    h = np.array([mutual_info_score(v[:, k], v[:, k]) for k in range(v.shape[1])])
    s = np.sort(m, axis=0)[::-1]
    return float(np.mean((s[0] - s[1]) / h))


def toy(seed: int, n: int = 2000, sizes=(3, 5, 8)):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, s, (n,), generator=g) for s in sizes], dim=1), g


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


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("metrics.mig", lambda: {"codes": V.randn(8, 3), "factors": V.labels(8, 2)[:, None].repeat(1, 2),
                                    "bins": 4}, (
        V.rank("codes"), V.shape("factors", lambda k: k["factors"][:7]),
        V.custom("shape", "codes", lambda k: k["codes"][:, :1],
                 V.all_of("codes", "at least 2 dimensions", r"\(8, 1\)")),
        V.empty("codes", "factors"), V.nonfinite("codes"), V.nonpositive("bins"),
        V.labels_dtype("factors"), V.device_mismatch("codes", "factors"),
        V.wrong_type("codes"), V.wrong_type("factors"),
        V.custom("range", "factors", lambda k: torch.zeros_like(k["factors"]),
                 V.all_of("factors", "not be constant", r"\[0, 1\]"))),
        na={"dtype-mismatch": "codes are float and factors integer by contract (see labels-dtype)"}),
]
