r"""MCR\ :sup:`2`: maximal coding rate reduction (coding rates of all features and of each class).

References:
    Y. Yu, K. H. R. Chan, C. You, C. Song, Y. Ma. *Learning Diverse and Discriminative
    Representations via the Principle of Maximal Coding Rate Reduction*. NeurIPS 2020,
    arXiv:2006.08558 (the coding rate :math:`R(Z, \epsilon)`, the rate of the class-partitioned
    features :math:`R^c(Z, \epsilon \mid \Pi)`, the rate reduction
    :math:`\Delta R = R - R^c`; :math:`\epsilon^2 = 0.5` in its experiments).

The coding rate :math:`R(Z, \epsilon)` is the number of nats needed to encode the :math:`N`
features up to a mean squared distortion :math:`\epsilon^2` (a Gaussian rate-distortion
estimate). MCR\ :sup:`2` *maximises* :math:`\Delta R`: the whole set should span a large volume
(large :math:`R`) while each class is compressed into a small one (small :math:`R^c`).
:func:`mcr2_loss` returns :math:`-\Delta R = R^c - R`, the quantity to minimize.

**Conventions.** The paper stores features as columns, :math:`Z \in \mathbb R^{D \times N}`
(its :math:`d \times m`), with the membership matrices :math:`\Pi_j` diagonal,
:math:`\operatorname{tr}(\Pi_j) = N_j` for hard labels. The library stores rows, ``z`` of shape
``(N, D)``, so the paper's :math:`Z Z^*` is ``z.T @ z`` here. The official code
(``ryanchankh/mcr2``, ``loss.py``) passes :math:`\epsilon^2`, not :math:`\epsilon`, as its
``eps`` (``scalar = p / (m * eps)``) and its experiments use ``--eps 0.5``; here the argument
is ``eps_sq`` with default 0.5. Its optional weights (``gam1`` inside :math:`R`, ``gam2`` on
:math:`R`) are 1 in the paper's experiments and are not exposed. The paper's networks
L2-normalise each feature onto the unit sphere before the loss; the loss itself does not
normalise.

**Precision and devices.** For float16 / bfloat16 features the Gram matrices and their Cholesky
factorisations run in float32 (LAPACK has no half-precision kernels; a log-determinant in 8
significant bits would be noise) and the rates are returned in the input's dtype. The rates need
the factorisation's success (and the class sizes, for :math:`R^c`), so tensors on the ``meta``
device are rejected with a ``ValueError`` naming the argument.

**Computing the log-determinants.** By Sylvester's identity,

.. math::

    \log\det\!\big(I_D + \alpha Z^\top Z\big) = \log\det\!\big(I_N + \alpha Z Z^\top\big),

so the rate can be computed on the :math:`D \times D` (features) or the :math:`N \times N`
(samples) side, whichever is smaller, with a Cholesky factorisation
(:math:`\log\det M = 2\sum_i \log L_{ii}`; the matrix is symmetric with eigenvalues
:math:`\ge 1`). The class-conditional rate pads the classes into one ``(K, M, D)`` tensor
(:math:`M` the largest class) and factorises the :math:`K` matrices in one batched call;
padded rows are zero and leave the log-determinants unchanged.

To be taught in the Part III chapter on CTRL / LDR (P41, which builds on MCR\ :sup:`2`;
planned); benchmarked by ``tools/bench.py gram``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from reptutor import _checks, _precision
from reptutor._repr import hyper_parameters
from reptutor.losses._gram import SIDES as _FORMS, gram as _gram, logdet_spd as _logdet_spd

__all__ = [
    "MCR2Terms",
    "coding_rate",
    "class_coding_rate",
    "mcr2_terms",
    "mcr2_loss",
    "MCR2Loss",
]


class MCR2Terms(NamedTuple):
    r"""The MCR\ :sup:`2` loss and the two coding rates (scalar tensors, in nats).

    Attributes:
        loss: :math:`R^c - R = -\Delta R`, the quantity to minimize.
        rate: :math:`R(Z, \epsilon)`, see :func:`coding_rate`.
        class_rate: :math:`R^c(Z, \epsilon \mid \Pi)`, see :func:`class_coding_rate`.
    """

    loss: torch.Tensor
    rate: torch.Tensor
    class_rate: torch.Tensor


def _features(z: torch.Tensor) -> None:
    _checks.tensor("z", z, ndim=2)


def _side(form: str, rows: int, d: int) -> bool:
    """True for the samples (rows x rows) side."""
    _checks.choice("form", form, _FORMS)
    if form == "auto":
        return rows < d  # the smaller Gram matrix: both its product and its factorisation
    return form == "samples"


def coding_rate(z: torch.Tensor, *, eps_sq: float = 0.5, form: str = "auto") -> torch.Tensor:
    r"""The coding rate :math:`R(Z, \epsilon) = \tfrac12 \log\det(I_D + \tfrac{D}{N\epsilon^2} Z^\top Z)`.

    Yu et al., "Learning Diverse and Discriminative Representations via the Principle of
    Maximal Coding Rate Reduction", NeurIPS 2020, arXiv:2006.08558, the rate of the whole
    feature set, written for ``z`` of shape ``(N, D)`` (the paper's :math:`Z Z^*` with
    :math:`Z \in \mathbb R^{D\times N}` is our :math:`Z^\top Z`):

    .. math::

        R(Z, \epsilon) = \frac12 \log\det\!\Big(I_D + \frac{D}{N \epsilon^2} Z^\top Z\Big)
          = \frac12 \log\det\!\Big(I_N + \frac{D}{N \epsilon^2} Z Z^\top\Big)
          = \frac12 \sum_k \log\!\Big(1 + \frac{D}{N\epsilon^2}\, s_k^2\Big),

    in nats, with :math:`s_k` the singular values of :math:`Z`. ``form="features"`` factorises
    the :math:`D\times D` matrix (:math:`O(ND^2 + D^3)`), ``"samples"`` the :math:`N\times N`
    one (:math:`O(N^2D + N^3)`), ``"auto"`` the smaller (``"samples"`` iff :math:`N < D`).

    Args:
        z: features, one row per sample (the paper L2-normalises the rows; not done here).
        eps_sq: the squared distortion :math:`\epsilon^2 > 0`; 0.5 (the paper's experiments,
            ``--eps 0.5`` in the official code, whose ``eps`` is :math:`\epsilon^2`).
        form: ``"auto"`` | ``"features"`` (:math:`D\times D`) | ``"samples"`` (:math:`N\times N`).

    Returns:
        A scalar tensor, :math:`\ge 0`, zero iff :math:`Z = 0`.

    Shape:
        ``z``: (N, D) -> ().

    Raises:
        TypeError: if ``z`` is not a floating tensor or ``eps_sq`` not a number.
        ValueError: for a non-2-D or non-finite ``z``, ``z`` on the ``meta`` device,
            non-positive ``eps_sq``, an unknown ``form``, or a matrix whose Cholesky
            factorisation fails in the working dtype (``z``'s; float32 for half precision).

    Examples:
        :math:`N = D` orthonormal rows scaled by :math:`c` have every :math:`s_k = c`, so
        :math:`R = \tfrac D2 \log(1 + c^2/\epsilon^2)`; here :math:`\tfrac42\log 3`:

        >>> q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))
        >>> round(float(coding_rate(q, eps_sq=0.5)), 10)  # 2 log 3 = 2.19722457733...
        2.1972245773
    """
    _features(z)
    eps_sq = _checks.number("eps_sq", eps_sq, positive=True)
    _precision.has_values("z", z, "coding_rate", "it checks that the Cholesky factorisation succeeds")
    n, d = z.shape
    samples = _side(form, n, d)
    alpha = d / (n * eps_sq)
    w = _precision.upcast(z)  # (N, D), float32 for half-precision features
    g = _gram(w, samples=samples)  # (N, N) Z Z^T or (D, D) Z^T Z
    eye = torch.eye(g.shape[-1], dtype=w.dtype, device=w.device)
    return (0.5 * _logdet_spd(eye + alpha * g, "I + D/(N eps_sq) * Gram(z)")).to(z.dtype)


def _padded_classes(z: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of each class packed into a zero-padded (K, M, D) tensor, and the class sizes (K,)."""
    n = z.shape[0]
    counts = torch.bincount(labels, minlength=k)  # (K,) N_j
    order = torch.argsort(labels, stable=True)  # (N,) samples grouped by class
    y_sorted = labels[order]
    starts = torch.cumsum(counts, 0) - counts  # (K,) first position of each class
    rank = torch.arange(n, device=z.device) - starts[y_sorted]  # (N,) index within its class
    m = int(counts.max())
    padded = z.new_zeros(k, m, z.shape[1]).index_put((y_sorted, rank), z[order])  # (K, M, D)
    return padded, counts


