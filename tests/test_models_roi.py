"""reptutor.models.roi: closed forms on constant and affine feature maps, a brute-force
re-implementation of torchvision's RoIAlign (aligned=True) loop, invariants, errors, gradcheck."""
import pytest
import torch

from reptutor.models import RoIAlign, roi_align

import _validation as V
from _helpers import gen


def _random_boxes(n, k, size, gen, lo=0.0, dtype=torch.float64):
    """Boxes with corners uniform in [lo, size - lo], sorted so that x0 <= x1 and y0 <= y1."""
    xy = lo + (size - 2 * lo) * torch.rand(n, k, 2, 2, generator=gen, dtype=dtype)
    xy = torch.sort(xy, dim=2).values  # (N, K, [min, max], [x, y])
    return torch.stack([xy[..., 0, 0], xy[..., 0, 1], xy[..., 1, 0], xy[..., 1, 1]], dim=-1)


def _bilinear_tv(fmap_c, y, x):
    """torchvision's bilinear_interpolate (roi_align_kernel.cpp), for one channel map (H, W)."""
    h, w = fmap_c.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= h - 1:
        y_high = y_low = h - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= w - 1:
        x_high = x_low = w - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    f = fmap_c.tolist()
    return (hy * hx * f[y_low][x_low] + hy * lx * f[y_low][x_high]
            + ly * hx * f[y_high][x_low] + ly * lx * f[y_high][x_high])


def _roi_align_loop(fmap, boxes, image_size, pooled, ratio):
    """RoIAlign box by box, bin by bin, sample by sample (torchvision's algorithm, aligned=True)."""
    n, c, hf, wf = fmap.shape
    scale_y, scale_x = hf / image_size, wf / image_size
    out = torch.zeros(n, boxes.shape[1], c, pooled, pooled, dtype=fmap.dtype)
    for i in range(n):
        for k in range(boxes.shape[1]):
            x0, y0, x1, y1 = boxes[i, k].tolist()
            start_x, start_y = x0 * scale_x - 0.5, y0 * scale_y - 0.5
            bin_w, bin_h = (x1 - x0) * scale_x / pooled, (y1 - y0) * scale_y / pooled
            for ch in range(c):
                for a in range(pooled):
                    for b in range(pooled):
                        total = 0.0
                        for iy in range(ratio):
                            y = start_y + a * bin_h + (iy + 0.5) * bin_h / ratio
                            for ix in range(ratio):
                                x = start_x + b * bin_w + (ix + 0.5) * bin_w / ratio
                                total += _bilinear_tv(fmap[i, ch], y, x)
                        out[i, k, ch, a, b] = total / ratio**2
    return out


# --- closed forms --------------------------------------------------------------------------------

def test_constant_map_pools_to_the_constant_anywhere():
    fmap = torch.full((2, 3, 5, 5), 1.5, dtype=torch.float64)
    boxes = torch.tensor([[[0.0, 0.0, 20.0, 20.0], [-5.0, 3.0, 2.0, 30.0]]] * 2,
                         dtype=torch.float64)
    out = roi_align(fmap, boxes, image_size=20, output_size=3)
    torch.testing.assert_close(out, torch.full_like(out, 1.5), atol=1e-15, rtol=0)


@pytest.mark.parametrize("bins", [1, 2, 3])
def test_affine_map_pools_to_its_value_at_each_bin_centre(bins):
    # bilinear interpolation of an affine function is exact, and the mean of symmetric samples
    # is the bin centre: RoI = a * y_c + b * x_c + c in feature coordinates (u W_f / W - 1/2)
    hf = wf = 8
    rows, cols = torch.meshgrid(torch.arange(hf, dtype=torch.float64),
                                torch.arange(wf, dtype=torch.float64), indexing="ij")
    fmap = torch.stack([0.5 * rows - cols + 2.0, 3 * rows + 0.25 * cols]).unsqueeze(0)
    box = torch.tensor([[[5.0, 6.0, 25.0, 22.0]]], dtype=torch.float64)  # samples stay inside
    out = roi_align(fmap, box, image_size=32, output_size=bins, sampling_ratio=3)
    edges_x = 5.0 + 20.0 * torch.arange(bins + 1, dtype=torch.float64) / bins
    edges_y = 6.0 + 16.0 * torch.arange(bins + 1, dtype=torch.float64) / bins
    cx = ((edges_x[:-1] + edges_x[1:]) / 2) * wf / 32 - 0.5  # (bins,) feature columns
    cy = ((edges_y[:-1] + edges_y[1:]) / 2) * hf / 32 - 0.5
    expected = torch.stack([0.5 * cy[:, None] - cx[None, :] + 2.0,
                            3 * cy[:, None] + 0.25 * cx[None, :]])
    torch.testing.assert_close(out[0, 0], expected, atol=1e-12, rtol=0)


