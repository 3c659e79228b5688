r"""Two-view contrastive losses: InfoNCE (cross-view) and NT-Xent (SimCLR), dense or streamed.

References:
    A. van den Oord, Y. Li, O. Vinyals. *Representation Learning with Contrastive Predictive
    Coding*. arXiv:1807.03748v2, 2018 (the InfoNCE loss, eq. 4).

    T. Chen, S. Kornblith, M. Norouzi, G. Hinton. *A Simple Framework for Contrastive Learning of
    Visual Representations*. ICML 2020, arXiv:2002.05709v3 (NT-Xent, Algorithm 1).

How the losses are computed: every loss here is "a log-sum-exp over the candidates minus a
positive logit". One similarity matmul (``chunk_size=None``) or a stream of row blocks of
``chunk_size`` rows (memory :math:`O(N \cdot \text{chunk})`, same value and gradient) feeds a
private log-sum-exp engine shared with :mod:`reptutor.losses.supcon`; see
``reptutor/losses/_engine.py`` for the two modes, why the per-sample losses are :math:`\ge 0`
exactly even in float32 (the positive logit is read from the same matrix as the log-sum-exp),
and how second derivatives are computed (``create_graph=True``, e.g. a gradient penalty, gives
exact second derivatives through a dense recomputation).

With ``distributed=True`` under an initialised ``torch.distributed`` process group (world size
> 1) the losses gather the embeddings of all ranks with a gradient-carrying all-gather (see
``reptutor/_distributed.py``) so that every rank's candidates are the global batch, each rank
owns its own rows, and ``reduction="mean"`` returns on every rank the mean over all rows of all
ranks, i.e. the single-process loss on the concatenated batch. Gradient convention: collectives
here follow ``torch.distributed.nn`` (the backward of a collective is the gradient of the *sum*
of all ranks' outputs), so each rank's embeddings receive ``world_size`` times the
single-process gradient; ``DistributedDataParallel``'s averaging over ranks divides it back, and
the averaged parameter gradient equals the single-process one.

The mutual-information face of the same quantity is :func:`reptutor.estimators.infonce`:
``info_nce_loss(z_a, z_b, symmetric=False, reduction=r) == log N - infonce(s, reduction=r)``
for ``r`` = ``"mean"`` or ``"none"`` (``N log N`` for ``"sum"``), with the score matrix
:math:`s_{ij} = \langle u_i, v_j\rangle/\tau` (tested in ``tests/test_estimators_infonce.py``).

Taught in the chapter *Why InfoNCE can't see more than log K* (P07) and used throughout Part I.
"""
from __future__ import annotations

import math  # noqa: F401  (used by the doctests)

import torch
from torch import nn

from reptutor import _checks, _distributed
from reptutor._reduction import reduce as _reduce
from reptutor._repr import hyper_parameters
from reptutor.losses._engine import logsumexp_candidates, unit_rows, validate_options, validate_pair

__all__ = ["info_nce_loss", "nt_xent_loss", "InfoNCELoss", "NTXentLoss"]


