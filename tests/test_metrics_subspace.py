"""reptutor.metrics.subspace: principal angles against scipy, closed forms, invariants, errors."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

import reptutor.metrics as M
from reptutor.metrics import principal_angles

import _robustness as R
import _validation as V

F64 = torch.float64


def test_matches_scipy_subspace_angles():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(10, 3, generator=gen, dtype=F64), torch.randn(10, 4, generator=gen, dtype=F64)
    ref = np.sort(scipy.linalg.subspace_angles(a.numpy(), b.numpy()))
    torch.testing.assert_close(principal_angles(a, b), torch.as_tensor(ref))
    torch.testing.assert_close(principal_angles(b, a), torch.as_tensor(ref))


def test_small_angles_are_accurate():
    # a rotation by t in the (e1, e3) plane: one angle exactly t, even for t = 1e-9
    for t in (1e-9, 1e-4, 0.3, math.pi / 2):
        a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=F64)
        b = torch.tensor([[math.cos(t), 0.0], [0.0, 1.0], [math.sin(t), 0.0]], dtype=F64)
        torch.testing.assert_close(principal_angles(a, b), torch.tensor([0.0, t], dtype=F64),
                                   atol=1e-15, rtol=1e-9)


def test_invariant_to_basis_change_and_float32_input():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(8, 3, generator=gen, dtype=F64), torch.randn(8, 3, generator=gen, dtype=F64)
    m = torch.randn(3, 3, generator=gen, dtype=F64)
    torch.testing.assert_close(principal_angles(a @ m, b), principal_angles(a, b))
    assert principal_angles(a.float(), b.float()).dtype == F64


def test_dependent_columns_are_refused():
    a = torch.ones(5, 2)
    with pytest.raises(ValueError, match="a must have linearly independent columns"):
        principal_angles(a, torch.eye(5)[:, :2])


VALIDATION = [
    V.Entry("metrics.principal_angles", lambda: {"a": V.randn(6, 2), "b": V.randn(6, 3, seed=1)}, (
        V.rank("a"), V.rank("b"), V.empty("a"), V.nonfinite("b"), V.shape("b", lambda k: k["b"][:4]),
        V.device_mismatch("a", "b"), V.wrong_type("a")),
        na={"dtype-mismatch": "both bases are cast to float64 first: mixed dtypes are valid"}),
]

LINALG = {
    "metrics.principal_angles": R.LinalgCase(lambda dt: R.pair(dt), M.principal_angles, exact=False),
}
