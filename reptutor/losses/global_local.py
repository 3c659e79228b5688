r"""Global and local cross-modal contrastive objectives for two time-aligned modalities.

References:
    S. Ma, Z. Zeng, D. McDuff, Y. Song. *Contrastive Learning of Global and Local Video
    Representations*. NeurIPS 2021, arXiv:2104.05418v2 (Section 3; official code
    ``github.com/yunyikristy/global_local``, ``model.py``, read for the exact normalisation).

    A. van den Oord, Y. Li, O. Vinyals. *Representation Learning with Contrastive Predictive
    Coding*. arXiv:1807.03748v2, 2018 (the InfoNCE log-sum-exp core, reused from
    :func:`reptutor.losses.info_nce_loss`).

Two objectives on sequences of embeddings ``z_a`` (e.g. audio) and ``z_b`` (e.g. video), both
stored samples first as ``(N, T, D)``: the *global* term contrasts time-averaged embeddings
across modalities (clip against clip), the *local* term contrasts the embeddings of one time step
across modalities (step against step). The paper sums them with equal weights.

What we follow and where we differ from the paper's official code:

* **Similarity.** The official code scores pairs by raw dot products, with no normalisation and
  no temperature; these are the defaults here (``normalize=False, temperature=1.0``). Cosine
  similarity over a temperature is one flag away.
* **Two directions.** The official code puts both directions (a to b and b to a) into one
  log-sum-exp per anchor, :math:`\operatorname{LSE}(\text{row}_i \cup \text{column}_i) - s_{ii}`;
  we average the two directions' cross-entropies, as :func:`reptutor.losses.info_nce_loss` does
  (CLIP-style). The official value is never smaller (a log-sum-exp over the union is at least the
  larger of the two directions', hence at least their mean); both fall as the positive score
  rises above the others.
* **Bags.** The paper's global term is a MIL-NCE over the spatial positions of the video
  feature map (the positive score is a log-sum-exp over positions). Its local term is a MIL-NCE
  over bags of audio frames, built in ``model.py`` by index arithmetic: the batch's audio
  features are flattened clip by clip into one (clip, audio frame) axis, truncated to a
  multiple of the number of video steps :math:`T_v`, and cut into consecutive groups of
  :math:`\lfloor T_a/T_v\rfloor` frames, the :math:`k`-th group being the bag of the
  :math:`k`-th flattened (clip, video step). With the released shapes (:math:`T_a = 96` audio
  frames, :math:`T_v = 32` fast-pathway steps) each bag is exactly the three frames of its own
  step and clip; when :math:`T_a` is not a multiple of :math:`T_v` (the shapes quoted in the
  code's comments, 98 and 31) the groups drift across clip boundaries. Here a clip has no
  spatial map and one embedding per step in each modality (bags of size one), where both terms
  reduce to the formulas below.
* **Negatives of the local term.** The official code contrasts each step against all
  :math:`N T` steps of the batch (``negatives="batch"``, the default). ``negatives="clip"``
  keeps only the :math:`T` steps of the same clip: contrast purely in time.

Taught in the chapter *Global and local contrast* (``notebooks/01_information/05_global_local``).
"""
from __future__ import annotations

import math  # noqa: F401  (used by the doctests)
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor._reduction import REDUCTIONS as _REDUCTIONS, reduce as _reduce
from reptutor.losses.contrastive import info_nce_loss

__all__ = [
    "global_contrastive_loss",
    "local_contrastive_loss",
    "global_local_terms",
    "global_local_loss",
    "GlobalLocalTerms",
    "GlobalLocalLoss",
]

_NEGATIVES = ("batch", "clip")
# argument names in messages: the two-argument losses' own, and the composite functions'
_PAIR_NAMES = ("z_a", "z_b")
_GLOBAL_NAMES = ("za_global", "zb_global")
_LOCAL_NAMES = ("za_local", "zb_local")


