"""reptutor.data.scenes: the rendered views against the box geometry of reptutor.data.boxes (the
matched-box identity on images that are linear in the coordinates, where bilinear resampling is
exact), invariants of the scenes and the random crops, error messages, gradcheck. The box
geometry alone is tested in test_data_boxes.py."""
import math

import pytest
import torch

from reptutor.data import (
    SCENE_CLASSES,
    Scenes,
    Views,
    crop_intersection,
    crop_resize,
    grid_boxes,
    make_scenes,
    map_boxes,
    random_resized_crop,
    visible_fraction,
)
from reptutor.models import roi_align

import _validation as V
from _helpers import gen


def _ramp(n, size, dtype=torch.float64):
    """Images whose channels are affine in the pixel-centre coordinates (x, y)."""
    centre = torch.arange(size, dtype=dtype) + 0.5
    x, y = centre.view(1, size), centre.view(size, 1)
    chans = torch.stack([2 * x + 0 * y, -x + 3 * y, 0.5 * x + 0.25 * y + 1.0])  # (3, H, W)
    return chans.unsqueeze(0).expand(n, 3, size, size).clone(), chans


# --- closed forms --------------------------------------------------------------------------------

def test_crop_resize_identity_flip_and_integer_crop():
    img = torch.randn(2, 3, 8, 8, generator=gen(), dtype=torch.float64)
    full = torch.tensor([[0.0, 0.0, 8.0, 8.0]] * 2, dtype=torch.float64)
    no, yes = torch.tensor([False, False]), torch.tensor([True, True])
    torch.testing.assert_close(crop_resize(img, full, no, 8), img, atol=1e-12, rtol=0)
    torch.testing.assert_close(crop_resize(img, full, yes, 8), img.flip(-1), atol=1e-12, rtol=0)
    # a pixel-aligned crop at its own size copies the pixels exactly
    crop = torch.tensor([[2.0, 3.0, 6.0, 7.0]] * 2, dtype=torch.float64)
    torch.testing.assert_close(crop_resize(img, crop, no, 4), img[:, :, 3:7, 2:6], atol=1e-12,
                               rtol=0)


# --- the matched-box identity (Proposition p08-prop-matched) ------------------------------------

