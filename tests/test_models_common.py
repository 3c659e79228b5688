"""Every model class of reptutor.models: seeded initialisation, validated inputs, repr.

One registry (:data:`MODELS`) gives each ``nn.Module`` class of ``reptutor.models.__all__`` a small
constructor call and a valid input; a meta-test fails when a model class is missing from it, so a
new model is held to the same rules: ``generator=`` reproduces ``torch.manual_seed``, NaN /
integer / float64 / wrong-device inputs are refused with the argument and both dtypes named, and
``repr`` prints the constructor's hyper-parameters.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from reptutor import models
from reptutor.models import (
    MLP,
    ConcatCritic,
    ConvEncoder,
    GlobalCritic,
    GlobalLocalEncoder,
    LocalCritic,
    PriorDiscriminator,
    RoIAlign,
    SeparableCritic,
    TemporalConvEncoder,
)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _boxes() -> torch.Tensor:
    return torch.tensor([[[0.0, 0.0, 8.0, 8.0], [2.0, 4.0, 14.0, 12.0]]]).expand(2, 2, 4).clone()


@dataclass
class Spec:
    make: Callable[..., nn.Module]  # keyword arguments (generator=...) go to the constructor
    inputs: Callable[[], dict[str, torch.Tensor]]  # the forward's tensors, by argument name


MODELS: dict[str, Spec] = {
    "MLP": Spec(lambda **kw: MLP(4, [8, 6], 3, **kw), lambda: {"x": _randn(5, 4)}),
    "MLP-batch_norm": Spec(lambda **kw: MLP(4, [8, 6], 3, batch_norm=True, **kw),
                           lambda: {"x": _randn(5, 4)}),
    "SeparableCritic": Spec(lambda **kw: SeparableCritic(3, 5, [8, 4], 4, **kw),
                            lambda: {"x": _randn(4, 3), "y": _randn(6, 5, seed=1)}),
    "ConcatCritic": Spec(lambda **kw: ConcatCritic(3, 5, 8, activation="tanh", **kw),
                         lambda: {"x": _randn(4, 3), "y": _randn(6, 5, seed=1)}),
    "ConvEncoder": Spec(lambda **kw: ConvEncoder(1, 8, channels=(2, 3, 4), hidden=5, out_dim=3,
                                                 **kw),
                        lambda: {"x": _randn(2, 1, 8, 8)}),
    "GlobalCritic": Spec(lambda **kw: GlobalCritic(3, 2, 4, hidden=8, embed_dim=5, **kw),
                         lambda: {"feature_map": _randn(2, 3, 2, 2), "y": _randn(2, 4, seed=1)}),
    "LocalCritic": Spec(lambda **kw: LocalCritic(3, 4, hidden=8, embed_dim=5, **kw),
                        lambda: {"feature_map": _randn(2, 3, 2, 2), "y": _randn(2, 4, seed=1)}),
    "PriorDiscriminator": Spec(lambda **kw: PriorDiscriminator(4, hidden=(8, 6), **kw),
                               lambda: {"y": _randn(3, 4)}),
    "TemporalConvEncoder": Spec(lambda **kw: TemporalConvEncoder(3, 4, 5, kernel_size=5, **kw),
                                lambda: {"x": _randn(2, 6, 3)}),
    "GlobalLocalEncoder": Spec(lambda **kw: GlobalLocalEncoder(3, 4, 5, 2, **kw),
                               lambda: {"x": _randn(2, 6, 3)}),
    "RoIAlign": Spec(lambda **kw: RoIAlign(16, output_size=2, **kw),
                     lambda: {"feature_map": _randn(2, 3, 4, 4), "boxes": _boxes()}),
}
WITH_PARAMETERS = [k for k in MODELS if any(True for _ in MODELS[k].make().parameters())]


def _model_classes() -> set[str]:
    return {name for name in models.__all__
            if inspect.isclass(getattr(models, name)) and issubclass(getattr(models, name), nn.Module)}


def test_registry_covers_every_model_class():
    registered = {key.split("-")[0] for key in MODELS}
    assert registered == _model_classes()
    # every model with parameters can be seeded; RoIAlign has none and takes no generator
    for key in WITH_PARAMETERS:
        assert "generator" in inspect.signature(type(MODELS[key].make())).parameters, key
    assert set(MODELS) - set(WITH_PARAMETERS) == {"RoIAlign"}


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------ seeded initialisation
@pytest.mark.parametrize("key", WITH_PARAMETERS)
@pytest.mark.parametrize("seed", [0, 7])
def test_generator_gives_the_manual_seed_initialisation(key, seed):
    spec = MODELS[key]
    torch.manual_seed(seed)
    reference = _state(spec.make())  # torch's default init from the global generator
    before = torch.get_rng_state()
    seeded = _state(spec.make(generator=torch.Generator().manual_seed(seed)))
    # building from a generator leaves the global random state alone
    assert torch.equal(torch.get_rng_state(), before)
    assert reference.keys() == seeded.keys()
    for name in reference:
        assert torch.equal(reference[name], seeded[name]), f"{key}: {name} differs"
    # the weights come from the seed: another seed gives other weights
    other = _state(spec.make(generator=torch.Generator().manual_seed(seed + 1)))
    drawn = [n for n in reference if n.endswith("weight") and reference[n].ndim >= 2]
    assert drawn and all(not torch.equal(reference[n], other[n]) for n in drawn)


def test_a_layer_without_a_seeded_initialisation_is_refused():
    # a model that adds a layer type the seeded initialisation does not know fails loudly
    # instead of silently keeping weights drawn from the global generator
    from reptutor.models._init import parameters_from

    class WithEmbedding(nn.Module):
        def __init__(self, generator):
            super().__init__()
            with parameters_from(self, generator):
                self.emb = nn.Embedding(4, 2)

    assert isinstance(WithEmbedding(None), nn.Module)
    with pytest.raises(NotImplementedError, match="no seeded initialisation for Embedding"):
        WithEmbedding(torch.Generator().manual_seed(0))


@pytest.mark.parametrize("key", ["MLP", "ConvEncoder"])
def test_generator_errors(key):
    with pytest.raises(TypeError, match="^generator must be a torch.Generator, got int 0$"):
        MODELS[key].make(generator=0)


# ------------------------------------------------------------------ inputs
def _call(model: nn.Module, inputs: dict[str, torch.Tensor]) -> object:
    return model(**inputs)


@pytest.mark.parametrize("key", list(MODELS))
def test_valid_input_runs_in_float32_and_float64(key):
    spec = MODELS[key]
    torch.manual_seed(0)
    out = _call(spec.make(), spec.inputs())
    first = out[0] if isinstance(out, tuple) else out
    assert first.dtype == torch.float32 and bool(torch.isfinite(first).all())
    # a float64 model takes float64 inputs (the positive control of the dtype check below)
    out64 = _call(spec.make().double(), {k: v.double() for k, v in spec.inputs().items()})
    assert (out64[0] if isinstance(out64, tuple) else out64).dtype == torch.float64


@pytest.mark.parametrize("key", list(MODELS))
def test_nan_input_is_refused(key):
    spec = MODELS[key]
    model = spec.make()
    inputs = spec.inputs()
    name = next(iter(inputs))
    inputs[name] = inputs[name].clone()
    inputs[name].view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match=rf"^{name} must be finite, got 1 NaN or infinite value"):
        _call(model, inputs)
    inputs[name].view(-1)[0] = float("inf")
    with pytest.raises(ValueError, match=rf"^{name} must be finite"):
        _call(model, inputs)


@pytest.mark.parametrize("key", WITH_PARAMETERS)
def test_integer_input_is_refused(key):
    spec = MODELS[key]
    inputs = {k: v.round().long() for k, v in spec.inputs().items()}
    name = next(iter(inputs))
    with pytest.raises(TypeError, match=rf"^{name} must have the model's dtype torch.float32, "
                                        r"got torch.int64 \(convert the input with "
                                        r"\.to\(torch\.float32\)\)$"):
        _call(spec.make(), inputs)


@pytest.mark.parametrize("key", WITH_PARAMETERS)
def test_float64_input_to_a_float32_model_is_refused(key):
    spec = MODELS[key]
    inputs = {k: v.double() for k, v in spec.inputs().items()}
    name = next(iter(inputs))
    with pytest.raises(TypeError, match=rf"^{name} must have the model's dtype torch.float32, "
                                        r"got torch.float64 \(convert the input with "
                                        r"\.to\(torch\.float32\) or the model with "
                                        r"\.to\(torch\.float64\)\)$"):
        _call(spec.make(), inputs)


@pytest.mark.parametrize("key", WITH_PARAMETERS)
def test_input_on_another_device_is_refused(key):
    spec = MODELS[key]
    inputs = {k: v.to("meta") for k, v in spec.inputs().items()}
    name = next(iter(inputs))
    with pytest.raises(ValueError, match=rf"^{name} must be on the model's device cpu, got {name} on meta"):
        _call(spec.make(), inputs)


def test_roi_align_has_no_parameters_and_checks_its_inputs():
    # no weights: any floating dtype works, an integer map is refused by roi_align itself
    pool = RoIAlign(16)
    with pytest.raises(TypeError, match="feature_map must have a floating-point dtype, got torch.int64"):
        pool(torch.zeros(2, 3, 4, 4, dtype=torch.long), _boxes())


@pytest.mark.parametrize("autocast_input", [torch.bfloat16])
def test_autocast_inputs_are_accepted(autocast_input):
    # under autocast the layers cast their inputs: a bfloat16 input to a float32 model is valid
    net = MLP(4, [8], 2, generator=torch.Generator().manual_seed(0))
    x = _randn(5, 4).to(autocast_input)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert net(x).shape == (5, 2)
    with pytest.raises(TypeError, match="x must have the model's dtype torch.float32, got torch.bfloat16"):
        net(x)


# ------------------------------------------------------------------ batch norm and one sample
def test_batch_norm_needs_two_samples_in_training_mode():
    net = MLP(4, [8], 2, batch_norm=True, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"^x must have at least 2 rows \(batch_norm=True in training "
                                         r"mode .*call \.eval\(\).*\), got shape \(1, 4\)$"):
        net(_randn(1, 4))
    with pytest.raises(ValueError, match=r"x must have at least 2 rows .* got shape \(0, 4\)"):
        net(_randn(0, 4))
    net.eval()  # running statistics: one sample (or none) is fine
    assert net(_randn(1, 4)).shape == (1, 2)
    assert net(_randn(0, 4)).shape == (0, 2)
    # without batch norm one sample is a valid batch in training mode too
    assert MLP(4, [8], 2)(_randn(1, 4)).shape == (1, 2)


# ------------------------------------------------------------------ repr
@pytest.mark.parametrize("key", list(MODELS))
def test_repr_shows_the_hyper_parameters_and_rebuilds_the_model(key):
    model = MODELS[key].make()
    cls = type(model)
    shown = model.extra_repr()
    wanted = [p for p in inspect.signature(cls).parameters if p != "generator"]
    for name in wanted:
        assert f"{name}={getattr(model, name)!r}" in shown
    assert f"\n  {shown}\n" in repr(model) or repr(model) == f"{cls.__name__}({shown})"
    rebuilt = eval(f"{cls.__name__}({shown})", {cls.__name__: cls})  # noqa: S307 - our own repr
    assert repr(rebuilt) == repr(model)


def test_mlp_repr_example():
    assert MLP(4, [8], 2, activation="tanh").extra_repr() == (
        "in_dim=4, hidden=[8], out_dim=2, activation='tanh', batch_norm=False")
