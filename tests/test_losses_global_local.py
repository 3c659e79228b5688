"""reptutor.losses.global_local: closed forms, a loop reference, invariants, errors, gradcheck."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.losses as L
from reptutor.losses import (
    GlobalLocalLoss,
    GlobalLocalTerms,
    global_contrastive_loss,
    global_local_loss,
    global_local_terms,
    local_contrastive_loss,
)

import _gradcheck as G
import _robustness as R
import _validation as V


def _seqs(n=3, t=4, d=2, seed=0, dtype=torch.float64, t_b=None):
    g = torch.Generator().manual_seed(seed)
    za = torch.randn(n, t, d, generator=g, dtype=dtype)
    zb = torch.randn(n, t if t_b is None else t_b, d, generator=g, dtype=dtype)
    return za, zb


# --- references straight from the formulas (explicit loops over anchors) -----------------------

def _global_loop(za, zb, tau=1.0, normalize=False):
    a, b = za.mean(1), zb.mean(1)
    if normalize:
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    n = a.shape[0]
    out = []
    for i in range(n):
        row = torch.stack([a[i] @ b[j] / tau for j in range(n)])
        col = torch.stack([a[j] @ b[i] / tau for j in range(n)])
        out.append(0.5 * ((torch.logsumexp(row, 0) - row[i]) + (torch.logsumexp(col, 0) - col[i])))
    return torch.stack(out)


def _local_loop(za, zb, tau=1.0, normalize=False, negatives="batch"):
    if normalize:
        za, zb = F.normalize(za, dim=-1), F.normalize(zb, dim=-1)
    n, t, _ = za.shape
    out = torch.zeros(n, t, dtype=za.dtype)
    for i in range(n):
        cands = [(j, u) for j in range(n) for u in range(t)] if negatives == "batch" else \
            [(i, u) for u in range(t)]
        for s in range(t):
            row = torch.stack([za[i, s] @ zb[j, u] / tau for j, u in cands])
            col = torch.stack([za[j, u] @ zb[i, s] / tau for j, u in cands])
            pos = za[i, s] @ zb[i, s] / tau
            out[i, s] = 0.5 * ((torch.logsumexp(row, 0) - pos) + (torch.logsumexp(col, 0) - pos))
    return out


# --- closed forms --------------------------------------------------------------------------------

def test_constant_embeddings_give_log_of_candidates():
    c = torch.ones(5, 3, 2)
    assert global_contrastive_loss(c, c).item() == pytest.approx(math.log(5), abs=1e-6)
    assert local_contrastive_loss(c, c).item() == pytest.approx(math.log(15), abs=1e-6)
    assert local_contrastive_loss(c, c, negatives="clip").item() == pytest.approx(math.log(3), abs=1e-6)


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_one_hot_time_codes_closed_form(c):
    # z_{i,t} = c e_t in both modalities: clip negatives -> log(1 + (T-1) e^{-c^2});
    # batch negatives add exactly log N (the other clips' same step ties with the positive).
    n, t = 4, 5
    z = c * torch.eye(t, dtype=torch.float64).expand(n, t, t)
    clip = math.log1p((t - 1) * math.exp(-c * c))
    assert local_contrastive_loss(z, z, negatives="clip").item() == pytest.approx(clip, rel=1e-12)
    assert local_contrastive_loss(z, z).item() == pytest.approx(math.log(n) + clip, rel=1e-12)
    # The time-average is the same vector for every clip: the global term is at chance.
    assert global_contrastive_loss(z, z).item() == pytest.approx(math.log(n), rel=1e-12)


def test_two_clips_pooled_closed_form():
    # Pooled embeddings e_1 and e_2 (identical in both modalities), tau: l = log(1 + e^{-1/tau}).
    za = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]], dtype=torch.float64)
    tau = 0.5
    expect = math.log1p(math.exp(-1 / tau))
    assert global_contrastive_loss(za, za, temperature=tau).item() == pytest.approx(expect)


# --- reference -----------------------------------------------------------------------------------

@pytest.mark.parametrize("tau,normalize", [(1.0, False), (0.3, True), (2.0, False)])
def test_global_matches_loop(tau, normalize):
    za, zb = _seqs(n=4, t=3, t_b=5)  # the two modalities may have different lengths
    got = global_contrastive_loss(za, zb, temperature=tau, normalize=normalize, reduction="none")
    torch.testing.assert_close(got, _global_loop(za, zb, tau, normalize))


@pytest.mark.parametrize("negatives", ["batch", "clip"])
@pytest.mark.parametrize("tau,normalize", [(1.0, False), (0.2, True)])
def test_local_matches_loop(negatives, tau, normalize):
    za, zb = _seqs(n=3, t=4, d=3, seed=1)
    got = local_contrastive_loss(za, zb, temperature=tau, normalize=normalize,
                                 negatives=negatives, reduction="none")
    assert got.shape == (3, 4)
    torch.testing.assert_close(got, _local_loop(za, zb, tau, normalize, negatives))


def test_reductions():
    za, zb = _seqs()
    for fn, kw in ((global_contrastive_loss, {}), (local_contrastive_loss, {}),
                   (local_contrastive_loss, {"negatives": "clip"})):
        per = fn(za, zb, reduction="none", **kw)
        assert fn(za, zb, reduction="sum", **kw).item() == pytest.approx(per.sum().item())
        assert fn(za, zb, **kw).item() == pytest.approx(per.mean().item())


# --- invariants ----------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 5), t=st.integers(2, 6), d=st.integers(1, 4), seed=st.integers(0, 10_000),
       tau=st.floats(0.1, 3.0), normalize=st.booleans())
def test_invariants(n, t, d, seed, tau, normalize):
    za, zb = _seqs(n, t, d, seed)
    g = torch.Generator().manual_seed(seed + 1)
    kw = dict(temperature=tau, normalize=normalize)
    glob = global_contrastive_loss(za, zb, **kw)
    loc_b = local_contrastive_loss(za, zb, **kw, reduction="none")
    loc_c = local_contrastive_loss(za, zb, **kw, negatives="clip", reduction="none")
    # Global term: blind to re-ordering the steps of one modality, clip by clip.
    order = torch.rand(n, t, generator=g).argsort(1)  # a different permutation per clip
    shuffled = zb.gather(1, order[..., None].expand(n, t, d))
    torch.testing.assert_close(global_contrastive_loss(za, shuffled, **kw), glob)
    # Local terms: re-ordering time jointly in both modalities permutes the per-step losses.
    perm = torch.randperm(t, generator=g)
    torch.testing.assert_close(local_contrastive_loss(za[:, perm], zb[:, perm], **kw,
                                                      negatives="clip", reduction="none"),
                               loc_c[:, perm])
    # All terms: permuting clips jointly permutes per-sample losses; swapping modalities is free.
    cp = torch.randperm(n, generator=g)
    torch.testing.assert_close(local_contrastive_loss(za[cp], zb[cp], **kw, reduction="none"),
                               loc_b[cp])
    torch.testing.assert_close(global_contrastive_loss(zb, za, **kw), glob)
    torch.testing.assert_close(local_contrastive_loss(zb, za, **kw, negatives="clip",
                                                      reduction="none"), loc_c)
    # Batch candidates contain the clip candidates: every step's loss can only grow.
    assert bool((loc_b >= loc_c - 1e-12).all())
    assert bool((loc_c >= 0).all()) and glob.item() >= 0


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 5), t=st.integers(2, 6), seed=st.integers(0, 10_000), tau=st.floats(0.1, 3.0))
def test_clip_constant_block(n, t, seed, tau):
    # Raw dot products: a clip-constant block cancels from the clip-negative local term
    # (the proposition of the chapter, part 2) but not from the batch-negative one (part 3).
    za, zb = _seqs(n, t, 2, seed)
    g = torch.Generator().manual_seed(seed + 2)
    pa = torch.randn(n, 1, 3, generator=g, dtype=za.dtype).expand(n, t, 3)
    pb = torch.randn(n, 1, 3, generator=g, dtype=za.dtype).expand(n, t, 3)
    wa, wb = torch.cat([za, pa], -1), torch.cat([zb, pb], -1)
    torch.testing.assert_close(
        local_contrastive_loss(wa, wb, temperature=tau, negatives="clip", reduction="none"),
        local_contrastive_loss(za, zb, temperature=tau, negatives="clip", reduction="none"))
    assert not torch.allclose(local_contrastive_loss(wa, wb, temperature=tau),
                              local_contrastive_loss(za, zb, temperature=tau))


def test_follows_dtype_and_stays_finite():
    za, zb = _seqs(dtype=torch.float32)
    assert local_contrastive_loss(za, zb, negatives="clip").dtype == torch.float32
    assert global_contrastive_loss(za.double(), zb.double()).dtype == torch.float64
    for kw in ({"negatives": "clip"}, {"negatives": "batch"}):
        a = (za * 100).requires_grad_()  # raw scores in the thousands: log-sum-exp must not overflow
        val = local_contrastive_loss(a, zb * 100, **kw) + global_contrastive_loss(a, zb * 100)
        val.backward()
        assert torch.isfinite(val) and torch.isfinite(a.grad).all()


# --- composite objective and module --------------------------------------------------------------

def test_terms_loss_and_module():
    zs = [_seqs(seed=s)[0] for s in range(4)]
    terms = global_local_terms(*zs, negatives="clip", temperature=0.5)
    assert isinstance(terms, GlobalLocalTerms)
    assert terms.global_term.item() == pytest.approx(
        global_contrastive_loss(zs[0], zs[1], temperature=0.5).item())
    assert terms.local_term.item() == pytest.approx(
        local_contrastive_loss(zs[2], zs[3], temperature=0.5, negatives="clip").item())
    total = global_local_loss(*zs, global_weight=2.0, local_weight=0.5, negatives="clip",
                              temperature=0.5)
    assert total.item() == pytest.approx(2.0 * terms.global_term.item() + 0.5 * terms.local_term.item())
    # A zero weight drops its term; the dropped inputs are not even looked at.
    only_global = global_local_loss(zs[0], zs[1], None, None, local_weight=0.0)
    assert only_global.item() == pytest.approx(global_contrastive_loss(zs[0], zs[1]).item())
    only_local = global_local_loss(None, None, zs[2], zs[3], global_weight=0.0)
    assert only_local.item() == pytest.approx(local_contrastive_loss(zs[2], zs[3]).item())
    module = GlobalLocalLoss(global_weight=2.0, local_weight=0.5, negatives="clip", temperature=0.5)
    assert module(*zs).item() == pytest.approx(total.item())


# --- errors --------------------------------------------------------------------------------------

def test_errors():
    za, zb = _seqs(n=3, t=4, d=2)
    with pytest.raises(ValueError, match=r"z_a and z_b must have the same shape, got \(3, 4, 2\) and \(3, 3, 2\)"):
        local_contrastive_loss(za, zb[:, :3])
    with pytest.raises(ValueError, match=r"z_a must be 3-D, got shape \(3, 4\)"):
        local_contrastive_loss(za[..., 0], zb[..., 0])
    with pytest.raises(ValueError, match=r"z_a and z_b must have the same number of clips \(dim 0\)"):
        global_contrastive_loss(za, zb[:2])
    with pytest.raises(ValueError, match=r"z_a and z_b must have the same embedding size \(dim 2\)"):
        global_contrastive_loss(za, zb[..., :1])
    with pytest.raises(TypeError, match="z_a and z_b must have the same dtype"):
        global_contrastive_loss(za, zb.float())
    with pytest.raises(TypeError, match="z_b must be a torch.Tensor, got list"):
        global_contrastive_loss(za, [1.0])
    with pytest.raises(ValueError, match="z_b must be finite"):
        local_contrastive_loss(za, zb.clone().fill_(float("nan")))
    with pytest.raises(ValueError, match="negatives must be one of 'batch', 'clip'; got 'all'"):
        local_contrastive_loss(za, zb, negatives="all")
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'avg'"):
        local_contrastive_loss(za, zb, reduction="avg")
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'avg'"):
        global_contrastive_loss(za, zb, reduction="avg")
    with pytest.raises(ValueError, match="temperature must be > 0, got 0.0"):
        local_contrastive_loss(za, zb, temperature=0.0)
    with pytest.raises(ValueError, match="temperature must be > 0, got -1.0"):
        global_contrastive_loss(za, zb, temperature=-1.0)
    with pytest.raises(ValueError, match=r"z_a must have at least 2 time steps for negatives='clip', got shape \(3, 1, 2\)"):
        local_contrastive_loss(za[:, :1], zb[:, :1], negatives="clip")
    with pytest.raises(ValueError, match="global_weight must be >= 0, got -1.0"):
        global_local_loss(za, zb, za, zb, global_weight=-1.0)
    with pytest.raises(ValueError, match="global_weight and local_weight must not both be 0"):
        global_local_loss(za, zb, za, zb, global_weight=0.0, local_weight=0.0)
    with pytest.raises(ValueError, match="global_weight and local_weight must not both be 0"):
        GlobalLocalLoss(global_weight=0, local_weight=0)
    with pytest.raises(ValueError, match="negatives must be one of 'batch', 'clip'; got 'x'"):
        GlobalLocalLoss(negatives="x")


# --- gradcheck -----------------------------------------------------------------------------------

@pytest.mark.parametrize("negatives", ["batch", "clip"])
@pytest.mark.parametrize("normalize", [False, True])
def test_gradcheck(negatives, normalize):
    za, zb = _seqs(n=2, t=3, d=2, seed=4)
    za.requires_grad_(), zb.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: local_contrastive_loss(a, b, temperature=0.7, normalize=normalize,
                                            negatives=negatives), (za, zb))
    assert torch.autograd.gradcheck(
        lambda a, b: global_contrastive_loss(a, b, temperature=0.7, normalize=normalize), (za, zb))


# --- the official code's convention ---------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 4), t=st.integers(1, 4))
def test_official_single_log_sum_exp_is_never_smaller(seed, n, t):
    # The official model.py puts both directions of an anchor in one log-sum-exp, over the row
    # and the column of the score matrix (the positive appears in both):
    #   l_off = LSE(row_i u col_i) - s_ii  >=  max(LSE row_i, LSE col_i) - s_ii  >=  ours,
    # ours being the mean of the two directions (module notes). Checked for the global term
    # (pooled scores) and the local term with batch negatives (flattened steps).
    za, zb = _seqs(n=n, t=t, d=3, seed=seed)
    for ours, (a, b) in (
        (global_contrastive_loss(za, zb, reduction="none"), (za.mean(1), zb.mean(1))),
        (local_contrastive_loss(za, zb, reduction="none").reshape(-1),
         (za.reshape(n * t, -1), zb.reshape(n * t, -1))),
    ):
        s = a @ b.T
        official = torch.logsumexp(torch.cat([s, s.T], dim=1), dim=1) - s.diagonal()
        assert bool((official >= ours - 1e-12).all())


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("losses.global_contrastive_loss",
            lambda: {"z_a": V.randn(4, 3, 5), "z_b": V.randn(4, 2, 5, seed=1)}, (
              *V.pair_cells(), V.nonpositive("temperature"), V.choice("reduction", V.REDUCTIONS),
              *V.boolean("normalize"))),
    V.Entry("losses.local_contrastive_loss",
            lambda: {"z_a": V.randn(4, 3, 5), "z_b": V.randn(4, 3, 5, seed=1)}, (
              *V.pair_cells(), V.nonpositive("temperature"), V.choice("negatives", ("batch", "clip")),
              V.choice("reduction", V.REDUCTIONS), *V.boolean("normalize"))),
    *(V.Entry(f"losses.{name}",
              lambda: {"za_global": V.randn(4, 3, 5), "zb_global": V.randn(4, 2, 5, seed=1),
                       "za_local": V.randn(4, 3, 6, seed=2), "zb_local": V.randn(4, 3, 6, seed=3)}, (
                *V.pair_cells("za_global", "zb_global"), *V.pair_cells("za_local", "zb_local")[1:6],
                V.nonpositive("temperature"), V.choice("negatives", ("batch", "clip")),
                *V.boolean("normalize")))
      for name in ("global_local_terms", "global_local_loss")),
    V.Entry("losses.GlobalLocalLoss",
            lambda: {"za_global": V.randn(4, 3, 5), "zb_global": V.randn(4, 2, 5, seed=1),
                     "za_local": V.randn(4, 3, 6, seed=2), "zb_local": V.randn(4, 3, 6, seed=3),
                     "temperature": 1.0}, (
              V.number_type("temperature"), V.nonpositive("temperature"), V.nonpositive("global_weight", -1),
              V.choice("negatives", ("batch", "clip")), V.rank("za_local"), *V.boolean("normalize")),
            ctor=("temperature", "global_weight", "negatives", "normalize")),
]

ROBUSTNESS = {
    # normalised variants: scaled by 1e4; raw dot products (the official global-local code):
    # large inputs must stay finite
    "global_contrastive_loss[normalize]": R.cosine(
        lambda a, b, **k: L.global_contrastive_loss(a[:, None], b[:, None], normalize=True, **k), 1.0),
    "local_contrastive_loss[clip,normalize]": R.cosine(
        lambda a, b, **k: L.local_contrastive_loss(a.view(2, 4, R.D), b.view(2, 4, R.D), normalize=True,
                                                   negatives="clip", **k), 1.0),
    "global_contrastive_loss": R.raw_seq(L.global_contrastive_loss),
    "local_contrastive_loss": R.raw_seq(L.local_contrastive_loss),
    "global_local_terms": R.raw_seq(lambda *xs, **k: R.sum_fields(L.global_local_terms(*xs, **k)),
                                    depth=6, n_in=4),
    "global_local_loss": R.raw_seq(L.global_local_loss, depth=6, n_in=4),
    "GlobalLocalLoss": R.wraps("global_local_loss"),
}

SECOND_ORDER = {
    # plain torch ops
    "global_contrastive_loss": ("exact", lambda: G.one(
        lambda a, b: L.global_contrastive_loss(a, b, temperature=0.7),
        G.x(3, 4, 2, seed=51), G.x(3, 4, 2, seed=52))),
    "local_contrastive_loss": ("exact", lambda: G.one(
        lambda a, b: L.local_contrastive_loss(a, b, temperature=0.7, normalize=True),
        G.x(2, 3, 2, seed=53), G.x(2, 3, 2, seed=54))),
    "global_local_terms": ("exact", lambda: G.one(
        lambda *v: L.global_local_terms(*v, temperature=0.7, negatives="clip"),
        *(G.x(3, 4, 2, seed=s) for s in range(5, 9)))),
    "global_local_loss": ("exact", lambda: G.one(
        lambda *v: L.global_local_loss(*v, global_weight=0.5, local_weight=2.0, normalize=True),
        *(G.x(3, 4, 2, seed=s) for s in range(5, 9)))),
}
