r"""Barlow Twins: redundancy reduction through the cross-correlation of two views.

References:
    J. Zbontar, L. Jing, I. Misra, Y. LeCun, S. Deny. *Barlow Twins: Self-Supervised Learning
    via Redundancy Reduction*. ICML 2021, arXiv:2103.03230v3 (the loss, eq. 1; the
    cross-correlation, eq. 2; the trade-off :math:`\lambda = 5\cdot 10^{-3}` of its
    implementation details; Algorithm 1).

The loss pushes the cross-correlation matrix :math:`C` of the two views' batch-standardised
embeddings towards the identity: its diagonal to 1 (*invariance*: each coordinate agrees across
the views) and its off-diagonal to 0 (*redundancy reduction*: different coordinates carry
decorrelated information).

**Normalisation followed here: the official code** (``facebookresearch/barlowtwins``,
``main.py``), which standardises each coordinate with ``BatchNorm1d(affine=False)``, i.e. the
*biased* (:math:`1/N`) batch variance with :math:`\epsilon = 10^{-5}` added to the variance,
and divides :math:`A^\top B` by the batch size :math:`N`. Differences from elsewhere:

* the paper's Algorithm 1 standardises with ``z.std(0)``, the *unbiased* (:math:`1/(N-1)`)
  standard deviation and no :math:`\epsilon`; the diagonal of its :math:`C` is then
  :math:`(N-1)/N` for identical views instead of (almost) 1;
* the official code runs synchronised batch norm and all-reduces :math:`C` over GPUs, dividing
  by the *global* batch size; on one device this is the formula below;
* the trade-off: the paper reports :math:`\lambda = 5\cdot 10^{-3}` (our default); the official
  code's default is ``--lambd 0.0051``, and its first release used ``3.9e-3`` with the whole
  loss scaled by ``1/32`` (a scale that only interacts with the learning rate).

Computing the loss. The :math:`D \times D` matrix :math:`C = A^\top B / N` costs
:math:`O(N D^2)`; the redundancy term only needs :math:`\lVert C\rVert_F^2`, which the
:math:`N \times N` Gram matrices give in :math:`O(N^2 D)`:

.. math::

    \lVert A^\top B\rVert_F^2 = \operatorname{tr}(A A^\top B B^\top)
      = \sum_{n, m} (A A^\top)_{nm} (B B^\top)_{nm} ,

cheaper when :math:`D` is larger than :math:`N`, as in the paper (:math:`D = 8192` projector
outputs, batches of 2048 split over GPUs). See :func:`barlow_twins_terms` for the rule.

To be taught in the Part II chapter on spectral embeddings (P48: Barlow Twins as a CCA-type
method; planned); benchmarked by ``tools/bench.py gram``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor.losses._gram import SIDES as _FORMS, gram as _gram

__all__ = [
    "BarlowTwinsTerms",
    "cross_correlation",
    "barlow_twins_terms",
    "barlow_twins_loss",
    "BarlowTwinsLoss",
]


class BarlowTwinsTerms(NamedTuple):
    r"""The Barlow Twins loss and its two named terms (scalar tensors).

    Attributes:
        loss: :math:`\mathcal L_{BT} = \text{invariance} + \lambda\,\text{redundancy}`.
        invariance: :math:`\sum_i (1 - C_{ii})^2`.
        redundancy: :math:`\sum_{i \ne j} C_{ij}^2`, unweighted.
    """

    loss: torch.Tensor
    invariance: torch.Tensor
    redundancy: torch.Tensor


def _two_views(z_a: torch.Tensor, z_b: torch.Tensor) -> None:
    _checks.views("z_a", z_a, "z_b", z_b, min_rows=2,
                  why="batch standardisation needs 2 samples")


def _standardize(z: torch.Tensor, eps: float) -> torch.Tensor:
    # BatchNorm1d(affine=False) in training mode, (z - mean) / sqrt(biased var + eps): the
    # fused kernel (forward and backward) is about as fast as the official code's
    if eps > 0:  # F.batch_norm refuses eps = 0 in training mode
        return F.batch_norm(z, None, None, training=True, eps=eps)  # (N, D)
    zc = z - z.mean(dim=0, keepdim=True)  # (N, D) centred
    var = zc.pow(2).mean(dim=0, keepdim=True)  # (1, D) biased variance
    # A constant coordinate (all N values equal; its centred values are rounding noise, not
    # always exactly 0) has correlations 0/0: it is standardised to 0, the limit of the eps > 0
    # formula as eps -> 0+. Elementwise masks, no host sync; the inner where keeps rsqrt(0) = inf
    # out of the backward of the branch that is not taken.
    constant = (z == z[:1]).all(dim=0, keepdim=True) | (var == 0)  # (1, D)
    inv_std = torch.where(constant, torch.zeros_like(var),
                          torch.where(constant, torch.ones_like(var), var).rsqrt())
    return zc * inv_std  # (N, D)


def cross_correlation(z_a: torch.Tensor, z_b: torch.Tensor, *, eps: float = 1e-5) -> torch.Tensor:
    r"""The Barlow Twins cross-correlation matrix of two views' batch-standardised embeddings.

    Zbontar et al., "Barlow Twins", ICML 2021, arXiv:2103.03230v3, eq. 2, with the
    standardisation of the official code (``BatchNorm1d(affine=False)``):

    .. math::

        C_{ij} = \frac1N \sum_{n=1}^N a_{ni}\, b_{nj}, \qquad
        a_{ni} = \frac{z^A_{ni} - \bar z^A_i}{\sqrt{\sigma^2_i + \epsilon}}, \qquad
        \sigma^2_i = \frac1N \sum_{n=1}^N (z^A_{ni} - \bar z^A_i)^2 ,

    and likewise :math:`b` from :math:`Z^B`. Each :math:`C_{ij}` lies in :math:`[-1, 1]`
    (Cauchy-Schwarz; strictly inside for :math:`\epsilon > 0`). It forms the
    :math:`D \times D` matrix, :math:`O(N D^2)` time and :math:`O(D^2)` memory; the loss does
    not need it (:func:`barlow_twins_terms` picks the cheaper side).

    Args:
        z_a: first view's embeddings.
        z_b: second view's embeddings; row ``n`` pairs with ``z_a[n]``.
        eps: :math:`\epsilon \ge 0` added to each coordinate's biased batch variance;
            :math:`10^{-5}` (``BatchNorm1d``'s default, used by the official code). With
            ``eps=0`` a constant coordinate (its :math:`N` values all equal) has correlations
            :math:`0/0`; it is standardised to 0 (the limit as :math:`\epsilon \to 0^+`), so its
            row and column of :math:`C` are 0 and its gradient is 0, never NaN.

    Returns:
        :math:`C`, a :math:`D \times D` tensor (``C[i, j]`` correlates coordinate ``i`` of
        ``z_a`` with coordinate ``j`` of ``z_b``).

    Shape:
        ``z_a``, ``z_b``: (N, D) with N >= 2 -> (D, D).

    Raises:
        TypeError: for non-floating inputs or mismatched dtypes.
        ValueError: for mismatched shapes or devices, fewer than 2 rows, non-finite values,
            negative ``eps``.

    Examples:
        Identical views give a symmetric :math:`C` whose diagonal is
        :math:`\sigma_i^2 / (\sigma_i^2 + \epsilon)`, exactly 1 when :math:`\epsilon = 0`:

        >>> z = torch.randn(64, 3, dtype=torch.float64)
        >>> c = cross_correlation(z, z, eps=0.0)
        >>> bool(torch.allclose(c.diagonal(), torch.ones(3, dtype=c.dtype))), bool(torch.allclose(c, c.T))
        (True, True)
    """
    _two_views(z_a, z_b)
    eps = _checks.number("eps", eps, nonnegative=True)
    n = z_a.shape[0]
    # (D, D); .to: under autocast the product may be bfloat16, C keeps the inputs' dtype
    return (_standardize(z_a, eps).T @ _standardize(z_b, eps)).to(z_a.dtype) / n


def _forms(form: str, n: int, d: int) -> str:
    _checks.choice("form", form, _FORMS)
    if form != "auto":
        return form
    # forward + backward matmul flops: features 3 x 2ND^2, samples 4 x 2N^2D
    return "samples" if 3 * d > 4 * n else "features"


def barlow_twins_terms(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    *,
    redundancy_weight: float = 5e-3,
    eps: float = 1e-5,
    form: str = "auto",
) -> BarlowTwinsTerms:
    r"""The Barlow Twins loss and its invariance and redundancy-reduction terms.

    Zbontar et al., "Barlow Twins", ICML 2021, arXiv:2103.03230v3, eq. 1, with :math:`C` the
    cross-correlation of eq. 2 in the official code's normalisation
    (:func:`cross_correlation`):

    .. math::

        \mathcal L_{BT} = \underbrace{\sum_{i=1}^D (1 - C_{ii})^2}_{\text{invariance}}
          + \lambda \underbrace{\sum_{i=1}^D \sum_{j \ne i} C_{ij}^2}_{\text{redundancy}} .

    Two equal ways to compute it, chosen by ``form``; in both, :math:`C_{ii} = \frac1N
    \sum_n a_{ni} b_{ni}` costs :math:`O(ND)`.

    * ``"features"``: form :math:`C = A^\top B / N` (:math:`D \times D`, as the official code);
      forward and backward cost three :math:`N \times D \times D` matrix products.
    * ``"samples"``: the redundancy term from the :math:`N \times N` Gram matrices,
      :math:`\sum_{i\ne j} C_{ij}^2 = \frac{1}{N^2}\sum_{n,m}(AA^\top)_{nm}(BB^\top)_{nm}
      - \sum_i C_{ii}^2`; four :math:`N \times N \times D` products (two Gram matrices, whose
      backward is one product each). Subtracting the diagonal leaves an absolute round-off of
      about machine epsilon times :math:`\sum_i C_{ii}^2 \le D`; the result is clamped at 0.
    * ``"auto"`` compares the matmul flops, :math:`6ND^2` against :math:`8N^2D`, and picks
      ``"samples"`` iff :math:`3D > 4N`.

    Args:
        z_a: first view's embeddings.
        z_b: second view's embeddings; row ``n`` pairs with ``z_a[n]``.
        redundancy_weight: :math:`\lambda \ge 0`, weight of the redundancy term;
            :math:`5\cdot10^{-3}` (Zbontar et al., implementation details).
        eps: :math:`\epsilon \ge 0` added to the biased batch variance; :math:`10^{-5}`
            (official code). With ``eps=0`` a constant coordinate is standardised to 0
            (see :func:`cross_correlation`): it adds 1 to the invariance term and nothing to the
            redundancy term, as for any :math:`\epsilon > 0`.
        form: ``"auto"`` | ``"features"`` (:math:`D\times D`) | ``"samples"`` (:math:`N\times N`).

    Returns:
        A :class:`BarlowTwinsTerms` of scalar tensors.

    Shape:
        ``z_a``, ``z_b``: (N, D) with N >= 2.

    Raises:
        TypeError: for non-floating inputs, mismatched dtypes, a non-numeric weight.
        ValueError: for mismatched shapes or devices, fewer than 2 rows, non-finite values,
            negative ``redundancy_weight`` or ``eps``, an unknown ``form``.

    Examples:
        Two perfectly correlated coordinates (:math:`C = [[1, 1], [1, 1]]` with
        :math:`\epsilon = 0`) pay only the redundancy term, :math:`2\lambda`:

        >>> u = torch.randn(50, 1, dtype=torch.float64)
        >>> t = barlow_twins_terms(torch.cat([u, u], 1), torch.cat([u, u], 1), eps=0.0)
        >>> round(float(t.invariance), 12), round(float(t.redundancy), 12), round(float(t.loss), 12)
        (0.0, 2.0, 0.01)
    """
    _two_views(z_a, z_b)
    lam = _checks.number("redundancy_weight", redundancy_weight, nonnegative=True)
    eps = _checks.number("eps", eps, nonnegative=True)
    n, d = z_a.shape
    form = _forms(form, n, d)
    a, b = _standardize(z_a, eps), _standardize(z_b, eps)  # (N, D) each
    if form == "features":
        # (D, D) cross-correlation C (.to: an autocast bfloat16 product back to a's dtype)
        c = (a.T @ b).to(a.dtype) / n
        diag = c.diagonal()  # (D,) C_ii
        redundancy = c.pow(2).sum() - diag.pow(2).sum()
    else:
        diag = (a * b).sum(dim=0) / n  # (D,) C_ii without forming C
        # ||C||_F^2 = <A A^T, B B^T>_F / N^2, two (N, N) Gram matrices
        fro = (_gram(a, samples=True) * _gram(b, samples=True)).sum() / (n * n)
        redundancy = (fro - diag.pow(2).sum()).clamp_min(0.0)
    invariance = (1.0 - diag).pow(2).sum()
    return BarlowTwinsTerms(invariance + lam * redundancy, invariance, redundancy)


def barlow_twins_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    *,
    redundancy_weight: float = 5e-3,
    eps: float = 1e-5,
    form: str = "auto",
) -> torch.Tensor:
    r"""The Barlow Twins loss :math:`\sum_i (1 - C_{ii})^2 + \lambda \sum_{i\ne j} C_{ij}^2` (minimize).

    Zbontar et al., "Barlow Twins", ICML 2021, arXiv:2103.03230v3, eq. 1, in the official
    code's normalisation (biased batch variance plus :math:`\epsilon`, :math:`C = A^\top B/N`);
    :func:`barlow_twins_terms` states it in full and explains ``form``. It is a batch-level
    loss (no per-sample values, hence no ``reduction``).

    Args:
        z_a: first view's embeddings.
        z_b: second view's embeddings; row ``n`` pairs with ``z_a[n]``.
        redundancy_weight: :math:`\lambda \ge 0`; :math:`5\cdot10^{-3}` (Zbontar et al.).
        eps: :math:`\epsilon \ge 0` added to the biased batch variance; :math:`10^{-5}`
            (official code).
        form: ``"auto"`` | ``"features"`` | ``"samples"``: which Gram side is formed.

    Returns:
        A scalar tensor, :math:`\ge 0`.

    Shape:
        ``z_a``, ``z_b``: (N, D) with N >= 2 -> ().

    Raises:
        TypeError / ValueError: as :func:`barlow_twins_terms`.

    Examples:
        The loss is symmetric in the two views, and both forms give the same number:

        >>> z_a, z_b = torch.randn(16, 40), torch.randn(16, 40)
        >>> bool(torch.isclose(barlow_twins_loss(z_a, z_b), barlow_twins_loss(z_b, z_a)))
        True
        >>> bool(torch.isclose(barlow_twins_loss(z_a, z_b, form="samples"),
        ...                    barlow_twins_loss(z_a, z_b, form="features"), rtol=1e-5))
        True
    """
    return barlow_twins_terms(z_a, z_b, redundancy_weight=redundancy_weight, eps=eps,
                              form=form).loss


class BarlowTwinsLoss(nn.Module):
    r"""Module wrapper of :func:`barlow_twins_loss` (stores the hyper-parameters).

    Zbontar et al., "Barlow Twins", ICML 2021, arXiv:2103.03230v3; defaults and normalisation
    as :func:`barlow_twins_loss`.

    Shape:
        ``z_a``, ``z_b``: (N, D) with N >= 2 -> ().

    Examples:
        >>> z_a, z_b = torch.randn(16, 8), torch.randn(16, 8)
        >>> bool(BarlowTwinsLoss()(z_a, z_b) == barlow_twins_loss(z_a, z_b))
        True
    """

    def __init__(self, *, redundancy_weight: float = 5e-3, eps: float = 1e-5,
                 form: str = "auto") -> None:
        super().__init__()
        self.redundancy_weight = _checks.number("redundancy_weight", redundancy_weight,
                                                nonnegative=True)
        self.eps = _checks.number("eps", eps, nonnegative=True)
        self.form = _checks.choice("form", form, _FORMS)

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return barlow_twins_loss(z_a, z_b, redundancy_weight=self.redundancy_weight, eps=self.eps,
                                 form=self.form)

    def extra_repr(self) -> str:
        return hyper_parameters(self)