def class_coding_rate(
    z: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps_sq: float = 0.5,
    num_classes: int | None = None,
    form: str = "auto",
) -> torch.Tensor:
    r"""The rate of the class-partitioned features, :math:`R^c(Z, \epsilon \mid \Pi)`.

    Yu et al., NeurIPS 2020, arXiv:2006.08558, with hard memberships
    (:math:`\Pi_j = \operatorname{diag}(\mathbb 1[y_n = j])`, :math:`\operatorname{tr}\Pi_j = N_j`)
    and :math:`Z_j` the :math:`N_j \times D` rows of class :math:`j`:

    .. math::

        R^c(Z, \epsilon \mid \Pi) = \sum_{j=1}^K \frac{N_j}{2N}
          \log\det\!\Big(I_D + \frac{D}{N_j \epsilon^2} Z_j^\top Z_j\Big),

    a class-size-weighted average of each class's own coding rate :math:`R(Z_j, \epsilon)`.
    Empty classes contribute 0 (the official code's :math:`\operatorname{tr}\Pi_j + 10^{-8}`
    gives the same). All classes are factorised in one batched Cholesky call on a zero-padded
    ``(K, M, D)`` tensor, :math:`M = \max_j N_j`; ``"samples"`` (chosen by ``"auto"`` iff
    :math:`M < D`) factorises :math:`K` matrices of size :math:`M \times M`, ``"features"``
    :math:`K` of size :math:`D \times D`. Very unbalanced classes waste the padding.

    Args:
        z: features, one row per sample.
        labels: class of each row, integers in ``[0, num_classes)``.
        eps_sq: the squared distortion :math:`\epsilon^2 > 0`; 0.5 (the paper's experiments).
        num_classes: :math:`K`; ``None`` uses ``labels.max() + 1``.
        form: ``"auto"`` | ``"features"`` | ``"samples"``: which side of each class's Gram
            matrix is factorised.

    Returns:
        A scalar tensor, :math:`\ge 0`.

    Shape:
        ``z``: (N, D), ``labels``: (N,) -> ().

    Raises:
        TypeError: for a non-floating ``z``, non-integer ``labels`` or ``num_classes``.
        ValueError: for wrong ranks or lengths, non-finite ``z``, labels outside
            ``[0, num_classes)``, inputs on different devices or on the ``meta`` device,
            non-positive ``eps_sq``, an unknown ``form``, a failed Cholesky factorisation.

    Examples:
        With one class, :math:`R^c = R`; splitting a class into copies of itself changes
        nothing either (each part has the same per-sample covariance):

        >>> z = torch.randn(12, 5, dtype=torch.float64)
        >>> one = torch.zeros(12, dtype=torch.long)
        >>> bool(torch.isclose(class_coding_rate(z, one), coding_rate(z)))
        True
        >>> zz, two = torch.cat([z, z]), torch.cat([one, one + 1])
        >>> bool(torch.isclose(class_coding_rate(zz, two), coding_rate(z)))
        True
    """
    _features(z)
    n, d = z.shape
    if num_classes is not None:
        num_classes = _checks.integer("num_classes", num_classes, minimum=1)
    labels = _checks.labels("labels", labels, n=n, num_classes=num_classes)
    if labels.device != z.device:
        raise ValueError(f"labels and z must be on the same device, got {labels.device} and {z.device}")
    eps_sq = _checks.number("eps_sq", eps_sq, positive=True)
    _checks.choice("form", form, _FORMS)
    for name, x in (("z", z), ("labels", labels)):
        _precision.has_values(name, x, "class_coding_rate", "it groups the rows by class value")
    k = num_classes if num_classes is not None else int(labels.max()) + 1
    w = _precision.upcast(z)  # (N, D), float32 for half-precision features
    padded, counts = _padded_classes(w, labels, k)  # (K, M, D), (K,)
    samples = _side(form, padded.shape[1], d)
    sizes = counts.to(w.dtype)
    # alpha_j = D / (N_j eps^2); an empty class gets 0, i.e. log det(I) = 0
    alpha = torch.where(counts > 0, d / (sizes.clamp_min(1.0) * eps_sq), torch.zeros_like(sizes))
    g = _gram(padded, samples=samples)  # (K, M, M) or (K, D, D)
    eye = torch.eye(g.shape[-1], dtype=w.dtype, device=w.device)
    logdets = _logdet_spd(eye + alpha[:, None, None] * g, "I + D/(N_j eps_sq) * Gram(z_j)")  # (K,)
    return (sizes / (2 * n) * logdets).sum().to(z.dtype)


