r"""Label-aware contrastive losses: SupCon (:math:`\mathcal L_{out}`) and class-conditional InfoNCE.

References:
    P. Khosla, P. Teterwak, C. Wang, A. Sarna, Y. Tian, P. Isola, A. Maschinot, C. Liu,
    D. Krishnan. *Supervised Contrastive Learning*. NeurIPS 2020, arXiv:2004.11362v5
    (the :math:`\mathcal L^{sup}_{out}` loss, eq. 2; :math:`\tau = 0.1`).

    M. F. Chen, D. Y. Fu, A. Narayan, M. Zhang, Z. Song, K. Fatahalian, C. Ré. *Perfectly
    Balanced: Improving Transfer and Robustness of Supervised Contrastive Learning*. ICML 2022,
    arXiv:2204.07596 (the class-conditional InfoNCE term of :math:`\mathcal L_{spread}`).

Both losses share the streamed log-sum-exp engine of the InfoNCE family
(``reptutor/losses/_engine.py``: ``chunk_size``, exact second derivatives) and the distributed
semantics of :func:`~reptutor.losses.info_nce_loss` (``distributed``). SupCon's positive term
needs no pair matrix at all: :math:`\sum_{p \in P(i)} \langle w_i, w_p\rangle
= \langle w_i, c_{y_i} - w_i\rangle` with :math:`c_k` the sum of the embeddings of class
:math:`k`, an :math:`O(ND + KD)` computation.

Taught in the chapter on the SupCon simplex (P09) and used in the chapter on spread (P42).
"""
from __future__ import annotations

import math  # noqa: F401  (used by the doctests)

import torch
from torch import nn

from reptutor import _checks, _distributed
from reptutor._repr import hyper_parameters
from reptutor._reduction import reduce as _reduce
from reptutor.losses._engine import logsumexp_candidates, unit_rows, validate_options, validate_pair

__all__ = ["supcon_loss", "class_conditional_info_nce_loss", "SupConLoss",
           "ClassConditionalInfoNCELoss"]


def _check_labels(labels: torch.Tensor, n: int, ref: torch.Tensor, ref_name: str) -> torch.Tensor:
    if isinstance(labels, torch.Tensor) and labels.device != ref.device:
        raise ValueError(f"labels and {ref_name} must be on the same device, "
                         f"got {labels.device.type} and {ref.device.type}")
    return _checks.labels("labels", labels, n=n)


