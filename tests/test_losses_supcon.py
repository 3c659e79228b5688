"""reptutor.losses.supcon: closed forms, loop references, invariants, errors, gradcheck."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.losses as L
from reptutor.losses import (
    ClassConditionalInfoNCELoss,
    SupConLoss,
    class_conditional_info_nce_loss,
    info_nce_loss,
    nt_xent_loss,
    supcon_loss,
)

import _gradcheck as G
import _robustness as R
import _validation as V


def _z(shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _labels(n, k, seed=0):
    return torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(seed + 100))


def _supcon_loop(z, y, t):
    """Khosla et al. (2020) eq. 2 written anchor by anchor, positive by positive (the reference).

    ``z`` is (V, N, D) or (N, D); returns the per-view losses (M,), view-major (row v N + i),
    and whether each anchor has a positive.
    """
    v = z.shape[0] if z.ndim == 3 else 1
    w = F.normalize(z.reshape(-1, z.shape[-1]), dim=1)
    yy = y.repeat(v)
    out, has = [], []
    for i in range(w.shape[0]):
        others = [a for a in range(w.shape[0]) if a != i]
        log_den = torch.logsumexp(torch.stack([w[i] @ w[a] / t for a in others]), 0)
        pos = [p for p in others if yy[p] == yy[i]]
        if not pos:
            out.append(torch.zeros((), dtype=w.dtype)); has.append(False)
            continue
        out.append(-sum(w[i] @ w[p] / t - log_den for p in pos) / len(pos)); has.append(True)
    return torch.stack(out), torch.tensor(has)


def _cnce_loop(a, b, y, t):
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    out = []
    for i in range(a.shape[0]):
        same = [j for j in range(a.shape[0]) if y[j] == y[i]]
        fwd = torch.logsumexp(torch.stack([a[i] @ b[j] / t for j in same]), 0) - a[i] @ b[i] / t
        bwd = torch.logsumexp(torch.stack([b[i] @ a[j] / t for j in same]), 0) - a[i] @ b[i] / t
        out.append(torch.stack([fwd, bwd]))
    return torch.stack(out)  # (N, 2): a->b, b->a


# ---- closed forms ---------------------------------------------------------------------------
def test_constant_embeddings_tie_all_candidates():
    # Every logit equal: each anchor's denominator has M - 1 equal terms, loss = log(M - 1).
    z = torch.ones(2, 5, 3)  # (V, N, D)
    assert supcon_loss(z, torch.tensor([0, 1, 0, 2, 2])).item() == pytest.approx(math.log(9), abs=1e-6)


@pytest.mark.parametrize("t", [0.2, 0.5, 1.0])
def test_orthogonal_classes_closed_form(t):
    # Class k sits on the basis vector e_k (3 samples x 2 views per class, 3 classes, M = 18).
    # Positives: 5 at logit 1/t; negatives: 12 at logit 0 -> l = log(5 e^{1/t} + 12) - 1/t.
    z = torch.eye(3, dtype=torch.float64).repeat_interleave(3, 0).expand(2, 9, 3)  # (V, N, D)
    y = torch.arange(3).repeat_interleave(3)
    expected = math.log(5 * math.exp(1 / t) + 12) - 1 / t
    per = supcon_loss(z, y, temperature=t, reduction="none")
    torch.testing.assert_close(per, torch.full((2, 9), expected, dtype=torch.float64))


def test_regular_simplex_meets_graf_et_al_bound():
    # Graf et al. (ICML 2021, arXiv:2102.08817), SupCon theorem: at a collapsed regular simplex
    # (K = 5 classes, n = 4 samples each, N = 20, rho^2 = 1/t = 4) every anchor's loss equals
    # log((n - 1) + (N - n) exp(-rho^2 K / (K - 1))) = 1.133917 (the value in the P09 notes).
    k, n, t = 5, 4, 0.25
    vertices = F.normalize(torch.eye(k, dtype=torch.float64) - 1.0 / k, dim=1)  # cos = -1/(K-1)
    z = vertices.repeat_interleave(n, 0)  # (20, 5) one view per sample
    y = torch.arange(k).repeat_interleave(n)
    bound = math.log((n - 1) + (k * n - n) * math.exp(-(1 / t) * k / (k - 1)))
    assert bound == pytest.approx(1.133917, abs=1e-6)
    assert supcon_loss(z, y, temperature=t).item() == pytest.approx(bound, abs=1e-12)


def test_unique_labels_two_views_is_nt_xent():
    a, b = _z((7, 4), 1), _z((7, 4), 2)
    views = torch.stack([a, b])  # (V, N, D) = (2, 7, 4): views[0] is a, views[1] is b
    per = supcon_loss(views, torch.arange(7), temperature=0.3, reduction="none")
    nt = nt_xent_loss(a, b, temperature=0.3, reduction="none")  # z_a rows first
    assert per.shape == (2, 7)
    torch.testing.assert_close(per[0], nt[:7])
    torch.testing.assert_close(per[1], nt[7:])
    torch.testing.assert_close(supcon_loss(views, temperature=0.3),
                               nt_xent_loss(a, b, temperature=0.3))


def test_anchor_without_positive_is_left_out():
    z = _z((4, 3))
    y = torch.tensor([0, 0, 1, 0])  # one view per sample; sample 2 is alone in its class
    per = supcon_loss(z, y, reduction="none")
    assert per[2].item() == 0.0
    keep = torch.tensor([0, 1, 3])
    assert supcon_loss(z, y).item() == pytest.approx(per[keep].mean().item(), rel=1e-12)
    assert supcon_loss(z, y, reduction="sum").item() == pytest.approx(per.sum().item(), rel=1e-12)


# ---- references -----------------------------------------------------------------------------
@pytest.mark.parametrize("t", [0.07, 0.5, 2.0])
@pytest.mark.parametrize("shape", [(2, 8, 5), (3, 8, 5), (10, 5)])
def test_supcon_matches_loop_reference(t, shape):
    z, y = _z(shape), _labels(shape[-2], 3)
    ref, has = _supcon_loop(z, y, t)
    per = supcon_loss(z, y, temperature=t, reduction="none")
    torch.testing.assert_close(per.reshape(-1), ref)
    assert supcon_loss(z, y, temperature=t).item() == pytest.approx(ref[has].mean().item(), rel=1e-12)


def test_supcon_matches_pytorch_metric_learning():
    # Optional peer (not a dependency): PML's SupConLoss on the flattened views, same tau.
    # Its AvgNonZeroReducer averages over anchors with a non-zero loss, i.e. with a positive.
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    z, y = _z((2, 12, 6)), _labels(12, 4)
    ref = pml.SupConLoss(temperature=0.1)(z.reshape(24, 6), y.repeat(2))
    assert supcon_loss(z, y, temperature=0.1).item() == pytest.approx(ref.item(), rel=1e-10)


@pytest.mark.parametrize("t", [0.1, 1.0])
def test_class_conditional_matches_loop_reference(t):
    a, b, y = _z((9, 4), 1), _z((9, 4), 2), _labels(9, 3)
    ref = _cnce_loop(a, b, y, t)
    torch.testing.assert_close(
        class_conditional_info_nce_loss(a, b, y, temperature=t, reduction="none"), ref.mean(1))
    torch.testing.assert_close(
        class_conditional_info_nce_loss(a, b, y, temperature=t, symmetric=False, reduction="none"),
        ref[:, 0])


def test_class_conditional_degenerate_labels():
    a, b = _z((6, 4), 1), _z((6, 4), 2)
    # One class: the candidates are the whole batch, i.e. plain InfoNCE.
    one = torch.zeros(6, dtype=torch.long)
    torch.testing.assert_close(class_conditional_info_nce_loss(a, b, one, temperature=0.3),
                               info_nce_loss(a, b, temperature=0.3))
    # All classes distinct: the positive is the only candidate, the loss is exactly 0.
    assert class_conditional_info_nce_loss(a, b, torch.arange(6)).abs().item() < 1e-12


# ---- invariants -----------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(n=st.integers(3, 9), v=st.integers(1, 3), k=st.integers(1, 4), seed=st.integers(0, 10_000),
       t=st.floats(0.05, 5.0))
def test_supcon_invariants(n, v, k, seed, t):
    z = _z((v, n, 4), seed)
    y = _labels(n, k, seed)
    if v == 1 and not bool((torch.bincount(y) > 1).any()):
        return  # no anchor has a positive: covered by the error test
    loss = supcon_loss(z, y, temperature=t)
    # Jointly permuting samples and labels, renaming classes, rotating, rescaling: no change.
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    assert supcon_loss(z[:, perm], y[perm], temperature=t).item() == pytest.approx(loss.item(), rel=1e-9)
    assert supcon_loss(z, 7 * y + 3, temperature=t).item() == pytest.approx(loss.item(), rel=1e-9)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=z.dtype))
    assert supcon_loss(z @ q, y, temperature=t).item() == pytest.approx(loss.item(), rel=1e-9)
    assert supcon_loss(3.0 * z, y, temperature=t).item() == pytest.approx(loss.item(), rel=1e-9)
    # Floor: by Jensen, l_i >= log |P(i)| (the softmax mass on the positives is at most 1).
    per = supcon_loss(z, y, temperature=t, reduction="none").reshape(-1)
    n_pos = torch.bincount(y, minlength=k)[y].repeat(v) * v - 1  # view-major, as per
    has = n_pos > 0
    assert bool((per[has] >= torch.log(n_pos[has].double()) - 1e-12).all())


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 9), k=st.integers(1, 4), seed=st.integers(0, 10_000), t=st.floats(0.05, 5.0))
def test_class_conditional_invariants(n, k, seed, t):
    a, b, y = _z((n, 3), seed), _z((n, 3), seed + 1), _labels(n, k, seed)
    per = class_conditional_info_nce_loss(a, b, y, temperature=t, symmetric=False, reduction="none")
    # Fewer candidates than InfoNCE (a subset containing the positive): 0 <= l^c_i <= l_i.
    full = info_nce_loss(a, b, temperature=t, symmetric=False, reduction="none")
    assert bool((per >= -1e-12).all()) and bool((per <= full + 1e-12).all())
    # Swapping the views swaps the directions of the symmetric loss.
    assert class_conditional_info_nce_loss(b, a, y, temperature=t).item() == pytest.approx(
        class_conditional_info_nce_loss(a, b, y, temperature=t).item(), rel=1e-9, abs=1e-12)


def test_modules_match_functions():
    z, y = _z((2, 6, 3)), _labels(6, 2)
    assert SupConLoss(temperature=0.3)(z, y).item() == pytest.approx(
        supcon_loss(z, y, temperature=0.3).item())
    a, b = z[0], z[1]
    assert ClassConditionalInfoNCELoss(temperature=0.3, chunk_size=2)(a, b, y).item() == pytest.approx(
        class_conditional_info_nce_loss(a, b, y, temperature=0.3).item())


# ---- errors ---------------------------------------------------------------------------------
def test_errors():
    z, y = _z((2, 6, 3)), _labels(6, 2)
    with pytest.raises(ValueError, match=r"z must be 2-D or 3-D, got shape \(6,\)"):
        supcon_loss(z[0, :, 0], y)
    with pytest.raises(ValueError, match="labels must have length 6 \\(one label per sample\\), got 5"):
        supcon_loss(z, y[:5])
    with pytest.raises(TypeError, match="labels must have an integer dtype"):
        supcon_loss(z, y.double())
    with pytest.raises(ValueError, match="labels and z must be on the same device, got meta and cpu"):
        supcon_loss(z, torch.zeros(6, dtype=torch.long, device="meta"))
    with pytest.raises(ValueError, match=r"supcon_loss needs labels, or z of shape \(V, N, D\) with V >= 2"):
        supcon_loss(z[0])
    with pytest.raises(ValueError, match="supcon_loss needs at least one anchor with a positive"):
        supcon_loss(z[0], torch.arange(6))
    with pytest.raises(ValueError, match=r"labels must have length 6 \(one label per sample\), got 2"):
        supcon_loss(z, y[:2])  # (V, N, D): labels follow the N axis, never the V axis
    with pytest.raises(ValueError, match="temperature must be > 0, got 0.0"):
        supcon_loss(z, y, temperature=0.0)
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'avg'"):
        supcon_loss(z, y, reduction="avg")
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        supcon_loss(z, y, chunk_size=0)
    with pytest.raises(TypeError, match="distributed must be a bool, got int 1"):
        supcon_loss(z, y, distributed=1)
    with pytest.raises(ValueError, match="z must be finite"):
        supcon_loss(z * float("nan"), y)
    with pytest.raises(ValueError, match="labels must have length 6 \\(one label per sample\\), got 4"):
        class_conditional_info_nce_loss(z[0], z[1], y[:4])
    with pytest.raises(ValueError, match="labels and z_a must be on the same device, got meta and cpu"):
        class_conditional_info_nce_loss(z[0], z[1], torch.zeros(6, dtype=torch.long, device="meta"))
    with pytest.raises(ValueError, match=r"z_a and z_b must have the same shape, got \(6, 3\) and \(5, 3\)"):
        class_conditional_info_nce_loss(z[0], z[1, :5], y)
    with pytest.raises(ValueError, match="temperature must be > 0, got -1.0"):
        SupConLoss(temperature=-1)


# ---- gradcheck ------------------------------------------------------------------------------
def test_gradcheck():
    z = _z((2, 5, 3)).requires_grad_()
    y = torch.tensor([0, 1, 0, 1, 1])
    assert torch.autograd.gradcheck(lambda x: supcon_loss(x, y, temperature=0.3), (z,))
    single = _z((6, 3)).requires_grad_()
    y6 = torch.tensor([0, 0, 1, 1, 1, 2])  # sample 5 has no positive: its zero must not leak
    assert torch.autograd.gradcheck(lambda x: supcon_loss(x, y6, temperature=0.3), (single,))
    a, b = _z((6, 3), 1).requires_grad_(), _z((6, 3), 2).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda p, q: class_conditional_info_nce_loss(p, q, y6, temperature=0.3), (a, b))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("losses.supcon_loss", lambda: {"z": V.randn(2, 8, 4), "labels": V.labels(8, 3)}, (
        V.rank("z"), V.shape("labels", lambda k: k["labels"][:7]),
        V.Bad("empty", "z", lambda k: V.replace(k, z=k["z"][:, :0], labels=k["labels"][:0]),
              V.all_of(V.named("z"), r"empty|at least", r"\(2, 0, 4\)")),  # (V, N, D): N = 0
        V.nonfinite("z"), V.nonpositive("temperature"), V.labels_range("labels"),
        V.labels_dtype("labels"), V.device_mismatch("z", "labels"), V.choice("reduction", V.REDUCTIONS),
        V.wrong_type("z"), V.wrong_type("labels"), *V.boolean("distributed"),
    ), na={"dtype-mismatch": "labels are integer by contract (see labels-dtype); one float input"}),
    V.Entry("losses.class_conditional_info_nce_loss",
            lambda: {**V.pair(), "labels": V.labels(8, 3)}, (
              *V.pair_cells(), V.shape("labels", lambda k: k["labels"][:7]),
              V.nonpositive("temperature"), V.labels_range("labels"), V.labels_dtype("labels"),
              V.device_mismatch("z_a", "labels"), V.choice("reduction", V.REDUCTIONS),
              *V.boolean("normalize", "symmetric", "distributed"))),
    V.Entry("losses.SupConLoss", lambda: {"z": V.randn(2, 8, 4), "labels": V.labels(8, 3),
                                          "temperature": 0.1},
            (V.number_type("temperature"), V.nonpositive("temperature"), V.choice("reduction", V.REDUCTIONS), V.rank("z"),
             V.labels_range("labels"), *V.boolean("distributed")),
            ctor=("temperature", "reduction", "distributed")),
    V.Entry("losses.ClassConditionalInfoNCELoss",
            lambda: {**V.pair(), "labels": V.labels(8, 3), "temperature": 0.1},
            (V.number_type("temperature"), V.nonpositive("temperature"), V.choice("reduction", V.REDUCTIONS), V.rank("z_a"),
             V.labels_dtype("labels"), *V.boolean("normalize", "symmetric", "distributed")),
            ctor=("temperature", "reduction", "normalize", "symmetric", "distributed")),
]

ROBUSTNESS = {
    # L2-normalised embeddings: inputs multiplied by 1e4, the value must not move
    "supcon_loss": R.cosine(lambda a, b, **k: L.supcon_loss(torch.stack([a, b]), R.LABELS, **k), 0.1),
    "supcon_loss[chunked]": R.cosine(
        lambda a, b, **k: L.supcon_loss(torch.stack([a, b]), R.LABELS, chunk_size=3, **k), 0.1),
    "class_conditional_info_nce_loss": R.cosine(
        lambda a, b, **k: L.class_conditional_info_nce_loss(a, b, R.LABELS, **k), 0.1),
    "class_conditional_info_nce_loss[chunked]": R.cosine(
        lambda a, b, **k: L.class_conditional_info_nce_loss(a, b, R.LABELS, chunk_size=3, **k), 0.1),
    "SupConLoss": R.wraps("supcon_loss"),
    "ClassConditionalInfoNCELoss": R.wraps("class_conditional_info_nce_loss"),
}

_Y5 = torch.tensor([0, 1, 0, 1, 1])

SECOND_ORDER = {
    # the InfoNCE engine (losses/_engine.py): exact by a dense differentiable backward
    "supcon_loss": ("exact", lambda: G.chunked(
        lambda a, b, **k: L.supcon_loss(torch.stack([a, b]), _Y5, temperature=0.5,
                                        reduction="none", **k), *G.pair_xy())),
    "class_conditional_info_nce_loss": ("exact", lambda: G.chunked(
        lambda a, b, **k: L.class_conditional_info_nce_loss(a, b, _Y5, temperature=0.5,
                                                            reduction="none", **k), *G.pair_xy())),
}
