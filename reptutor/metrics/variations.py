r"""How much a target varies on a graph, and how much of it a few minimal-variation functions
leave out.

V. Cabannes, A. Bietti, R. Balestriero. *On Minimal Variations for Unsupervised Representation
Learning*. ICASSP 2023, arXiv:2211.03782v1. Its principle: unsupervised representations (graph
Laplacian eigenmaps, diffusion maps, self-supervised learning) keep the functions that vary
least where the data are dense, so they serve the downstream targets that do the same. With
the Dirichlet energy of a target on a graph, :math:`\mathcal E(f) = f^\top L f`, and the
eigenpairs :math:`(\lambda_k, u_k)` of :math:`L` (increasing), the part of :math:`f` left out
by :math:`u_1, \dots, u_p` obeys

.. math::

    \lVert f - \Pi_p f\rVert^2 \;\le\; \frac{\mathcal E(f)}{\lambda_{p+1}},

because :math:`\mathcal E(f) = \sum_k \lambda_k \langle u_k, f\rangle^2 \ge
\lambda_{p+1}\sum_{k > p}\langle u_k, f\rangle^2`. This module computes the three quantities:
:func:`dirichlet_energy`, :func:`projection_residual` (the left-hand side, for any basis, so
also for learned features) and :func:`spectral_residual_bound` (the right-hand side).

Taught in the chapter *Minimal variations* (``notebooks/02_noncontrastive/03_minimal_variations``).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from reptutor import _checks, _precision

__all__ = ["dirichlet_energy", "projection_residual", "spectral_residual_bound"]


def _target(f: torch.Tensor) -> torch.Tensor:
    _checks.tensor("f", f, ndim=(1, 2))
    return f if f.ndim == 2 else f[:, None]  # (N, K)


def _laplacian(laplacian: torch.Tensor, n: int, f: torch.Tensor) -> torch.Tensor:
    _checks.tensor("laplacian", laplacian, ndim=2)
    _checks.square("laplacian", laplacian)
    if laplacian.shape[0] != n:
        raise ValueError(f"laplacian must be ({n}, {n}) to match the {n} rows of f, got "
                         f"{tuple(laplacian.shape)}")
    _checks.same_device_dtype("f", f, "laplacian", laplacian)
    return laplacian


def dirichlet_energy(f: torch.Tensor, laplacian: torch.Tensor) -> torch.Tensor:
    r"""Dirichlet energy of a target on a graph: :math:`\mathcal E(f) = \operatorname{Tr}(F^\top L F)`.

    For :math:`L = D - W`, :math:`\mathcal E(f) = \tfrac12\sum_{ij}W_{ij}\lVert f_i - f_j\rVert^2`
    (summed over the :math:`K` columns): the graph form of
    :math:`\mathbb E_{x\sim\rho}\lVert\nabla f(x)\rVert^2`, the variation that Cabannes, Bietti
    and Balestriero (ICASSP 2023, arXiv:2211.03782) say downstream targets keep small where the
    data are dense (see :func:`reptutor.solvers.gaussian_graph` for the constants of the
    population limit). No centring: :math:`L\mathbf 1 = 0` makes it shift-invariant. Not
    normalized by :math:`\lVert f\rVert^2` (divide for a Rayleigh quotient). Differentiable in
    ``f`` and ``laplacian``.

    Args:
        f: (N,) target, or (N, K) features.
        laplacian: (N, N) symmetric matrix :math:`L`, same dtype and device as ``f``.

    Returns:
        A scalar tensor, :math:`\ge 0` for a graph Laplacian.

    Shape:
        ``f``: (N,) or (N, K); ``laplacian``: (N, N); output: ().

    Raises:
        TypeError / ValueError: for non-float or non-finite inputs, a ``laplacian`` that is not
            square or does not match the rows of ``f``, or mismatched dtypes / devices.

    Examples:
        The path 0 - 1 - 2 and a step between nodes 1 and 2: one edge is cut.

        >>> from reptutor.solvers import graph_laplacian
        >>> lap = graph_laplacian(torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]]))
        >>> float(dirichlet_energy(torch.tensor([0.0, 0.0, 1.0]), lap))
        1.0
        >>> float(dirichlet_energy(torch.tensor([5.0, 5.0, 5.0]), lap))  # constants are free
        0.0
    """
    fk = _target(f)
    lap = _laplacian(laplacian, fk.shape[0], fk)
    return (fk * (lap @ fk)).sum()  # Tr(F^T L F)


def projection_residual(f: torch.Tensor, basis: torch.Tensor, *, relative: bool = True) -> float:
    r"""The part of a target that a basis leaves out: :math:`\lVert f - \Pi f\rVert^2`.

    :math:`\Pi` is the orthogonal projection onto the span of the columns of ``basis`` (which
    need not be orthonormal: the span is taken from a thin SVD, dropping directions whose
    singular value is below :math:`N\,\varepsilon\,s_{\max}`). With the first :math:`p`
    eigenvectors of a graph Laplacian it is the left-hand side of the bound of
    :func:`spectral_residual_bound`; with learned features and a constant column, it is the
    training error of a least-squares linear probe. With ``relative``, divided by
    :math:`\lVert f\rVert^2` (a value in :math:`[0, 1]`; 0 means :math:`f` is in the span).
    Summed over the columns of an (N, K) ``f``. Computed in float64.

    Args:
        f: (N,) target or (N, K) targets.
        basis: (N, p) columns spanning the subspace.
        relative: divide by :math:`\lVert f\rVert_F^2`.

    Returns:
        A float, :math:`\ge 0` (in :math:`[0, 1]` when ``relative``).

    Shape:
        ``f``: (N,) or (N, K); ``basis``: (N, p).

    Raises:
        TypeError / ValueError: for non-float or non-finite inputs, a ``basis`` whose rows do not
            match ``f``, mismatched devices, a non-bool ``relative``, or a zero ``f`` with
            ``relative``.

    Examples:
        A vector in the span is kept whole; one orthogonal to it is left out entirely.

        >>> b = torch.tensor([[1.0], [1.0], [0.0]])
        >>> projection_residual(torch.tensor([2.0, 2.0, 0.0]), b)
        0.0
        >>> projection_residual(torch.tensor([1.0, -1.0, 0.0]), b)
        1.0
    """
    fk = _target(f)
    _checks.tensor("basis", basis, ndim=2)
    if basis.shape[0] != fk.shape[0]:
        raise ValueError(f"basis must have {fk.shape[0]} rows (one per row of f), got "
                         f"{tuple(basis.shape)}")
    _checks.same_device("f", fk, "basis", basis)
    relative = _checks.boolean("relative", relative)
    _precision.has_values("basis", basis, "projection_residual", "it factorizes the basis")
    fv = fk.detach().to("cpu", torch.float64).numpy()
    b = basis.detach().to("cpu", torch.float64).numpy()
    total = float((fv**2).sum())
    if relative and total == 0.0:
        raise ValueError("f must not be zero with relative=True (its squared norm divides)")
    u, s, _ = np.linalg.svd(b, full_matrices=False)
    keep = s > max(b.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)
    u = u[:, keep]  # orthonormal basis of the span
    left = float(((fv - u @ (u.T @ fv)) ** 2).sum())
    return left / total if relative else left


def spectral_residual_bound(f: torch.Tensor, laplacian: torch.Tensor, p: int, *,
                            relative: bool = True) -> float:
    r"""The bound :math:`\mathcal E(f)/\lambda_{p+1}` on what the first :math:`p` eigenvectors of
    :math:`L` leave out of :math:`f`.

    With :math:`(\lambda_k, u_k)` the eigenpairs of :math:`L` in increasing order and
    :math:`\Pi_p` the projection onto :math:`u_1, \dots, u_p`,

    .. math::

        \lVert f - \Pi_p f\rVert^2 \le \frac{f^\top L f}{\lambda_{p+1}}

    (the graph form of the approximation argument of Cabannes, Bietti, Balestriero, ICASSP 2023,
    arXiv:2211.03782: a target with little variation relative to the spectral gap is captured
    by the minimal-variation functions). Computes :func:`dirichlet_energy` over
    :math:`\lambda_{p+1}` (``scipy.linalg.eigh``, float64), divided by
    :math:`\lVert f\rVert^2` when ``relative``; summed over the columns of an (N, K) ``f``.
    Returns ``inf`` when :math:`\lambda_{p+1}` is zero (to round-off) and :math:`\mathcal E(f) > 0`, and 0 when
    :math:`\mathcal E(f) = 0`.

    Args:
        f: (N,) target or (N, K) targets.
        laplacian: (N, N) symmetric positive semi-definite :math:`L`, same dtype and device as ``f``.
        p: number of eigenvectors kept, :math:`1 \le p \le N - 1`.
        relative: divide by :math:`\lVert f\rVert^2` (compare with
            :func:`projection_residual`'s default).

    Returns:
        A float, :math:`\ge 0`.

    Shape:
        ``f``: (N,) or (N, K); ``laplacian``: (N, N).

    Raises:
        TypeError / ValueError: as :func:`dirichlet_energy`, plus ``p`` outside ``[1, N - 1]``,
            a non-bool ``relative``, or a zero ``f`` with ``relative``.

    Examples:
        On the path 0 - 1 - 2 (eigenvalues 0, 1, 3) the step :math:`(0, 0, 1)` has energy 1:
        the bound with :math:`p = 1` is :math:`1/\lambda_2 = 1`, and it holds.

        >>> from reptutor.solvers import graph_laplacian, laplacian_eigenbasis
        >>> lap = graph_laplacian(torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]]))
        >>> f = torch.tensor([0.0, 0.0, 1.0])
        >>> round(spectral_residual_bound(f, lap, 1, relative=False), 6)
        1.0
        >>> u1 = laplacian_eigenbasis(lap, 1).vectors
        >>> round(projection_residual(f, u1, relative=False), 6)  # 1 - 1/3 <= 1
        0.666667
    """
    fk = _target(f)
    lap = _laplacian(laplacian, fk.shape[0], fk)
    n = fk.shape[0]
    p = _checks.integer("p", p, minimum=1, maximum=n - 1)
    relative = _checks.boolean("relative", relative)
    _precision.has_values("f", fk, "spectral_residual_bound", "it returns a number")
    _precision.has_values("laplacian", lap, "spectral_residual_bound", "it solves an eigenproblem")
    energy = float(dirichlet_energy(fk.detach(), lap.detach()).double())
    norm = float(fk.detach().double().square().sum())
    if relative and norm == 0.0:
        raise ValueError("f must not be zero with relative=True (its squared norm divides)")
    a = lap.detach().to("cpu", torch.float64).numpy()
    lam = float(scipy.linalg.eigh(a, eigvals_only=True, subset_by_index=[p, p])[0])  # lambda_{p+1}
    if energy <= 0.0:
        return 0.0
    zero = n * np.finfo(np.float64).eps * max(1.0, float(np.abs(a).max()))  # round-off of a 0
    bound = energy / lam if lam > zero else float("inf")
    return bound / norm if relative else bound