def _sequences(z_a: torch.Tensor, z_b: torch.Tensor, *, same_length: bool,
               names: tuple[str, str]) -> None:
    a, b = names  # the caller's argument names, for the messages
    if same_length:
        _checks.views(a, z_a, b, z_b, ndim=3)
        return
    _checks.tensor(a, z_a, ndim=3)
    _checks.tensor(b, z_b, ndim=3)
    _checks.same_device_dtype(a, z_a, b, z_b)
    if z_a.shape[0] != z_b.shape[0]:
        raise ValueError(
            f"{a} and {b} must have the same number of clips (dim 0), "
            f"got shapes {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    if z_a.shape[2] != z_b.shape[2]:
        raise ValueError(
            f"{a} and {b} must have the same embedding size (dim 2), "
            f"got shapes {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )


def global_contrastive_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    *,
    temperature: float = 1.0,
    normalize: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Global cross-modal contrast: a clip's time-averaged embedding must find its partner clip.

    Ma, Zeng, McDuff & Song, *Contrastive Learning of Global and Local Video Representations*,
    NeurIPS 2021, arXiv:2104.05418v2, Section 3 (the global objective between audio and the
    slow visual pathway). With the time averages

    .. math::

        \bar a_i = \frac{1}{T_a}\sum_{t=1}^{T_a} z^a_{i,t}, \qquad
        \bar b_j = \frac{1}{T_b}\sum_{t=1}^{T_b} z^b_{j,t}, \qquad
        s_{ij} = \langle \bar a_i, \bar b_j \rangle / \tau

    (rows unit-normalised first when ``normalize``), the per-clip loss is the symmetric
    InfoNCE of :func:`reptutor.losses.info_nce_loss` on the pooled embeddings,

    .. math::

        \ell_i = \tfrac12\Big[\big(\operatorname{LSE}_{j} s_{ij} - s_{ii}\big)
                 + \big(\operatorname{LSE}_{j} s_{ji} - s_{ii}\big)\Big],
        \qquad \mathcal L_{\mathrm{glob}} = \frac1N \sum_{i=1}^N \ell_i .

    Because it sees the sequences only through their means, the loss is invariant to any
    re-ordering of the time steps of either modality, clip by clip: it exerts no pressure on
    *when* anything happens. The paper's version also takes a MIL-NCE over the spatial positions
    of the video map and puts both directions in one log-sum-exp (see the module notes).

    Args:
        z_a: first modality's embedding sequences; row ``i`` is clip ``i``.
        z_b: second modality's sequences; clip ``i`` is the positive of ``z_a``'s clip ``i``.
            The lengths :math:`T_a, T_b` may differ (e.g. audio frames vs video frames).
        temperature: :math:`\tau > 0`; default 1, the official code's raw dot products.
        normalize: L2-normalise the pooled embeddings first (cosine similarity); default
            ``False`` as in the official code.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per clip, shape (N,)).

    Returns:
        The loss in nats (a scalar, or (N,) with ``reduction="none"``).

    Shape:
        ``z_a``: (N, T_a, D); ``z_b``: (N, T_b, D).

    Raises:
        TypeError: for non-tensors, non-float or mismatched dtypes.
        ValueError: for non-3-D inputs, different N or D, non-finite values, a non-positive
            temperature or an unknown reduction.

    Examples:
        Shuffling the time steps of one modality changes nothing:

        >>> g = torch.Generator().manual_seed(0)
        >>> z_a, z_b = torch.randn(4, 6, 3, generator=g), torch.randn(4, 6, 3, generator=g)
        >>> shuffled = z_b[:, torch.randperm(6, generator=g)]
        >>> base = global_contrastive_loss(z_a, z_b)
        >>> torch.allclose(base, global_contrastive_loss(z_a, shuffled))
        True

        Constant embeddings cannot tell the N clips apart: the loss is :math:`\log N`.

        >>> c = torch.ones(5, 7, 2)
        >>> round(float(global_contrastive_loss(c, c)), 6) == round(math.log(5), 6)
        True
    """
    return _global_contrastive(z_a, z_b, temperature=temperature, normalize=normalize,
                               reduction=reduction, names=_PAIR_NAMES)


def _global_contrastive(z_a: torch.Tensor, z_b: torch.Tensor, *, temperature: float,
                        normalize: bool, reduction: str, names: tuple[str, str]) -> torch.Tensor:
    _sequences(z_a, z_b, same_length=False, names=names)
    _checks.boolean("normalize", normalize)
    pooled_a = z_a.mean(dim=1)  # (N, D) time average of the first modality
    pooled_b = z_b.mean(dim=1)  # (N, D) time average of the second modality
    return info_nce_loss(pooled_a, pooled_b, temperature=temperature, normalize=normalize,
                         symmetric=True, reduction=reduction)


def local_contrastive_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    *,
    temperature: float = 1.0,
    normalize: bool = False,
    negatives: str = "batch",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Local cross-modal contrast: each step must find the same step of the other modality.

    Ma, Zeng, McDuff & Song, *Contrastive Learning of Global and Local Video Representations*,
    NeurIPS 2021, arXiv:2104.05418v2, Section 3 (the local objective between audio frames and
    the fast visual pathway). With scores
    :math:`s_{(i,t),(j,u)} = \langle z^a_{i,t}, z^b_{j,u}\rangle / \tau` (rows unit-normalised
    first when ``normalize``) and a candidate set :math:`C(i)` for the anchors of clip
    :math:`i`, the loss of the anchor :math:`(i, t)` is

    .. math::

        \ell_{i,t} = \tfrac12\Big[
            \big(\operatorname{LSE}_{(j,u)\in C(i)} s_{(i,t),(j,u)} - s_{(i,t),(i,t)}\big)
          + \big(\operatorname{LSE}_{(j,u)\in C(i)} s_{(j,u),(i,t)} - s_{(i,t),(i,t)}\big)\Big],
        \qquad
        \mathcal L_{\mathrm{loc}} = \frac{1}{N T}\sum_{i,t} \ell_{i,t},

    the positive being the *same time step of the same clip*. ``negatives="batch"`` takes
    :math:`C(i)` = all :math:`N T` steps of the batch (the official code; then the loss equals
    :func:`reptutor.losses.info_nce_loss` on the :math:`N T` flattened steps, which is how it is
    computed); ``negatives="clip"`` takes :math:`C(i) = \{(i, u)\}_{u=1}^{T}`, the steps of the
    same clip only.

    With ``negatives="clip"`` and raw dot products, content that is constant within a clip
    adds the same amount to every score of the clip and cancels from every log-softmax: the loss
    cannot reward it. With ``negatives="batch"`` it can, because it helps to tell clips apart.

    Args:
        z_a: first modality's embedding sequences.
        z_b: second modality's sequences, time-aligned with ``z_a`` step by step.
        temperature: :math:`\tau > 0`; default 1, the official code's raw dot products.
        normalize: L2-normalise each step's embedding first; default ``False`` (official code).
        negatives: ``"batch"`` (default, official code) or ``"clip"``.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per step, shape (N, T)).

    Returns:
        The loss in nats (a scalar, or (N, T) with ``reduction="none"``).

    Shape:
        ``z_a``, ``z_b``: (N, T, D).

    Raises:
        TypeError: for non-tensors, non-float or mismatched dtypes.
        ValueError: for shapes that differ or are not 3-D, non-finite values, ``T < 2`` with
            ``negatives="clip"``, a non-positive temperature, or an unknown ``negatives`` /
            ``reduction``.

    Examples:
        Constant embeddings: every candidate ties, so the loss is the log of the number of
        candidates, :math:`\log(NT)` or :math:`\log T`.

        >>> c = torch.ones(3, 4, 2)
        >>> round(float(local_contrastive_loss(c, c)), 6) == round(math.log(12), 6)
        True
        >>> round(float(local_contrastive_loss(c, c, negatives="clip")), 6) == round(math.log(4), 6)
        True

        Within-clip negatives ignore a clip-constant block appended to both modalities:

        >>> g = torch.Generator().manual_seed(0)
        >>> z_a, z_b = torch.randn(3, 5, 2, generator=g), torch.randn(3, 5, 2, generator=g)
        >>> p = torch.randn(3, 1, 4, generator=g).expand(3, 5, 4)
        >>> with_p = local_contrastive_loss(torch.cat([z_a, p], -1), torch.cat([z_b, p], -1),
        ...                                 negatives="clip")
        >>> torch.allclose(with_p, local_contrastive_loss(z_a, z_b, negatives="clip"))
        True
    """
    return _local_contrastive(z_a, z_b, temperature=temperature, normalize=normalize,
                              negatives=negatives, reduction=reduction, names=_PAIR_NAMES)


def _local_contrastive(z_a: torch.Tensor, z_b: torch.Tensor, *, temperature: float,
                       normalize: bool, negatives: str, reduction: str,
                       names: tuple[str, str]) -> torch.Tensor:
    _sequences(z_a, z_b, same_length=True, names=names)
    _checks.boolean("normalize", normalize)
    _checks.choice("negatives", negatives, _NEGATIVES)
    _checks.choice("reduction", reduction, _REDUCTIONS)
    temperature = _checks.number("temperature", temperature, positive=True)
    n, t, d = z_a.shape
    if negatives == "batch":
        # All N*T steps of the batch are candidates: InfoNCE on the flattened steps.
        per_step = info_nce_loss(z_a.reshape(n * t, d), z_b.reshape(n * t, d),
                                 temperature=temperature, normalize=normalize,
                                 symmetric=True, reduction="none")  # (N*T,)
        return _reduce(per_step.reshape(n, t), reduction)
    if t < 2:
        raise ValueError(
            f"{names[0]} must have at least 2 time steps for negatives='clip', "
            f"got shape {tuple(z_a.shape)}"
        )
    if normalize:
        z_a, z_b = F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1)
    # (N, T, T) scores within each clip (.to: an autocast bfloat16 product back to z's dtype)
    logits = (z_a @ z_b.transpose(1, 2)).to(z_a.dtype) / temperature
    positive = logits.diagonal(dim1=1, dim2=2)  # (N, T) same clip, same step
    a_to_b = torch.logsumexp(logits, dim=2) - positive  # (N, T) anchor z_a[i, t] vs all z_b[i, u]
    b_to_a = torch.logsumexp(logits, dim=1) - positive  # (N, T) anchor z_b[i, t] vs all z_a[i, u]
    return _reduce(0.5 * (a_to_b + b_to_a), reduction)


