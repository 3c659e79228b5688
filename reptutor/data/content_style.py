r"""Procedural content/style pairs: positive pairs that keep the class and may change the style.

The toy world of the Guillotine Regularization chapter (Bordes, Balestriero, Garrido, Bardes,
Vincent, "Guillotine Regularization: Why removing layers is needed to improve generalization in
Self-Supervised Learning", TMLR 2023, arXiv:2206.13378v2). Each sample has two discrete factors:
a *class* that every positive pair shares (what the pretext task is aligned with) and a *style*
that the augmentation may resample (what the pretext task makes the network invariant to). A
downstream task that needs the style is then *misaligned* with the augmentations, the situation
the paper blames for the need to cut the projector; ``keep_style=1`` aligns them.

Taught in the chapter *Guillotine Regularization: why the projector is cut off* (P47,
``notebooks/02_noncontrastive/04_guillotine``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from reptutor import _checks

__all__ = ["ContentStyleViews", "make_content_style"]


class ContentStyleViews(NamedTuple):
    r"""Samples of :func:`make_content_style` and their ground truth.

    Attributes:
        views: the two views of each sample, shape (V, N, D_obs) with V = 2.
        labels: the class :math:`c \in \{0..K-1\}` shared by both views, (N,), long.
        style: the style :math:`s_v \in \{0..S-1\}` of each view, (V, N), long.
        class_codes: the class codes :math:`E^c`, (K, d).
        style_codes: the style codes :math:`E^s`, (S, d).
    """

    views: torch.Tensor
    labels: torch.Tensor
    style: torch.Tensor
    class_codes: torch.Tensor
    style_codes: torch.Tensor


def make_content_style(
    n: int,
    generator: torch.Generator,
    *,
    num_classes: int = 4,
    num_styles: int = 4,
    code_dim: int = 4,
    hidden_dim: int = 64,
    obs_dim: int = 32,
    noise: float = 0.6,
    keep_style: float = 0.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> ContentStyleViews:
    r"""Draw :math:`N` positive pairs that share a class and keep their style with a probability.

    Our procedural stand-in for an augmentation that destroys a factor a downstream task needs
    (the "misalignment" of Bordes et al., TMLR 2023, arXiv:2206.13378v2; our design,
    not the paper's data). The structure is drawn first from ``generator``: class codes
    :math:`E^c_k \sim \mathcal N(0, I_d)`, style codes :math:`E^s_j \sim \mathcal N(0, I_d)`
    and a random one-hidden-layer "renderer" :math:`A \in \mathbb R^{2d\times d_h}`,
    :math:`B \in \mathbb R^{d_h\times D_{obs}}` with i.i.d. :math:`\mathcal N(0, 1/2d)` and
    :math:`\mathcal N(0, 1/d_h)` entries. Then, for each sample,

    .. math::

        c \sim \mathrm{Unif}\{0..K-1\}, \quad s_1 \sim \mathrm{Unif}\{0..S-1\}, \quad
        s_2 = \begin{cases} s_1 & \text{with probability } p \\
                            \tilde s \sim \mathrm{Unif}\{0..S-1\} & \text{otherwise,}\end{cases}

    .. math::

        x_v = \tanh\!\big(([E^c_c;\ E^s_{s_v}] + \sigma\,\zeta_v)\,A\big)\,B, \qquad
        \zeta_v \sim \mathcal N(0, I_{2d}) \text{ independent across views,}

    with :math:`p` = ``keep_style``. So the views always share the class, and at :math:`p=0`
    the second view's style is independent of the first view's: an encoder whose output is
    equal on the two views of every pair (perfect invariance) carries no information about
    the style. At :math:`p = 1` the pair shares the style too (an augmentation aligned with a
    style task). The marginal law of each view does not depend on :math:`p`.

    Train and test sets must share the structure: draw them in **one** call and slice, or
    use generators with the same seed (the structure is drawn first and does not depend on
    ``n`` or ``keep_style``).

    Args:
        n: number of pairs :math:`N \ge 1`.
        generator: the source of randomness (structure first, then the samples).
        num_classes: :math:`K \ge 2`.
        num_styles: :math:`S \ge 2`.
        code_dim: :math:`d \ge 1`, dimension of each code.
        hidden_dim: :math:`d_h \ge 1`, width of the renderer.
        obs_dim: :math:`D_{obs} \ge 1`.
        noise: :math:`\sigma \ge 0`, jitter of the codes (how far the classes overlap).
        keep_style: :math:`p \in [0, 1]`, probability that the second view keeps the style.
        dtype: floating dtype of the float outputs (drawn in float64, then cast).
        device: device of the outputs (default: the generator's device).

    Returns:
        :class:`ContentStyleViews` ``(views, labels, style, class_codes, style_codes)``.

    Shape:
        ``views``: (2, N, D_obs); ``labels``: (N,); ``style``: (2, N);
        ``class_codes``: (K, d); ``style_codes``: (S, d).

    Raises:
        TypeError: for a missing/invalid generator, non-integer sizes, non-real numbers or a
            non-floating dtype.
        ValueError: for sizes out of range, a negative ``noise`` or ``keep_style`` outside
            [0, 1].

    Examples:
        With ``keep_style=1`` both views of every pair have the same style; with ``keep_style=0``
        about :math:`1 - 1/S` of them differ. The first view does not depend on ``keep_style``:

        >>> a = make_content_style(2000, torch.Generator().manual_seed(0), keep_style=1.0)
        >>> b = make_content_style(2000, torch.Generator().manual_seed(0), keep_style=0.0)
        >>> changed = float((b.style[0] != b.style[1]).double().mean())  # 1 - 1/S = 0.75
        >>> bool((a.style[0] == a.style[1]).all()), abs(changed - 0.75) < 0.03
        (True, True)
        >>> bool(torch.equal(a.views[0], b.views[0])), tuple(a.views.shape)
        (True, (2, 2000, 32))
    """
    _checks.generator("generator", generator)
    _checks.integer("n", n, minimum=1)
    _checks.integer("num_classes", num_classes, minimum=2)
    _checks.integer("num_styles", num_styles, minimum=2)
    _checks.integer("code_dim", code_dim, minimum=1)
    _checks.integer("hidden_dim", hidden_dim, minimum=1)
    _checks.integer("obs_dim", obs_dim, minimum=1)
    noise = _checks.number("noise", noise, nonnegative=True)
    keep_style = _checks.number("keep_style", keep_style, minimum=0.0, maximum=1.0)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")

    gdev = generator.device
    f64 = dict(generator=generator, device=gdev, dtype=torch.float64)
    # Structure: the codes E^c, E^s and the renderer (A, B), drawn before any sample.
    class_codes = torch.randn(num_classes, code_dim, **f64)  # (K, d)
    style_codes = torch.randn(num_styles, code_dim, **f64)  # (S, d)
    first = torch.randn(2 * code_dim, hidden_dim, **f64) / math.sqrt(2 * code_dim)  # (2d, d_h) A
    second = torch.randn(hidden_dim, obs_dim, **f64) / math.sqrt(hidden_dim)  # (d_h, D_obs) B
    # Samples: the class, the first view's style, and the second view's (kept w.p. p).
    labels = torch.randint(num_classes, (n,), generator=generator, device=gdev)  # (N,)
    s1 = torch.randint(num_styles, (n,), generator=generator, device=gdev)  # (N,)
    fresh = torch.randint(num_styles, (n,), generator=generator, device=gdev)  # (N,)
    keep = torch.rand(n, **f64) < keep_style  # (N,) True: the augmentation keeps the style
    style = torch.stack([s1, torch.where(keep, s1, fresh)])  # (V, N)
    codes = torch.cat([class_codes[labels].expand(2, n, code_dim),
                       style_codes[style]], dim=2)  # (V, N, 2d) [E^c_c; E^s_{s_v}]
    latent = codes + noise * torch.randn(2, n, 2 * code_dim, **f64)  # independent jitter per view
    views = torch.tanh(latent @ first) @ second  # (V, N, D_obs)
    out_dev = torch.device(device) if device is not None else gdev
    return ContentStyleViews(
        views=views.to(device=out_dev, dtype=dtype),
        labels=labels.to(out_dev),
        style=style.to(out_dev),
        class_codes=class_codes.to(device=out_dev, dtype=dtype),
        style_codes=style_codes.to(device=out_dev, dtype=dtype),
    )
