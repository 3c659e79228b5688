r"""Contrastive Multiview Coding: InfoNCE summed over a graph of view pairs, and its predictive rival.

CMC learns one encoder per view :math:`\phi_1, \dots, \phi_V` and asks every pair of views of the
same scene to pick each other out of a batch. With more than two views the pairs to contrast
form a graph: the *core view* graph (view 1 against every other view) or the *full graph*
(every pair). Information shared by many views is rewarded by many pairwise terms, information
shared by only two views by one, which is why adding views moves a capacity-limited
representation towards what all views share.

References:
    Y. Tian, D. Krishnan, P. Isola. *Contrastive Multiview Coding*. ECCV 2020,
    arXiv:1906.05849v5 (the two-view loss, the core-view and full-graph objectives, and the
    comparison with cross-view prediction).

    A. van den Oord, Y. Li, O. Vinyals. *Representation Learning with Contrastive Predictive
    Coding*. arXiv:1807.03748v2, 2018 (InfoNCE and its mutual-information lower bound).

Taught in the chapter *Contrastive Multiview Coding: more views, less nuisance* (P38,
``notebooks/01_information/02_cmc``).
"""
from __future__ import annotations

import itertools
import math  # noqa: F401  (used by the doctests)
from collections.abc import Sequence
from typing import NamedTuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor._reduction import REDUCTIONS as _REDUCTIONS, reduce as _reduce
from reptutor.losses.contrastive import info_nce_loss

__all__ = [
    "view_pairs",
    "cmc_terms",
    "cmc_loss",
    "CMCTerms",
    "CMCLoss",
    "cross_view_prediction_loss",
    "CMC_GRAPHS",
]

#: The two view graphs of the paper, by name.
CMC_GRAPHS = ("full", "core")
_DISTANCES = ("l2", "l1")

Views = Union[torch.Tensor, Sequence[torch.Tensor]]
Graph = Union[str, Sequence[Sequence[int]]]


class CMCTerms(NamedTuple):
    r"""The multiview loss and its pairwise terms (see :func:`cmc_terms`).

    Attributes:
        loss: the total, :math:`\sum_{(i,j)} \mathcal L(V_i, V_j)`; a scalar, or (N,) per
            sample with ``reduction="none"``.
        pairs: the view pairs :math:`(i, j)`, :math:`i < j`, in the order of ``pair_losses``.
        pair_losses: :math:`\mathcal L(V_i, V_j)` for each pair, shape (E,), or (E, N) with
            ``reduction="none"``.
    """

    loss: torch.Tensor
    pairs: tuple[tuple[int, int], ...]
    pair_losses: torch.Tensor


def view_pairs(num_views: int, *, graph: Graph = "full", core_view: int = 0) -> tuple[tuple[int, int], ...]:
    r"""The pairs of views that a CMC objective contrasts.

    Tian, Krishnan & Isola, *Contrastive Multiview Coding*, ECCV 2020, arXiv:1906.05849v5,
    section "Contrastive Learning with More than Two Views". With views numbered
    :math:`0, \dots, V-1` (the paper counts from 1):

    * ``"core"``: the core view :math:`c` against every other view,
      :math:`\{(c, j) : j \ne c\}`, :math:`V-1` pairs;
    * ``"full"``: every pair, :math:`\{(i, j) : i < j\}`, :math:`\binom V2` pairs;
    * an explicit sequence of pairs (any graph, e.g. a chain), validated and normalised.

    Each pair is returned as :math:`(\min, \max)`; order is the order of the graph.

    Args:
        num_views: the number of views :math:`V \ge 2`.
        graph: ``"full"``, ``"core"`` or a sequence of distinct pairs of view indices.
        core_view: the core view :math:`c` of the ``"core"`` graph, in ``[0, V)``
            (the paper's :math:`V_1`).

    Returns:
        A tuple of ``(i, j)`` pairs with ``i < j``.

    Raises:
        TypeError: if ``num_views`` / ``core_view`` are not integers or a pair is malformed.
        ValueError: for ``num_views < 2``, an unknown graph name, an out-of-range or repeated
            pair, a self-pair, or ``core_view`` outside ``[0, V)``.

    Examples:
        The full graph counts :math:`\binom V2` pairs, the core view :math:`V - 1`; with two
        views they coincide.

        >>> view_pairs(4)
        ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
        >>> view_pairs(4, graph="core", core_view=2)
        ((0, 2), (1, 2), (2, 3))
        >>> view_pairs(2, graph="core") == view_pairs(2, graph="full")
        True
    """
    _checks.integer("num_views", num_views, minimum=2)
    if isinstance(graph, str):
        _checks.choice("graph", graph, CMC_GRAPHS)
        if graph == "full":
            return tuple(itertools.combinations(range(num_views), 2))
        _checks.integer("core_view", core_view, minimum=0, maximum=num_views - 1)
        return tuple((min(core_view, j), max(core_view, j)) for j in range(num_views) if j != core_view)
    if not isinstance(graph, Sequence) or len(graph) == 0:
        raise TypeError(
            f"graph must be one of {', '.join(map(repr, CMC_GRAPHS))} or a non-empty sequence "
            f"of (i, j) view pairs, got {type(graph).__name__} {graph!r}"[:200]
        )
    out: list[tuple[int, int]] = []
    for k, pair in enumerate(graph):
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise TypeError(f"graph[{k}] must be a pair (i, j) of view indices, got {pair!r}"[:200])
        i = _checks.integer(f"graph[{k}][0]", pair[0], minimum=0, maximum=num_views - 1)
        j = _checks.integer(f"graph[{k}][1]", pair[1], minimum=0, maximum=num_views - 1)
        if i == j:
            raise ValueError(f"graph[{k}] must join two different views, got ({i}, {j})")
        p = (min(i, j), max(i, j))
        if p in out:
            raise ValueError(f"graph[{k}] repeats the pair {p}; each pair may appear once")
        out.append(p)
    return tuple(out)


