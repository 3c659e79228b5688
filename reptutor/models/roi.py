r"""RoIAlign through :func:`torch.nn.functional.grid_sample`: pool boxes from a feature map.

RoIAlign was introduced by He, Gkioxari, Dollár, Girshick, "Mask R-CNN", ICCV 2017,
arXiv:1703.06870 (Sec. 3): each box is divided into :math:`P\times P` bins, the feature map is
sampled bilinearly at :math:`r\times r` regularly spaced points in each bin, and the samples of a
bin are averaged, with no rounding of the box coordinates. SCRL pools its matched boxes this way
from the backbone's last feature map, with :math:`P = 1` (Roh, Shin, Kim, Kim, "Spatially
Consistent Representation Learning", CVPR 2021, arXiv:2103.06122, Sec. 3.2).

``torchvision.ops.roi_align`` is the usual implementation; this one needs only core PyTorch
(torchvision has no CPU build for the torch this book pins), runs on any device, is
differentiable with respect to both the features and the box coordinates, and takes a fixed
number of boxes per image, ``(N, K, 4)``, so no Python loop runs over boxes.

Taught in the chapter *Spatially consistent representation learning (SCRL)*
(``notebooks/01_information/06_scrl``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters

__all__ = ["roi_align", "RoIAlign"]


def _image_size(image_size: object) -> tuple[int, int]:
    if isinstance(image_size, Sequence) and not isinstance(image_size, (str, bytes)):
        if len(image_size) != 2:
            raise ValueError(
                f"image_size must be an integer or a pair (H, W), got {tuple(image_size)!r}"
            )
        h = _checks.integer("image_size[0]", image_size[0], minimum=1)
        w = _checks.integer("image_size[1]", image_size[1], minimum=1)
        return h, w
    side = _checks.integer("image_size", image_size, minimum=1)
    return side, side


def roi_align(
    feature_map: torch.Tensor,
    boxes: torch.Tensor,
    *,
    image_size: int | tuple[int, int],
    output_size: int = 1,
    sampling_ratio: int = 2,
) -> torch.Tensor:
    r"""Pool ``K`` boxes per image from a feature map by bilinear sampling (RoIAlign).

    Boxes are ``(x0, y0, x1, y1)`` in the pixels of an image of size :math:`H\times W` whose
    feature map is :math:`F \in \mathbb R^{C\times H_f\times W_f}`; feature cell
    :math:`(i, j)` covers the image rectangle :math:`[jW/W_f, (j+1)W/W_f) \times [iH/H_f,
    (i+1)H/H_f)` and sits at its centre. With :math:`P` = ``output_size`` bins per side and
    :math:`r` = ``sampling_ratio`` samples per bin and side, the :math:`Pr` sample abscissae of
    a box are

    .. math::

        x_t = x_0 + \frac{t + 1/2}{Pr}\,(x_1 - x_0),\qquad t = 0, \dots, Pr - 1,

    (likewise :math:`y_s`), and bin :math:`(a, b)` of box :math:`k` is the mean of the
    :math:`r^2` bilinear samples that fall in it:

    .. math::

        \operatorname{RoI}(F, b_k)_{c,a,b} = \frac1{r^2}\sum_{s=ar}^{ar+r-1}
          \sum_{t=br}^{br+r-1} \operatorname{bilinear}\Big(F_c,\
          y_s\frac{H_f}{H} - \tfrac12,\ x_t\frac{W_f}{W} - \tfrac12\Big),

    where :math:`\operatorname{bilinear}(F_c, u, v)` interpolates between cell centres at
    integer coordinates, clamping :math:`u` to :math:`[0, H_f - 1]` and :math:`v` to
    :math:`[0, W_f - 1]`. For boxes inside the image this equals
    ``torchvision.ops.roi_align(F, boxes, P, spatial_scale=H_f/H, sampling_ratio=r,
    aligned=True)`` (the half-pixel offset of ``aligned=True``); outside the image torchvision
    returns zeros where this extends the border values. SCRL's official configuration uses
    :math:`P = 1` and an adaptive :math:`r = \lceil (x_1 - x_0) W_f/W \rceil` (``sampling_ratio:
    -1``) with ``aligned=False``; a fixed :math:`r` keeps everything one batched
    :func:`torch.nn.functional.grid_sample` call.

    Args:
        feature_map: ``(N, C, H_f, W_f)`` floating.
        boxes: ``(N, K, 4)`` boxes ``(x0, y0, x1, y1)`` in the image's pixels, same device
            and dtype as ``feature_map``.
        image_size: :math:`H` (square image) or :math:`(H, W)`, the image the boxes refer to.
        output_size: :math:`P \ge 1`, bins per side (SCRL: 1).
        sampling_ratio: :math:`r \ge 1`, samples per bin and side.

    Returns:
        ``(N, K, C, P, P)`` pooled features; ``.flatten(2)`` gives ``(N, K, C P^2)``.

    Shape:
        ``(N, C, H_f, W_f), (N, K, 4) -> (N, K, C, P, P)``.

    Raises:
        TypeError / ValueError: for tensors of the wrong rank, dtype, batch size or device,
            inverted boxes, or non-positive sizes.

    Examples:
        >>> # a feature map that is linear in the cell coordinates is pooled exactly to its
        >>> # value at the box centre: bilinear interpolation of a linear function is exact
        >>> rows, cols = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
        >>> fmap = (2 * rows + cols).view(1, 1, 8, 8)  # 8x8 features of a 32x32 image
        >>> box = torch.tensor([[[6.0, 10.0, 18.0, 14.0]]])  # centre (x, y) = (12, 12)
        >>> out = roi_align(fmap, box, image_size=32)
        >>> out.shape, float(out)  # the centre is at cell coordinates (12/4 - 1/2) = 2.5
        (torch.Size([1, 1, 1, 1, 1]), 7.5)
        >>> # with 2x2 bins each quarter is pooled at its own centre
        >>> roi_align(fmap, box, image_size=32, output_size=2).flatten()
        tensor([6.2500, 7.7500, 7.2500, 8.7500])
    """
    _checks.tensor("feature_map", feature_map, ndim=4)
    _checks.tensor("boxes", boxes, ndim=3)
    _checks.same_device_dtype("feature_map", feature_map, "boxes", boxes)
    if boxes.shape[-1] != 4:
        raise ValueError(
            f"boxes must have shape (N, K, 4) holding (x0, y0, x1, y1), got {tuple(boxes.shape)}"
        )
    _checks.dim_size("boxes", boxes, 0, feature_map.shape[0], "one set of boxes per feature map")
    if bool((boxes[..., 2] < boxes[..., 0]).any() | (boxes[..., 3] < boxes[..., 1]).any()):
        raise ValueError("boxes must satisfy x1 >= x0 and y1 >= y0 in every box")
    height, width = _image_size(image_size)
    bins = _checks.integer("output_size", output_size, minimum=1)
    r = _checks.integer("sampling_ratio", sampling_ratio, minimum=1)
    n, c = feature_map.shape[:2]
    k = boxes.shape[1]
    p = bins * r  # sample points per box side
    t = (torch.arange(p, device=boxes.device, dtype=boxes.dtype) + 0.5) / p  # (P r,) fractions
    xs = boxes[..., 0:1] + t * (boxes[..., 2:3] - boxes[..., 0:1])  # (N, K, P r) image pixels
    ys = boxes[..., 1:2] + t * (boxes[..., 3:4] - boxes[..., 1:2])
    # grid_sample's normalised coordinates (align_corners=False): -1 and 1 are the image's outer
    # edges, so pixel x maps to 2x/W - 1 whatever the feature map's resolution, and the
    # sampled feature coordinate is x W_f / W - 1/2 (the half-pixel offset of "aligned")
    gx = (2 * xs / width - 1)[:, :, None, :].expand(n, k, p, p)  # (N, K, P r, P r) columns
    gy = (2 * ys / height - 1)[:, :, :, None].expand(n, k, p, p)  # rows
    grid = torch.stack([gx, gy], dim=-1).reshape(n, k * p, p, 2)  # (N, K P r, P r, 2)
    samples = F.grid_sample(feature_map, grid, mode="bilinear", padding_mode="border",
                            align_corners=False)  # (N, C, K P r, P r)
    samples = samples.view(n, c, k, bins, r, bins, r)  # split each side into (bin, sample)
    pooled = samples.mean(dim=(4, 6))  # (N, C, K, P, P) average the r x r samples of a bin
    return pooled.permute(0, 2, 1, 3, 4)  # (N, K, C, P, P)


class RoIAlign(nn.Module):
    r"""Module form of :func:`roi_align` (stores the sizes; ``forward`` is one call).

    He et al., "Mask R-CNN", ICCV 2017, arXiv:1703.06870; as used by SCRL (Roh et al., CVPR
    2021, arXiv:2103.06122) with ``output_size=1``.

    Args:
        image_size: :math:`H` or :math:`(H, W)`, the image the boxes refer to.
        output_size: bins per side.
        sampling_ratio: samples per bin and side.

    Shape:
        ``(N, C, H_f, W_f), (N, K, 4) -> (N, K, C, P, P)``.

    Examples:
        >>> pool = RoIAlign(16)
        >>> fmap = torch.ones(2, 5, 4, 4)
        >>> boxes = torch.tensor([[0.0, 0.0, 16.0, 16.0], [3.0, 1.0, 7.0, 9.0]]).expand(2, 2, 4)
        >>> out = pool(fmap, boxes)
        >>> out.shape, bool(torch.allclose(out, torch.ones(())))  # constants pool to themselves
        (torch.Size([2, 2, 5, 1, 1]), True)
    """

    def __init__(self, image_size: int | tuple[int, int], *, output_size: int = 1,
                 sampling_ratio: int = 2) -> None:
        super().__init__()
        self.image_size = _image_size(image_size)
        self.output_size = _checks.integer("output_size", output_size, minimum=1)
        self.sampling_ratio = _checks.integer("sampling_ratio", sampling_ratio, minimum=1)

    def forward(self, feature_map: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        return roi_align(feature_map, boxes, image_size=self.image_size,
                         output_size=self.output_size, sampling_ratio=self.sampling_ratio)

    def extra_repr(self) -> str:
        return hyper_parameters(self)