def mcr2_terms(
    z: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps_sq: float = 0.5,
    num_classes: int | None = None,
    form: str = "auto",
) -> MCR2Terms:
    r"""The MCR\ :sup:`2` loss :math:`-\Delta R` with the two coding rates.

    Yu et al., NeurIPS 2020, arXiv:2006.08558, the rate reduction

    .. math::

        \Delta R(Z, \Pi, \epsilon) = R(Z, \epsilon) - R^c(Z, \epsilon \mid \Pi),
        \qquad \mathcal L_{\text{MCR}^2} = -\Delta R ,

    with :math:`R` from :func:`coding_rate` and :math:`R^c` from :func:`class_coding_rate`
    (same ``eps_sq`` and ``form`` rule). :math:`\Delta R \ge 0` always (the log-determinant
    is concave and :math:`Z^\top Z = \sum_j Z_j^\top Z_j`), so the loss is :math:`\le 0`.

    Args:
        z: features, one row per sample.
        labels: class of each row, integers in ``[0, num_classes)``.
        eps_sq: the squared distortion :math:`\epsilon^2 > 0`; 0.5 (the paper's experiments).
        num_classes: :math:`K`; ``None`` uses ``labels.max() + 1``.
        form: ``"auto"`` | ``"features"`` | ``"samples"``.

    Returns:
        A :class:`MCR2Terms` of scalar tensors.

    Shape:
        ``z``: (N, D), ``labels``: (N,).

    Raises:
        TypeError / ValueError: as :func:`class_coding_rate`.

    Examples:
        Two classes on orthogonal axes: the rate reduction is positive, so the loss is negative.

        >>> z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        >>> t = mcr2_terms(z, torch.tensor([0, 0, 1, 1]))
        >>> bool(t.loss < 0), bool(torch.isclose(t.loss, t.class_rate - t.rate))
        (True, True)
    """
    # both rates in the working dtype, one rounding to z's dtype after the subtraction (for
    # half-precision z, R^c - R of two rounded rates would lose the digits they share)
    w = _precision.upcast(z) if isinstance(z, torch.Tensor) else z
    class_rate = class_coding_rate(w, labels, eps_sq=eps_sq, num_classes=num_classes, form=form)
    rate = coding_rate(w, eps_sq=eps_sq, form=form)
    return MCR2Terms(*(t.to(z.dtype) for t in (class_rate - rate, rate, class_rate)))


