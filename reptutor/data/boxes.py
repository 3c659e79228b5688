r"""Box geometry: boxes and crops in pixel coordinates, carried between an image and its views.

The bookkeeping of Roh, Shin, Kim, Kim, "Spatially Consistent Representation Learning", CVPR
2021, arXiv:2103.06122 (SCRL), Sec. 3.2: one region of an image, located in two randomly cropped
and flipped views, gives a pair of boxes that cover the same content. The views themselves are
rendered by :func:`reptutor.data.crop_resize` / :func:`reptutor.data.random_resized_crop`
(``reptutor/data/scenes.py``); this module holds only coordinates.

Coordinates. Boxes are ``(x0, y0, x1, y1)`` in continuous pixel units, :math:`x` along the
columns and :math:`y` along the rows, with pixel ``(row i, column j)`` covering
:math:`[j, j+1) \times [i, i+1)` (the convention of ``torchvision.ops.roi_align`` with
``aligned=True``). A crop is a box in the source image's coordinates plus a flip flag; the view
of side :math:`S` shows that box resized to :math:`S\times S`, mirrored left-right when
flipped. :func:`map_boxes` carries boxes from the image into a view:

.. math::

    x' = \frac{S}{c_{x1} - c_{x0}}\,(x - c_{x0}),\qquad
    y' = \frac{S}{c_{y1} - c_{y0}}\,(y - c_{y0}),\qquad
    x' \mapsto S - x' \text{ if flipped}.

Taught in the chapter *Spatially consistent representation learning (SCRL)*
(``notebooks/01_information/06_scrl``).
"""
from __future__ import annotations

import torch

from reptutor import _checks

__all__ = [
    "map_boxes",
    "crop_intersection",
    "visible_fraction",
    "sample_boxes",
    "grid_boxes",
]


def _boxes(name: str, boxes: object, ndim: int) -> torch.Tensor:
    _checks.tensor(name, boxes, ndim=ndim)
    assert isinstance(boxes, torch.Tensor)
    if boxes.shape[-1] != 4:
        raise ValueError(
            f"{name} must hold (x0, y0, x1, y1) in its last dim of size 4, got shape "
            f"{tuple(boxes.shape)}"
        )
    if boxes.device.type == "meta":  # no values to check; the caller's device check decides
        return boxes
    if bool((boxes[..., 2] < boxes[..., 0]).any() | (boxes[..., 3] < boxes[..., 1]).any()):
        raise ValueError(f"{name} must satisfy x1 >= x0 and y1 >= y0 in every box")
    return boxes


def _crop_and_flip(crop: object, flip: object) -> tuple[torch.Tensor, torch.Tensor]:
    _boxes("crop", crop, 2)
    assert isinstance(crop, torch.Tensor)
    width, height = crop[:, 2] - crop[:, 0], crop[:, 3] - crop[:, 1]
    if crop.device.type != "meta" and bool((width <= 0).any() | (height <= 0).any()):
        raise ValueError("crop must have positive width and height in every row")
    if not isinstance(flip, torch.Tensor) or flip.dtype != torch.bool or flip.ndim != 1:
        raise TypeError(
            "flip must be a 1-D torch.bool tensor (one flag per crop), got "
            f"{_checks._describe(flip)}"
        )
    if flip.shape[0] != crop.shape[0] or flip.device != crop.device:
        raise ValueError(
            f"flip must have one flag per crop on the crop's device, got {flip.shape[0]} flags "
            f"on {flip.device} for {crop.shape[0]} crops on {crop.device}"
        )
    return crop, flip