# --------------------------------------------------------------------------------------------
# Public losses.
# --------------------------------------------------------------------------------------------
def info_nce_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    *,
    temperature: float = 0.1,
    normalize: bool = True,
    symmetric: bool = True,
    reduction: str = "mean",
    chunk_size: int | None = None,
    distributed: bool = False,
) -> torch.Tensor:
    r"""Cross-view InfoNCE: each sample must pick its own partner among the other view's N samples.

    With :math:`s_{ij} = \langle u_i, v_j\rangle / \tau`, where :math:`u_i, v_j` are the rows of
    ``z_a``, ``z_b`` (unit-normalised when ``normalize``), the per-sample loss is

    .. math::

        \ell_i = -\log \frac{e^{s_{ii}}}{\sum_{j=1}^{N} e^{s_{ij}}}
               = \operatorname{logsumexp}_j s_{ij} - s_{ii},

    van den Oord et al. (2018), eq. 4, with the other samples of the batch as negatives. With
    ``symmetric=True`` (CLIP-style) the loss is :math:`\tfrac12(\ell_i^{a\to b} + \ell_i^{b\to a})`,
    the second term using the columns of :math:`s`. Since :math:`\ell_i \ge 0` and
    :math:`\log N - \mathbb{E}[\ell]` is the InfoNCE lower bound on :math:`I(z_a; z_b)`, no value of
    this loss certifies more than :math:`\log N` nats (chapter P07). That bound is
    :func:`reptutor.estimators.infonce` on the scores :math:`s`: ``info_nce_loss(z_a, z_b,
    symmetric=False, normalize=False, reduction=r)`` equals ``log N - infonce(z_a @ z_b.T /
    temperature, reduction=r)`` (``N log N`` for ``"sum"``; with ``normalize=True`` the rows of
    ``z_a``, ``z_b`` are normalised first), and the symmetric loss is ``log N`` minus the mean
    of ``infonce`` on :math:`s` and :math:`s^\top`. The per-sample losses are :math:`\ge 0`
    exactly, also in float32 at small temperature (the positive logit is read from the same
    matrix as the log-sum-exp).

    The :math:`N \times N` matrix :math:`s` is computed by one matmul (``chunk_size=None``) or
    streamed in blocks of ``chunk_size`` rows, both log-sum-exps (rows and columns) accumulated
    in one pass, memory :math:`O(N \cdot \text{chunk})`; the two give the same value and gradient.
    Second derivatives (``create_graph=True``, e.g. a gradient penalty) are exact; they recompute
    the whole :math:`N \times N` matrix, also when ``chunk_size`` is set.

    *Distributed.* With ``distributed=True`` under an initialised ``torch.distributed`` group of
    :math:`R > 1` ranks, each rank passes its own rows; the candidates are the rows of
    all ranks, gathered with a gradient-carrying all-gather. ``"mean"`` and ``"sum"`` return on
    every rank the value for the concatenated batch (rows of rank 0 first), ``"none"`` the
    rank's own rows of it. Gradients follow ``torch.distributed.nn``: each rank's rows receive
    :math:`R` times the single-process gradient (the gradient of the sum of the :math:`R` equal
    rank losses), which ``DistributedDataParallel``'s averaging over ranks turns back into the
    single-process gradient of the parameters. The same holds for :func:`nt_xent_loss`,
    :func:`supcon_loss` and :func:`class_conditional_info_nce_loss`.

    Args:
        z_a: first view's embeddings.
        z_b: second view's embeddings; row ``i`` is the positive of ``z_a[i]``.
        temperature: :math:`\tau > 0`; 0.1 as in SimCLR's ImageNet setting (Chen et al., 2020).
        normalize: L2-normalise rows first (cosine similarity), as SimCLR and CLIP do.
        symmetric: average the a->b and b->a directions.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per-sample, shape (N,)).
        chunk_size: ``None`` for the dense path, or the number of rows per streamed block.
        distributed: when a ``torch.distributed`` group with more than one rank is
            initialised, use the rows of all ranks as candidates (see *Distributed* above);
            ignored otherwise. Off by default: every rank must then call the loss, since a
            collective reached by only some ranks would block.

    Returns:
        The loss (a scalar, or (N,) with ``reduction="none"``), in nats.

    Shape:
        ``z_a``, ``z_b``: (N, D).

    Raises:
        ValueError / TypeError: for mismatched shapes, dtypes or devices, non-finite inputs, a
            non-positive temperature, an unknown reduction or a chunk size below 1.

    Examples:
        Identical views that are far apart from each other: the loss is near zero.

        >>> z = 10 * torch.eye(4)
        >>> float(info_nce_loss(z, z, temperature=0.05)) < 1e-6
        True

        Uninformative (constant) views: every candidate is equally likely, loss = log N.

        >>> c = torch.ones(8, 3)
        >>> round(float(info_nce_loss(c, c)), 4) == round(math.log(8), 4)
        True

        Streaming in blocks of 3 rows changes nothing but the memory:

        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(10, 4, generator=g), torch.randn(10, 4, generator=g)
        >>> bool(torch.isclose(info_nce_loss(a, b, chunk_size=3), info_nce_loss(a, b)))
        True
    """
    temperature = validate_pair(z_a, z_b, temperature, reduction, chunk_size, distributed)
    _checks.boolean("symmetric", symmetric)
    if _checks.boolean("normalize", normalize):
        z_a, z_b = unit_rows(z_a), unit_rows(z_b)
    distributed = distributed and _distributed.is_active()
    if distributed:
        all_a, offset = _distributed.gather_rows(z_a)  # (N_all, D), gradient to each rank
        all_b, _ = _distributed.gather_rows(z_b)
        own = offset + torch.arange(z_a.shape[0], device=z_a.device)  # s_ii: key i of this rank
        ab = logsumexp_candidates(z_a, all_b, temperature=temperature, pos_idx=own,
                                  chunk_size=chunk_size)
        loss = ab.row - ab.pos  # (N,) a -> b; >= 0 exactly (row and pos from the same logits)
        if symmetric:  # b -> a from its own matmul, so that it too is >= 0 exactly
            ba = logsumexp_candidates(z_b, all_a, temperature=temperature, pos_idx=own,
                                      chunk_size=chunk_size)
            loss = 0.5 * (loss + (ba.row - ba.pos))
        count = all_a.shape[0]
    else:
        diag = torch.arange(z_a.shape[0], device=z_a.device)  # (N,) s_ii, the positives
        res = logsumexp_candidates(z_a, z_b, temperature=temperature, pos_idx=diag,
                                   chunk_size=chunk_size, want_cols=symmetric)
        loss = res.row - res.pos  # (N,) a -> b
        if symmetric:
            loss = 0.5 * (loss + (res.col - res.pos))  # b -> a: the columns of s
        count = z_a.shape[0]
    return _reduce(loss, reduction, distributed=distributed, count=count)


