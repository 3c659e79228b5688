"""reptutor.losses.gdt: closed forms, a loop reference, reductions to InfoNCE / NT-Xent,
mask invariants, error messages, gradcheck."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.losses as L
from reptutor.data import transform_grid
from reptutor.losses import (
    GDTLoss,
    gdt_loss,
    gdt_masks,
    generalized_nce_loss,
    info_nce_loss,
    mask_conflicts,
    nt_xent_loss,
)

import _gradcheck as G
import _robustness as R
import _validation as V


def _z(n, d=4, seed=0, dtype=torch.float64):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _av_grid(n_samples, sizes):
    """A GDT batch: every sample under every parameter combination, in two modalities.

    The modality is the last column of params.
    """
    grid = transform_grid(n_samples, sizes)
    n = grid.sample_index.shape[0]
    idx = grid.sample_index.repeat(2)
    mod = torch.cat([torch.zeros(n, 1, dtype=torch.long), torch.ones(n, 1, dtype=torch.long)])
    params = torch.cat([grid.params.repeat(2, 1), mod], dim=1)
    return idx, params


def _loop_reference(z, pos, cmp, t, denominator="separate"):
    """Per-anchor loop straight from the formula, in plain Python floats.

    shared:   -mean_{j in P_i} log( e^{s_ij} / sum_{k in C_i} e^{s_ik} )
    separate: -mean_{j in P_i} log( e^{s_ij} / (e^{s_ij} + sum_{k in C_i minus P_i} e^{s_ik}) )
    """
    u = z / z.norm(dim=1, keepdim=True)
    out = []
    for i in range(u.shape[0]):
        comp = [k for k in range(u.shape[0]) if cmp[i, k]]
        s = {k: float(u[i] @ u[k]) / t for k in comp}
        positives = [j for j in comp if pos[i, j]]
        negatives = [k for k in comp if not pos[i, k]]
        terms = []
        for j in positives:
            kept = comp if denominator == "shared" else [j] + negatives
            terms.append(math.log(sum(math.exp(s[k]) for k in kept)) - s[j])
        out.append(sum(terms) / len(terms))
    return torch.tensor(out, dtype=z.dtype)


# ---------------------------------------------------------------- closed forms
def test_constant_embeddings_give_log_of_candidate_count():
    # Every score ties: shared gives log|C_i|, separate log(1 + |N_i|) (a positive and the
    # negatives), N_i = C_i minus P_i.
    idx, params = _av_grid(3, [2])  # 3 samples x 2 reversals x 2 modalities = 12 views
    z = torch.ones(12, 5, dtype=torch.float64)
    # Cross-modal: each anchor is compared with the 6 views of the other modality, of which
    # 2 (invariant reversal) or 1 (distinctive reversal) are positives.
    for modes, n_pos in ((["invariant", "invariant"], 2), (["distinctive", "invariant"], 1)):
        loss = gdt_loss(z, idx, params, modes=modes, cross_factor=1, denominator="shared")
        assert loss.item() == pytest.approx(math.log(6), abs=1e-12)
        loss = gdt_loss(z, idx, params, modes=modes, cross_factor=1)
        assert loss.item() == pytest.approx(math.log(1 + 6 - n_pos), abs=1e-12)
    # Without a cross factor every other view (11) is compared; 3 are positives.
    loss = gdt_loss(z, idx, params, modes=["invariant", "invariant"], denominator="shared")
    assert loss.item() == pytest.approx(math.log(11), abs=1e-12)
    loss = gdt_loss(z, idx, params, modes=["invariant", "invariant"])
    assert loss.item() == pytest.approx(math.log(1 + 11 - 3), abs=1e-12)


@pytest.mark.parametrize("t", [0.05, 0.3, 1.0])
def test_orthonormal_key_codes_closed_form(t):
    # Each view is embedded as the one-hot code of its key (sample, reversal): positives are
    # identical (s = 1/t), every other compared view is orthogonal (s = 0). With |P| = 2 (other
    # modality, both shifts) and |C| = 12:
    #   shared:   l = log(|P| e^{1/t} + |C| - |P|) - 1/t
    #   separate: l = log(e^{1/t} + |C| - |P|) - 1/t   (each positive alone with the negatives)
    idx, params = _av_grid(3, [2, 2])  # columns: reversal, shift, modality
    key = idx * 2 + params[:, 0]
    z = torch.nn.functional.one_hot(key, 6).double()
    kw = dict(modes=["distinctive", "invariant", "invariant"], cross_factor=2, temperature=t,
              reduction="none")
    shared = gdt_loss(z, idx, params, denominator="shared", **kw)
    separate = gdt_loss(z, idx, params, **kw)
    torch.testing.assert_close(
        shared, torch.full((24,), math.log(2 * math.exp(1 / t) + 10) - 1 / t, dtype=torch.float64))
    torch.testing.assert_close(
        separate, torch.full((24,), math.log(math.exp(1 / t) + 10) - 1 / t, dtype=torch.float64))


def test_floors_as_temperature_vanishes():
    # Aligned positives, orthogonal negatives: shared -> log|P|, separate -> 0.
    idx, params = _av_grid(4, [2, 4])
    key = idx * 4 + params[:, 1]  # distinctive to the shift, invariant to reversal
    z = torch.nn.functional.one_hot(key, 16).double()
    kw = dict(modes=["invariant", "distinctive", "invariant"], cross_factor=2, temperature=1e-3)
    shared = gdt_loss(z, idx, params, denominator="shared", **kw)
    assert shared.item() == pytest.approx(math.log(2), abs=1e-9)  # |P| = 2 reversals
    assert gdt_loss(z, idx, params, **kw).item() == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("t", [0.1, 0.5, 2.0])
def test_price_of_unseparated_negatives_closed_form(t):
    # Positives aligned with the anchor (cos 1); m_hard negatives on top of it (cos 1) and the
    # rest orthogonal (cos 0). Dividing by e^{1/t}:
    #   separate: l = log(1 + m_hard + m_far e^{-1/t})
    #   shared:   l = log(|P| + m_hard + m_far e^{-1/t})
    # so a hard negative's price log(1 + 1/(|P| + R)) is below log(1 + 1/|P|) at any finite t,
    # with R = m_far e^{-1/t} -> 0 only as t -> 0.
    idx, params = _av_grid(3, [2, 4])  # reversal (2) x shift (4) x modality
    key = idx  # the encoder ignores reversal AND shift: every view of a clip at one point
    z = torch.nn.functional.one_hot(key, 3).double()
    kw = dict(modes=["invariant", "distinctive", "invariant"], cross_factor=2, temperature=t,
              reduction="none")
    p, m_hard, m_far = 2, 6, 16  # |P| = 2 reversals; 6 shifted copies of the clip; 2 clips x 8
    sep = gdt_loss(z, idx, params, **kw)
    sha = gdt_loss(z, idx, params, denominator="shared", **kw)
    far = m_far * math.exp(-1 / t)
    torch.testing.assert_close(sep, torch.full_like(sep, math.log(1 + m_hard + far)))
    torch.testing.assert_close(sha, torch.full_like(sha, math.log(p + m_hard + far)))


# ---------------------------------------------------------------- reference
@pytest.mark.parametrize("t", [0.07, 0.5, 2.0])
@pytest.mark.parametrize("modes,cross", [
    (["invariant", "invariant", "invariant"], 2),
    (["distinctive", "invariant", "invariant"], 2),
    (["invariant", "distinctive", "invariant"], 2),
    (["invariant", "distinctive", "invariant"], None),
    (["distinctive", "distinctive", "invariant"], 2),
])
@pytest.mark.parametrize("denominator", ["separate", "shared"])
def test_matches_loop_reference(t, modes, cross, denominator):
    idx, params = _av_grid(3, [2, 2])
    z = _z(idx.shape[0], seed=1)
    masks = gdt_masks(idx, params, modes=modes, cross_factor=cross)
    ours = gdt_loss(z, idx, params, modes=modes, cross_factor=cross, temperature=t,
                    denominator=denominator, reduction="none")
    torch.testing.assert_close(
        ours, _loop_reference(z, masks.positive, masks.compare, t, denominator))


@pytest.mark.parametrize("denominator", ["separate", "shared"])
def test_random_masks_match_loop_reference(denominator):
    g = torch.Generator().manual_seed(3)
    n = 9
    cmp = (torch.rand(n, n, generator=g) < 0.7) & ~torch.eye(n, dtype=torch.bool)
    pos = cmp & (torch.rand(n, n, generator=g) < 0.4)
    pos[torch.arange(n), (torch.arange(n) + 1) % n] = True  # at least one positive per row
    cmp = cmp | pos
    cmp[0] = pos[0]  # anchor 0 has no negative: its separate terms are exactly 0
    z = _z(n, seed=4)
    ours = generalized_nce_loss(z, pos, cmp, temperature=0.2, denominator=denominator,
                                reduction="none")
    torch.testing.assert_close(ours, _loop_reference(z, pos, cmp, 0.2, denominator))
    if denominator == "separate":
        assert ours[0].item() == 0.0


def test_separate_is_the_mean_of_single_positive_terms():
    # The released code's structure: each positive j of anchor i is its own NCE term whose
    # candidates are j and the negatives N_i = C_i minus P_i. Build every such term as a
    # one-positive generalized NCE call (where both forms agree) and average per anchor.
    idx, params = _av_grid(2, [2, 2])
    modes = ["invariant", "distinctive", "invariant"]  # |P_i| = 2 (both reversals)
    masks = gdt_masks(idx, params, modes=modes, cross_factor=2)
    z = _z(idx.shape[0], seed=12)
    n = z.shape[0]
    negative = masks.compare & ~masks.positive
    ref = torch.zeros(n, dtype=z.dtype)
    for i in range(n):
        pos_i = masks.positive[i].nonzero().flatten()
        for j in pos_i:
            one = torch.zeros(n, n, dtype=torch.bool)
            one[i, j] = True
            cmp = negative.clone()
            cmp[i, j] = True
            for r in range(n):  # other rows: any valid one-positive mask (ignored below)
                if r != i:
                    one[r, (r + 1) % n] = cmp[r, (r + 1) % n] = True
            term = generalized_nce_loss(z, one, cmp, temperature=0.3, reduction="none")[i]
            term_shared = generalized_nce_loss(z, one, cmp, temperature=0.3,
                                               denominator="shared", reduction="none")[i]
            torch.testing.assert_close(term, term_shared)  # one positive: the forms agree
            ref[i] += term / len(pos_i)
    ours = generalized_nce_loss(z, masks.positive, masks.compare, temperature=0.3,
                                reduction="none")
    torch.testing.assert_close(ours, ref)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.floats(0.05, 3.0))
def test_separate_never_exceeds_shared_and_they_agree_with_one_positive(seed, t):
    idx, params = _av_grid(3, [2, 2])
    z = _z(idx.shape[0], seed=seed)
    kw = dict(cross_factor=2, temperature=t, reduction="none")
    many = ["invariant", "distinctive", "invariant"]  # |P_i| = 2
    assert bool((gdt_loss(z, idx, params, modes=many, **kw)
                 <= gdt_loss(z, idx, params, modes=many, denominator="shared", **kw)
                 + 1e-12).all())
    one = ["distinctive", "distinctive", "invariant"]  # |P_i| = 1
    torch.testing.assert_close(gdt_loss(z, idx, params, modes=one, **kw),
                               gdt_loss(z, idx, params, modes=one, denominator="shared", **kw))


# ---------------------------------------------------------------- reductions to InfoNCE
@pytest.mark.parametrize("t", [0.07, 0.5])
def test_all_invariant_pairs_reduce_to_nt_xent(t):
    a, b = _z(7, seed=5), _z(7, seed=6)
    idx = torch.arange(7).repeat(2)
    ours = gdt_loss(torch.cat([a, b]), idx, None, modes=[], temperature=t, reduction="none")
    torch.testing.assert_close(ours, nt_xent_loss(a, b, temperature=t, reduction="none"))


@pytest.mark.parametrize("t", [0.07, 0.5])
def test_cross_view_invariant_factor_reduces_to_symmetric_info_nce(t):
    a, b = _z(6, seed=7), _z(6, seed=8)
    idx = torch.arange(6).repeat(2)
    view = torch.cat([torch.zeros(6, 1), torch.ones(6, 1)]).long()
    ours = gdt_loss(torch.cat([a, b]), idx, view, modes=["invariant"], cross_factor=0,
                    temperature=t, reduction="none")
    ref = info_nce_loss(a, b, temperature=t, reduction="none")  # (N,) mean of both directions
    torch.testing.assert_close(0.5 * (ours[:6] + ours[6:]), ref)
    torch.testing.assert_close(ours.mean(), info_nce_loss(a, b, temperature=t))
    one_way = info_nce_loss(a, b, temperature=t, symmetric=False, reduction="none")
    torch.testing.assert_close(ours[:6], one_way)  # the a-anchors are the a -> b direction


def test_gdt_loss_is_generalized_nce_of_its_masks_and_module_matches():
    idx, params = _av_grid(2, [2, 3])
    z = _z(idx.shape[0], seed=9)
    modes = ["distinctive", "invariant", "invariant"]
    masks = gdt_masks(idx, params, modes=modes, cross_factor=2)
    ref = generalized_nce_loss(z, masks.positive, masks.compare, temperature=0.1)
    assert gdt_loss(z, idx, params, modes=modes, cross_factor=2, temperature=0.1).item() == \
        pytest.approx(ref.item(), abs=1e-12)
    module = GDTLoss(modes=modes, cross_factor=2, temperature=0.1)
    assert module(z, idx, params).item() == pytest.approx(ref.item(), abs=1e-12)
    shared = GDTLoss(modes=["invariant"] * 3, cross_factor=2, temperature=0.1,
                     denominator="shared")
    assert shared(z, idx, params).item() == pytest.approx(
        gdt_loss(z, idx, params, modes=["invariant"] * 3, cross_factor=2, temperature=0.1,
                 denominator="shared").item(), abs=1e-12)
    per = gdt_loss(z, idx, params, modes=modes, cross_factor=2, reduction="none")
    assert gdt_loss(z, idx, params, modes=modes, cross_factor=2, reduction="sum").item() == \
        pytest.approx(per.sum().item(), abs=1e-10)


# ---------------------------------------------------------------- invariants
def test_mask_semantics_hard_negatives_and_positives():
    idx, params = _av_grid(2, [2])  # rows: (sample, r) in modality 0 then modality 1
    inv = gdt_masks(idx, params, modes=["invariant", "invariant"], cross_factor=1)
    dis = gdt_masks(idx, params, modes=["distinctive", "invariant"], cross_factor=1)
    # View 0 = (sample 0, r=0, video). Its audio copies are rows 4 (r=0) and 5 (r=1).
    assert inv.positive[0, 4] and inv.positive[0, 5]
    assert dis.positive[0, 4] and not dis.positive[0, 5]
    assert dis.compare[0, 5]  # the reversed copy is a compared hard negative
    assert not dis.compare[0, 1]  # same modality: never compared with a cross factor
    torch.testing.assert_close(inv.compare, dis.compare)  # modes change w only, not c


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 4), sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3),
       data=st.data())
def test_mask_invariants(n, sizes, data):
    idx, params = _av_grid(n, sizes)
    m = params.shape[1]
    modes = data.draw(st.lists(st.sampled_from(["invariant", "distinctive"]),
                               min_size=m - 1, max_size=m - 1)) + ["invariant"]
    cross = data.draw(st.sampled_from([None, m - 1]))
    masks = gdt_masks(idx, params, modes=modes, cross_factor=cross)
    assert torch.equal(masks.positive, masks.positive.T)  # symmetric
    assert torch.equal(masks.compare, masks.compare.T)
    assert not bool((masks.positive & ~masks.compare).any())  # w <= c
    assert not bool(masks.positive.diagonal().any()) and not bool(masks.compare.diagonal().any())
    # The product construction is consistent: nothing is both linked and contrasted.
    assert not bool(mask_conflicts(masks.positive, masks.compare).any())
    # Making every factor invariant can only add positives.
    loose = gdt_masks(idx, params, modes=["invariant"] * m, cross_factor=cross)
    assert not bool((masks.positive & ~loose.positive).any())


def test_naive_one_transformation_apart_mask_has_conflicts():
    # Positives = same sample, differing in exactly one of two factors (a naive SimCLR-style
    # extension). (r=0,k=0) ~ (r=1,k=0) ~ (r=1,k=1), yet (r=0,k=0) vs (r=1,k=1) is a negative.
    grid = transform_grid(2, [2, 2])
    s, p = grid.sample_index, grid.params
    n_diff = (p[:, None, :] != p[None, :, :]).sum(2)
    pos = (s[:, None] == s[None, :]) & (n_diff == 1)
    cmp = ~torch.eye(8, dtype=torch.bool)
    conflicts = mask_conflicts(pos, cmp)
    # Within each sample the two "diagonal" pairs conflict, in both directions: 2 x 2 x 2.
    assert int(conflicts.sum()) == 8
    assert bool(conflicts[0, 3]) and not bool(conflicts[0, 4])  # other sample: no link


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.floats(0.05, 3.0))
def test_loss_invariants(seed, t):
    idx, params = _av_grid(3, [2])
    modes = ["distinctive", "invariant"]
    z = _z(idx.shape[0], seed=seed)
    per = gdt_loss(z, idx, params, modes=modes, cross_factor=1, temperature=t, reduction="none")
    # Floors: separate l_i >= 0; shared (Jensen) l_i >= log|P_i|, here |P_i| = 2.
    assert bool((per >= -1e-12).all())
    inv = ["invariant", "invariant"]
    shared = gdt_loss(z, idx, params, modes=inv, cross_factor=1, temperature=t,
                      denominator="shared", reduction="none")
    masks = gdt_masks(idx, params, modes=inv, cross_factor=1)
    assert bool((shared >= masks.positive.sum(1).double().log() - 1e-12).all())
    # Scale invariance with normalisation, and equivariance under a joint permutation of views.
    torch.testing.assert_close(
        gdt_loss(3.0 * z, idx, params, modes=modes, cross_factor=1, temperature=t,
                 reduction="none"), per)
    perm = torch.randperm(z.shape[0], generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(
        gdt_loss(z[perm], idx[perm], params[perm], modes=modes, cross_factor=1, temperature=t,
                 reduction="none"), per[perm])
    # Relabelling samples and parameter values by bijections changes nothing.
    torch.testing.assert_close(
        gdt_loss(z, 10 - idx, params * 7, modes=modes, cross_factor=1, temperature=t,
                 reduction="none"), per)


def test_follows_dtype_and_device():
    idx, params = _av_grid(2, [2])
    z32 = _z(idx.shape[0], dtype=torch.float32)
    out = gdt_loss(z32, idx, params, modes=["invariant", "invariant"], cross_factor=1)
    assert out.dtype == torch.float32 and out.device == z32.device


# ---------------------------------------------------------------- errors
def test_error_messages():
    idx, params = _av_grid(2, [2])
    z = _z(idx.shape[0])
    modes = ["invariant", "invariant"]
    with pytest.raises(TypeError, match="sample_index must have an integer dtype"):
        gdt_loss(z, idx.double(), params, modes=modes)
    with pytest.raises(ValueError, match=r"sample_index must have 8 entries \(one per row of z\)"):
        gdt_loss(z, idx[:-1], params[:-1], modes=modes)
    with pytest.raises(TypeError, match="sample_index must be a torch.Tensor of integers"):
        gdt_masks([0, 1], params, modes=modes)
    with pytest.raises(ValueError, match=r"sample_index must be 1-D \(N,\)"):
        gdt_masks(idx[:, None], params, modes=modes)
    with pytest.raises(ValueError, match=r"params must be 2-D \(N, M\)"):
        gdt_masks(idx, params[:, 0], modes=modes)
    with pytest.raises(ValueError, match="params must have 8 rows"):
        gdt_masks(idx, params[:4], modes=modes)
    with pytest.raises(TypeError, match="modes must be a sequence"):
        gdt_masks(idx, params, modes="invariant")
    with pytest.raises(ValueError, match=r"modes must have one entry per column of params \(2\)"):
        gdt_masks(idx, params, modes=["invariant"])
    with pytest.raises(ValueError, match=r"modes\[1\] must be one of 'invariant', 'distinctive'"):
        gdt_masks(idx, params, modes=["invariant", "equivariant"])
    with pytest.raises(ValueError, match="cross_factor must be <= 1"):
        gdt_masks(idx, params, modes=modes, cross_factor=2)
    with pytest.raises(ValueError, match="cross_factor needs at least one column"):
        gdt_masks(idx, None, modes=[], cross_factor=0)
    with pytest.raises(ValueError, match="cross_factor=1 must be an invariant factor"):
        gdt_masks(idx, params, modes=["invariant", "distinctive"], cross_factor=1)
    with pytest.raises(ValueError, match="every anchor needs at least one positive"):
        gdt_loss(z, torch.arange(8), None, modes=[])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        gdt_loss(z, idx, params, modes=modes, temperature=0.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        gdt_loss(z, idx, params, modes=modes, reduction="avg")
    with pytest.raises(ValueError, match="denominator must be one of 'separate', 'shared'"):
        gdt_loss(z, idx, params, modes=modes, denominator="joint")
    with pytest.raises(ValueError, match="denominator must be one of"):
        GDTLoss(modes=modes, denominator="per-positive")
    with pytest.raises(ValueError, match="z must have at least 2 row"):
        gdt_loss(z[:1], idx[:1], params[:1], modes=modes)
    with pytest.raises(ValueError, match="z must be finite"):
        gdt_loss(z * float("nan"), idx, params, modes=modes)
    with pytest.raises(TypeError, match="modes must be a sequence of modes"):
        GDTLoss(modes="invariant")
    with pytest.raises(ValueError, match=r"modes\[0\] must be one of"):
        GDTLoss(modes=["both"])


def test_error_messages_generalized_nce_and_conflicts():
    z = _z(4)
    pos = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=torch.bool)
    cmp = ~torch.eye(4, dtype=torch.bool)
    with pytest.raises(TypeError, match="positive must have dtype torch.bool"):
        generalized_nce_loss(z, pos.int())
    with pytest.raises(TypeError, match="positive must be a torch.Tensor of bools"):
        generalized_nce_loss(z, pos.tolist())
    with pytest.raises(ValueError, match=r"positive must have shape \(4, 4\)"):
        generalized_nce_loss(z, pos[:3, :3])
    with pytest.raises(ValueError, match="positive must be False on the diagonal"):
        generalized_nce_loss(z, pos | torch.eye(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="compare must be False on the diagonal"):
        generalized_nce_loss(z, pos, cmp | torch.eye(4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"positive must imply compare \(w <= c"):
        generalized_nce_loss(z, pos, cmp & ~pos)
    with pytest.raises(ValueError, match=r"every anchor needs at least one positive, got 2 anchor"):
        generalized_nce_loss(z, pos & (torch.arange(4)[:, None] < 2))
    with pytest.raises(ValueError, match="positive must be on z's device"):
        generalized_nce_loss(z, pos.to("meta"))
    with pytest.raises(ValueError, match=r"positive must be 2-D \(N, N\), got shape \(4,\)"):
        mask_conflicts(pos[0], cmp)
    with pytest.raises(TypeError, match="positive must be an \\(N, N\\) torch.Tensor of bools"):
        mask_conflicts(pos.tolist(), cmp)
    with pytest.raises(TypeError, match="compare must have dtype torch.bool"):
        mask_conflicts(pos, cmp.int())
    with pytest.raises(ValueError, match=r"compare must have shape \(4, 4\)"):
        mask_conflicts(pos, cmp[:2])
    with pytest.raises(ValueError, match="compare must be on positive's device"):
        mask_conflicts(pos, cmp.to("meta"))


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("denominator", ["separate", "shared"])
@pytest.mark.parametrize("modes", [["distinctive", "invariant"], ["invariant", "invariant"]])
@pytest.mark.parametrize("normalize", [True, False])
def test_gradcheck(normalize, modes, denominator):
    idx, params = _av_grid(2, [2])
    z = _z(idx.shape[0], d=3, seed=11).requires_grad_(True)

    def f(v):
        return gdt_loss(v, idx, params, modes=modes, cross_factor=1, temperature=0.5,
                        normalize=normalize, denominator=denominator, reduction="none")
    assert torch.autograd.gradcheck(f, (z,))
    assert torch.autograd.gradgradcheck(f, (z,))


def test_gradcheck_and_finite_gradient_without_negatives():
    # Anchor 0 has positives but no negative: its separate terms are constant 0, and neither
    # the value nor the gradient may become NaN (no -inf - (-inf) in the backward pass).
    pos = torch.tensor([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]], dtype=torch.bool)
    cmp = ~torch.eye(4, dtype=torch.bool)
    cmp[0, 3] = False
    z = _z(4, d=3, seed=13).requires_grad_(True)
    out = generalized_nce_loss(z, pos, cmp, temperature=0.5, reduction="none")
    assert out[0].item() == 0.0
    out.sum().backward()
    assert bool(torch.isfinite(z.grad).all())
    assert torch.autograd.gradcheck(
        lambda v: generalized_nce_loss(v, pos, cmp, temperature=0.5, reduction="none"), (z,))


# ---------------------------------------------------------------- the invariance theorem, exactly
@pytest.mark.parametrize("sizes,factor", [([2, 4], 0), ([2, 4], 1), ([3], 0)])
def test_orbit_averaged_features_give_every_probe_exact_chance(sizes, factor):
    # Part 1 of the chapter's theorem on the complete grid: if all views that differ only in
    # factor m share one feature vector, any decoder gives the |Theta_m| views of an orbit one
    # prediction, right for exactly one of them, so its test accuracy is exactly 1/|Theta_m|,
    # whatever the features are (here random, of a random, untrained "encoder").
    from reptutor.metrics import linear_probe_accuracy

    n_clips = 40
    grid = transform_grid(n_clips, sizes)
    z = _z(grid.sample_index.shape[0], d=6, seed=17).view(n_clips, *sizes, 6)
    z = z.mean(dim=1 + factor, keepdim=True).expand_as(z).reshape(-1, 6)  # orbit average
    y = grid.params[:, factor]
    train = grid.sample_index < n_clips // 2
    acc = linear_probe_accuracy(z[train], y[train], z[~train], y[~train])
    assert acc == pytest.approx(1 / sizes[factor], abs=1e-12)


# ---------------------------------------------------------------- declarations for the harnesses
def _grid() -> dict:
    from reptutor.data import transform_grid

    grid = transform_grid(4, [2])  # N = 8 samples: 4 source clips x 2 transformations
    return {"z": V.randn(8, 4), "sample_index": grid.sample_index, "params": grid.params,
            "modes": ("invariant",)}


def _masks() -> dict:
    from reptutor.losses import gdt_masks

    m = gdt_masks(**{k: v for k, v in _grid().items() if k != "z"})
    return {"z": V.randn(8, 4), "positive": m.positive, "compare": m.compare}


VALIDATION = [
    V.Entry("losses.gdt_loss", _grid, (
        V.rank("z"), V.shape("sample_index", lambda k: k["sample_index"][:7]),
        V.shape("params", lambda k: k["params"][:7]),
        V.empty("z", "sample_index", "params"), V.nonfinite("z"), V.nonpositive("temperature"),
        V.labels_dtype("sample_index"),
        V.device_mismatch("z", "sample_index"), V.choice("modes", V.TRANSFORM_MODES, ("bogus",)),
        V.choice("reduction", V.REDUCTIONS), V.choice("denominator", ("separate", "shared")),
        V.wrong_type("z"), *V.boolean("normalize"),
    ), na={"dtype-mismatch": "sample_index and params are integer; one float input"}),
    V.Entry("losses.gdt_masks", lambda: {k: v for k, v in _grid().items() if k != "z"}, (
        V.rank("sample_index"), V.shape("params", lambda k: k["params"][:7]),
        V.empty("sample_index", "params"),
        V.labels_dtype("sample_index"), V.device_mismatch("sample_index", "params"),
        V.choice("modes", V.TRANSFORM_MODES, ("bogus",)), V.wrong_type("sample_index"),
        V.out_of_range("cross_factor", 1, "<= 0"),
    ), na={"nonfinite": "integer inputs only", "dtype-mismatch": "integer inputs only",
           "nonpositive": "cross_factor is a column index: 0 is valid (see range)"}),
    V.Entry("losses.generalized_nce_loss", _masks, (
        V.rank("z"), V.shape("positive", lambda k: k["positive"][:7, :7]),
        V.shape("compare", lambda k: k["compare"][:, :7]), V.empty("z", "positive", "compare"),
        V.nonfinite("z"), V.nonpositive("temperature"), V.device_mismatch("z", "positive"),
        V.choice("reduction", V.REDUCTIONS), V.choice("denominator", ("separate", "shared")),
        V.wrong_type("z"), *V.boolean("normalize"),
        V.custom("dtype-mismatch", "positive", lambda k: k["positive"].float(),
                 V.all_of("positive", "bool", "float32"), error=TypeError),
    )),
    V.Entry("losses.mask_conflicts", lambda: {k: v for k, v in _masks().items() if k != "z"}, (
        V.rank("positive"), V.shape("compare", lambda k: k["compare"][:, :7]),
        V.Bad("empty", "positive",
              lambda k: V.replace(k, positive=k["positive"][:0, :0], compare=k["compare"][:0, :0]),
              V.all_of("positive", "empty|at least", r"\(0, 0\)")),
        V.device_mismatch("positive", "compare"),
        V.wrong_type("positive"),
        V.custom("dtype-mismatch", "compare", lambda k: k["compare"].float(),
                 V.all_of("compare", "bool", "float32"), error=TypeError),
    ), na={"nonfinite": "boolean masks only"}),
    V.Entry("losses.GDTLoss", lambda: {**_grid(), "temperature": 0.07}, (
        V.number_type("temperature"), V.nonpositive("temperature"), V.choice("modes", V.TRANSFORM_MODES, ("bogus",)),
        V.choice("reduction", V.REDUCTIONS), V.choice("denominator", ("separate", "shared")),
        V.rank("z"), *V.boolean("normalize")),
        ctor=("modes", "temperature", "reduction", "cross_factor", "normalize", "denominator")),
]

GDT_INDEX = torch.arange(R.N).repeat(2)  # the two views of N samples, stacked
GDT_MASKS = L.gdt_masks(GDT_INDEX, None, modes=[])
GDT_GROUPS = L.gdt_masks(GDT_INDEX // 2, None, modes=[])  # 4 views per sample: 3 positives each

ROBUSTNESS = {
    # L2-normalised embeddings: inputs multiplied by 1e4, the value must not move
    "generalized_nce_loss": R.cosine(
        lambda a, b, **k: L.generalized_nce_loss(torch.cat([a, b]), GDT_MASKS.positive,
                                                 GDT_MASKS.compare, **k), 0.07, depth=6),
    **{f"generalized_nce_loss[{d},3 positives]": R.cosine(
        lambda a, b, d=d, **k: L.generalized_nce_loss(torch.cat([a, b]), GDT_GROUPS.positive,
                                                      GDT_GROUPS.compare, denominator=d, **k),
        0.07, depth=6) for d in ("separate", "shared")},
    "gdt_loss": R.cosine(lambda a, b, **k: L.gdt_loss(torch.cat([a, b]), GDT_INDEX, None,
                                                      modes=[], **k), 0.07, depth=6),
    "GDTLoss": R.wraps("gdt_loss"),
    "gdt_masks": R.not_numeric("returns boolean masks: no number"),
    "mask_conflicts": R.not_numeric("checks two boolean masks: no number"),
}

_SAMPLE = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])  # 2 samples x 2 transformations x 2 modalities
_PARAMS = torch.tensor([[0, 0], [1, 0], [0, 0], [1, 0], [0, 1], [1, 1], [0, 1], [1, 1]])
_EYE6 = torch.eye(6, dtype=torch.bool)
_GROUP6 = torch.tensor([0, 0, 0, 1, 1, 1])

SECOND_ORDER = {
    # the InfoNCE engine (losses/_engine.py): exact by a dense differentiable backward
    "gdt_loss": ("exact", lambda: G.one(
        lambda z: L.gdt_loss(z, _SAMPLE, _PARAMS, modes=["distinctive", "invariant"],
                             cross_factor=1, temperature=0.5, reduction="none"), G.x(8, 3, seed=39))),
    "generalized_nce_loss": ("exact", lambda: G.one(
        lambda z: L.generalized_nce_loss(z, (_GROUP6[:, None] == _GROUP6[None, :]) & ~_EYE6,
                                         ~_EYE6, temperature=0.4, reduction="none"),
        G.x(6, 3, seed=40))),
    "gdt_masks": ("none", "returns boolean masks: nothing to differentiate"),
    "mask_conflicts": ("none", "checks two boolean masks: nothing to differentiate"),
}
