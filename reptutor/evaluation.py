r"""Evaluation protocols: sample data, call a model, and hand the results to a pure metric.

The functions of :mod:`reptutor.metrics` are pure (arrays in, score out). Some metrics are
defined on data drawn in a particular way from a generative process and passed through the
encoder being evaluated; that drawing lives here, next to :mod:`reptutor.train` (which fits
models) rather than in :mod:`reptutor.metrics` (which must not sample or call models) or
:mod:`reptutor.data` (whose generators produce data with known ground truth and never call a
model). Each protocol takes an explicit ``torch.Generator`` and returns exactly what its metric
takes.

* :func:`factor_vae_batches`: the batches with one factor held fixed of the FactorVAE score
  (Kim & Mnih, ICML 2018, arXiv:1802.05983v3), for :func:`reptutor.metrics.factor_vae_score`.

Taught in Part V, *Disentanglement* (``notebooks/05_disentanglement``).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from reptutor import _checks

__all__ = ["factor_vae_batches"]


def factor_vae_batches(
    sample_factors: Callable[[int, torch.Generator], torch.Tensor],
    encode: Callable[[torch.Tensor], torch.Tensor],
    *,
    num_factors: int,
    num_batches: int,
    batch_size: int = 64,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw the FactorVAE votes' batches: one factor held fixed per batch, then encode all.

    The sampling of Kim & Mnih, "Disentangling by Factorising", ICML 2018, arXiv:1802.05983v3,
    Sec. 4, as disentanglement_lib draws it: for batch :math:`t`, a factor :math:`k_t` uniform in
    :math:`\{0, \dots, M-1\}`, ``batch_size`` independent factor vectors from ``sample_factors``,
    and factor :math:`k_t` of every row set to the first row's value. All
    ``num_batches * batch_size`` factor vectors are drawn and encoded in one call each, so
    ``encode`` should batch internally if that is too large for memory.

    Args:
        sample_factors: ``sample_factors(n, generator)`` returns ``(n, M)`` factors.
        encode: maps ``(n, M)`` factors to ``(n, L)`` codes (render then encode, typically).
        num_factors: the number of factors :math:`M`.
        num_batches: number of batches :math:`B` (votes).
        batch_size: codes per batch :math:`N` (64 in disentanglement_lib).
        generator: the source of randomness (the fixed factor of each batch and, passed on,
            the factors).

    Returns:
        ``(codes, fixed_factor)`` ready for :func:`reptutor.metrics.factor_vae_score`.

    Shape:
        ``codes``: ``(B, N, L)``; ``fixed_factor``: ``(B,)`` (long, on the factors' device).

    Raises:
        TypeError: for non-integer sizes, a missing generator, or a ``sample_factors`` or
            ``encode`` that is not callable.
        ValueError: for sizes below their minimum, or callables returning a non-tensor or the
            wrong shape.

    Examples:
        In every batch the fixed factor takes a single value:

        >>> g = torch.Generator().manual_seed(0)
        >>> def sample(n, gen):
        ...     return torch.randint(0, 5, (n, 2), generator=gen)
        >>> codes, k = factor_vae_batches(sample, lambda v: v.float(), num_factors=2,
        ...                               num_batches=4, batch_size=8, generator=g)
        >>> bool((codes[torch.arange(4), :, k].std(dim=1) == 0).all()), tuple(codes.shape)
        (True, (4, 8, 2))
    """
    num_factors = _checks.integer("num_factors", num_factors, minimum=1)
    num_batches = _checks.integer("num_batches", num_batches, minimum=1)
    batch_size = _checks.integer("batch_size", batch_size, minimum=2)
    for name, fn in (("sample_factors", sample_factors), ("encode", encode)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {_checks._describe(fn)}")
    _checks.generator("generator", generator)
    n = num_batches * batch_size
    factors = sample_factors(n, generator)
    if not isinstance(factors, torch.Tensor) or tuple(factors.shape) != (n, num_factors):
        raise ValueError(
            f"sample_factors(n, generator) must return a tensor of shape ({n}, {num_factors}), "
            f"got {_checks._describe(factors)}"
        )
    fixed = torch.randint(0, num_factors, (num_batches,), generator=generator,
                          device=generator.device).to(factors.device)  # (B,) k_t
    factors = factors.reshape(num_batches, batch_size, num_factors)  # (B, N, M)
    hold = torch.nn.functional.one_hot(fixed, num_factors).bool()[:, None, :]  # (B, 1, M)
    factors = torch.where(hold, factors[:, :1, :], factors)  # factor k_t copied from row 0
    codes = encode(factors.reshape(n, num_factors))
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2 or codes.shape[0] != n:
        raise ValueError(
            f"encode must return a tensor of shape ({n}, L), got {_checks._describe(codes)}"
        )
    return codes.reshape(num_batches, batch_size, codes.shape[1]), fixed  # (B, N, L), (B,)
