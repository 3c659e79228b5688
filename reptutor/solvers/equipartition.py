r"""SeLa's label step: equipartitioned labels from the Sinkhorn plan, and the exact LP reference.

Asano, Rupprecht & Vedaldi, "Self-labelling via simultaneous clustering and representation
learning", ICLR 2020, arXiv:1911.05371 (SeLa). For fixed model posteriors
:math:`p(y \mid x_i)` the label assignment solves (paper, Sec. 3.1)

.. math::

    \min_{Q \in U(r, c)} \langle Q, -\log P \rangle - \frac{1}{\lambda} H(Q),
    \qquad U(r, c) = \{Q \ge 0 : Q \mathbf{1} = r,\ Q^\top \mathbf{1} = c\},

with cluster marginal :math:`r = \mathbf{1}/K` and sample marginal :math:`c = \mathbf{1}/N`
(equipartition), by the Sinkhorn-Knopp iterations of
:func:`reptutor.solvers.sinkhorn_knopp`; the labels are each sample's most likely cluster
under the plan (:func:`equipartition_labels`). :func:`exact_equipartition` solves the same
problem without the entropy, exactly, as a reference.

Convention (samples first): the paper's :math:`K \times N` matrices are stored transposed,
``plan[i, y]`` :math:`= Q_{yi}`. Taught in the chapter *Self-labelling as optimal transport
(SeLa)* (``notebooks/04_clustering``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from reptutor import _checks
from reptutor.solvers.sinkhorn import sinkhorn_knopp

__all__ = [
    "EquipartitionLabelsResult",
    "EquipartitionResult",
    "equipartition_labels",
    "exact_equipartition",
]


class EquipartitionLabelsResult(NamedTuple):
    r"""What :func:`equipartition_labels` returns: ``(labels, n_iter, converged,
    marginal_error, plan)``, the same five fields whatever the options."""

    #: The cluster of each sample, :math:`\arg\max_y Q_{iy}`, ``torch.long``, shape ``(..., N)``.
    labels: torch.Tensor
    #: Number of Sinkhorn-Knopp iterations the plan took.
    n_iter: int
    #: ``True`` iff a tolerance was given and the plan met it (every problem of the batch).
    converged: bool
    #: The plan's cluster-marginal L1 error (float64), shape ``(...)``; the labels' own cluster
    #: sizes are not constrained (rounding each row to its argmax moves a few samples).
    marginal_error: torch.Tensor
    #: The Sinkhorn-Knopp plan the labels round, shape ``(..., N, K)``.
    plan: torch.Tensor


class EquipartitionResult(NamedTuple):
    r"""What :func:`exact_equipartition` returns: ``(plan, labels, value)``."""

    #: An optimal vertex of the transport polytope, with ``1/N`` on the chosen cluster of each
    #: sample and 0 elsewhere, shape ``(N, K)``.
    plan: torch.Tensor
    #: The cluster of each sample, shape ``(N,)``; every cluster is used exactly ``N/K`` times.
    labels: torch.Tensor
    #: The optimal value :math:`\langle \mathrm{plan}, C \rangle`, a 0-d tensor.
    value: torch.Tensor


def equipartition_labels(
    log_p: torch.Tensor,
    *,
    lam: float = 25.0,
    max_iter: int = 1000,
    tol: float | None = 1e-2,
    method: str = "auto",
) -> EquipartitionLabelsResult:
    r"""SeLa's self-labels: the most likely cluster of each sample under the Sinkhorn plan.

    Asano, Rupprecht & Vedaldi, "Self-labelling via simultaneous clustering and representation
    learning", ICLR 2020, arXiv:1911.05371, Sec. 3.1: the labels are
    :math:`\hat y_i = \arg\max_y Q_{iy}` for the plan :math:`Q` of
    :func:`~reptutor.solvers.sinkhorn_knopp` with uniform marginals (the official code rounds
    the same way). Cluster sizes are close to :math:`N/K` but not exactly equal (the rounding
    is not constrained); use :func:`exact_equipartition` for exactly equal sizes. The result
    also carries the solver's iteration count, convergence flag, marginal error and plan, so
    a chapter can report what the label step cost.

    The default tolerance is looser than :func:`~reptutor.solvers.sinkhorn_knopp`'s: rounding
    each row to its argmax already moves the label distribution by an L1 distance of order
    :math:`K/N` (a few samples per cluster), so solving the plan's marginals far below that
    changes no label. With confident posteriors and :math:`\lambda = 25` a tolerance of
    :math:`10^{-6}` can take thousands of iterations (measured in the SeLa chapter).

    Args:
        log_p: log-probabilities or scores, one row per sample.
        lam: inverse entropic strength (default 25, SeLa's official code).
        max_iter: see :func:`~reptutor.solvers.sinkhorn_knopp`.
        tol: L1 tolerance on the plan's cluster marginal, see
            :func:`~reptutor.solvers.sinkhorn_knopp` (default :math:`10^{-2}`, see above).
        method: ``"auto"`` (default), ``"log"`` or ``"scaling"``, see
            :func:`~reptutor.solvers.sinkhorn_knopp`.

    Returns:
        An :class:`EquipartitionLabelsResult` ``(labels, n_iter, converged, marginal_error,
        plan)``; ``labels`` in ``[0, K)``, dtype ``torch.long``.

    Shape:
        ``log_p``: ``(N, K)`` or ``(B, N, K)`` -> ``labels`` ``(N,)`` or ``(B, N)``,
        ``marginal_error`` ``()`` or ``(B,)``, ``plan`` like ``log_p``.

    Raises:
        TypeError: as :func:`~reptutor.solvers.sinkhorn_knopp`.
        ValueError: as :func:`~reptutor.solvers.sinkhorn_knopp`.

    Warns:
        ConvergenceWarning: as :func:`~reptutor.solvers.sinkhorn_knopp`.

    Examples:
        A model that puts every sample in cluster 0 (the degenerate solution) still gets
        balanced labels, 3 samples per cluster:

        >>> g = torch.Generator().manual_seed(0)
        >>> logits = torch.randn(9, 3, generator=g, dtype=torch.float64)
        >>> logits[:, 0] += 5.0
        >>> torch.bincount(logits.argmax(1), minlength=3).tolist()
        [9, 0, 0]
        >>> res = equipartition_labels(logits.log_softmax(1))
        >>> torch.bincount(res.labels, minlength=3).tolist(), res.converged
        ([3, 3, 3], True)
        >>> res.n_iter == sinkhorn_knopp(logits.log_softmax(1), tol=1e-2).n_iter
        True
    """
    result = sinkhorn_knopp(log_p, lam=lam, max_iter=max_iter, tol=tol, method=method)
    labels = result.plan.argmax(dim=-1)  # (..., N)
    return EquipartitionLabelsResult(labels, result.n_iter, result.converged,
                                     result.marginal_error, result.plan)


def exact_equipartition(cost: torch.Tensor) -> EquipartitionResult:
    r"""Exact optimum of the equipartition transport linear program (a reference solver).

    Asano, Rupprecht & Vedaldi, "Self-labelling via simultaneous clustering and representation
    learning", ICLR 2020, arXiv:1911.05371, Sec. 3.1 (the problem before entropic
    regularisation):

    .. math::

        \min_{Q \in U(\mathbf{1}/K,\ \mathbf{1}/N)} \sum_{i, y} Q_{iy} C_{iy},

    for ``N`` divisible by ``K``. Each cluster column is replicated :math:`N/K` times, which turns
    the problem into an :math:`N \times N` assignment solved exactly by the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``); by the Birkhoff-von Neumann theorem the
    transport polytope's vertices are such hard assignments, so this is the LP optimum. For
    SeLa, ``cost = -log_p``. Runs on the CPU in float64, :math:`O(N^3)`: meant for tests and
    small chapter experiments, not for training.

    Args:
        cost: the cost matrix :math:`C`, one row per sample; finite.

    Returns:
        An :class:`EquipartitionResult` ``(plan, labels, value)`` on ``cost``'s device and dtype.

    Shape:
        ``cost``: ``(N, K)`` with ``N % K == 0`` -> ``plan`` ``(N, K)``, ``labels`` ``(N,)``,
        ``value`` ``()``.

    Raises:
        TypeError: for a non-tensor or non-float ``cost``.
        ValueError: for a non-finite or non-2-D ``cost``, or ``N`` not divisible by ``K``.

    Examples:
        The LP never does worse than greedy rounding of the entropic plan, and each cluster
        gets exactly N/K samples:

        >>> g = torch.Generator().manual_seed(1)
        >>> log_p = torch.randn(12, 3, generator=g, dtype=torch.float64).log_softmax(1)
        >>> lp = exact_equipartition(-log_p)
        >>> torch.bincount(lp.labels, minlength=3).tolist()
        [4, 4, 4]
        >>> sk = sinkhorn_knopp(log_p, lam=25.0)
        >>> bool(lp.value <= (sk.plan * -log_p).sum() + 1e-9)
        True
    """
    from scipy.optimize import linear_sum_assignment

    _checks.tensor("cost", cost, ndim=2)
    n, k = cost.shape
    if n % k != 0:
        raise ValueError(
            f"cost must have a number of rows N divisible by its number of columns K "
            f"(equal cluster sizes N/K), got shape {(n, k)}"
        )
    m = n // k
    c64 = cost.detach().to("cpu", torch.float64).numpy()
    # column j of the replicated (N, N) cost is cluster j // m: each cluster has m "slots"
    rows, cols = linear_sum_assignment(c64.repeat(m, axis=1))
    labels = torch.as_tensor(cols // m, dtype=torch.long)[torch.as_tensor(rows).argsort()]
    labels = labels.to(cost.device)
    plan = torch.zeros_like(cost)
    plan[torch.arange(n, device=cost.device), labels] = 1.0 / n  # a vertex of U(1/K, 1/N)
    value = (plan * cost).sum()
    return EquipartitionResult(plan, labels, value)
