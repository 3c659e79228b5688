r"""Deep InfoMax: global and local mutual-information objectives, and prior matching.

Hjelm, Fedorov, Lavoie-Marchildon, Grewal, Bachman, Trischler, Bengio, "Learning deep
representations by mutual information estimation and maximization", ICLR 2019,
arXiv:1808.06670.

An encoder :math:`E_\psi = f_\psi\circ C_\psi` maps an image :math:`x` to a feature map
:math:`C_\psi(x)` (one local feature :math:`C^{(p)}_\psi(x)` per location :math:`p = 1..P`,
:math:`P = M^2`) and to a global code :math:`Y = E_\psi(x)`. The full objective (their Eq. 8)
is

.. math::

    \max_{\psi, \omega_1, \omega_2}\ \alpha\,\hat I_{\omega_1}\big(X; E_\psi(X)\big)
      + \frac{\beta}{P}\sum_{p=1}^{P}\hat I_{\omega_2}\big(X^{(p)}; E_\psi(X)\big)
    \quad\text{and}\quad
    \min_\psi\max_\phi\ \gamma\,\hat D_\phi\big(\mathbb V\,\|\,\mathbb U_{\psi,\mathbb P}\big),

where :math:`\hat I` is one of the critic-based estimators of :mod:`reptutor.estimators`
(``"jsd"``, ``"dv"``, ``"infonce"``) and :math:`\hat D_\phi` is a GAN discriminator between a
prior :math:`\mathbb V` and the distribution of codes. The functions here take the critic
scores (computed by :class:`reptutor.models.GlobalCritic` / :class:`reptutor.models.LocalCritic`
or any other critic) and return *losses* (to minimize): the negated objectives.

Taught in the chapter *Deep InfoMax: local and global mutual information*
(``notebooks/01_information/03_deep_infomax``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor.estimators.fdiv import dv, jsd
from reptutor.estimators.infonce import conditional_infonce, infonce

__all__ = [
    "ESTIMATORS",
    "dim_global_loss",
    "dim_local_loss",
    "dim_terms",
    "DIMTerms",
    "DeepInfoMaxLoss",
    "prior_matching_terms",
    "PriorMatchingTerms",
]

#: The mutual-information estimators a DIM objective can use (the paper's Sec. 3.1).
ESTIMATORS = ("jsd", "dv", "infonce")


def _estimate(scores: torch.Tensor, estimator: str) -> torch.Tensor:
    """The estimator on a (K, K) matrix or the mean over a (B, K, K) stack."""
    if estimator == "jsd":
        return jsd(scores)
    if estimator == "dv":
        return dv(scores)
    if scores.ndim == 2:
        return infonce(scores)
    # a stack: every row of every matrix is one anchor with K candidates, the positive on the
    # diagonal; conditional_infonce takes them flattened, (B*K,) positives and (B*K, K-1) others
    b, k, _ = scores.shape
    off = ~torch.eye(k, dtype=torch.bool, device=scores.device)
    pos = scores.diagonal(dim1=-2, dim2=-1).reshape(b * k)  # (B*K,)
    neg = scores.masked_select(off).view(b * k, k - 1)  # (B*K, K-1) row-major off-diagonals
    return conditional_infonce(pos, neg)


def dim_global_loss(scores: torch.Tensor, *, estimator: str = "jsd") -> torch.Tensor:
    r"""Global Deep InfoMax loss: minus an estimate of :math:`I(X; E_\psi(X))`.

    Hjelm et al., ICLR 2019, arXiv:1808.06670, Eq. 3 with the estimator of Eq. 2 (DV),
    Eq. 4 (JSD) or Eq. 5 (InfoNCE). With the critic matrix
    :math:`F_{ij} = T_\omega\big(C_\psi(x_j), Y_i\big)` of a batch of :math:`N` images,

    .. math::

        \mathcal L_{\text{global}} = -\hat I(F),

    where :math:`\hat I` is :func:`reptutor.estimators.jsd`,
    :func:`reptutor.estimators.dv` or :func:`reptutor.estimators.infonce` (which adds
    :math:`\log N` to the paper's Eq. 5 so that it is a bound in nats; a constant, so the
    gradient is the paper's). The negatives of anchor :math:`Y_i` are the other images of the
    batch, :math:`x' \ne x_i`, as in the paper.

    Args:
        scores: the ``(N, N)`` critic matrix, anchors (codes) in rows, candidate images in
            columns, positives on the diagonal.
        estimator: ``"jsd"`` (the paper's default), ``"dv"`` or ``"infonce"``.

    Returns:
        The loss, a scalar (minimize it).

    Shape:
        ``(N, N) -> ()``.

    Raises:
        TypeError: if ``scores`` is not a floating tensor.
        ValueError: if ``scores`` is not a finite square matrix with ``N >= 2`` or
            ``estimator`` is unknown.

    Examples:
        >>> import math
        >>> f = torch.zeros(6, 6)  # a critic that has learned nothing
        >>> bool(torch.isclose(dim_global_loss(f), torch.tensor(2 * math.log(2))))
        True
        >>> dim_global_loss(f, estimator="infonce"), dim_global_loss(f, estimator="dv")
        (tensor(-0.), tensor(-0.))
    """
    return _global_loss(scores, estimator, "scores")


def _global_loss(scores: torch.Tensor, estimator: str, name: str) -> torch.Tensor:
    _checks.tensor(name, scores, ndim=2)
    _checks.square(name, scores)
    _checks.choice("estimator", estimator, ESTIMATORS)
    return -_estimate(scores, estimator)


def dim_local_loss(scores: torch.Tensor, *, estimator: str = "jsd") -> torch.Tensor:
    r"""Local Deep InfoMax loss: minus the average over locations of :math:`\hat I(X^{(p)}; Y)`.

    Hjelm et al., ICLR 2019, arXiv:1808.06670, Eq. 6. With
    :math:`S_{ijp} = T_\omega\big(C^{(p)}_\psi(x_j), Y_i\big)` for :math:`P` locations,

    .. math::

        \mathcal L_{\text{local}} = -\frac1P\sum_{p=1}^{P}\hat I\big(S_{\cdot\cdot p}\big),

    each location's ``(N, N)`` matrix scored by the chosen estimator, its negatives being the
    *same location* of the other images. **Difference with the official code:** its InfoNCE
    and DV variants pool the negatives of all locations of the other images (InfoNCE: one
    softmax over :math:`1 + (N-1)P` candidates per anchor and location, so a
    :math:`\log(1 + (N-1)P)` ceiling instead of :math:`\log N`; DV: one log-mean-exp over all
    of them). Its JSD variant equals this one, since the JSD objective is a plain average
    over negatives.

    Args:
        scores: the ``(N, N, P)`` critic scores, ``scores[:, :, p]`` the matrix of location
            ``p`` (anchors in rows, positives on the diagonal).
        estimator: ``"jsd"`` (the paper's default), ``"dv"`` or ``"infonce"``.

    Returns:
        The loss, a scalar (minimize it).

    Shape:
        ``(N, N, P) -> ()``.

    Raises:
        TypeError: if ``scores`` is not a floating tensor.
        ValueError: if ``scores`` is not a finite ``(N, N, P)`` tensor with ``N >= 2`` or
            ``estimator`` is unknown.

    Examples:
        >>> # one location is the global objective on that location's matrix
        >>> s = torch.randn(5, 5, 1, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.isclose(dim_local_loss(s), dim_global_loss(s[:, :, 0])))
        True
        >>> # locations that agree average to the same value
        >>> bool(torch.isclose(dim_local_loss(s.expand(5, 5, 9), estimator="infonce"),
        ...                    dim_global_loss(s[:, :, 0], estimator="infonce")))
        True
    """
    return _local_loss(scores, estimator, "scores")


def _local_loss(scores: torch.Tensor, estimator: str, name: str) -> torch.Tensor:
    _checks.tensor(name, scores, ndim=3)
    if scores.shape[0] != scores.shape[1]:
        raise ValueError(
            f"{name} must have shape (N, N, P) with one (N, N) matrix per location, got "
            f"{tuple(scores.shape)}"
        )
    _checks.rows(name, scores, 2, "each positive needs a negative")
    _checks.choice("estimator", estimator, ESTIMATORS)
    return -_estimate(scores.permute(2, 0, 1), estimator)  # (P, N, N) stack of matrices


class DIMTerms(NamedTuple):
    """The Deep InfoMax loss and its named terms: ``(loss, global_mi, local_mi, prior)``."""

    #: :math:`-\alpha\hat I_{\text{global}} - \beta\hat I_{\text{local}}
    #: + \gamma\,\mathcal L_{\text{prior}}`, the quantity the encoder minimizes.
    loss: torch.Tensor
    #: The global estimate :math:`\hat I(X; Y)` (0 when not computed).
    global_mi: torch.Tensor
    #: The location-averaged local estimate (0 when not computed).
    local_mi: torch.Tensor
    #: The encoder's prior-matching loss (0 when not computed).
    prior: torch.Tensor


def dim_terms(
    *,
    global_scores: torch.Tensor | None = None,
    local_scores: torch.Tensor | None = None,
    prior_loss: torch.Tensor | None = None,
    global_weight: float = 0.0,
    local_weight: float = 1.0,
    prior_weight: float = 0.1,
    estimator: str = "jsd",
) -> DIMTerms:
    r"""The complete Deep InfoMax encoder loss (Eq. 8) and its terms.

    Hjelm et al., ICLR 2019, arXiv:1808.06670, Eq. 8:

    .. math::

        \mathcal L = \alpha\,\mathcal L_{\text{global}} + \beta\,\mathcal L_{\text{local}}
          + \gamma\,\mathcal L_{\text{prior}},

    with :func:`dim_global_loss`, :func:`dim_local_loss` and the encoder's side of
    :func:`prior_matching_terms`. The paper's :math:`\alpha, \beta, \gamma` are the arguments
    ``global_weight``, ``local_weight`` and ``prior_weight`` (the library names a term's weight
    after the term, ``<term>_weight``). Defaults :math:`(\alpha, \beta, \gamma) = (0, 1, 0.1)`
    are the paper's local-only setting "DIM(L)" used for its classification results (its
    global-only "DIM(G)" is :math:`(1, 0, 1)`). A term whose weight is 0 may be left out
    (``None``) and is then reported as 0.

    Args:
        global_scores: ``(N, N)`` global critic matrix, or ``None`` when ``global_weight == 0``.
        local_scores: ``(N, N, P)`` local critic scores, or ``None`` when ``local_weight == 0``.
        prior_loss: the encoder's prior-matching loss
            (``prior_matching_terms(...).encoder_loss``), or ``None`` when ``prior_weight == 0``.
        global_weight: :math:`\alpha \ge 0`, weight of the global objective.
        local_weight: :math:`\beta \ge 0`, weight of the local objective.
        prior_weight: :math:`\gamma \ge 0`, weight of prior matching.
        estimator: ``"jsd"``, ``"dv"`` or ``"infonce"`` for both MI terms.

    Returns:
        :class:`DIMTerms` ``(loss, global_mi, local_mi, prior)``.

    Shape:
        ``global_scores``: ``(N, N)``; ``local_scores``: ``(N, N, P)``; ``prior_loss``:
        ``()``; every output ``()``.

    Raises:
        ValueError: if a weight is negative, a term with a positive weight has no input, or
            an input is malformed (see :func:`dim_global_loss`, :func:`dim_local_loss`).

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> s_g, s_l = torch.randn(4, 4, generator=g), torch.randn(4, 4, 9, generator=g)
        >>> t = dim_terms(global_scores=s_g, local_scores=s_l, global_weight=0.5,
        ...               local_weight=1.0, prior_weight=0.0)
        >>> bool(torch.isclose(t.loss, -0.5 * t.global_mi - t.local_mi))
        True
        >>> dim_terms(local_scores=s_l, prior_weight=0.0).global_mi  # left out: reported as 0
        tensor(0.)
    """
    a = _checks.number("global_weight", global_weight, nonnegative=True)
    b = _checks.number("local_weight", local_weight, nonnegative=True)
    c = _checks.number("prior_weight", prior_weight, nonnegative=True)
    _checks.choice("estimator", estimator, ESTIMATORS)
    for name, weight, arg, value in (("global_weight", a, "global_scores", global_scores),
                                     ("local_weight", b, "local_scores", local_scores),
                                     ("prior_weight", c, "prior_loss", prior_loss)):
        if weight > 0 and value is None:
            raise ValueError(f"{arg} is required when {name} > 0, got {name}={weight:g} and "
                             f"{arg}=None")
    given = [(name, t) for name, t in (("global_scores", global_scores),
                                       ("local_scores", local_scores),
                                       ("prior_loss", prior_loss)) if t is not None]
    for name, t in given:  # types first, then one device and dtype for the summed terms
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {_checks._describe(t)}")
    for name, t in given[1:]:
        _checks.same_device_dtype(given[0][0], given[0][1], name, t)
    like = next(t for t in (global_scores, local_scores, prior_loss, torch.zeros(())) if t is not None)
    zero = torch.zeros((), device=like.device, dtype=like.dtype)
    global_mi = (-_global_loss(global_scores, estimator, "global_scores")
                 if global_scores is not None else zero)
    local_mi = (-_local_loss(local_scores, estimator, "local_scores")
                if local_scores is not None else zero)
    if global_scores is not None and local_scores is not None:  # one batch of N images
        _checks.dim_size("local_scores", local_scores, 0, global_scores.shape[0],
                         "N of global_scores")
    if prior_loss is not None:
        _checks.tensor("prior_loss", prior_loss, ndim=0)
    prior = prior_loss if prior_loss is not None else zero
    loss = -a * global_mi - b * local_mi + c * prior
    return DIMTerms(loss, global_mi, local_mi, prior)


class DeepInfoMaxLoss(nn.Module):
    r"""Module wrapper of :func:`dim_terms` storing the three term weights and the estimator.

    Hjelm et al., ICLR 2019, arXiv:1808.06670, Eq. 8. ``forward`` returns
    ``dim_terms(...).loss``; see :func:`dim_terms` for the arguments and defaults.

    Examples:
        >>> loss = DeepInfoMaxLoss(global_weight=1.0, local_weight=0.0, prior_weight=0.0,
        ...                        estimator="dv")
        >>> loss(global_scores=torch.full((3, 3), 2.0))  # a constant critic: DV = 0
        tensor(-0.)
    """

    def __init__(self, *, global_weight: float = 0.0, local_weight: float = 1.0,
                 prior_weight: float = 0.1, estimator: str = "jsd") -> None:
        super().__init__()
        self.global_weight = _checks.number("global_weight", global_weight, nonnegative=True)
        self.local_weight = _checks.number("local_weight", local_weight, nonnegative=True)
        self.prior_weight = _checks.number("prior_weight", prior_weight, nonnegative=True)
        self.estimator = _checks.choice("estimator", estimator, ESTIMATORS)

    def forward(self, global_scores: torch.Tensor | None = None,
                local_scores: torch.Tensor | None = None,
                prior_loss: torch.Tensor | None = None) -> torch.Tensor:
        return dim_terms(global_scores=global_scores, local_scores=local_scores,
                         prior_loss=prior_loss, global_weight=self.global_weight,
                         local_weight=self.local_weight, prior_weight=self.prior_weight,
                         estimator=self.estimator).loss

    def extra_repr(self) -> str:
        return hyper_parameters(self)


class PriorMatchingTerms(NamedTuple):
    """The two players' losses of adversarial prior matching."""

    #: :math:`-\hat D_\phi`, minimized by the discriminator.
    discriminator_loss: torch.Tensor
    #: The non-saturating encoder loss
    #: :math:`\mathbb E_{\mathbb P}[\operatorname{sp}(-\ell(E_\psi(x)))]`, minimized by the encoder.
    encoder_loss: torch.Tensor
    #: :math:`\hat D_\phi` itself, the GAN value (negative).
    divergence: torch.Tensor


def prior_matching_terms(prior_logits: torch.Tensor, code_logits: torch.Tensor) -> PriorMatchingTerms:
    r"""Adversarial prior matching: the discriminator's and the encoder's losses.

    Hjelm et al., ICLR 2019, arXiv:1808.06670, Eq. 7, in the style of adversarial
    autoencoders (Makhzani et al., 2015). A discriminator with logits :math:`\ell` (probability
    :math:`D_\phi = \sigma(\ell)`) tells prior samples :math:`v \sim \mathbb V` from codes
    :math:`E_\psi(x)`:

    .. math::

        \hat D_\phi(\mathbb V\,\|\,\mathbb U_{\psi,\mathbb P})
          = \mathbb E_{\mathbb V}\big[\log D_\phi(v)\big]
            + \mathbb E_{\mathbb P}\big[\log(1 - D_\phi(E_\psi(x)))\big]
          = -\mathbb E_{\mathbb V}[\operatorname{sp}(-\ell(v))]
            - \mathbb E_{\mathbb P}[\operatorname{sp}(\ell(E_\psi(x)))],

    maximized by the discriminator (``discriminator_loss`` :math:`= -\hat D_\phi`); its
    maximum is :math:`2\,\mathrm{JS}(\mathbb V\,\|\,\mathbb U) - 2\log 2`, so the encoder pushes
    the code distribution towards the prior by lowering it. The paper writes
    :math:`\min_\psi \hat D_\phi`; like the official code (and Goodfellow et al., 2014, for
    GANs) the encoder here minimizes the *non-saturating* surrogate
    :math:`\mathbb E_{\mathbb P}[-\log D_\phi(E_\psi(x))]`, which has the same fixed point and
    stronger gradients when the discriminator wins. The official code draws :math:`\mathbb V`
    uniform on :math:`[0, 1]^d` and squashes the codes with a sigmoid.

    Stop-gradients are the caller's: detach the codes for the discriminator's step and do not
    step the discriminator on the encoder's loss.

    Args:
        prior_logits: discriminator logits on prior samples.
        code_logits: discriminator logits on encoded samples.

    Returns:
        :class:`PriorMatchingTerms` ``(discriminator_loss, encoder_loss, divergence)``.

    Shape:
        ``(N,), (M,) -> ()`` each.

    Raises:
        TypeError / ValueError: if an input is not a finite 1-D floating tensor, or the two
            differ in device or dtype.

    Examples:
        >>> import math
        >>> # a discriminator that cannot tell the two apart: D = 1/2 everywhere
        >>> t = prior_matching_terms(torch.zeros(4), torch.zeros(6))
        >>> bool(torch.isclose(t.divergence, torch.tensor(-2 * math.log(2))))
        True
        >>> bool(torch.isclose(t.encoder_loss, torch.tensor(math.log(2))))
        True
    """
    _checks.tensor("prior_logits", prior_logits, ndim=1)
    _checks.tensor("code_logits", code_logits, ndim=1)
    _checks.same_device_dtype("prior_logits", prior_logits, "code_logits", code_logits)
    # log D(v) = -sp(-l), log(1 - D(E(x))) = -sp(l)
    divergence = -F.softplus(-prior_logits).mean() - F.softplus(code_logits).mean()
    encoder_loss = F.softplus(-code_logits).mean()  # -log D(E(x)), non-saturating
    return PriorMatchingTerms(-divergence, encoder_loss, divergence)