def supcon_loss(
    z: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    temperature: float = 0.1,
    reduction: str = "mean",
    chunk_size: int | None = None,
    distributed: bool = False,
) -> torch.Tensor:
    r"""Supervised contrastive loss :math:`\mathcal L^{sup}_{out}` (Khosla et al., 2020, eq. 2).

    The batch holds :math:`N` samples with :math:`V` views each; the :math:`M = NV` views are
    unit-normalised, :math:`w_1..w_M`, and every view carries its sample's label :math:`y`. For an
    anchor :math:`i`, :math:`A(i) = \{a \ne i\}` are all other views and
    :math:`P(i) = \{p \in A(i) : y_p = y_i\}` the other views of its class:

    .. math::

        \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
            \log \frac{\exp(\langle w_i, w_p\rangle/\tau)}
                      {\sum_{a \in A(i)} \exp(\langle w_i, w_a\rangle/\tau)},
        \qquad
        \mathcal L = \frac{1}{|I^+|} \sum_{i \in I^+} \ell_i,

    with :math:`I^+ = \{i : |P(i)| \ge 1\}`. Normalization: the paper writes the *sum* over
    anchors; we return the *mean* over anchors (as the official code and
    pytorch-metric-learning do), without the official code's extra factor
    :math:`\tau / \tau_{base}` (1 at its defaults). An anchor without positives (possible only
    with one view) has an undefined :math:`\ell_i`: it is left out of the mean and reported as 0
    by ``reduction="none"``. The :math:`\log` of the mean over positives is *outside* the
    sum (:math:`\mathcal L_{out}`), the variant the paper recommends; by Jensen's inequality
    it is at least :math:`\mathcal L_{in}` (eq. 3). With unique labels and two views the loss is
    exactly NT-Xent (:func:`~reptutor.losses.nt_xent_loss`).

    Cost: one :math:`M \times M` similarity matmul (or row blocks of ``chunk_size``, memory
    :math:`O(M \cdot \text{chunk})`); the positive term uses class sums, never a pair mask.

    Args:
        z: embeddings, (V, N, D) for V views of each of the N samples (``z[v]`` is view ``v``,
            the library's one multi-view layout, as :func:`~reptutor.losses.cmc_loss` and
            :func:`~reptutor.data.make_multiview`), or (N, D) for one view per sample.
        labels: (N,) integer class of each sample; ``None`` makes every sample its own class
            (then V >= 2 is needed and the loss is the multi-view SimCLR loss).
        temperature: :math:`\tau > 0`, default 0.1 (Khosla et al., 2020, the value used in their
            experiments; pytorch-metric-learning's ``SupConLoss`` also defaults to 0.1).
        reduction: ``"mean"`` over anchors with a positive, ``"sum"`` over them, or ``"none"``
            for the per-view losses, shaped like ``z`` without its last dim.
        chunk_size: ``None`` for the dense path, or the number of rows per streamed block.
        distributed: under an initialised process group with more than one rank, use the
            views of all ranks as candidates and positives; ``"mean"`` is then over all ranks'
            anchors (see *Distributed* in :func:`~reptutor.losses.info_nce_loss`).

    Returns:
        The loss in nats (a scalar, or (V, N) / (N,) with ``reduction="none"``).

    Shape:
        ``z``: (V, N, D) or (N, D); ``labels``: (N,).

    Raises:
        ValueError / TypeError: for a ``z`` that is not 2-D or 3-D or not finite, labels of the
            wrong length, dtype or device, ``labels=None`` with a single view, a batch in which
            no anchor has a positive, a non-positive temperature, an unknown reduction or a chunk
            size below 1.

    Examples:
        Unique labels and two views: SupCon is NT-Xent.

        >>> from reptutor.losses import nt_xent_loss
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
        >>> bool(torch.isclose(supcon_loss(torch.stack([a, b])), nt_xent_loss(a, b)))
        True

        Every view collapsed onto its class's direction, the 3 directions orthogonal, at a small
        :math:`\tau`: each anchor's 3 positives tie and the negatives vanish, so the loss is at
        its floor :math:`\log |P(i)|` = log(3) (2 samples x 2 views per class).

        >>> z = torch.eye(3).repeat_interleave(2, 0).expand(2, 6, 3)  # (V, N, D)
        >>> y = torch.tensor([0, 0, 1, 1, 2, 2])
        >>> round(float(supcon_loss(z, y, temperature=0.01)), 4) == round(math.log(3), 4)
        True
    """
    _checks.tensor("z", z, ndim=(2, 3))
    temperature = validate_options(temperature, reduction, chunk_size, distributed)
    n, d = z.shape[-2], z.shape[-1]
    n_views = z.shape[0] if z.ndim == 3 else 1
    if labels is None:
        if n_views < 2:
            raise ValueError("supcon_loss needs labels, or z of shape (V, N, D) with V >= 2 views "
                             f"so that every view has a positive; got z of shape {tuple(z.shape)} "
                             "and labels=None")
        labels = torch.arange(n, device=z.device)
    else:
        _check_labels(labels, n, z, "z")
    w = unit_rows(z.reshape(n_views * n, d))  # (M, D) unit views, row v N + i, M = V N
    y = labels.repeat(n_views)  # (M,) a view keeps its sample's label
    distributed = distributed and _distributed.is_active()
    if distributed:
        all_w, offset = _distributed.gather_rows(w)  # (M_all, D)
        all_y = _distributed.gather_labels(y)  # (M_all,)
    else:
        all_w, offset, all_y = w, 0, y
    # Compact class ids over the (global) batch; counts give |P(i)| = n_{y_i} - 1.
    _, cls, counts = torch.unique(all_y, return_inverse=True, return_counts=True)
    n_pos_all = counts[cls] - 1  # (M_all,)
    n_valid = int((n_pos_all > 0).sum())
    if n_valid == 0:
        raise ValueError("supcon_loss needs at least one anchor with a positive (two views of one "
                         "sample, or two samples of one class); every label in the batch is unique "
                         f"and z has {n_views} view(s)")
    cls_local = cls[offset: offset + w.shape[0]]  # (M,)
    class_sums = all_w.new_zeros(counts.shape[0], d).index_add(0, cls, all_w)  # (K, D) c_k
    # sum_{p in P(i)} <w_i, w_p> = <w_i, c_{y_i}> - <w_i, w_i>
    pos_sum = (w * class_sums[cls_local]).sum(dim=1) - (w * w).sum(dim=1)  # (M,)
    n_pos = n_pos_all[offset: offset + w.shape[0]]
    self_idx = offset + torch.arange(w.shape[0], device=w.device)
    lse = logsumexp_candidates(w, all_w if distributed else None, temperature=temperature,
                               self_idx=self_idx, chunk_size=chunk_size).row  # (M,) log sum_A
    mean_pos = pos_sum / n_pos.clamp(min=1).to(w.dtype) / temperature  # (M,) mean positive logit
    per_view = torch.where(n_pos > 0, lse - mean_pos, torch.zeros_like(lse))
    if reduction == "none":
        return per_view.reshape(z.shape[:-1])
    return _reduce(per_view, reduction, distributed=distributed, count=n_valid)


