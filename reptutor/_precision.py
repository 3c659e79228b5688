r"""Working precision of the linear-algebra steps (private: not part of the API).

LAPACK (CPU), cuSOLVER and MAGMA (CUDA) have no float16 or bfloat16 kernels: on such inputs
``torch.linalg.cholesky``, ``eigh``, ``eigvalsh``, ``qr``, ``solve``, ``lstsq`` and ``torch.cdist``
raise ``NotImplementedError`` (checked with torch 2.13 on CPU). A factorisation in 8 significant
bits would be meaningless anyway (bfloat16's unit roundoff is :math:`2^{-8}`, so a log-determinant
of a :math:`64 \times 64` matrix would carry errors of order one). The library's rule, stated in
``book/notation.md``: a half-precision input is cast to float32 for every linear-algebra step (the
cast is exact), the step runs in float32, and a tensor result is returned in the input's dtype;
float32 and float64 inputs are computed in their own dtype, bit for bit as before.

Functions that must read values (a factorisation's success, a rank test, a Python number as the
result) cannot run on the ``meta`` device, whose tensors have shapes but no values: they call
:func:`has_values`, which names the argument and says why, after the device-mismatch checks (so
that a single argument on ``meta`` is still reported as a device mismatch).
"""
from __future__ import annotations

import torch

HALF = (torch.float16, torch.bfloat16)


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for float16 / bfloat16, the dtype itself otherwise."""
    return torch.float32 if dtype in HALF else dtype


def upcast(x: torch.Tensor) -> torch.Tensor:
    """``x`` in its working dtype (an exact, differentiable cast for half precision)."""
    return x.to(torch.float32) if x.dtype in HALF else x


def has_values(name: str, x: torch.Tensor, func: str, why: str) -> None:
    """Reject a tensor on the ``meta`` device, which holds shapes but no values.

    The message names the argument, the function and what it needs the values for, e.g.
    ``"z is on the meta device, which holds no values; knn_entropy needs them (it sorts
    distances)"``.
    """
    if isinstance(x, torch.Tensor) and x.device.type == "meta":
        raise ValueError(
            f"{name} is on the meta device, which holds no values; {func} needs them ({why}); "
            "pass a tensor on a real device (cpu, cuda, ...)"
        )