def test_one_cell_box_with_one_sample_reads_that_cell():
    fmap = torch.arange(16.0, dtype=torch.float64).view(1, 1, 4, 4)
    # the box covering feature cell (row 2, column 1) exactly; its single sample is the centre
    box = torch.tensor([[[4.0, 8.0, 8.0, 12.0]]], dtype=torch.float64)
    out = roi_align(fmap, box, image_size=16, sampling_ratio=1)
    assert float(out) == 9.0


# --- reference: torchvision's algorithm, written as loops ----------------------------------------

@pytest.mark.parametrize("bins,ratio", [(1, 2), (2, 1), (2, 3)])
def test_matches_loop_reference_for_boxes_inside_the_image(bins, ratio):
    g = gen(1)
    fmap = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    # a 20 x 24 image (stride 4): boxes inside [0, 20] x [0, 24], some tiny, some near edges
    raw = _random_boxes(2, 6, 1.0, g)
    boxes = raw * torch.tensor([24.0, 20.0, 24.0, 20.0], dtype=torch.float64)
    boxes[0, 0] = torch.tensor([0.0, 0.0, 24.0, 20.0], dtype=torch.float64)  # the whole image
    boxes[1, 0] = torch.tensor([23.0, 19.0, 24.0, 20.0], dtype=torch.float64)  # bottom-right
    ours = roi_align(fmap, boxes, image_size=(20, 24), output_size=bins, sampling_ratio=ratio)
    ref = _roi_align_loop_rect(fmap, boxes, (20, 24), bins, ratio)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)


def _roi_align_loop_rect(fmap, boxes, image_hw, pooled, ratio):
    # same as _roi_align_loop but with separate row and column scales
    n, c, hf, wf = fmap.shape
    h, w = image_hw
    out = torch.zeros(n, boxes.shape[1], c, pooled, pooled, dtype=fmap.dtype)
    for i in range(n):
        for k in range(boxes.shape[1]):
            x0, y0, x1, y1 = boxes[i, k].tolist()
            start_x, start_y = x0 * wf / w - 0.5, y0 * hf / h - 0.5
            bin_w, bin_h = (x1 - x0) * wf / w / pooled, (y1 - y0) * hf / h / pooled
            for ch in range(c):
                for a in range(pooled):
                    for b in range(pooled):
                        total = 0.0
                        for iy in range(ratio):
                            y = start_y + a * bin_h + (iy + 0.5) * bin_h / ratio
                            for ix in range(ratio):
                                x = start_x + b * bin_w + (ix + 0.5) * bin_w / ratio
                                total += _bilinear_tv(fmap[i, ch], y, x)
                        out[i, k, ch, a, b] = total / ratio**2
    return out


def test_square_reference_and_outside_boxes_extend_the_border():
    g = gen(2)
    fmap = torch.randn(1, 2, 4, 4, generator=g, dtype=torch.float64)
    inside = _random_boxes(1, 5, 16.0, g)
    torch.testing.assert_close(roi_align(fmap, inside, image_size=16),
                               _roi_align_loop(fmap, inside, 16, 1, 2), atol=1e-12, rtol=0)
    # far outside the image torchvision reads zeros; this implementation extends the border
    far = torch.tensor([[[40.0, 40.0, 48.0, 48.0]]], dtype=torch.float64)
    assert float(_roi_align_loop(fmap, far, 16, 1, 2).abs().max()) == 0.0
    torch.testing.assert_close(roi_align(fmap, far, image_size=16)[0, 0, :, 0, 0],
                               fmap[0, :, -1, -1], atol=1e-15, rtol=0)


# --- invariants ----------------------------------------------------------------------------------

def test_permuting_boxes_permutes_outputs_and_images_are_independent():
    g = gen(3)
    fmap = torch.randn(3, 4, 6, 6, generator=g, dtype=torch.float64)
    boxes = _random_boxes(3, 7, 24.0, g)
    out = roi_align(fmap, boxes, image_size=24, output_size=2)
    perm = torch.randperm(7, generator=g)
    torch.testing.assert_close(roi_align(fmap, boxes[:, perm], image_size=24, output_size=2),
                               out[:, perm], atol=0, rtol=0)
    changed = fmap.clone()
    changed[1] += 10.0
    again = roi_align(changed, boxes, image_size=24, output_size=2)
    assert torch.equal(again[0], out[0]) and torch.equal(again[2], out[2])


def test_only_the_box_to_image_ratio_matters():
    g = gen(4)
    fmap = torch.randn(1, 2, 5, 5, generator=g, dtype=torch.float64)
    boxes = _random_boxes(1, 4, 20.0, g)
    torch.testing.assert_close(roi_align(fmap, boxes, image_size=20),
                               roi_align(fmap, 3 * boxes, image_size=60), atol=1e-12, rtol=0)