def mcr2_loss(
    z: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps_sq: float = 0.5,
    num_classes: int | None = None,
    form: str = "auto",
) -> torch.Tensor:
    r"""The MCR\ :sup:`2` loss :math:`R^c(Z, \epsilon\mid\Pi) - R(Z, \epsilon) = -\Delta R` (minimize).

    Yu et al., NeurIPS 2020, arXiv:2006.08558; :func:`mcr2_terms` states it in full. A
    batch-level loss (no ``reduction``).

    Args:
        z: features, one row per sample.
        labels: class of each row, integers in ``[0, num_classes)``.
        eps_sq: the squared distortion :math:`\epsilon^2 > 0`; 0.5 (the paper's experiments).
        num_classes: :math:`K`; ``None`` uses ``labels.max() + 1``.
        form: ``"auto"`` | ``"features"`` | ``"samples"``.

    Returns:
        A scalar tensor, :math:`\le 0` (up to round-off).

    Shape:
        ``z``: (N, D), ``labels``: (N,) -> ().

    Raises:
        TypeError / ValueError: as :func:`class_coding_rate`.

    Examples:
        A rotation of the feature space (:math:`Z \mapsto ZQ`) leaves the loss unchanged:

        >>> z, y = torch.randn(30, 6, dtype=torch.float64), torch.arange(30) % 3
        >>> q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
        >>> bool(torch.isclose(mcr2_loss(z @ q, y), mcr2_loss(z, y)))
        True
    """
    return mcr2_terms(z, labels, eps_sq=eps_sq, num_classes=num_classes, form=form).loss


class MCR2Loss(nn.Module):
    r"""Module wrapper of :func:`mcr2_loss` (stores the hyper-parameters).

    Yu et al., NeurIPS 2020, arXiv:2006.08558; defaults as :func:`mcr2_loss`.

    Shape:
        ``z``: (N, D), ``labels``: (N,) -> ().

    Examples:
        >>> z, y = torch.randn(20, 4), torch.arange(20) % 2
        >>> bool(MCR2Loss()(z, y) == mcr2_loss(z, y))
        True
    """

    def __init__(self, *, eps_sq: float = 0.5, num_classes: int | None = None,
                 form: str = "auto") -> None:
        super().__init__()
        self.eps_sq = _checks.number("eps_sq", eps_sq, positive=True)
        self.num_classes = (None if num_classes is None
                            else _checks.integer("num_classes", num_classes, minimum=1))
        self.form = _checks.choice("form", form, _FORMS)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return mcr2_loss(z, labels, eps_sq=self.eps_sq, num_classes=self.num_classes,
                         form=self.form)

    def extra_repr(self) -> str:
        return hyper_parameters(self)
