r"""Two half-moons whose density along each arc is controlled.

The geometry is that of the official code of Cabannes, Bietti, Balestriero, *On Minimal
Variations for Unsupervised Representation Learning*, ICASSP 2023, arXiv:2211.03782v1
(``github.com/VivienCabannes/laplacian``, ``src/pssl/datasets/halfmoon.py``): a point
:math:`(\cos\theta, \sin\theta)` of the unit circle, the right half (:math:`\cos\theta > 0`)
moved up by 1, plus isotropic Gaussian noise. Two differences, both said where they matter:
the official code draws :math:`\theta = 2\pi\,\mathcal N(0, 1)` (nearly uniform modulo
:math:`2\pi`), here :math:`\theta` is uniform before thinning; and here the density along the
arcs has a controlled dip at each arc's midpoint, so that the place where a target changes can be
made dense or sparse.

Taught in the chapter *Minimal variations* (``notebooks/02_noncontrastive/03_minimal_variations``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from reptutor import _checks

__all__ = ["HalfMoons", "make_half_moons"]


class HalfMoons(NamedTuple):
    r"""What :func:`make_half_moons` returns.

    Attributes:
        x: (N, 2) points.
        moon: (N,) long, 1 on the right (raised) moon, 0 on the left one.
        angle: (N,) :math:`\theta \in (-\pi, \pi]` before the noise.
        upper: (N,) long, 1 on the upper half of its arc (:math:`\sin\theta > 0`): the split at
            each arc's midpoint (the official code's second downstream bit).
    """

    x: torch.Tensor
    moon: torch.Tensor
    angle: torch.Tensor
    upper: torch.Tensor


def make_half_moons(n: int, generator: torch.Generator | None = None, *, noise: float = 0.1,
                    dip: float = 0.0, width: float = 0.3,
                    dtype: torch.dtype = torch.float64) -> HalfMoons:
    r"""Sample two half-moons with a density dip of depth ``dip`` at each arc's midpoint.

    :math:`\theta` has density proportional to

    .. math::

        q(\theta) = 1 - \mathrm{dip}\cdot\exp\!\Big(-\frac{u(\theta)^2}{2\,\mathrm{width}^2}\Big)

    on :math:`(-\pi, \pi]`, with :math:`u(\theta)` the angle to the midpoint of its arc
    (:math:`\theta = 0` on the right arc, :math:`\theta = \pi` on the left one): ``dip = 0``
    is uniform, ``dip = 1`` empties the midpoints (rejection sampling from the uniform).
    Then :math:`x = (\cos\theta, \sin\theta + \mathbb 1[\cos\theta > 0]) + \sigma\,\xi`,
    :math:`\xi \sim \mathcal N(0, I_2)`. The moons are 1 apart at their closest (centre of one
    circle to the other arc) before the noise.

    Args:
        n: number of points, :math:`\ge 1`.
        generator: CPU random generator (``None``: the global one).
        noise: :math:`\sigma \ge 0`, 0.1 (the official script's ``--sigma_noise``).
        dip: depth of the density dip in :math:`[0, 1]`.
        width: angular width of the dip (radians, :math:`> 0`).
        dtype: floating dtype of ``x`` and ``angle``.

    Returns:
        :class:`HalfMoons` ``(x, moon, angle, upper)``.

    Shape:
        ``x``: (N, 2); ``moon``, ``angle``, ``upper``: (N,).

    Raises:
        TypeError / ValueError: for a non-integer or non-positive ``n``, a negative ``noise``,
            ``dip`` outside ``[0, 1]``, a non-positive ``width``, a ``generator`` that is not a
            CPU :class:`torch.Generator`, or a non-floating ``dtype``.

    Examples:
        With a full dip, few points lie near the midpoints (:math:`|u| < 0.1`): the uniform
        law puts 6.4% of them there.

        >>> g = torch.Generator().manual_seed(0)
        >>> d = make_half_moons(4000, dip=1.0, generator=g)
        >>> u = torch.atan2(torch.sin(d.angle), torch.cos(d.angle).abs())
        >>> float((u.abs() < 0.1).float().mean()) < 0.01
        True
    """
    n = _checks.integer("n", n, minimum=1)
    noise = _checks.number("noise", noise, nonnegative=True)
    dip = _checks.number("dip", dip, minimum=0.0, maximum=1.0)
    width = _checks.number("width", width, positive=True)
    if generator is not None:
        _checks.generator("generator", generator, device="cpu")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    kept: list[torch.Tensor] = []
    count = 0
    while count < n:  # rejection sampling; acceptance >= 1 - sqrt(2 pi) width / (2 pi) per draw
        theta = (2.0 * torch.rand(2 * n + 16, generator=generator, dtype=torch.float64) - 1.0) * math.pi
        # angle to the midpoint of its own arc: theta on the right arc, theta - pi on the left
        u = torch.atan2(torch.sin(theta), torch.cos(theta).abs())
        accept = 1.0 - dip * torch.exp(-u.square() / (2.0 * width * width))
        keep = torch.rand(theta.shape[0], generator=generator, dtype=torch.float64) < accept
        kept.append(theta[keep])
        count += int(keep.sum())
    theta = torch.cat(kept)[:n]
    right = torch.cos(theta) > 0
    x = torch.stack([torch.cos(theta), torch.sin(theta) + right.double()], dim=1)  # (N, 2)
    x = x + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return HalfMoons(x.to(dtype), right.long(), theta.to(dtype), (torch.sin(theta) > 0).long())