def nt_xent_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    *,
    temperature: float = 0.1,
    reduction: str = "mean",
    chunk_size: int | None = None,
    distributed: bool = False,
) -> torch.Tensor:
    r"""NT-Xent, SimCLR's normalised temperature-scaled cross-entropy over 2N views.

    Stack the 2N unit-normalised views :math:`w_1..w_{2N}` (``z_a`` then ``z_b``); view
    :math:`k` has positive :math:`p(k)` (its other view) and the 2N-2 other views as negatives:

    .. math::

        \ell_k = -\log \frac{\exp(\langle w_k, w_{p(k)}\rangle/\tau)}
                           {\sum_{m \ne k} \exp(\langle w_k, w_m\rangle/\tau)},
        \qquad \mathcal{L} = \frac{1}{2N}\sum_{k=1}^{2N} \ell_k

    (Chen et al., 2020, eq. 1 and Algorithm 1). Unlike :func:`info_nce_loss`, negatives include
    the other samples of the *same* view. The :math:`2N \times 2N` logits come from one matmul
    (``chunk_size=None``; the :math:`m \ne k` exclusion is written by index, no mask) or are
    streamed in row blocks of ``chunk_size`` (memory :math:`O(N \cdot \text{chunk})`, same value
    and gradient).

    Args:
        z_a: first view's embeddings (normalised inside).
        z_b: second view's embeddings; row ``i`` pairs with ``z_a[i]``.
        temperature: :math:`\tau > 0`, default 0.1 (Chen et al., 2020, ImageNet setting).
            pytorch-metric-learning's ``NTXentLoss`` defaults to 0.07: pass it explicitly to compare.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``; ``"none"`` returns (2N,) losses, the
            ``z_a`` rows first.
        chunk_size: ``None`` for the dense path, or the number of rows per streamed block.
        distributed: as in :func:`info_nce_loss`: under a process group the 2N views of
            every rank are candidates, and the mean is over the views of all ranks.

    Returns:
        The loss in nats.

    Shape:
        ``z_a``, ``z_b``: (N, D) with N >= 2.

    Raises:
        ValueError / TypeError: as :func:`info_nce_loss`, and for N < 2 (no negatives).

    Examples:
        Constant embeddings: all 2N-1 candidates tie, so the loss is log(2N-1).

        >>> c = torch.ones(5, 3)
        >>> round(float(nt_xent_loss(c, c)), 5) == round(math.log(9), 5)
        True

        The streamed path agrees with the dense one:

        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
        >>> bool(torch.isclose(nt_xent_loss(a, b, chunk_size=5), nt_xent_loss(a, b)))
        True
    """
    temperature = validate_pair(z_a, z_b, temperature, reduction, chunk_size, distributed)
    n = _checks.rows("z_a", z_a, 2, "NT-Xent needs negatives").shape[0]
    w = unit_rows(torch.cat([z_a, z_b], dim=0))  # (2N, D) unit vectors
    views = torch.arange(2 * n, device=w.device)  # (2N,) k
    partner = (views + n) % (2 * n)  # (2N,) p(k): the other view of the same sample
    distributed = distributed and _distributed.is_active()
    if distributed:
        # Gathering [a_r; b_r] of each rank permutes the global [A; B] rows; a log-sum-exp over
        # all candidates does not depend on their order, only the indices have to move.
        all_w, offset = _distributed.gather_rows(w)  # (2 N_all, D)
        res = logsumexp_candidates(w, all_w, temperature=temperature, self_idx=offset + views,
                                   pos_idx=offset + partner, chunk_size=chunk_size)
        count = all_w.shape[0]
    else:
        res = logsumexp_candidates(w, None, temperature=temperature, self_idx=views,  # m != k
                                   pos_idx=partner, chunk_size=chunk_size)
        count = 2 * n
    # log sum_{m != k} e^{s_km} - s_k,p(k); >= 0 exactly (row and pos from the same logits)
    return _reduce(res.row - res.pos, reduction, distributed=distributed, count=count)


