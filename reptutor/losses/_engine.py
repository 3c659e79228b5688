r"""The log-sum-exp engine of the InfoNCE family, and its argument checks (private).

Used by :mod:`reptutor.losses.contrastive` (InfoNCE, NT-Xent) and :mod:`reptutor.losses.supcon`
(SupCon, class-conditional InfoNCE). Every one of these losses is "a log-sum-exp over the
candidates minus a positive logit". Only the log-sum-exp needs the :math:`M \times M'` similarity
matrix :math:`S = QK^\top/\tau`; one autograd function, :func:`logsumexp_candidates`, computes it
in two modes:

* dense (``chunk_size=None``): one similarity matmul, kept for the backward pass; a view's
  exclusion from its own denominator is written into :math:`S` by index (no boolean mask).
  *Dense backward*: without column log-sum-exps the kept matrix is overwritten, block by block,
  by :math:`E = e^{S - \max}` (its row sums give the log-sum-exp), so that the backward needs no
  exponential and no pass over the matrix: with :math:`r_i` the row's upstream gradient over
  its sum, :math:`\partial/\partial Q = \operatorname{diag}(r) E K / \tau` and
  :math:`\partial/\partial K = E^\top \operatorname{diag}(r) Q / \tau`, both added when the
  query and key sets coincide (NT-Xent, SupCon): two products that read :math:`E` and
  :math:`E^\top` in place (a profile at :math:`2N = 2048, D = 128`: recomputing the exponentials
  and forming the symmetrised weights cost more than the second product). With column
  log-sum-exps (symmetric InfoNCE) the logits are kept and the weights recomputed per block.
* streamed (``chunk_size=B``): the rows are processed in blocks of :math:`B`; a block of logits
  is computed, reduced to its log-sum-exp (and, for the symmetric InfoNCE, folded into a running
  column log-sum-exp) and discarded. The backward recomputes each block from the saved
  log-sum-exps. Memory grows as :math:`O(N B)` instead of :math:`O(N^2)`: at most two
  :math:`B \times M'` blocks are alive at once, against the whole matrix for the dense path.
  Value and gradient equal the dense path's up to floating-point rounding.

**The positive logit comes from the same matrix.** With ``pos_idx`` the function also returns
:math:`s_{i, p(i)}`, read from the very logits that enter the log-sum-exp. A per-sample loss
:math:`\operatorname{LSE}_j s_{ij} - s_{i,p(i)}` is then :math:`\ge 0` *in floating point*, not
only in exact arithmetic: the computed log-sum-exp is :math:`m_i + \log\sum_j e^{s_{ij}-m_i}`
with :math:`m_i = \max_j s_{ij}`, the sum holds the term :math:`e^0 = 1` so its logarithm is
:math:`\ge 0`, hence the result is :math:`\ge m_i \ge s_{i,p(i)}`, and the rounded difference of
two ordered floats is :math:`\ge 0` (the streamed column log-sum-exp, accumulated with
``logaddexp``, is likewise :math:`\ge` its running maximum). A positive computed by a separate
row-wise dot product rounds differently and made the loss negative at small temperature in
float32 (:math:`-3\cdot10^{-5}` at :math:`\tau = 0.01`, :math:`-2.9\cdot10^{-3}` at
:math:`\tau = 10^{-4}` on 256 identical views, D = 32). The argument holds for any dtype, also
under bfloat16 autocast, where the matmul is rounded to bfloat16 and a float32 dot product is not.

**Double backward.** The fast backward is written with in-place operations on the saved blocks
and is first order. Under ``create_graph=True`` (grad mode on inside the backward, e.g. for a
gradient penalty) it instead writes the first derivatives with plain differentiable torch
operations on the saved inputs (:func:`_double_backward`), which autograd differentiates again,
so second derivatives are exact. That path forms the whole :math:`M \times M'` matrix even when
``chunk_size`` is set (memory :math:`O(MM')`, like plain autograd).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from reptutor import _checks
from reptutor._reduction import REDUCTIONS

__all__ = ["CandidateLSE", "logsumexp_candidates", "unit_rows", "validate_options",
           "validate_pair"]

# Entries per block when the dense path walks its kept (M, M') matrix (masking, backward):
# 2**22 float32 entries = 16 MiB of temporaries, small next to the matrix itself.
_DENSE_BLOCK_ENTRIES = 1 << 22


class CandidateLSE(NamedTuple):
    """The outputs of :func:`logsumexp_candidates` (empty tensors for what was not asked)."""

    row: torch.Tensor  # (M,) log-sum-exp of each query's candidates
    col: torch.Tensor  # (M',) log-sum-exp of each key's candidates (want_cols), else (0,)
    pos: torch.Tensor  # (M,) s_{i, pos_idx[i]} read from the same logits (pos_idx), else (0,)


class _UnitRows(torch.autograd.Function):
    r"""``F.normalize(x, dim=1)``, same forward, with a three-operation backward.

    :math:`w = x / \max(\lVert x\rVert, \epsilon)`; for :math:`\lVert x\rVert > \epsilon`,
    :math:`\bar x = (\bar w - w\,\langle w, \bar w\rangle) / \lVert x\rVert`, and
    :math:`\bar w / \epsilon` where the norm was clamped (there :math:`w = x/\epsilon` is
    linear in :math:`x`). Autograd through ``F.normalize`` runs about ten operations for this
    (norm, clamp, broadcast division, each with its backward), which cost as much as the
    similarity matmul itself at a few hundred rows. The backward is written with differentiable
    out-of-place operations on the saved input, so double backward is exact.
    """

    @staticmethod
    def forward(ctx, x, eps):  # type: ignore[override]
        norm = x.norm(dim=1, keepdim=True).clamp_min(eps)  # (M, 1)
        ctx.save_for_backward(x, norm)
        ctx.eps = eps
        return x / norm

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, norm = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: recompute the norm differentiably
            norm = x.norm(dim=1, keepdim=True).clamp_min(ctx.eps)
        w = x / norm
        radial = (w * grad).sum(dim=1, keepdim=True) * (norm > ctx.eps)  # 0 where clamped
        return (grad - w * radial) / norm, None


def unit_rows(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rows scaled to unit L2 norm, as ``F.normalize(x, dim=1, eps=eps)`` (faster backward)."""
    return _UnitRows.apply(x, eps)


