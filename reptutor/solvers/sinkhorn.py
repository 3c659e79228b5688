r"""Equipartitioned label assignment as entropic optimal transport (Sinkhorn-Knopp).

Asano, Rupprecht & Vedaldi, "Self-labelling via simultaneous clustering and representation
learning", ICLR 2020, arXiv:1911.05371 (SeLa). The label-assignment step of SeLa solves, for
fixed model posteriors :math:`p(y \mid x_i)`, the transport problem (paper, Sec. 3.1)

.. math::

    \min_{Q \in U(r, c)} \langle Q, -\log P \rangle - \frac{1}{\lambda} H(Q),
    \qquad U(r, c) = \{Q \ge 0 : Q \mathbf{1} = r,\ Q^\top \mathbf{1} = c\},

with :math:`P_{yi} = p(y \mid x_i) / N`, cluster marginal :math:`r = \mathbf{1}/K` and sample
marginal :math:`c = \mathbf{1}/N` (equipartition), whose solution is
:math:`Q = \operatorname{diag}(\alpha)\, P^{\lambda} \operatorname{diag}(\beta)`
(element-wise power), found by the Sinkhorn-Knopp matrix-scaling iterations (Sinkhorn &
Knopp, 1967; Cuturi, 2013).

Convention of this module (samples first, see the book's notation page): the paper's
:math:`K \times N` matrices are stored transposed, ``plan[i, y]`` :math:`= Q_{yi}`, so
``plan.sum(-1) == c`` (one entry per sample) and ``plan.sum(-2) == r`` (one entry per cluster).
Taught in the chapter *Self-labelling as optimal transport (SeLa)* (``notebooks/04_clustering``).
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch

from reptutor import _checks, _distributed
from reptutor.solvers._common import ConvergenceWarning

__all__ = [
    "SinkhornResult",
    "EquipartitionResult",
    "sinkhorn_knopp",
    "equipartition_labels",
    "exact_equipartition",
    "SINKHORN_METHODS",
]

#: The two numerical paths of :func:`sinkhorn_knopp`.
SINKHORN_METHODS = ("log", "scaling")


class SinkhornResult(NamedTuple):
    r"""What :func:`sinkhorn_knopp` returns; the same six fields whatever the options.

    ``(plan, log_alpha, log_beta, n_iter, converged, marginal_error)``, described field by field
    below. The scalings satisfy
    ``plan == exp(log_beta[..., :, None] + lam * log_p + log_alpha[..., None, :])`` for both
    numerical paths.
    """

    #: The transport plan, ``plan[..., i, y]`` :math:`= Q_{yi}`, shape ``(..., N, K)``. Rows sum
    #: to ``c`` exactly (the last update is the sample step); columns sum to ``r`` up to
    #: ``marginal_error``.
    plan: torch.Tensor
    #: Log cluster scalings :math:`\log \alpha_y`, shape ``(..., K)``.
    log_alpha: torch.Tensor
    #: Log sample scalings :math:`\log \beta_i`, shape ``(..., N)``.
    log_beta: torch.Tensor
    #: Number of full iterations (a cluster step and a sample step) performed.
    n_iter: int
    #: ``True`` iff a tolerance was given and every problem of the batch met it (always
    #: ``False`` in the fixed-iteration mode ``tol=None``).
    converged: bool
    #: :math:`\lVert \mathrm{plan}^\top \mathbf{1} - r \rVert_1` of the returned plan, one
    #: value per problem, shape ``(...)`` (0-d for a single problem).
    marginal_error: torch.Tensor


class EquipartitionResult(NamedTuple):
    r"""What :func:`exact_equipartition` returns: ``(plan, labels, value)``."""

    #: An optimal vertex of the transport polytope, with ``1/N`` on the chosen cluster of each
    #: sample and 0 elsewhere, shape ``(N, K)``.
    plan: torch.Tensor
    #: The cluster of each sample, shape ``(N,)``; every cluster is used exactly ``N/K`` times.
    labels: torch.Tensor
    #: The optimal value :math:`\langle \mathrm{plan}, C \rangle`, a 0-d tensor.
    value: torch.Tensor


def _marginal(
    name: str, value: torch.Tensor | None, log_p: torch.Tensor, dim: int, letter: str,
    size: int | None = None,
) -> torch.Tensor:
    """Validate a marginal (``(M,)`` or ``(B, M)``, positive) or build the uniform one.

    ``size`` is the number of entries over all ranks (the uniform marginal is ``1/size``).
    """
    total = log_p.shape[dim] if size is None else size
    size = log_p.shape[dim]
    if value is None:
        return torch.full((size,), 1.0 / total, device=log_p.device, dtype=log_p.dtype)
    _checks.tensor(name, value, ndim=(1, 2))
    _checks.same_device_dtype(name, value, "log_p", log_p)
    _checks.dim_size(name, value, -1, size, f"one entry per {letter} of log_p")
    if value.ndim == 2 and (log_p.ndim != 3 or value.shape[0] != log_p.shape[0]):
        raise ValueError(
            f"{name} may be 2-D only for a batched log_p (B, N, K) with the same B, got "
            f"{name} of shape {tuple(value.shape)} and log_p of shape {tuple(log_p.shape)}"
        )
    if not bool((value > 0).all()):
        raise ValueError(
            f"{name} must have positive entries (a marginal with full support), got minimum "
            f"{float(value.min()):.3g}"
        )
    return value


def sinkhorn_knopp(
    log_p: torch.Tensor,
    *,
    lam: float = 25.0,
    r: torch.Tensor | None = None,
    c: torch.Tensor | None = None,
    max_iter: int = 1000,
    tol: float | None = 1e-6,
    check_every: int = 1,
    method: str = "log",
    distributed: bool = True,
) -> SinkhornResult:
    r"""Entropic optimal transport with equipartition marginals by Sinkhorn-Knopp scaling.

    Asano, Rupprecht & Vedaldi, "Self-labelling via simultaneous clustering and representation
    learning", ICLR 2020, arXiv:1911.05371, Sec. 3.1. With
    :math:`\ell_{iy} = \log p(y \mid x_i)` given as ``log_p`` (samples first), it solves

    .. math::

        \min_{Q \in U(r, c)} \sum_{i, y} Q_{iy}\,(-\ell_{iy})
        + \frac{1}{\lambda} \sum_{i, y} Q_{iy} \log Q_{iy},
        \qquad U(r, c) = \Big\{Q \in \mathbb{R}_{+}^{N \times K} :
        \sum_y Q_{iy} = c_i,\ \sum_i Q_{iy} = r_y\Big\},

    whose unique solution is :math:`Q_{iy} = \beta_i\, p(y \mid x_i)^{\lambda}\, \alpha_y`. The
    scalings are found by alternating the *cluster step* and the *sample step* (the paper's code
    does them in this order),

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
    :math:`\beta` (or :math:`\alpha`) and leaves the solution unchanged. (A column constant
    leaves every iterate unchanged; a row constant changes the first cluster step, so results
    after a fixed small number of iterations can differ.)

    Two numerical paths give the same plan where both are stable:

    * ``method="log"``: the log-sum-exp updates above. Stable for any ``lam`` (1000 and more);
      two passes of ``exp`` over the ``(N, K)`` matrix per iteration.
    * ``method="scaling"``: computes :math:`G = \exp(\lambda \ell - \max_y \lambda \ell)` once, then
      only matrix-vector products, :math:`\alpha \leftarrow r \oslash (G^\top \beta)`,
      :math:`\beta \leftarrow c \oslash (G \alpha)` (the paper's "fast" variant). Faster, but
      entries of :math:`G` underflow when :math:`\lambda` times the spread of a row of
      ``log_p`` exceeds about 700 (float64) or 85 (float32); a whole column that underflows
      makes it fail, and it raises instead of returning NaN.

    Stopping: the error of the cluster marginal is measured at the start of a cluster step from
    the log-sum-exp it needs anyway (no extra pass over the matrix),
    :math:`\mathrm{err} = \sum_y |\alpha_y \sum_i \beta_i G_{iy} - r_y|`, every ``check_every``
    iterations (the official code tests every 10 iterations; each test synchronises a GPU). The
    solver stops when ``err <= tol`` for every problem of the batch, or after ``max_iter``
    iterations with a :class:`ConvergenceWarning`. ``tol=None`` runs exactly ``max_iter``
    iterations with no test and no warning (SwAV's fixed 3 iterations); ``marginal_error`` is
    still reported. Gradients flow through the iterations (in-place updates are used only
    when no gradient is recorded).

    Input checks cost no pass of their own: ``log_p`` may hold ``-inf`` (probability 0) but no
    NaN or ``+inf``; these are detected on vectors the solver computes anyway (the first column
    sums, or the row maxima of the scaling path), and only then is ``log_p`` scanned to word
    the error.

    Distributed (SwAV's multi-GPU Sinkhorn): with ``distributed=True`` under a process group,
    each rank passes its own samples; the cluster step all-reduces the column sums (a
    ``(..., K)`` vector per iteration), the default ``c`` is :math:`1/N` for the total
    :math:`N` over ranks, and every rank stops at the same iteration. Gradients follow
    :mod:`torch.distributed.nn`'s convention (the gradient of the sum of the ranks' outputs).

    Args:
        log_p: log-probabilities (or scores) :math:`\ell_{iy}`, one row per sample; finite.
        lam: inverse entropic strength :math:`\lambda > 0`; larger is closer to the linear
            program and slower to converge. Default 25 (SeLa's official code).
        r: cluster marginal (positive); default uniform :math:`1/K`.
        c: sample marginal (positive, same total mass as ``r``); default uniform :math:`1/N`.
        max_iter: maximum number of iterations (each a cluster step and a sample step).
        tol: tolerance on the L1 error of the cluster marginal; ``None`` for a fixed number of
            iterations.
        check_every: test the tolerance every this many iterations.
        method: ``"log"`` (stable) or ``"scaling"`` (fast; see above).
        distributed: under an initialised :mod:`torch.distributed` group of more than one rank,
            treat the rows of ``log_p`` (and of ``c``) as this rank's share of one batch and
            all-reduce the column sums, so every rank gets its rows of the plan of the
            concatenated batch (default; ``False`` solves each rank's rows on their own).
            Ignored without such a group.

    Returns:
        A :class:`SinkhornResult` ``(plan, log_alpha, log_beta, n_iter, converged,
        marginal_error)``.

    Shape:
        ``log_p``: ``(N, K)`` or batched ``(B, N, K)``; ``r``: ``(K,)`` or ``(B, K)``; ``c``:
        ``(N,)`` or ``(B, N)``. ``plan``: like ``log_p``; ``log_alpha``: ``(..., K)``;
        ``log_beta``: ``(..., N)``; ``marginal_error``: ``()`` or ``(B,)``.

    Raises:
        TypeError: for a non-tensor or non-float ``log_p``, ``r`` or ``c``, a dtype mismatch,
            or non-numeric options.
        ValueError: for NaN or ``+inf`` in ``log_p``, a row or column of ``log_p`` that is
            ``-inf`` everywhere, a non-finite or wrongly shaped ``r`` or ``c``, marginals with
            a non-positive entry or of different total mass, a non-positive ``lam``, bad
            ``max_iter`` / ``tol`` / ``check_every``, or an unknown ``method``.
        FloatingPointError: when ``method="scaling"`` under- or overflows (use ``"log"``).

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
    # log_p is validated without a pass of its own: NaN / +inf are detected on vectors the
    # solver computes anyway (row maxima, first column sums), see _non_finite_input.
    _checks.tensor("log_p", log_p, ndim=(2, 3), finite=False)
    lam = _checks.number("lam", lam, positive=True)
    _checks.integer("max_iter", max_iter, minimum=1)
    if tol is not None:
        tol = _checks.number("tol", tol, positive=True)
    _checks.integer("check_every", check_every, minimum=1)
    _checks.choice("method", method, SINKHORN_METHODS)
    if not isinstance(distributed, bool):
        raise TypeError(f"distributed must be a bool, got {type(distributed).__name__} {distributed!r}")
    ranks = _Ranks(distributed and _distributed.is_active())
    n_total = ranks.total(log_p.shape[-2], log_p.device)  # samples over all ranks
    r = _marginal("r", r, log_p, -1, "cluster (column)")
    c = _marginal("c", c, log_p, -2, "sample (row)", size=n_total)
    mass_r, mass_c = r.sum(-1), ranks.sum(c.sum(-1).detach())  # () or (B,)
    if not torch.allclose(mass_r.detach(), mass_c, rtol=1e-5, atol=0.0):
        raise ValueError(
            "r and c must have the same total mass (balanced transport), got "
            f"sum(r)={mass_r.tolist()} and sum(c)={mass_c.tolist()}"
            + (" (sum(c) over all ranks)" if ranks.active else "")
        )
    batch = log_p.shape[:-2]
    r = r.expand(*batch, log_p.shape[-1])  # (..., K)
    c = c.expand(*batch, log_p.shape[-2])  # (..., N)

    solve = _sinkhorn_log if method == "log" else _sinkhorn_scaling
    plan, log_alpha, log_beta, n_iter, err = solve(
        log_p, r, c, lam=lam, max_iter=max_iter, tol=tol, check_every=check_every, ranks=ranks
    )
    converged = tol is not None and bool((err <= tol).all())
    if tol is not None and not converged:
        hint = ("or lower lam (stronger entropic regularisation converges faster)")
        if method == "scaling":
            hint += "; method='log' is slower per iteration but stable for any lam"
        warnings.warn(
            ConvergenceWarning(
                f"sinkhorn_knopp stopped after max_iter={max_iter} iterations with cluster-"
                f"marginal error {float(err.max()):.3g} > tol={tol:.3g} (lam={lam:g}): the "
                "returned plan's clusters are not yet equally filled. Increase max_iter, "
                f"loosen tol, {hint}"
            ),
            stacklevel=2,
        )
    return SinkhornResult(plan, log_alpha, log_beta, n_iter, converged, err)


class _Ranks:
    """The cross-rank reductions of the solver; each is the identity when not ``active``."""

    def __init__(self, active: bool) -> None:
        self.active = active

    def total(self, n: int, device: torch.device) -> int:
        return _distributed.total_rows(n, device) if self.active else n

    def sum(self, x: torch.Tensor) -> torch.Tensor:
        """Sum over ranks, with a gradient (the sum of the ranks' incoming gradients)."""
        return _distributed.all_reduce_sum(x) if self.active else x

    def max(self, x: torch.Tensor) -> torch.Tensor:
        """Maximum over ranks, no gradient (used for constants that cancel out)."""
        return _distributed.all_reduce_max(x) if self.active else x

    def logsumexp(self, x: torch.Tensor) -> torch.Tensor:
        """``log(sum over ranks of exp(x))``, element-wise, with a gradient."""
        if not self.active:
            return x
        m = self.max(x)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        return m + self.sum(torch.exp(x - m)).log()


def _non_finite_input(log_p: torch.Tensor) -> ValueError:
    """The error for a log_p whose NaN / +inf / empty row or column broke the first step.

    Only called once a cheap vector test (row maxima, first column sums) has failed, so the
    full passes below are paid on the error path only.
    """
    n_nan = int(torch.isnan(log_p).sum())
    n_inf = int((log_p == math.inf).sum())
    if n_nan or n_inf:
        return ValueError(
            f"log_p must be finite, got {n_nan} NaN and {n_inf} +inf value(s) "
            "(-inf entries are allowed: probability 0)"
        )
    where = "a row" if bool((log_p == -math.inf).all(-1).any()) else "a column"
    return ValueError(
        f"log_p must have a finite entry in every row and column, got {where} that is -inf "
        "everywhere (a sample or cluster with probability 0 for all partners: the marginals "
        "cannot be met)"
    )


def _needs_graph(*xs: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(x.requires_grad for x in xs)


def _exp_(x: torch.Tensor, *, inplace: bool, flush: bool = True) -> torch.Tensor:
    """``exp(x)`` with results below ``e`` times the smallest normal number set to exactly 0.

    CPU ``exp`` takes a slow path (3-15 times slower, measured) for arguments whose result
    underflows to a sub-normal number or 0, or is within a factor ``e`` of doing so, and a
    Sinkhorn kernel is full of them at large ``lam``. Clamping the argument at
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


class _Workspace:
    """``lam * log_p + (row or column vector)`` and log-sum-exps of it, allocation-free.

    Without a graph to record, every iteration writes into one ``(..., N, K)`` buffer and the
    log-sum-exp runs in place (maximum, shift, clamped exp, sum); with a graph, out-of-place
    ``torch.logsumexp`` keeps autograd exact. ``lam * log_p`` is never stored: it is fused into
    the one pass that adds the potential.
    """

    def __init__(self, log_p: torch.Tensor, lam: float, inplace: bool) -> None:
        self.log_p, self.lam, self.inplace = log_p, lam, inplace
        self.buf = torch.empty_like(log_p) if inplace else None
        self.scores = None if inplace else lam * log_p

    def shifted(self, vec: torch.Tensor) -> torch.Tensor:
        """``lam * log_p + vec`` (``vec`` broadcasts), written into the buffer when in place."""
        if self.inplace:
            return torch.add(vec, self.log_p, alpha=self.lam, out=self.buf)
        return self.scores + vec

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


def _sinkhorn_log(
    log_p: torch.Tensor, r: torch.Tensor, c: torch.Tensor, *, lam: float, max_iter: int,
    tol: float | None, check_every: int, ranks: _Ranks,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, torch.Tensor]:
    # Cost per iteration: two passes that add a potential to lam * log_p, each followed by a
    # log-sum-exp (maximum, shift, exp, sum); the tolerance test reuses the first one.
    work = _Workspace(log_p, lam, inplace=not _needs_graph(log_p, r, c))
    log_r, log_c = r.log(), c.log()  # (..., K), (..., N)
    log_beta = log_c  # start from beta = c (the official code's first cluster step)
    log_alpha = torch.zeros_like(log_r)
    n_iter = 0
    while True:
        # cluster step, part 1: column log-sums of diag(beta) G  -> (..., K)
        col = ranks.logsumexp(work.logsumexp(log_beta.unsqueeze(-1), dim=-2))
        if n_iter == 0 and not bool(torch.isfinite(col).all()):
            raise _non_finite_input(log_p)  # NaN or +inf anywhere reaches some column sum
        stop_test = tol is not None and n_iter > 0 and n_iter % check_every == 0
        if stop_test or n_iter == max_iter:
            # cluster marginal of the current plan diag(beta) G diag(alpha): alpha * col
            err = (torch.exp(log_alpha + col) - r).abs().sum(-1)  # (...,)
            if n_iter == max_iter or bool((err <= tol).all()):
                break
        log_alpha = log_r - col  # cluster step: columns now sum to r
        # sample step: rows sum to c, LSE over clusters -> (..., N)
        log_beta = log_c - work.logsumexp(log_alpha.unsqueeze(-2), dim=-1)
        if n_iter == 0 and not bool(torch.isfinite(log_beta).all()):
            raise _non_finite_input(log_p)  # a row that is -inf everywhere
        n_iter += 1
    plan = work.shifted(log_alpha.unsqueeze(-2))  # (..., N, K); the buffer becomes the plan
    if work.inplace:
        plan = _exp_(plan.add_(log_beta.unsqueeze(-1)), inplace=True)
    else:
        plan = torch.exp(plan + log_beta.unsqueeze(-1))
    return plan, log_alpha, log_beta, n_iter, err


def _sinkhorn_scaling(
    log_p: torch.Tensor, r: torch.Tensor, c: torch.Tensor, *, lam: float, max_iter: int,
    tol: float | None, check_every: int, ranks: _Ranks,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, torch.Tensor]:
    # Subtract each row's maximum m_i before exp (absorbed by beta): the largest entry of each
    # row of the kernel is exactly 1, so kernel @ alpha cannot underflow to 0 (small entries
    # still may). Starting from beta_i = c_i exp(lam (m_i - max_j m_j)) makes every iterate equal
    # to the log path's (started from beta = c) up to the constant moved to alpha. The shifts
    # cancel exactly in beta_i * kernel_i, so they carry no gradient (detached).
    # Cost: one reduction (row maxima), one fused pass lam * log_p - lam * m, an exp in place,
    # then two matrix-vector products per iteration and two in-place scalings for the plan.
    inplace = not _needs_graph(log_p, r, c)
    shift = log_p.detach().amax(dim=-1, keepdim=True)  # (..., N, 1) row maxima m_i
    if not bool(torch.isfinite(shift).all()):  # NaN / +inf in a row, or a row all -inf
        raise _non_finite_input(log_p)
    top = ranks.max(shift.amax(dim=-2, keepdim=True))  # (..., 1, 1) max_j m_j over all ranks
    kernel = _exp_(torch.add(shift * -lam, log_p, alpha=lam), inplace=inplace)  # (..., N, K)
    beta = c * torch.exp(lam * (shift - top)).squeeze(-1)  # (..., N)
    alpha = torch.ones_like(r)  # (..., K)
    n_iter = 0
    while True:
        col = ranks.sum((beta.unsqueeze(-2) @ kernel).squeeze(-2))  # (..., K) G^T beta
        stop_test = tol is not None and n_iter > 0 and n_iter % check_every == 0
        if stop_test or n_iter == max_iter:
            _finite_or_raise(col, alpha, lam, log_p)
            err = (alpha * col - r).abs().sum(-1)  # (...,) cluster marginal error
            if n_iter == max_iter or bool((err <= tol).all()):
                break
        alpha = r / col  # cluster step
        # sample step, (..., N): G alpha, written alpha^T G^T (measured up to 1.8x faster on
        # CPU with MKL than the matrix-vector form, never slower; the same product)
        beta = c / (alpha.unsqueeze(-2) @ kernel.transpose(-1, -2)).squeeze(-2)
        n_iter += 1
    if inplace:  # no graph to keep: scale the kernel in place (no second (N, K) allocation)
        plan = kernel.mul_(beta.unsqueeze(-1)).mul_(alpha.unsqueeze(-2))
    else:
        plan = beta.unsqueeze(-1) * kernel * alpha.unsqueeze(-2)  # (..., N, K)
    # report the log path's potentials: plan = exp(log_beta + lam log_p + log_alpha)
    log_alpha = alpha.log() - lam * top.squeeze(-1)  # (..., K)
    log_beta = beta.log() - lam * (shift - top).squeeze(-1)  # (..., N)
    return plan, log_alpha, log_beta, n_iter, err


def _finite_or_raise(col: torch.Tensor, alpha: torch.Tensor, lam: float,
                     log_p: torch.Tensor) -> None:
    if not (bool(torch.isfinite(alpha).all()) and bool((col > 0).all())
            and bool(torch.isfinite(col).all())):
        if bool((log_p == -math.inf).all(-2).any()):  # error path only: a full pass is fine
            raise _non_finite_input(log_p)
        raise FloatingPointError(
            f"sinkhorn_knopp(method='scaling') under/overflowed at lam={lam:g}: a whole column of "
            "exp(lam * log_p) is 0 in this dtype. Use method='log' (stable for any lam), a "
            "smaller lam, or float64"
        )


def equipartition_labels(
    log_p: torch.Tensor,
    *,
    lam: float = 25.0,
    max_iter: int = 1000,
    tol: float | None = 1e-2,
    method: str = "log",
) -> torch.Tensor:
    r"""SeLa's self-labels: the most likely cluster of each sample under the Sinkhorn plan.

    Asano, Rupprecht & Vedaldi, "Self-labelling via simultaneous clustering and representation
    learning", ICLR 2020, arXiv:1911.05371, Sec. 3.1: the labels are
    :math:`\hat y_i = \arg\max_y Q_{iy}` for the plan :math:`Q` of :func:`sinkhorn_knopp` with
    uniform marginals (the official code rounds the same way). Cluster sizes are close to
    :math:`N/K` but not exactly equal (the rounding is not constrained); use
    :func:`exact_equipartition` for exactly equal sizes.

    The default tolerance is looser than :func:`sinkhorn_knopp`'s: rounding each row to its
    argmax already moves the label distribution by an L1 distance of order :math:`K/N` (a few
    samples per cluster), so solving the plan's marginals far below that changes no label. With
    confident posteriors and :math:`\lambda = 25` a tolerance of :math:`10^{-6}` can take
    thousands of iterations (measured in the SeLa chapter).

    Args:
        log_p: log-probabilities or scores, one row per sample.
        lam: inverse entropic strength (default 25, SeLa's official code).
        max_iter: see :func:`sinkhorn_knopp`.
        tol: L1 tolerance on the plan's cluster marginal, see :func:`sinkhorn_knopp`
            (default :math:`10^{-2}`, see above).
        method: ``"log"`` or ``"scaling"``, see :func:`sinkhorn_knopp`.

    Returns:
        Labels in ``[0, K)``, dtype ``torch.long``.

    Shape:
        ``log_p``: ``(N, K)`` or ``(B, N, K)`` -> labels ``(N,)`` or ``(B, N)``.

    Raises:
        TypeError: as :func:`sinkhorn_knopp`.
        ValueError: as :func:`sinkhorn_knopp`.

    Warns:
        ConvergenceWarning: as :func:`sinkhorn_knopp`.

    Examples:
        A model that puts every sample in cluster 0 (the degenerate solution) still gets
        balanced labels, 3 samples per cluster:

        >>> g = torch.Generator().manual_seed(0)
        >>> logits = torch.randn(9, 3, generator=g, dtype=torch.float64)
        >>> logits[:, 0] += 5.0
        >>> torch.bincount(logits.argmax(1), minlength=3).tolist()
        [9, 0, 0]
        >>> torch.bincount(equipartition_labels(logits.log_softmax(1)), minlength=3).tolist()
        [3, 3, 3]
    """
    result = sinkhorn_knopp(log_p, lam=lam, max_iter=max_iter, tol=tol, method=method)
    return result.plan.argmax(dim=-1)


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