class InfoNCELoss(nn.Module):
    """Module wrapper of :func:`info_nce_loss` (stores the hyper-parameters)."""

    def __init__(self, *, temperature: float = 0.1, normalize: bool = True, symmetric: bool = True,
                 reduction: str = "mean", chunk_size: int | None = None,
                 distributed: bool = False) -> None:
        super().__init__()
        self.temperature = validate_options(temperature, reduction, chunk_size, distributed)
        self.normalize = _checks.boolean("normalize", normalize)
        self.symmetric = _checks.boolean("symmetric", symmetric)
        self.reduction, self.chunk_size = reduction, chunk_size
        self.distributed = distributed

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return info_nce_loss(z_a, z_b, temperature=self.temperature, normalize=self.normalize,
                             symmetric=self.symmetric, reduction=self.reduction,
                             chunk_size=self.chunk_size, distributed=self.distributed)

    def extra_repr(self) -> str:
        return hyper_parameters(self)


class NTXentLoss(nn.Module):
    """Module wrapper of :func:`nt_xent_loss`."""

    def __init__(self, *, temperature: float = 0.1, reduction: str = "mean",
                 chunk_size: int | None = None, distributed: bool = False) -> None:
        super().__init__()
        self.temperature = validate_options(temperature, reduction, chunk_size, distributed)
        self.reduction, self.chunk_size = reduction, chunk_size
        self.distributed = distributed

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        return nt_xent_loss(z_a, z_b, temperature=self.temperature, reduction=self.reduction,
                            chunk_size=self.chunk_size, distributed=self.distributed)

    def extra_repr(self) -> str:
        return hyper_parameters(self)
