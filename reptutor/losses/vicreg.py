r"""VICReg: variance-invariance-covariance regularization of two views.

References:
    A. Bardes, J. Ponce, Y. LeCun. *VICReg: Variance-Invariance-Covariance Regularization for
    Self-Supervised Learning*. ICLR 2022, arXiv:2105.04906v3 (the loss, eqs. 1-6; the defaults
    :math:`\lambda = \mu = 25`, :math:`\nu = 1`, :math:`\gamma = 1`, :math:`\epsilon = 10^{-4}`
    of its implementation details and official code).

    R. Shwartz-Ziv, R. Balestriero, K. Kawaguchi, T. G. J. Rudner, Y. LeCun. *An
    Information-Theoretic Perspective on Variance-Invariance-Covariance Regularization*.
    NeurIPS 2023, arXiv:2303.00633 (the reading of the three terms as an invariance
    (conditional-entropy) term and a log-determinant entropy surrogate).

**Normalization followed here: the official code** (``facebookresearch/vicreg``,
``main_vicreg.py``), which differs from the equations printed in the paper in two constants:

* invariance: the mean over the :math:`N \times D` entries of :math:`(Z - Z')^2` (PyTorch's
  ``mse_loss``); the paper's eq. 5 sums over the :math:`D` coordinates, i.e. is :math:`D`
  times larger;
* variance: the *average* :math:`\tfrac12[v(Z) + v(Z')]` of the two branches; the paper's
  eq. 6 writes the *sum* :math:`v(Z) + v(Z')`, a 2x larger variance weight;
* covariance: the *sum* :math:`c(Z) + c(Z')` in both the paper and the code.

The default weights 25 / 25 / 1 are those reported in the paper and used by the official code,
i.e. with this normalization.

Taught in the chapter *VICReg from an information-theoretic view*
(``notebooks/01_information/07_vicreg_information``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor.losses._gram import _symmetric_product, gram as _gram

__all__ = [
    "VICRegTerms",
    "invariance_term",
    "variance_term",
    "covariance_term",
    "vicreg_terms",
    "vicreg_loss",
    "VICRegLoss",
]

_FORMS = ("auto", "features", "samples")


class VICRegTerms(NamedTuple):
    r"""The named terms of the VICReg loss (each a scalar tensor, unweighted except ``loss``).

    Attributes:
        loss: :math:`\lambda\, s + \mu\, v + \nu\, c`, the weighted sum that is minimized.
        invariance: :math:`s`, see :func:`invariance_term`.
        variance: :math:`v = \tfrac12[v(Z) + v(Z')]`, see :func:`variance_term`.
        covariance: :math:`c = c(Z) + c(Z')`, see :func:`covariance_term`.
    """

    loss: torch.Tensor
    invariance: torch.Tensor
    variance: torch.Tensor
    covariance: torch.Tensor


_VARIANCE_ROWS = "a variance needs 2 samples"


def _one_view(name: str, z: torch.Tensor) -> None:
    _checks.tensor(name, z, ndim=2, min_rows=0)
    _checks.rows(name, z, 2, _VARIANCE_ROWS)


def _two_views(z_a: torch.Tensor, z_b: torch.Tensor) -> None:
    _checks.views("z_a", z_a, "z_b", z_b, min_rows=2, why=_VARIANCE_ROWS)


def invariance_term(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    r"""VICReg's invariance term: the mean squared distance between paired embeddings.

    Bardes, Ponce, LeCun, "VICReg", ICLR 2022, arXiv:2105.04906v3, eq. 5, in the
    normalization of the official code (``F.mse_loss``):

    .. math::

        s(Z, Z') = \frac{1}{N D}\sum_{i=1}^N \lVert z_i - z'_i \rVert_2^2 ,

    i.e. the paper's :math:`s` divided by :math:`D`. Under the Gaussian-decoder reading of
    Shwartz-Ziv et al. (NeurIPS 2023, arXiv:2303.00633) the best isotropic Gaussian
    :math:`q(z\mid z') = \mathcal N(z', s\,I)` has exactly this variance :math:`s`, and
    :math:`-\mathbb E\log q = \tfrac D2 \log(2\pi e\, s)` (see
    :func:`reptutor.estimators.vicreg_information_bound`).

    Args:
        z_a: first view's embeddings.
        z_b: second view's embeddings; row ``i`` pairs with ``z_a[i]``.

    Returns:
        A scalar tensor, :math:`\ge 0`, zero iff the two views are identical.

    Shape:
        ``z_a``, ``z_b``: (N, D) with N >= 2 -> ().

    Raises:
        TypeError: if an input is not a floating tensor, or the dtypes differ.
        ValueError: for mismatched shapes or devices, fewer than 2 rows, non-finite values.

    Examples:
        Shifting one view by a constant vector :math:`c` costs exactly :math:`\lVert c\rVert^2/D`:

        >>> z = torch.randn(16, 4)
        >>> round(float(invariance_term(z, z + torch.tensor([2.0, 0.0, 0.0, 0.0]))), 5)
        1.0
    """
    _two_views(z_a, z_b)
    return F.mse_loss(z_a, z_b)  # mean over the N*D entries


def variance_term(z: torch.Tensor, *, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    r"""VICReg's variance term of one branch: a hinge on each coordinate's standard deviation.

    Bardes, Ponce, LeCun, "VICReg", ICLR 2022, arXiv:2105.04906v3, eqs. 1-2:

    .. math::

        v(Z) = \frac1D \sum_{k=1}^D \max\!\big(0,\ \gamma - \sqrt{C_{kk} + \epsilon}\big),
        \qquad C_{kk} = \frac{1}{N-1}\sum_{i=1}^N (z_{ik} - \bar z_k)^2 ,

    with the unbiased (:math:`1/(N-1)`) variance and :math:`\epsilon` added *inside* the square
    root, as in the official code. The square root matters: a hinge on the variance itself
    has a vanishing gradient at collapse, the standard deviation's does not.
    :func:`vicreg_terms` averages this term over the two branches.

    Args:
        z: one view's embeddings.
        gamma: the target standard deviation :math:`\gamma \ge 0`; 1 in the paper.
        eps: :math:`\epsilon \ge 0` inside the square root; :math:`10^{-4}` in the official code.

    Returns:
        A scalar tensor in :math:`[0, \gamma]`; zero iff every coordinate has
        :math:`C_{kk} + \epsilon \ge \gamma^2`.

    Shape:
        ``z``: (N, D) with N >= 2 -> ().

    Raises:
        TypeError: if ``z`` is not a floating tensor.
        ValueError: for fewer than 2 rows, non-finite values, negative ``gamma`` or ``eps``.

    Examples:
        A collapsed representation (all rows equal) pays almost the full margin
        :math:`\gamma - \sqrt{\epsilon}`:

        >>> round(float(variance_term(torch.ones(8, 3))), 6)
        0.99
        >>> float(variance_term(10 * torch.randn(64, 3)))  # every std far above 1
        0.0
    """
    _one_view("z", z)
    gamma = _checks.number("gamma", gamma, nonnegative=True)
    eps = _checks.number("eps", eps, nonnegative=True)
    return _hinge(_centred_diag(z)[1], gamma, eps)


def _centred_diag(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The centred view (N, D) and the unbiased variances C_kk (D,), shared by the terms."""
    # two-pass centred variance: same value as z.var(0), about 4x faster forward + backward
    # on CPU than its Welford reduction along dim 0 (measured at N=1024, D=512)
    zc = z - z.mean(dim=0, keepdim=True)  # (N, D)
    return zc, zc.pow(2).sum(dim=0) / (z.shape[0] - 1)  # (D,) C_kk


def _hinge(var: torch.Tensor, gamma: float, eps: float) -> torch.Tensor:
    std = torch.sqrt(var + eps)  # (D,) sqrt(C_kk + eps), unbiased variance
    return F.relu(gamma - std).mean()


def covariance_term(z: torch.Tensor, *, form: str = "auto") -> torch.Tensor:
    r"""VICReg's covariance term of one branch: the squared off-diagonal covariances over D.

    Bardes, Ponce, LeCun, "VICReg", ICLR 2022, arXiv:2105.04906v3, eqs. 3-4:

    .. math::

        c(Z) = \frac1D \sum_{k \ne l} C_{kl}^2, \qquad
        C = \frac{1}{N-1}\sum_{i=1}^N (z_i - \bar z)(z_i - \bar z)^\top .

    Two equal ways to compute it, chosen by ``form``. With :math:`Z_c` the centred
    :math:`(N, D)` matrix, :math:`\lVert Z_c^\top Z_c\rVert_F = \lVert Z_c Z_c^\top\rVert_F`,
    so

    .. math::

        \sum_{k\ne l} C_{kl}^2 = \frac{\lVert Z_c Z_c^\top \rVert_F^2}{(N-1)^2}
            - \sum_k C_{kk}^2 .

    ``"features"`` forms the :math:`D\times D` covariance (:math:`O(ND^2)` time,
    :math:`O(D^2)` memory) and zeroes its diagonal exactly; ``"samples"`` forms the
    :math:`N\times N` Gram matrix (:math:`O(N^2D)`, :math:`O(N^2)`), cheaper when
    :math:`D > N` as in VICReg's ImageNet setting (:math:`D = 8192` expander outputs, local
    batches of a few hundred). ``"auto"`` picks ``"samples"`` iff :math:`D > N`. The
    ``"samples"`` path subtracts the diagonal, so its absolute round-off is about machine
    epsilon times :math:`\sum_k C_{kk}^2`; it is clamped at 0.

    Args:
        z: one view's embeddings.
        form: ``"auto"`` | ``"features"`` (:math:`D\times D`) | ``"samples"`` (:math:`N\times N`).

    Returns:
        A scalar tensor, :math:`\ge 0`, zero iff the sample covariance is diagonal.

    Shape:
        ``z``: (N, D) with N >= 2 -> ().

    Raises:
        TypeError: if ``z`` is not a floating tensor.
        ValueError: for fewer than 2 rows, non-finite values or an unknown ``form``.

    Examples:
        Two perfectly correlated coordinates, :math:`C = [[2, 2], [2, 2]]`, pay
        :math:`(2^2 + 2^2)/2`; with :math:`D > N` both forms agree:

        >>> z = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
        >>> float(covariance_term(z))
        4.0
        >>> z = torch.randn(5, 40)  # D > N: the N x N Gram path gives the same number
        >>> bool(torch.isclose(covariance_term(z, form="samples"),
        ...                    covariance_term(z, form="features"), rtol=1e-4))
        True
    """
    _one_view("z", z)
    _checks.choice("form", form, _FORMS)
    return _view_stats(z, form)[1]


class _OffDiagonalGram(torch.autograd.Function):
    r"""``(sum_{k != l} G_kl^2, diag G)`` of :math:`G = Z_c^\top Z_c`, one product each way.

    Forward: the block-triangular product of :func:`reptutor.losses._gram.gram`, its diagonal
    taken out and zeroed in place, one square-sum. Backward: with :math:`G_{\text{off}}` the
    zero-diagonal (symmetric) Gram matrix,

    .. math::

        \bar Z_c = Z_c\,\big(4\,\bar o\,G_{\text{off}} + 2\operatorname{diag}(\bar g)\big),

    one :math:`N \times D \times D` product and one pass over the :math:`D \times D` matrix,
    where autograd through ``cov - diag_embed(diag)``, ``pow``, ``sum`` and a general Gram
    matrix makes several. Under ``create_graph=True`` the same formula is written with
    differentiable operations on the saved input, so second derivatives are exact.
    """

    @staticmethod
    def forward(ctx, zc: torch.Tensor):  # type: ignore[override]
        g = _symmetric_product(zc.mT).to(zc.dtype)  # (D, D); .to: an autocast product
        diag = g.diagonal().clone()  # (D,) G_kk = sum_i zc_ik^2
        g.diagonal().zero_()  # G_off, its diagonal exactly 0
        ctx.save_for_backward(zc, g)
        return g.pow(2).sum(), diag

    @staticmethod
    def backward(ctx, g_off: torch.Tensor, g_diag: torch.Tensor):  # type: ignore[override]
        zc, off = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: differentiable in zc and the grads
            gram = zc.mT @ zc
            off = gram - torch.diag_embed(gram.diagonal())
            return zc @ (4 * g_off * off + 2 * torch.diag_embed(g_diag)).to(zc.dtype)
        m = off.mul(4 * g_off)  # (D, D) zero diagonal
        m.diagonal().copy_(2 * g_diag)
        return zc @ m.to(zc.dtype)


def _view_stats(z: torch.Tensor, form: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One view's unbiased variances C_kk (D,) and covariance term c(Z) (already validated)."""
    n, d = z.shape
    if form == "auto":
        form = "samples" if d > n else "features"
    if form == "samples":
        zc, diag = _centred_diag(z)
        return diag, _covariance(zc, diag, "samples", z.dtype)
    zc = z - z.mean(dim=0, keepdim=True)  # (N, D)
    # the variances are the diagonal of the same product (no separate pass over Z_c)
    off2, g_diag = _OffDiagonalGram.apply(zc)
    return g_diag / (n - 1), off2 / ((n - 1) ** 2 * d)


def _covariance(zc: torch.Tensor, diag: torch.Tensor, form: str,
                dtype: torch.dtype) -> torch.Tensor:
    """covariance_term from the centred view and its variances (already validated)."""
    n, d = zc.shape
    if form == "auto":
        form = "samples" if d > n else "features"
    if form == "features":
        # (D, D) sample covariance C (.to: an autocast bfloat16 product back to z's dtype)
        # _gram: Z^T Z with a one-matmul backward (autograd's own runs two)
        cov = _gram(zc, samples=False).to(dtype) / (n - 1)
        off = cov - torch.diag_embed(cov.diagonal())  # (D, D) zero diagonal
        return off.pow(2).sum() / d
    gram = _gram(zc, samples=True).to(dtype) / (n - 1)  # (N, N); ||gram||_F = ||C||_F
    return (gram.pow(2).sum() - diag.pow(2).sum()).clamp_min(0.0) / d  # diag: (D,) C_kk


def _weights(invariance_weight: float, variance_weight: float, covariance_weight: float, eps: float,
             gamma: float) -> tuple[float, float, float, float, float]:
    return (
        _checks.number("invariance_weight", invariance_weight, nonnegative=True),
        _checks.number("variance_weight", variance_weight, nonnegative=True),
        _checks.number("covariance_weight", covariance_weight, nonnegative=True),
        _checks.number("eps", eps, nonnegative=True),
        _checks.number("gamma", gamma, nonnegative=True),
    )


def vicreg_terms(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    *,
    invariance_weight: float = 25.0,
    variance_weight: float = 25.0,
    covariance_weight: float = 1.0,
    eps: float = 1e-4,
    gamma: float = 1.0,
) -> VICRegTerms:
    r"""The VICReg loss and its three named terms, in the official code's normalization.

    Bardes, Ponce, LeCun, "VICReg", ICLR 2022, arXiv:2105.04906v3, eq. 6 with the constants
    of the official code (see the module docstring):

    .. math::

        \mathcal L = \lambda\, s(Z, Z')
          + \mu\, \tfrac12\big[v(Z) + v(Z')\big]
          + \nu\, \big[c(Z) + c(Z')\big],

    with :math:`s`, :math:`v`, :math:`c` from :func:`invariance_term`, :func:`variance_term`,
    :func:`covariance_term`. The paper's eq. 6 has :math:`v(Z) + v(Z')` (no
    :math:`\tfrac12`) and :math:`D` times our :math:`s`.

    Args:
        z_a: first view's embeddings.
        z_b: second view's embeddings; row ``i`` pairs with ``z_a[i]``.
        invariance_weight: :math:`\lambda \ge 0`, 25 (Bardes et al.; official code).
        variance_weight: :math:`\mu \ge 0`, 25 (Bardes et al.; official code).
        covariance_weight: :math:`\nu \ge 0`, 1 (Bardes et al.; official code).
        eps: :math:`\epsilon \ge 0` inside the standard deviation, :math:`10^{-4}` (official code).
        gamma: target standard deviation :math:`\gamma \ge 0`, 1 (Bardes et al., eq. 1).

    Returns:
        A :class:`VICRegTerms` of scalar tensors; the terms are unweighted.

    Shape:
        ``z_a``, ``z_b``: (N, D) with N >= 2.

    Raises:
        TypeError: for non-floating inputs or mismatched dtypes.
        ValueError: for mismatched shapes or devices, fewer than 2 rows, non-finite values,
            negative weights, ``eps`` or ``gamma``.

    Examples:
        Two identical, whitened views: every term vanishes except the tiny
        :math:`\epsilon`-shortfall of the variance hinge.

        >>> z = torch.randn(100, 3, dtype=torch.float64)
        >>> z = z - z.mean(0)
        >>> z = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T  # C = I exactly
        >>> t = vicreg_terms(z, z)
        >>> float(t.invariance), float(t.variance), round(float(t.covariance), 12)
        (0.0, 0.0, 0.0)
    """
    _two_views(z_a, z_b)
    lam, mu, nu, eps, gamma = _weights(invariance_weight, variance_weight, covariance_weight, eps,
                                       gamma)
    inv = F.mse_loss(z_a, z_b)  # s(Z, Z'), mean over N*D entries
    # each view is centred once; its variances feed both the hinge and the covariance term
    (diag_a, cov_a), (diag_b, cov_b) = _view_stats(z_a, "auto"), _view_stats(z_b, "auto")
    # official code: the variance hinge is *averaged* over the two branches
    var = 0.5 * (_hinge(diag_a, gamma, eps) + _hinge(diag_b, gamma, eps))
    # ... and the covariance penalty is *summed* over them
    cov = cov_a + cov_b
    return VICRegTerms(lam * inv + mu * var + nu * cov, inv, var, cov)


def vicreg_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    *,
    invariance_weight: float = 25.0,
    variance_weight: float = 25.0,
    covariance_weight: float = 1.0,
    eps: float = 1e-4,
    gamma: float = 1.0,
) -> torch.Tensor:
    r"""The VICReg loss :math:`\lambda s + \mu\tfrac12[v(Z)+v(Z')] + \nu[c(Z)+c(Z')]` (minimize).

    Bardes, Ponce, LeCun, "VICReg", ICLR 2022, arXiv:2105.04906v3, eq. 6, in the official
    code's normalization (invariance averaged over the :math:`N D` entries, variance averaged
    over the two branches, covariance summed over them); :func:`vicreg_terms` returns the
    terms and states the formula in full.

    Args:
        z_a: first view's embeddings.
        z_b: second view's embeddings; row ``i`` pairs with ``z_a[i]``.
        invariance_weight: :math:`\lambda \ge 0`, 25 (Bardes et al.; official code).
        variance_weight: :math:`\mu \ge 0`, 25 (Bardes et al.; official code).
        covariance_weight: :math:`\nu \ge 0`, 1 (Bardes et al.; official code).
        eps: :math:`\epsilon \ge 0` inside the standard deviation, :math:`10^{-4}` (official code).
        gamma: target standard deviation :math:`\gamma \ge 0`, 1 (Bardes et al., eq. 1).

    Returns:
        A scalar tensor, :math:`\ge 0`.

    Shape:
        ``z_a``, ``z_b``: (N, D) with N >= 2 -> ().

    Raises:
        TypeError / ValueError: as :func:`vicreg_terms`.

    Examples:
        The loss is invariant to translating both views by the same vector, and complete
        collapse costs :math:`\mu(\gamma - \sqrt\epsilon)` exactly:

        >>> z_a, z_b = torch.randn(32, 4), torch.randn(32, 4)
        >>> shift = torch.tensor([5.0, -1.0, 0.0, 2.0])
        >>> bool(torch.isclose(vicreg_loss(z_a + shift, z_b + shift), vicreg_loss(z_a, z_b)))
        True
        >>> c = torch.zeros(32, 4)
        >>> round(float(vicreg_loss(c, c)), 4)  # 25 * (1 - 0.01)
        24.75
    """
    return vicreg_terms(z_a, z_b, invariance_weight=invariance_weight,
                        variance_weight=variance_weight,
                        covariance_weight=covariance_weight, eps=eps, gamma=gamma).loss


class VICRegLoss(nn.Module):
    r"""Module wrapper of :func:`vicreg_loss` (stores the hyper-parameters).

    Bardes, Ponce, LeCun, "VICReg", ICLR 2022, arXiv:2105.04906v3; defaults and normalization
    as :func:`vicreg_loss`.

    Shape:
        ``z_a``, ``z_b``: (N, D) with N >= 2 -> ().

    Examples:
        >>> z_a, z_b = torch.randn(16, 8), torch.randn(16, 8)
        >>> bool(VICRegLoss()(z_a, z_b) == vicreg_loss(z_a, z_b))
        True
    """

    def __init__(self, *, invariance_weight: float = 25.0, variance_weight: float = 25.0,
                 covariance_weight: float = 1.0, eps: float = 1e-4, gamma: float = 1.0) -> None:
        super().__init__()
        (self.invariance_weight, self.variance_weight, self.covariance_weight, self.eps,
         self.gamma) = _weights(invariance_weight, variance_weight, covariance_weight, eps, gamma)

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return vicreg_loss(z_a, z_b, invariance_weight=self.invariance_weight,
                           variance_weight=self.variance_weight,
                           covariance_weight=self.covariance_weight, eps=self.eps, gamma=self.gamma)

    def extra_repr(self) -> str:
        return hyper_parameters(self)
