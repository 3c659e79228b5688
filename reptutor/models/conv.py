r"""A small convolutional encoder with a local feature map and a global code, and DIM's critics.

Hjelm, Fedorov, Lavoie-Marchildon, Grewal, Bachman, Trischler, Bengio, "Learning deep
representations by mutual information estimation and maximization", ICLR 2019,
arXiv:1808.06670 (Sec. 3: the encoder :math:`E_\psi = f_\psi \circ C_\psi` whose
intermediate :math:`M \times M` feature map :math:`C_\psi(x)` holds one *local* feature per
location and whose output :math:`Y = E_\psi(x)` is the *global* representation).

The critics are all "encode-and-dot" (one of the critic architectures of the paper's appendix): the
two arguments are embedded separately and scored by a dot product, so that every pair in a
batch, and every location, is scored with one matrix product:

* :class:`GlobalCritic`: :math:`T(C(x_j), Y_i) = \phi(\operatorname{flat} C(x_j))^\top
  \psi(Y_i)`, an ``(N, N)`` matrix for :func:`reptutor.losses.dim_global_loss`;
* :class:`LocalCritic`: :math:`T(C^{(p)}(x_j), Y_i) = \phi(C^{(p)}(x_j))^\top\psi(Y_i)` with
  :math:`\phi` a stack of 1x1 convolutions, an ``(N, N, P)`` tensor (:math:`P = M^2`
  locations) for :func:`reptutor.losses.dim_local_loss`;
* :class:`PriorDiscriminator`: the prior-matching discriminator :math:`D_\phi(y)` (logits).

Taught in the chapter *Deep InfoMax: local and global mutual information*
(``notebooks/01_information/03_deep_infomax``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor.models._init import check_input, parameters_from
from reptutor.models.mlp import MLP

__all__ = ["ConvEncoder", "EncoderOutput", "GlobalCritic", "LocalCritic", "PriorDiscriminator"]


class EncoderOutput(NamedTuple):
    r"""What :class:`ConvEncoder` returns: ``(feature_map, y)``."""

    #: The local features :math:`C_\psi(x)`, ``(N, c, M, M)``.
    feature_map: torch.Tensor
    #: The global representation :math:`Y = E_\psi(x)`, ``(N, d)``.
    y: torch.Tensor


def _check_images(x: torch.Tensor, weight: torch.Tensor, channels: int, size: int) -> None:
    check_input("x", x, weight, ndim=4)
    if tuple(x.shape[1:]) != (channels, size, size):
        raise ValueError(
            f"x must have shape (N, {channels}, {size}, {size}), got {tuple(x.shape)}"
        )


class ConvEncoder(nn.Module):
    r"""Three convolutions to an :math:`M\times M` feature map, then an MLP to the global code.

    A scaled-down version of the DCGAN-style encoder of Hjelm et al. (ICLR 2019,
    arXiv:1808.06670, appendix: convolutions, then a fully connected layer, then the
    representation :math:`Y`). Layers, with ReLU after each convolution:

    .. math::

        x \xrightarrow{\text{conv } 3\times3,\ s=1} c_1
          \xrightarrow{\text{conv } 3\times3,\ s=2} c_2
          \xrightarrow{\text{conv } 3\times3,\ s=2} C_\psi(x) \in \mathbb R^{c\times M\times M}
          \xrightarrow{\operatorname{flat},\ \text{linear},\ \text{ReLU},\ \text{linear}}
          Y \in \mathbb R^{d},

    with :math:`M = H / 4` (padding keeps the sizes exact; ``image_size`` must be a multiple of
    4). Each feature :math:`C^{(p)}_\psi(x)` has a :math:`9\times9` receptive field (of a
    :math:`16\times16` image, say): a patch, not the whole image. With ``sigmoid_output`` the
    code is squashed to :math:`(0, 1)^d`, the support of the uniform prior used for prior
    matching in the paper's official code.

    Args:
        in_channels: image channels.
        image_size: the side :math:`H = W` of the (square) images, a multiple of 4.
        channels: the widths :math:`(c_1, c_2, c)` of the three convolutions.
        hidden: width of the hidden fully connected layer.
        out_dim: :math:`d`, the dimension of the global representation (64 in the paper).
        sigmoid_output: apply a sigmoid to :math:`Y`.
        generator: draw the initial weights from this CPU generator (torch's default
            initialisation in the same order, see :class:`reptutor.models.MLP`).

    Shape:
        ``(N, in_channels, H, H) -> EncoderOutput((N, c, H/4, H/4), (N, d))``;
        :meth:`encode`: ``(N, in_channels, H, H) -> (N, d)``.

    Raises:
        TypeError / ValueError: for non-positive sizes, an ``image_size`` that is not a
            multiple of 4, or images of another shape, dtype or device, or with NaN/inf values.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> enc = ConvEncoder(1, 16, out_dim=8, generator=g)  # seeded weights
        >>> out = enc(torch.randn(5, 1, 16, 16, generator=g))
        >>> out.feature_map.shape, out.y.shape, enc.grid
        (torch.Size([5, 64, 4, 4]), torch.Size([5, 8]), 4)
        >>> # locality: changing one corner pixel leaves the far corner's local feature unchanged
        >>> x = torch.randn(1, 1, 16, 16, generator=g); x2 = x.clone(); x2[0, 0, 0, 0] += 5.0
        >>> c, c2 = enc(x).feature_map, enc(x2).feature_map
        >>> bool(torch.equal(c[..., -1, -1], c2[..., -1, -1])), bool(torch.equal(c, c2))
        (True, False)
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 16,
        *,
        channels: Sequence[int] = (32, 64, 64),
        hidden: int = 256,
        out_dim: int = 64,
        sigmoid_output: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = _checks.integer("in_channels", in_channels, minimum=1)
        self.image_size = _checks.integer("image_size", image_size, minimum=4)
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        self.channels = tuple(_checks.integer_sequence("channels", channels, minimum=1, length=3))
        self.hidden = _checks.integer("hidden", hidden, minimum=1)
        self.out_dim = _checks.integer("out_dim", out_dim, minimum=1)
        self.sigmoid_output = _checks.boolean("sigmoid_output", sigmoid_output)
        c1, c2, c3 = self.channels
        self.local_channels = c3
        self.grid = image_size // 4
        with parameters_from(self, generator):
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, c1, 3, stride=1, padding=1), nn.ReLU(),  # (N, c1, H, H)
                nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),  # (N, c2, H/2, H/2)
                nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.ReLU(),  # (N, c, M, M)
            )
            self.head = MLP(c3 * self.grid**2, [hidden], out_dim)

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        _check_images(x, self.features[0].weight, self.in_channels, self.image_size)
        feature_map = self.features(x)  # (N, c, M, M) local features C(x)
        y = self.head.layers(feature_map.flatten(1))  # (N, d) global code Y = f(C(x))
        if self.sigmoid_output:
            y = torch.sigmoid(y)
        return EncoderOutput(feature_map, y)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        r"""The global representation :math:`Y` only (what a downstream probe reads)."""
        return self.forward(x).y

    def extra_repr(self) -> str:
        return hyper_parameters(self)


