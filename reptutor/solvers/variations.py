r"""Minimal-variation functions of a point cloud: a Gaussian-kernel graph and its Laplacian
eigenvectors.

V. Cabannes, A. Bietti, R. Balestriero. *On Minimal Variations for Unsupervised Representation
Learning*. ICASSP 2023, arXiv:2211.03782v1. Its official code
(``github.com/VivienCabannes/laplacian``, package ``pssl``, file ``src/pssl/loss.py``) estimates
the variation of a representation three ways: the exact gradient, the finite differences of a
Gaussian-kernel graph, and the difference between a point and a noisy copy (an augmentation).
This module gives the graph and the eigenvectors of its Laplacian, the functions of least graph
variation:

* :func:`gaussian_graph`: :math:`W_{ij} = \exp(-\lVert x_i - x_j\rVert^2 / (2h^2))`, zero
  diagonal (the official ``get_rbf_weights`` with ``sigma = h``: its ``diff_matrix`` returns
  :math:`\lVert x_i - x_j\rVert^2/2`, a factor its docstring leaves out; diagonal removed here);
* :func:`laplacian_eigenbasis`: the first :math:`p` orthonormal eigenvectors of a graph
  Laplacian :math:`L = D - W` (:func:`reptutor.solvers.graph_laplacian`), the constant
  included.

:func:`reptutor.solvers.laplacian_eigenmaps` solves the *generalized* problem
:math:`Ly = \lambda Dy` and drops the constant (the embedding of Belkin & Niyogi); here the
eigenvectors are orthonormal in the plain Euclidean product, the one in which the
approximation bound of :func:`reptutor.metrics.spectral_residual_bound` holds.

Taught in the chapter *Minimal variations* (``notebooks/02_noncontrastive/03_minimal_variations``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg
import torch

from reptutor import _checks, _precision

__all__ = ["LaplacianEigenbasis", "gaussian_graph", "laplacian_eigenbasis"]


class LaplacianEigenbasis(NamedTuple):
    r"""What :func:`laplacian_eigenbasis` returns: ``(vectors, eigenvalues)``.

    Attributes:
        vectors: (N, p) orthonormal eigenvectors :math:`u_1, \dots, u_p` of :math:`L`.
        eigenvalues: (p,) :math:`0 \le \lambda_1 \le \dots \le \lambda_p` (:math:`\lambda_1 = 0`,
            :math:`u_1` constant, for a graph Laplacian).
    """

    vectors: torch.Tensor
    eigenvalues: torch.Tensor


def gaussian_graph(x: torch.Tensor, bandwidth: float) -> torch.Tensor:
    r"""Gaussian-kernel graph of a point cloud: the weights of a finite-difference Laplacian.

    .. math::

        W_{ij} = \exp\!\Big(-\frac{\lVert x_i - x_j\rVert^2}{2h^2}\Big)\ (i \ne j),
        \qquad W_{ii} = 0 .

    With :math:`L = D - W` (:func:`reptutor.solvers.graph_laplacian`),
    :math:`f^\top L f = \tfrac12\sum_{ij} W_{ij}(f_i - f_j)^2`: the finite differences of
    :math:`f` at scale :math:`h`, weighted by how close the points are. For :math:`N` samples
    of a smooth density :math:`\rho` on :math:`\mathbb R^d` and a smooth :math:`f`, to first
    order in :math:`h`,
    :math:`\frac{2}{N^2}\,f^\top L f \to (2\pi)^{d/2} h^{d+2}\int \lVert\nabla f\rVert^2 \rho^2`:
    the unnormalized graph weights the gradient by :math:`\rho^2`, not :math:`\rho`
    (Cabannes, Bietti, Balestriero, ICASSP 2023, arXiv:2211.03782; the official code's
    ``graph_Laplacian`` loss uses these weights with ``sigma_rbf`` :math:`= h`, self-loops kept).

    Args:
        x: (N, D) points.
        bandwidth: :math:`h > 0`.

    Returns:
        :math:`W`, (N, N), symmetric, entries in :math:`[0, 1]`, zero diagonal; dtype and device
        of ``x`` (a float16 / bfloat16 ``x`` is computed in float32, then cast back).

    Shape:
        ``x``: (N, D) with N >= 2; output: (N, N).

    Raises:
        TypeError / ValueError: for an ``x`` that is not a finite 2-D float tensor with at least
            2 rows (or is on the ``meta`` device), or a ``bandwidth`` that is not a positive
            number.

    Examples:
        Two points at distance :math:`h` are joined with weight :math:`e^{-1/2}`:

        >>> w = gaussian_graph(torch.tensor([[0.0, 0.0], [0.0, 0.5]]), bandwidth=0.5)
        >>> round(float(w[0, 1]), 4), float(w[0, 0])
        (0.6065, 0.0)
    """
    _checks.tensor("x", x, ndim=2, min_rows=0)
    _checks.rows("x", x, 2, "a graph needs 2 rows")
    h = _checks.number("bandwidth", bandwidth, positive=True)
    _precision.has_values("x", x, "gaussian_graph", "it computes distances")
    xw = _precision.upcast(x)  # cdist has no half-precision kernel: float32 for float16/bfloat16
    d2 = torch.cdist(xw, xw).square()  # (N, N) squared distances
    w = torch.exp(-d2 / (2.0 * h * h))
    return w.fill_diagonal_(0.0).to(x.dtype)  # no self-loops (they cancel in L anyway)


def laplacian_eigenbasis(laplacian: torch.Tensor, p: int) -> LaplacianEigenbasis:
    r"""The :math:`p` eigenvectors of a symmetric (graph-Laplacian) matrix with the smallest
    eigenvalues, orthonormal: the functions of least variation.

    By Courant-Fischer, :math:`U_p = [u_1, \dots, u_p]` minimizes
    :math:`\operatorname{Tr}(U^\top L U)` over :math:`U^\top U = I_p`: with
    :math:`L = D - W`, the :math:`p` orthonormal functions on the graph that vary least,
    :math:`\sum_k u_k^\top L u_k = \sum_{k\le p}\lambda_k` (Cabannes, Bietti, Balestriero,
    ICASSP 2023, arXiv:2211.03782: the representation that minimal variations select). The
    constant :math:`u_1 = \mathbf 1/\sqrt N` (:math:`\lambda_1 = 0`) is kept: a linear probe has
    an intercept. Computed in float64 on the CPU (``scipy.linalg.eigh`` with
    ``subset_by_index``); each vector's sign is fixed so that its largest-magnitude entry is
    positive.

    Args:
        laplacian: (N, N) symmetric matrix, e.g. ``graph_laplacian(gaussian_graph(x, h))``.
        p: number of eigenvectors, :math:`1 \le p \le N`.

    Returns:
        :class:`LaplacianEigenbasis` ``(vectors, eigenvalues)`` in the dtype and device of
        ``laplacian``.

    Shape:
        ``laplacian``: (N, N); ``vectors``: (N, p); ``eigenvalues``: (p,).

    Raises:
        TypeError / ValueError: for a ``laplacian`` that is not a finite square float matrix or
            not symmetric, or ``p`` outside ``[1, N]``.

    Examples:
        Two disconnected pairs: two zero eigenvalues, whose eigenvectors span the indicators of
        the two connected components:

        >>> from reptutor.solvers import graph_laplacian
        >>> w = torch.tensor([[0.0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
        >>> vec, lam = laplacian_eigenbasis(graph_laplacian(w), 3)
        >>> [round(float(v), 6) for v in lam]
        [0.0, 0.0, 2.0]
        >>> one = torch.tensor([1.0, 1.0, 0.0, 0.0])  # indicator of the first pair
        >>> u = vec[:, :2]
        >>> float((one - u @ (u.T @ one)).norm()) < 1e-6
        True
    """
    _checks.tensor("laplacian", laplacian, ndim=2)
    _checks.square("laplacian", laplacian)
    n = laplacian.shape[0]
    p = _checks.integer("p", p, minimum=1, maximum=n)
    _precision.has_values("laplacian", laplacian, "laplacian_eigenbasis", "it solves an eigenproblem")
    a = laplacian.detach().to("cpu", torch.float64).numpy()
    asym = float(np.abs(a - a.T).max())
    if asym > 1e-8 * max(1.0, float(np.abs(a).max())):
        raise ValueError(f"laplacian must be symmetric, got max |L - L^T| = {asym:.3g}")
    vals, vecs = scipy.linalg.eigh(a, subset_by_index=[0, p - 1])
    # deterministic signs: the largest-magnitude entry of each vector is positive
    pivot = vecs[np.abs(vecs).argmax(axis=0), np.arange(p)]
    vecs = vecs * np.where(pivot < 0, -1.0, 1.0)
    out = dict(dtype=laplacian.dtype, device=laplacian.device)
    return LaplacianEigenbasis(torch.as_tensor(vecs, **out), torch.as_tensor(vals, **out))
