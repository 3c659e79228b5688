"""Property-based invariants (hypothesis) that the per-module test files do not already cover.

Per family, with the symmetry the math gives it:

* view swap: NT-Xent, symmetric class-conditional InfoNCE, GDT (exchanging the two stacked
  halves), global contrast, cross-view prediction, Barlow Twins (:math:`C \\to C^\\top`); the
  critic-matrix estimators JSD and DV are invariant to transposing the matrix.
* sample permutation (pairs moved jointly): streamed (``chunk_size``) contrastive losses,
  BYOL/SCRL, GDT with permuted masks, Barlow Twins, MCR2; the critic estimators under
  :math:`F \\to PFP^\\top`, DEMI / conditional InfoNCE under a permutation of anchors; the
  kNN and log-det entropies.
* label permutation (an arbitrary bijection of class ids): SupCon, class-conditional InfoNCE,
  MCR2, and the clustering metrics (NMI, cluster-size entropy, largest-cluster fraction).
* rotation :math:`z \\to zQ` (Q orthogonal) for quantities built from inner products or
  distances: InfoNCE, class-conditional InfoNCE, GDT, BYOL/SCRL, global/local contrast (raw dot
  products too), VICReg's invariance term, L2 cross-view prediction, the log-det and kNN
  entropies, MCR2's coding rates.
* Sinkhorn marginals: rows sum to c, the reported ``marginal_error`` is the column gap of the
  returned plan, the plan is non-negative, a converged solve meets its tolerance, and the plan
  is equivariant under permutations of samples and clusters.

Tolerances: everything runs in float64. Each invariance holds exactly in real arithmetic; the
two sides differ only by the rounding of the transformed inputs (one rounding, 1.1e-16
relative) carried through O(N D) operations and divided by a temperature of at least 0.05,
i.e. errors of order 1e-13 on values of order 1-10. ``rel=1e-9, abs=1e-10`` leaves a margin
of 1e3 and still fails for any real violation (those move values by O(1e-2) or more).
"""
from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.estimators as E
import reptutor.losses as L
from reptutor.metrics import cluster_size_entropy, largest_cluster_fraction, nmi
from reptutor.solvers import ConvergenceWarning, sinkhorn, sinkhorn_knopp

from _helpers import gen, randn

F64 = torch.float64
REL, ABS = 1e-9, 1e-10
SEEDS = st.integers(0, 10_000)
TAUS = st.floats(0.05, 5.0)


def _rotation(d, seed):
    q, _ = torch.linalg.qr(randn(d, d, seed=seed))
    return q


def _perm(n, seed):
    return torch.randperm(n, generator=gen(seed))


def _labels(n, k, seed):
    y = torch.randint(0, k, (n,), generator=gen(seed))
    y[:k] = torch.arange(k)  # every class present (mcr2 / supcon need it for positives)
    return y


def close(a, b):
    torch.testing.assert_close(a, b, rtol=REL, atol=ABS)


# -------------------------------------------------------------------------------- view swap
@settings(max_examples=20)
@given(n=st.integers(3, 8), d=st.integers(2, 5), seed=SEEDS, t=TAUS)
def test_view_swap(n, d, seed, t):
    a, b = randn(n, d, seed=seed), randn(n, d, seed=seed + 1)
    y = _labels(n, 2, seed)
    close(L.nt_xent_loss(b, a, temperature=t), L.nt_xent_loss(a, b, temperature=t))
    # the symmetric class-conditional loss averages both directions: per sample unchanged
    close(L.class_conditional_info_nce_loss(b, a, y, temperature=t, reduction="none"),
          L.class_conditional_info_nce_loss(a, b, y, temperature=t, reduction="none"))
    # GDT on the stacked views [a; b]: exchanging the halves permutes the anchors
    idx = torch.arange(n).repeat(2)
    swap = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    per = L.gdt_loss(torch.cat([a, b]), idx, None, modes=[], temperature=t, reduction="none")
    close(L.gdt_loss(torch.cat([b, a]), idx, None, modes=[], temperature=t, reduction="none"),
          per[swap])
    sa, sb = a.view(n, 1, d), b.view(n, 1, d)
    close(L.global_contrastive_loss(sb, sa, temperature=t), L.global_contrastive_loss(sa, sb, temperature=t))
    for distance in ("l2", "l1"):
        close(L.cross_view_prediction_loss(b, a, distance=distance),
              L.cross_view_prediction_loss(a, b, distance=distance))
    # Barlow Twins: swapping the views transposes C; both terms read C symmetrically
    for x, y_ in zip(L.barlow_twins_terms(b, a), L.barlow_twins_terms(a, b)):
        close(x, y_)
    torch.testing.assert_close(L.cross_correlation(b, a), L.cross_correlation(a, b).T)