def test_translation_equivariance_by_one_cell():
    g = gen(5)
    fmap = torch.randn(1, 2, 8, 8, generator=g, dtype=torch.float64)
    shifted = torch.roll(fmap, shifts=(1, 2), dims=(2, 3))  # move content down 1, right 2 cells
    boxes = _random_boxes(1, 6, 16.0, g, lo=2.0)  # stride 4 on a 32-pixel image: stay interior
    moved = boxes + torch.tensor([8.0, 4.0, 8.0, 4.0], dtype=torch.float64)
    torch.testing.assert_close(roi_align(shifted, moved, image_size=32),
                               roi_align(fmap, boxes, image_size=32), atol=1e-12, rtol=0)


def test_linear_in_the_feature_map_and_follows_dtype():
    g = gen(6)
    a = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
    b = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
    boxes = _random_boxes(2, 3, 16.0, g)
    lhs = roi_align(2 * a - b, boxes, image_size=16)
    rhs = 2 * roi_align(a, boxes, image_size=16) - roi_align(b, boxes, image_size=16)
    torch.testing.assert_close(lhs, rhs, atol=1e-12, rtol=0)
    assert lhs.dtype == torch.float64
    out32 = roi_align(a.float(), boxes.float(), image_size=16)
    assert out32.dtype == torch.float32 and out32.shape == (2, 3, 3, 1, 1)


def test_module_matches_function():
    g = gen(7)
    fmap = torch.randn(2, 3, 4, 4, generator=g)
    boxes = _random_boxes(2, 2, 16.0, g, dtype=torch.float32)
    pool = RoIAlign((16, 16), output_size=2, sampling_ratio=3)
    assert torch.equal(pool(fmap, boxes), roi_align(fmap, boxes, image_size=16, output_size=2,
                                                    sampling_ratio=3))
    assert "output_size=2" in repr(pool)


# --- error messages ------------------------------------------------------------------------------

def test_errors():
    fmap = torch.randn(2, 3, 4, 4)
    boxes = torch.tensor([[[0.0, 0.0, 4.0, 4.0]]] * 2)
    with pytest.raises(ValueError, match="feature_map must be 4-D"):
        roi_align(fmap[0], boxes, image_size=16)
    with pytest.raises(ValueError, match="boxes must be 3-D"):
        roi_align(fmap, boxes[0], image_size=16)
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, K, 4\)"):
        roi_align(fmap, torch.zeros(2, 1, 5), image_size=16)
    with pytest.raises(ValueError, match="one set of boxes per feature map"):
        roi_align(fmap, boxes[:1], image_size=16)
    with pytest.raises(ValueError, match="boxes must satisfy x1 >= x0"):
        roi_align(fmap, torch.tensor([[[3.0, 0.0, 1.0, 4.0]]] * 2), image_size=16)
    with pytest.raises(TypeError, match="feature_map and boxes must have the same dtype"):
        roi_align(fmap, boxes.double(), image_size=16)
    with pytest.raises(ValueError, match=r"image_size must be an integer or a pair \(H, W\)"):
        roi_align(fmap, boxes, image_size=(16, 16, 3))
    with pytest.raises(TypeError, match="image_size must be an integer"):
        roi_align(fmap, boxes, image_size=16.0)
    with pytest.raises(ValueError, match="output_size must be >= 1"):
        roi_align(fmap, boxes, image_size=16, output_size=0)
    with pytest.raises(ValueError, match="sampling_ratio must be >= 1"):
        RoIAlign(16, sampling_ratio=0)
    with pytest.raises(ValueError, match="boxes must be finite"):
        roi_align(fmap, torch.full((2, 1, 4), float("nan")), image_size=16)


# --- gradients -----------------------------------------------------------------------------------

def test_gradcheck_features_and_boxes():
    g = gen(8)
    fmap = torch.randn(2, 2, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    # corners away from sample points that land exactly on cell centres (kinks of bilinear)
    boxes = (_random_boxes(2, 3, 16.0, g, lo=0.7) + 0.013).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda f, b: roi_align(f, b, image_size=16, output_size=2), (fmap, boxes))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("models.roi_align", lambda: {"feature_map": V.randn(2, 3, 4, 4),
                                         "boxes": V.scenes()["boxes"][:, :2], "image_size": 16}, (
        V.rank("feature_map", lambda x: x[0]), V.shape("boxes", lambda k: k["boxes"][:1]),
        V.empty("feature_map", "boxes"), V.nonfinite("boxes"), V.nonpositive("output_size"),
        V.nonpositive("sampling_ratio"), V.nonpositive("image_size"),
        V.dtype_mismatch("feature_map", "boxes"), V.device_mismatch("feature_map", "boxes"),
        V.wrong_type("feature_map"))),
    V.Entry("models.RoIAlign", lambda: {"feature_map": V.randn(2, 3, 4, 4),
                                        "boxes": V.scenes()["boxes"][:, :2], "image_size": 16}, (
        V.nonpositive("image_size"), V.nonpositive("output_size"), V.rank("boxes", lambda x: x[0]),
        V.wrong_type("image_size", lambda x: "16", "integer")),
        ctor=("image_size", "output_size", "sampling_ratio")),
]
