r"""Entropic optimal transport by Sinkhorn's matrix scaling: the general solver, its SeLa/SwAV face.

M. Cuturi, "Sinkhorn Distances: Lightspeed Computation of Optimal Transport", NeurIPS 2013,
arXiv:1306.0895v1; R. Sinkhorn & P. Knopp, "Concerning nonnegative matrices and doubly
stochastic matrices", Pacific J. Math. 21(2), 1967. For a cost
:math:`C \in \mathbb{R}^{N \times M}`, marginals :math:`a \in \mathbb{R}^N_{+}`,
:math:`b \in \mathbb{R}^M_{+}` of equal mass and
:math:`\varepsilon > 0`, :func:`sinkhorn` solves

.. math::

    \min_{P \in U(a, b)} \langle P, C \rangle - \varepsilon H(P), \qquad
    H(P) = -\sum_{ij} P_{ij} (\log P_{ij} - 1), \qquad
    U(a, b) = \{P \ge 0 : P \mathbf{1} = a,\ P^\top \mathbf{1} = b\},

whose solution is :math:`P_{ij} = \exp((f_i + g_j - C_{ij}) / \varepsilon)` for dual potentials
:math:`f, g` (the parameterization of POT's ``ot.sinkhorn(a, b, C, reg=eps)`` and of Peyré &
Cuturi, "Computational Optimal Transport", 2019, arXiv:1803.00567v4, Sec. 4.2).

:func:`sinkhorn_knopp` is the same solver in the form of Asano, Rupprecht & Vedaldi,
"Self-labelling via simultaneous clustering and representation learning", ICLR 2020,
arXiv:1911.05371 (SeLa) and of SwAV (Caron et al., NeurIPS 2020, arXiv:2006.09882v5):
log-probabilities ``log_p`` of samples over clusters, an inverse strength :math:`\lambda`, so
``sinkhorn_knopp(log_p, lam=lam, r=r, c=c)`` is ``sinkhorn(-log_p, 1 / lam, a=c, b=r)``.
The SeLa label step built on it (:func:`reptutor.solvers.equipartition_labels`) lives in
:mod:`reptutor.solvers.equipartition`.

Convention (samples first, see the book's notation page): rows are samples, columns are
clusters / targets; ``plan.sum(-1)`` is the row marginal ``a`` (SeLa's ``c``) and
``plan.sum(-2)`` the column marginal ``b`` (SeLa's ``r``). Taught in the chapter
*Self-labelling as optimal transport (SeLa)* (``notebooks/04_clustering``).
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch

from reptutor import _checks, _distributed
from reptutor.solvers._common import ConvergenceWarning

__all__ = [
    "EntropicOTResult",
    "SinkhornResult",
    "sinkhorn",
    "sinkhorn_knopp",
    "SINKHORN_METHODS",
]

#: The values of ``method`` in :func:`sinkhorn` and :func:`sinkhorn_knopp`: ``"auto"`` (the
#: default) picks one of the two numerical paths, ``"log"`` or ``"scaling"``.
SINKHORN_METHODS = ("auto", "log", "scaling")

# Column sums of a plan are accumulated in float64, every entry converted: exact up to float64
# round-off, so the reported error is the returned plan's. Converting the whole plan at once
# costs a fresh (N, M) float64 allocation (77 ms at 4096 x 3000, page faults included); rows are
# converted through a reused buffer of about _CHUNK_BYTES instead (6.6 ms there, 0.7 ms at
# 4096 x 300: 1.5x a float32 sum, measured on one thread).
_CHUNK_BYTES = 1 << 20
# After an exact check of the plan fails, the next one waits this many more checks (doubling).
_MAX_SKIP = 16
# The plan's exact error not improving on its best for this many consecutive checks, while it is
# below _FLOOR_UNITS round-offs of the plan's mass, means the iterates have reached the dtype's
# round-off floor (in exact arithmetic the L1 marginal error of Sinkhorn's iterates does not
# increase; float32's floor at lam = 25, N = 4096 is about 1e-6, 10 round-offs): the solver
# stops there instead of running to max_iter. Above that bound a flat error is a plateau of
# slow convergence (large lam), not a floor, and the solver goes on.
_STALL_CHECKS = 3
_FLOOR_UNITS = 1024


class EntropicOTResult(NamedTuple):
    r"""What :func:`sinkhorn` returns; the same seven fields whatever the options.

    ``(plan, f, g, n_iter, converged, marginal_error, errors)``. The potentials satisfy
    ``plan == exp((f[..., :, None] + g[..., None, :] - cost) / eps)`` for both numerical paths.
    """

    #: The transport plan :math:`P`, shape ``(..., N, M)``. Rows sum to ``a`` up to round-off
    #: (the last update is the row step); columns sum to ``b`` up to ``marginal_error``.
    plan: torch.Tensor
    #: Row potential :math:`f`, shape ``(..., N)``.
    f: torch.Tensor
    #: Column potential :math:`g`, shape ``(..., M)``.
    g: torch.Tensor
    #: Number of full iterations (a column step and a row step) performed.
    n_iter: int
    #: ``True`` iff a tolerance was given and the returned plan meets it for every problem of
    #: the batch (always ``False`` in the fixed-iteration mode ``tol=None``).
    converged: bool
    #: :math:`\lVert P^\top \mathbf{1} - b \rVert_1` of the returned plan, its column sums
    #: accumulated in float64 (float32 on MPS), one value per problem, shape ``(...)``.
    marginal_error: torch.Tensor
    #: The same column-marginal L1 error after each iteration, as the solver measured it from
    #: its own vectors (no extra pass; in float32 within a few round-offs of the plan's),
    #: float64, shape ``(n_iter, ...)``: the convergence curve.
    errors: torch.Tensor


class SinkhornResult(NamedTuple):
    r"""What :func:`sinkhorn_knopp` returns; the same seven fields whatever the options.

    ``(plan, log_alpha, log_beta, n_iter, converged, marginal_error, errors)``. The scalings
    satisfy ``plan == exp(log_beta[..., :, None] + lam * log_p + log_alpha[..., None, :])`` for
    both numerical paths (the potentials of :func:`sinkhorn` are ``f = log_beta / lam``,
    ``g = log_alpha / lam``).
    """

    #: The transport plan, ``plan[..., i, y]`` :math:`= Q_{yi}`, shape ``(..., N, K)``. Rows sum
    #: to ``c`` up to round-off (the last update is the sample step); columns sum to ``r`` up
    #: to ``marginal_error``.
    plan: torch.Tensor
    #: Log cluster scalings :math:`\log \alpha_y`, shape ``(..., K)``.
    log_alpha: torch.Tensor
    #: Log sample scalings :math:`\log \beta_i`, shape ``(..., N)``.
    log_beta: torch.Tensor
    #: Number of full iterations (a cluster step and a sample step) performed.
    n_iter: int
    #: ``True`` iff a tolerance was given and the returned plan meets it for every problem of
    #: the batch (always ``False`` in the fixed-iteration mode ``tol=None``).
    converged: bool
    #: :math:`\lVert \mathrm{plan}^\top \mathbf{1} - r \rVert_1` of the returned plan,
    #: accumulated in float64 (float32 on MPS), one value per problem, shape ``(...)``.
    marginal_error: torch.Tensor
    #: The cluster-marginal L1 error after each iteration as the solver measured it, float64,
    #: shape ``(n_iter, ...)`` (see :attr:`EntropicOTResult.errors`).
    errors: torch.Tensor


class _Problem(NamedTuple):
    """How the engine words its messages for the public function that called it."""

    caller: str  # "sinkhorn" / "sinkhorn_knopp"
    x_name: str  # the matrix argument: "cost" / "log_p"
    allowed_inf: float  # the infinity the matrix may hold: +inf (cost) / -inf (log_p)
    allowed_why: str  # what such an entry means
    empty_why: str  # why a row or column made only of it is refused
    param: str  # "eps=0.1" / "lam=25"
    kernel: str  # "exp(-cost / eps)" / "exp(lam * log_p)"
    stronger: str  # how to strengthen the regularisation: "raise eps" / "lower lam"
    columns: str  # what the column marginal is called: "column" / "cluster"
    unmet: str  # what an unmet column marginal means in words


def _marginal(
    name: str, value: torch.Tensor | None, x: torch.Tensor, x_name: str, dim: int, what: str,
    size: int | None = None,
) -> torch.Tensor:
    """Validate a marginal (``(M,)`` or ``(B, M)``, positive) or build the uniform one.

    ``size`` is the number of entries over all ranks (the uniform marginal is ``1/size``).
    """
    total = x.shape[dim] if size is None else size
    size = x.shape[dim]
    layout = "(B, N, K)" if x_name == "log_p" else "(B, N, M)"
    if value is None:
        return torch.full((size,), 1.0 / total, device=x.device, dtype=x.dtype)
    _checks.tensor(name, value, ndim=(1, 2))
    _checks.same_device_dtype(name, value, x_name, x)
    _checks.dim_size(name, value, -1, size, f"one entry per {what} of {x_name}")
    if value.ndim == 2 and (x.ndim != 3 or value.shape[0] != x.shape[0]):
        raise ValueError(
            f"{name} may be 2-D only for a batched {x_name} {layout} with the same B, got "
            f"{name} of shape {tuple(value.shape)} and {x_name} of shape {tuple(x.shape)}"
        )
    if value.device.type != "meta" and not bool((value > 0).all()):
        raise ValueError(
            f"{name} must have positive entries (a marginal with full support), got minimum "
            f"{float(value.min()):.3g}"
        )
    return value


def sinkhorn(
    cost: torch.Tensor,
    eps: float,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    *,
    max_iter: int = 1000,
    tol: float | None = 1e-6,
    check_every: int = 1,
    method: str = "auto",
    f_init: torch.Tensor | None = None,
    distributed: bool = False,
) -> EntropicOTResult:
    r"""Entropic optimal transport between two discrete marginals, by Sinkhorn's iterations.

    Cuturi, "Sinkhorn Distances: Lightspeed Computation of Optimal Transport", NeurIPS 2013,
    arXiv:1306.0895v1, Sec. 4 (the iterations of Sinkhorn & Knopp, 1967). It solves

    .. math::

        \min_{P \in U(a, b)} \langle P, C \rangle - \varepsilon H(P),
        \quad H(P) = -\sum_{ij} P_{ij} (\log P_{ij} - 1),
        \quad U(a, b) = \{P \in \mathbb{R}_{+}^{N \times M} : P \mathbf{1} = a,\
        P^\top \mathbf{1} = b\},

    (equivalently :math:`\varepsilon\,\mathrm{KL}(P \,\|\, a b^\top)` up to a constant on
    :math:`U(a, b)`), whose unique solution is
    :math:`P_{ij} = \exp\big((f_i + g_j - C_{ij}) / \varepsilon\big)`. The potentials are
    found by alternating the *column step* and the *row step*,

    .. math::

        g_j \leftarrow \varepsilon \log b_j - \varepsilon \operatorname{LSE}_i
        \big((f_i - C_{ij}) / \varepsilon\big),
        \qquad
        f_i \leftarrow \varepsilon \log a_i - \varepsilon \operatorname{LSE}_j
        \big((g_j - C_{ij}) / \varepsilon\big),

    from :math:`f = \varepsilon \log a` (or ``f_init``): each step makes one marginal exact.
    At a fixed point :math:`f, g` maximise the dual
    :math:`\langle f, a\rangle + \langle g, b\rangle - \varepsilon \sum_{ij}
    e^{(f_i + g_j - C_{ij})/\varepsilon}`. Defaults: uniform marginals :math:`a = \mathbf{1}/N`,
    :math:`b = \mathbf{1}/M`. POT's ``ot.sinkhorn(a, b, C, reg=eps)`` returns the same plan.

    Two numerical paths give the same iterates where both are stable; ``method="auto"`` (the
    default) picks between them. Both first subtract
    each row's minimum cost :math:`\min_j C_{ij}` (absorbed by :math:`f`, so a constant added
    to a row, or to the whole matrix, changes nothing in any iterate):

    * ``method="log"``: the log-sum-exp updates above. Stable for any ``eps``; two passes of
      ``exp`` over the ``(N, M)`` matrix per iteration.
    * ``method="scaling"``: the kernel :math:`K = \exp(-(C - \min_j C_{\cdot j}) / \varepsilon)`
      once, then only matrix-vector products :math:`v = b \oslash K^\top u`,
      :math:`u = a \oslash K v` (Cuturi's algorithm). Faster, but entries of :math:`K`
      underflow when a row's cost spread over ``eps`` exceeds about 700 (float64) or 85
      (float32); a column that underflows entirely makes it raise (never return NaN).
    * ``method="auto"``: ``"scaling"`` when no entry of its kernel can underflow, i.e. the
      largest spread of a row of the cost over ``eps`` is below :math:`-\log(\text{tiny}) - 1`
      (707 in float64, 86.3 in float32; measured with one extra reduction over the matrix), and
      no cost is ``+inf``; ``"log"`` otherwise, and also when a scaling vector leaves the
      dtype's normal range (the solve is then redone on the log path). Same plan as ``"log"``
      up to round-off, 5-20 times faster where scaling is chosen (one thread, measured on
      4096 x 300 and x 3000).

    Stopping: every iteration measures the column-marginal L1 error of the current plan from
    the vectors it computes anyway (the ``errors`` trace). Every ``check_every`` iterations
    that measure is compared with ``tol``; when it is within its round-off of ``tol`` (or
    stops decreasing, as it does at float32's rounding floor), the plan that would be
    returned is formed and its column sums accumulated in float64, and the solver stops only
    if *that* error meets ``tol`` for every problem of the batch (after a failed test the next
    one waits 1, 2, 4, ... up to 16 checks). So ``marginal_error`` and ``converged`` always
    describe the returned plan: its column sums are accumulated in float64 from every entry
    (exact up to float64 round-off). A ``tol`` below the dtype's resolution of the plan's mass
    (machine epsilon times the mass) cannot be certified and is refused. A ``tol`` the dtype
    cannot reach on the given problem (float32's round-off floor is problem-dependent, about
    1e-6 at ``lam = 25``, N = 4096) does not stall: when three checks of the plan in a row fail
    to improve on its best error while that error is below 1024 round-offs of the plan's mass
    (1.2e-4 in float32, 2.3e-13 in float64, for mass 1), the solver stops there with ``converged=False`` and warns
    (:class:`ConvergenceWarning`, naming the floor reached). After ``max_iter``
    iterations without meeting ``tol`` it warns (:class:`ConvergenceWarning`). ``tol=None``
    runs exactly ``max_iter`` iterations with no test and no warning. Gradients flow through
    the iterations (in-place updates are used only when no gradient is recorded).

    Args:
        cost: the cost matrix :math:`C`; ``+inf`` marks a forbidden pair (plan exactly 0),
            NaN and ``-inf`` are refused.
        eps: the entropic strength :math:`\varepsilon > 0` (in the units of the cost); smaller
            is closer to the linear program and slower to converge.
        a: row marginal (positive); default uniform :math:`1/N`.
        b: column marginal (positive, the same total mass as ``a``); default uniform
            :math:`1/M`.
        max_iter: maximum number of iterations (each a column step and a row step).
        tol: tolerance on the L1 error of the column marginal; ``None`` for a fixed number of
            iterations.
        check_every: compare with ``tol`` every this many iterations (each comparison
            synchronises a GPU).
        method: ``"auto"`` (default: ``"scaling"`` where its kernel cannot underflow, else
            ``"log"``), ``"log"`` (stable) or ``"scaling"`` (fast; see above).
        f_init: warm start, the row potential to start from (e.g. a previous result's ``f``
            on a nearby problem); the first column step computes ``g`` from it, so no initial
            ``g`` is needed. Default :math:`\varepsilon \log a`.
        distributed: under an initialised :mod:`torch.distributed` group of more than one
            rank, treat the rows of ``cost`` (and of ``a``, ``f_init``) as this rank's share of
            one problem and all-reduce the column sums, so every rank gets its rows of the
            plan of the concatenated rows. Off by default (a collective reached by only some
            ranks would block); ignored without such a group.

    Returns:
        An :class:`EntropicOTResult` ``(plan, f, g, n_iter, converged, marginal_error,
        errors)``.

    Shape:
        ``cost``: ``(N, M)`` or batched ``(B, N, M)``; ``a``: ``(N,)`` or ``(B, N)``; ``b``:
        ``(M,)`` or ``(B, M)``; ``f_init``: like ``a``. ``plan``: like ``cost``; ``f``:
        ``(..., N)``; ``g``: ``(..., M)``; ``marginal_error``: ``()`` or ``(B,)``; ``errors``:
        ``(n_iter,)`` or ``(n_iter, B)``.

    Raises:
        TypeError: for a non-tensor or non-float ``cost``, ``a``, ``b`` or ``f_init``, a dtype
            mismatch, or non-numeric options.
        ValueError: for NaN or ``-inf`` in ``cost``, a row or column of ``cost`` that is
            ``+inf`` everywhere, wrongly shaped or non-positive marginals or marginals of
            different total mass, a non-finite ``f_init``, a non-positive ``eps``, bad
            ``max_iter`` / ``tol`` / ``check_every`` (or a ``tol`` the dtype cannot certify),
            or an unknown ``method``.
        FloatingPointError: when ``method="scaling"`` under- or overflows (use ``"log"`` or
            ``"auto"``).

    Warns:
        ConvergenceWarning: when ``tol`` is given and not met after ``max_iter`` iterations.

    Examples:
        Two points to two points with cost 0 on the diagonal and 1 off it: the plan keeps
        :math:`1/(2(1 + e^{-1/\varepsilon}))` on the diagonal.

        >>> import math
        >>> cost = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
        >>> res = sinkhorn(cost, 0.5)
        >>> math.isclose(res.plan[0, 0].item(), 0.5 / (1 + math.exp(-2)), rel_tol=1e-9)
        True

        The dual optimality conditions hold, and a warm start from the solution stops after
        one iteration:

        >>> g = torch.Generator().manual_seed(0)
        >>> cost = torch.rand(5, 3, generator=g, dtype=torch.float64)
        >>> res = sinkhorn(cost, 0.1, tol=1e-12)
        >>> torch.allclose(res.plan, ((res.f[:, None] + res.g[None, :] - cost) / 0.1).exp())
        True
        >>> res.converged, sinkhorn(cost, 0.1, tol=1e-12, f_init=res.f).n_iter
        (True, 1)
        >>> res.errors.shape == (res.n_iter,)  # the convergence curve, one entry per iteration
        True
    """
    # cost is validated without a pass of its own: NaN / -inf are detected on vectors the
    # solver computes anyway (row minima, first column sums), see _non_finite_input.
    _checks.tensor("cost", cost, ndim=(2, 3), finite=False)
    eps = _checks.number("eps", eps, positive=True)
    prob = _Problem(
        "sinkhorn", "cost", math.inf, "+inf entries are allowed: a forbidden pair",
        "a row or column with no allowed partner", f"eps={eps:g}", "exp(-cost / eps)",
        "raise eps", "column", "columns do not yet sum to b",
    )
    res = _run(cost, -1.0 / eps, a, b, f_init, prob, names=("a", "b", "f_init"),
               what=("row", "column"), max_iter=max_iter, tol=tol, check_every=check_every,
               method=method, distributed=distributed, init_scale=1.0 / eps)
    plan, log_alpha, log_beta, n_iter, converged, err, errors = res
    return EntropicOTResult(plan, eps * log_beta, eps * log_alpha, n_iter, converged, err, errors)


def sinkhorn_knopp(
    log_p: torch.Tensor,
    *,
    lam: float = 25.0,
    r: torch.Tensor | None = None,
    c: torch.Tensor | None = None,
    max_iter: int = 1000,
    tol: float | None = 1e-6,
    check_every: int = 1,
    method: str = "auto",
    distributed: bool = False,
) -> SinkhornResult:
    r"""Entropic optimal transport with equipartition marginals, in SeLa's and SwAV's form.

    Asano, Rupprecht & Vedaldi, "Self-labelling via simultaneous clustering and representation
    learning", ICLR 2020, arXiv:1911.05371, Sec. 3.1. With
    :math:`\ell_{iy} = \log p(y \mid x_i)` given as ``log_p`` (samples first), it solves

    .. math::

        \min_{Q \in U(r, c)} \sum_{i, y} Q_{iy}\,(-\ell_{iy})
        + \frac{1}{\lambda} \sum_{i, y} Q_{iy} \log Q_{iy},
        \qquad U(r, c) = \Big\{Q \in \mathbb{R}_{+}^{N \times K} :
        \sum_y Q_{iy} = c_i,\ \sum_i Q_{iy} = r_y\Big\},

    whose unique solution is :math:`Q_{iy} = \beta_i\, p(y \mid x_i)^{\lambda}\, \alpha_y`. This
    is :func:`sinkhorn` with cost :math:`-\ell`, :math:`\varepsilon = 1/\lambda`, row marginal
    ``c`` and column marginal ``r`` (``sinkhorn(-log_p, 1 / lam, a=c, b=r)``, with
    :math:`\log \beta = f / \varepsilon`, :math:`\log \alpha = g / \varepsilon`); the scalings are
    found by alternating the *cluster step* and the *sample step* (the paper's code does them
    in this order),

    .. math::

        \log \alpha_y \leftarrow \log r_y - \operatorname{LSE}_i(\log \beta_i + \lambda \ell_{iy}),
        \qquad
        \log \beta_i \leftarrow \log c_i - \operatorname{LSE}_y(\lambda \ell_{iy} + \log \alpha_y),

    starting from :math:`\beta = c`. Defaults are SeLa's: :math:`r = \mathbf{1}/K`,
    :math:`c = \mathbf{1}/N` (equipartition, total mass 1, so ``N * plan[i]`` is the label
    posterior :math:`q(\cdot \mid x_i)`) and :math:`\lambda = 25` (the ``--lamb`` default of the
    official code, github.com/yukimasano/self-label). The paper writes the regulariser as
    :math:`\frac{1}{\lambda}\operatorname{KL}(Q \,\|\, r c^\top)`, which differs from
    :math:`-\frac{1}{\lambda} H(Q)` by a constant on :math:`U(r, c)`: same solution.

    Correspondences. POT: ``ot.sinkhorn(c, r, M, reg)`` with cost ``M = -log_p`` and
    ``reg = 1 / lam`` returns the same plan (POT's ``a``, ``b`` are our ``c``, ``r``). SwAV
    (Caron et al., 2020): scores ``s`` with temperature ``epsilon`` are ``log_p = s`` and
    ``lam = 1 / epsilon`` (``epsilon = 0.05`` is ``lam = 20``) with ``tol=None, max_iter=3``;
    the plan times ``N`` is SwAV's code matrix. Logits may be passed instead of
    log-probabilities: adding a constant to a row (or a column) of ``log_p`` is absorbed by
    :math:`\beta` (or :math:`\alpha`) and leaves the solution unchanged. A constant added to
    the whole matrix leaves every iterate unchanged, also in float32 (each row's maximum is
    subtracted before any exponential); a row constant changes the first cluster step, so
    results after a fixed small number of iterations can differ (as in SwAV's code).

    Numerical paths (``method="auto"``, ``"log"`` or ``"scaling"``), stopping (the reported
    ``marginal_error`` is the returned plan's, accumulated in float64), the refusal of a
    ``tol`` the dtype cannot certify, gradients and ``distributed``: as :func:`sinkhorn`. The
    scaling path's kernel :math:`\exp(\lambda(\ell - \max_y \ell))` underflows when
    :math:`\lambda` times the spread of a row of ``log_p`` exceeds about 700 (float64) or 85
    (float32); ``"auto"`` uses it below those spreads (e.g. SwAV's ``lam = 20`` on cosine
    scores in float32, or ``lam = 25`` in float64) and the log path above.

    Input checks cost no pass of their own: ``log_p`` may hold ``-inf`` (probability 0) but no
    NaN or ``+inf``; these are detected on vectors the solver computes anyway (the row maxima
    and the first column sums), and only then is ``log_p`` scanned to word the error.

    Distributed (SwAV's multi-GPU Sinkhorn): with ``distributed=True`` under a process group,
    each rank passes its own samples; the cluster step all-reduces the column sums (a
    ``(..., K)`` vector per iteration), the default ``c`` is :math:`1/N` for the total
    :math:`N` over ranks, and every rank stops at the same iteration. Gradients follow
    :mod:`torch.distributed.nn`'s convention (the gradient of the sum of the ranks' outputs).

    Args:
        log_p: log-probabilities (or scores) :math:`\ell_{iy}`, one row per sample; ``-inf``
            allowed (probability 0), NaN and ``+inf`` refused.
        lam: inverse entropic strength :math:`\lambda > 0`; larger is closer to the linear
            program and slower to converge. Default 25 (SeLa's official code).
        r: cluster marginal (positive); default uniform :math:`1/K`.
        c: sample marginal (positive, same total mass as ``r``); default uniform :math:`1/N`.
        max_iter: maximum number of iterations (each a cluster step and a sample step).
        tol: tolerance on the L1 error of the cluster marginal; ``None`` for a fixed number of
            iterations.
        check_every: compare with ``tol`` every this many iterations.
        method: ``"auto"`` (default), ``"log"`` (stable) or ``"scaling"`` (fast); see
            :func:`sinkhorn`.
        distributed: under an initialised :mod:`torch.distributed` group of more than one rank,
            treat the rows of ``log_p`` (and of ``c``) as this rank's share of one batch and
            all-reduce the column sums, so every rank gets its rows of the plan of the
            concatenated batch. Off by default (``False`` solves each rank's rows on their
            own): a collective reached by only some ranks would block. Ignored without such a
            group.

    Returns:
        A :class:`SinkhornResult` ``(plan, log_alpha, log_beta, n_iter, converged,
        marginal_error, errors)``.

    Shape:
        ``log_p``: ``(N, K)`` or batched ``(B, N, K)``; ``r``: ``(K,)`` or ``(B, K)``; ``c``:
        ``(N,)`` or ``(B, N)``. ``plan``: like ``log_p``; ``log_alpha``: ``(..., K)``;
        ``log_beta``: ``(..., N)``; ``marginal_error``: ``()`` or ``(B,)``; ``errors``:
        ``(n_iter,)`` or ``(n_iter, B)``.

    Raises:
        TypeError: for a non-tensor or non-float ``log_p``, ``r`` or ``c``, a dtype mismatch,
            or non-numeric options.
        ValueError: for NaN or ``+inf`` in ``log_p``, a row or column of ``log_p`` that is
            ``-inf`` everywhere, a non-finite or wrongly shaped ``r`` or ``c``, marginals with
            a non-positive entry or of different total mass, a non-positive ``lam``, bad
            ``max_iter`` / ``tol`` / ``check_every`` (or a ``tol`` the dtype cannot certify),
            or an unknown ``method``.
        FloatingPointError: when ``method="scaling"`` under- or overflows (use ``"log"`` or
            ``"auto"``).

    Warns:
        ConvergenceWarning: when ``tol`` is given and not met after ``max_iter`` iterations.

    Examples:
        Uniform posteriors: every sample spreads evenly, the plan is :math:`1/(NK)` everywhere.

        >>> res = sinkhorn_knopp(torch.zeros(6, 3, dtype=torch.float64))
        >>> torch.allclose(res.plan, torch.full((6, 3), 1 / 18, dtype=torch.float64))
        True

        Equipartition holds however lopsided the model is: all samples prefer cluster 0, yet
        each cluster receives mass 1/K.

        >>> log_p = torch.log_softmax(torch.tensor([[4.0, 0.0, 0.0]] * 6, dtype=torch.float64)
        ...                           + 0.1 * torch.arange(18.).reshape(6, 3), dim=1)
        >>> res = sinkhorn_knopp(log_p)
        >>> res.converged, res.plan.sum(0)
        (True, tensor([0.3333, 0.3333, 0.3333], dtype=torch.float64))
        >>> torch.allclose(res.plan.sum(1), torch.full((6,), 1 / 6, dtype=torch.float64))
        True
    """
    _checks.tensor("log_p", log_p, ndim=(2, 3), finite=False)
    lam = _checks.number("lam", lam, positive=True)
    prob = _Problem(
        "sinkhorn_knopp", "log_p", -math.inf, "-inf entries are allowed: probability 0",
        "a sample or cluster with probability 0 for all partners", f"lam={lam:g}",
        "exp(lam * log_p)", "lower lam", "cluster", "clusters are not yet equally filled",
    )
    plan, log_alpha, log_beta, n_iter, converged, err, errors = _run(
        log_p, lam, c, r, None, prob, names=("c", "r", None),
        what=("sample (row)", "cluster (column)"), max_iter=max_iter, tol=tol,
        check_every=check_every, method=method, distributed=distributed, init_scale=1.0)
    return SinkhornResult(plan, log_alpha, log_beta, n_iter, converged, err, errors)


# ---------------------------------------------------------------------------------------------
# The engine, in the units of the log-kernel L = s * x (s = lam, x = log_p for sinkhorn_knopp;
# s = -1/eps, x = cost for sinkhorn). plan = exp(log_beta_i + L_ij + log_alpha_j).
# ---------------------------------------------------------------------------------------------
def _run(
    x: torch.Tensor, s: float, a: torch.Tensor | None, b: torch.Tensor | None,
    init: torch.Tensor | None, prob: _Problem, *, names: tuple, what: tuple, max_iter: int,
    tol: float | None, check_every: int, method: str, distributed: bool, init_scale: float,
) -> tuple:
    """Validate the options and marginals, solve, warn: shared by both public faces."""
    _checks.integer("max_iter", max_iter, minimum=1)
    if tol is not None:
        tol = _checks.number("tol", tol, positive=True)
    _checks.integer("check_every", check_every, minimum=1)
    _checks.choice("method", method, SINKHORN_METHODS)
    _checks.boolean("distributed", distributed)
    ranks = _distributed.Ranks(distributed and _distributed.is_active())
    n_total = ranks.total(x.shape[-2], x.device)  # rows over all ranks
    a_name, b_name, init_name = names
    a = _marginal(a_name, a, x, prob.x_name, -2, what[0], size=n_total)
    uniform_b = b is None
    b = _marginal(b_name, b, x, prob.x_name, -1, what[1])
    mass_b, mass_a = b.sum(-1), ranks.sum(a.sum(-1).detach())  # () or (B,)
    if x.device.type != "meta" and not torch.allclose(mass_b.detach(), mass_a, rtol=1e-5, atol=0.0):
        # named in the caller's order: "a and b" (sinkhorn), "r and c" (sinkhorn_knopp)
        first, second = (b_name, a_name) if prob.x_name == "log_p" else (a_name, b_name)
        masses = {a_name: mass_a.tolist(), b_name: mass_b.tolist()}
        raise ValueError(
            f"{first} and {second} must have the same total mass (balanced transport), got "
            f"sum({first})={masses[first]} and sum({second})={masses[second]}"
            + (f" (sum({a_name}) over all ranks)" if ranks.active else "")
        )
    batch = x.shape[:-2]
    a = a.expand(*batch, x.shape[-2])  # (..., N)
    b = b.expand(*batch, x.shape[-1])  # (..., M)
    if init is None:
        log_beta0 = a.log()  # beta = a: the official SeLa code's start
    else:
        # validated as a marginal is (shape, device, dtype, finite), but any sign is allowed
        _checks.tensor(init_name, init, ndim=(1, 2))
        _checks.same_device_dtype(init_name, init, prob.x_name, x)
        _checks.dim_size(init_name, init, -1, x.shape[-2], f"one entry per row of {prob.x_name}")
        if init.ndim == 2 and (x.ndim != 3 or init.shape[0] != x.shape[0]):
            raise ValueError(
                f"{init_name} may be 2-D only for a batched {prob.x_name} with the same B, got "
                f"{init_name} of shape {tuple(init.shape)} and {prob.x_name} of shape "
                f"{tuple(x.shape)}"
            )
        log_beta0 = (init * init_scale).expand_as(a)  # f / eps
    slack, floor, acc = 0.0, 0.0, _accumulator(x)
    if tol is not None and x.device.type != "meta":
        fl = torch.finfo(x.dtype)
        mass = float(mass_b.detach().max())
        floor = fl.eps * mass
        if tol < floor:
            raise ValueError(
                f"tol={tol:.3g} is below what {x.dtype} can certify for a plan of total mass "
                f"{mass:.3g} (machine epsilon {fl.eps:.3g} times the mass: the round-off of the "
                f"plan's own entries); use float64 or tol >= {floor:.3g}"
            )
        # the per-iteration measure is a float sum over N rows: within about sqrt(N) round-offs
        slack = 4.0 * fl.eps * math.sqrt(n_total) * mass
        floor = _FLOOR_UNITS * fl.eps * mass  # below it, a flat error is the round-off floor
    # the column marginal errors are measured against, in acc: the default uniform one exactly
    # (1 / M in float64, not its float32 rounding), as a user computing the error would
    b_acc = (torch.full(b.shape, 1.0 / b.shape[-1], dtype=acc, device=b.device) if uniform_b
             else b.detach().to(acc))
    kw = dict(prob=prob, max_iter=max_iter, tol=tol, check_every=check_every, slack=slack,
              acc=acc, ranks=ranks, b_acc=b_acc, floor=floor)
    if method == "auto":
        ref, finite, safe = _auto_scaling_is_safe(x, s, ranks)
        out = None
        if finite:
            try:
                out = _solve_scaling(x, s, a, b, log_beta0, ref=ref, safe=safe, certify=True,
                                     **kw)
            except FloatingPointError:
                out = None  # the scaling path could not certify its result: the log path
        if out is None:
            out = _solve_log(x, s, a, b, log_beta0, ref=ref, **kw)
    else:
        out = (_solve_log if method == "log" else _solve_scaling)(x, s, a, b, log_beta0, **kw)
    plan, log_alpha, log_beta, n_iter, err, errors, stalled = out
    converged = tol is not None and bool((err <= tol).all())
    if stalled and not converged:
        warnings.warn(
            ConvergenceWarning(
                f"{prob.caller} stopped after {n_iter} iterations with {prob.columns}-marginal "
                f"error {float(err.max()):.3g} > tol={tol:.3g} ({prob.param}): the error has "
                f"stopped decreasing (the round-off floor of {x.dtype} on this problem), so the "
                f"returned plan's {prob.unmet}. Use float64, or tol >= {float(err.max()):.2g}"
            ),
            stacklevel=3,
        )
    elif tol is not None and not converged:
        hint = f"or {prob.stronger} (stronger entropic regularisation converges faster)"
        if method == "scaling":
            name = prob.param.split("=")[0]
            hint += f"; method='log' is slower per iteration but stable for any {name}"
        if x.dtype != torch.float64 and float(err.max()) <= slack:
            hint += (f"; the error is near the round-off floor of {x.dtype}: float64 reaches "
                     "smaller tolerances")
        warnings.warn(
            ConvergenceWarning(
                f"{prob.caller} stopped after max_iter={max_iter} iterations with {prob.columns}-"
                f"marginal error {float(err.max()):.3g} > tol={tol:.3g} ({prob.param}): the "
                f"returned plan's {prob.unmet}. Increase max_iter, loosen tol, {hint}"
            ),
            stacklevel=3,
        )
    return plan, log_alpha, log_beta, n_iter, converged, err, errors


def _auto_scaling_is_safe(x: torch.Tensor, s: float, ranks: _distributed.Ranks):
    """``method="auto"``: the row extrema the kernel is shifted by, whether every entry is
    finite (else the log path: a forbidden pair, or NaN to be reported), and whether no
    entry of the shifted kernel ``exp(s * (x - ref))`` can fall below the clamp floor of
    :func:`_exp_` (``e`` times the dtype's smallest normal number): ``|s|`` times the largest
    spread of a row of ``x`` below ``-log(tiny) - 1`` (86.3 in float32, 707 in float64). Then
    the kernel is a plain ``exp`` (no clamp or flush pass) and only the scalings' range is
    checked; otherwise the flushed entries are certified negligible (:func:`_solve_scaling`).
    One extra reduction over ``x`` (the other row extremum).
    """
    xd = x.detach()
    hi, lo = xd.amax(dim=-1, keepdim=True), xd.amin(dim=-1, keepdim=True)  # (..., N, 1)
    ref = hi if s > 0 else lo
    if x.device.type == "meta" or x.numel() == 0:
        return ref, False, False
    spread = ranks.max((hi - lo).amax().to(torch.float64) * abs(s))
    finite = bool(torch.isfinite(spread))
    return ref, finite, finite and float(spread) < -math.log(torch.finfo(x.dtype).tiny) - 1.0


def _accumulator(x: torch.Tensor) -> torch.dtype:
    """The dtype error sums are accumulated in: float64, except on MPS (no float64 there)."""
    return torch.float32 if x.device.type == "mps" else torch.float64


def _non_finite_input(x: torch.Tensor, prob: _Problem) -> ValueError:
    """The error for a matrix whose NaN / forbidden inf / empty row or column broke a step.

    Only called once a cheap vector test (row extrema, first column sums) has failed, so the
    full passes below are paid on the error path only.
    """
    bad_inf = -prob.allowed_inf
    n_nan = int(torch.isnan(x).sum())
    n_inf = int((x == bad_inf).sum())
    if n_nan or n_inf:
        sign = "+" if bad_inf > 0 else "-"
        return ValueError(
            f"{prob.x_name} must be finite, got {n_nan} NaN and {n_inf} {sign}inf value(s) "
            f"({prob.allowed_why})"
        )
    sign = "+" if prob.allowed_inf > 0 else "-"
    where = "a row" if bool((x == prob.allowed_inf).all(-1).any()) else "a column"
    return ValueError(
        f"{prob.x_name} must have a finite entry in every row and column, got {where} that is "
        f"{sign}inf everywhere ({prob.empty_why}: the marginals cannot be met)"
    )


def _needs_graph(*xs: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(x.requires_grad for x in xs)


def _exp_(x: torch.Tensor, *, inplace: bool, flush: bool = True) -> torch.Tensor:
    """``exp(x)`` with results below ``e`` times the smallest normal number set to exactly 0.

    CPU ``exp`` takes a slow path (3-15 times slower, measured) for arguments whose result
    underflows to a sub-normal number or 0, or is within a factor ``e`` of doing so, and a
    Sinkhorn kernel is full of them at small ``eps``. Clamping the argument at
    ``log(tiny) + 1`` first keeps every result on the fast path; a threshold then zeroes the
    clamped entries again, so the values are those of ``exp`` with results below ``e * tiny``
    (about 3e-38 in float32) flushed to 0: relative to a kernel's largest entry, 1, they are far
    below the dtype's resolution. ``flush=False`` skips that threshold pass (for a sum, where
    each clamped entry adds at most ``e * tiny``).
    """
    floor = math.log(torch.finfo(x.dtype).tiny) + 1.0
    if inplace:
        x.clamp_min_(floor).exp_()
    else:
        x = x.clamp_min(floor).exp()
    if not flush:
        return x
    flushed = float(torch.tensor(floor, dtype=x.dtype).exp())  # what a clamped entry became
    threshold = torch.nn.functional.threshold_ if inplace else torch.nn.functional.threshold
    return threshold(x, flushed, 0.0)


def _column_sums(plan: torch.Tensor, acc: torch.dtype) -> torch.Tensor:
    """``plan.sum(-2)`` with every entry converted to ``acc`` first (see ``_CHUNK_BYTES``)."""
    if plan.dtype == acc:
        return plan.sum(-2)
    n, m = plan.shape[-2], plan.shape[-1]
    batch = math.prod(plan.shape[:-2])
    rows = max(1, _CHUNK_BYTES // (8 * max(1, m * batch)))
    if rows >= n or plan.device.type != "cpu":
        return plan.to(acc).sum(-2)
    out = torch.zeros(plan.shape[:-2] + (m,), dtype=acc, device=plan.device)
    buf = torch.empty(plan.shape[:-2] + (rows, m), dtype=acc, device=plan.device)
    for start in range(0, n, rows):
        part = plan[..., start:start + rows, :]
        if part.shape[-2] < rows:
            out += part.to(acc).sum(-2)
        else:
            out += buf.copy_(part).sum(-2)  # (..., M)
    return out


def _plan_error(plan: torch.Tensor, b_acc: torch.Tensor, acc: torch.dtype,
                ranks: _distributed.Ranks) -> torch.Tensor:
    """``|plan^T 1 - b|_1`` per problem, accumulated in ``acc`` (over all ranks' rows)."""
    cols = ranks.sum(_column_sums(plan.detach(), acc))  # (..., M)
    return (cols - b_acc).abs().sum(-1)  # (...,)


class _Trace:
    """The per-iteration error measures, kept on the device without synchronising."""

    def __init__(self, like: torch.Tensor, acc: torch.dtype) -> None:
        self.like, self.acc, self.items = like, acc, []

    def add(self, err: torch.Tensor) -> None:
        self.items.append(err)  # a list append: no per-iteration kernel

    def tensor(self) -> torch.Tensor:
        if not self.items:
            return torch.empty((0,) + tuple(self.like.shape), dtype=self.acc,
                               device=self.like.device)
        return torch.stack(self.items)  # (n_iter, ...)


class _Stopping:
    """When to stop: the cheap measure every ``check_every`` iterations, confirmed on the plan.

    The measure (column sums the iteration computes anyway) carries the round-off of a float
    sum over the rows. When it is within ``slack`` of ``tol``, or fails to decrease (at the
    dtype's floor it only fluctuates), the caller forms the plan it would return and its exact
    error decides. ``slack`` starts at a bound on that round-off (about ``4 sqrt(N)`` units)
    and is then set to twice the gap between the measure and the exact error observed at the
    last confirmation, so the plan is formed about twice per solve when the measure is good
    (float64, or float32 far from its floor). A failed confirmation also delays the next one
    by 1, 2, 4, ... up to ``_MAX_SKIP`` checks. When ``_STALL_CHECKS`` confirmations in a row
    fail to improve on the best exact error seen while it is below ``floor`` (the iterates
    fluctuate at the dtype's round-off floor, above ``tol``), it gives up (``stalled``) instead of running to
    ``max_iter``: a tolerance the dtype cannot reach on this problem costs a bounded extra.
    """

    def __init__(self, tol: float | None, check_every: int, max_iter: int, slack: float,
                 floor: float = 0.0) -> None:
        self.tol, self.every, self.max_iter, self.slack = tol, check_every, max_iter, slack
        self.floor = floor
        self.prev, self.next, self.skip = math.inf, 0, 1
        self.best, self.no_progress, self.stalled = math.inf, 0, False

    def sync_point(self, n_iter: int) -> bool:
        return self.tol is not None and n_iter > 0 and n_iter % self.every == 0

    def wants_plan(self, n_iter: int, measured: torch.Tensor) -> bool:
        """At a sync point: should the plan be formed and its exact error tested?"""
        value = float(measured.max())  # synchronises a GPU
        want = n_iter >= self.next and (value <= self.tol + self.slack or value >= self.prev)
        self.prev = value
        return want

    def accept(self, n_iter: int, measured: torch.Tensor, exact: torch.Tensor) -> bool:
        """Stop here? ``True`` when the plan meets ``tol``, or when the error has stalled."""
        if bool((exact <= self.tol).all()):
            return True
        worst = float(exact.max())
        if worst < self.best:
            self.best, self.no_progress = worst, 0
        else:
            self.no_progress += 1
            if self.no_progress >= _STALL_CHECKS and worst <= self.floor:
                self.stalled = True
                return True
        self.slack = 2.0 * float((measured - exact).abs().max())  # the measure's observed error
        self.next = n_iter + self.skip * self.every
        self.skip = min(2 * self.skip, _MAX_SKIP)
        return False


def _shifted_kernel_log(x: torch.Tensor, s: float, log_beta0: torch.Tensor, prob: _Problem,
                        ranks: _distributed.Ranks, inplace: bool, ref: torch.Tensor | None = None):
    """``L' = L - m`` (``m_i = max_j L_ij``) and the start ``log beta' = log beta0 + m - max m``.

    The row shift is computed on ``x`` itself, ``s * (x - max_j x)`` (``min_j`` for ``s < 0``),
    so a constant added to a row or to the whole matrix cancels exactly, also in float32
    (``s * x - s * max`` would first round ``s * x`` at the constant's magnitude). The shifts
    are detached: they cancel exactly in the plan, so they carry no gradient. ``ref`` (the
    row extrema) may be passed when the caller has computed them already.
    """
    xd = x.detach()
    if ref is None:
        ref = xd.amax(dim=-1, keepdim=True) if s > 0 else xd.amin(dim=-1, keepdim=True)  # (..., N, 1)
    if x.device.type != "meta" and not bool(torch.isfinite(ref).all()):
        raise _non_finite_input(x, prob)  # NaN / forbidden inf in a row, or a row all allowed-inf
    m = s * ref  # (..., N, 1) row maxima of L
    top = ranks.max(m.amax(dim=-2, keepdim=True))  # (..., 1, 1) over all ranks
    if inplace:
        lp = torch.sub(x, ref).mul_(s)  # (..., N, M)
    else:
        lp = s * (x - ref)
    log_beta = log_beta0 + (m - top).squeeze(-1)  # (..., N)
    return lp, log_beta, m.squeeze(-1), top[..., 0, 0]  # (..., N, M), (..., N), (..., N), (...)


class _Workspace:
    """``L' + (row or column vector)`` and log-sum-exps of it, allocation-free.

    Without a graph to record, every iteration writes into one ``(..., N, M)`` buffer and the
    log-sum-exp runs in place (maximum, shift, clamped exp, sum); with a graph, out-of-place
    ``torch.logsumexp`` keeps autograd exact.
    """

    def __init__(self, lp: torch.Tensor, inplace: bool) -> None:
        self.lp, self.inplace = lp, inplace
        self.buf = torch.empty_like(lp) if inplace else None

    def shifted(self, vec: torch.Tensor) -> torch.Tensor:
        """``L' + vec`` (``vec`` broadcasts), written into the buffer when in place."""
        if self.inplace:
            return torch.add(self.lp, vec, out=self.buf)
        return self.lp + vec

    def logsumexp(self, vec: torch.Tensor, dim: int) -> torch.Tensor:
        x = self.shifted(vec)
        if not self.inplace:
            return torch.logsumexp(x, dim=dim)
        m = x.amax(dim=dim, keepdim=True)
        empty = (m == -math.inf).squeeze(dim)  # a slice that is -inf everywhere: LSE = -inf
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        # clamped entries add at most N * e * tiny to a sum whose largest term is 1: no flush
        out = _exp_(x.sub_(m), inplace=True, flush=False).sum(dim=dim).log_().add_(m.squeeze(dim))
        return out.masked_fill_(empty, -math.inf)

    def plan(self, log_alpha: torch.Tensor, log_beta: torch.Tensor, *, graph: bool) -> torch.Tensor:
        """``exp(log_beta + L' + log_alpha)``; in place into the buffer unless ``graph``."""
        if self.inplace and not graph:
            x = self.shifted(log_alpha.unsqueeze(-2)).add_(log_beta.unsqueeze(-1))
            return _exp_(x, inplace=True)
        return torch.exp(self.lp + log_alpha.unsqueeze(-2) + log_beta.unsqueeze(-1))


def _solve_log(
    x: torch.Tensor, s: float, a: torch.Tensor, b: torch.Tensor, log_beta0: torch.Tensor, *,
    prob: _Problem, max_iter: int, tol: float | None, check_every: int, slack: float,
    acc: torch.dtype, ranks: _distributed.Ranks, b_acc: torch.Tensor, floor: float = 0.0,
    ref: torch.Tensor | None = None,
) -> tuple:
    # Cost per iteration: two passes that add a potential to L', each followed by a
    # log-sum-exp (maximum, shift, exp, sum); the error measure reuses the first one.
    graph = _needs_graph(x, a, b, log_beta0)
    lp, log_beta, m, top = _shifted_kernel_log(x, s, log_beta0, prob, ranks, inplace=not graph,
                                               ref=ref)
    work = _Workspace(lp, inplace=not graph)
    log_a, log_b = a.log(), b.log()  # (..., N), (..., M)
    log_alpha = torch.zeros_like(log_b)
    trace, stop = _Trace(b[..., 0], acc), _Stopping(tol, check_every, max_iter, slack, floor)
    plan = err = None
    n_iter = 0
    while True:
        # column step, part 1: column log-sums of diag(beta) exp(L')  -> (..., M)
        col = ranks.logsumexp(work.logsumexp(log_beta.unsqueeze(-1), dim=-2))
        if n_iter == 0 and x.device.type != "meta" and not bool(torch.isfinite(col).all()):
            raise _non_finite_input(x, prob)  # NaN or forbidden inf anywhere reaches a column
        if n_iter > 0:  # column marginal of the current plan diag(beta) exp(L') diag(alpha)
            measured = ((log_alpha.detach() + col.detach()).to(acc).exp() - b_acc).abs().sum(-1)
            trace.add(measured)
            if stop.sync_point(n_iter) and stop.wants_plan(n_iter, measured):
                with torch.no_grad():
                    candidate = work.plan(log_alpha, log_beta, graph=False)
                    exact = _plan_error(candidate, b_acc, acc, ranks)
                if stop.accept(n_iter, measured, exact):
                    plan, err = (candidate, exact) if not graph else (None, None)
                    break
        if n_iter == max_iter:
            break
        log_alpha = log_b - col  # column step: columns now sum to b
        # row step: rows sum to a, LSE over columns -> (..., N)
        log_beta = log_a - work.logsumexp(log_alpha.unsqueeze(-2), dim=-1)
        if n_iter == 0 and x.device.type != "meta" and not bool(torch.isfinite(log_beta).all()):
            raise _non_finite_input(x, prob)  # a row that is allowed-inf everywhere
        n_iter += 1
    if plan is None:
        plan = work.plan(log_alpha, log_beta, graph=graph)  # (..., N, M)
        err = _plan_error(plan, b_acc, acc, ranks)
    # report the potentials of L (undo the shifts): plan = exp(log_beta + L + log_alpha)
    return (plan, log_alpha - top.unsqueeze(-1), log_beta - m + top.unsqueeze(-1), n_iter, err,
            trace.tensor(), stop.stalled)


def _solve_scaling(
    x: torch.Tensor, s: float, a: torch.Tensor, b: torch.Tensor, log_beta0: torch.Tensor, *,
    prob: _Problem, max_iter: int, tol: float | None, check_every: int, slack: float,
    acc: torch.dtype, ranks: _distributed.Ranks, b_acc: torch.Tensor, floor: float = 0.0,
    ref: torch.Tensor | None = None, safe: bool = False, certify: bool = False,
) -> tuple:
    # certify (method="auto"): raise FloatingPointError (the caller then uses the log path)
    # unless the result is the log path's up to round-off: every scaling a finite normal
    # number and, unless `safe` (the caller has checked that no kernel entry falls below the
    # clamp floor of _exp_, so the kernel is a plain exp, no clamp or flush pass), the entries
    # flushed to 0 negligible: each is below e * tiny, so they miss at most e * tiny * sum(beta)
    # of a column sum G^T beta and e * tiny * sum(alpha) of a row sum G alpha; both must stay
    # below eps / 8 of the smallest such sum. Checked after every iteration in the
    # fixed-iteration mode (the iterates must be the log path's), on the returned plan's
    # scalings otherwise (the solution is unique), without synchronising in between.
    # The kernel G = exp(L') has each row's largest entry exactly 1, so G alpha cannot
    # underflow to 0 (small entries still may). Starting from beta' = exp(log_beta0 + m - max m)
    # makes every iterate equal to the log path's up to the constant moved to alpha.
    # Cost: one reduction (row extrema), one pass s * (x - ref), an exp in place, then two
    # matrix-vector products per iteration and two in-place scalings for the plan.
    graph = _needs_graph(x, a, b, log_beta0)
    inplace = not graph
    lp, log_beta, m, top = _shifted_kernel_log(x, s, log_beta0, prob, ranks, inplace=inplace,
                                               ref=ref)
    if safe:
        kernel = lp.exp_() if inplace else lp.exp()  # (..., N, M), no entry near underflow
    else:
        kernel = _exp_(lp, inplace=inplace)  # (..., N, M)
    beta = torch.exp(log_beta)  # (..., N)
    alpha = torch.ones_like(b)  # (..., M)
    trace, stop = _Trace(b[..., 0], acc), _Stopping(tol, check_every, max_iter, slack, floor)
    spare = plan = err = rows = None
    flushed = certify and not safe
    worst = torch.zeros((), dtype=acc, device=x.device) if flushed else None
    n_iter = 0
    while True:
        col = ranks.sum((beta.unsqueeze(-2) @ kernel).squeeze(-2))  # (..., M) G^T beta
        if flushed and (tol is None or n_iter == 0):
            worst = torch.maximum(worst, _flushed_share(beta, col, rows, alpha, ranks))
        sync = stop.sync_point(n_iter)
        if sync or n_iter == max_iter:
            _finite_or_raise(col, alpha, x, prob)
        if n_iter > 0:
            measured = (alpha.detach().to(acc) * col.detach().to(acc) - b_acc).abs().sum(-1)
            trace.add(measured)
            if sync and stop.wants_plan(n_iter, measured):
                with torch.no_grad():  # the plan as returned below, in a spare buffer
                    spare = torch.mul(kernel, beta.unsqueeze(-1), out=spare)
                    spare.mul_(alpha.unsqueeze(-2))
                    exact = _plan_error(spare, b_acc, acc, ranks)
                if stop.accept(n_iter, measured, exact):
                    plan, err = (spare, exact) if not graph else (None, None)
                    break
        if n_iter == max_iter:
            break
        alpha = b / col  # column step
        # row step, (..., N): G alpha, written alpha^T G^T (measured up to 1.8x faster on
        # CPU with MKL than the matrix-vector form, never slower; the same product)
        rows = (alpha.unsqueeze(-2) @ kernel.transpose(-1, -2)).squeeze(-2)
        beta = a / rows
        n_iter += 1
    if certify:
        if flushed and tol is not None:  # the returned plan's scalings
            worst = torch.maximum(worst, _flushed_share(beta, col, rows, alpha, ranks))
        _normal_or_raise(alpha, beta, x, prob, ranks, worst)
    if plan is None:
        if inplace:  # no graph to keep: scale the kernel in place (no second (N, M) allocation)
            plan = kernel.mul_(beta.unsqueeze(-1)).mul_(alpha.unsqueeze(-2))
        else:
            plan = beta.unsqueeze(-1) * kernel * alpha.unsqueeze(-2)  # (..., N, M)
        err = _plan_error(plan, b_acc, acc, ranks)
    # report the log path's potentials: plan = exp(log_beta + L + log_alpha)
    log_alpha = alpha.log() - top.unsqueeze(-1)  # (..., M)
    log_beta = beta.log() - m + top.unsqueeze(-1)  # (..., N)
    return plan, log_alpha, log_beta, n_iter, err, trace.tensor(), stop.stalled


def _flushed_share(beta: torch.Tensor, col: torch.Tensor, rows: torch.Tensor | None,
                   alpha: torch.Tensor, ranks: _distributed.Ranks) -> torch.Tensor:
    """The largest share of a column sum ``G^T beta`` (or row sum ``G alpha``) that kernel
    entries flushed to 0 (each below ``e * tiny``) can have removed, over the batch (0-d)."""
    floor = math.e * torch.finfo(beta.dtype).tiny
    with torch.no_grad():
        share = floor * ranks.sum(beta.detach().sum(-1)) / col.detach().amin(-1)  # (...)
        if rows is not None:
            share = torch.maximum(share, ranks.max(
                floor * alpha.detach().sum(-1) / rows.detach().amin(-1)))
    return share.max().to(torch.float64 if share.device.type != "mps" else torch.float32)


def _normal_or_raise(alpha: torch.Tensor, beta: torch.Tensor, x: torch.Tensor, prob: _Problem,
                     ranks: _distributed.Ranks, worst: torch.Tensor | None = None) -> None:
    """Raise FloatingPointError unless every scaling is a finite normal number (all ranks) and
    the flushed kernel entries' share ``worst`` (when given) is below ``eps / 8``."""
    if x.device.type == "meta":
        return
    fl = torch.finfo(alpha.dtype)
    with torch.no_grad():
        bad = torch.stack([~((alpha >= fl.tiny) & torch.isfinite(alpha)).all(),
                           ~((beta >= fl.tiny) & torch.isfinite(beta)).all()]).to(alpha.dtype)
        bad = ranks.max(bad)
    if bool(bad.any()) or (worst is not None and not float(worst) <= fl.eps / 8):
        raise FloatingPointError(
            f"{prob.caller}(method='scaling'): a scaling left the normal range of {x.dtype} "
            f"or flushed kernel entries mattered at {prob.param}; use method='log'"
        )


def _finite_or_raise(col: torch.Tensor, alpha: torch.Tensor, x: torch.Tensor,
                     prob: _Problem) -> None:
    if x.device.type == "meta":
        return
    if not (bool(torch.isfinite(alpha).all()) and bool((col > 0).all())
            and bool(torch.isfinite(col).all())):
        if bool((x == prob.allowed_inf).all(-2).any()):  # error path only: a full pass is fine
            raise _non_finite_input(x, prob)
        name = prob.param.split("=")[0]
        raise FloatingPointError(
            f"{prob.caller}(method='scaling') under/overflowed at {prob.param}: a whole column "
            f"of {prob.kernel} is 0 in this dtype. Use method='log' (stable for any {name}), "
            f"{'a smaller lam' if name == 'lam' else 'a larger eps'}, or float64"
        )
