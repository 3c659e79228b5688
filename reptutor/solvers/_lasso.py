r"""A batched Lasso solver on Gram-matrix form (FISTA), shared by the metrics that need it.

A. Beck, M. Teboulle, "A Fast Iterative Shrinkage-Thresholding Algorithm for Linear Inverse
Problems", SIAM Journal on Imaging Sciences 2(1):183-202, 2009 (FISTA, their Sec. 4 with a
constant step). Private: the public entry point is :func:`reptutor.metrics.dci` (the Lasso
importances of Eastwood & Williams, ICLR 2018); a chapter that needs a Lasso of its own should
call this with the Gram form below.
"""
from __future__ import annotations

import math

import torch

__all__ = ["fista_lasso"]


def fista_lasso(gram: torch.Tensor, cross: torch.Tensor, *, alpha: float, max_iter: int,
                tol: float) -> torch.Tensor:
    r"""Minimise the Lasso objective in Gram form for all columns of ``cross`` at once.

    For each column :math:`m`,

    .. math::

        \min_{w_m \in \mathbb{R}^L} \tfrac12 w_m^\top G w_m - c_m^\top w_m
        + \alpha \lVert w_m \rVert_1,

    which with :math:`G = Z^\top Z / N` and :math:`c_m = Z^\top v_m / N` is scikit-learn's
    ``Lasso`` objective :math:`\frac{1}{2N}\lVert v_m - Z w_m\rVert^2 + \alpha\lVert w_m
    \rVert_1` up to a constant. FISTA with the constant step :math:`1/L_G`,
    :math:`L_G = \lambda_{\max}(G)` (the Lipschitz constant of the smooth part's gradient):

    .. math::

        w^{k} = S_{\alpha / L_G}\big(y^{k} - (G y^{k} - c) / L_G\big), \quad
        t_{k+1} = \tfrac{1 + \sqrt{1 + 4 t_k^2}}{2}, \quad
        y^{k+1} = w^{k} + \tfrac{t_k - 1}{t_{k+1}} (w^{k} - w^{k-1}),

    with the soft threshold :math:`S_\tau(u) = \operatorname{sign}(u)\max(|u| - \tau, 0)`,
    from :math:`w = y = 0`, :math:`t_1 = 1`. It stops when no weight moves by more than ``tol``
    in one step, or after ``max_iter`` steps (no warning: the caller decides).

    Args:
        gram: the symmetric positive semi-definite matrix :math:`G`.
        cross: the linear terms :math:`c_m`, one column per problem.
        alpha: the :math:`\ell_1` strength :math:`\alpha \ge 0`.
        max_iter: maximum number of FISTA steps (>= 1).
        tol: stop when :math:`\max |w^{k} - w^{k-1}| \le` ``tol``.

    Returns:
        The weights :math:`W = [w_1, \dots, w_M]`, shape ``(L, M)``.

    Shape:
        ``gram``: ``(L, L)``; ``cross``: ``(L, M)``; output ``(L, M)``.
    """
    lipschitz = torch.linalg.eigvalsh(gram)[-1].clamp_min(1e-12)  # step 1/L of the smooth part
    w = torch.zeros_like(cross)  # (L, M)
    y, t = w, 1.0
    for _ in range(max_iter):  # a loop over iterations, not samples
        u = y - (gram @ y - cross) / lipschitz  # gradient step on the squared error
        w_next = torch.sign(u) * (u.abs() - alpha / lipschitz).clamp_min(0.0)  # soft threshold
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = w_next + (t - 1.0) / t_next * (w_next - w)  # Nesterov momentum (FISTA)
        done = bool((w_next - w).abs().max() <= tol)
        w, t = w_next, t_next
        if done:
            break
    return w