def map_boxes(
    boxes: torch.Tensor, crop: torch.Tensor, flip: torch.Tensor, output_size: int
) -> torch.Tensor:
    r"""Carry boxes from the source image's coordinates into the views' coordinates.

    With crop :math:`c = (c_{x0}, c_{y0}, c_{x1}, c_{y1})` and view side :math:`S`, a point
    maps to :math:`x' = S\,(x - c_{x0})/(c_{x1} - c_{x0})`,
    :math:`y' = S\,(y - c_{y0})/(c_{y1} - c_{y0})`, and, when the view is flipped,
    :math:`x' \mapsto S - x'`, which swaps the roles of a box's left and right edges. This is
    the inverse of the sampling map of :func:`crop_resize`, so the box ``map_boxes(b)`` of the
    view shows the region ``b`` of the image. Boxes are not clipped: parts outside the crop
    map outside :math:`[0, S]`.

    This is the bookkeeping of SCRL's box generator (Roh et al., CVPR 2021,
    arXiv:2103.06122, Sec. 3.2): one region of the image, mapped into both views, gives a pair
    of boxes covering the same physical content.

    Args:
        boxes: ``(N, K, 4)`` boxes ``(x0, y0, x1, y1)`` in the image's pixels.
        crop: ``(N, 4)`` the crop of each view (:attr:`Views.crop`).
        flip: ``(N,)`` bool, the flip of each view (:attr:`Views.flip`).
        output_size: the side :math:`S` of the views.

    Returns:
        ``(N, K, 4)`` boxes in the views' pixels, with ``x0 <= x1`` and ``y0 <= y1``.

    Shape:
        ``(N, K, 4), (N, 4), (N,) -> (N, K, 4)``.

    Raises:
        TypeError / ValueError: for tensors of the wrong rank, dtype, length or device,
            inverted boxes or empty crops.

    Examples:
        >>> crop = torch.tensor([[8.0, 4.0, 24.0, 20.0]])  # a 16x16 crop shown at 32x32
        >>> box = torch.tensor([[[8.0, 4.0, 12.0, 6.0]]])
        >>> map_boxes(box, crop, torch.tensor([False]), 32)
        tensor([[[0., 0., 8., 4.]]])
        >>> # a flipped view sees the same box at the mirrored place
        >>> map_boxes(box, crop, torch.tensor([True]), 32)
        tensor([[[24.,  0., 32.,  4.]]])
    """
    _boxes("boxes", boxes, 3)
    crop, flip = _crop_and_flip(crop, flip)
    _checks.same_device_dtype("boxes", boxes, "crop", crop)
    _checks.dim_size("boxes", boxes, 0, crop.shape[0], "one crop per image")
    size = _checks.integer("output_size", output_size, minimum=1)
    origin = crop[:, None, :2]  # (N, 1, 2) crop corner (x0, y0)
    stretch = size / (crop[:, None, 2:] - crop[:, None, :2])  # (N, 1, 2) view px per image px
    lo = (boxes[..., :2] - origin) * stretch  # (N, K, 2) top-left corner in the view
    hi = (boxes[..., 2:] - origin) * stretch  # (N, K, 2) bottom-right corner
    mirrored = flip.view(-1, 1)  # (N, 1)
    x0 = torch.where(mirrored, size - hi[..., 0], lo[..., 0])  # a flip swaps left and right
    x1 = torch.where(mirrored, size - lo[..., 0], hi[..., 0])
    return torch.stack([x0, lo[..., 1], x1, hi[..., 1]], dim=-1)  # (N, K, 4)


def crop_intersection(crop_a: torch.Tensor, crop_b: torch.Tensor) -> torch.Tensor:
    r"""The region of the image seen by both views: the intersection of two crop boxes.

    :math:`[\max(a_{x0}, b_{x0}), \min(a_{x1}, b_{x1})] \times [\max(a_{y0}, b_{y0}),
    \min(a_{y1}, b_{y1})]`; a pair of disjoint crops gives a zero-width or zero-height box
    (its far corner is clamped to its near corner), so the area is 0, never negative.
    SCRL samples its matched boxes inside this region (Roh et al., CVPR 2021,
    arXiv:2103.06122, Sec. 3.2).

    Args:
        crop_a: ``(N, 4)`` boxes.
        crop_b: ``(N, 4)`` boxes.

    Returns:
        ``(N, 4)`` the intersections.

    Shape:
        ``(N, 4), (N, 4) -> (N, 4)``.

    Raises:
        TypeError / ValueError: for tensors of different shapes, devices or dtypes, or
            inverted boxes.

    Examples:
        >>> a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 4.0, 4.0]])
        >>> b = torch.tensor([[5.0, 2.0, 20.0, 8.0], [6.0, 6.0, 9.0, 9.0]])
        >>> crop_intersection(a, b)
        tensor([[ 5.,  2., 10.,  8.],
                [ 6.,  6.,  6.,  6.]])
        >>> bool(torch.equal(crop_intersection(a, b), crop_intersection(b, a)))  # symmetric
        True
    """
    _boxes("crop_a", crop_a, 2)
    _boxes("crop_b", crop_b, 2)
    _checks.same_shape("crop_a", crop_a, "crop_b", crop_b)
    _checks.same_device_dtype("crop_a", crop_a, "crop_b", crop_b)
    lo = torch.maximum(crop_a[:, :2], crop_b[:, :2])  # (N, 2) near corner
    hi = torch.maximum(torch.minimum(crop_a[:, 2:], crop_b[:, 2:]), lo)  # (N, 2) never before lo
    return torch.cat([lo, hi], dim=1)  # (N, 4)