class GlobalLocalTerms(NamedTuple):
    """The two terms of the global-local objective (each a scalar, in nats)."""

    global_term: torch.Tensor
    local_term: torch.Tensor


def global_local_terms(
    za_global: torch.Tensor,
    zb_global: torch.Tensor,
    za_local: torch.Tensor,
    zb_local: torch.Tensor,
    *,
    temperature: float = 1.0,
    normalize: bool = False,
    negatives: str = "batch",
) -> GlobalLocalTerms:
    r"""Both terms of Ma et al.'s objective, for plots and checks.

    Ma, Zeng, McDuff & Song, NeurIPS 2021, arXiv:2104.05418v2, Section 3:
    :math:`\mathcal L_{\mathrm{glob}}` of :func:`global_contrastive_loss` on the global
    projections and :math:`\mathcal L_{\mathrm{loc}}` of :func:`local_contrastive_loss` on the
    local projections (in the paper the two come from the slow and fast visual pathways and two
    projections of one audio network).

    Args:
        za_global: first modality's global projections, per step (pooled inside).
        zb_global: second modality's global projections, per step.
        za_local: first modality's local projections, per step.
        zb_local: second modality's local projections, per step.
        temperature: :math:`\tau` of both terms (default 1, official code).
        normalize: cosine instead of raw dot products in both terms (default ``False``).
        negatives: candidates of the local term, ``"batch"`` (default) or ``"clip"``.

    Returns:
        :class:`GlobalLocalTerms` ``(global_term, local_term)``, means over clips and steps.

    Shape:
        ``za_global``: (N, T_a, D_g); ``zb_global``: (N, T_b, D_g); ``za_local``,
        ``zb_local``: (N, T, D_l).

    Raises:
        As :func:`global_contrastive_loss` and :func:`local_contrastive_loss`.

    Examples:
        >>> c = torch.ones(4, 3, 2)
        >>> terms = global_local_terms(c, c, c, c, negatives="clip")
        >>> [round(float(v), 4) for v in terms] == [round(math.log(4), 4), round(math.log(3), 4)]
        True
    """
    glob = _global_contrastive(za_global, zb_global, temperature=temperature,
                               normalize=normalize, reduction="mean", names=_GLOBAL_NAMES)
    loc = _local_contrastive(za_local, zb_local, temperature=temperature, normalize=normalize,
                             negatives=negatives, reduction="mean", names=_LOCAL_NAMES)
    return GlobalLocalTerms(glob, loc)