class GlobalCritic(nn.Module):
    r"""Encode-and-dot critic between a whole feature map and a global code (global DIM).

    Hjelm et al., ICLR 2019, arXiv:1808.06670, Sec. 3.1: the global objective scores the pair
    :math:`(C_\psi(x), Y)`. The paper describes feeding the flattened map together with
    :math:`Y` to a discriminator network; here both are embedded separately (the cheaper
    encode-and-dot form, also what the official code uses for its global objective):

    .. math::

        F_{ij} = T\big(C(x_j), Y_i\big) = \phi\big(\operatorname{flat} C(x_j)\big)^\top
          \psi(Y_i),

    so all :math:`N^2` pairs cost one matmul. Row ``i`` is the anchor :math:`Y_i`, column ``j``
    the candidate image, positives on the diagonal: the convention of
    :func:`reptutor.estimators.infonce`.

    Args:
        local_channels: :math:`c`, channels of the feature map.
        grid: :math:`M`, its side.
        global_dim: :math:`d`, the dimension of :math:`Y`.
        hidden: hidden width of :math:`\phi` and :math:`\psi` (one hidden layer each).
        embed_dim: the dimension of the embeddings whose dot product is the score.
        generator: draw the initial weights from this CPU generator (torch's default
            initialisation in the same order, see :class:`reptutor.models.MLP`).

    Shape:
        ``(N, c, M, M), (N, d) -> (N, N)``.

    Raises:
        TypeError / ValueError: for non-positive sizes or inputs of another shape.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> critic = GlobalCritic(8, 2, 5, hidden=16, embed_dim=4, generator=g)
        >>> c, y = torch.randn(3, 8, 2, 2, generator=g), torch.randn(3, 5, generator=g)
        >>> f = critic(c, y)
        >>> f.shape
        torch.Size([3, 3])
        >>> # permuting the batch permutes rows and columns together: positives stay diagonal
        >>> perm = torch.tensor([2, 0, 1])
        >>> bool(torch.allclose(critic(c[perm], y[perm]), f[perm][:, perm]))
        True
    """

    def __init__(self, local_channels: int, grid: int, global_dim: int, *, hidden: int = 256,
                 embed_dim: int = 128, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.local_channels = _checks.integer("local_channels", local_channels, minimum=1)
        self.grid = _checks.integer("grid", grid, minimum=1)
        self.global_dim = _checks.integer("global_dim", global_dim, minimum=1)
        self.hidden = _checks.integer("hidden", hidden, minimum=1)
        self.embed_dim = _checks.integer("embed_dim", embed_dim, minimum=1)
        with parameters_from(self, generator):
            self.phi = MLP(local_channels * grid * grid, [hidden], embed_dim)
            self.psi = MLP(global_dim, [hidden], embed_dim)

    def extra_repr(self) -> str:
        return hyper_parameters(self)

    def forward(self, feature_map: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_pair(self.phi.layers[0].weight, feature_map, y, self.local_channels, self.grid,
                    self.global_dim)
        # (N, N) rows: codes Y_i (the MLPs' layers directly: their inputs are checked here)
        return self.psi.layers(y) @ self.phi.layers(feature_map.flatten(1)).T


class LocalCritic(nn.Module):
    r"""Encode-and-dot critic between each location of a feature map and a global code.

    Hjelm et al., ICLR 2019, arXiv:1808.06670, Sec. 3.2 and appendix (the "encode-and-dot"
    architecture): the local features are embedded by 1x1 convolutions
    :math:`\phi` (the same small MLP at every location), the code by an MLP :math:`\psi`, and

    .. math::

        S_{ijp} = T\big(C^{(p)}(x_j), Y_i\big) = \phi\big(C^{(p)}(x_j)\big)^\top\psi(Y_i),
        \qquad p = 1, \dots, P = M^2,

    all :math:`N \times N \times P` scores in one contraction. ``S[:, :, p]`` is the critic
    matrix of location ``p``: anchors :math:`Y_i` in rows, candidate images in columns,
    positives on the diagonal.

    Args:
        local_channels: :math:`c`, channels of the feature map.
        global_dim: :math:`d`, the dimension of :math:`Y`.
        hidden: hidden width of :math:`\phi` (1x1 convolutions) and :math:`\psi`.
        embed_dim: the dimension of the embeddings whose dot product is the score.
        generator: draw the initial weights from this CPU generator (torch's default
            initialisation in the same order, see :class:`reptutor.models.MLP`).

    Shape:
        ``(N, c, M, M), (N, d) -> (N, N, M * M)`` (locations in row-major order).

    Raises:
        TypeError / ValueError: for non-positive sizes or inputs of another shape.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> critic = LocalCritic(8, 5, hidden=16, embed_dim=4, generator=g)
        >>> c, y = torch.randn(3, 8, 2, 2, generator=g), torch.randn(3, 5, generator=g)
        >>> s = critic(c, y)
        >>> s.shape
        torch.Size([3, 3, 4])
        >>> # the same 1x1 network at every location: moving a feature moves only its score
        >>> c2 = c.flip(-1)
        >>> bool(torch.allclose(critic(c2, y).view(3, 3, 2, 2), s.view(3, 3, 2, 2).flip(-1)))
        True
    """

    def __init__(self, local_channels: int, global_dim: int, *, hidden: int = 256,
                 embed_dim: int = 128, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.local_channels = _checks.integer("local_channels", local_channels, minimum=1)
        self.global_dim = _checks.integer("global_dim", global_dim, minimum=1)
        self.hidden = _checks.integer("hidden", hidden, minimum=1)
        self.embed_dim = _checks.integer("embed_dim", embed_dim, minimum=1)
        with parameters_from(self, generator):
            self.phi = nn.Sequential(
                nn.Conv2d(local_channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, embed_dim, 1)
            )
            self.psi = MLP(global_dim, [hidden], embed_dim)

    def extra_repr(self) -> str:
        return hyper_parameters(self)

    def forward(self, feature_map: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_pair(self.phi[0].weight, feature_map, y, self.local_channels, None,
                    self.global_dim)
        local = self.phi(feature_map).flatten(2)  # (N, D, P) embedded local features
        code = self.psi.layers(y)  # (N, D) embedded global codes
        return torch.einsum("id,jdp->ijp", code, local)  # (N, N, P) S[i, j, p]


class PriorDiscriminator(nn.Module):
    r"""The prior-matching discriminator :math:`D_\phi(y)`, returning logits.

    Hjelm et al., ICLR 2019, arXiv:1808.06670, Eq. 7: :math:`D_\phi` tells samples
    of the prior :math:`\mathbb V` from codes :math:`E_\psi(x)`; the probability is
    :math:`\sigma(\text{logit})`. Default widths ``(1000, 200)`` follow the official code's
    prior-matching discriminator. Used with :func:`reptutor.losses.prior_matching_terms`.

    Args:
        dim: :math:`d`, the dimension of the codes.
        hidden: hidden widths.
        generator: draw the initial weights from this CPU generator (torch's default
            initialisation in the same order, see :class:`reptutor.models.MLP`).

    Shape:
        ``(N, d) -> (N,)``.

    Raises:
        TypeError / ValueError: for non-positive sizes, or inputs of another shape, dtype or
            device, or with NaN/inf values.

    Examples:
        >>> disc = PriorDiscriminator(4, hidden=(8,))
        >>> disc(torch.rand(6, 4)).shape
        torch.Size([6])
    """

    def __init__(self, dim: int, *, hidden: Sequence[int] = (1000, 200),
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.dim = _checks.integer("dim", dim, minimum=1)
        self.hidden = tuple(_checks.integer_sequence("hidden", hidden, minimum=1))
        with parameters_from(self, generator):
            self.net = MLP(dim, list(self.hidden), 1)

    def extra_repr(self) -> str:
        return hyper_parameters(self)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        check_input("y", y, self.net.layers[0].weight, ndim=2)
        _checks.dim_size("y", y, 1, self.dim, "dim")
        return self.net.layers(y).squeeze(1)  # (N,) logits of "drawn from the prior"


def _check_pair(weight: torch.Tensor, feature_map: torch.Tensor, y: torch.Tensor, channels: int,
                grid: int | None, dim: int) -> None:
    _checks.tensor("feature_map", feature_map, ndim=4, floating=False)
    _checks.tensor("y", y, ndim=2, floating=False)
    _checks.module_input("feature_map", feature_map, weight)
    _checks.same_device_dtype("feature_map", feature_map, "y", y)
    _checks.dim_size("feature_map", feature_map, 1, channels, "local_channels")
    if grid is not None and tuple(feature_map.shape[2:]) != (grid, grid):
        raise ValueError(
            f"feature_map must have a {grid}x{grid} grid, got shape {tuple(feature_map.shape)}"
        )
    _checks.dim_size("y", y, 1, dim, "global_dim")
    _checks.dim_size("y", y, 0, feature_map.shape[0], "one code per feature map")