def _mask_block(s: torch.Tensor, r0: int, r1: int, self_idx: torch.Tensor | None,
                q_lab: torch.Tensor | None, k_lab: torch.Tensor | None) -> None:
    """Write -inf, in place, on the logits of block rows r0:r1 that are not candidates."""
    if self_idx is not None:
        rows = torch.arange(r1 - r0, device=s.device)
        s[rows, self_idx[r0:r1]] = float("-inf")  # a view is never its own candidate
    if q_lab is not None:
        # Class-restricted candidates: a (B, M') comparison, never an (M, M') mask.
        s.masked_fill_(q_lab[r0:r1, None] != k_lab[None, :], float("-inf"))


def _logsumexp(s: torch.Tensor, dim: int, buf: torch.Tensor) -> torch.Tensor:
    """log-sum-exp of a block along ``dim``, writing exp(s - max) into ``buf`` (may be ``s``).

    Shift by the maximum so that exp never overflows; a line with no candidate (all -inf)
    gets -inf instead of NaN. The result is >= the maximum in floating point (the sum holds
    exp(0) = 1), which keeps ``lse - positive`` non-negative (module docstring).
    """
    top = s.amax(dim=dim, keepdim=True)
    top.masked_fill_(torch.isinf(top), 0.0)
    torch.sub(s, top, out=buf).exp_()
    return buf.sum(dim=dim).log_().add_(top.squeeze(dim))


def _dense_logits(q, k, inv_tau, self_idx, q_lab, k_lab):
    """The masked (M, M') logits with plain differentiable torch ops (double backward)."""
    keys = q if k is None else k
    s = torch.mm(q * inv_tau, keys.T)  # (M, M') the logits, as in the forward
    drop = None
    if q_lab is not None:
        drop = q_lab[:, None] != k_lab[None, :]  # (M, M') other classes
    if self_idx is not None:
        own = torch.zeros(s.shape, dtype=torch.bool, device=s.device)
        own[torch.arange(q.shape[0], device=q.device), self_idx] = True  # each view's own key
        drop = own if drop is None else drop | own
    return s if drop is None else s.masked_fill(drop, float("-inf"))


