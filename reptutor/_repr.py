r"""``repr`` of hyper-parameters for the library's ``nn.Module`` classes (private).

A module's :meth:`~torch.nn.Module.extra_repr` returns :func:`hyper_parameters`: every argument
of its constructor as ``name=value``, read back from the attribute of the same name, so that
``InfoNCELoss(temperature=0.2)`` prints ``InfoNCELoss(temperature=0.2, normalize=True, ...)``
and the printed call rebuilds the module with the same hyper-parameters. Values print with
``repr`` (a float prints the shortest string that reads back as the same float).
"""
from __future__ import annotations

import inspect
from typing import Any

#: Constructor arguments that are not hyper-parameters (the source of the initial weights).
_NOT_SHOWN = frozenset({"self", "generator"})


def hyper_parameters(module: Any) -> str:
    """``"name=value, ..."`` for each argument of ``type(module).__init__``, in signature order."""
    params = inspect.signature(type(module).__init__).parameters.values()
    return ", ".join(
        f"{p.name}={getattr(module, p.name)!r}"
        for p in params
        if p.name not in _NOT_SHOWN and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )
