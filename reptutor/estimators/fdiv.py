r"""Divergence-based mutual-information objectives: the Jensen-Shannon (GAN) form and Donsker-Varadhan.

Hjelm, Fedorov, Lavoie-Marchildon, Grewal, Bachman, Trischler, Bengio, "Learning deep
representations by mutual information estimation and maximization", ICLR 2019,
arXiv:1808.06670 (Deep InfoMax: their Eq. 2 for DV and Eq. 4 for the JSD estimator);
Belghazi et al., "Mutual Information Neural Estimation", ICML 2018, arXiv:1801.04062 (MINE, the
Donsker-Varadhan bound with a neural critic); Nowozin, Cseke, Tomioka, "f-GAN: Training
Generative Neural Samplers using Variational Divergence Minimization", NeurIPS 2016,
arXiv:1606.00709 (the variational form of the Jensen-Shannon divergence).

Both functions take the same ``(K, K)`` critic matrix as :func:`reptutor.estimators.infonce`:
:math:`F_{ij} = T(x_j, y_i)`, the ``K`` positives (joint pairs) on the diagonal and the
:math:`K(K-1)` off-diagonal pairs used as samples of the product of marginals. A stack
``(B, K, K)`` of independent matrices (e.g. one per location of a feature map, as in local
Deep InfoMax) is also accepted; the result is then averaged over the stack.

**Units.** :func:`dv` is a lower bound on :math:`I(X;Y)` in nats (in expectation over the
critic, with the caveat on the batch estimate stated there). :func:`jsd` is *not* an estimate of
:math:`I(X;Y)`: its supremum over critics is :math:`2\,\mathrm{JS}(p_{XY}\,\|\,p_Xp_Y) - 2\log 2
\in [-2\log 2, 0]`. Both are returned as bounds to *maximize* (train on their negatives).

Taught in the chapter *Deep InfoMax: local and global mutual information*
(``notebooks/01_information/03_deep_infomax``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from reptutor import _checks
from reptutor._reduction import REDUCTIONS as _REDUCTIONS

__all__ = ["jsd", "dv"]



def _check_scores(scores: torch.Tensor) -> int:
    """Validate a ``(K, K)`` or ``(B, K, K)`` critic matrix; return ``K``."""
    _checks.tensor("scores", scores, ndim=(2, 3))
    if scores.shape[-1] != scores.shape[-2]:
        raise ValueError(
            f"scores must be a square (K, K) matrix or a stack (B, K, K), got shape "
            f"{tuple(scores.shape)}"
        )
    _checks.rows("scores", scores, 2, "each positive needs a negative", dim=-2)
    return scores.shape[-1]


def _off_diagonal(k: int, device: torch.device) -> torch.Tensor:
    return ~torch.eye(k, dtype=torch.bool, device=device)  # (K, K) True off the diagonal


def jsd(scores: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    r"""The Jensen-Shannon mutual-information objective of Deep InfoMax, from a critic matrix.

    Hjelm et al., ICLR 2019, arXiv:1808.06670, Eq. 4; the GAN discriminator objective read as
    the variational Jensen-Shannon bound of Nowozin et al., NeurIPS 2016, arXiv:1606.00709.
    With :math:`\operatorname{sp}(z) = \log(1 + e^z)` and :math:`F_{ij} = T(x_j, y_i)`:

    .. math::

        \hat I_{\text{JSD}} = \frac1K\sum_{i=1}^K -\operatorname{sp}(-F_{ii})
          \;-\; \frac{1}{K(K-1)}\sum_{i\ne j} \operatorname{sp}(F_{ij})
        = \frac1K\sum_{i=1}^K\Big(-\operatorname{sp}(-F_{ii})
          - \frac{1}{K-1}\sum_{j\ne i}\operatorname{sp}(F_{ij})\Big).

    This is the log-likelihood of a logistic classifier :math:`\sigma(T)` telling joint pairs
    (label 1) from shuffled pairs (label 0), each class weighted equally. For every critic,
    in expectation,

    .. math::

        \hat I_{\text{JSD}} \le 2\,\mathrm{JS}(p_{XY}\,\|\,p_Xp_Y) - 2\log 2 \le 0,

    with equality at :math:`T^\star(x, y) = \log p(x, y) - \log p(x)p(y)`, the pointwise mutual
    information, the same optimal critic as the Donsker-Varadhan bound (:func:`dv`). The value
    is strictly negative for every batch (each term is a log-probability),
    equals :math:`-2\log 2` for a constant zero critic, and does not grow with the true mutual
    information beyond the Jensen-Shannon ceiling: it *ranks* dependence, it does not measure
    it in nats. Deep InfoMax trains with it because its gradients are bounded (sigmoids) and,
    in the paper's experiments, it was less sensitive to the number of negatives than InfoNCE.

    **Normalization.** This is the paper's Eq. 4. The official code's ``JSD`` measure adds
    :math:`2\log 2` (at the optimal critic it estimates :math:`2\,\mathrm{JS}\in[0, 2\log 2]`);
    its ``GAN`` measure is this function. The two differ by a constant, so their gradients are
    identical.

    Args:
        scores: the critic matrix, row ``i`` scoring the anchor :math:`y_i` against every
            candidate :math:`x_j`, the positive on the diagonal; or a stack of such matrices.
        reduction: ``"mean"`` (the objective, averaged over rows and over the stack),
            ``"sum"`` (summed over rows, averaged over the stack) or ``"none"`` (one term per
            row).

    Returns:
        The objective in nats (a scalar), or the row terms ``(K,)`` / ``(B, K)`` for
        ``reduction="none"``.

    Shape:
        ``(K, K) -> ()`` or ``(K,)``; ``(B, K, K) -> ()`` or ``(B, K)``.

    Raises:
        TypeError: if ``scores`` is not a floating tensor.
        ValueError: if ``scores`` is not a finite ``(K, K)`` or ``(B, K, K)`` tensor with
            ``K >= 2``, or ``reduction`` is unknown.

    Examples:
        >>> # a constant critic cannot tell joint from shuffled pairs: exactly -2 log 2
        >>> bool(torch.isclose(jsd(torch.zeros(8, 8)), torch.tensor(-2 * math.log(2))))
        True
        >>> # a confident, correct critic approaches the ceiling 0 from below, never above
        >>> f = 30.0 * torch.eye(8) - 15.0
        >>> bool(-1e-5 < jsd(f) < 0)
        True
        >>> # swapping the sign of the critic is heavily penalized: the objective is not symmetric
        >>> bool(jsd(-f) < -14)
        True
    """
    k = _check_scores(scores)
    _checks.choice("reduction", reduction, _REDUCTIONS)
    off = _off_diagonal(k, scores.device)
    # positive term: log sigma(T) = -sp(-T) on the diagonal (joint pairs)
    positive = -F.softplus(-scores.diagonal(dim1=-2, dim2=-1))  # (..., K)
    # negative term: log(1 - sigma(T)) = -sp(T) off the diagonal, averaged over the K - 1 per row
    negative = (F.softplus(scores) * off).sum(-1) / (k - 1)  # (..., K)
    per_row = positive - negative  # (..., K)
    if reduction == "none":
        return per_row
    per_matrix = per_row.mean(-1) if reduction == "mean" else per_row.sum(-1)  # (...,)
    return per_matrix.mean()


def dv(scores: torch.Tensor) -> torch.Tensor:
    r"""The Donsker-Varadhan lower bound on :math:`I(X;Y)` from a critic matrix, in nats.

    The Donsker-Varadhan representation of the KL divergence as used by MINE, Belghazi et
    al., ICML 2018, arXiv:1801.04062, and Deep InfoMax, Hjelm et al., ICLR 2019, arXiv:1808.06670,
    Eq. 2. With :math:`F_{ij} = T(x_j, y_i)`:

    .. math::

        \hat I_{\text{DV}} = \frac1K\sum_{i=1}^K F_{ii}
          \;-\; \log\Big(\frac{1}{K(K-1)}\sum_{i\ne j} e^{F_{ij}}\Big).

    The population version :math:`\mathbb E_{p_{XY}}[T] - \log\mathbb E_{p_Xp_Y}[e^T]` is a
    lower bound on :math:`I(X;Y)` for every critic, tight at :math:`T^\star = \log p(x,y)/p(x)p(y)`
    plus any constant (the bound is invariant to :math:`T \to T + c`). It has no
    :math:`\log K` ceiling, unlike :func:`reptutor.estimators.infonce`.

    **The batch estimate is not a lower bound.** The log of an empirical mean is biased
    *downward* (Jensen), so the returned value is biased *upward* as an estimate of the
    population bound; with :math:`e^{T}` heavy-tailed (large :math:`I`) the bias and the
    variance are large (McAllester and Stratos, AISTATS 2020, arXiv:1811.04251; Poole et al.,
    ICML 2019, arXiv:1905.06922). Its gradient is biased for the same reason (MINE corrects it
    with a moving average; this function does not).

    The negatives are all :math:`K(K-1)` off-diagonal pairs pooled into one log-mean-exp (one
    per matrix for a stack), computed with :func:`torch.logsumexp` so that large scores do not
    overflow. The log of a global mean does not split into per-row terms, so there is no
    ``reduction`` argument.

    Args:
        scores: the critic matrix, positives on the diagonal; or a stack of such matrices.

    Returns:
        The estimate in nats (a scalar; for a stack, the mean over the stack of the
        per-matrix estimates).

    Shape:
        ``(K, K) -> ()``; ``(B, K, K) -> ()``.

    Raises:
        TypeError: if ``scores`` is not a floating tensor.
        ValueError: if ``scores`` is not a finite ``(K, K)`` or ``(B, K, K)`` tensor with
            ``K >= 2``.

    Examples:
        >>> dv(torch.full((5, 5), 3.0))  # a constant critic certifies nothing
        tensor(0.)
        >>> # invariant to adding a constant to every score
        >>> f = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.isclose(dv(f + 7.0), dv(f)))
        True
        >>> # no log K ceiling: a confident critic certifies far more than log 4 nats
        >>> bool(dv(20.0 * torch.eye(4)) > 10 * math.log(4))
        True
    """
    k = _check_scores(scores)
    off = _off_diagonal(k, scores.device)
    positive = scores.diagonal(dim1=-2, dim2=-1).mean(-1)  # (...,) mean critic on joint pairs
    flat = scores.masked_fill(~off, float("-inf")).flatten(-2)  # (..., K*K) positives removed
    # log of the mean of e^T over the K(K-1) shuffled pairs: logsumexp shifts by the max
    log_mean_exp = torch.logsumexp(flat, dim=-1) - math.log(k * (k - 1))  # (...,)
    return (positive - log_mean_exp).mean()