@settings(max_examples=20)
@given(k=st.integers(2, 7), seed=SEEDS, scale=st.floats(0.1, 10.0))
def test_transposed_critic_matrix(k, seed, scale):
    f = scale * randn(k, k, seed=seed)
    # JSD and DV pool the off-diagonal pairs and average the diagonal: blind to F -> F^T
    close(E.jsd(f.T), E.jsd(f))
    close(E.dv(f.T), E.dv(f))


# ------------------------------------------------------------------------ sample permutation
@settings(max_examples=15)
@given(n=st.integers(3, 9), d=st.integers(2, 4), chunk=st.integers(1, 4), seed=SEEDS, t=TAUS)
def test_sample_permutation_streamed_contrastive(n, d, chunk, seed, t):
    a, b = randn(n, d, seed=seed), randn(n, d, seed=seed + 1)
    y = _labels(n, 2, seed)
    p = _perm(n, seed + 2)
    kw = dict(temperature=t, chunk_size=chunk, reduction="none")
    close(L.info_nce_loss(a[p], b[p], **kw), L.info_nce_loss(a, b, **kw)[p])
    close(L.nt_xent_loss(a[p], b[p], **kw), L.nt_xent_loss(a, b, **kw).view(2, n)[:, p].reshape(-1))
    z = torch.stack([a, b])  # (V, N, D)
    close(L.supcon_loss(z[:, p], y[p], **kw), L.supcon_loss(z, y, **kw)[:, p])
    close(L.class_conditional_info_nce_loss(a[p], b[p], y[p], **kw),
          L.class_conditional_info_nce_loss(a, b, y, **kw)[p])


@settings(max_examples=15)
@given(n=st.integers(3, 8), d=st.integers(2, 5), seed=SEEDS, t=TAUS)
def test_sample_permutation_other_losses(n, d, seed, t):
    a, b = randn(n, d, seed=seed), randn(n, d, seed=seed + 1)
    p = _perm(n, seed + 2)
    close(L.byol_loss(a[p], b[p], reduction="none"), L.byol_loss(a, b, reduction="none")[p])
    box_a, box_b = a.view(n, 1, d), b.view(n, 1, d)
    close(L.scrl_loss(box_a[p], box_b[p], reduction="none"), L.scrl_loss(box_a, box_b, reduction="none")[p])
    # generalized NCE: relabelled views with the masks moved along, P M P^T
    z = torch.cat([a, b])
    masks = L.gdt_masks(torch.arange(n).repeat(2), None, modes=[])
    q = _perm(2 * n, seed + 3)
    pos, cmp = masks.positive[q][:, q], masks.compare[q][:, q]
    close(L.generalized_nce_loss(z[q], pos, cmp, temperature=t, reduction="none"),
          L.generalized_nce_loss(z, masks.positive, masks.compare, temperature=t, reduction="none")[q])
    # batch statistics (Barlow's standardisation, MCR2's covariances) ignore the sample order
    for x, y_ in zip(L.barlow_twins_terms(a[p], b[p]), L.barlow_twins_terms(a, b)):
        close(x, y_)
    y = _labels(n, 2, seed)
    for x, y_ in zip(L.mcr2_terms(a[p], y[p]), L.mcr2_terms(a, y)):
        close(x, y_)


@settings(max_examples=20)
@given(k=st.integers(2, 7), m=st.integers(1, 3), seed=SEEDS)
def test_sample_permutation_estimators(k, m, seed):
    f = 3.0 * randn(k, k, seed=seed)
    p = _perm(k, seed + 1)
    moved = f[p][:, p]  # anchors and candidates relabelled together: positives stay diagonal
    for est in (E.infonce, E.nwj):
        close(est(moved, reduction="none"), est(f, reduction="none")[p])
    for est in (E.jsd, E.dv, L.dim_global_loss):
        close(est(moved), est(f))
    pos, neg = randn(k, m, seed=seed + 2), randn(k, m, 4, seed=seed + 3)
    close(E.demi(pos[p], neg[p], reduction="none"), E.demi(pos, neg, reduction="none")[p])
    # the negatives of an anchor are a set: their order does not matter
    close(E.conditional_infonce(pos[:, 0], neg[:, 0][:, torch.arange(3, -1, -1)]),
          E.conditional_infonce(pos[:, 0], neg[:, 0]))


