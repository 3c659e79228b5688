"""Seeded inputs shared by the test modules: one generator helper, one Gaussian draw, one view pair.

Every test draws its randomness from a fresh ``torch.Generator`` seeded by the test, so a test
gives the same numbers alone, in any order, and in parallel workers (the library never seeds
globally either). These are plain functions rather than fixtures because the tests call them
with arguments (a seed from ``parametrize`` or hypothesis, a shape, a dtype), also at import
time in the modules' declarations. pytest puts ``tests/`` on ``sys.path`` (``tests/`` has no
``__init__.py``), so a test module imports them as ``from _helpers import gen, randn, views``.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import mutual_info_score

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with ``seed``.

    >>> torch.equal(torch.rand(3, generator=gen(7)), torch.rand(3, generator=gen(7)))
    True
    """
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = F64, scale: float = 1.0) -> torch.Tensor:
    """``scale`` times standard normal draws of ``shape``, from ``gen(seed)`` (float64 by default).

    >>> randn(2, 3, seed=1).shape, randn(2, dtype=torch.float32).dtype
    (torch.Size([2, 3]), torch.float32)
    """
    return scale * torch.randn(*shape, generator=gen(seed), dtype=dtype)


def views(n: int = 6, d: int = 4, seed: int = 0, dtype: torch.dtype = F64, *,
          noise: float | None = None, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Two ``(N, D)`` views drawn one after the other from ``gen(seed)``.

    With ``noise=None`` the views are independent, :math:`a, b \sim \text{scale}\cdot\mathcal N(0, I)`;
    otherwise they are correlated, :math:`b = a + \text{noise}\cdot\text{scale}\cdot\varepsilon`
    (:math:`\varepsilon` the second draw).

    >>> a, b = views(5, 3, seed=2, noise=0.0)
    >>> a.shape, torch.equal(a, b)
    (torch.Size([5, 3]), True)
    """
    g = gen(seed)
    a = scale * torch.randn(n, d, generator=g, dtype=dtype)
    second = torch.randn(n, d, generator=g, dtype=dtype)
    if noise is None:
        return a, scale * second
    return a, a + noise * scale * second


# References for the discrete-information metrics (tests of _discrete and mig share them).
def ref_discretize(x: np.ndarray, bins: int) -> np.ndarray:
    """disentanglement_lib's histogram discretization, its per-column loop included."""
    out = np.zeros(x.shape, dtype=np.int64)
    for j in range(x.shape[1]):  # as utils._histogram_discretize, minus its 1-based offset
        out[:, j] = np.digitize(x[:, j], np.histogram(x[:, j], bins)[1][:-1]) - 1
    return out


def ref_mutual_info(c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """disentanglement_lib's (codes x factors) plug-in mutual information, via scikit-learn."""
    return np.array([[mutual_info_score(v[:, m], c[:, j]) for m in range(v.shape[1])]
                     for j in range(c.shape[1])])
