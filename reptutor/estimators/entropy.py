r"""Differential entropy of representations: Gaussian log-det forms, the Hadamard gap, kNN.

Shwartz-Ziv, Balestriero, Kawaguchi, Rudner, LeCun, "An Information-Theoretic Perspective on
Variance-Invariance-Covariance Regularization", NeurIPS 2023, arXiv:2303.00633, read VICReg as
maximizing a lower bound :math:`I(Z;Z') \ge H(Z) + \mathbb E\log q(Z\mid Z')` in which the
entropy :math:`H(Z)` is replaced by the Gaussian (maximum-entropy) value
:math:`\tfrac12\log\det(2\pi e\,C)` of the representation's covariance :math:`C`. This module
holds the pieces that make that reading measurable:

* :func:`gaussian_entropy` and :func:`logdet_entropy`: :math:`\tfrac12\log\det(2\pi e\,C)`,
  exact for a Gaussian and an upper bound on :math:`H(Z)` for any law with covariance
  :math:`C` (Cover and Thomas, *Elements of Information Theory*, 2nd ed., 2006, Thm. 8.6.5);
* :func:`hadamard_gap` and :func:`hadamard_gap_bounds`: how far :math:`\log\det C` lies below
  :math:`\sum_k \log C_{kk}` (Hadamard's inequality), bounded on both sides by the squared
  off-diagonal correlations that VICReg's covariance term penalizes;
* :func:`gaussian_mutual_information`: the exact mutual information of jointly Gaussian blocks;
* :func:`vicreg_information_bound`: the Gaussian-entropy + Gaussian-decoder bound written with
  VICReg's invariance term;
* :func:`knn_entropy`: the Kozachenko-Leonenko nearest-neighbour estimate, which assumes no
  Gaussianity and so can test the Gaussian formulas.

All entropies are differential entropies in nats.

**Precision and devices.** The factorisations (Cholesky, eigenvalues) and distances run in
float32 for float16 / bfloat16 inputs (LAPACK has no half-precision kernels) and the result is
returned in the input's dtype; float32 and float64 are computed in their own dtype. Every
function reads values (a positive-definiteness test, a rank test, a sort), so tensors on the
``meta`` device are rejected with a ``ValueError`` naming the argument.

Taught in the chapter *VICReg from an information-theoretic view*
(``notebooks/01_information/07_vicreg_information``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from reptutor import _checks, _precision

__all__ = [
    "gaussian_entropy",
    "logdet_entropy",
    "hadamard_gap",
    "hadamard_gap_bounds",
    "HadamardGapBounds",
    "gaussian_mutual_information",
    "vicreg_information_bound",
    "knn_entropy",
]

_LOG_2PI_E = math.log(2.0 * math.pi * math.e)


def _covariance_matrix(name: str, cov: torch.Tensor, func: str) -> torch.Tensor:
    """Validate a symmetric positive-definite ``(D, D)`` matrix; return its Cholesky factor.

    The factor is in the working dtype (float32 for a half-precision ``cov``); the symmetry
    allowance is the round-off of ``cov``'s own dtype.
    """
    _checks.tensor(name, cov, ndim=2)
    _checks.square(name, cov)
    _precision.has_values(name, cov, func, "it tests positive definiteness")
    c = cov.detach()
    asym = float((c - c.T).abs().max())
    scale = float(c.abs().max())
    if asym > 1e3 * torch.finfo(cov.dtype).eps * max(scale, 1e-30):  # round-off allowance
        raise ValueError(f"{name} must be symmetric, got max |{name} - {name}.T| = {asym:.3g}")
    chol, info = torch.linalg.cholesky_ex(_precision.upcast(cov))
    if int(info) != 0:
        raise ValueError(
            f"{name} must be positive definite, got a matrix whose Cholesky factorization "
            f"fails at column {int(info) - 1} (a zero or negative pivot: collapsed or "
            "linearly dependent coordinates)"
        )
    return chol


def _logdet_from_cholesky(chol: torch.Tensor) -> torch.Tensor:
    return 2.0 * chol.diagonal().log().sum()  # log det C = 2 sum_k log L_kk


def _sample_covariance(z: torch.Tensor) -> torch.Tensor:
    zc = z - z.mean(dim=0, keepdim=True)  # (N, D) centred
    return zc.T @ zc / (z.shape[0] - 1)  # (D, D), unbiased as in VICReg


def gaussian_entropy(cov: torch.Tensor) -> torch.Tensor:
    r"""Differential entropy of :math:`\mathcal N(\mu, C)`, in nats.

    Cover and Thomas, *Elements of Information Theory*, 2nd ed., Wiley 2006, Thm. 8.4.1:

    .. math::

        H\big(\mathcal N(\mu, C)\big) = \tfrac12 \log\det(2\pi e\, C)
          = \tfrac D2 \log(2\pi e) + \tfrac12\log\det C .

    For *any* distribution with covariance :math:`C` this value is an upper bound on the
    entropy, with equality iff the distribution is Gaussian (Thm. 8.6.5 there). It is the
    entropy surrogate of Shwartz-Ziv et al. (NeurIPS 2023, arXiv:2303.00633). The log
    determinant is computed from a Cholesky factor.

    Args:
        cov: a symmetric positive-definite covariance matrix.

    Returns:
        A scalar tensor in nats, possibly negative (a differential entropy).

    Shape:
        ``(D, D) -> ()``.

    Raises:
        TypeError: if ``cov`` is not a floating tensor.
        ValueError: if ``cov`` is not a finite, square, symmetric, positive-definite matrix.

    Examples:
        Scaling a variable by :math:`a` adds :math:`\log|a|` per coordinate; the standard
        normal in one dimension has :math:`\tfrac12\log(2\pi e) \approx 1.4189`:

        >>> round(float(gaussian_entropy(torch.eye(1))), 4)
        1.4189
        >>> h1 = gaussian_entropy(torch.eye(3))
        >>> h9 = gaussian_entropy(9.0 * torch.eye(3))  # std 3 in each of 3 coordinates
        >>> bool(torch.isclose(h9 - h1, torch.tensor(3 * math.log(3.0))))
        True
    """
    chol = _covariance_matrix("cov", cov, "gaussian_entropy")
    d = cov.shape[0]
    return (0.5 * (d * _LOG_2PI_E + _logdet_from_cholesky(chol))).to(cov.dtype)


def logdet_entropy(z: torch.Tensor, *, ridge: float = 0.0) -> torch.Tensor:
    r"""The Gaussian (log-det) entropy of a sample, :math:`\tfrac12\log\det(2\pi e\,\hat C)`.

    Shwartz-Ziv et al., NeurIPS 2023, arXiv:2303.00633 (the entropy surrogate behind VICReg's
    variance and covariance terms). With the unbiased sample covariance
    :math:`\hat C = \frac1{N-1}\sum_i (z_i-\bar z)(z_i-\bar z)^\top` (as in VICReg) and a
    ridge :math:`\delta \ge 0`,

    .. math::

        \hat H_{\mathrm G}(Z) = \tfrac D2 \log(2\pi e) + \tfrac12\log\det(\hat C + \delta I).

    It estimates :math:`\tfrac12\log\det(2\pi e\, C)`, which upper-bounds :math:`H(Z)` for any
    law with covariance :math:`C` and equals it for a Gaussian. With :math:`N \le D` and
    :math:`\delta = 0` the sample covariance has rank at most :math:`N-1 < D` and the result is
    :math:`-\infty`; so is a numerically singular :math:`\hat C` (collapsed coordinates): an
    eigenvalue at most :math:`D` times the dtype's machine epsilon times the largest one, the
    rank tolerance of ``numpy.linalg.matrix_rank``.

    Args:
        z: samples of the representation.
        ridge: :math:`\delta \ge 0` added to the diagonal (0: the plain estimate).

    Returns:
        A scalar tensor in nats, possibly ``-inf``.

    Shape:
        ``(N, D) -> ()`` with N >= 2.

    Raises:
        TypeError: if ``z`` is not a floating tensor.
        ValueError: if ``z`` is not a finite 2-D tensor with at least 2 rows, or ``ridge < 0``.

    Examples:
        Appending a duplicated coordinate collapses the covariance: the entropy is
        :math:`-\infty`, the signature of dimensional collapse.

        >>> z = torch.randn(500, 2, dtype=torch.float64)
        >>> float(logdet_entropy(torch.cat([z, z[:, :1]], dim=1)))
        -inf
        >>> bool(logdet_entropy(z) > 2.0)  # close to log(2 pi e) = 2.838 for N(0, I_2)
        True
    """
    _checks.tensor("z", z, ndim=2, min_rows=2)
    ridge = _checks.number("ridge", ridge, nonnegative=True)
    _precision.has_values("z", z, "logdet_entropy", "it tests the covariance's numerical rank")
    n, d = z.shape
    if n <= d and ridge == 0.0:
        return torch.full((), float("-inf"), dtype=z.dtype, device=z.device)
    w = _precision.upcast(z)  # (N, D) in the working dtype
    cov = _sample_covariance(w)  # (D, D)
    if ridge > 0.0:
        cov = cov + ridge * torch.eye(d, dtype=w.dtype, device=w.device)
    # numerical rank test, as numpy.linalg.matrix_rank: eigenvalues below D * eps * largest
    eig = torch.linalg.eigvalsh(cov.detach())  # ascending
    chol, info = torch.linalg.cholesky_ex(cov)
    if int(info) != 0 or float(eig[0]) <= d * torch.finfo(w.dtype).eps * float(eig[-1]):
        return torch.full((), float("-inf"), dtype=z.dtype, device=z.device)  # collapsed
    return (0.5 * (d * _LOG_2PI_E + _logdet_from_cholesky(chol))).to(z.dtype)


def hadamard_gap(cov: torch.Tensor) -> torch.Tensor:
    r"""How far :math:`\log\det C` lies below :math:`\sum_k \log C_{kk}` (Hadamard's inequality).

    Cover and Thomas, *Elements of Information Theory*, 2nd ed., Wiley 2006, Thm. 17.9.2
    (Hadamard): :math:`\det C \le \prod_k C_{kk}`, with equality iff :math:`C` is diagonal.
    With the correlation matrix :math:`R = \mathrm{diag}(C)^{-1/2}\, C\, \mathrm{diag}(C)^{-1/2}`,

    .. math::

        g(C) = \sum_{k=1}^D \log C_{kk} - \log\det C = -\log\det R \ \ge 0 .

    Hence :math:`\tfrac12\log\det(2\pi e\,C) = \sum_k \tfrac12\log(2\pi e\,C_{kk}) -
    \tfrac12 g(C)`: VICReg's variance term controls the first sum, its covariance term the
    gap (see :func:`hadamard_gap_bounds`). Shwartz-Ziv et al., NeurIPS 2023,
    arXiv:2303.00633, use this to read the two terms as a proxy for the log-det entropy.
    :math:`g` is invariant to rescaling each coordinate.

    Args:
        cov: a symmetric positive-definite covariance matrix.

    Returns:
        A scalar tensor, :math:`\ge 0` (up to round-off), zero iff ``cov`` is diagonal.

    Shape:
        ``(D, D) -> ()``.

    Raises:
        TypeError / ValueError: as :func:`gaussian_entropy`.

    Examples:
        Two coordinates with correlation :math:`\rho` have :math:`g = -\log(1-\rho^2)`,
        whatever their scales:

        >>> c = torch.tensor([[4.0, 0.6 * 2 * 3], [0.6 * 2 * 3, 9.0]], dtype=torch.float64)
        >>> round(float(hadamard_gap(c)), 6) == round(-math.log(1 - 0.36), 6)
        True
        >>> float(hadamard_gap(torch.diag(torch.tensor([1.0, 5.0, 0.1]))))  # diagonal
        0.0
    """
    _covariance_matrix("cov", cov, "hadamard_gap")
    c = _precision.upcast(cov)  # (D, D) in the working dtype
    inv_sd = c.diagonal().rsqrt()  # (D,) 1/sqrt(C_kk)
    corr = c * inv_sd[:, None] * inv_sd[None, :]  # (D, D) correlation matrix R
    chol, info = torch.linalg.cholesky_ex(corr)
    if int(info) != 0:  # pragma: no cover - cov passed the PD check, R is congruent to it
        raise ValueError("cov must be positive definite, got a singular correlation matrix")
    return (-_logdet_from_cholesky(chol)).to(cov.dtype)


class HadamardGapBounds(NamedTuple):
    r"""The Hadamard gap and its two-sided bound by the squared off-diagonal correlations.

    Attributes:
        gap: :math:`g(C) = -\log\det R`, see :func:`hadamard_gap`.
        lower: :math:`\lVert R - I\rVert_F^2 / (2\lambda_{\max}(R)^2)`.
        upper: :math:`\lVert R - I\rVert_F^2 / (2\lambda_{\min}(R)^2)`.
        off_diagonal: :math:`\lVert R - I\rVert_F^2 = \sum_{k\ne l} R_{kl}^2`.
    """

    gap: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor
    off_diagonal: torch.Tensor


def hadamard_gap_bounds(cov: torch.Tensor) -> HadamardGapBounds:
    r"""Bound the Hadamard gap above and below by the squared off-diagonal correlations.

    The relation between VICReg's covariance term and the log-det entropy, made exact
    (Shwartz-Ziv et al., NeurIPS 2023, arXiv:2303.00633, read the covariance term as pushing
    :math:`\log\det C` towards :math:`\sum_k\log C_{kk}`; the two-sided bound is derived in the
    chapter). Let :math:`\lambda_1..\lambda_D` be the eigenvalues of the correlation matrix
    :math:`R`. Since :math:`\operatorname{tr} R = D`, :math:`\sum_i(\lambda_i - 1) = 0` and
    :math:`\lambda_{\min} \le 1 \le \lambda_{\max}`, so

    .. math::

        g(C) = -\sum_i \log\lambda_i = \sum_i \phi(\lambda_i), \qquad
        \phi(\lambda) = \lambda - 1 - \log\lambda = \frac{(\lambda-1)^2}{2\xi^2}

    for some :math:`\xi` between 1 and :math:`\lambda` (Taylor, :math:`\phi'' = 1/\lambda^2`).
    With :math:`\sum_i(\lambda_i-1)^2 = \lVert R - I\rVert_F^2 = \sum_{k\ne l}R_{kl}^2`:

    .. math::

        \frac{\lVert R - I\rVert_F^2}{2\lambda_{\max}^2} \ \le\ g(C)\ \le\
        \frac{\lVert R - I\rVert_F^2}{2\lambda_{\min}^2} .

    If every :math:`C_{kk} \ge v`, then :math:`\lVert R-I\rVert_F^2 \le D\,c(Z)/v^2` with
    :math:`c(Z) = \frac1D\sum_{k\ne l}C_{kl}^2` VICReg's covariance term of one branch.

    Args:
        cov: a symmetric positive-definite covariance matrix.

    Returns:
        A :class:`HadamardGapBounds` of scalar tensors with ``lower <= gap <= upper``.

    Shape:
        ``(D, D) -> ()`` for each field.

    Raises:
        TypeError / ValueError: as :func:`gaussian_entropy`.

    Examples:
        >>> a = torch.randn(200, 5, dtype=torch.float64)
        >>> b = hadamard_gap_bounds(torch.cov(a.T) + 0.5)  # a common factor correlates all
        >>> bool(b.lower <= b.gap <= b.upper)
        True
        >>> b = hadamard_gap_bounds(torch.eye(4))  # diagonal: everything is zero
        >>> float(b.gap), float(b.lower), float(b.upper)
        (0.0, 0.0, 0.0)
    """
    _covariance_matrix("cov", cov, "hadamard_gap_bounds")
    c = _precision.upcast(cov)  # (D, D) in the working dtype
    inv_sd = c.diagonal().rsqrt()  # (D,)
    corr = c * inv_sd[:, None] * inv_sd[None, :]  # (D, D) R
    gap = -_logdet_from_cholesky(torch.linalg.cholesky(corr))  # as hadamard_gap
    eye = torch.eye(c.shape[0], dtype=c.dtype, device=c.device)
    off = (corr - eye).pow(2).sum()  # sum_{k != l} R_kl^2 (the diagonal of R - I is 0)
    lam = torch.linalg.eigvalsh(corr)  # ascending eigenvalues of R
    out = (gap, off / (2 * lam[-1] ** 2), off / (2 * lam[0] ** 2), off)
    return HadamardGapBounds(*(t.to(cov.dtype) for t in out))


def gaussian_mutual_information(cov: torch.Tensor, dim_a: int) -> torch.Tensor:
    r"""Exact mutual information between two blocks of a Gaussian vector, in nats.

    Cover and Thomas, *Elements of Information Theory*, 2nd ed., Wiley 2006 (Thm. 8.4.1 applied
    to :math:`I = H(A) + H(B) - H(A, B)`). For :math:`(A, B) \sim \mathcal N(\mu, \Sigma)`
    with :math:`A` the first ``dim_a`` coordinates,

    .. math::

        I(A; B) = \tfrac12\big(\log\det\Sigma_{AA} + \log\det\Sigma_{BB} - \log\det\Sigma\big)
          = -\tfrac12\sum_k \log(1 - \rho_k^2),

    with :math:`\rho_k` the canonical correlations between the blocks.

    Args:
        cov: the joint covariance :math:`\Sigma`, symmetric positive definite.
        dim_a: the size of the first block, :math:`1 \le` ``dim_a`` :math:`< D`.

    Returns:
        A scalar tensor, :math:`\ge 0` (up to round-off), zero iff the blocks are uncorrelated.

    Shape:
        ``(D, D) -> ()``.

    Raises:
        TypeError: if ``cov`` is not a floating tensor or ``dim_a`` not an integer.
        ValueError: if ``cov`` is not symmetric positive definite, or ``dim_a`` out of range.

    Examples:
        Two unit-variance scalars with correlation :math:`\rho` share
        :math:`-\tfrac12\log(1-\rho^2)` nats:

        >>> s = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
        >>> i = gaussian_mutual_information(s, 1)
        >>> round(float(i), 6) == round(-0.5 * math.log(1 - 0.64), 6)
        True
        >>> float(gaussian_mutual_information(torch.eye(4), 2))  # independent blocks
        0.0
    """
    chol = _covariance_matrix("cov", cov, "gaussian_mutual_information")
    d = cov.shape[0]
    _checks.integer("dim_a", dim_a, minimum=1, maximum=d - 1)
    c = _precision.upcast(cov)  # (D, D) in the working dtype
    chol_a = torch.linalg.cholesky(c[:dim_a, :dim_a])  # principal blocks of a PD matrix are PD
    chol_b = torch.linalg.cholesky(c[dim_a:, dim_a:])
    return (0.5 * (_logdet_from_cholesky(chol_a) + _logdet_from_cholesky(chol_b)
                   - _logdet_from_cholesky(chol))).to(cov.dtype)


def vicreg_information_bound(cov: torch.Tensor, invariance: torch.Tensor | float) -> torch.Tensor:
    r"""The Gaussian lower bound on :math:`I(Z;Z')` written with VICReg's invariance term.

    Shwartz-Ziv et al., NeurIPS 2023, arXiv:2303.00633 (VICReg as
    :math:`I(Z;Z') \ge H(Z) + \mathbb E\log q(Z\mid Z')` with a Gaussian :math:`q`; the
    constants are worked out in the chapter). For any density :math:`q`,
    :math:`H(Z\mid Z') \le -\mathbb E\log q(Z\mid Z')`.
    Take :math:`q(z\mid z') = \mathcal N(z; z', sI)` and the best :math:`s`, the invariance
    term :math:`s = \frac1D\mathbb E\lVert Z - Z'\rVert^2` (official-code normalization of
    :func:`reptutor.losses.invariance_term`): then
    :math:`-\mathbb E\log q = \tfrac D2\log(2\pi e\, s)`. If :math:`Z` is Gaussian with
    covariance :math:`C`, :math:`H(Z) = \tfrac12\log\det(2\pi e\,C)` and

    .. math::

        I(Z; Z') \ \ge\ \tfrac12 \log\det C - \tfrac D2 \log s .

    The right side is invariant to rescaling :math:`Z` and :math:`Z'` together. If :math:`Z`
    is *not* Gaussian the log-det term over-states :math:`H(Z)` and the right side is no
    longer guaranteed to be below :math:`I(Z;Z')`. Since :math:`Z' = f(X')`, it also
    lower-bounds :math:`I(Z; X') \ge I(Z; Z')`, the quantity of the paper.

    Args:
        cov: the covariance :math:`C` of :math:`Z`, symmetric positive definite.
        invariance: :math:`s > 0`, the mean squared difference per coordinate.

    Returns:
        A scalar tensor in nats.

    Shape:
        ``cov``: (D, D); ``invariance``: a number or a 0-d tensor -> ().

    Raises:
        TypeError / ValueError: as :func:`gaussian_entropy`, and for a non-positive
            ``invariance``.

    Examples:
        One coordinate, :math:`Z' = \rho Z + \sqrt{1-\rho^2}\,\varepsilon` with unit variances:
        :math:`s = 2(1-\rho)` and the bound :math:`-\tfrac12\log(2(1-\rho))` stays below the
        exact :math:`-\tfrac12\log(1-\rho^2)`:

        >>> rho = 0.9
        >>> bound = vicreg_information_bound(torch.eye(1, dtype=torch.float64), 2 * (1 - rho))
        >>> exact = -0.5 * math.log(1 - rho ** 2)
        >>> round(float(bound), 4), round(exact, 4)
        (0.8047, 0.8304)
    """
    chol = _covariance_matrix("cov", cov, "vicreg_information_bound")
    s = _checks.number("invariance", invariance, positive=True)
    work = chol.dtype
    if isinstance(invariance, torch.Tensor):
        log_s = torch.log(invariance.to(dtype=work, device=cov.device))
    else:
        log_s = torch.tensor(math.log(s), dtype=work, device=cov.device)
    d = cov.shape[0]
    return (0.5 * _logdet_from_cholesky(chol) - 0.5 * d * log_s).to(cov.dtype)


def knn_entropy(z: torch.Tensor, *, k: int = 3, chunk_size: int = 1024) -> torch.Tensor:
    r"""Kozachenko-Leonenko nearest-neighbour estimate of the differential entropy, in nats.

    Kozachenko and Leonenko, "Sample estimate of the entropy of a random vector", Problems of
    Information Transmission 23, 1987; in the Euclidean form of Kraskov, Stögbauer, Grassberger,
    "Estimating mutual information", Phys. Rev. E 69, 2004, arXiv:cond-mat/0305641 (eq. 20).
    With :math:`\rho_i` the Euclidean distance from :math:`z_i` to its :math:`k`-th nearest
    other sample and :math:`c_D = \pi^{D/2}/\Gamma(1 + D/2)` the volume of the unit ball,

    .. math::

        \hat H = \psi(N) - \psi(k) + \log c_D + \frac DN \sum_{i=1}^N \log \rho_i .

    It is consistent for any density (no Gaussian assumption), with a bias that grows with
    :math:`D`; here it checks the Gaussian formulas in low dimension. Distances are computed
    exactly (no :math:`\lVert a\rVert^2 + \lVert b\rVert^2 - 2a^\top b` shortcut, which loses
    the small distances that matter here) in row chunks, so memory is
    :math:`O(N \cdot \text{chunk\_size})`.

    Args:
        z: samples.
        k: the neighbour rank, :math:`1 \le k < N`; 3 as in Kraskov et al. (2004).
        chunk_size: rows per distance block (memory knob; the value is unchanged).

    Returns:
        A scalar tensor in nats.

    Shape:
        ``(N, D) -> ()``.

    Raises:
        TypeError: if ``z`` is not a floating tensor or ``k``/``chunk_size`` not integers.
        ValueError: if ``z`` is not finite and 2-D, ``k`` is out of range, or a sample has its
            ``k``-th neighbour at distance 0 (duplicated rows).

    Examples:
        Shifting the samples changes nothing and scaling by :math:`a` adds exactly
        :math:`D\log a`, as for the true entropy:

        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.randn(2000, 2, generator=g, dtype=torch.float64)
        >>> h = knn_entropy(z)
        >>> bool(torch.isclose(knn_entropy(3 * z + 1), h + 2 * math.log(3)))
        True
        >>> abs(float(h) - math.log(2 * math.pi * math.e)) < 0.1  # N(0, I_2): 2.838 nats
        True
    """
    _checks.tensor("z", z, ndim=2, min_rows=2)
    n, d = z.shape
    _checks.integer("k", k, minimum=1, maximum=n - 1)
    _checks.integer("chunk_size", chunk_size, minimum=1)
    _precision.has_values("z", z, "knn_entropy", "it sorts the pairwise distances")
    out_dtype, z = z.dtype, _precision.upcast(z)  # cdist has no half-precision kernel
    kth = []
    with torch.no_grad():  # the search picks indices only; the distances are recomputed below
        for start in range(0, n, chunk_size):  # loop over row blocks, not samples
            block = z[start:start + chunk_size]  # (chunk, D) a block of rows
            dist = torch.cdist(block, z, compute_mode="donot_use_mm_for_euclid_dist")  # (chunk, N)
            # the k + 1 smallest include the sample itself at distance 0
            kth.append(dist.topk(k + 1, dim=1, largest=False).indices[:, k])  # (chunk,)
    # (N,) distance to the k-th neighbour, from plain ops: O(N D) to keep for the backward, and
    # differentiable twice (autograd has no double backward through cdist)
    rho = (z - z[torch.cat(kth)]).norm(dim=1)
    if bool((rho == 0).any()):
        raise ValueError(
            f"z has {int((rho == 0).sum())} sample(s) whose {k}-th nearest neighbour is at "
            "distance 0 (duplicated rows); remove duplicates, add jitter or raise k"
        )
    log_unit_ball = 0.5 * d * math.log(math.pi) - math.lgamma(1 + 0.5 * d)
    const = torch.special.digamma(torch.tensor(float(n), dtype=torch.float64)) - \
        torch.special.digamma(torch.tensor(float(k), dtype=torch.float64)) + log_unit_ball
    return (const.to(z.dtype).to(z.device) + d * rho.log().mean()).to(out_dtype)
