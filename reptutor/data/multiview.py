r"""Procedural multi-view scenes: a class seen by every view, a nuisance seen by only some.

The toy world of the CMC chapter (Tian, Krishnan & Isola, "Contrastive Multiview Coding",
ECCV 2020, arXiv:1906.05849v5). The paper's views are image channels (luminance, colour,
depth, normals, segmentation) of one scene; what they share is the scene's content, and each
view also has its own nuisances. Here the ground truth is explicit: a class label shared by
all views, a nuisance shared by a chosen subset of views, private noise per view, all pushed
through a random nonlinear "sensor" per view. The information two views share is therefore
known factor by factor, which is what the Venn-diagram argument of the paper is about.

Taught in the chapter *Contrastive Multiview Coding: more views, less nuisance* (P38,
``notebooks/01_information/02_cmc``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from reptutor import _checks

__all__ = ["MultiviewData", "make_multiview"]


class MultiviewData(NamedTuple):
    r"""Samples of :func:`make_multiview` and their ground truth.

    Attributes:
        views: the observations, shape (V, N, D_obs); ``views[k]`` is view :math:`k`.
        labels: the class :math:`y \in \{0, \dots, K-1\}` shared by every view, (N,), long.
        nuisance: the nuisance :math:`u` shared by the views in ``nuisance_views`` (before
            scaling), shape (N, nuisance_dim).
        prototypes: the class codes :math:`\mu_1..\mu_K` (after scaling), (K, shared_dim).
        mixing: the sensors' matrices :math:`A_k`, shape (V, shared_dim + nuisance_dim +
            private_dim, D_obs).
    """

    views: torch.Tensor
    labels: torch.Tensor
    nuisance: torch.Tensor
    prototypes: torch.Tensor
    mixing: torch.Tensor


def make_multiview(
    n: int,
    generator: torch.Generator,
    *,
    num_views: int = 4,
    num_classes: int = 10,
    shared_dim: int = 4,
    nuisance_dim: int = 4,
    private_dim: int = 4,
    obs_dim: int = 16,
    nuisance_views: Sequence[int] = (0, 1),
    class_scale: float = 1.5,
    class_noise: float = 0.2,
    nuisance_scale: float = 3.0,
    private_scale: float = 0.5,
    obs_noise: float = 0.05,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> MultiviewData:
    r"""Draw :math:`N` scenes seen through :math:`V` views with a known shared factor.

    A procedural stand-in for the multi-view data of Tian, Krishnan & Isola, *Contrastive
    Multiview Coding*, ECCV 2020, arXiv:1906.05849v5 (our design, not the paper's data). The
    structure is drawn first from ``generator``: class codes
    :math:`\mu_c = s_\mu\,\tilde\mu_c`, :math:`\tilde\mu_c \sim \mathcal N(0, I_{d_s})`, and one
    sensor matrix per view, :math:`A_k \in \mathbb R^{d \times D_{obs}}` with i.i.d.
    :math:`\mathcal N(0, 1/d)` entries, :math:`d = d_s + d_u + d_n`. Then for each scene
    :math:`n`, with :math:`S` the set ``nuisance_views``:

    .. math::

        y \sim \mathrm{Unif}\{0..K-1\}, \quad
        u \sim \mathcal N(0, I_{d_u}), \quad
        u_k = u \ (k \in S), \ \ u_k \sim \mathcal N(0, I_{d_u}) \text{ i.i.d.} \ (k \notin S),

    .. math::

        x_k = \tanh\!\big([\,\mu_y + \sigma_c \epsilon_k;\ s_u u_k;\ s_n n_k\,]\,A_k\big)
              + \sigma_o \eta_k,

    with :math:`\epsilon_k, n_k, \eta_k` standard normal and independent across views. So
    every view sees the class (through its own jitter :math:`\sigma_c\epsilon_k`), only the
    views in :math:`S` share the nuisance :math:`u`, and the rest is private. Given :math:`y`,
    two views outside :math:`S \times S` are independent, hence for such a pair
    :math:`I(x_i; x_j) \le H(y) = \log K` nats (uniform classes); a pair inside :math:`S`
    also shares :math:`u`, whose information grows with :math:`s_u / \sigma_o`.

    Train and test sets must share the structure (codes and sensors): draw them in **one**
    call and slice the scenes (a second call with another generator is another world).

    Defaults are this book's choices for the CMC chapter, not values from the paper: the
    nuisance amplitude :math:`s_u = 3` is twice the class amplitude :math:`s_\mu = 1.5`, so
    the nuisance moves the observations more than the class does.

    Args:
        n: number of scenes :math:`N \ge 1`.
        generator: the source of randomness (structure first, then the scenes).
        num_views: :math:`V \ge 1`.
        num_classes: :math:`K \ge 2`.
        shared_dim: :math:`d_s`, dimension of the class code.
        nuisance_dim: :math:`d_u`, dimension of the nuisance (0 for none).
        private_dim: :math:`d_n`, dimension of each view's private noise (0 for none).
        obs_dim: :math:`D_{obs}`, dimension of each view.
        nuisance_views: the views :math:`S` that share :math:`u` (distinct indices in
            ``[0, V)``; empty: every view has its own).
        class_scale: :math:`s_\mu \ge 0`.
        class_noise: :math:`\sigma_c \ge 0`, per-view jitter of the class code.
        nuisance_scale: :math:`s_u \ge 0`.
        private_scale: :math:`s_n \ge 0`.
        obs_noise: :math:`\sigma_o \ge 0`, additive observation noise.
        dtype: floating dtype of the float outputs (drawn in float64, then cast).
        device: device of the outputs (default: the generator's device).

    Returns:
        :class:`MultiviewData` ``(views, labels, nuisance, prototypes, mixing)``.

    Shape:
        ``views``: (V, N, D_obs); ``labels``: (N,); ``nuisance``: (N, d_u);
        ``prototypes``: (K, d_s); ``mixing``: (V, d, D_obs).

    Raises:
        TypeError: for a missing/invalid generator, non-integer sizes, non-real scales or a
            non-floating dtype.
        ValueError: for sizes out of range, negative scales, or invalid ``nuisance_views``.

    Examples:
        Same generator seed, same world; views are bounded by the tanh sensor plus noise.

        >>> d1 = make_multiview(64, generator=torch.Generator().manual_seed(0))
        >>> d2 = make_multiview(64, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.equal(d1.views, d2.views)), tuple(d1.views.shape)
        (True, (4, 64, 16))

        Degenerate case: with no class code, no nuisance and no noise, every view is the
        constant :math:`\tanh(0) = 0` and carries no information.

        >>> d0 = make_multiview(8, generator=torch.Generator().manual_seed(1), class_scale=0.0,
        ...                     class_noise=0.0, nuisance_scale=0.0, private_scale=0.0,
        ...                     obs_noise=0.0)
        >>> float(d0.views.abs().max())
        0.0
    """
    _checks.generator("generator", generator)
    _checks.integer("n", n, minimum=1)
    _checks.integer("num_views", num_views, minimum=1)
    _checks.integer("num_classes", num_classes, minimum=2)
    _checks.integer("shared_dim", shared_dim, minimum=1)
    _checks.integer("nuisance_dim", nuisance_dim, minimum=0)
    _checks.integer("private_dim", private_dim, minimum=0)
    _checks.integer("obs_dim", obs_dim, minimum=1)
    class_scale = _checks.number("class_scale", class_scale, nonnegative=True)
    class_noise = _checks.number("class_noise", class_noise, nonnegative=True)
    nuisance_scale = _checks.number("nuisance_scale", nuisance_scale, nonnegative=True)
    private_scale = _checks.number("private_scale", private_scale, nonnegative=True)
    obs_noise = _checks.number("obs_noise", obs_noise, nonnegative=True)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    if isinstance(nuisance_views, (str, bytes)) or not isinstance(nuisance_views, Sequence):
        raise TypeError(f"nuisance_views must be a sequence of view indices, got {nuisance_views!r}"[:200])
    shared_set = []
    for k, v in enumerate(nuisance_views):
        _checks.integer(f"nuisance_views[{k}]", v, minimum=0, maximum=num_views - 1)
        if v in shared_set:
            raise ValueError(f"nuisance_views must not repeat a view, got {tuple(nuisance_views)}")
        shared_set.append(int(v))

    gdev = generator.device
    f64 = dict(generator=generator, device=gdev, dtype=torch.float64)
    d_in = shared_dim + nuisance_dim + private_dim
    # Structure: class codes mu_c and one sensor matrix A_k per view, entries N(0, 1/d).
    prototypes = class_scale * torch.randn(num_classes, shared_dim, **f64)  # (K, d_s)
    mixing = torch.randn(num_views, d_in, obs_dim, **f64) / math.sqrt(d_in)  # (V, d, D_obs)
    # Scenes: the class (seen by all), the nuisance (seen by the views in S).
    labels = torch.randint(num_classes, (n,), generator=generator, device=gdev)  # (N,)
    nuisance = torch.randn(n, nuisance_dim, **f64)  # (N, d_u)
    in_s = torch.zeros(num_views, dtype=torch.bool, device=gdev)
    in_s[shared_set] = True
    own = torch.randn(num_views, n, nuisance_dim, **f64)  # (V, N, d_u) independent draws
    u_views = torch.where(in_s[:, None, None], nuisance.expand(num_views, n, nuisance_dim), own)
    codes = prototypes[labels] + class_noise * torch.randn(num_views, n, shared_dim, **f64)  # (V, N, d_s)
    private = private_scale * torch.randn(num_views, n, private_dim, **f64)  # (V, N, d_n)
    h = torch.cat([codes, nuisance_scale * u_views, private], dim=2)  # (V, N, d) latent per view
    views = torch.tanh(torch.bmm(h, mixing))  # (V, N, D_obs) the nonlinear sensor
    views = views + obs_noise * torch.randn(num_views, n, obs_dim, **f64)
    out_dev = torch.device(device) if device is not None else gdev
    return MultiviewData(
        views=views.to(device=out_dev, dtype=dtype),
        labels=labels.to(out_dev),
        nuisance=nuisance.to(device=out_dev, dtype=dtype),
        prototypes=prototypes.to(device=out_dev, dtype=dtype),
        mixing=mixing.to(device=out_dev, dtype=dtype),
    )
