"""reptutor.losses.scrl: closed forms, the reduction to BYOL's loss, masks, the whole SCRL box
pipeline on an equivariant "network" (matched boxes cost nothing, shifted boxes do), errors,
gradcheck."""
import pytest
import torch

import reptutor.losses as L
from reptutor.data import crop_intersection, crop_resize, map_boxes, sample_boxes
from reptutor.losses import SCRLLoss, byol_loss, scrl_loss
from reptutor.models import roi_align

import _gradcheck as G
import _robustness as R
import _validation as V


def _boxes_pair(n=3, k=4, d=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, k, d, generator=g, dtype=dtype),
            torch.randn(n, k, d, generator=g, dtype=dtype))


# --- closed forms --------------------------------------------------------------------------------

def test_hand_computed_boxes():
    p = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], dtype=torch.float64)
    z = torch.tensor([[[4.0, 0.0], [1.0, 0.0], [-2.0, -2.0]]], dtype=torch.float64)
    torch.testing.assert_close(scrl_loss(p, z, reduction="none"),
                               torch.tensor([[0.0, 2.0, 4.0]], dtype=torch.float64))
    assert scrl_loss(p, z).item() == pytest.approx(2.0)
    assert scrl_loss(p, z, reduction="sum").item() == pytest.approx(6.0)
    valid = torch.tensor([[True, False, True]])
    assert scrl_loss(p, z, valid=valid).item() == pytest.approx(2.0)  # (0 + 4) / 2
    torch.testing.assert_close(scrl_loss(p, z, valid=valid, reduction="none"),
                               torch.tensor([[0.0, 0.0, 4.0]], dtype=torch.float64))


def test_reduces_to_byol_on_flattened_boxes():
    p, z = _boxes_pair(4, 6, 3, seed=1)
    torch.testing.assert_close(scrl_loss(p, z), byol_loss(p.flatten(0, 1), z.flatten(0, 1)))


def test_image_mask_equals_box_mask_and_drops_images():
    p, z = _boxes_pair(3, 4, 5, seed=2)
    img_mask = torch.tensor([True, False, True])
    box_mask = img_mask[:, None].expand(3, 4)
    torch.testing.assert_close(scrl_loss(p, z, valid=img_mask), scrl_loss(p, z, valid=box_mask))
    # the mean over valid boxes equals the loss of the valid images alone
    torch.testing.assert_close(scrl_loss(p, z, valid=img_mask), scrl_loss(p[[0, 2]], z[[0, 2]]))


def test_no_valid_box_gives_zero_with_a_gradient():
    p, z = _boxes_pair(2, 3, 4, seed=3)
    p.requires_grad_(True)
    loss = scrl_loss(p, z, valid=torch.tensor([False, False]))
    assert loss.item() == 0.0
    loss.backward()
    assert float(p.grad.abs().max()) == 0.0


# --- invariants ----------------------------------------------------------------------------------

def test_permutation_and_stop_gradient():
    p, z = _boxes_pair(3, 5, 4, seed=4)
    perm = torch.randperm(5)
    torch.testing.assert_close(scrl_loss(p[:, perm], z[:, perm]), scrl_loss(p, z))
    p.requires_grad_(True)
    z.requires_grad_(True)
    scrl_loss(p, z).backward()
    assert z.grad is None and p.grad is not None


