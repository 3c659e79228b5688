r"""Procedural multi-object scenes with known boxes, and random crops whose parameters are returned.

The toy stand-in for the ImageNet and COCO images of Roh, Shin, Kim, Kim, "Spatially Consistent
Representation Learning", CVPR 2021, arXiv:2103.06122 (SCRL). A scene holds a few coloured
shapes (the *objects*, each with a class and an exact bounding box) on a smooth coloured
background. Views are made by random resized crops and horizontal flips, as in SimCLR and BYOL,
but the crop parameters come back with each view, so any region of the scene can be located in
both views: this is the bookkeeping SCRL needs to pool *the same region* from two views.

Coordinates are those of :mod:`reptutor.data.boxes` (pixel units, ``(x0, y0, x1, y1)``, pixel
``(row i, column j)`` covering :math:`[j, j+1) \times [i, i+1)`): a view of side :math:`S` shows
its crop box resized to :math:`S\times S`, mirrored left-right when flipped, and the box
geometry (mapping boxes into views, intersections, box sampling) lives in that module.

Views are rendered with :func:`torch.nn.functional.affine_grid` and
:func:`torch.nn.functional.grid_sample` (no torchvision), on the images' device.

Taught in the chapter *Spatially consistent representation learning (SCRL)*
(``notebooks/01_information/06_scrl``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from reptutor import _checks
from reptutor.data.boxes import _crop_and_flip

__all__ = [
    "SCENE_CLASSES",
    "Scenes",
    "make_scenes",
    "Views",
    "random_resized_crop",
    "crop_resize",
]

#: The object classes of :func:`make_scenes`, in label order.
SCENE_CLASSES = ("square", "disc", "triangle", "plus", "ring", "cross")


class Scenes(NamedTuple):
    """Scenes drawn by :func:`make_scenes`.

    Attributes:
        x: the images, ``(N, 3, H, W)``.
        boxes: each object's bounding box ``(x0, y0, x1, y1)`` in pixels, ``(N, O, 4)`` with
            :math:`O` = ``max_objects``; empty slots hold a zero-size box at the origin.
        labels: each object's class, an index into ``SCENE_CLASSES``, ``(N, O)`` long;
            ``-1`` in empty slots.
        valid: which slots hold an object, ``(N, O)`` bool.
        colors: each object's RGB colour, ``(N, O, 3)``.
    """

    x: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor
    valid: torch.Tensor
    colors: torch.Tensor


class Views(NamedTuple):
    """Views made by :func:`random_resized_crop`, with the parameters that made them.

    Attributes:
        x: the views, ``(N, C, S, S)``.
        crop: the cropped box ``(x0, y0, x1, y1)`` in the source image's pixels, ``(N, 4)``.
        flip: whether the view is mirrored left-right, ``(N,)`` bool.
    """

    x: torch.Tensor
    crop: torch.Tensor
    flip: torch.Tensor


def _range(name: str, value: object, *, positive: bool = True) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (low, high), got {_checks._describe(value)}")
    lo = _checks.number(f"{name}[0]", value[0], positive=positive)
    hi = _checks.number(f"{name}[1]", value[1], minimum=lo)
    return lo, hi


def make_scenes(
    n: int,
    generator: torch.Generator,
    *,
    image_size: int = 32,
    min_objects: int = 3,
    max_objects: int = 4,
    min_size: float = 7.0,
    max_size: float = 12.0,
    num_classes: int = 4,
    background_std: float = 0.15,
    noise_std: float = 0.05,
    dtype: torch.dtype = torch.float32,
) -> Scenes:
    r"""Draw ``n`` RGB scenes, each a few non-overlapping coloured shapes on a smooth background.

    The image is divided into a :math:`g\times g` grid of cells,
    :math:`g = \lceil\sqrt{O}\rceil` with :math:`O` = ``max_objects``. Scene :math:`n` holds
    :math:`m_n \sim U\{m_{\min},\dots,O\}` objects, each in its own randomly chosen cell (so
    objects never overlap and every box is exactly the object's extent). Object :math:`o` has a
    class :math:`k_{no}` uniform on the first ``num_classes`` of ``SCENE_CLASSES``, a side
    :math:`s_{no} \sim U[s_{\min}, s_{\max}]`, a top-left corner uniform among the places where
    it fits in its cell, and a colour :math:`a_{no} \sim U[0.25, 1]^3`. With local coordinates
    :math:`(u, v) = (p - c_{no}) / (s_{no}/2)` around the box centre :math:`c_{no}` (pixel
    centres :math:`p`, :math:`v` pointing down), the shapes are: ``square``
    :math:`\max(|u|,|v|)\le 1`; ``disc`` :math:`u^2+v^2\le 1`; ``triangle`` (apex up)
    :math:`|v|\le1,\ |u|\le(v+1)/2`; ``plus`` two bars of half-width :math:`1/3`; ``ring``
    :math:`0.5^2\le u^2+v^2\le1`; ``cross`` the two diagonals,
    :math:`\big||u|-|v|\big|\le 0.45` inside the square. Pixel values are

    .. math::

        x_n[c, p] = \begin{cases} a_{no,c} & p \in S_{k_{no}} \text{ (object } o)\\
          b_{n,c} + \sigma_b\,\tilde\xi_{n,c}(p) & \text{otherwise}\end{cases}
          \;+\; \sigma\,\xi_{n,c,p},

    with a background colour :math:`b_n \sim U[0, 0.5]^3`, a smooth field
    :math:`\tilde\xi_{n,c}` (standard normal values on a :math:`4\times4` grid, bilinearly
    upsampled) and pixel noise :math:`\xi \sim \mathcal N(0, 1)`. The defaults are this book's
    choice, sized so that a random crop of a third of the scene often misses some objects.

    Args:
        n: the number of scenes, at least 1.
        generator: the random generator; the scenes live on its device.
        image_size: the side :math:`H = W` in pixels.
        min_objects: :math:`m_{\min} \ge 1`.
        max_objects: :math:`O \ge m_{\min}`, the number of object slots.
        min_size: :math:`s_{\min} > 0`, the smallest object side in pixels.
        max_size: :math:`s_{\max} \ge s_{\min}`, at most the cell side :math:`H/g`.
        num_classes: use the first ``num_classes`` of ``SCENE_CLASSES`` (1 to 6).
        background_std: :math:`\sigma_b \ge 0`, the amplitude of the smooth background field.
        noise_std: :math:`\sigma \ge 0`, the pixel noise.
        dtype: floating dtype of the images and boxes.

    Returns:
        :class:`Scenes` ``(x, boxes, labels, valid, colors)``.

    Shape:
        ``x``: ``(N, 3, H, H)``; ``boxes``: ``(N, O, 4)``; ``labels``, ``valid``: ``(N, O)``;
        ``colors``: ``(N, O, 3)``.

    Raises:
        TypeError: if ``generator`` is not a :class:`torch.Generator`, ``dtype`` is not
            floating, or a count is not an integer.
        ValueError: for out-of-range counts, sizes or noise levels, or objects larger than a
            cell.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> s = make_scenes(200, g, noise_std=0.0, background_std=0.0)
        >>> s.x.shape, s.boxes.shape, s.labels.shape
        (torch.Size([200, 3, 32, 32]), torch.Size([200, 4, 4]), torch.Size([200, 4]))
        >>> # every scene holds 3 or 4 objects, and empty slots are labelled -1
        >>> counts = s.valid.sum(1)
        >>> int(counts.min()), int(counts.max()), bool((s.labels[~s.valid] == -1).all())
        (3, 4, True)
        >>> # a square fills its box: the pixel at the box centre has the object's colour
        >>> i = int(torch.nonzero(s.labels[:, 0] == 0)[0])
        >>> cx, cy = (s.boxes[i, 0, :2] + s.boxes[i, 0, 2:]) / 2
        >>> bool(torch.allclose(s.x[i, :, int(cy), int(cx)], s.colors[i, 0]))
        True
    """
    _checks.integer("n", n, minimum=1)
    gen = _checks.generator("generator", generator)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    size = _checks.integer("image_size", image_size, minimum=4)
    m_min = _checks.integer("min_objects", min_objects, minimum=1)
    n_slots = _checks.integer("max_objects", max_objects, minimum=m_min)
    s_min = _checks.number("min_size", min_size, positive=True)
    s_max = _checks.number("max_size", max_size, minimum=s_min)
    k = _checks.integer("num_classes", num_classes, minimum=1, maximum=len(SCENE_CLASSES))
    sigma_b = _checks.number("background_std", background_std, nonnegative=True)
    sigma = _checks.number("noise_std", noise_std, nonnegative=True)
    g = math.ceil(math.sqrt(n_slots))
    cell = size / g
    if s_max > cell:
        raise ValueError(
            f"max_size must be <= the cell side image_size / ceil(sqrt(max_objects)) = {cell:g} "
            f"so that objects never overlap, got max_size={s_max:g}"
        )
    dev = gen.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=gen, device=dev, dtype=dtype)

    # which slots hold an object, and which grid cell each slot uses (distinct cells per scene)
    count = torch.randint(m_min, n_slots + 1, (n,), generator=gen, device=dev)  # (N,)
    valid = torch.arange(n_slots, device=dev).view(1, -1) < count.view(-1, 1)  # (N, O)
    cells = torch.rand(n, g * g, generator=gen, device=dev).argsort(dim=1)[:, :n_slots]  # (N, O)
    side = uniform(s_min, s_max, n, n_slots)  # (N, O) object sides
    x0 = (cells % g).to(dtype) * cell + uniform(0.0, 1.0, n, n_slots) * (cell - side)  # (N, O)
    y0 = (cells // g).to(dtype) * cell + uniform(0.0, 1.0, n, n_slots) * (cell - side)
    labels = torch.randint(0, k, (n, n_slots), generator=gen, device=dev)  # (N, O)
    colors = uniform(0.25, 1.0, n, n_slots, 3)  # (N, O, 3)
    base = uniform(0.0, 0.5, n, 3, 1, 1)  # (N, 3, 1, 1) background colour
    field = torch.randn(n, 3, 4, 4, generator=gen, device=dev, dtype=dtype)  # smooth field knots
    x = base + sigma_b * F.interpolate(field, size=(size, size), mode="bilinear",
                                       align_corners=False)  # (N, 3, H, H)

    # local coordinates (u, v) of every pixel centre around every object's centre
    centre = torch.arange(size, device=dev, dtype=dtype) + 0.5  # (H,) pixel centres
    half = (side / 2).view(n, n_slots, 1, 1)
    u = (centre.view(1, 1, 1, size) - (x0.view(n, n_slots, 1, 1) + half)) / half  # (N, O, 1, H)
    v = (centre.view(1, 1, size, 1) - (y0.view(n, n_slots, 1, 1) + half)) / half  # (N, O, H, 1)
    au, av = u.abs(), v.abs()
    box = torch.maximum(au, av)  # (N, O, H, H) Chebyshev radius
    rho2 = u * u + v * v  # (N, O, H, H)
    shapes = torch.stack(  # (6, N, O, H, H) every class drawn for every slot; one is kept
        [
            box <= 1,  # square
            rho2 <= 1,  # disc
            (av <= 1) & (au <= (v + 1) / 2),  # triangle, apex up
            ((au <= 1 / 3) & (av <= 1)) | ((av <= 1 / 3) & (au <= 1)),  # plus
            (rho2 <= 1) & (rho2 >= 0.25),  # ring
            ((au - av).abs() <= 0.45) & (box <= 1),  # cross (x)
        ]
    )
    mask = torch.gather(shapes, 0, labels.view(1, n, n_slots, 1, 1).expand(1, -1, -1, size, size))
    mask = mask[0] & valid.view(n, n_slots, 1, 1)  # (N, O, H, H) drawn pixels of each object
    # objects never overlap, so painting them is a sum of disjoint masks
    painted = mask.unsqueeze(2).to(dtype)  # (N, O, 1, H, H)
    cover = painted.sum(1)  # (N, 1, H, H) 1 on objects, 0 on the background
    x = x * (1 - cover) + (painted * colors.view(n, n_slots, 3, 1, 1)).sum(1)  # (N, 3, H, H)
    if sigma > 0:
        x = x + sigma * torch.randn(x.shape, generator=gen, device=dev, dtype=dtype)

    boxes = torch.stack([x0, y0, x0 + side, y0 + side], dim=-1)  # (N, O, 4)
    boxes = torch.where(valid.unsqueeze(-1), boxes, torch.zeros_like(boxes))
    labels = torch.where(valid, labels, torch.full_like(labels, -1))
    return Scenes(x, boxes, labels, valid, colors)


def crop_resize(
    images: torch.Tensor, crop: torch.Tensor, flip: torch.Tensor, output_size: int
) -> torch.Tensor:
    r"""Render the views of ``images`` given by crop boxes and flip flags (bilinear resampling).

    The view pixel at continuous position :math:`(x', y') \in [0, S]^2` shows the image at

    .. math::

        x = c_{x0} + \frac{c_{x1} - c_{x0}}{S}\,x' \quad(\text{or } c_{x1} -
        \frac{c_{x1}-c_{x0}}{S}\,x' \text{ when flipped}),\qquad
        y = c_{y0} + \frac{c_{y1} - c_{y0}}{S}\,y',

    the inverse of :func:`map_boxes`. In the normalised coordinates of
    :func:`torch.nn.functional.affine_grid` (``align_corners=False``, :math:`-1` and :math:`1`
    at the outer edges of the border pixels) this is the affine map with
    :math:`\theta = \begin{pmatrix}\pm w/W & 0 & (c_{x0}+c_{x1})/W - 1\\ 0 & h/H &
    (c_{y0}+c_{y1})/H - 1\end{pmatrix}`. Values are interpolated bilinearly, with border
    values beyond the image (``padding_mode="border"``), and without anti-aliasing, so strong
    zoom-outs alias a little.

    Args:
        images: ``(N, C, H, W)`` floating.
        crop: the boxes to crop, ``(N, 4)`` as ``(x0, y0, x1, y1)`` in pixels.
        flip: mirror each view left-right, ``(N,)`` bool.
        output_size: the side :math:`S` of the square views.

    Returns:
        The views, ``(N, C, S, S)``, on the images' device and dtype.

    Shape:
        ``(N, C, H, W), (N, 4), (N,) -> (N, C, S, S)``.

    Raises:
        TypeError / ValueError: for tensors of the wrong rank, dtype, length or device, empty
            or inverted crops, or a non-positive ``output_size``.

    Examples:
        >>> img = torch.arange(16.0).view(1, 1, 4, 4)
        >>> full = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
        >>> # cropping the whole image at its own size is the identity
        >>> bool(torch.allclose(crop_resize(img, full, torch.tensor([False]), 4), img))
        True
        >>> # and flipping mirrors the columns
        >>> bool(torch.allclose(crop_resize(img, full, torch.tensor([True]), 4), img.flip(-1)))
        True
        >>> # the top-left 2x2 quarter at its own size
        >>> crop_resize(img, torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([False]), 2)
        tensor([[[[0., 1.],
                  [4., 5.]]]])
    """
    _checks.tensor("images", images, ndim=4)
    crop, flip = _crop_and_flip(crop, flip)
    _checks.same_device_dtype("images", images, "crop", crop)
    _checks.dim_size("crop", crop, 0, images.shape[0], "one crop per image")
    size = _checks.integer("output_size", output_size, minimum=1)
    n, c, height, width = images.shape
    w, h = crop[:, 2] - crop[:, 0], crop[:, 3] - crop[:, 1]  # (N,)
    theta = torch.zeros(n, 2, 3, device=images.device, dtype=images.dtype)  # (N, 2, 3)
    theta[:, 0, 0] = torch.where(flip, -w, w) / width  # a negative x-scale mirrors the view
    theta[:, 0, 2] = (crop[:, 0] + crop[:, 2]) / width - 1  # crop centre, normalised
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (crop[:, 1] + crop[:, 3]) / height - 1
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)  # (N, S, S, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)  # (N, C, S, S)


def random_resized_crop(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    output_size: int,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip_prob: float = 0.5,
    brightness: float = 0.0,
) -> Views:
    r"""Random resized crops with horizontal flips, returning the crop parameters with the views.

    For each image (size :math:`H\times W`) draw an area fraction :math:`a \sim U[a_{\min},
    a_{\max}]`, a log aspect ratio :math:`\log r \sim U[\log r_{\min}, \log r_{\max}]`, the
    crop side lengths :math:`w = \min(W, \sqrt{aHWr})`, :math:`h = \min(H, \sqrt{aHW/r})`,
    a top-left corner uniform where the crop fits, and a flip with probability ``flip_prob``;
    then render with :func:`crop_resize`. Optionally multiply each view by a brightness factor
    :math:`\beta \sim U[\max(0, 1-b), 1+b]` (the brightness part of colour jitter).

    The defaults follow SCRL's official configuration (``crop_scale: [0.2, 1.0]``, Roh et al.,
    CVPR 2021) and the ratio range and flip probability of SimCLR/BYOL's augmentations
    (Chen et al., ICML 2020, arXiv:2002.05709; Grill et al., NeurIPS 2020, arXiv:2006.07733).
    Two simplifications: torchvision redraws a crop that does not fit (up to 10 times) where
    this clamps its sides; and only brightness is jittered (default off) where the papers also
    jitter contrast, saturation and hue, blur and solarise.

    Args:
        images: ``(N, C, H, W)`` floating.
        generator: the random generator, on the images' device.
        output_size: the side :math:`S` of the square views.
        scale: :math:`(a_{\min}, a_{\max})`, area fractions in :math:`(0, 1]`.
        ratio: :math:`(r_{\min}, r_{\max})`, aspect ratios width / height.
        flip_prob: probability of a left-right flip.
        brightness: :math:`b \ge 0`; 0 disables the jitter.

    Returns:
        :class:`Views` ``(x, crop, flip)``: pass ``crop`` and ``flip`` to :func:`map_boxes`.

    Shape:
        ``(N, C, H, W) -> Views((N, C, S, S), (N, 4), (N,))``.

    Raises:
        TypeError / ValueError: for a non-generator, bad images, or out-of-range parameters.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> img = torch.rand(500, 3, 32, 32)
        >>> v = random_resized_crop(img, g, output_size=16)
        >>> v.x.shape, v.crop.shape, v.flip.shape
        (torch.Size([500, 3, 16, 16]), torch.Size([500, 4]), torch.Size([500]))
        >>> # every crop lies inside the image and covers between 20% and 100% of it
        >>> area = (v.crop[:, 2] - v.crop[:, 0]) * (v.crop[:, 3] - v.crop[:, 1]) / 32**2
        >>> bool((v.crop >= 0).all() and (v.crop <= 32).all())
        True
        >>> bool(area.min() >= 0.2 - 1e-6), bool(area.max() <= 1.0 + 1e-6)
        (True, True)
        >>> # the views are exactly what crop_resize renders from the returned parameters
        >>> bool(torch.equal(v.x, crop_resize(img, v.crop, v.flip, 16)))
        True
    """
    _checks.tensor("images", images, ndim=4)
    gen = _checks.generator("generator", generator)
    if gen.device.type != images.device.type:
        raise ValueError(
            f"generator must be on the images' device, got {gen.device} and {images.device}"
        )
    size = _checks.integer("output_size", output_size, minimum=1)
    a_min, a_max = _range("scale", scale)
    if a_max > 1:
        raise ValueError(f"scale must lie in (0, 1], got {tuple(scale)}")
    r_min, r_max = _range("ratio", ratio)
    p_flip = _checks.number("flip_prob", flip_prob, minimum=0.0, maximum=1.0)
    b = _checks.number("brightness", brightness, nonnegative=True)
    n, _, height, width = images.shape
    dev, dt = images.device, images.dtype

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen, device=dev, dtype=dt)

    area = uniform(a_min, a_max) * (height * width)  # (N,) crop areas in pixels
    aspect = torch.exp(uniform(math.log(r_min), math.log(r_max)))  # (N,) width / height
    w = torch.sqrt(area * aspect).clamp(max=width)  # (N,)
    h = torch.sqrt(area / aspect).clamp(max=height)
    x0 = uniform(0.0, 1.0) * (width - w)  # (N,) the crop fits in the image
    y0 = uniform(0.0, 1.0) * (height - h)
    crop = torch.stack([x0, y0, x0 + w, y0 + h], dim=1)  # (N, 4)
    flip = torch.rand(n, generator=gen, device=dev) < p_flip  # (N,)
    views = crop_resize(images, crop, flip, size)
    if b > 0:
        factor = uniform(max(0.0, 1.0 - b), 1.0 + b).view(n, 1, 1, 1)
        views = views * factor
    return Views(views, crop, flip)
