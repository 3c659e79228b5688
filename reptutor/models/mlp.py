r"""A small multilayer perceptron, the encoder most toy chapters use.

Shape:
    input ``(N, in_dim)`` -> output ``(N, out_dim)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reptutor import _checks

__all__ = ["MLP"]

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


class MLP(nn.Module):
    r"""Linear layers with an activation (and optional batch norm) between them.

    ``MLP(64, [256, 128], 10)`` is ``Linear(64,256) -> [BN] -> ReLU -> Linear(256,128) -> [BN]
    -> ReLU -> Linear(128,10)``; the last layer has no activation.

    Args:
        in_dim: input features.
        hidden: widths of the hidden layers (may be empty: a linear model).
        out_dim: output features.
        activation: one of ``"relu"``, ``"gelu"``, ``"tanh"``, ``"silu"``.
        batch_norm: insert :class:`torch.nn.BatchNorm1d` before each hidden activation.

    Shape:
        ``(N, in_dim) -> (N, out_dim)``.

    Examples:
        >>> net = MLP(3, [16], 2)
        >>> net(torch.zeros(5, 3)).shape
        torch.Size([5, 2])
        >>> MLP(3, [], 2).layers  # no hidden layer: a linear map
        Sequential(
          (0): Linear(in_features=3, out_features=2, bias=True)
        )
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, *,
                 activation: str = "relu", batch_norm: bool = False) -> None:
        super().__init__()
        _checks.integer("in_dim", in_dim, minimum=1)
        _checks.integer("out_dim", out_dim, minimum=1)
        _checks.choice("activation", activation, tuple(_ACTIVATIONS))
        if isinstance(hidden, int) or not all(isinstance(h, int) and h >= 1 for h in hidden):
            raise ValueError(f"hidden must be a sequence of positive integers, got {hidden!r}")
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(_ACTIVATIONS[activation]())
            width = h
        layers.append(nn.Linear(width, out_dim))
        self.in_dim, self.out_dim = in_dim, out_dim
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x must have shape (N, {self.in_dim}), got {tuple(x.shape)}")
        return self.layers(x)