def class_conditional_info_nce_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 0.1,
    normalize: bool = True,
    symmetric: bool = True,
    reduction: str = "mean",
    chunk_size: int | None = None,
    distributed: bool = False,
) -> torch.Tensor:
    r"""Class-conditional InfoNCE: pick your own partner among the other view's samples *of your class*.

    With :math:`s_{ij} = \langle u_i, v_j\rangle/\tau` as in :func:`~reptutor.losses.info_nce_loss`
    and :math:`C(i) = \{j : y_j = y_i\}` (which contains :math:`i`),

    .. math::

        \ell_i = -\log \frac{e^{s_{ii}}}{\sum_{j \in C(i)} e^{s_{ij}}}
               = \operatorname{logsumexp}_{j \in C(i)} s_{ij} - s_{ii},

    the class-conditional InfoNCE term :math:`\mathcal L_{cNCE}` of Chen et al. (2022), which
    :math:`\mathcal L_{spread}` mixes with SupCon to keep within-class spread. It is a distinct
    quantity from SupCon: the positive is the *instance's* other view and the negatives are the
    *same-class* samples only, so it pushes a class apart internally where SupCon pulls it
    together. It is InfoNCE with negatives drawn from :math:`p(z \mid y)`, so
    :math:`\log |C(i)| - \ell_i` estimates a lower bound on the conditional mutual information
    :math:`I(z_a; z_b \mid y)`. With a single class it is :func:`~reptutor.losses.info_nce_loss`.
    ``symmetric=True`` averages the a->b and b->a directions (the columns of :math:`s`, also
    restricted to the class); Chen et al.'s code uses one direction (``symmetric=False``).

    Args:
        z_a: first view's embeddings.
        z_b: second view's embeddings; row ``i`` is the positive of ``z_a[i]``.
        labels: (N,) integer class of each sample (shared by its two views).
        temperature: :math:`\tau > 0`, default 0.1 (SupCon's value, so that the two losses can
            be mixed at one temperature; Chen et al. tune it per dataset).
        normalize: L2-normalise rows first (cosine similarity).
        symmetric: average the a->b and b->a directions.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per-sample, shape (N,)).
        chunk_size: ``None`` for the dense path, or the number of rows per streamed block (the
            class restriction is applied per block, never as an N x N mask).
        distributed: as in :func:`~reptutor.losses.info_nce_loss`.

    Returns:
        The loss in nats (a scalar, or (N,) with ``reduction="none"``).

    Shape:
        ``z_a``, ``z_b``: (N, D); ``labels``: (N,).

    Raises:
        ValueError / TypeError: as :func:`~reptutor.losses.info_nce_loss`, and for labels of the
            wrong length, dtype or device.

    Examples:
        Constant embeddings: each sample ties with the n_y members of its class, loss = log n_y.

        >>> c = torch.ones(5, 3)
        >>> y = torch.tensor([0, 0, 0, 1, 1])
        >>> expected = (3 * math.log(3) + 2 * math.log(2)) / 5
        >>> round(float(class_conditional_info_nce_loss(c, c, y)), 5) == round(expected, 5)
        True
    """
    temperature = validate_pair(z_a, z_b, temperature, reduction, chunk_size, distributed)
    _check_labels(labels, z_a.shape[0], z_a, "z_a")
    _checks.boolean("symmetric", symmetric)
    if _checks.boolean("normalize", normalize):
        z_a, z_b = unit_rows(z_a), unit_rows(z_b)
    distributed = distributed and _distributed.is_active()
    if distributed:
        all_a, offset = _distributed.gather_rows(z_a)
        all_b, _ = _distributed.gather_rows(z_b)
        all_y = _distributed.gather_labels(labels)
        own = offset + torch.arange(z_a.shape[0], device=z_a.device)  # s_ii, the positives
        ab = logsumexp_candidates(z_a, all_b, temperature=temperature, q_lab=labels,
                                  k_lab=all_y, pos_idx=own, chunk_size=chunk_size)
        loss = ab.row - ab.pos  # (N,) a -> b within the class, >= 0 exactly
        if symmetric:
            ba = logsumexp_candidates(z_b, all_a, temperature=temperature, q_lab=labels,
                                      k_lab=all_y, pos_idx=own, chunk_size=chunk_size)
            loss = 0.5 * (loss + (ba.row - ba.pos))
        count = all_a.shape[0]
    else:
        diag = torch.arange(z_a.shape[0], device=z_a.device)  # s_ii, the positives
        res = logsumexp_candidates(z_a, z_b, temperature=temperature, q_lab=labels,
                                   k_lab=labels, pos_idx=diag, chunk_size=chunk_size,
                                   want_cols=symmetric)
        loss = res.row - res.pos  # (N,) a -> b within the class, >= 0 exactly
        if symmetric:
            loss = 0.5 * (loss + (res.col - res.pos))
        count = z_a.shape[0]
    return _reduce(loss, reduction, distributed=distributed, count=count)


