r"""Generalized data transformations (GDT): a contrastive loss that is invariant or distinctive per transformation.

Reference:
    M. Patrick, Y. M. Asano, P. Kuznetsova, R. Fong, J. F. Henriques, G. Zweig, A. Vedaldi.
    *On Compositions of Transformations in Contrastive Self-Supervised Learning*. ICCV 2021,
    arXiv:2003.04298v3 (v1 titled *Multi-modal Self-Supervision from Generalized Data
    Transformations*). Official code: ``github.com/facebookresearch/GDT``.

Every view in a batch is the image :math:`T x` of the data under a composed transformation
:math:`T = t_M \circ \dots \circ t_1`, where :math:`t_1` *selects the sample* (so "another
sample" is itself a transformation) and each further :math:`t_m` has a known parameter
:math:`\theta_m` (time reversal, time shift, modality, an augmentation...). For each factor the
user asks the representation to be

* **invariant**: two views that differ in :math:`\theta_m` may still be positives, or
* **distinctive**: two views that differ in :math:`\theta_m` are compared as negatives.

The paper writes the objective with a weight :math:`w(T, T') \in \{0, 1\}` (positive pairs) and
a comparison mask :math:`c(T, T') \in \{0, 1\}` (which pairs enter the denominator). Here both
are (N, N) boolean masks over the batch; :func:`gdt_masks` builds them from the per-view
parameters with the product rule (positives share the sample index and every distinctive
parameter), :func:`generalized_nce_loss` evaluates the objective with one similarity matmul and
masked log-sum-exps, :func:`gdt_loss` chains the two, and :func:`mask_conflicts` finds the
pairs a mask asks to be both pulled together (through a chain of positives) and pushed apart.

An anchor with several positives can be scored two ways (``denominator=``): the released code
gives every positive its own single-positive NCE term, whose denominator leaves out the anchor's
other positives (``"separate"``, the default); the paper's equation puts all compared views,
positives included, in one denominator (``"shared"``). They agree when each anchor has one
positive; their floors differ (0 against :math:`\log|P_i|`). The released code also stops the
gradient through every positive and negative (only the anchor is trained in each term) and
chooses each term's negatives by branch and GPU; this module does neither (see
:func:`generalized_nce_loss`).

Taught in the chapter *Invariant or distinctive: compositions of transformations (GDT)*
(``notebooks/01_information/04_gdt``).
"""
from __future__ import annotations

import math  # noqa: F401  (used by the doctests)
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor._reduction import REDUCTIONS as _REDUCTIONS, reduce as _reduce

__all__ = [
    "TRANSFORM_MODES",
    "GDTMasks",
    "gdt_masks",
    "generalized_nce_loss",
    "gdt_loss",
    "mask_conflicts",
    "GDTLoss",
]

#: The two choices GDT offers for every transformation factor.
TRANSFORM_MODES = ("invariant", "distinctive")
#: How an anchor with several positives is scored (see :func:`generalized_nce_loss`).
_DENOMINATORS = ("separate", "shared")


class GDTMasks(NamedTuple):
    r"""The two masks of the GDT objective (both (N, N) bool, False on the diagonal).

    Attributes:
        positive: :math:`w(T_i, T_j)`: view ``j`` is a positive of anchor ``i``.
        compare: :math:`c(T_i, T_j)`: view ``j`` enters anchor ``i``'s denominator;
            ``positive`` implies ``compare``.
    """

    positive: torch.Tensor
    compare: torch.Tensor


def _check_mask(name: str, mask: object, n: int, device: torch.device) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of bools, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must have dtype torch.bool, got {mask.dtype}")
    if mask.shape != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}) (one row per view of z), "
                         f"got {tuple(mask.shape)}")
    if mask.device != device:
        raise ValueError(f"{name} must be on z's device {device}, got {mask.device}")
    if bool(mask.diagonal().any()):
        raise ValueError(f"{name} must be False on the diagonal (a view is never compared with "
                         f"itself), got {int(mask.diagonal().sum())} True entries")
    return mask