@pytest.mark.parametrize("flip", [False, True])
def test_views_render_the_image_at_the_inverse_box_map(flip):
    # on an affine image, bilinear resampling is exact: view pixel p shows x(T^{-1}(p))
    size, out = 16, 12
    img, _ = _ramp(1, size)
    crop = torch.tensor([[2.25, 3.5, 13.0, 12.75]], dtype=torch.float64)  # >= 0.5 px inside
    view = crop_resize(img, crop, torch.tensor([flip]), out)
    q = torch.arange(out, dtype=torch.float64) + 0.5  # view pixel centres
    w, h = crop[0, 2] - crop[0, 0], crop[0, 3] - crop[0, 1]
    xs = crop[0, 0] + w * (out - q if flip else q) / out  # T^{-1}, columns
    ys = crop[0, 1] + h * q / out
    expect_x, expect_y = xs.view(1, out), ys.view(out, 1)
    expected = torch.stack([2 * expect_x + 0 * expect_y, -expect_x + 3 * expect_y,
                            0.5 * expect_x + 0.25 * expect_y + 1.0])
    torch.testing.assert_close(view[0], expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize("flips", [(False, False), (True, False), (False, True), (True, True)])
def test_matched_boxes_pool_the_same_content_from_both_views(flips):
    size, out = 32, 24
    img, _ = _ramp(1, size)
    c1 = torch.tensor([[1.0, 2.0, 25.0, 30.0]], dtype=torch.float64)
    c2 = torch.tensor([[6.0, 0.75, 31.0, 20.0]], dtype=torch.float64)
    f1, f2 = torch.tensor([flips[0]]), torch.tensor([flips[1]])
    v1, v2 = crop_resize(img, c1, f1, out), crop_resize(img, c2, f2, out)
    shared = crop_intersection(c1, c2)
    boxes = grid_boxes(shared + torch.tensor([[1.0, 1.0, -1.0, -1.0]], dtype=torch.float64), 3)
    r_img = roi_align(img, boxes, image_size=size)  # pooled from the image itself
    r1 = roi_align(v1, map_boxes(boxes, c1, f1, out), image_size=out)
    r2 = roi_align(v2, map_boxes(boxes, c2, f2, out), image_size=out)
    torch.testing.assert_close(r1, r_img, atol=1e-10, rtol=0)
    torch.testing.assert_close(r2, r_img, atol=1e-10, rtol=0)
    # a wrong offset breaks the correspondence (the chapter's deliberate break)
    shifted = c1 + torch.tensor([[3.0, 0.0, 3.0, 0.0]], dtype=torch.float64)
    r_bad = roi_align(v1, map_boxes(boxes, shifted, f1, out), image_size=out)
    assert (r_bad - r_img).abs().max() > 1.0


# --- invariants of make_scenes -------------------------------------------------------------------

def test_scenes_structure_and_determinism():
    s = make_scenes(300, gen(1), image_size=32, min_objects=2, max_objects=4, num_classes=6)
    assert isinstance(s, Scenes)
    assert s.x.shape == (300, 3, 32, 32) and s.boxes.shape == (300, 4, 4)
    counts = s.valid.sum(1)
    assert int(counts.min()) == 2 and int(counts.max()) == 4
    assert bool((s.labels[s.valid] >= 0).all()) and bool((s.labels[s.valid] < 6).all())
    assert bool((s.labels[~s.valid] == -1).all())
    assert bool((s.boxes[~s.valid] == 0).all())
    b = s.boxes[s.valid]
    assert bool((b >= 0).all()) and bool((b <= 32).all())
    side = b[:, 2:] - b[:, :2]
    assert bool((side >= 7.0 - 1e-5).all()) and bool((side <= 12.0 + 1e-5).all())
    torch.testing.assert_close(side[:, 0], side[:, 1])  # square boxes (up to rounding)
    again = make_scenes(300, gen(1), image_size=32, min_objects=2, max_objects=4, num_classes=6)
    assert torch.equal(s.x, again.x) and torch.equal(s.boxes, again.boxes)
    # all six classes occur
    assert set(s.labels[s.valid].tolist()) == set(range(len(SCENE_CLASSES)))


def test_random_crops_of_multi_object_scenes_often_show_different_objects():
    # SCRL's motivation as a property of the data (it was a claim of the SCRL chapter, but no
    # model enters it): with SCRL's crop scale [0.2, 1] on the chapter's 32-pixel scenes of 3-4
    # objects, most view pairs show different sets of objects (an object is shown when at least
    # half of its box is inside the crop). Full-image crops (scale 1, aspect 1) never differ.
    s = make_scenes(2000, gen(3), image_size=32, min_objects=3, max_objects=4)

    def differ(scale, ratio):
        v1 = random_resized_crop(s.x, gen(4), output_size=16, scale=scale, ratio=ratio)
        v2 = random_resized_crop(s.x, gen(5), output_size=16, scale=scale, ratio=ratio)
        shown1 = (visible_fraction(s.boxes, v1.crop) >= 0.5) & s.valid  # (N, O)
        shown2 = (visible_fraction(s.boxes, v2.crop) >= 0.5) & s.valid
        return (shown1 != shown2).any(dim=1).float().mean().item()

    assert differ((0.2, 1.0), (3 / 4, 4 / 3)) > 0.5  # 0.74 with these seeds
    assert differ((1.0, 1.0), (1.0, 1.0)) == 0.0


def test_objects_never_overlap():
    s = make_scenes(200, gen(2), image_size=32, min_objects=4, max_objects=4)
    b = s.boxes  # (N, 4, 4), every slot valid
    lo = torch.maximum(b[:, :, None, :2], b[:, None, :, :2])
    hi = torch.minimum(b[:, :, None, 2:], b[:, None, :, 2:])
    inter = (hi - lo).clamp(min=0).prod(-1)  # (N, O, O)
    off = ~torch.eye(4, dtype=torch.bool)
    assert float(inter[:, off].max()) == 0.0


def test_pixels_outside_boxes_are_background_and_squares_fill_their_box():
    s = make_scenes(100, gen(3), noise_std=0.0, background_std=0.0, num_classes=1)  # squares
    centre = torch.arange(32.0) + 0.5
    x, y = centre.view(1, 1, 1, 32), centre.view(1, 1, 32, 1)
    b = s.boxes.view(100, 4, 1, 1, 4)
    inside = (x >= b[..., 0]) & (x <= b[..., 2]) & (y >= b[..., 1]) & (y <= b[..., 3])
    inside = inside & s.valid.view(100, 4, 1, 1)  # (N, O, H, W)
    # the background is one colour per scene (no smooth field, no noise)
    bg = s.x[:, :, 0, 0]  # the corner pixel; check it is background first
    assert not bool(inside[:, :, 0, 0].any())
    outside = ~inside.any(1)  # (N, H, W)
    diff = (s.x - bg[:, :, None, None]).abs().amax(1)  # (N, H, W)
    assert float(diff[outside].max()) == 0.0
    # a square covers every pixel centre of its box with its colour
    painted = (s.x[:, None] - s.colors[..., None, None]).abs().amax(2)  # (N, O, H, W)
    assert float(painted[inside].max()) == 0.0


def test_scenes_follow_generator_dtype():
    s = make_scenes(3, gen(), dtype=torch.float64)
    assert s.x.dtype == s.boxes.dtype == s.colors.dtype == torch.float64
    assert s.labels.dtype == torch.long and s.valid.dtype == torch.bool


# --- invariants of random_resized_crop ------------------------------------------------------------

def test_random_resized_crop_respects_its_ranges():
    img = torch.rand(4000, 1, 20, 30, generator=gen())
    v = random_resized_crop(img, gen(4), output_size=8, scale=(0.1, 0.5), ratio=(0.5, 2.0),
                            flip_prob=0.3)
    assert isinstance(v, Views) and v.x.shape == (4000, 1, 8, 8)
    w, h = v.crop[:, 2] - v.crop[:, 0], v.crop[:, 3] - v.crop[:, 1]
    assert bool((v.crop[:, :2] >= 0).all()) and bool((v.crop[:, 2] <= 30).all())
    assert bool((v.crop[:, 3] <= 20).all())
    unclamped = (w < 30) & (h < 20)
    frac = (w * h / 600)[unclamped]
    assert float(frac.min()) >= 0.1 - 1e-5 and float(frac.max()) <= 0.5 + 1e-5
    aspect = (w / h)[unclamped]
    assert float(aspect.min()) >= 0.5 - 1e-5 and float(aspect.max()) <= 2.0 + 1e-5
    # flips are Bernoulli(0.3): 4000 draws, 4 standard deviations ~ 0.029
    assert abs(v.flip.float().mean().item() - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 4000)
    # the views are exactly what crop_resize renders from the returned parameters
    assert torch.equal(v.x, crop_resize(img, v.crop, v.flip, 8))


def test_brightness_jitter_scales_each_view():
    img = torch.full((500, 3, 8, 8), 0.5)
    v = random_resized_crop(img, gen(5), output_size=4, brightness=0.4)
    factor = v.x[:, 0, 0, 0] / 0.5
    assert float(factor.min()) >= 0.6 - 1e-6 and float(factor.max()) <= 1.4 + 1e-6
    assert torch.allclose(v.x, 0.5 * factor.view(-1, 1, 1, 1).expand_as(v.x))  # one per view
    plain = random_resized_crop(img, gen(5), output_size=4)
    assert torch.allclose(plain.x, torch.full_like(plain.x, 0.5))


# --- error messages ------------------------------------------------------------------------------

def test_make_scenes_errors():
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        make_scenes(2, 0)
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype"):
        make_scenes(2, gen(), dtype=torch.int64)
    with pytest.raises(ValueError, match="max_size must be <= the cell side"):
        make_scenes(2, gen(), image_size=20, max_size=12.0)
    with pytest.raises(ValueError, match="max_objects must be >= 3"):
        make_scenes(2, gen(), min_objects=3, max_objects=2)
    with pytest.raises(ValueError, match="num_classes must be <= 6"):
        make_scenes(2, gen(), num_classes=7)
    with pytest.raises(ValueError, match="max_size must be >= 7.0"):
        make_scenes(2, gen(), min_size=7.0, max_size=5.0)
    with pytest.raises(ValueError, match="noise_std must be >= 0"):
        make_scenes(2, gen(), noise_std=-1.0)


def test_crop_errors():
    img = torch.rand(2, 3, 8, 8)
    crop = torch.tensor([[0.0, 0.0, 4.0, 4.0]] * 2)
    flip = torch.tensor([False, False])
    with pytest.raises(ValueError, match="crop must have positive width and height"):
        crop_resize(img, torch.tensor([[0.0, 0.0, 0.0, 4.0]] * 2), flip, 4)
    with pytest.raises(ValueError, match="crop must satisfy x1 >= x0"):
        crop_resize(img, torch.tensor([[3.0, 0.0, 1.0, 4.0]] * 2), flip, 4)
    with pytest.raises(TypeError, match="flip must be a 1-D torch.bool tensor"):
        crop_resize(img, crop, torch.tensor([0, 1]), 4)
    with pytest.raises(ValueError, match="flip must have one flag per crop"):
        crop_resize(img, crop, torch.tensor([False]), 4)
    with pytest.raises(ValueError, match=r"crop must have size 2 along dim 0 \(one crop per"):
        crop_resize(img, crop[:1], flip[:1], 4)
    with pytest.raises(ValueError, match="output_size must be >= 1"):
        crop_resize(img, crop, flip, 0)
    with pytest.raises(ValueError, match="crop must hold"):
        crop_resize(img, torch.zeros(2, 3), flip, 4)
    with pytest.raises(TypeError, match="images and crop must have the same dtype"):
        crop_resize(img.double(), crop, flip, 4)


def test_random_crop_errors():
    img = torch.rand(2, 3, 8, 8)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        random_resized_crop(img, None, output_size=4)
    with pytest.raises(ValueError, match=r"scale must lie in \(0, 1\]"):
        random_resized_crop(img, gen(), output_size=4, scale=(0.5, 1.5))
    with pytest.raises(TypeError, match=r"ratio must be a pair \(low, high\)"):
        random_resized_crop(img, gen(), output_size=4, ratio=1.0)
    with pytest.raises(ValueError, match=r"scale\[1\] must be >= 0.5"):
        random_resized_crop(img, gen(), output_size=4, scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="flip_prob must be <= 1.0"):
        random_resized_crop(img, gen(), output_size=4, flip_prob=2.0)
    with pytest.raises(ValueError, match="brightness must be >= 0"):
        random_resized_crop(img, gen(), output_size=4, brightness=-0.1)
    with pytest.raises(ValueError, match="images must be 4-D"):
        random_resized_crop(img[0], gen(), output_size=4)


# --- gradients -----------------------------------------------------------------------------------

def test_gradcheck_crop_resize():
    img = torch.rand(2, 2, 6, 6, generator=gen(8), dtype=torch.float64, requires_grad=True)
    crop = torch.tensor([[0.7, 1.1, 4.9, 5.3], [1.3, 0.4, 5.6, 4.2]], dtype=torch.float64,
                        requires_grad=True)
    flip = torch.tensor([False, True])
    assert torch.autograd.gradcheck(lambda a, c: crop_resize(a, c, flip, 5), (img, crop))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("data.make_scenes", lambda: {"n": 2, "generator": V.gen(), "image_size": 16,
                                         "min_size": 4.0, "max_size": 6.0}, (
        V.nonpositive("n"), V.nonpositive("min_size"), V.nonpositive("noise_std", -1),
        V.wrong_type("generator", lambda x: None, "torch.Generator"))),
    V.Entry("data.random_resized_crop", lambda: {**V.pick(V.scenes(), "images", "output_size"), "generator": V.gen()}, (
        V.rank("images"), V.empty("images"), V.nonfinite("images"), V.nonpositive("output_size"),
        V.nonpositive("brightness", -1),
        V.out_of_range("flip_prob", 1.5, "<= 1"),
        V.wrong_type("images"), V.wrong_type("generator", lambda x: None, "torch.Generator"))),
    V.Entry("data.crop_resize", lambda: V.pick(V.scenes(), "images", "crop", "flip", "output_size"), (
        V.rank("images"), V.shape("crop", lambda k: k["crop"][:, :3]), V.empty("images", "crop", "flip"),
        V.nonfinite("images"), V.nonfinite("crop"), V.nonpositive("output_size"),
        V.dtype_mismatch("images", "crop"), V.device_mismatch("crop", "images"), V.wrong_type("images"))),
]
