"""reptutor.solvers._lasso: the FISTA Lasso solver against its closed form and its optimality conditions.

Closed form: with an orthonormal design (:math:`G = I`) the Lasso decouples and its solution is the
soft threshold :math:`S_\\alpha(c)`. Reference: the subgradient (KKT) conditions
:math:`(G w - c)_l = -\\alpha\\,\\mathrm{sign}(w_l)` where :math:`w_l \\ne 0` and
:math:`|(G w - c)_l| \\le \\alpha` where :math:`w_l = 0`, and scikit-learn's ``Lasso`` on the data the
Gram form came from. (gradcheck does not apply: the solver is used for importances, not trained
through.)
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import Lasso

from reptutor.solvers._lasso import fista_lasso

F64 = torch.float64


def test_identity_gram_gives_the_soft_threshold():
    cross = torch.tensor([[2.0, -0.3], [-1.5, 0.05], [0.1, 4.0]], dtype=F64)
    w = fista_lasso(torch.eye(3, dtype=F64), cross, alpha=0.2, max_iter=100, tol=1e-14)
    expected = torch.sign(cross) * (cross.abs() - 0.2).clamp_min(0.0)
    torch.testing.assert_close(w, expected, rtol=0, atol=1e-14)  # one step is exact here


def test_kkt_conditions_and_sklearn():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 6, generator=g, dtype=F64)
    v = z[:, :2] @ torch.tensor([[1.0, 0.0], [0.5, -2.0]], dtype=F64) + 0.3 * torch.randn(
        400, 2, generator=g, dtype=F64)
    gram, cross, alpha = z.T @ z / 400, z.T @ v / 400, 0.05
    w = fista_lasso(gram, cross, alpha=alpha, max_iter=20_000, tol=1e-13)
    grad = gram @ w - cross  # (6, 2) gradient of the smooth part
    active = w != 0
    assert bool(active.any()) and bool((~active).any())  # both conditions are exercised
    torch.testing.assert_close(grad[active], -alpha * torch.sign(w[active]), rtol=0, atol=1e-9)
    assert bool((grad[~active].abs() <= alpha + 1e-9).all())
    ref = np.stack([Lasso(alpha=alpha, fit_intercept=False, tol=1e-13, max_iter=100_000)
                    .fit(z.numpy(), v[:, m].numpy()).coef_ for m in range(2)], axis=1)
    np.testing.assert_allclose(w.numpy(), ref, rtol=0, atol=1e-7)  # same strictly convex problem


def test_max_iter_bounds_the_work():
    # one step from w = 0 is a soft threshold of cross / L: exactly computable
    gram = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=F64)
    cross = torch.tensor([[1.0], [-3.0]], dtype=F64)
    lip = float(torch.linalg.eigvalsh(gram)[-1])
    w = fista_lasso(gram, cross, alpha=0.1, max_iter=1, tol=1e-30)
    u = cross / lip
    torch.testing.assert_close(w, torch.sign(u) * (u.abs() - 0.1 / lip).clamp_min(0), rtol=0,
                               atol=1e-15)