def gdt_masks(
    sample_index: torch.Tensor,
    params: torch.Tensor | None,
    *,
    modes: Sequence[str],
    cross_factor: int | None = None,
) -> GDTMasks:
    r"""Positive and comparison masks of a GDT batch, from each view's transformation parameters.

    Patrick et al., *On Compositions of Transformations in Contrastive Self-Supervised
    Learning*, ICCV 2021, arXiv:2003.04298 (the weights :math:`w` and comparisons :math:`c` of
    the GDT objective). View :math:`i` comes from sample :math:`s_i` under parameters
    :math:`\theta_{i1}, \dots, \theta_{iM}`; with :math:`\mathcal D` the distinctive factors,

    .. math::

        w_{ij} = [i \ne j]\,[s_i = s_j] \prod_{m \in \mathcal D} [\theta_{im} = \theta_{jm}]
                 \cdot c_{ij},
        \qquad
        c_{ij} = [i \ne j] \cdot \begin{cases}
            [\theta_{ig} \ne \theta_{jg}] & \text{with a cross factor } g,\\
            1 & \text{otherwise.}\end{cases}

    Invariant factors do not enter :math:`w` (views differing in them may be positives);
    distinctive ones do (views differing in them are compared as negatives, the *hard*
    negatives when they share the sample). The sample index is always distinctive. A cross
    factor :math:`g` (GDT's modality split) restricts all comparisons to pairs that differ in
    it, as in the paper's cross-modal loss; it must be invariant, since a distinctive cross
    factor would leave no positive at all. Being a product of equalities, the positive relation
    is an equivalence restricted to compared pairs, so the masks never ask for a pair to be both
    pulled together and pushed apart (see :func:`mask_conflicts`).

    Args:
        sample_index: :math:`s`, which data sample each view comes from (non-negative ints).
        params: :math:`\theta`, integer parameters of the M further transformations per view,
            or ``None`` for M = 0 (only the sample index matters).
        modes: one of ``"invariant"`` / ``"distinctive"`` per column of ``params``.
        cross_factor: index :math:`g` of the factor whose values must differ between compared
            views (e.g. the modality), or ``None`` to compare every pair.

    Returns:
        :class:`GDTMasks` ``(positive, compare)``.

    Shape:
        ``sample_index``: (N,); ``params``: (N, M); masks: (N, N).

    Raises:
        TypeError / ValueError: for non-integer or mis-shaped inputs, a ``modes`` entry that is
            not a valid choice or of the wrong length, an out-of-range ``cross_factor``, or a
            distinctive ``cross_factor``.

    Examples:
        Two samples, each seen with and without time reversal. With reversal invariant, the two
        versions of a sample are positives; with it distinctive they become hard negatives and
        no positive is left (a second modality would supply one):

        >>> s = torch.tensor([0, 0, 1, 1]); r = torch.tensor([[0], [1], [0], [1]])
        >>> gdt_masks(s, r, modes=["invariant"]).positive.int()
        tensor([[0, 1, 0, 0],
                [1, 0, 0, 0],
                [0, 0, 0, 1],
                [0, 0, 1, 0]], dtype=torch.int32)
        >>> int(gdt_masks(s, r, modes=["distinctive"]).positive.sum())
        0
    """
    s = _checks.integers("sample_index", sample_index, ndim=1, layout="(N,)")
    n = s.shape[0]
    if params is None:
        params = torch.zeros(n, 0, dtype=torch.long, device=s.device)
    p = _checks.integers("params", params, ndim=2, layout="(N, M)", allow_empty=True)
    if p.shape[0] != n:
        raise ValueError(f"params must have {n} rows (one per view, like sample_index), "
                         f"got shape {tuple(p.shape)}")
    if p.device != s.device:
        raise ValueError(f"params must be on sample_index's device {s.device}, got {p.device}")
    if isinstance(modes, str) or not isinstance(modes, Sequence):
        raise TypeError(f"modes must be a sequence with one mode per column of params, "
                        f"got {modes!r}"[:200])
    if len(modes) != p.shape[1]:
        raise ValueError(f"modes must have one entry per column of params ({p.shape[1]}), "
                         f"got {len(modes)}")
    for m, mode in enumerate(modes):
        _checks.choice(f"modes[{m}]", mode, TRANSFORM_MODES)
    if cross_factor is not None:
        _checks.integer("cross_factor", cross_factor, minimum=0, maximum=max(p.shape[1] - 1, 0))
        if p.shape[1] == 0:
            raise ValueError("cross_factor needs at least one column in params, got none")
        if modes[cross_factor] != "invariant":
            raise ValueError(
                f"cross_factor={cross_factor} must be an invariant factor: comparing only views "
                "that differ in it while requiring positives to agree on it leaves no positive, "
                f"got modes[{cross_factor}]={modes[cross_factor]!r}"
            )
    eye = torch.eye(n, dtype=torch.bool, device=s.device)
    compare = ~eye  # (N, N) c_ij before the cross-factor restriction
    if cross_factor is not None:
        g = p[:, cross_factor]
        compare = compare & (g[:, None] != g[None, :])  # only pairs that differ in factor g
    distinct = [m for m, mode in enumerate(modes) if mode == "distinctive"]
    key = torch.cat([s[:, None], p[:, distinct]], dim=1)  # (N, 1 + |D|) what positives share
    same_key = (key[:, None, :] == key[None, :, :]).all(dim=2)  # (N, N) [s_i=s_j] prod [theta]
    return GDTMasks(positive=same_key & compare, compare=compare)


