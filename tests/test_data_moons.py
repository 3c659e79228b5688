"""reptutor.data.moons: geometry -> the density dip -> determinism -> errors."""
import math

import pytest
import torch

from reptutor.data import make_half_moons

import _validation as V


def test_half_moons_geometry_without_noise():
    d = make_half_moons(500, noise=0.0, generator=torch.Generator().manual_seed(0))
    assert d.x.shape == (500, 2) and d.x.dtype == torch.float64
    right = d.moon == 1
    centre = torch.where(right[:, None], torch.tensor([0.0, 1.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close((d.x - centre).norm(dim=1), torch.ones(500, dtype=torch.float64))
    assert bool((d.x[right, 0] > 0).all() and (d.x[~right, 0] < 0).all())
    assert torch.equal(d.upper, (torch.sin(d.angle) > 0).long())
    assert torch.equal(d.moon, (torch.cos(d.angle) > 0).long())


@pytest.mark.parametrize("dip", [0.0, 0.5, 1.0])
def test_half_moons_density_follows_the_dip(dip):
    d = make_half_moons(20000, dip=dip, width=0.3, generator=torch.Generator().manual_seed(1))
    u = torch.atan2(torch.sin(d.angle), torch.cos(d.angle).abs())
    # q(u) = 1 - dip exp(-u^2 / (2 w^2)) on (-pi/2, pi/2]: fraction with |u| < 0.1, closed form
    grid = torch.linspace(-math.pi / 2, math.pi / 2, 200001, dtype=torch.float64)
    q = 1 - dip * torch.exp(-grid**2 / (2 * 0.3**2))
    expected = float(q[grid.abs() < 0.1].sum() / q.sum())
    assert abs(float((u.abs() < 0.1).double().mean()) - expected) < 4 * math.sqrt(expected / 20000) + 1e-3
    assert abs(float(d.moon.double().mean()) - 0.5) < 0.02


def test_half_moons_deterministic_and_dtype():
    a = make_half_moons(50, generator=torch.Generator().manual_seed(3))
    b = make_half_moons(50, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(s, t) for s, t in zip(a, b))
    c = make_half_moons(50, dtype=torch.float32, generator=torch.Generator().manual_seed(3))
    assert c.x.dtype == torch.float32 and torch.allclose(c.x.double(), a.x, atol=1e-6)


def test_half_moons_errors():
    with pytest.raises(ValueError, match=r"dip must be <= 1.0, got 1.5"):
        make_half_moons(10, dip=1.5)
    with pytest.raises(ValueError, match=r"noise must be >= 0, got -0.1"):
        make_half_moons(10, noise=-0.1)
    with pytest.raises(TypeError, match=r"dtype must be a floating torch.dtype"):
        make_half_moons(10, dtype=torch.long)


VALIDATION = [
    V.Entry("data.make_half_moons", lambda: {"n": 10, "noise": 0.1, "dip": 0.5, "width": 0.3,
                                     "generator": torch.Generator().manual_seed(0)}, (
        V.nonpositive("n"), V.number_type("noise"), V.nonpositive("width"),
        V.out_of_range("dip", 1.5, "<= 1.0"),
        V.wrong_type("generator", lambda g: 0, "torch.Generator"),
        V.custom("type", "n", lambda k: 2.5, V.all_of("n", "integer"), error=TypeError))),
]
