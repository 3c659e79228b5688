"""reptutor.data.content_style: the generative model against a reference draw, the pair
structure (what is kept, what is resampled), determinism, and errors."""
import math

import pytest
import torch

from reptutor.data import ContentStyleViews, make_content_style

import _validation as V
from _helpers import gen


def reference(n, seed, *, num_classes=4, num_styles=4, code_dim=4, hidden_dim=64, obs_dim=32,
              noise=0.6, keep_style=0.0):
    """The docstring's model, drawn step by step in the same order from the same generator."""
    g = gen(seed)
    f64 = dict(generator=g, dtype=torch.float64)
    ec = torch.randn(num_classes, code_dim, **f64)
    es = torch.randn(num_styles, code_dim, **f64)
    a = torch.randn(2 * code_dim, hidden_dim, **f64) / math.sqrt(2 * code_dim)
    b = torch.randn(hidden_dim, obs_dim, **f64) / math.sqrt(hidden_dim)
    c = torch.randint(num_classes, (n,), generator=g)
    s1 = torch.randint(num_styles, (n,), generator=g)
    fresh = torch.randint(num_styles, (n,), generator=g)
    keep = torch.rand(n, **f64) < keep_style
    s2 = torch.where(keep, s1, fresh)
    xi = torch.randn(2, n, 2 * code_dim, **f64)
    views = []
    for v, s in enumerate((s1, s2)):
        latent = torch.cat([ec[c], es[s]], 1) + noise * xi[v]  # [E^c_c; E^s_s] + sigma zeta
        views.append(torch.tanh(latent @ a) @ b)
    return torch.stack(views), c, torch.stack([s1, s2])


@pytest.mark.parametrize("keep_style", [0.0, 0.3, 1.0])
def test_matches_the_reference_draw(keep_style):
    d = make_content_style(40, gen(3), keep_style=keep_style, dtype=torch.float64)
    views, c, style = reference(40, 3, keep_style=keep_style)
    assert isinstance(d, ContentStyleViews)
    torch.testing.assert_close(d.views, views)
    assert torch.equal(d.labels, c) and torch.equal(d.style, style)


def test_shapes_dtypes_and_determinism():
    d = make_content_style(50, gen(), num_classes=3, num_styles=5, code_dim=2, hidden_dim=7,
                           obs_dim=6)
    assert d.views.shape == (2, 50, 6) and d.views.dtype == torch.float32
    assert d.labels.shape == (50,) and d.labels.dtype == torch.long
    assert d.style.shape == (2, 50) and d.style.dtype == torch.long
    assert int(d.labels.max()) < 3 and int(d.style.max()) < 5 and int(d.style.min()) >= 0
    assert d.class_codes.shape == (3, 2) and d.style_codes.shape == (5, 2)
    again = make_content_style(50, gen(), num_classes=3, num_styles=5, code_dim=2, hidden_dim=7,
                               obs_dim=6)
    for a, b in zip(d, again):
        assert torch.equal(a, b)
    assert not torch.equal(d.views, make_content_style(50, gen(1), num_classes=3, num_styles=5,
                                                       code_dim=2, hidden_dim=7, obs_dim=6).views)


def test_structure_and_first_view_do_not_depend_on_keep_style_or_n():
    a = make_content_style(300, gen(5), keep_style=0.0)
    b = make_content_style(300, gen(5), keep_style=1.0)
    small = make_content_style(10, gen(5), keep_style=0.5)
    assert torch.equal(a.views[0], b.views[0]) and torch.equal(a.labels, b.labels)
    assert torch.equal(a.class_codes, small.class_codes)
    assert torch.equal(a.style_codes, small.style_codes)
    # only the style of the second view differs between the two pair laws
    same = a.style[1] == b.style[1]
    assert torch.equal(a.views[1][same], b.views[1][same])


def test_pair_law_keep_style():
    s = 4
    for p in (0.0, 0.5, 1.0):
        d = make_content_style(20000, gen(1), num_styles=s, keep_style=p)
        agree = float((d.style[0] == d.style[1]).double().mean())
        expected = p + (1 - p) / s  # kept, or resampled onto the same style by chance
        assert abs(agree - expected) < 0.015, (p, agree, expected)
    # at p = 0 the second style is independent of the first: the joint table is ~uniform
    d = make_content_style(40000, gen(2), num_styles=s, keep_style=0.0)
    joint = torch.zeros(s, s)
    joint.index_put_((d.style[0], d.style[1]), torch.ones(40000), accumulate=True)
    torch.testing.assert_close(joint / 40000, torch.full((s, s), 1 / s**2), atol=0.005, rtol=0)


def test_degenerate_no_codes_no_noise():
    # one class, style kept, no noise: both views of a pair are equal
    d = make_content_style(20, gen(), keep_style=1.0, noise=0.0, dtype=torch.float64)
    torch.testing.assert_close(d.views[0], d.views[1])


def test_errors():
    with pytest.raises(ValueError, match="keep_style"):
        make_content_style(10, gen(), keep_style=1.5)
    with pytest.raises(ValueError, match="noise"):
        make_content_style(10, gen(), noise=-0.1)
    with pytest.raises(ValueError, match="num_styles"):
        make_content_style(10, gen(), num_styles=1)
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype, got torch.int64"):
        make_content_style(10, gen(), dtype=torch.long)


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("data.make_content_style", lambda: {"n": 8, "generator": V.gen()}, (
        V.nonpositive("n"), V.nonpositive("num_classes", 1), V.nonpositive("noise", -1),
        V.wrong_type("generator", lambda x: None, "torch.Generator"))),
]