def generalized_nce_loss(
    z: torch.Tensor,
    positive: torch.Tensor,
    compare: torch.Tensor | None = None,
    *,
    temperature: float = 0.07,
    normalize: bool = True,
    denominator: str = "separate",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""The GDT contrastive objective for arbitrary positive and comparison masks.

    Patrick et al., *On Compositions of Transformations in Contrastive Self-Supervised
    Learning*, ICCV 2021, arXiv:2003.04298 (the GDT objective with weights :math:`w` and
    comparisons :math:`c`; official code ``github.com/facebookresearch/GDT``, ``gdt_helper.py``
    and ``main_gdt.py``). With :math:`s_{ij} = \langle u_i, u_j\rangle/\tau`, :math:`u_i` the
    rows of ``z`` (unit-normalised when ``normalize``), positives
    :math:`P_i = \{j : w_{ij}\}`, compared views :math:`C_i = \{k : c_{ik}\} \supseteq P_i` and
    compared negatives :math:`N_i = C_i \setminus P_i`, the loss of anchor :math:`i` is one of
    two averages over its positives.

    ``denominator="separate"`` (default; the released code's form): every positive gets its own
    term, whose denominator holds that positive and the negatives but *not* the anchor's other
    positives,

    .. math::

        \ell_i = \frac{1}{|P_i|}\sum_{j \in P_i}
                 -\log \frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k \in N_i} e^{s_{ik}}}
               = \frac{1}{|P_i|}\sum_{j \in P_i}
                 \Big(\operatorname{logaddexp}\big(s_{ij},\,
                 \operatorname{LSE}_{k \in N_i} s_{ik}\big) - s_{ij}\Big),

    each term an InfoNCE with one positive (a term is 0 when :math:`N_i = \varnothing`).
    ``denominator="shared"`` (the objective as the paper writes it): one denominator over all
    compared views, positives included,

    .. math::

        \ell_i = \frac{1}{|P_i|}\sum_{j \in P_i}
                 -\log \frac{e^{s_{ij}}}{\sum_{k \in C_i} e^{s_{ik}}}
               = \operatorname{LSE}_{k \in C_i} s_{ik} - \frac{1}{|P_i|}\sum_{j\in P_i} s_{ij}.

    In both, :math:`\mathcal L = \frac1N \sum_{i=1}^{N} \ell_i`. The two agree when every anchor
    has one positive, and otherwise "shared" is larger term by term (its denominators contain
    the separate ones).

    **Floors.** Separate: :math:`\ell_i \ge 0`, approached as :math:`\tau \to 0` iff every
    positive of :math:`i` is strictly more similar to it than every negative. Shared (by
    Jensen): :math:`\ell_i \ge \log|P_i|`, approached as :math:`\tau \to 0` iff in addition all
    positives are equally similar to :math:`i`: in the shared form the positives compete with
    one another, in the separate form they do not.

    **The released code** (``gdt_helper.py``: ``get_pos_neg``, ``get_loss``, ``get_losses``;
    ``main_gdt.py``: ``train_one_epoch``) computes the separate form, with these differences.

    * *One term per positive, each with its own denominator.* ``get_loss(q, k, noise)`` is a
      cross-entropy with one positive per anchor: for anchor :math:`i` (an embedding ``q[i]`` of
      one modality) the candidates are ``k[m]`` for every clip :math:`m` of the local batch,
      ``k[i]`` being the positive (the other modality of the same clip: the same view in a
      basecase or distinctive term, the transformed view in an invariant one), followed by every
      row of ``noise``; the logits are raw dot products of the (normalised)
      embeddings divided by ``--nce_t`` (0.07). A transformation made invariant gets two such
      terms, averaged with equal weights: a *basecase* term, positive :math:`(v, a)`, and an
      *invariant* term, positive :math:`(v, a^{T})`. Neither denominator holds the other term's
      positive. ``get_losses`` averages the two modality directions (video anchors against audio
      keys and the reverse) and the two branches (original and transformed anchors), 1/4 each.
    * *Which negatives a term sees.* ``noise`` holds the keys of the clips of the *other* GPUs
      (``dist_collect_other``), from both branches when there are two; ``--num_negatives``
      (default -1, all) can subsample them. The other clips of the local batch enter only
      through ``k``, i.e. only from the branch of the term's positive. A distinctive
      ("variant") term also appends the local keys of the transformed branch, among them the
      anchor's own clip: the hard negatives. So the hard negatives enter only the term whose
      positive is the other modality of the same view, never an invariant term, and whether
      another clip's view of the other branch is a negative depends on the GPU it was computed
      on. Here every positive's term sees all of :math:`N_i`.
    * *Stop-gradient on the keys.* The positives are ``.detach()``-ed, the gathered negatives
      are detached by ``collate_feats``, and the hard negatives are concatenated inside
      ``get_pos_neg``, which runs under ``torch.no_grad``: in every term only the anchor
      ``q`` carries a gradient, :math:`\operatorname{sg}` on every key (without a momentum
      encoder). Both modalities train because each is the anchor of one direction. This function
      backpropagates through both sides of every similarity :math:`s_{ij}`: on the same
      candidates a term has the same value as the released one but not the same gradient.
      With a modality cross factor the released gradient is reproduced by two calls, each with
      one modality's rows detached and ``reduction="none"``, keeping only the rows of the other
      modality (the anchors whose keys were detached).
    * *Which positive pairs are sampled.* With two invariant factors the released code never
      pairs views that differ in both, and the same-view pair :math:`(v, a)` appears in more
      terms than the others; here every positive of the masks is used once, equally weighted.

    Normalisation: the paper sums the terms over all positive pairs and divides by the number
    of views; we average over each anchor's positives, so that :math:`\ell_i` is on the scale of
    one InfoNCE term. The two agree up to the factor :math:`|P_i|` when every anchor has the same
    number of positives (GDT's hierarchical batches).

    Args:
        z: embeddings of the N views.
        positive: :math:`w`, (N, N) bool, False on the diagonal, at least one True per row.
        compare: :math:`c`, (N, N) bool, False on the diagonal, True wherever ``positive`` is;
            ``None`` compares every pair of distinct views.
        temperature: :math:`\tau > 0`; 0.07 as the official GDT code's ``--nce_t`` default.
        normalize: L2-normalise rows first (the GDT code normalises its embeddings).
        denominator: ``"separate"`` (one term per positive, the released code) or
            ``"shared"`` (one denominator over all compared views, the paper's equation).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per-anchor, shape (N,)).

    Returns:
        The loss in nats (a scalar, or (N,) with ``reduction="none"``).

    Shape:
        ``z``: (N, D) with N >= 2; ``positive``, ``compare``: (N, N).

    Raises:
        TypeError / ValueError: for a non-float or non-finite ``z``, masks that are not (N, N)
            bool on ``z``'s device, True diagonals, a positive that is not compared, an anchor
            with no positive, a non-positive temperature, or an unknown ``denominator`` or
            ``reduction``.

    Examples:
        Constant embeddings with one positive per anchor (both forms agree): each anchor
        spreads its probability evenly over the N - 1 others.

        >>> n = 6; pos = torch.zeros(n, n, dtype=torch.bool)
        >>> pos[torch.arange(n), (torch.arange(n) + 1) % n] = True  # one positive each
        >>> round(float(generalized_nce_loss(torch.ones(n, 3), pos)), 5) == round(math.log(5), 5)
        True

        Positives identical and negatives orthogonal: as :math:`\tau \to 0` the separate form
        falls to 0, the shared form to :math:`\log|P_i|` (here :math:`|P_i| = 2`).

        >>> z = torch.eye(2, dtype=torch.float64).repeat_interleave(3, dim=0)  # 2 groups of 3 views
        >>> same = (z @ z.T > 0) & ~torch.eye(6, dtype=torch.bool)
        >>> float(generalized_nce_loss(z, same, temperature=0.01)) < 1e-30
        True
        >>> shared = generalized_nce_loss(z, same, temperature=0.01, denominator="shared")
        >>> abs(float(shared) - math.log(2)) < 1e-6
        True
    """
    _checks.tensor("z", z, ndim=2, min_rows=2)
    n = z.shape[0]
    _checks.choice("reduction", reduction, _REDUCTIONS)
    _checks.choice("denominator", denominator, _DENOMINATORS)
    temperature = _checks.number("temperature", temperature, positive=True)
    positive = _check_mask("positive", positive, n, z.device)
    if compare is None:
        compare = ~torch.eye(n, dtype=torch.bool, device=z.device)
    else:
        compare = _check_mask("compare", compare, n, z.device)
        if bool((positive & ~compare).any()):
            raise ValueError(
                "positive must imply compare (w <= c: a positive must appear in its anchor's "
                f"denominator), got {int((positive & ~compare).sum())} positive pair(s) not compared"
            )
    n_pos = positive.sum(dim=1)  # (N,) |P_i|
    if bool((n_pos == 0).any()):
        bad = torch.nonzero(n_pos == 0).flatten()
        raise ValueError(
            f"every anchor needs at least one positive, got {bad.numel()} anchor(s) without one "
            f"(first: row {int(bad[0])}); a distinctive factor needs a second view with the same "
            "sample and parameters, e.g. another modality"
        )
    if _checks.boolean("normalize", normalize):
        z = F.normalize(z, dim=1)
    # (N, N) s_ij, the one similarity matmul; under autocast the product may be bfloat16:
    # .to keeps the log-sum-exp and the result in z's dtype
    logits = (z @ z.T).to(z.dtype) / temperature
    zeros = torch.zeros_like(logits)
    if denominator == "shared":
        # Views outside C_i get -inf so they vanish from the log-sum-exp (its max-shift is stable).
        log_denominator = torch.logsumexp(logits.masked_fill(~compare, float("-inf")), dim=1)
        # Mean positive logit; where() rather than a product keeps -inf/NaN out of the gradient.
        mean_positive = torch.where(positive, logits, zeros).sum(dim=1) / n_pos
        return _reduce(log_denominator - mean_positive, reduction)  # (N,) l_i
    negative = compare & ~positive  # (N, N) N_i
    has_negative = negative.any(dim=1, keepdim=True)  # (N, 1)
    # LSE over N_i; a row without negatives gets a finite stand-in (its terms are set to 0 below),
    # so that no -inf - (-inf) enters the backward pass.
    negative_logits = torch.where(has_negative, logits.masked_fill(~negative, float("-inf")), zeros)
    log_negatives = torch.logsumexp(negative_logits, dim=1, keepdim=True)  # (N, 1)
    # (N, N) -log(e^{s_ij} / (e^{s_ij} + sum_{k in N_i} e^{s_ik})), exact for any gap
    per_pair = torch.logaddexp(logits, log_negatives) - logits
    per_pair = torch.where(positive & has_negative, per_pair, zeros)
    return _reduce(per_pair.sum(dim=1) / n_pos, reduction)  # (N,) l_i


def gdt_loss(
    z: torch.Tensor,
    sample_index: torch.Tensor,
    params: torch.Tensor | None,
    *,
    modes: Sequence[str],
    cross_factor: int | None = None,
    temperature: float = 0.07,
    normalize: bool = True,
    denominator: str = "separate",
    reduction: str = "mean",
) -> torch.Tensor:
    r"""GDT contrastive loss: invariant or distinctive to each transformation, chosen per factor.

    Patrick et al., *On Compositions of Transformations in Contrastive Self-Supervised
    Learning*, ICCV 2021, arXiv:2003.04298. Equal to
    ``generalized_nce_loss(z, *gdt_masks(sample_index, params, modes=..., cross_factor=...))``,
    whose positives and negatives are

    .. math::

        P_i = \{j \ne i : s_j = s_i,\ \theta_{jm} = \theta_{im}\ \forall m\ \text{distinctive}\}
        \cap C_i, \qquad N_i = C_i \setminus P_i,

    with :math:`C_i` all other views, or those that differ from :math:`i` in the cross factor.
    With ``denominator="separate"`` (default, the released code's form)
    :math:`\ell_i = \frac{1}{|P_i|}\sum_{j\in P_i}\big(\operatorname{logaddexp}(s_{ij},
    \operatorname{LSE}_{k\in N_i} s_{ik}) - s_{ij}\big)`; with ``"shared"`` (the paper's
    equation) :math:`\ell_i = \operatorname{LSE}_{k \in C_i} s_{ik} - \frac{1}{|P_i|}
    \sum_{j\in P_i} s_{ij}` (see :func:`generalized_nce_loss`).
    Special cases: with views ``cat([z_a, z_b])`` of N samples, no further factor and no cross
    factor it is NT-Xent (SimCLR, Chen et al., 2020, arXiv:2002.05709); with a single invariant
    "view" factor used as the cross factor it is the symmetric cross-view InfoNCE of van den
    Oord et al. (2018, arXiv:1807.03748), averaged over both directions.

    Args:
        z: embeddings of the N views (all modalities stacked).
        sample_index: the data sample of each view.
        params: the transformation parameters of each view, or ``None``.
        modes: ``"invariant"`` or ``"distinctive"`` per column of ``params``.
        cross_factor: column whose values compared views must differ in (the modality).
        temperature: :math:`\tau > 0`; 0.07 as the official GDT code's ``--nce_t`` default.
        normalize: L2-normalise the embeddings first.
        denominator: ``"separate"`` (one term per positive) or ``"shared"``.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        The loss in nats.

    Shape:
        ``z``: (N, D); ``sample_index``: (N,); ``params``: (N, M).

    Raises:
        TypeError / ValueError: as :func:`gdt_masks` and :func:`generalized_nce_loss`, and when
            ``sample_index`` does not have one entry per row of ``z`` or lives on another device.

    Examples:
        All factors invariant, two views per sample: the loss is SimCLR's NT-Xent.

        >>> from reptutor.losses import nt_xent_loss
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
        >>> idx = torch.arange(5).repeat(2)
        >>> torch.allclose(gdt_loss(torch.cat([a, b]), idx, None, modes=[], temperature=0.1),
        ...                nt_xent_loss(a, b, temperature=0.1))
        True
    """
    _checks.tensor("z", z, ndim=2, min_rows=2)
    s = _checks.integers("sample_index", sample_index, ndim=1, layout="(N,)")
    if s.shape[0] != z.shape[0]:
        raise ValueError(f"sample_index must have {z.shape[0]} entries (one per row of z), "
                         f"got shape {tuple(s.shape)}")
    if s.device != z.device:
        raise ValueError(f"sample_index must be on z's device {z.device}, got {s.device}")
    masks = gdt_masks(s, params, modes=modes, cross_factor=cross_factor)
    return generalized_nce_loss(z, masks.positive, masks.compare, temperature=temperature,
                                normalize=normalize, denominator=denominator,
                                reduction=reduction)


def mask_conflicts(positive: torch.Tensor, compare: torch.Tensor) -> torch.Tensor:
    r"""Pairs that a (positive, compare) mask both links by positives and contrasts as negatives.

    A formal requirement discussed by Patrick et al. (ICCV 2021, arXiv:2003.04298), in this
    book's formalisation: invariance is transitive (:math:`\phi(a) = \phi(b)` and
    :math:`\phi(b) = \phi(c)` give :math:`\phi(a) = \phi(c)` for the encoder :math:`\phi`), so
    views connected by a chain of positives must end up at the same point at the optimum, and
    contrasting two of them as a negative pair is a contradiction the loss cannot satisfy. With
    :math:`\sim` the equivalence generated by ``positive`` (its connected components, made
    symmetric), the conflicts are

    .. math::

        \{(i, k) : c_{ik} = 1,\ w_{ik} = 0,\ i \sim k\}.

    Masks from :func:`gdt_masks` have none; pairing views "one transformation apart", as a naive
    multi-augmentation extension of SimCLR would, has many. The closure is computed by repeated
    boolean matrix squaring (:math:`\lceil\log_2 N\rceil` matmuls), not a loop over samples.

    Args:
        positive: :math:`w`, (N, N) bool.
        compare: :math:`c`, (N, N) bool, same shape and device.

    Returns:
        The (N, N) bool mask of conflicting pairs.

    Shape:
        ``positive``, ``compare``: (N, N) -> (N, N).

    Raises:
        TypeError / ValueError: for masks that are not square bool tensors of one shape and
            device.

    Examples:
        Three views a, b, c with a~b and b~c positives but (a, c) contrasted: one conflict each way.

        >>> pos = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.bool)
        >>> cmp = ~torch.eye(3, dtype=torch.bool)
        >>> mask_conflicts(pos, cmp).nonzero().tolist()
        [[0, 2], [2, 0]]
    """
    if not isinstance(positive, torch.Tensor):
        raise TypeError(f"positive must be an (N, N) torch.Tensor of bools, got "
                        f"{type(positive).__name__}")
    if positive.ndim != 2:
        raise ValueError(f"positive must be 2-D (N, N), got shape {tuple(positive.shape)}")
    n = positive.shape[0]
    if n == 0:
        raise ValueError(f"positive must not be empty, got shape {tuple(positive.shape)}")
    _check_square_bool("positive", positive, n)
    _check_square_bool("compare", compare, n)
    if compare.device != positive.device:
        raise ValueError(f"compare must be on positive's device {positive.device}, "
                         f"got {compare.device}")
    eye = torch.eye(n, dtype=torch.bool, device=positive.device)
    reach = positive | positive.T | eye  # (N, N) one step of the symmetric relation
    for _ in range(max(1, math.ceil(math.log2(max(n, 2))))):
        # reach <- reach o reach doubles the path length covered (float matmul, counts > 0).
        nxt = (reach.float() @ reach.float()) > 0
        if bool(torch.equal(nxt, reach)):
            break
        reach = nxt
    return compare & ~positive & reach & ~eye


def _check_square_bool(name: str, m: object, n: int) -> None:
    if not isinstance(m, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of bools, got {type(m).__name__}")
    if m.dtype != torch.bool:
        raise TypeError(f"{name} must have dtype torch.bool, got {m.dtype}")
    if m.shape != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}), got {tuple(m.shape)}")


class GDTLoss(nn.Module):
    """Module wrapper of :func:`gdt_loss` (stores the modes and hyper-parameters)."""

    def __init__(self, *, modes: Sequence[str], cross_factor: int | None = None,
                 temperature: float = 0.07, normalize: bool = True,
                 denominator: str = "separate", reduction: str = "mean") -> None:
        super().__init__()
        if isinstance(modes, str) or not isinstance(modes, Sequence):
            raise TypeError(f"modes must be a sequence of modes, got {modes!r}"[:200])
        for m, mode in enumerate(modes):
            _checks.choice(f"modes[{m}]", mode, TRANSFORM_MODES)
        self.modes = tuple(modes)
        self.cross_factor = (None if cross_factor is None
                             else _checks.integer("cross_factor", cross_factor, minimum=0))
        self.temperature = _checks.number("temperature", temperature, positive=True)
        self.normalize = _checks.boolean("normalize", normalize)
        self.denominator = _checks.choice("denominator", denominator, _DENOMINATORS)
        self.reduction = _checks.choice("reduction", reduction, _REDUCTIONS)

    def forward(self, z: torch.Tensor, sample_index: torch.Tensor,
                params: torch.Tensor | None) -> torch.Tensor:
        return gdt_loss(z, sample_index, params, modes=self.modes, cross_factor=self.cross_factor,
                        temperature=self.temperature, normalize=self.normalize,
                        denominator=self.denominator, reduction=self.reduction)

    def extra_repr(self) -> str:
        return hyper_parameters(self)