def _stack_views(views: Views) -> list[torch.Tensor]:
    """Validate a (V, N, D) tensor or a sequence of V (N, D) tensors; return the list of views."""
    if isinstance(views, torch.Tensor):
        _checks.tensor("views", views, ndim=3)
        if views.shape[0] < 2:
            raise ValueError(f"views must hold at least 2 views along dim 0, got shape {tuple(views.shape)}")
        return list(views.unbind(0))
    if not isinstance(views, Sequence) or isinstance(views, str):
        raise TypeError(
            "views must be a (V, N, D) tensor or a sequence of V (N, D) tensors, "
            f"got {type(views).__name__}"
        )
    if len(views) < 2:
        raise ValueError(f"views must hold at least 2 views, got {len(views)}")
    out = []
    for k, z in enumerate(views):
        _checks.tensor(f"views[{k}]", z, ndim=2)
        if k:
            _checks.same_shape("views[0]", views[0], f"views[{k}]", z)
            _checks.same_device_dtype("views[0]", views[0], f"views[{k}]", z)
        out.append(z)
    return out


def cmc_terms(
    views: Views,
    *,
    graph: Graph = "full",
    core_view: int = 0,
    temperature: float = 0.07,
    normalize: bool = True,
    reduction: str = "mean",
) -> CMCTerms:
    r"""The CMC multiview contrastive loss with its pairwise terms.

    Tian, Krishnan & Isola, *Contrastive Multiview Coding*, ECCV 2020, arXiv:1906.05849v5.
    For views :math:`i, j` with embeddings :math:`z^{(i)}_n = \phi_i(v^{(i)}_n)` (unit-normalised
    when ``normalize``), the critic is :math:`h(v^{(i)}_n, v^{(j)}_m) = \exp(\langle
    z^{(i)}_n, z^{(j)}_m\rangle/\tau)` and the one-directional loss anchors view :math:`i`
    and picks the positive among the :math:`N` candidates of view :math:`j` (the batch):

    .. math::

        \mathcal L^{V_i, V_j} = -\frac1N \sum_{n=1}^{N}
            \log \frac{h(v^{(i)}_n, v^{(j)}_n)}{\sum_{m=1}^{N} h(v^{(i)}_n, v^{(j)}_m)},
        \qquad
        \mathcal L(V_i, V_j) = \mathcal L^{V_i, V_j} + \mathcal L^{V_j, V_i}.

    The objective sums :math:`\mathcal L(V_i, V_j)` over the pairs of the graph
    (:func:`view_pairs`):

    .. math::

        \mathcal L_C = \sum_{j \ne c} \mathcal L(V_c, V_j) \quad (\text{core view } c),
        \qquad
        \mathcal L_F = \sum_{i < j} \mathcal L(V_i, V_j) \quad (\text{full graph}).

    Normalisation, following the paper: both directions are *summed* (so
    :math:`\mathcal L(V_i, V_j) = 2\times` the symmetric :func:`~reptutor.losses.info_nce_loss`)
    and pairs are *summed*, not averaged, so the scale grows with the number of pairs; only
    the sample index is averaged. Each :math:`\mathcal L^{V_i,V_j}` is the InfoNCE loss of
    van den Oord et al. (2018), so :math:`\log N - \mathcal L^{V_i,V_j}` lower-bounds
    :math:`I(z^{(i)}; z^{(j)})` (the paper writes :math:`\log k` with :math:`k` negatives drawn
    from a memory bank; here the :math:`N - 1` other samples of the batch are the negatives).

    Each pairwise term is computed by :func:`~reptutor.losses.info_nce_loss` (one
    :math:`N \times N` similarity matmul per pair, cost :math:`O(E N^2 D)`, :math:`E` the number of pairs).

    Args:
        views: the embeddings of the :math:`V` views, a (V, N, D) tensor or a sequence of V
            (N, D) tensors; row ``n`` of every view comes from the same scene.
        graph: ``"full"`` (default), ``"core"``, or an explicit sequence of view pairs.
        core_view: the anchor view of the ``"core"`` graph.
        temperature: :math:`\tau > 0`; default 0.07, the value of the official code
            (``--nce_t 0.07`` in ``HobbitLong/CMC``).
        normalize: L2-normalise every embedding first (the paper's cosine critic).
        reduction: over samples, ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        :class:`CMCTerms` ``(loss, pairs, pair_losses)``, in nats.

    Shape:
        ``views``: (V, N, D), V >= 2; ``loss``: () or (N,); ``pair_losses``: (E,) or (E, N), E pairs.

    Raises:
        TypeError / ValueError: for views of mismatched shapes, dtypes or devices, fewer than
            two views, non-finite values, a bad graph or ``core_view``, a non-positive
            temperature or an unknown reduction.

    Examples:
        Constant embeddings: every candidate ties, so each direction costs :math:`\log N` and
        the full graph on 3 views costs :math:`3 \times 2 \log N`.

        >>> t = cmc_terms(torch.ones(3, 8, 2))
        >>> t.pairs
        ((0, 1), (0, 2), (1, 2))
        >>> torch.allclose(t.pair_losses, torch.full((3,), 2 * math.log(8)))
        True
        >>> abs(float(t.loss) - 6 * math.log(8)) < 1e-5
        True
    """
    zs = _stack_views(views)
    pairs = view_pairs(len(zs), graph=graph, core_view=core_view)
    temperature = _checks.number("temperature", temperature, positive=True)
    _checks.choice("reduction", reduction, _REDUCTIONS)
    if _checks.boolean("normalize", normalize):
        zs = [F.normalize(z, dim=1) for z in zs]  # (N, D) unit rows, normalised once per view
    per_pair = torch.stack([
        # L(V_i, V_j) = L^{ij} + L^{ji} = 2 x the symmetric (averaged) InfoNCE, per sample.
        2.0 * info_nce_loss(zs[i], zs[j], temperature=temperature, normalize=False,
                            symmetric=True, reduction="none")
        for i, j in pairs
    ])  # (E, N)
    if reduction == "none":
        return CMCTerms(per_pair.sum(0), pairs, per_pair)
    pair_losses = per_pair.mean(1) if reduction == "mean" else per_pair.sum(1)  # (E,)
    return CMCTerms(pair_losses.sum(), pairs, pair_losses)