def visible_fraction(boxes: torch.Tensor, crop: torch.Tensor) -> torch.Tensor:
    r"""The fraction of each box's area that lies inside its image's crop.

    :math:`|b \cap c| / |b|`, in :math:`[0, 1]`; 0 for zero-area boxes (the empty slots of
    :class:`Scenes`). Useful to ask which objects a view shows.

    Args:
        boxes: ``(N, K, 4)`` boxes in the image's pixels.
        crop: ``(N, 4)`` one crop per image.

    Returns:
        ``(N, K)`` fractions.

    Shape:
        ``(N, K, 4), (N, 4) -> (N, K)``.

    Raises:
        TypeError / ValueError: for tensors of the wrong rank, length, device or dtype, or
            inverted boxes.

    Examples:
        >>> boxes = torch.tensor([[[0.0, 0.0, 4.0, 4.0], [6.0, 0.0, 8.0, 2.0]]])
        >>> visible_fraction(boxes, torch.tensor([[2.0, 0.0, 10.0, 10.0]]))
        tensor([[0.5000, 1.0000]])
    """
    _boxes("boxes", boxes, 3)
    _boxes("crop", crop, 2)
    _checks.same_device_dtype("boxes", boxes, "crop", crop)
    _checks.dim_size("boxes", boxes, 0, crop.shape[0], "one crop per image")
    lo = torch.maximum(boxes[..., :2], crop[:, None, :2])  # (N, K, 2)
    hi = torch.minimum(boxes[..., 2:], crop[:, None, 2:])
    inter = (hi - lo).clamp(min=0).prod(dim=-1)  # (N, K) intersection areas
    area = (boxes[..., 2:] - boxes[..., :2]).prod(dim=-1)  # (N, K)
    return torch.where(area > 0, inter / area.clamp(min=torch.finfo(area.dtype).tiny),
                       torch.zeros_like(area))


