"""reptutor.data.boxes: hand-computed box geometry, invariants of the intersections, tilings
and sampled boxes, error messages, gradcheck. (The views these boxes are mapped into are tested
with the renderer in test_data_scenes.py.)"""
import pytest
import torch

from reptutor.data import crop_intersection, grid_boxes, map_boxes, sample_boxes, visible_fraction

import _validation as V
from _helpers import gen


# --- closed forms --------------------------------------------------------------------------------

def test_map_boxes_hand_computed():
    crop = torch.tensor([[4.0, 2.0, 12.0, 6.0]])  # 8 wide, 4 high, shown at 16x16
    box = torch.tensor([[[6.0, 3.0, 8.0, 5.0]]])
    # x' = 16 (x - 4) / 8, y' = 16 (y - 2) / 4
    assert map_boxes(box, crop, torch.tensor([False]), 16).tolist() == [[[4.0, 4.0, 8.0, 12.0]]]
    # flipped: x' -> 16 - x', left and right edges swap
    assert map_boxes(box, crop, torch.tensor([True]), 16).tolist() == [[[8.0, 4.0, 12.0, 12.0]]]


def test_crop_maps_to_the_whole_view_flipped_or_not():
    crop = torch.tensor([[1.5, 2.0, 9.0, 11.0], [0.0, 0.0, 32.0, 32.0]], dtype=torch.float64)
    for flip in (torch.tensor([False, True]), torch.tensor([True, False])):
        out = map_boxes(crop[:, None], crop, flip, 20)
        torch.testing.assert_close(out[:, 0], torch.tensor([[0.0, 0, 20, 20]] * 2,
                                                           dtype=torch.float64))


def test_crop_intersection_and_grid_hand_computed():
    a = torch.tensor([[0.0, 0.0, 6.0, 4.0]])
    b = torch.tensor([[2.0, 1.0, 10.0, 10.0]])
    assert crop_intersection(a, b).tolist() == [[2.0, 1.0, 6.0, 4.0]]
    g = grid_boxes(torch.tensor([[2.0, 1.0, 8.0, 4.0]]), 3)
    assert g.shape == (1, 9, 4)
    assert g[0, 0].tolist() == [2.0, 1.0, 4.0, 2.0]
    assert g[0, 5].tolist() == [6.0, 2.0, 8.0, 3.0]  # row 1, column 2
    assert g[0, 8].tolist() == [6.0, 3.0, 8.0, 4.0]


def test_visible_fraction_hand_computed_and_empty_slots():
    boxes = torch.tensor([[[0.0, 0.0, 4.0, 2.0], [5.0, 5.0, 5.0, 5.0], [20.0, 0.0, 22.0, 2.0]]])
    crop = torch.tensor([[1.0, 0.0, 10.0, 10.0]])
    assert visible_fraction(boxes, crop).tolist() == [[0.75, 0.0, 0.0]]


# --- invariants ----------------------------------------------------------------------------------

def test_sample_boxes_inside_region_with_min_size():
    region = torch.tensor([[3.0, 1.0, 20.0, 9.0], [0.0, 0.0, 5.0, 30.0]], dtype=torch.float64)
    boxes, valid = sample_boxes(region, 400, gen(6), min_size=6.0)
    assert valid.tolist() == [True, False]
    b = boxes[0]
    assert bool((b[:, :2] >= region[0, :2] - 1e-12).all())
    assert bool((b[:, 2:] <= region[0, 2:] + 1e-12).all())
    side = b[:, 2:] - b[:, :2]
    assert float(side.min()) >= 6.0 - 1e-12
    # widths cover their range [6, 17]: the extremes of 400 uniform draws come within 0.5
    assert float(side[:, 0].min()) < 6.5 and float(side[:, 0].max()) > 16.5
    # an invalid region still yields finite boxes inside it
    assert bool(torch.isfinite(boxes[1]).all())
    assert bool((boxes[1][:, 2:] <= region[1, 2:] + 1e-12).all())


def test_grid_boxes_tile_the_region():
    region = torch.tensor([[1.0, 2.0, 7.0, 11.0]], dtype=torch.float64)
    g = grid_boxes(region, 4)
    area = ((g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1])).sum()
    torch.testing.assert_close(area, torch.tensor(54.0, dtype=torch.float64))
    assert torch.equal(g[0, 0, :2], region[0, :2]) and torch.equal(g[0, -1, 2:], region[0, 2:])


