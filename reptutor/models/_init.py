r"""Seeded initialisation and input checks shared by the model classes (private).

``generator=`` on a model draws its initial weights from that :class:`torch.Generator` instead of
the global one, so a chapter needs no ``torch.manual_seed``. The draws are torch's own default
initialisation, in the same order: for every :class:`~torch.nn.Linear` and convolution, in the
order the layers were registered (the order they were built),

.. math::

    W \sim \mathcal U\big(-\sqrt{1/\text{fan\_in}},\ \sqrt{1/\text{fan\_in}}\big)
    \quad(\text{Kaiming uniform with } a = \sqrt5), \qquad
    b \sim \mathcal U\big(-1/\sqrt{\text{fan\_in}},\ 1/\sqrt{\text{fan\_in}}\big),

so ``Model(..., generator=torch.Generator().manual_seed(s))`` has exactly the weights of
``torch.manual_seed(s); Model(...)`` (tested for every model class), and building it leaves the
global random state untouched. Batch norm starts at :math:`\gamma = 1, \beta = 0` (nothing drawn).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from reptutor import _checks

#: Layers whose default initialisation is redrawn from the generator.
_DRAWN = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: Layers with parameters but no random initialisation.
_FIXED = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm)


@contextmanager
def parameters_from(module: nn.Module, generator: torch.Generator | None) -> Iterator[None]:
    """Build ``module``'s layers inside this block; with a generator, redraw them from it.

    Without a generator this does nothing: the layers draw from the global generator as usual.
    With one, the global random state is restored when the block ends (building consumed it)
    and every parameter is redrawn from ``generator`` (see the module docstring).
    """
    if generator is None:
        yield
        return
    _checks.generator("generator", generator)
    with torch.random.fork_rng(devices=[]):
        yield
    first = next(module.parameters(), None)
    if first is not None:  # the layers are built on the CPU (or torch's default device)
        _checks.generator("generator", generator, device=first.device, of="the model")
    reset_parameters(module, generator)


@torch.no_grad()
def reset_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """torch's default initialisation of every layer of ``module``, drawn from ``generator``."""
    for layer in module.modules():
        if isinstance(layer, _DRAWN):
            # nn.Linear / _ConvNd.reset_parameters, with the generator passed to nn.init
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            if layer.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        elif isinstance(layer, _FIXED):
            layer.reset_parameters()
        elif any(True for _ in layer.parameters(recurse=False)):
            raise NotImplementedError(
                f"no seeded initialisation for {type(layer).__name__}: add it to "
                "reptutor.models._init.reset_parameters"
            )


def check_input(
    name: str, x: object, weight: torch.Tensor, *, ndim: int | None = None,
    allow_empty: bool = False,
) -> torch.Tensor:
    """A model's input: a tensor of finite values on the device of ``weight``, with its dtype.

    ``weight`` is the parameter that ``x`` meets first. An integer input or a float64 input to a
    float32 model is refused with both dtypes named (instead of torch's ``mat1 and mat2 must
    have the same dtype``).
    """
    _checks.tensor(name, x, ndim=ndim, floating=False, min_rows=0 if allow_empty else 1,
                   allow_empty=allow_empty)
    assert isinstance(x, torch.Tensor)
    return _checks.module_input(name, x, weight)
