r"""GDT's clip generator: procedural clips with known content, and time transformations with
known parameters.

The toy stand-in for the audio-visual clips of Patrick, Asano, Kuznetsova, Fong, Henriques,
Zweig, Vedaldi, "On Compositions of Transformations in Contrastive Self-Supervised Learning",
ICCV 2021, arXiv:2003.04298v3 (GDT). A clip is a 1-D signal of :math:`D` time steps (its input dimension) made of

* a *content* part (a few harmonics whose amplitudes carry the class label), built so that it is
  exactly unchanged by every transformation below, and
* a *transient*: an onset that decays, whose direction reveals time reversal and whose position
  reveals a circular time shift.

So each transformation's parameter is known, is visible in the transformed clip, and is the
only thing the transformation changes: a representation can keep or discard it, and a probe can
tell which. :func:`transform_grid` builds the hierarchical batch of GDT (every sample under every
combination of transformation parameters) and :func:`random_sensor` / :func:`observe` turn one
latent clip into two "modalities" with independent noise.

Taught in the chapter *Invariant or distinctive: compositions of transformations (GDT)*
(``notebooks/01_information/04_gdt``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from reptutor import _checks

__all__ = [
    "Clips",
    "make_clips",
    "time_reverse",
    "time_shift",
    "TransformGrid",
    "transform_grid",
    "Sensor",
    "random_sensor",
    "observe",
]


class Clips(NamedTuple):
    """Clips drawn by :func:`make_clips`.

    Attributes:
        x: the clips, shape (N, D), in canonical pose (transient at the start, decaying).
        label: the content class, 0..K-1, dtype ``torch.long``, shape (N,).
        content: the harmonic amplitudes :math:`a_n`, shape (N, K).
    """

    x: torch.Tensor
    label: torch.Tensor
    content: torch.Tensor


def _check_per_sample(name: str, p: object, n: int, device: torch.device) -> torch.Tensor:
    """A 1-D integer or bool tensor of length ``n`` on ``device``."""
    if not isinstance(p, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor with one entry per clip, got "
                        f"{type(p).__name__}")
    if p.dtype.is_floating_point or p.dtype.is_complex:
        raise TypeError(f"{name} must have an integer or bool dtype, got {p.dtype}")
    if p.ndim != 1 or p.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) (one entry per clip), got {tuple(p.shape)}")
    if p.device != device:
        raise ValueError(f"{name} must be on x's device {device}, got {p.device}")
    return p


def make_clips(
    n: int,
    generator: torch.Generator,
    *,
    length: int = 32,
    num_classes: int = 4,
    num_shifts: int = 4,
    spread: float = 0.3,
    pulse: float = 1.5,
    decay: float = 4.0,
    dtype: torch.dtype = torch.float32,
) -> Clips:
    r"""Draw ``n`` clips whose content is invariant to time reversal and to shifts by D / num_shifts.

    A toy for the video clips of Patrick et al. (ICCV 2021, arXiv:2003.04298), built for this
    book. With :math:`c = (D-1)/2` the clip's centre and :math:`P = D / n_{\mathrm{shifts}}`,
    clip :math:`n` of class :math:`k_n \sim \mathrm{Unif}\{0..K-1\}` is

    .. math::

        x_n(t) = \sum_{j=0}^{K-1} a_{nj}\,\cos\!\Big(\frac{2\pi\, j\, n_{\mathrm{shifts}}\,(t - c)}{D}\Big)
                 + \beta\, e^{-t/\lambda},
        \qquad a_n = e_{k_n} + s\,\xi_n,\ \xi_n \sim \mathcal N(0, I_K),

    for :math:`t = 0..D-1`. The harmonics are even about :math:`c` and have period dividing
    :math:`P`, so the content part is *exactly* unchanged by :func:`time_reverse` and by
    :func:`time_shift` with steps that are multiples of :math:`P`; the transient
    :math:`\beta e^{-t/\lambda}` (an onset that decays) becomes a swell under reversal and moves
    under a shift. Class :math:`k` puts its mean amplitude on harmonic :math:`k` (harmonic 0 is
    the constant level).

    Args:
        n: number of clips, at least 1.
        generator: the random generator; the clips live on its device.
        length: :math:`D`, a multiple of ``num_shifts``.
        num_classes: :math:`K \ge 2`; needs :math:`(K-1)\,n_{\mathrm{shifts}} < D/2` (below Nyquist).
        num_shifts: number of distinct shift positions the content must survive.
        spread: :math:`s \ge 0`, the within-class spread of the amplitudes.
        pulse: :math:`\beta \ge 0`, the transient's height (0 removes it).
        decay: :math:`\lambda > 0`, the transient's decay time in steps.
        dtype: floating dtype of ``x`` and ``content``.

    Returns:
        :class:`Clips` ``(x, label, content)``.

    Shape:
        ``x``: (N, D); ``label``: (N,); ``content``: (N, K).

    Raises:
        TypeError: for a ``generator`` that is not a :class:`torch.Generator`, non-integer sizes
            or a non-floating ``dtype``.
        ValueError: for sizes out of range, ``length`` not a multiple of ``num_shifts``, too many
            classes for the length, or negative ``spread`` / ``pulse``.

    Examples:
        The content survives reversal and shifts by D / 4; only the transient moves.

        >>> g = torch.Generator().manual_seed(0)
        >>> clips = make_clips(5, g, pulse=0.0, dtype=torch.float64)
        >>> torch.allclose(time_reverse(clips.x, torch.ones(5, dtype=torch.bool)), clips.x)
        True
        >>> torch.allclose(time_shift(clips.x, torch.full((5,), 8)), clips.x)
        True
        >>> with_pulse = make_clips(5, torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> bool((with_pulse.x[:, 0] - clips.x[:, 0] - 1.5).abs().max() < 1e-12)  # onset at t=0
        True
    """
    _checks.generator("generator", generator)
    _checks.integer("n", n, minimum=1)
    _checks.integer("num_shifts", num_shifts, minimum=1)
    _checks.integer("num_classes", num_classes, minimum=2)
    _checks.integer("length", length, minimum=2)
    if length % num_shifts != 0:
        raise ValueError(f"length must be a multiple of num_shifts={num_shifts}, got {length}")
    if 2 * (num_classes - 1) * num_shifts >= length:
        raise ValueError(
            f"num_classes={num_classes} harmonics spaced by num_shifts={num_shifts} need "
            f"length > {2 * (num_classes - 1) * num_shifts} (below Nyquist), got length={length}"
        )
    spread = _checks.number("spread", spread, nonnegative=True)
    pulse = _checks.number("pulse", pulse, nonnegative=True)
    decay = _checks.number("decay", decay, positive=True)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    dev = generator.device
    label = torch.randint(num_classes, (n,), generator=generator, device=dev)  # (N,)
    noise = torch.randn(n, num_classes, generator=generator, device=dev, dtype=dtype)
    content = torch.nn.functional.one_hot(label, num_classes).to(dtype) + spread * noise  # (N, K)
    t = torch.arange(length, device=dev, dtype=dtype)  # (D,)
    freq = num_shifts * torch.arange(num_classes, device=dev, dtype=dtype)  # (K,) cycles per clip
    # Cosines even about the centre c = (D-1)/2: unchanged by t -> D-1-t.
    basis = torch.cos(2 * math.pi * freq[:, None] * (t[None, :] - (length - 1) / 2) / length)
    transient = pulse * torch.exp(-t / decay)  # (D,) onset at t = 0, decaying
    x = content @ basis + transient  # (N, K) @ (K, D) -> (N, D)
    return Clips(x, label, content)


def time_reverse(x: torch.Tensor, reverse: torch.Tensor) -> torch.Tensor:
    r"""Reverse time in the clips whose flag is set: :math:`(R^{r}x)(t) = x(D-1-t)` if :math:`r = 1`.

    The time-reversal transformation of Patrick et al. (ICCV 2021, arXiv:2003.04298), with its
    parameter :math:`r \in \{0, 1\}` given per clip. An involution: applying it twice is the
    identity. One ``torch.where``, no loop over samples.

    Args:
        x: clips (N, D), time along dim 1.
        reverse: per-clip flags (bool, or integers 0/1).

    Returns:
        The transformed clips, same shape, device and dtype as ``x``.

    Shape:
        ``x``: (N, D); ``reverse``: (N,).

    Raises:
        TypeError / ValueError: for a non-float ``x`` that is not (N, D), or flags of another
            shape, dtype, device or with values other than 0 and 1.

    Examples:
        >>> x = torch.arange(8.0).view(2, 4)
        >>> time_reverse(x, torch.tensor([True, False]))
        tensor([[3., 2., 1., 0.],
                [4., 5., 6., 7.]])
        >>> r = torch.tensor([1, 1])
        >>> bool(torch.equal(time_reverse(time_reverse(x, r), r), x))  # an involution
        True
    """
    _checks.tensor("x", x, ndim=2)
    flags = _check_per_sample("reverse", reverse, x.shape[0], x.device)
    if flags.dtype != torch.bool:
        if bool(((flags != 0) & (flags != 1)).any()):
            raise ValueError(f"reverse must hold only 0 and 1, got values {flags.unique().tolist()}")
        flags = flags.bool()
    return torch.where(flags[:, None], x.flip(1), x)  # (N, D)


def time_shift(x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    r"""Circularly shift each clip later in time: :math:`(S^{k}x)(t) = x((t - k) \bmod D)`.

    The time-shift transformation of Patrick et al. (ICCV 2021, arXiv:2003.04298) on a circular
    clip, with integer parameter :math:`k` per clip (any integer; it acts modulo :math:`D`).
    Shifts compose additively, :math:`S^{a}S^{b} = S^{a+b}`, and with reversal
    :math:`R\,S^{k} = S^{-k} R`. One gather, no loop over samples.

    Args:
        x: clips (N, D), time along dim 1.
        steps: integer shift per clip.

    Returns:
        The shifted clips, same shape, device and dtype as ``x``.

    Shape:
        ``x``: (N, D); ``steps``: (N,).

    Raises:
        TypeError / ValueError: for a non-float ``x`` that is not (N, D), or ``steps`` that is
            not an integer tensor of shape (N,) on ``x``'s device.

    Examples:
        >>> x = torch.arange(4.0).view(1, 4)
        >>> time_shift(x, torch.tensor([1]))
        tensor([[3., 0., 1., 2.]])
        >>> bool(torch.equal(time_shift(time_shift(x, torch.tensor([3])), torch.tensor([1])), x))
        True
    """
    _checks.tensor("x", x, ndim=2)
    k = _check_per_sample("steps", steps, x.shape[0], x.device)
    if k.dtype == torch.bool:
        raise TypeError("steps must have an integer dtype, got torch.bool")
    n, length = x.shape
    src = (torch.arange(length, device=x.device)[None, :] - k[:, None].long()) % length  # (N, D)
    return x.gather(1, src)  # (N, D): out[n, t] = x[n, (t - k_n) mod D]


class TransformGrid(NamedTuple):
    """The hierarchical batch of :func:`transform_grid`.

    Attributes:
        sample_index: which sample each view comes from, shape (N * P,), dtype long.
        params: each view's transformation parameters, shape (N * P, M), dtype long.
    """

    sample_index: torch.Tensor
    params: torch.Tensor


def transform_grid(
    n: int, sizes: Sequence[int], *, device: torch.device | str | None = None
) -> TransformGrid:
    r"""Every sample under every combination of transformation parameters (GDT's batch design).

    Patrick et al. (ICCV 2021, arXiv:2003.04298) sample a batch of generalized transformations
    hierarchically: first the data samples, then, for each, the parameters of each further
    transformation, so that views differing in exactly one transformation are present in the
    batch (the positives an invariance needs, the hard negatives a distinctiveness needs). This
    returns the complete (Cartesian) version: for :math:`n` samples and factor sizes
    :math:`(|\Theta_1|, \dots, |\Theta_M|)`, the :math:`n P` views with
    :math:`P = \prod_m |\Theta_m|`, sample-major, parameters in lexicographic order (the last
    factor varies fastest).

    Args:
        n: number of samples, at least 1.
        sizes: the number of values of each transformation, each at least 1 (may be empty).
        device: device of the returned tensors.

    Returns:
        :class:`TransformGrid` ``(sample_index, params)``.

    Shape:
        ``sample_index``: (n P,); ``params``: (n P, M).

    Raises:
        TypeError / ValueError: for a non-integer or non-positive ``n`` or size.

    Examples:
        >>> grid = transform_grid(2, [2, 3])
        >>> grid.sample_index.tolist()
        [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
        >>> grid.params[:6].tolist()
        [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    """
    _checks.integer("n", n, minimum=1)
    sizes = _checks.integer_sequence("sizes", sizes, minimum=1)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    per = math.prod(sizes)
    sample_index = torch.arange(n, device=dev).repeat_interleave(per)  # (n P,)
    if len(sizes) == 0:
        return TransformGrid(sample_index, torch.zeros(n, 0, dtype=torch.long, device=dev))
    axes = torch.meshgrid(*[torch.arange(s, device=dev) for s in sizes], indexing="ij")
    combos = torch.stack([a.reshape(-1) for a in axes], dim=1)  # (P, M), last factor fastest
    return TransformGrid(sample_index, combos.repeat(n, 1))  # (n P, M)


class Sensor(NamedTuple):
    """A fixed random "modality": per-channel gain and offset (see :func:`observe`).

    Attributes:
        weight: gains :math:`w`, shape (C,).
        bias: offsets :math:`b`, shape (C,).
    """

    weight: torch.Tensor
    bias: torch.Tensor


def random_sensor(
    channels: int,
    generator: torch.Generator,
    *,
    bias_scale: float = 0.3,
    dtype: torch.dtype = torch.float32,
) -> Sensor:
    r"""Draw a modality: :math:`w \sim \mathcal N(0, I_C)`, :math:`b \sim \mathcal N(0, \sigma_b^2 I_C)`.

    Two sensors with different channel counts play the video and audio streams of
    Patrick et al. (ICCV 2021, arXiv:2003.04298): two different views of one latent clip, read
    by two different encoders. The scale of ``bias_scale`` is this book's choice.

    Args:
        channels: :math:`C \ge 1` channels per time step.
        generator: the random generator; the sensor lives on its device.
        bias_scale: :math:`\sigma_b \ge 0`.
        dtype: floating dtype.

    Returns:
        :class:`Sensor` ``(weight, bias)``.

    Shape:
        ``weight``, ``bias``: (C,).

    Raises:
        TypeError / ValueError: for a bad ``generator``, ``channels``, ``bias_scale`` or ``dtype``.

    Examples:
        >>> s = random_sensor(3, torch.Generator().manual_seed(0))
        >>> s.weight.shape, s.bias.shape
        (torch.Size([3]), torch.Size([3]))
    """
    _checks.generator("generator", generator)
    _checks.integer("channels", channels, minimum=1)
    bias_scale = _checks.number("bias_scale", bias_scale, nonnegative=True)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    dev = generator.device
    weight = torch.randn(channels, generator=generator, device=dev, dtype=dtype)
    bias = bias_scale * torch.randn(channels, generator=generator, device=dev, dtype=dtype)
    return Sensor(weight, bias)


def observe(
    x: torch.Tensor,
    sensor: Sensor,
    generator: torch.Generator | None = None,
    *,
    noise: float = 0.1,
) -> torch.Tensor:
    r"""Read clips through a sensor: :math:`o_{n,t,c} = \tanh(w_c\, x_n(t) + b_c) + \sigma\,\varepsilon_{n,t,c}`.

    Each call draws fresh noise :math:`\varepsilon \sim \mathcal N(0, 1)`, so two modalities (or
    two reads) of the same clip differ: positives in a contrastive batch are never identical.
    The channels of each time step are stored next to each other and the result is flattened to
    one vector per clip, time-major. Defaults are this book's choice.

    Args:
        x: latent clips (N, D).
        sensor: a :class:`Sensor` on ``x``'s device and dtype.
        generator: the random generator for the noise, on ``x``'s device (may be ``None`` only
            when ``noise == 0``).
        noise: :math:`\sigma \ge 0`.

    Returns:
        The flattened observations; entry :math:`t C + c` of row :math:`n` is :math:`o_{n,t,c}`.

    Shape:
        ``x``: (N, D) -> (N, D C), C the sensor's channels.

    Raises:
        TypeError / ValueError: for a bad ``x``, a ``sensor`` of another device/dtype, a missing
            generator with ``noise > 0``, or a negative ``noise``.

    Examples:
        Noise-free observations are a fixed function of the clip, bounded by 1.

        >>> g = torch.Generator().manual_seed(0)
        >>> s = random_sensor(2, g)
        >>> x = make_clips(4, g).x
        >>> o = observe(x, s, noise=0.0)
        >>> o.shape, bool(o.abs().max() < 1)
        (torch.Size([4, 64]), True)
    """
    _checks.tensor("x", x, ndim=2)
    if not isinstance(sensor, Sensor):
        raise TypeError(f"sensor must be a Sensor (see random_sensor), got {type(sensor).__name__}")
    _checks.tensor("sensor.weight", sensor.weight, ndim=1)
    _checks.same_shape("sensor.weight", sensor.weight, "sensor.bias", sensor.bias)
    _checks.same_device_dtype("x", x, "sensor.weight", sensor.weight)
    _checks.same_device_dtype("x", x, "sensor.bias", sensor.bias)
    noise = _checks.number("noise", noise, nonnegative=True)
    out = torch.tanh(x[:, :, None] * sensor.weight + sensor.bias)  # (N, D, C)
    if noise > 0:
        if generator is None:
            raise ValueError("generator must be given when noise > 0")
        _checks.generator("generator", generator, device=x.device)
        out = out + noise * torch.randn(out.shape, generator=generator, device=x.device,
                                        dtype=x.dtype)
    return out.flatten(1)  # (N, D C), time-major