def global_local_loss(
    za_global: torch.Tensor,
    zb_global: torch.Tensor,
    za_local: torch.Tensor,
    zb_local: torch.Tensor,
    *,
    global_weight: float = 1.0,
    local_weight: float = 1.0,
    temperature: float = 1.0,
    normalize: bool = False,
    negatives: str = "batch",
) -> torch.Tensor:
    r"""The weighted global-local objective, Ma et al.'s loss with equal weights by default.

    .. math::

        \mathcal L = w_g\,\mathcal L_{\mathrm{glob}} + w_l\,\mathcal L_{\mathrm{loc}}

    Ma, Zeng, McDuff & Song, NeurIPS 2021, arXiv:2104.05418v2: the paper (and its official
    ``pretrain.py``) minimises :math:`\mathcal L_{\mathrm{glob}} + \mathcal L_{\mathrm{loc}}`,
    i.e. both weights 1. A zero weight drops its term (it is then not computed, which gives the
    same value and gradient, and its two inputs may be ``None``), so ``local_weight=0`` is the
    global-only ablation and ``global_weight=0`` the local-only one.

    Args:
        za_global, zb_global, za_local, zb_local: as in :func:`global_local_terms`.
        global_weight: :math:`w_g \ge 0` (paper: 1).
        local_weight: :math:`w_l \ge 0` (paper: 1).
        temperature: :math:`\tau` of both terms (default 1, official code).
        normalize: cosine instead of raw dot products (default ``False``, official code).
        negatives: candidates of the local term, ``"batch"`` (default) or ``"clip"``.

    Returns:
        A scalar loss in nats.

    Shape:
        As :func:`global_local_terms`.

    Raises:
        ValueError: for negative weights or both weights zero, and as
            :func:`global_local_terms`.

    Examples:
        The sum of the two terms:

        >>> g = torch.Generator().manual_seed(0)
        >>> zs = [torch.randn(4, 5, 3, generator=g) for _ in range(4)]
        >>> total = global_local_loss(*zs)
        >>> torch.allclose(total, sum(global_local_terms(*zs)))
        True
    """
    global_weight = _checks.number("global_weight", global_weight, nonnegative=True)
    local_weight = _checks.number("local_weight", local_weight, nonnegative=True)
    if global_weight == 0 and local_weight == 0:
        raise ValueError("global_weight and local_weight must not both be 0 (nothing to train)")
    parts = []
    if global_weight > 0:
        parts.append(global_weight * _global_contrastive(
            za_global, zb_global, temperature=temperature, normalize=normalize,
            reduction="mean", names=_GLOBAL_NAMES))
    if local_weight > 0:
        parts.append(local_weight * _local_contrastive(
            za_local, zb_local, temperature=temperature, normalize=normalize,
            negatives=negatives, reduction="mean", names=_LOCAL_NAMES))
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