@settings(max_examples=10)
@given(n=st.integers(12, 30), d=st.integers(1, 3), seed=SEEDS)
def test_sample_permutation_entropies(n, d, seed):
    z = randn(n, d, seed=seed)
    p = _perm(n, seed + 1)
    close(E.logdet_entropy(z[p]), E.logdet_entropy(z))
    close(E.knn_entropy(z[p], k=2, chunk_size=5), E.knn_entropy(z, k=2))


# ------------------------------------------------------------------------ label permutation
@settings(max_examples=20)
@given(n=st.integers(4, 10), k=st.integers(2, 4), seed=SEEDS, t=TAUS)
def test_label_permutation(n, k, seed, t):
    y = _labels(n, k, seed)
    pi = _perm(k, seed + 1)  # a bijection of class ids (not only an affine renaming)
    ry = pi[y]
    a, b = randn(n, 3, seed=seed + 2), randn(n, 3, seed=seed + 3)
    z = torch.stack([a, b])  # (V, N, D)
    close(L.supcon_loss(z, ry, temperature=t), L.supcon_loss(z, y, temperature=t))
    close(L.class_conditional_info_nce_loss(a, b, ry, temperature=t),
          L.class_conditional_info_nce_loss(a, b, y, temperature=t))
    for x, y_ in zip(L.mcr2_terms(a, ry, num_classes=k), L.mcr2_terms(a, y, num_classes=k)):
        close(x, y_)
    # clustering metrics: renaming the clusters (or the classes) changes no score
    c = _labels(n, k, seed + 4)
    assert nmi(ry, c) == pytest.approx(nmi(y, c), rel=1e-12, abs=1e-15)
    assert nmi(y, pi[c]) == pytest.approx(nmi(y, c), rel=1e-12, abs=1e-15)
    assert cluster_size_entropy(pi[c], k) == pytest.approx(cluster_size_entropy(c, k), rel=1e-12)
    assert largest_cluster_fraction(pi[c], k) == largest_cluster_fraction(c, k)


# ---------------------------------------------------------------------------------- rotation
@settings(max_examples=15)
@given(n=st.integers(3, 8), d=st.integers(2, 5), seed=SEEDS, t=TAUS)
def test_rotation_of_embeddings(n, d, seed, t):
    a, b = randn(n, d, seed=seed), randn(n, d, seed=seed + 1)
    q = _rotation(d, seed + 2)
    ra, rb = a @ q, b @ q  # one rotation for both views: inner products and distances kept
    y = _labels(n, 2, seed)
    close(L.info_nce_loss(ra, rb, temperature=t), L.info_nce_loss(a, b, temperature=t))
    close(L.info_nce_loss(ra, rb, temperature=t, normalize=False),
          L.info_nce_loss(a, b, temperature=t, normalize=False))
    close(L.class_conditional_info_nce_loss(ra, rb, y, temperature=t),
          L.class_conditional_info_nce_loss(a, b, y, temperature=t))
    idx = torch.arange(n).repeat(2)
    close(L.gdt_loss(torch.cat([ra, rb]), idx, None, modes=[], temperature=t),
          L.gdt_loss(torch.cat([a, b]), idx, None, modes=[], temperature=t))
    close(L.byol_loss(ra, rb), L.byol_loss(a, b))
    close(L.scrl_loss(ra[:, None], rb[:, None]), L.scrl_loss(a[:, None], b[:, None]))
    # sequences: raw dot products are rotation invariant too (normalize=False, the default)
    sa, sb = torch.stack([a, b], 1), torch.stack([b, a], 1)  # (N, 2, D)
    for neg in ("batch", "clip"):
        close(L.local_contrastive_loss(sa @ q, sb @ q, temperature=t, negatives=neg),
              L.local_contrastive_loss(sa, sb, temperature=t, negatives=neg))
    close(L.global_contrastive_loss(sa @ q, sb @ q, temperature=t),
          L.global_contrastive_loss(sa, sb, temperature=t))
    # distances: VICReg's invariance term and L2 (not L1) prediction
    close(L.invariance_term(ra, rb), L.invariance_term(a, b))
    close(L.cross_view_prediction_loss(ra, rb), L.cross_view_prediction_loss(a, b))
    # coding rates: log det(I + c Q^T Z^T Z Q) = log det(I + c Z^T Z)
    close(L.coding_rate(ra), L.coding_rate(a))
    close(L.mcr2_loss(ra, y), L.mcr2_loss(a, y))


