"""reptutor.data.images: closed forms of the generators, factor ranges, reproducibility, errors."""
import math

import pytest
import torch

from reptutor.data import SHAPE_CLASSES, make_shapes, make_textures

import _validation as V
from _helpers import gen


# ------------------------------------------------------------------ closed forms
def test_shapes_noise_free_images_are_masks_times_contrast():
    d = make_shapes(300, gen(), noise_std=0.0)
    values = d.x.flatten(1)
    on = values > 0
    # every pixel is 0 or the image's contrast; the shape is never empty
    torch.testing.assert_close(values.amax(1), d.contrast)
    assert bool(torch.all((values == 0) | torch.isclose(values, d.contrast[:, None])))
    assert bool(on.any(1).all())
    # the drawn pixels lie within the radius of the centre (Chebyshev distance <= r + 0.5)
    rows = torch.arange(16.0).view(1, 16, 1).expand(300, 16, 16)
    cols = torch.arange(16.0).view(1, 1, 16).expand(300, 16, 16)
    cheb = torch.maximum((rows - d.position[:, 0, None, None]).abs(),
                         (cols - d.position[:, 1, None, None]).abs())  # (N, H, W)
    assert bool((cheb[on.view(300, 16, 16)] <= d.radius.repeat_interleave(
        on.view(300, -1).sum(1)) + 1e-6).all())


def test_disc_area_matches_pi_r_squared():
    # a filled disc covers about pi r^2 pixels (lattice error O(r)); averaged over many discs
    d = make_shapes(2000, gen(1), noise_std=0.0)
    disc = d.y == SHAPE_CLASSES.index("disc")
    area = (d.x.flatten(1)[disc] > 0).sum(1).double()
    ratio = (area / (math.pi * d.radius[disc].double() ** 2)).mean().item()
    assert ratio == pytest.approx(1.0, abs=0.05)


def test_textures_closed_form_without_noise():
    d = make_textures(50, gen(2), noise_std=0.0, square_intensity=0.0)
    rows = torch.arange(16.0).view(1, 16, 1)
    cols = torch.arange(16.0).view(1, 1, 16)
    theta = d.y.double() * math.pi / 4
    along = rows * torch.sin(theta).view(-1, 1, 1) + cols * torch.cos(theta).view(-1, 1, 1)
    expect = 0.3 * torch.sin(2 * math.pi * along / d.wavelength.double().view(-1, 1, 1)
                             + d.phase.double().view(-1, 1, 1))
    torch.testing.assert_close(d.x[:, 0].double(), expect, atol=1e-5, rtol=0)


def test_textures_square_is_where_the_position_says():
    d = make_textures(100, gen(3), noise_std=0.0, amplitude=0.0, square_intensity=1.0)
    assert bool(((d.x.flatten(1) > 0).sum(1) == 9).all())  # a 3x3 square, nothing else
    ink = d.x[:, 0]
    rows = (ink.sum(2) * torch.arange(16.0)).sum(1) / ink.sum((1, 2))  # centre of mass
    cols = (ink.sum(1) * torch.arange(16.0)).sum(1) / ink.sum((1, 2))
    torch.testing.assert_close(torch.stack([rows, cols], 1), d.position)


# ------------------------------------------------------------------ factor ranges and balance
def test_factor_ranges():
    d = make_shapes(1000, gen(4), min_radius=2.0, max_radius=3.0, num_classes=4)
    assert d.y.min() >= 0 and d.y.max() <= 3 and len(d.y.unique()) == 4
    assert bool(((d.radius >= 2.0) & (d.radius <= 3.0)).all())
    assert bool(((d.position >= 3.0) & (d.position <= 12.0)).all())
    assert bool(((d.contrast >= 0.5) & (d.contrast <= 1.0)).all())
    t = make_textures(1000, gen(5), num_classes=3)
    assert len(t.y.unique()) == 3
    assert bool(((t.phase >= 0) & (t.phase < 2 * math.pi)).all())
    assert bool(((t.wavelength >= 3.0) & (t.wavelength <= 5.0)).all())
    assert bool(((t.position >= 1.0) & (t.position <= 14.0)).all())
    # classes are uniform: counts within 5 binomial standard deviations
    counts = torch.bincount(d.y, minlength=4).double()
    assert bool(((counts - 250).abs() < 5 * math.sqrt(1000 * 0.25 * 0.75)).all())


def test_noise_level():
    d = make_textures(400, gen(6), amplitude=0.0, square_intensity=0.0, noise_std=0.2)
    assert d.x.std().item() == pytest.approx(0.2, rel=0.02)  # 102,400 draws: SE ~ 0.2%


def test_reproducible_and_dtype():
    a, b = make_shapes(20, gen(7)), make_shapes(20, gen(7))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    c = make_textures(20, gen(7), dtype=torch.float64)
    assert c.x.dtype == torch.float64 and c.position.dtype == torch.float64
    assert c.y.dtype == torch.long
    assert make_shapes(3, gen(), image_size=32).x.shape == (3, 1, 32, 32)


# ------------------------------------------------------------------ error messages
def test_errors():
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        make_shapes(3, 0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        make_textures(3, None)
    with pytest.raises(ValueError, match="n must be >= 1"):
        make_shapes(0, gen())
    with pytest.raises(ValueError, match=r"image_size must be >= 2 \* max_radius \+ 2 = 11"):
        make_shapes(3, gen(), image_size=8)
    with pytest.raises(ValueError, match="max_radius must be >= 3.0"):
        make_shapes(3, gen(), min_radius=3.0, max_radius=2.0)
    with pytest.raises(ValueError, match="num_classes must be <= 6"):
        make_shapes(3, gen(), num_classes=7)
    with pytest.raises(ValueError, match="noise_std must be >= 0"):
        make_shapes(3, gen(), noise_std=-0.1)
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype"):
        make_shapes(3, gen(), dtype=torch.int64)
    with pytest.raises(ValueError, match="square_size must be smaller than image_size"):
        make_textures(3, gen(), image_size=4, square_size=4)
    with pytest.raises(ValueError, match="max_wavelength must be >= 3.0"):
        make_textures(3, gen(), max_wavelength=2.0)
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        make_textures(3, gen(), num_classes=1)
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype"):
        make_textures(3, gen(), dtype=torch.int32)


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("data.make_shapes", lambda: {"n": 4, "generator": V.gen()}, (
        V.nonpositive("n"), V.nonpositive("noise_std", -1), V.nonpositive("min_radius"),
        V.out_of_range("num_classes", 7, "<= 6"),
        V.wrong_type("generator", lambda x: None, "torch.Generator"))),
    V.Entry("data.make_textures", lambda: {"n": 4, "generator": V.gen()}, (
        V.nonpositive("n"), V.nonpositive("noise_std", -1), V.nonpositive("min_wavelength"),
        V.wrong_type("generator", lambda x: None, "torch.Generator"))),
]
