r"""VICReg written on a graph of positive pairs (the relation-matrix form of Balestriero & LeCun).

R. Balestriero, Y. LeCun. *Contrastive and Non-Contrastive Self-Supervised Learning Recover
Global and Local Spectral Embedding Methods*. NeurIPS 2022, arXiv:2205.11508v2 (Sec. 3: the
losses written with a relation matrix :math:`G`; VICReg :math:`\leftrightarrow` Laplacian
eigenmaps).

The two-view VICReg of Bardes, Ponce & LeCun (:func:`reptutor.losses.vicreg_loss`) pairs row
:math:`i` of one view with row :math:`i` of the other. Written on all :math:`N` rows of a batch
at once (every view of every sample) and a symmetric relation matrix :math:`G`, its invariance
term becomes a graph energy, and any graph of positives (several views, a class, a
:math:`k`-NN graph) can be used. The closed-form optima of this loss are in
:mod:`reptutor.solvers.spectral`.

Taught in the chapter *Self-supervised learning recovers spectral embeddings*
(``notebooks/02_noncontrastive/02_spectral_embedding``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from reptutor import _checks

__all__ = ["VICRegGraphTerms", "vicreg_graph_terms", "vicreg_graph_loss"]


class VICRegGraphTerms(NamedTuple):
    r"""The terms of :func:`vicreg_graph_loss` (each a 0-d tensor, unweighted except ``loss``)."""

    #: :math:`\alpha v + \beta c + \gamma s`, the weighted sum that is minimized.
    loss: torch.Tensor
    #: :math:`v = \sum_k (1 - \sqrt{C_{kk} + \epsilon})_+`.
    variance: torch.Tensor
    #: :math:`c = \sum_{k \ne l} C_{kl}^2`.
    covariance: torch.Tensor
    #: :math:`s = \frac1N\sum_{ij} G_{ij}\lVert z_i - z_j\rVert^2 = \frac2N\operatorname{Tr}(Z^\top LZ)`.
    invariance: torch.Tensor


def _edges(edges: torch.Tensor, edge_weights: torch.Tensor | None, z: torch.Tensor) -> None:
    _checks.integers("edges", edges, ndim=2, layout="(E, 2)", what="row-index pairs")
    if edges.shape[1] != 2:
        raise ValueError(f"edges must be (E, 2) pairs of row indices, got shape {tuple(edges.shape)}")
    _checks.same_device("z", z, "edges", edges)
    n = z.shape[0]
    if edges.device.type != "meta" and (int(edges.min()) < 0 or int(edges.max()) >= n):
        raise ValueError(f"edges must hold row indices in [0, {n}) (rows of z), got values in "
                         f"[{int(edges.min())}, {int(edges.max())}]")
    if edge_weights is not None:
        _checks.tensor("edge_weights", edge_weights, ndim=1)
        _checks.same_device_dtype("z", z, "edge_weights", edge_weights)
        if edge_weights.shape[0] != edges.shape[0]:
            raise ValueError(f"edge_weights must have one weight per edge ({edges.shape[0]}), got "
                             f"shape {tuple(edge_weights.shape)}")
        if edge_weights.device.type != "meta" and bool((edge_weights < 0).any()):
            raise ValueError("edge_weights must be non-negative, got minimum "
                             f"{float(edge_weights.min()):.3g}")


def vicreg_graph_terms(
    z: torch.Tensor,
    edges: torch.Tensor,
    *,
    variance_weight: float,
    covariance_weight: float,
    invariance_weight: float,
    edge_weights: torch.Tensor | None = None,
    eps: float = 1e-4,
) -> VICRegGraphTerms:
    r"""VICReg on a relation graph, with its terms (Balestriero & LeCun, 2022, Sec. 3.1).

    .. math::

        \mathcal L(Z) = \alpha\sum_{k=1}^K\big(1 - \sqrt{C_{kk} + \epsilon}\big)_+
          + \beta\sum_{k \ne l} C_{kl}^2
          + \frac{\gamma}{N}\sum_{i,j=1}^N G_{ij}\lVert z_i - z_j\rVert_2^2,
        \qquad C = \frac{1}{N-1}(Z - \bar Z)^\top(Z - \bar Z).

    The graph is given by its list of *ordered* pairs :math:`(i, j)` with :math:`G_{ij} > 0`
    (``edges = adjacency.nonzero()`` for a dense symmetric :math:`G`, so that each undirected
    edge appears in both directions) and their weights :math:`G_{ij}` (default 1): the
    invariance term is then :math:`\frac{2\gamma}{N}\operatorname{Tr}(Z^\top L Z)` with
    :math:`L` the Laplacian of :math:`G`. One gather per edge: the cost is :math:`O(EK)`, never
    :math:`O(N^2)`, so a training loop passes the same ``edges`` at every step. Normalization:
    this is the paper's graph form (terms summed over the :math:`K` dimensions, as in its
    listing), not the official VICReg code's (means over dimensions, variance averaged over two
    branches, see :func:`reptutor.losses.vicreg_loss`); the weights therefore have no published
    defaults and are required. On the two-view pair graph of :math:`n` samples (:math:`N = 2n`
    rows), :math:`s = \frac{2}{2n}\sum_i\lVert z_i - z'_i\rVert^2`, i.e. :math:`K` times the
    official invariance term.

    Args:
        z: (N, K) representations of all rows.
        edges: (E, 2) integer row indices of the ordered positive pairs :math:`(i, j)`.
        variance_weight: :math:`\alpha \ge 0` (VICReg's :math:`\mu`).
        covariance_weight: :math:`\beta \ge 0` (VICReg's :math:`\nu`).
        invariance_weight: :math:`\gamma \ge 0` (VICReg's :math:`\lambda`).
        edge_weights: (E,) non-negative weights :math:`G_{ij}`; ``None`` for weight 1.
        eps: :math:`\epsilon > 0` inside the square root (official VICReg code: :math:`10^{-4}`).

    Returns:
        :class:`VICRegGraphTerms` ``(loss, variance, covariance, invariance)``.

    Shape:
        ``z``: (N, K); ``edges``: (E, 2); ``edge_weights``: (E,); every field: ().

    Raises:
        TypeError / ValueError: for a ``z`` that is not a finite 2-D float tensor with at least
            2 rows, ``edges`` that are not (E, 2) integers in ``[0, N)``, ``edge_weights`` of the
            wrong length, sign, dtype or device, a negative weight or a non-positive ``eps``.

    Examples:
        The closed form of :func:`reptutor.solvers.vicreg_closed_form` has a zero covariance
        term, and the loss there is the solver's optimal value (up to :math:`\epsilon`).

        >>> from reptutor.solvers import positive_pair_graph, vicreg_closed_form
        >>> g = positive_pair_graph(torch.tensor([0, 0, 0, 1, 1, 1]), dtype=torch.float64)
        >>> opt = vicreg_closed_form(g, 2, variance_weight=1.0, invariance_weight=1.0)
        >>> t = vicreg_graph_terms(opt.embedding, g.nonzero(), variance_weight=1.0,
        ...                        covariance_weight=1.0, invariance_weight=1.0, eps=1e-12)
        >>> abs(float(t.covariance)) < 1e-12, round(float(t.loss), 6) == round(float(opt.loss), 6)
        (True, True)
    """
    _checks.tensor("z", z, ndim=2, min_rows=0)
    _checks.rows("z", z, 2, "a covariance needs 2 samples")
    _edges(edges, edge_weights, z)
    alpha = _checks.number("variance_weight", variance_weight, nonnegative=True)
    beta = _checks.number("covariance_weight", covariance_weight, nonnegative=True)
    gamma = _checks.number("invariance_weight", invariance_weight, nonnegative=True)
    eps = _checks.number("eps", eps, positive=True)
    n = z.shape[0]
    zc = z - z.mean(0, keepdim=True)  # (N, K) centred
    cov = zc.T @ zc / (n - 1)  # (K, K) covariance C
    diag = cov.diagonal()
    variance = torch.relu(1.0 - torch.sqrt(diag + eps)).sum()
    covariance = cov.square().sum() - diag.square().sum()  # sum over k != l of C_kl^2
    sq = (z[edges[:, 0]] - z[edges[:, 1]]).square().sum(1)  # (E,) ||z_i - z_j||^2
    invariance = (sq if edge_weights is None else edge_weights * sq).sum() / n
    loss = alpha * variance + beta * covariance + gamma * invariance
    return VICRegGraphTerms(loss, variance, covariance, invariance)


def vicreg_graph_loss(
    z: torch.Tensor,
    edges: torch.Tensor,
    *,
    variance_weight: float,
    covariance_weight: float,
    invariance_weight: float,
    edge_weights: torch.Tensor | None = None,
    eps: float = 1e-4,
) -> torch.Tensor:
    r"""The loss of :func:`vicreg_graph_terms` (its ``loss`` field), a 0-d tensor.

    Args:
        z: (N, K) representations of all rows.
        edges: (E, 2) integer row indices of the ordered positive pairs.
        variance_weight: :math:`\alpha \ge 0`.
        covariance_weight: :math:`\beta \ge 0`.
        invariance_weight: :math:`\gamma \ge 0`.
        edge_weights: (E,) non-negative weights, or ``None`` for 1.
        eps: :math:`\epsilon > 0` inside the square root.

    Returns:
        :math:`\alpha v + \beta c + \gamma s`, a 0-d tensor.

    Shape:
        ``z``: (N, K); ``edges``: (E, 2); ``edge_weights``: (E,); output: ().

    Raises:
        TypeError / ValueError: as :func:`vicreg_graph_terms`.

    Examples:
        A representation with unit, uncorrelated coordinates that is constant on every positive
        pair costs nothing.

        >>> z = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0], [-1.0, -1.0],
        ...                   [1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, 1.0]]) * (7 / 8) ** 0.5
        >>> edges = torch.tensor([[0, 1], [1, 0], [2, 3], [3, 2], [4, 5], [5, 4], [6, 7], [7, 6]])
        >>> float(vicreg_graph_loss(z, edges, variance_weight=25.0, covariance_weight=1.0,
        ...                         invariance_weight=25.0, eps=1e-12)) < 1e-5
        True
    """
    return vicreg_graph_terms(z, edges, variance_weight=variance_weight,
                              covariance_weight=covariance_weight,
                              invariance_weight=invariance_weight, edge_weights=edge_weights,
                              eps=eps).loss
