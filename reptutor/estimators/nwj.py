r"""The NWJ (f-divergence / "MINE-f") lower bound on mutual information.

Nguyen, Wainwright, Jordan, "Estimating Divergence Functionals and the Likelihood Ratio by
Convex Risk Minimization", IEEE Trans. Information Theory, 2010, arXiv:0809.0853; in the
notation of Poole et al., "On Variational Bounds of Mutual Information", ICML 2019,
arXiv:1905.06922 (their :math:`I_{\text{NWJ}}`). Unlike InfoNCE it has no
:math:`\log K` ceiling, at the price of a variance that grows like :math:`e^{I}`.

Taught in the chapter *Why InfoNCE can't see more than log K, and the chain-rule fix (DEMI)*
(``notebooks/01_information/01_infonce_demi``).
"""
from __future__ import annotations

import math

import torch

from reptutor import _checks
from reptutor._reduction import reduce as _reduce

__all__ = ["nwj"]


def nwj(scores: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    r"""The NWJ lower bound on :math:`I(X;Y)` from a ``(K, K)`` critic matrix, in nats.

    Nguyen, Wainwright, Jordan, IEEE Trans. Inf. Theory 2010, arXiv:0809.0853; the form of
    Poole et al., ICML 2019, arXiv:1905.06922 (their :math:`I_{\text{NWJ}}`), with the product of
    marginals estimated
    from the off-diagonal pairs (as in their code):

    .. math::

        I_{\text{NWJ}} = \frac1K\sum_{i=1}^K\Big( F_{ii}
          - \frac{e^{-1}}{K-1}\sum_{j\ne i} e^{F_{ij}} \Big) .

    It lower-bounds :math:`I(X;Y)` in expectation for any critic; the bound is tight at
    :math:`f(x,y) = 1 + \log p(y\mid x)/p(y)`. It is *not* capped by :math:`\log K`, but the
    exponential term makes its variance explode when :math:`I` is large (McAllester and
    Stratos, AISTATS 2020, arXiv:1811.04251).

    *Overflow.* The exponential term is not shift-invariant and cannot be rescued by a
    log-sum-exp: an off-diagonal score above about :math:`88 + \log(K-1) + 1` in float32
    (:math:`709 + \log(K-1) + 1` in float64) makes its exact value exceed every float. The
    result is then ``-inf`` (the true bound is below every float), and the gradient is
    ``-inf`` on the overflowing scores only, finite elsewhere and never NaN (each
    :math:`e^{F_{ij} - 1}/(K-1)` is its own term, so no :math:`\infty \cdot 0` appears).
    Keep NWJ critics bounded (e.g. :math:`c\tanh(f/c)`) when scores can grow that large.

    Args:
        scores: the critic matrix, positives on the diagonal.
        reduction: ``"mean"`` (the bound), ``"sum"`` or ``"none"`` (one term per row).

    Returns:
        The bound in nats (a scalar), or the ``(K,)`` row terms for ``reduction="none"``.

    Shape:
        ``(K, K) -> ()`` or ``(K,)``.

    Raises:
        TypeError: if ``scores`` is not a floating tensor.
        ValueError: if ``scores`` is not a finite square matrix with ``K >= 2``, or
            ``reduction`` is unknown.

    Examples:
        >>> nwj(torch.ones(5, 5))  # the constant critic f = 1 gives exactly 0
        tensor(0.)
        >>> # no log K ceiling: a confident critic goes above log K = log 4
        >>> bool(nwj(20.0 * torch.eye(4)) > math.log(4))
        True
    """
    _checks.tensor("scores", scores, ndim=2)
    _checks.square("scores", scores)
    _checks.rows("scores", scores, 2, "each positive needs a negative")
    _checks.choice("reduction", reduction, ("mean", "sum", "none"))
    k = scores.shape[0]
    eye = torch.eye(k, dtype=torch.bool, device=scores.device)
    off = scores.masked_fill(eye, float("-inf"))  # drop the positives from the marginal term
    # e^{-1}/(K-1) sum_{j != i} e^{F_ij}, one exponential per pair: exp(logsumexp) would
    # overflow at the same scores but turn the gradient into inf * 0 = NaN there.
    marginal = torch.exp(off - (math.log(k - 1) + 1.0)).sum(dim=1)  # (K,)
    per_row = scores.diagonal() - marginal  # (K,)
    return _reduce(per_row, reduction)
