"""reptutor.metrics._discrete: binning and plug-in information, against NumPy / scikit-learn.

References are disentanglement_lib's algorithms written out with NumPy / scikit-learn (per-pair
``mutual_info_score`` loops, ``np.histogram`` + ``np.digitize``), so the tests need no optional peer.
(gradcheck does not apply: these are functions of counts.)
"""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import mutual_info_score

from reptutor.metrics import discrete_entropy, discrete_mutual_info, discretize

import _validation as V
from _helpers import ref_discretize, ref_mutual_info

discrete_module = importlib.import_module("reptutor.metrics._discrete")


# ---------------------------------------------------------------------------------------------
# References (disentanglement_lib's algorithms, loops included).
# ---------------------------------------------------------------------------------------------


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
        monkeypatch.setattr(discrete_module, "_DENSE_CELLS", 0)  # force the sort-based path
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


def test_discrete_messages():
    z, v = torch.randn(10, 3), torch.randint(0, 3, (10, 2))
    with pytest.raises(TypeError, match="codes_discrete must have an integer dtype"):
        discrete_mutual_info(z, v)
    with pytest.raises(ValueError, match="factors must not be empty"):
        discrete_entropy(torch.zeros(0, 2, dtype=torch.long))


# ---------------------------------------------------------------- declarations for the harnesses
_INTEGER_FACTORS = "integer factors only: a float tensor is refused by its dtype (see labels-dtype)"

VALIDATION = [
    V.Entry("metrics.discretize", lambda: {"codes": V.randn(6, 3), "bins": 4}, (
        V.rank("codes"), V.empty("codes"), V.nonfinite("codes"), V.nonpositive("bins"),
        V.wrong_type("codes"), V.wrong_type("bins", lambda x: 2.5, "integer"))),
    V.Entry("metrics.discrete_entropy", lambda: {"factors": V.labels(6, 3)[:, None].repeat(1, 2)}, (
        V.rank("factors"), V.empty("factors"), V.labels_dtype("factors"), V.wrong_type("factors")),
        na={"nonfinite": _INTEGER_FACTORS}),
    V.Entry("metrics.discrete_mutual_info",
            lambda: {"codes_discrete": V.labels(6, 2)[:, None].repeat(1, 3),
                     "factors": V.labels(6, 3, seed=1)[:, None].repeat(1, 2)}, (
              V.rank("codes_discrete"), V.shape("factors", lambda k: k["factors"][:5]),
              V.empty("codes_discrete", "factors"), V.labels_dtype("codes_discrete"),
              V.labels_dtype("factors"), V.device_mismatch("codes_discrete", "factors"),
              V.wrong_type("codes_discrete"), V.wrong_type("factors")),
            na={"nonfinite": _INTEGER_FACTORS,
                "dtype-mismatch": "any two integer dtypes are a valid pair: each column is "
                                "renumbered to 0..K-1 before counting (see labels-dtype)"}),
]
