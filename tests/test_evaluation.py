"""reptutor.evaluation: the sampling protocols that feed the pure metrics.

``factor_vae_batches`` draws the FactorVAE score's batches (one factor held fixed per batch) and
encodes them; the score itself is tested in ``test_metrics_factor_vae.py``.
"""
from __future__ import annotations

import pytest
import torch

import inspect

import reptutor.metrics
from reptutor.evaluation import factor_vae_batches

import _validation as V

SIZES = (4, 6, 10, 8)


def sample_factors(n, gen):
    return torch.stack([torch.randint(0, s, (n,), generator=gen) for s in SIZES], dim=1)


def test_factor_vae_batches_fix_one_factor():
    g = torch.Generator().manual_seed(0)
    codes, k = factor_vae_batches(sample_factors, lambda v: v.double(), num_factors=4,
                                  num_batches=50, batch_size=16, generator=g)
    assert codes.shape == (50, 16, 4) and codes.dtype == torch.float64 and k.shape == (50,)
    spread = codes.std(dim=1)  # (50, 4)
    assert bool((spread[torch.arange(50), k] == 0).all())  # the fixed factor: one value
    others = spread.clone()
    others[torch.arange(50), k] = 1.0
    assert bool((others > 0).all())  # the others vary (16 draws of >= 4 values)
    assert set(k.tolist()) == {0, 1, 2, 3}  # every factor gets fixed somewhere in 50 draws
    g2 = torch.Generator().manual_seed(0)
    again, k2 = factor_vae_batches(sample_factors, lambda v: v.double(), num_factors=4,
                                   num_batches=50, batch_size=16, generator=g2)
    assert torch.equal(again, codes) and torch.equal(k2, k)  # the generator decides all


def test_factor_vae_batches_messages():
    g = torch.Generator()
    with pytest.raises(ValueError, match=r"sample_factors\(n, generator\) must return a tensor of shape \(8, 4\)"):
        factor_vae_batches(lambda n, gen: torch.zeros(n, 3), lambda v: v, num_factors=4,
                           num_batches=2, batch_size=4, generator=g)
    with pytest.raises(ValueError, match=r"encode must return a tensor of shape \(8, L\)"):
        factor_vae_batches(sample_factors, lambda v: v[:3].float(), num_factors=4,
                           num_batches=2, batch_size=4, generator=g)
    with pytest.raises(TypeError, match="generator must be a torch.Generator, got int 0"):
        factor_vae_batches(sample_factors, lambda v: v, num_factors=4, num_batches=2,
                           generator=0)
    with pytest.raises(ValueError, match="batch_size must be >= 2, got 1"):
        factor_vae_batches(sample_factors, lambda v: v, num_factors=4, num_batches=2,
                           batch_size=1, generator=g)
    with pytest.raises(TypeError, match="sample_factors must be callable, got NoneType None"):
        factor_vae_batches(None, lambda v: v, num_factors=4, num_batches=2, generator=g)
    with pytest.raises(TypeError, match=r"encode must be callable, got a tensor of shape \(\)"):
        factor_vae_batches(sample_factors, torch.tensor(0.0), num_factors=4, num_batches=2,
                           generator=g)


def test_metrics_are_pure_no_generator_or_callable_arguments():
    # STYLE.md 10: a metric takes arrays and returns a score; anything that samples (a
    # generator) or calls a model (a callable) belongs here, in reptutor.evaluation
    impure = {}
    for name in reptutor.metrics.__all__:
        obj = getattr(reptutor.metrics, name)
        if not inspect.isfunction(obj):
            continue
        for p in inspect.signature(obj).parameters.values():
            if p.name == "generator" or any(k in str(p.annotation)
                                            for k in ("Generator", "Callable")):
                impure.setdefault(name, []).append(p.name)
    assert not impure, f"metrics that sample or call a model: {impure}"


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("evaluation.factor_vae_batches",
            lambda: {"sample_factors": lambda n, gen: torch.randint(0, 3, (n, 2), generator=gen),
                     "encode": lambda v: v.float(), "num_factors": 2, "num_batches": 3,
                     "batch_size": 4, "generator": V.gen()}, (
              V.custom("rank", "encode", lambda k: lambda v: v.float().sum(1),
                       V.all_of("encode", r"\(12, L\)", r"\(12,\)")),
              V.custom("shape", "sample_factors",
                       lambda k: lambda n, gen: torch.randint(0, 3, (n, 3), generator=gen),
                       V.all_of("sample_factors", r"\(12, 2\)", r"\(12, 3\)")),
              V.nonpositive("num_factors"), V.nonpositive("num_batches"), V.nonpositive("batch_size", 1),
              V.wrong_type("generator", lambda x: None, "torch.Generator"),
              V.wrong_type("sample_factors", lambda x: None, "callable"),
              V.wrong_type("encode", lambda x: None, "callable")),
            na={"empty": "num_batches >= 1 and batch_size >= 2 (see nonpositive): no empty batch "
                       "can be asked for",
                "nonfinite": "the codes are returned, not computed with: factor_vae_score checks "
                           "them (its nonfinite cell)",
                "dtype-mismatch": "integer factors and float codes by design; no two outputs must "
                                "share a dtype",
                "device-mismatch": "the callables' outputs are returned side by side, never "
                                 "combined: factor_vae_score checks codes against fixed_factor"}),
]