class _ContrastiveLogSumExp(torch.autograd.Function):
    r"""Row (and optionally column) log-sum-exp of :math:`S = Q K^\top / \tau` over candidates.

    Inputs: q (M, D); k (M', D) or None for k = q with a symmetric candidate pattern; inv_tau;
    self_idx (M,) long or None (key excluded for each query); q_lab (M,), k_lab (M',) or None
    (restrict to equal labels); pos_idx (M,) long or None (the positive key of each query);
    chunk (rows per block, None = dense); want_cols.
    Outputs: row (M,), col (M',) (empty unless want_cols), pos (M,) (empty unless pos_idx).
    Block temporaries are allocated once and reused (fresh large tensors cost page faults).
    """

    @staticmethod
    def forward(ctx, q, k, inv_tau, self_idx, q_lab, k_lab, pos_idx, chunk, want_cols):  # type: ignore[override]
        keys = q if k is None else k
        m, m_keys = q.shape[0], keys.shape[0]
        dense = chunk is None
        # Dense without columns: the kept matrix is overwritten by E = exp(s - max) (module
        # docstring, *Dense backward*), so that the backward needs no exponential at all.
        keep_e = dense and not want_cols
        step = min(m, max(1, _DENSE_BLOCK_ENTRIES // m_keys) if dense else chunk)
        q_scaled = q * inv_tau  # (M, D): scaling the queries saves a pass over every logit
        row = q.new_empty(m)
        col = q.new_full((m_keys,), float("-inf")) if want_cols else q.new_empty(0)
        pos = q.new_empty(m) if pos_idx is not None else q.new_empty(0)
        scale = q.new_empty(m) if keep_e else q.new_empty(0)  # (M,) 1 / sum_j E_ij
        full = torch.mm(q_scaled, keys.T) if dense else None  # (M, M') the one similarity matmul
        s_buf = None if dense else q.new_empty(step, m_keys)  # (B, M') streamed block of logits
        # Scratch for exp(s - max) of the columns (the block's rows are still needed after it);
        # a streamed block's row log-sum-exp is then taken in place.
        e_buf = q.new_empty(step, m_keys) if want_cols else None
        for r0 in range(0, m, step):
            r1 = min(m, r0 + step)
            if dense:
                s = full[r0:r1]  # (B, M') view into the kept matrix
            else:
                s = torch.mm(q_scaled[r0:r1], keys.T, out=s_buf[: r1 - r0])
            if pos_idx is not None:  # s_{i, p(i)}: the positive, from the logits of the LSE
                pos[r0:r1] = s[torch.arange(r1 - r0, device=s.device), pos_idx[r0:r1]]
            _mask_block(s, r0, r1, self_idx, q_lab, k_lab)
            if want_cols:  # streaming column log-sum-exp: log(e^col + sum_block e^s)
                col = torch.logaddexp(col, _logsumexp(s, 0, e_buf[: r1 - r0]))
            if keep_e:  # the block becomes E = exp(s - max) in place; its sums give the LSE
                top = s.amax(dim=1, keepdim=True)
                top.masked_fill_(torch.isinf(top), 0.0)  # no candidate: E = 0, LSE = -inf
                total = torch.sub(s, top, out=s).exp_().sum(dim=1)  # (B,) >= 1 (holds e^0)
                row[r0:r1] = total.log().add_(top.squeeze(1))
                scale[r0:r1] = torch.where(total > 0, total.reciprocal(), 0.0)
            else:
                row[r0:r1] = _logsumexp(s, 1, e_buf[: r1 - r0] if dense else s)
        ctx.save_for_backward(q, k, row, col, full, self_idx, q_lab, k_lab, pos_idx, scale)
        ctx.inv_tau, ctx.step, ctx.want_cols, ctx.keep_e = inv_tau, step, want_cols, keep_e
        return row, col, pos

    @staticmethod
    def backward(ctx, g_row, g_col, g_pos):  # type: ignore[override]
        q, k, row, col, full, self_idx, q_lab, k_lab, pos_idx, scale = ctx.saved_tensors
        need_q = ctx.needs_input_grad[0]
        need_k = k is not None and ctx.needs_input_grad[1]
        if torch.is_grad_enabled():
            # create_graph=True: the fast path below is first order (in-place on saved
            # blocks), so recompute with differentiable ops and let autograd differentiate.
            return _double_backward(ctx, q, k, self_idx, q_lab, k_lab, pos_idx,
                                    (g_row, g_col, g_pos), need_q, need_k)
        sym = k is None
        keys = q if sym else k
        if ctx.keep_e:
            # under autocast the kept E is in the low-precision dtype; the backward runs
            # outside autocast, so its products are taken in the inputs' dtype
            e = full if full.dtype == q.dtype else full.to(q.dtype)
            dq, dk = _kept_backward(e, scale * g_row, q, keys, sym, need_q, need_k)
        else:
            dq, dk = _block_backward(ctx, q, k, row, col, full, self_idx, q_lab, k_lab, g_row,
                                     g_col, need_q, need_k)
        if pos_idx is not None:  # d pos_i / d s_{i,p(i)} = 1: O(M D), no block needed
            if dq is not None:
                dq.addcmul_(g_pos[:, None], keys[pos_idx])
                if sym:  # the positive's key is a query row too
                    dq.index_add_(0, pos_idx, g_pos[:, None] * q)
            if dk is not None:
                dk.index_add_(0, pos_idx, g_pos[:, None] * q)
        if dq is not None:
            dq.mul_(ctx.inv_tau)
        if dk is not None:
            dk.mul_(ctx.inv_tau)
        return dq, dk, None, None, None, None, None, None, None


def _kept_backward(e, r, q, keys, sym, need_q, need_k):
    r"""First derivatives (times :math:`\tau`) from the kept :math:`E`, without the positives.

    The weights are :math:`G = \operatorname{diag}(r)\,E` with :math:`r_i = \bar\ell_i / \sum_j
    E_{ij}` (the row softmax times the row's upstream gradient); :math:`\partial/\partial Q = GK`,
    :math:`\partial/\partial K = G^\top Q`, both added when :math:`K = Q`. Written as products
    with :math:`E` and :math:`E^\top` (BLAS reads the transpose in place), so no pass over the
    :math:`M \times M'` matrix is needed besides the products.
    """
    dq = dk = None
    rq = r[:, None] * q  # (M, D)
    if need_q:
        dq = torch.mm(e, keys).mul_(r[:, None])  # (M, D) diag(r) E K
        if sym:
            dq.addmm_(e.T, rq)  # + E^T diag(r) Q: the keys are the queries
    if need_k:  # never when sym
        dk = torch.mm(e.T, rq)  # (M', D)
    return dq, dk


def _block_backward(ctx, q, k, row, col, full, self_idx, q_lab, k_lab, g_row, g_col, need_q,
                    need_k):
    """First derivatives (times tau) block by block from the logits, without the positives."""
    sym = k is None
    keys = q if sym else k
    m, m_keys, step = q.shape[0], keys.shape[0], ctx.step
    dq = torch.empty_like(q) if need_q else None
    dk = torch.zeros_like(keys) if need_k else None
    dense = full is not None
    q_scaled = None if dense else q * ctx.inv_tau
    # Streamed: the recomputed block becomes d loss / d s in place. Dense: the kept matrix
    # is read only, so the block's gradient needs its own buffer.
    s_buf = None if dense else q.new_empty(step, m_keys)
    e_buf = q.new_empty(step, m_keys) if dense else None
    t_buf = q.new_empty(step, m_keys) if (sym or ctx.want_cols) else None
    for r0 in range(0, m, step):
        r1 = min(m, r0 + step)
        if dense:
            s = full[r0:r1]
        else:  # recompute the block of logits from the saved embeddings
            s = torch.mm(q_scaled[r0:r1], keys.T, out=s_buf[: r1 - r0])
            _mask_block(s, r0, r1, self_idx, q_lab, k_lab)
        t = None
        if ctx.want_cols:  # d col_j / d s_ij = exp(s_ij - col_j)
            t = torch.sub(s, col[None, :], out=t_buf[: r1 - r0]).exp_().mul_(g_col[None, :])
        elif sym:  # S = S^T: the transposed block's weights, so dW = (G + G^T) W / tau
            t = torch.sub(s, row[None, :], out=t_buf[: r1 - r0]).exp_().mul_(g_row[None, :])
        # d row_i / d s_ij = softmax_j(s_i.) = exp(s_ij - row_i), times the gradient of row_i.
        e = torch.sub(s, row[r0:r1, None], out=e_buf[: r1 - r0] if dense else s).exp_()
        e.mul_(g_row[r0:r1, None])
        if t is not None:
            e.add_(t)
        if dq is not None:
            torch.mm(e, keys, out=dq[r0:r1])
        if dk is not None:
            dk.addmm_(e.T, q[r0:r1])
    return dq, dk


def _double_backward(ctx, q, k, self_idx, q_lab, k_lab, pos_idx, grads, need_q, need_k):
    r"""The first derivatives written with differentiable ops (``create_graph=True``).

    With :math:`G = \partial\mathcal L/\partial S` (softmax weights of the rows times
    ``g_row``, of the columns times ``g_col``, plus ``g_pos`` on each positive),
    :math:`\partial\mathcal L/\partial Q = G K/\tau` and :math:`\partial\mathcal L/\partial K =
    G^\top Q/\tau` (both added when :math:`K = Q`). Explicit partial derivatives, not
    ``autograd.grad`` of a recomputation: the keys may themselves depend on the queries (NT-Xent
    under a process group gathers its keys from its queries), and the total derivative would
    then count that path twice.
    """
    if not (need_q or need_k):
        return (None,) * 9
    g_row, g_col, g_pos = grads
    inv_tau = ctx.inv_tau
    keys = q if k is None else k
    s = _dense_logits(q, k, inv_tau, self_idx, q_lab, k_lab)  # (M, M')
    weights = g_row[:, None] * torch.softmax(s, dim=1)  # d row_i / d s_ij = softmax_j(s_i.)
    if ctx.want_cols:  # d col_j / d s_ij = softmax_i(s_.j)
        weights = weights + g_col[None, :] * torch.softmax(s, dim=0)
    if pos_idx is not None:  # d pos_i / d s_{i,p(i)} = 1
        rows = torch.arange(q.shape[0], device=q.device)
        weights = weights.index_put((rows, pos_idx), g_pos, accumulate=True)
    if k is None:  # S = Q Q^T / tau: both factors are Q
        return (weights + weights.T) @ q * inv_tau, None, None, None, None, None, None, None, None
    dq = weights @ keys * inv_tau if need_q else None
    dk = weights.T @ q * inv_tau if need_k else None
    return dq, dk, None, None, None, None, None, None, None


def logsumexp_candidates(
    q: torch.Tensor,
    k: torch.Tensor | None,
    *,
    temperature: float,
    self_idx: torch.Tensor | None = None,
    q_lab: torch.Tensor | None = None,
    k_lab: torch.Tensor | None = None,
    pos_idx: torch.Tensor | None = None,
    chunk_size: int | None = None,
    want_cols: bool = False,
) -> CandidateLSE:
    r"""Log-sum-exp of :math:`s_{ij} = \langle q_i, k_j\rangle/\tau` over each query's candidates.

    Candidates of query :math:`i` are all keys except ``self_idx[i]`` and, with labels, the keys
    of another label. ``k=None`` means the keys are ``q`` itself with a symmetric candidate
    pattern (``self_idx`` the diagonal, ``q_lab is k_lab``); the backward then needs one matmul
    instead of two. ``want_cols`` adds each key's log-sum-exp over the queries (columns);
    ``pos_idx`` adds the positive logits :math:`s_{i,\text{pos\_idx}[i]}` from the same matrix,
    so that ``row - pos >= 0`` holds exactly (module docstring). Inputs are trusted.
    """
    assert not (k is None and want_cols), "columns equal rows when k is q"
    row, col, pos = _ContrastiveLogSumExp.apply(q, k, 1.0 / temperature, self_idx, q_lab, k_lab,
                                                pos_idx, chunk_size, want_cols)
    return CandidateLSE(row, col, pos)


def validate_options(temperature: float, reduction: str, chunk_size: int | None,
                     distributed: bool) -> float:
    """Check the options shared by the InfoNCE-family losses; returns the temperature as float."""
    _checks.choice("reduction", reduction, REDUCTIONS)
    if chunk_size is not None:
        _checks.integer("chunk_size", chunk_size, minimum=1)
    _checks.boolean("distributed", distributed)
    return _checks.number("temperature", temperature, positive=True)


def validate_pair(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float, reduction: str,
                  chunk_size: int | None, distributed: bool) -> float:
    """Check two views (N, D) of one batch and the shared options; returns the temperature."""
    _checks.views("z_a", z_a, "z_b", z_b)
    return validate_options(temperature, reduction, chunk_size, distributed)