def sample_boxes(
    region: torch.Tensor, k: int, generator: torch.Generator, *, min_size: float
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw ``k`` random boxes inside each region (SCRL's matched-box sampler, simplified).

    Inside a region of width :math:`R_w` and height :math:`R_h`, each box has width
    :math:`w \sim U[s, R_w]`, height :math:`h \sim U[s, R_h]` (:math:`s` = ``min_size``) and a
    top-left corner uniform where it fits. A region smaller than :math:`s` on either side is
    marked invalid (its boxes are still finite, clamped to the region), as SCRL's generator
    skips images whose views overlap too little (Roh et al., CVPR 2021, arXiv:2103.06122,
    Sec. 3.2). Simplifications with respect to the official generator (``box_generator.py``,
    grid-based sampling, up to 50 redraws of a box whose IoU with an earlier box exceeds 0.5,
    integer coordinates): boxes here are drawn independently and continuously, so they may
    overlap.

    Args:
        region: ``(N, 4)`` regions, e.g. :func:`crop_intersection` of two views' crops.
        k: boxes per region, at least 1 (the paper's configuration uses 10).
        generator: the random generator, on the regions' device.
        min_size: :math:`s > 0`, the smallest box side, in the regions' pixel units.

    Returns:
        ``(boxes, valid)``: ``(N, K, 4)`` boxes and an ``(N,)`` bool, True where the region
        is at least :math:`s\times s`.

    Shape:
        ``(N, 4) -> (N, K, 4), (N,)``.

    Raises:
        TypeError / ValueError: for a non-generator, inverted regions, or bad ``k`` /
            ``min_size``.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> region = torch.tensor([[2.0, 3.0, 12.0, 9.0], [0.0, 0.0, 2.0, 2.0]])
        >>> boxes, valid = sample_boxes(region, 50, g, min_size=4.0)
        >>> valid
        tensor([ True, False])
        >>> b = boxes[0]  # inside the region, at least 4 pixels wide and high
        >>> bool((b[:, :2] >= region[0, :2]).all() and (b[:, 2:] <= region[0, 2:]).all())
        True
        >>> bool(((b[:, 2:] - b[:, :2]) >= 4.0 - 1e-6).all())
        True
    """
    _boxes("region", region, 2)
    _checks.integer("k", k, minimum=1)
    gen = _checks.generator("generator", generator)
    if gen.device.type != region.device.type:
        raise ValueError(
            f"generator must be on the regions' device, got {gen.device} and {region.device}"
        )
    s = _checks.number("min_size", min_size, positive=True)
    n = region.shape[0]
    extent = region[:, 2:] - region[:, :2]  # (N, 2) region width and height
    valid = (extent >= s).all(dim=1)  # (N,)
    u = torch.rand(n, k, 2, generator=gen, device=region.device, dtype=region.dtype)
    side = torch.minimum(s + u * (extent[:, None] - s).clamp(min=0), extent[:, None])  # (N, K, 2)
    room = extent[:, None] - side  # (N, K, 2) slack left for the corner
    t = torch.rand(n, k, 2, generator=gen, device=region.device, dtype=region.dtype)
    corner = region[:, None, :2] + t * room  # (N, K, 2)
    return torch.cat([corner, corner + side], dim=-1), valid  # (N, K, 4), (N,)


def grid_boxes(region: torch.Tensor, k: int) -> torch.Tensor:
    r"""Split each region into a ``k`` x ``k`` grid of equal, disjoint boxes (row-major).

    Box :math:`(i, j)` (row :math:`i`, column :math:`j`) of a region
    :math:`[r_{x0}, r_{x1}]\times[r_{y0}, r_{y1}]` is
    :math:`[r_{x0} + jR_w/k,\ r_{x0} + (j+1)R_w/k] \times [r_{y0} + iR_h/k,\ r_{y0} +
    (i+1)R_h/k]`, at index :math:`ik + j`. Used to evaluate region matching with
    non-overlapping candidates.

    Args:
        region: ``(N, 4)`` regions.
        k: cells per side, at least 1.

    Returns:
        ``(N, k*k, 4)`` boxes.

    Shape:
        ``(N, 4) -> (N, k^2, 4)``.

    Raises:
        TypeError / ValueError: for inverted regions or a bad ``k``.

    Examples:
        >>> grid_boxes(torch.tensor([[0.0, 0.0, 4.0, 2.0]]), 2)
        tensor([[[0., 0., 2., 1.],
                 [2., 0., 4., 1.],
                 [0., 1., 2., 2.],
                 [2., 1., 4., 2.]]])
    """
    _boxes("region", region, 2)
    _checks.integer("k", k, minimum=1)
    n = region.shape[0]
    steps = torch.arange(k + 1, device=region.device, dtype=region.dtype) / k  # (k+1,)
    xs = region[:, None, 0] + steps * (region[:, None, 2] - region[:, None, 0])  # (N, k+1)
    ys = region[:, None, 1] + steps * (region[:, None, 3] - region[:, None, 1])
    x0, x1 = xs[:, None, :-1].expand(n, k, k), xs[:, None, 1:].expand(n, k, k)  # (N, k, k)
    y0, y1 = ys[:, :-1, None].expand(n, k, k), ys[:, 1:, None].expand(n, k, k)
    return torch.stack([x0, y0, x1, y1], dim=-1).reshape(n, k * k, 4)  # (N, k^2, 4)