def test_intersection_is_symmetric_and_empty_is_zero_area():
    g = gen(7)
    def boxes():
        xy = torch.sort(10 * torch.rand(50, 2, 2, generator=g), dim=1).values  # rows: min, max
        return xy.reshape(50, 4)  # (x0, y0, x1, y1)

    a, b = boxes(), boxes()
    ab, ba = crop_intersection(a, b), crop_intersection(b, a)
    assert torch.equal(ab, ba)
    assert bool((ab[:, 2:] >= ab[:, :2]).all())
    far = crop_intersection(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[5.0, 5, 6, 6]]))
    assert float((far[:, 2:] - far[:, :2]).prod()) == 0.0


# --- error messages ------------------------------------------------------------------------------

def test_box_errors():
    crop = torch.tensor([[0.0, 0.0, 4.0, 4.0]] * 2)
    flip = torch.tensor([False, False])
    with pytest.raises(ValueError, match="boxes must be 3-D"):
        map_boxes(crop, crop, flip, 4)
    with pytest.raises(ValueError, match="boxes must satisfy x1 >= x0"):
        map_boxes(torch.tensor([[[2.0, 0.0, 1.0, 1.0]]] * 2), crop, flip, 4)
    with pytest.raises(ValueError, match="crop_a and crop_b must have the same shape"):
        crop_intersection(crop, crop[:1])
    with pytest.raises(ValueError, match=r"boxes must have size 1 along dim 0"):
        visible_fraction(torch.zeros(2, 3, 4), crop[:1])
    region = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
    with pytest.raises(ValueError, match="min_size must be > 0"):
        sample_boxes(region, 3, gen(), min_size=0.0)
    with pytest.raises(ValueError, match="k must be >= 1"):
        sample_boxes(region, 0, gen(), min_size=1.0)
    with pytest.raises(ValueError, match="k must be >= 1"):
        grid_boxes(region, 0)


# --- gradients -----------------------------------------------------------------------------------

def test_gradcheck_map_boxes():
    crop = torch.tensor([[0.7, 1.1, 4.9, 5.3], [1.3, 0.4, 5.6, 4.2]], dtype=torch.float64,
                        requires_grad=True)
    flip = torch.tensor([False, True])
    boxes = torch.tensor([[[1.0, 1.5, 3.0, 4.0]], [[2.0, 1.0, 2.5, 3.5]]], dtype=torch.float64,
                         requires_grad=True)
    assert torch.autograd.gradcheck(lambda b, c: map_boxes(b, c, flip, 7), (boxes, crop))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("data.map_boxes", lambda: V.pick(V.scenes(), "boxes", "crop", "flip", "output_size"), (
        V.rank("boxes"), V.shape("crop", lambda k: k["crop"][:, :3]), V.empty("boxes", "crop", "flip"),
        V.nonfinite("boxes"), V.nonpositive("output_size"),
        V.dtype_mismatch("boxes", "crop"), V.device_mismatch("crop", "boxes"), V.wrong_type("boxes"))),
    V.Entry("data.crop_intersection", lambda: {"crop_a": V.scenes()["crop"],
                                               "crop_b": V.scenes()["crop"].flip(0)}, (
        V.rank("crop_a"), V.shape("crop_b", lambda k: k["crop_b"][:1]), V.empty("crop_a", "crop_b"),
        V.nonfinite("crop_a"), V.dtype_mismatch("crop_a", "crop_b"), V.device_mismatch("crop_a", "crop_b"),
        V.wrong_type("crop_a"))),
    V.Entry("data.visible_fraction", lambda: V.pick(V.scenes(), "boxes", "crop"), (
        V.rank("boxes"), V.shape("crop", lambda k: k["crop"][:1]), V.empty("boxes", "crop"),
        V.nonfinite("crop"), V.dtype_mismatch("boxes", "crop"), V.device_mismatch("boxes", "crop"),
        V.wrong_type("boxes"))),
    V.Entry("data.sample_boxes", lambda: {"region": V.scenes()["crop"], "k": 2, "generator": V.gen(),
                                          "min_size": 1.0}, (
        V.rank("region"), V.empty("region"), V.nonfinite("region"), V.nonpositive("k"),
        V.nonpositive("min_size"), V.wrong_type("region"),
        V.wrong_type("generator", lambda x: None, "torch.Generator"))),
    V.Entry("data.grid_boxes", lambda: {"region": V.scenes()["crop"], "k": 2}, (
        V.rank("region"), V.empty("region"), V.nonfinite("region"), V.nonpositive("k"), V.wrong_type("region"))),
]