@settings(max_examples=10)
@given(n=st.integers(12, 30), d=st.integers(2, 3), seed=SEEDS)
def test_rotation_of_samples_for_entropies(n, d, seed):
    z = randn(n, d, seed=seed)
    q = _rotation(d, seed + 1)
    close(E.logdet_entropy(z @ q), E.logdet_entropy(z))  # det(Q^T C Q) = det C
    close(E.knn_entropy(z @ q, k=2), E.knn_entropy(z, k=2))  # distances kept


# -------------------------------------------------------------------------- Sinkhorn marginals
@settings(max_examples=20)
@given(n=st.integers(2, 12), k=st.integers(2, 5), seed=SEEDS, lam=st.floats(0.5, 200.0),
       method=st.sampled_from(["log", "scaling"]), uniform=st.booleans())
def test_sinkhorn_marginals(n, k, seed, lam, method, uniform):
    log_p = (2.0 * randn(n, k, seed=seed)).log_softmax(-1)
    if uniform:
        r = c = None
        r_, c_ = torch.full((k,), 1 / k, dtype=F64), torch.full((n,), 1 / n, dtype=F64)
    else:
        g = gen(seed + 1)
        r_ = torch.rand(k, generator=g, dtype=F64) + 0.1
        r_ = r = r_ / r_.sum()
        c_ = torch.rand(n, generator=g, dtype=F64) + 0.1
        c_ = c = c_ / c_.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            res = sinkhorn_knopp(log_p, lam=lam, r=r, c=c, tol=1e-9, max_iter=2000, method=method)
        except FloatingPointError:  # the scaling path refuses to under/overflow (documented)
            assert method == "scaling"
            return
    plan = res.plan
    assert bool((plan >= 0).all()) and bool(torch.isfinite(plan).all())
    # Each plan entry is exp(exponent) with an exponent of size up to lam max|log_p|, rounded
    # to eps relative: the entry is off by about eps (1 + lam max|log_p|) relative.
    round_off = 4 * torch.finfo(F64).eps * (1 + lam * float(log_p.abs().max()))
    # rows: set exactly by the final sample step, up to that round-off
    torch.testing.assert_close(plan.sum(1), c_, rtol=round_off, atol=0)
    # columns: the reported error is the L1 gap of the returned plan (the solver may compute
    # it from the scalings; the two differ by the round-off above on unit total mass)
    gap = float((plan.sum(0) - r_).abs().sum())
    assert float(res.marginal_error) == pytest.approx(gap, rel=1e-6, abs=round_off)
    if res.converged:
        assert gap <= 1e-9 + round_off
    # equivariance: relabelling samples and clusters moves the plan along
    pi, sigma = _perm(n, seed + 2), _perm(k, seed + 3)
    kw = dict(lam=lam, tol=None, max_iter=res.n_iter, method=method,
              r=None if r is None else r[sigma], c=None if c is None else c[pi])
    moved = sinkhorn_knopp(log_p[pi][:, sigma], **kw).plan
    torch.testing.assert_close(moved, plan[pi][:, sigma], rtol=1e-9, atol=1e-300)


# -------------------------------------------------------- general Sinkhorn: marginals, transpose
@settings(max_examples=20)
@given(n=st.integers(1, 10), m=st.integers(1, 6), seed=SEEDS, eps=st.floats(0.05, 5.0),
       method=st.sampled_from(["log", "scaling"]))
def test_general_sinkhorn_marginals_and_transpose(n, m, seed, eps, method):
    g = gen(seed)
    cost = torch.rand(n, m, generator=g, dtype=F64)
    a = torch.rand(n, generator=g, dtype=F64) + 0.1
    b = torch.rand(m, generator=g, dtype=F64) + 0.1
    a, b = a / a.sum(), b / b.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = sinkhorn(cost, eps, a, b, tol=1e-11, max_iter=20_000, method=method)
    plan = res.plan
    assert bool((plan >= 0).all()) and bool(torch.isfinite(plan).all())
    torch.testing.assert_close(plan.sum(1), a, rtol=1e-13, atol=0)  # the last step
    # the reported error is the returned plan's (float64: the same sum)
    gap = (plan.sum(0) - b).abs().sum()
    torch.testing.assert_close(res.marginal_error, gap, rtol=1e-12, atol=1e-300)
    assert res.errors.shape == (res.n_iter,)
    if not res.converged:
        return
    assert float(gap) <= 1e-11
    # exchanging source and target transposes the solution (unique optimum of a strictly
    # convex problem): both plans meet their marginals to 1e-11 in L1
    back = sinkhorn(cost.T, eps, b, a, tol=1e-11, max_iter=20_000, method=method)
    if back.converged:
        torch.testing.assert_close(back.plan, plan.T, rtol=1e-6, atol=1e-10)