def cmc_loss(
    views: Views,
    *,
    graph: Graph = "full",
    core_view: int = 0,
    temperature: float = 0.07,
    normalize: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""The CMC objective :math:`\mathcal L_F` (full graph) or :math:`\mathcal L_C` (core view).

    Tian, Krishnan & Isola, *Contrastive Multiview Coding*, ECCV 2020, arXiv:1906.05849v5.
    The total of :func:`cmc_terms`:

    .. math::

        \mathcal L = \sum_{(i, j) \in \mathcal G} \big(\mathcal L^{V_i,V_j}
            + \mathcal L^{V_j,V_i}\big),

    with :math:`\mathcal G` the full graph (all :math:`i<j`) or the core-view star, each
    direction an InfoNCE loss over the batch (see :func:`cmc_terms` for the exact formula and
    normalisation: directions and pairs summed, samples averaged).

    Args:
        views: (V, N, D) tensor or sequence of V (N, D) embeddings.
        graph: ``"full"``, ``"core"`` or a sequence of view pairs.
        core_view: the anchor of the ``"core"`` graph.
        temperature: :math:`\tau > 0`, default 0.07 (official code).
        normalize: L2-normalise the embeddings first.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over samples.

    Returns:
        The loss in nats, a scalar (or (N,) with ``reduction="none"``).

    Shape:
        ``views``: (V, N, D).

    Raises:
        TypeError / ValueError: as :func:`cmc_terms`.

    Examples:
        With two views CMC is twice the symmetric InfoNCE loss, whatever the graph.

        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(2, 16, 4, generator=g)
        >>> two = 2 * info_nce_loss(a, b, temperature=0.07)
        >>> bool(torch.allclose(cmc_loss([a, b]), two)) and bool(torch.allclose(cmc_loss([a, b], graph="core"), two))
        True

        Lower bound: every pairwise InfoNCE term is at least 0, so the loss is too, and it
        is the same for any order of the samples (shuffled jointly in all views).

        >>> z = torch.randn(3, 16, 4, generator=g)
        >>> perm = torch.randperm(16, generator=g)
        >>> bool(torch.allclose(cmc_loss(z), cmc_loss(z[:, perm]))) and float(cmc_loss(z)) >= 0
        True
    """
    return cmc_terms(views, graph=graph, core_view=core_view, temperature=temperature,
                     normalize=normalize, reduction=reduction).loss


def cross_view_prediction_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    *,
    distance: str = "l2",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Cross-view prediction: the distance, in the target view's own space, to its prediction.

    The "predictive learning" baseline of Tian, Krishnan & Isola, *Contrastive Multiview
    Coding*, ECCV 2020, arXiv:1906.05849v5: an encoder :math:`f` maps view :math:`v_1` to
    :math:`z`, a decoder :math:`g` predicts the other view :math:`\hat v_2 = g(z)`, and the loss
    is measured in the output space,

    .. math::

        \ell_n = \lVert \hat v_{2,n} - v_{2,n} \rVert_2^2 \ (\text{``l2''}),
        \qquad
        \ell_n = \lVert \hat v_{2,n} - v_{2,n} \rVert_1 \ (\text{``l1''}),

    summed over the :math:`D` coordinates of each sample and averaged over samples with
    ``reduction="mean"`` (note: :func:`torch.nn.functional.mse_loss` also divides by
    :math:`D`). Unlike the contrastive loss, this objective is not invariant to rescaling
    a coordinate of the target: a factor that moves the target a lot weighs a lot, however
    few nats it carries. With the L2 distance the best decoder is the conditional mean
    :math:`\mathbb E[v_2 \mid z]`, so :math:`z` is rewarded for the *variance* of
    :math:`\mathbb E[v_2 \mid v_1]` it explains.

    Args:
        prediction: the decoder's output :math:`\hat v_2`.
        target: the view to predict :math:`v_2` (detach it if it comes from a network).
        distance: ``"l2"`` (squared Euclidean, default) or ``"l1"``; the paper mentions both.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` over samples.

    Returns:
        The loss, a scalar (or (N,) with ``reduction="none"``).

    Shape:
        ``prediction``, ``target``: (N, D).

    Raises:
        TypeError / ValueError: for mismatched shapes, dtypes or devices, non-finite values,
            an unknown distance or reduction.

    Examples:
        A perfect prediction costs 0; the L2 loss is D times
        :func:`torch.nn.functional.mse_loss` and quadruples when the error doubles.

        >>> x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
        >>> float(cross_view_prediction_loss(x, x))
        0.0
        >>> e = cross_view_prediction_loss(x + 0.1, x)
        >>> bool(torch.isclose(e, 3 * F.mse_loss(x + 0.1, x)))
        True
        >>> bool(torch.isclose(cross_view_prediction_loss(x + 0.2, x), 4 * e))
        True
    """
    _checks.views("prediction", prediction, "target", target)
    _checks.choice("distance", distance, _DISTANCES)
    _checks.choice("reduction", reduction, _REDUCTIONS)
    err = prediction - target  # (N, D) residual in the target view's space
    per_sample = (err * err).sum(1) if distance == "l2" else err.abs().sum(1)  # (N,)
    return _reduce(per_sample, reduction)


class CMCLoss(nn.Module):
    """Module wrapper of :func:`cmc_loss` (stores the graph and the hyper-parameters)."""

    def __init__(self, *, graph: Graph = "full", core_view: int = 0, temperature: float = 0.07,
                 normalize: bool = True, reduction: str = "mean") -> None:
        super().__init__()
        if isinstance(graph, str):
            _checks.choice("graph", graph, CMC_GRAPHS)
        _checks.integer("core_view", core_view, minimum=0)
        self.graph, self.core_view = graph, core_view
        self.temperature = _checks.number("temperature", temperature, positive=True)
        self.normalize = _checks.boolean("normalize", normalize)
        self.reduction = _checks.choice("reduction", reduction, _REDUCTIONS)

    def forward(self, views: Views) -> torch.Tensor:
        return cmc_loss(views, graph=self.graph, core_view=self.core_view,
                        temperature=self.temperature, normalize=self.normalize,
                        reduction=self.reduction)

    def extra_repr(self) -> str:
        return hyper_parameters(self)