def test_matched_boxes_cost_nothing_on_an_equivariant_network():
    # "network" = the image itself (an affine ramp, which bilinear resampling reproduces
    # exactly); projector = identity. Boxes of one region pooled from two views then have
    # identical features: the SCRL loss of matched pairs is 0, that of mismatched pairs is not.
    size, out = 32, 24
    c = torch.arange(size, dtype=torch.float64) + 0.5
    x, y = c.view(1, size), c.view(size, 1)
    img = torch.stack([x + 0 * y, y + 0 * x, torch.ones(size, size, dtype=torch.float64)])
    img = img.unsqueeze(0).expand(4, 3, size, size)
    c1 = torch.tensor([[1.0, 1.0, 25.0, 28.0], [2.0, 3.0, 30.0, 31.0],
                       [0.5, 6.0, 20.0, 26.0], [4.0, 0.5, 29.0, 22.0]], dtype=torch.float64)
    c2 = torch.tensor([[6.0, 2.0, 31.0, 30.0], [0.5, 0.5, 24.0, 20.0],
                       [3.0, 1.0, 31.0, 31.0], [1.0, 4.0, 22.0, 31.0]], dtype=torch.float64)
    f1, f2 = torch.tensor([False, True, True, False]), torch.tensor([True, True, False, False])
    v1, v2 = crop_resize(img, c1, f1, out), crop_resize(img, c2, f2, out)
    shared = crop_intersection(c1, c2) + torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    boxes, valid = sample_boxes(shared, 6, torch.Generator().manual_seed(5), min_size=2.0)
    assert bool(valid.all())
    r1 = roi_align(v1, map_boxes(boxes, c1, f1, out), image_size=out).flatten(2)  # (N, K, 3)
    r2 = roi_align(v2, map_boxes(boxes, c2, f2, out), image_size=out).flatten(2)
    assert scrl_loss(r1, r2).item() < 1e-12
    assert scrl_loss(r2, r1).item() < 1e-12
    wrong = map_boxes(boxes, c2, f1, out)  # view 1 boxes placed with view 2's crop
    r_wrong = roi_align(v1, wrong.clamp(0, out), image_size=out).flatten(2)
    assert scrl_loss(r_wrong, r2).item() > 1e-3


def test_module_matches_function():
    p, z = _boxes_pair(2, 3, 4, seed=6)
    valid = torch.tensor([True, False])
    assert torch.equal(SCRLLoss()(p, z, valid), scrl_loss(p, z, valid=valid))
    assert "reduction='mean'" in repr(SCRLLoss())


# --- error messages ------------------------------------------------------------------------------

def test_errors():
    p, z = _boxes_pair(2, 3, 4)
    with pytest.raises(ValueError, match="p must be 3-D"):
        scrl_loss(p[0], z[0])
    with pytest.raises(ValueError, match="p and z must have the same shape"):
        scrl_loss(p, z[:, :2])
    with pytest.raises(TypeError, match="valid must be a torch.bool tensor"):
        scrl_loss(p, z, valid=torch.ones(2))
    with pytest.raises(ValueError, match=r"valid must have shape \(N,\) = \(2,\) or \(N, K\)"):
        scrl_loss(p, z, valid=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'"):
        scrl_loss(p, z, reduction="avg")
    with pytest.raises(ValueError, match="eps must be > 0"):
        SCRLLoss(eps=-1.0)


def test_gradcheck():
    p, z = _boxes_pair(2, 3, 4, seed=7)
    p.requires_grad_(True)
    valid = torch.tensor([[True, False, True], [True, True, True]])
    assert torch.autograd.gradcheck(lambda a: scrl_loss(a, z, valid=valid), (p,))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("losses.scrl_loss",
            lambda: {"p": V.randn(4, 3, 5), "z": V.randn(4, 3, 5, seed=1),
                     "valid": torch.ones(4, 3, dtype=torch.bool)}, (
              *V.pair_cells("p", "z"), V.shape("valid", lambda k: k["valid"][:, :2]),
              V.device_mismatch("p", "valid"), V.nonpositive("eps"), V.choice("reduction", V.REDUCTIONS),
              V.custom("dtype-mismatch", "valid", lambda k: k["valid"].float(),
                       V.all_of("valid", "bool", "float32"), error=TypeError))),
    V.Entry("losses.SCRLLoss", lambda: {"p": V.randn(4, 3, 5), "z": V.randn(4, 3, 5, seed=1), "eps": 1e-12},
            (V.number_type("eps"), V.nonpositive("eps"), V.choice("reduction", V.REDUCTIONS), V.rank("p")),
            ctor=("eps", "reduction")),
]

ROBUSTNESS = {
    # normalised prediction and target: scaled by 1e4
    "scrl_loss": R.Case(make=lambda dt: tuple(x.view(2, 4, R.D) for x in R.pair(dt)),
                        call=lambda p, z, t=None: L.scrl_loss(p, z), big="scale", expect=R.SAME,
                        bf16=(1, R.VALUE), tau=False),
    "SCRLLoss": R.wraps("scrl_loss"),
}

SECOND_ORDER = {
    # the target z is a stop-gradient (no derivative by design): p only
    "scrl_loss": ("exact", lambda: G.one(
        lambda p: L.scrl_loss(p, G.x(2, 3, 4, seed=58).detach(),
                              valid=torch.tensor([[True, False, True], [True, True, True]])),
        G.x(2, 3, 4, seed=57))),
}