class GlobalLocalLoss(nn.Module):
    """Module wrapper of :func:`global_local_loss` (stores the hyper-parameters)."""

    def __init__(self, *, global_weight: float = 1.0, local_weight: float = 1.0,
                 temperature: float = 1.0, normalize: bool = False,
                 negatives: str = "batch") -> None:
        super().__init__()
        self.global_weight = _checks.number("global_weight", global_weight, nonnegative=True)
        self.local_weight = _checks.number("local_weight", local_weight, nonnegative=True)
        if self.global_weight == 0 and self.local_weight == 0:
            raise ValueError("global_weight and local_weight must not both be 0 (nothing to train)")
        self.temperature = _checks.number("temperature", temperature, positive=True)
        self.normalize = _checks.boolean("normalize", normalize)
        self.negatives = _checks.choice("negatives", negatives, _NEGATIVES)

    def forward(self, za_global: torch.Tensor, zb_global: torch.Tensor, za_local: torch.Tensor,
                zb_local: torch.Tensor) -> torch.Tensor:
        return global_local_loss(za_global, zb_global, za_local, zb_local,
                                 global_weight=self.global_weight, local_weight=self.local_weight,
                                 temperature=self.temperature, normalize=self.normalize,
                                 negatives=self.negatives)

    def extra_repr(self) -> str:
        return hyper_parameters(self)
