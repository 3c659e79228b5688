r"""Small procedural images with class labels and known nuisance factors.

Cheap stand-ins for the image datasets of the Deep InfoMax experiments (Hjelm et al.,
"Learning deep representations by mutual information estimation and maximization", ICLR 2019,
arXiv:1808.06670, which used CIFAR-10/100, Tiny ImageNet, STL-10 and CelebA). Two generators
whose class lives at different spatial scales:

* :func:`make_shapes`: one of ``SHAPE_CLASSES`` at a random position, size and contrast on
  a noisy background: the class is an *object*, seen whole only by a large receptive field;
* :func:`make_textures`: an oriented grating (the class) filling the image, plus a small bright
  square at a random position: the class is a *texture* visible in every patch, the square a
  *local* nuisance seen by a few patches only.

A downstream probe can be asked for the class and for the position (a nuisance that a
representation may or may not keep). Nothing is downloaded; a few thousand images take
milliseconds.

Taught in the chapter *Deep InfoMax: local and global mutual information*
(``notebooks/01_information/03_deep_infomax``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from reptutor import _checks

__all__ = ["make_shapes", "ShapeImages", "SHAPE_CLASSES", "make_textures", "TextureImages"]

#: The class names, in label order.
SHAPE_CLASSES = ("square", "disc", "ring", "plus", "cross", "triangle")


class ShapeImages(NamedTuple):
    """Images from :func:`make_shapes` with their labels and generating factors."""

    #: The images, ``(N, 1, H, W)``, floating.
    x: torch.Tensor
    #: The class, an index into ``SHAPE_CLASSES``, ``(N,)`` long.
    y: torch.Tensor
    #: The shape's centre (row, column) in pixels, ``(N, 2)``.
    position: torch.Tensor
    #: The shape's half-size in pixels, ``(N,)``.
    radius: torch.Tensor
    #: The shape's intensity above the background, ``(N,)``.
    contrast: torch.Tensor


def make_shapes(
    n: int,
    generator: torch.Generator,
    *,
    image_size: int = 16,
    min_radius: float = 2.5,
    max_radius: float = 4.5,
    noise_std: float = 0.2,
    num_classes: int = len(SHAPE_CLASSES),
    dtype: torch.dtype = torch.float32,
) -> ShapeImages:
    r"""Draw ``n`` grey images, each one filled shape at a random place on a noisy background.

    For image :math:`n` with class :math:`k_n`, centre :math:`c_n`, radius :math:`r_n` and
    contrast :math:`a_n`, pixel :math:`u` (row, column) has value

    .. math::

        x_n[u] = a_n\,\mathbb 1\{u - c_n \in S_{k_n}(r_n)\} + \sigma\,\xi_{n,u},
        \qquad \xi_{n,u} \sim \mathcal N(0, 1),

    where, with :math:`(\delta_1, \delta_2) = u - c_n` and :math:`t = r/3` (stroke
    half-width), the shapes :math:`S_k(r)` are: ``square``
    :math:`\max(|\delta_1|, |\delta_2|) \le 0.85\,r`; ``disc``
    :math:`\lVert\delta\rVert \le r`; ``ring`` :math:`0.55\,r \le \lVert\delta\rVert \le r`;
    ``plus`` a vertical and a horizontal bar of half-width :math:`t` and half-length
    :math:`r`; ``cross`` the two diagonals, :math:`\big||\delta_1| - |\delta_2|\big| \le
    \sqrt2\,t` inside the square of half-size :math:`0.85\,r`; ``triangle`` pointing up,
    :math:`|\delta_2| \le (\delta_1 + r)/2` for :math:`|\delta_1| \le r`. The factors are
    independent: :math:`k_n` uniform on the first ``num_classes`` classes,
    :math:`r_n \sim U[r_{\min}, r_{\max}]`, :math:`c_n \sim U[r_{\max}, H - 1 - r_{\max}]^2`
    (the shape stays inside the image), :math:`a_n \sim U[0.5, 1]`. The defaults are this
    book's choice, sized so that a linear probe on raw pixels is far from perfect (the class
    is not linearly readable from pixels because of the random position) while a small
    convolutional encoder can reach high accuracy.

    Args:
        n: the number of images, at least 1.
        generator: the random generator; the images live on its device.
        image_size: the side :math:`H = W` in pixels, at least ``2 * max_radius + 2``.
        min_radius: the smallest radius :math:`r_{\min} > 0`.
        max_radius: the largest radius :math:`r_{\max} \ge r_{\min}`.
        noise_std: the background noise :math:`\sigma \ge 0`.
        num_classes: use only the first ``num_classes`` of ``SHAPE_CLASSES`` (2 to 6).
        dtype: floating dtype of the images and factors.

    Returns:
        :class:`ShapeImages` ``(x, y, position, radius, contrast)``.

    Shape:
        ``x``: ``(N, 1, H, H)``; ``y``, ``radius``, ``contrast``: ``(N,)``;
        ``position``: ``(N, 2)``.

    Raises:
        TypeError: if ``generator`` is not a :class:`torch.Generator`, ``dtype`` is not
            floating, or a size is not an integer.
        ValueError: for out-of-range sizes, radii, noise or class count.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> data = make_shapes(600, g, noise_std=0.0)
        >>> data.x.shape, data.y.shape, data.position.shape
        (torch.Size([600, 1, 16, 16]), torch.Size([600]), torch.Size([600, 2]))
        >>> # without noise, a pixel is either background (0) or the shape's contrast
        >>> on = data.x.flatten(1) > 0
        >>> bool(torch.allclose(data.x.flatten(1).amax(1), data.contrast))
        True
        >>> # rings have a hole: less ink than discs of the same radius, on average
        >>> ink = on.sum(1).double() / data.radius.double() ** 2
        >>> bool(ink[data.y == 2].mean() < ink[data.y == 1].mean())
        True
    """
    _checks.integer("n", n, minimum=1)
    _checks.generator("generator", generator)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    size = _checks.integer("image_size", image_size, minimum=4)
    r_min = _checks.number("min_radius", min_radius, positive=True)
    r_max = _checks.number("max_radius", max_radius, minimum=r_min)
    if size < 2 * r_max + 2:
        raise ValueError(
            f"image_size must be >= 2 * max_radius + 2 = {2 * r_max + 2:g} so that every shape "
            f"fits, got image_size={size} and max_radius={r_max:g}"
        )
    sigma = _checks.number("noise_std", noise_std, nonnegative=True)
    k = _checks.integer("num_classes", num_classes, minimum=2, maximum=len(SHAPE_CLASSES))
    dev = generator.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        u = torch.rand(*shape, generator=generator, device=dev, dtype=dtype)
        return lo + (hi - lo) * u

    y = torch.randint(0, k, (n,), generator=generator, device=dev)  # (N,) classes
    radius = uniform(r_min, r_max, n)  # (N,)
    position = uniform(r_max, size - 1 - r_max, n, 2)  # (N, 2) centre (row, column)
    contrast = uniform(0.5, 1.0, n)  # (N,)
    grid = torch.arange(size, device=dev, dtype=dtype)  # (H,)
    d1 = grid.view(1, size, 1) - position[:, 0].view(n, 1, 1)  # (N, H, 1) row offset
    d2 = grid.view(1, 1, size) - position[:, 1].view(n, 1, 1)  # (N, 1, H) column offset
    r = radius.view(n, 1, 1)
    a1, a2 = d1.abs(), d2.abs()
    box = torch.maximum(a1, a2)  # (N, H, H) Chebyshev distance to the centre
    dist2 = d1 * d1 + d2 * d2  # (N, H, H) squared Euclidean distance
    t = r / 3.0  # stroke half-width
    masks = torch.stack(  # (6, N, H, H) every class drawn for every image; one is kept below
        [
            box <= 0.85 * r,  # square
            dist2 <= r * r,  # disc
            (dist2 <= r * r) & (dist2 >= (0.55 * r) ** 2),  # ring
            ((a1 <= t) & (a2 <= r)) | ((a2 <= t) & (a1 <= r)),  # plus
            ((a1 - a2).abs() <= 2**0.5 * t) & (box <= 0.85 * r),  # cross (x)
            (a1 <= r) & (a2 <= (d1 + r) / 2),  # triangle, apex up
        ]
    )
    mask = masks[y, torch.arange(n, device=dev)]  # (N, H, H) the drawn class per image
    x = contrast.view(n, 1, 1) * mask.to(dtype)  # (N, H, H)
    if sigma > 0:
        x = x + sigma * torch.randn(x.shape, generator=generator, device=dev, dtype=dtype)
    return ShapeImages(x.unsqueeze(1), y, position, radius, contrast)


class TextureImages(NamedTuple):
    """Images from :func:`make_textures` with their labels and generating factors."""

    #: The images, ``(N, 1, H, W)``, floating.
    x: torch.Tensor
    #: The class, the grating's orientation index, ``(N,)`` long.
    y: torch.Tensor
    #: The distractor square's centre (row, column) in pixels, ``(N, 2)``.
    position: torch.Tensor
    #: The grating's phase in radians, ``(N,)``.
    phase: torch.Tensor
    #: The grating's wavelength in pixels, ``(N,)``.
    wavelength: torch.Tensor


def make_textures(
    n: int,
    generator: torch.Generator,
    *,
    image_size: int = 16,
    num_classes: int = 4,
    amplitude: float = 0.3,
    min_wavelength: float = 3.0,
    max_wavelength: float = 5.0,
    square_size: int = 3,
    square_intensity: float = 1.0,
    noise_std: float = 0.2,
    dtype: torch.dtype = torch.float32,
) -> TextureImages:
    r"""Draw ``n`` grey images: an oriented grating (the class) plus a small square at a random place.

    For image :math:`n` with class :math:`k_n`, orientation :math:`\theta_n = k_n\pi/K`,
    wavelength :math:`\lambda_n`, phase :math:`\varphi_n` and square centre :math:`c_n`,
    pixel :math:`u = (u_1, u_2)` (row, column) has value

    .. math::

        x_n[u] = A \sin\Big(\frac{2\pi}{\lambda_n}\,(u_1\sin\theta_n + u_2\cos\theta_n)
          + \varphi_n\Big) + B\,\mathbb 1\{\lVert u - c_n\rVert_\infty < s/2\}
          + \sigma\,\xi_{n,u}, \qquad \xi_{n,u}\sim\mathcal N(0, 1),

    with independent factors: :math:`k_n` uniform on :math:`\{0..K-1\}`,
    :math:`\lambda_n \sim U[\lambda_{\min}, \lambda_{\max}]`,
    :math:`\varphi_n \sim U[0, 2\pi)`, and :math:`c_n` uniform on the positions where the
    :math:`s\times s` square fits. The class is shared by every patch of the image; the square
    is seen by a few patches only. The random phase makes the class invisible to a linear
    probe on raw pixels (each pixel's mean is the same for every class), while the square's
    position is linearly readable from pixels. The defaults are this book's choice.

    Args:
        n: the number of images, at least 1.
        generator: the random generator; the images live on its device.
        image_size: the side :math:`H = W` in pixels, larger than ``square_size``.
        num_classes: :math:`K \ge 2` orientations, evenly spaced in :math:`[0, \pi)`.
        amplitude: :math:`A \ge 0` of the grating.
        min_wavelength: :math:`\lambda_{\min} > 0` in pixels.
        max_wavelength: :math:`\lambda_{\max} \ge \lambda_{\min}`.
        square_size: the side :math:`s \ge 1` of the distractor square in pixels.
        square_intensity: :math:`B \ge 0`, its brightness (0 removes it).
        noise_std: :math:`\sigma \ge 0`.
        dtype: floating dtype of the images and factors.

    Returns:
        :class:`TextureImages` ``(x, y, position, phase, wavelength)``.

    Shape:
        ``x``: ``(N, 1, H, H)``; ``y``, ``phase``, ``wavelength``: ``(N,)``;
        ``position``: ``(N, 2)``.

    Raises:
        TypeError: if ``generator`` is not a :class:`torch.Generator`, ``dtype`` is not
            floating, or a size is not an integer.
        ValueError: for out-of-range sizes, wavelengths, amplitudes or noise.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> data = make_textures(4000, g, noise_std=0.0, square_intensity=0.0)
        >>> data.x.shape
        torch.Size([4000, 1, 16, 16])
        >>> # the random phase hides the class from pixel means: every class averages to ~0
        >>> means = torch.stack([data.x[data.y == k].mean(0).abs().max() for k in range(4)])
        >>> bool(means.max() < 0.05)
        True
        >>> # class 0 (theta = 0) varies along the columns only: each column is constant
        >>> zero = data.x[data.y == 0]
        >>> float(zero.diff(dim=2).abs().max()), bool(zero.diff(dim=3).abs().max() > 0.1)
        (0.0, True)
    """
    _checks.integer("n", n, minimum=1)
    _checks.generator("generator", generator)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    size = _checks.integer("image_size", image_size, minimum=2)
    k = _checks.integer("num_classes", num_classes, minimum=2)
    amp = _checks.number("amplitude", amplitude, nonnegative=True)
    lam_min = _checks.number("min_wavelength", min_wavelength, positive=True)
    lam_max = _checks.number("max_wavelength", max_wavelength, minimum=lam_min)
    side = _checks.integer("square_size", square_size, minimum=1)
    if side >= size:
        raise ValueError(
            f"square_size must be smaller than image_size, got square_size={side} and "
            f"image_size={size}"
        )
    brightness = _checks.number("square_intensity", square_intensity, nonnegative=True)
    sigma = _checks.number("noise_std", noise_std, nonnegative=True)
    dev = generator.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=generator, device=dev, dtype=dtype)

    y = torch.randint(0, k, (n,), generator=generator, device=dev)  # (N,) orientation index
    wavelength = uniform(lam_min, lam_max, n)  # (N,)
    phase = uniform(0.0, 2.0 * math.pi, n)  # (N,)
    corner = torch.randint(0, size - side + 1, (n, 2), generator=generator, device=dev)  # (N, 2)
    position = corner.to(dtype) + (side - 1) / 2.0  # (N, 2) the square's centre
    theta = y.to(dtype) * (math.pi / k)  # (N,)
    grid = torch.arange(size, device=dev, dtype=dtype)  # (H,)
    rows, cols = grid.view(1, size, 1), grid.view(1, 1, size)
    along = rows * torch.sin(theta).view(n, 1, 1) + cols * torch.cos(theta).view(n, 1, 1)  # (N, H, H)
    x = amp * torch.sin(2.0 * math.pi * along / wavelength.view(n, 1, 1) + phase.view(n, 1, 1))
    idx = torch.arange(size, device=dev)
    dr = idx.view(1, size, 1) - corner[:, 0].view(n, 1, 1)  # (N, H, 1) row - first row
    dc = idx.view(1, 1, size) - corner[:, 1].view(n, 1, 1)  # (N, 1, H)
    inside = (dr >= 0) & (dr < side) & (dc >= 0) & (dc < side)  # (N, H, H) the s x s square
    x = x + brightness * inside.to(dtype)
    if sigma > 0:
        x = x + sigma * torch.randn(x.shape, generator=generator, device=dev, dtype=dtype)
    return TextureImages(x.unsqueeze(1), y, position, phase, wavelength)