class SupConLoss(nn.Module):
    """Module wrapper of :func:`supcon_loss`."""

    def __init__(self, *, temperature: float = 0.1, reduction: str = "mean",
                 chunk_size: int | None = None, distributed: bool = False) -> None:
        super().__init__()
        self.temperature = validate_options(temperature, reduction, chunk_size, distributed)
        self.reduction, self.chunk_size = reduction, chunk_size
        self.distributed = distributed

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return supcon_loss(z, labels, temperature=self.temperature, reduction=self.reduction,
                           chunk_size=self.chunk_size, distributed=self.distributed)

    def extra_repr(self) -> str:
        return hyper_parameters(self)


class ClassConditionalInfoNCELoss(nn.Module):
    """Module wrapper of :func:`class_conditional_info_nce_loss`."""

    def __init__(self, *, temperature: float = 0.1, normalize: bool = True, symmetric: bool = True,
                 reduction: str = "mean", chunk_size: int | None = None,
                 distributed: bool = False) -> None:
        super().__init__()
        self.temperature = validate_options(temperature, reduction, chunk_size, distributed)
        self.normalize = _checks.boolean("normalize", normalize)
        self.symmetric = _checks.boolean("symmetric", symmetric)
        self.reduction, self.chunk_size = reduction, chunk_size
        self.distributed = distributed

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return class_conditional_info_nce_loss(
            z_a, z_b, labels, temperature=self.temperature, normalize=self.normalize,
            symmetric=self.symmetric, reduction=self.reduction, chunk_size=self.chunk_size,
            distributed=self.distributed)

    def extra_repr(self) -> str:
        return hyper_parameters(self)
