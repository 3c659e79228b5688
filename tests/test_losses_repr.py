"""Every loss wrapper of reptutor.losses prints its hyper-parameters, and the print rebuilds it.

``InfoNCELoss(temperature=0.2)`` printed ``InfoNCELoss()`` before; now each ``nn.Module`` class in
``reptutor.losses.__all__`` is built with a non-default value for *every* constructor argument
and its ``repr`` must show each one as ``name=value`` and evaluate back to an equal module.
"""
from __future__ import annotations

import inspect

import pytest
from torch import nn

from reptutor import losses

#: Non-default values by argument name, for the arguments whose valid values cannot be derived
#: from the default (options, integers, required arguments). Bools are flipped and floats
#: doubled (0 -> 0.5) automatically.
CHOSEN = {
    "reduction": "sum",
    "form": "samples",
    "estimator": "dv",
    "negatives": "clip",
    "denominator": "shared",
    "graph": "core",
    "core_view": 1,
    "chunk_size": 3,
    "num_classes": 3,
    "cross_factor": 0,
    "modes": ("invariant", "distinctive"),
}

WRAPPERS = sorted(
    name for name in losses.__all__
    if inspect.isclass(getattr(losses, name)) and issubclass(getattr(losses, name), nn.Module)
)


def _non_default(param: inspect.Parameter) -> object:
    if param.name in CHOSEN:
        return CHOSEN[param.name]
    default = param.default
    if isinstance(default, bool):
        return not default
    if isinstance(default, float):
        return 2.0 * default if default != 0 else 0.5
    raise AssertionError(f"add a non-default value for {param.name!r} to CHOSEN")


def test_every_wrapper_is_found():
    # the loss families each have a wrapper; a new one is picked up from __all__ automatically
    assert {"InfoNCELoss", "NTXentLoss", "SupConLoss", "BarlowTwinsLoss", "VICRegLoss",
            "BYOLLoss", "GDTLoss"} <= set(WRAPPERS)


@pytest.mark.parametrize("name", WRAPPERS)
def test_repr_round_trips_non_default_hyper_parameters(name):
    cls = getattr(losses, name)
    params = [p for p in inspect.signature(cls).parameters.values()
              if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert params, f"{name} has no hyper-parameters"
    chosen = {p.name: _non_default(p) for p in params}
    assert all(chosen[p.name] != p.default for p in params)
    module = cls(**chosen)
    text = repr(module)
    for key, value in chosen.items():
        assert f"{key}={value!r}" in text, f"{name}: {key}={value!r} missing from {text}"
    rebuilt = eval(text, {name: cls})  # noqa: S307 - our own repr
    assert repr(rebuilt) == text
    for key, value in chosen.items():
        assert getattr(rebuilt, key) == value


def test_info_nce_repr_example():
    assert repr(losses.InfoNCELoss(temperature=0.2)).startswith("InfoNCELoss(temperature=0.2, ")
