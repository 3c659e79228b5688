"""reptutor.losses.gdt: closed forms, a loop reference, reductions to InfoNCE / NT-Xent,
mask invariants, error messages, gradcheck."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _loop_reference(z, pos, cmp, t):
    """Per-anchor loop straight from the formula: -mean_{j in P_i} log softmax_{C_i}(s_i)_j."""
    u = z / z.norm(dim=1, keepdim=True)
    out = []
    for i in range(u.shape[0]):
        comp = [k for k in range(u.shape[0]) if cmp[i, k]]
        s = {k: float(u[i] @ u[k]) / t for k in comp}
        lse = math.log(sum(math.exp(v) for v in s.values()))
        terms = [-(s[j] - lse) for j in range(u.shape[0]) if pos[i, j]]
        out.append(sum(terms) / len(terms))
    return torch.tensor(out, dtype=z.dtype)


# ---------------------------------------------------------------- closed forms
def test_constant_embeddings_give_log_of_compared_count():
    idx, params = _av_grid(3, [2])  # 3 samples x 2 reversals x 2 modalities = 12 views
    z = torch.ones(12, 5, dtype=torch.float64)
    # Cross-modal: each anchor is compared with the 6 views of the other modality.
    for modes in (["invariant", "invariant"], ["distinctive", "invariant"]):
        loss = gdt_loss(z, idx, params, modes=modes, cross_factor=1)
        assert loss.item() == pytest.approx(math.log(6), abs=1e-12)
    # Without a cross factor every other view (11) is compared.
    loss = gdt_loss(z, idx, params, modes=["invariant", "invariant"])
    assert loss.item() == pytest.approx(math.log(11), abs=1e-12)


@pytest.mark.parametrize("t", [0.05, 0.3, 1.0])
def test_orthonormal_key_codes_closed_form(t):
    # Each view is embedded as the one-hot code of its key (sample, reversal): positives are
    # identical (s = 1/t), every other compared view is orthogonal (s = 0), so
    # l = log(|P| e^{1/t} + |C| - |P|) - 1/t with |P| = 2 (other modality, both shifts), |C| = 12.
    idx, params = _av_grid(3, [2, 2])  # columns: reversal, shift, modality
    key = idx * 2 + params[:, 0]
    z = torch.nn.functional.one_hot(key, 6).double()
    loss = gdt_loss(z, idx, params, modes=["distinctive", "invariant", "invariant"],
                    cross_factor=2, temperature=t, reduction="none")
    expect = math.log(2 * math.exp(1 / t) + 10) - 1 / t
    torch.testing.assert_close(loss, torch.full((24,), expect, dtype=torch.float64))


def test_floor_log_positive_count_as_temperature_vanishes():
    idx, params = _av_grid(4, [2, 4])
    key = idx * 4 + params[:, 1]  # distinctive to the shift, invariant to reversal
    z = torch.nn.functional.one_hot(key, 16).double()
    loss = gdt_loss(z, idx, params, modes=["invariant", "distinctive", "invariant"],
                    cross_factor=2, temperature=1e-3)
    assert loss.item() == pytest.approx(math.log(2), abs=1e-9)  # |P| = 2 reversals


# ---------------------------------------------------------------- reference
@pytest.mark.parametrize("t", [0.07, 0.5, 2.0])
@pytest.mark.parametrize("modes,cross", [
    (["invariant", "invariant", "invariant"], 2),
    (["distinctive", "invariant", "invariant"], 2),
    (["invariant", "distinctive", "invariant"], 2),
    (["invariant", "distinctive", "invariant"], None),
    (["distinctive", "distinctive", "invariant"], 2),
])
def test_matches_loop_reference(t, modes, cross):
    idx, params = _av_grid(3, [2, 2])
    z = _z(idx.shape[0], seed=1)
    masks = gdt_masks(idx, params, modes=modes, cross_factor=cross)
    ours = gdt_loss(z, idx, params, modes=modes, cross_factor=cross, temperature=t,
                    reduction="none")
    torch.testing.assert_close(ours, _loop_reference(z, masks.positive, masks.compare, t))


def test_random_masks_match_loop_reference():
    g = torch.Generator().manual_seed(3)
    n = 9
    cmp = (torch.rand(n, n, generator=g) < 0.7) & ~torch.eye(n, dtype=torch.bool)
    pos = cmp & (torch.rand(n, n, generator=g) < 0.4)
    pos[torch.arange(n), (torch.arange(n) + 1) % n] = True  # at least one positive per row
    cmp = cmp | pos
    z = _z(n, seed=4)
    torch.testing.assert_close(
        generalized_nce_loss(z, pos, cmp, temperature=0.2, reduction="none"),
        _loop_reference(z, pos, cmp, 0.2))


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
    masks = gdt_masks(idx, params, modes=modes, cross_factor=1)
    # Jensen floor: l_i >= log|P_i| (here |P_i| = 1, so l_i >= 0).
    floor = masks.positive.sum(1).double().log()
    assert bool((per >= floor - 1e-12).all())
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
@pytest.mark.parametrize("normalize", [True, False])
def test_gradcheck(normalize):
    idx, params = _av_grid(2, [2])
    z = _z(idx.shape[0], d=3, seed=11).requires_grad_(True)
    modes = ["distinctive", "invariant"]
    assert torch.autograd.gradcheck(
        lambda v: gdt_loss(v, idx, params, modes=modes, cross_factor=1, temperature=0.5,
                           normalize=normalize), (z,))
    assert torch.autograd.gradgradcheck(
        lambda v: gdt_loss(v, idx, params, modes=modes, cross_factor=1, temperature=0.5,
                           normalize=normalize), (z,))
