r"""scikit-learn's bundled handwritten digits as tensors, and a cheap augmentation for them.

The data are the 1,797 8x8 grey-level images of the UCI "Optical Recognition of Handwritten
Digits" set (Alpaydin & Kaynak, 1998) that ship inside scikit-learn
(``sklearn.datasets.load_digits``): no download, ten balanced classes, a real (not
procedural) ground truth for clustering chapters. The augmentation plays the role that random
crops and flips play for SeLa on ImageNet (Asano, Rupprecht & Vedaldi, "Self-labelling via
simultaneous clustering and representation learning", ICLR 2020, arXiv:1911.05371): a random
translation by at most one pixel plus pixel noise, so that a network trained on self-labels
must be invariant to small perturbations.
Taught in the chapter *Self-labelling as optimal transport (SeLa)* (``notebooks/04_clustering``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from reptutor import _checks

__all__ = ["DigitsTensors", "load_digits_tensors", "augment_digits", "DIGITS_SIDE"]

#: Images are ``DIGITS_SIDE x DIGITS_SIDE`` pixels, flattened row-major to 64 features.
DIGITS_SIDE = 8


class DigitsTensors(NamedTuple):
    """The digits as tensors: ``(x, y)``."""

    #: Pixel intensities scaled to [0, 1] (raw values 0..16 divided by 16), shape ``(N, 64)``.
    x: torch.Tensor
    #: The digit, 0..9, dtype ``torch.long``, shape ``(N,)``.
    y: torch.Tensor


def load_digits_tensors(
    *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> DigitsTensors:
    r"""Load scikit-learn's 8x8 digits (no download) as ``(x, y)`` tensors.

    Alpaydin & Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
    Repository, 1998, as bundled by scikit-learn (``sklearn.datasets.load_digits``):
    :math:`N = 1797` images, classes nearly balanced (174 to 183 per digit). Intensities are
    divided by 16 so that :math:`x \in [0, 1]^{64}`.

    Args:
        dtype: floating dtype of ``x``.
        device: device of both tensors (default CPU).

    Returns:
        :class:`DigitsTensors` ``(x, y)``.

    Shape:
        ``x``: ``(1797, 64)``; ``y``: ``(1797,)``.

    Raises:
        TypeError: if ``dtype`` is not a floating dtype.

    Examples:
        >>> x, y = load_digits_tensors()
        >>> x.shape, y.shape, float(x.min()), float(x.max())
        (torch.Size([1797, 64]), torch.Size([1797]), 0.0, 1.0)
        >>> torch.bincount(y).min().item(), torch.bincount(y).max().item()  # nearly balanced
        (174, 183)
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float64) / 16.0  # (N, 64) in [0, 1]
    y = torch.as_tensor(bunch.target, dtype=torch.long)  # (N,)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    return DigitsTensors(x.to(device=dev, dtype=dtype), y.to(dev))


def augment_digits(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    max_shift: int = 1,
    noise_std: float = 0.1,
) -> torch.Tensor:
    r"""Randomly translate each 8x8 digit by up to ``max_shift`` pixels and add Gaussian noise.

    For each sample :math:`n`, shifts :math:`(s_n, t_n)` are drawn uniformly from
    :math:`\{-m, \dots, m\}^2` and the image is rolled circularly,
    :math:`\tilde x_n[u, v] = x_n[(u - s_n) \bmod 8,\ (v - t_n) \bmod 8] + \sigma \xi_{nuv}` with
    :math:`\xi \sim \mathcal N(0, 1)`. The digits have blank borders, so a one-pixel roll is a
    translation. Defaults (:math:`m = 1`, :math:`\sigma = 0.1` on the [0, 1] scale) are this
    book's choice for the SeLa chapter, standing in for the crops and flips of Asano et al.
    (ICLR 2020, arXiv:1911.05371). No clipping; one gather, no loop over samples.

    Args:
        x: images, flattened ``(N, 64)`` or ``(N, 8, 8)``.
        generator: the random generator, on ``x``'s device.
        max_shift: largest shift in pixels along each axis, 0 to 7 (0: noise only).
        noise_std: standard deviation :math:`\sigma \ge 0` of the additive noise.

    Returns:
        The augmented images, same shape, device and dtype as ``x``.

    Shape:
        ``(N, 64) -> (N, 64)`` or ``(N, 8, 8) -> (N, 8, 8)``.

    Raises:
        TypeError: for a non-tensor or non-float ``x``, or a ``generator`` that is not a
            ``torch.Generator``.
        ValueError: for a non-finite ``x`` of another shape, a generator on another device
            than ``x``, or out-of-range ``max_shift`` / ``noise_std``.

    Examples:
        Without noise, a shift only moves pixels: the total ink is preserved exactly.

        >>> x, _ = load_digits_tensors(dtype=torch.float64)
        >>> g = torch.Generator().manual_seed(0)
        >>> xa = augment_digits(x[:5], g, noise_std=0.0)
        >>> torch.allclose(xa.sum(1), x[:5].sum(1))
        True
        >>> bool(torch.equal(augment_digits(x[:5], g, max_shift=0, noise_std=0.0), x[:5]))
        True
    """
    _checks.tensor("x", x, ndim=(2, 3))
    side = DIGITS_SIDE
    if x.shape[1:] not in ((side * side,), (side, side)):
        raise ValueError(f"x must have shape (N, 64) or (N, 8, 8), got {tuple(x.shape)}")
    _checks.generator("generator", generator, device=x.device, of="x")
    _checks.integer("max_shift", max_shift, minimum=0, maximum=side - 1)
    noise_std = _checks.number("noise_std", noise_std, nonnegative=True)
    n = x.shape[0]
    img = x.reshape(n, side, side)  # (N, 8, 8)
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator,
                           device=x.device)  # (N, 2) row and column shift per sample
    grid = torch.arange(side, device=x.device)  # (8,)
    rows = (grid.view(1, side, 1) - shifts[:, 0].view(n, 1, 1)) % side  # (N, 8, 1)
    cols = (grid.view(1, 1, side) - shifts[:, 1].view(n, 1, 1)) % side  # (N, 1, 8)
    out = img[torch.arange(n, device=x.device).view(n, 1, 1), rows, cols]  # (N, 8, 8) rolled
    if noise_std > 0:
        out = out + noise_std * torch.randn(out.shape, generator=generator, device=x.device,
                                            dtype=x.dtype)
    return out.reshape(x.shape)
