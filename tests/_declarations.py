"""Collect what the test modules declare for the harnesses, and where each declaration belongs.

A harness (the validation matrix, the robustness checks, the double-backward table) runs one
set of checks over every public function. The inputs of those checks are declared next to the
function's own tests: ``tests/test_losses_vicreg.py`` holds ``VALIDATION``, ``ROBUSTNESS``,
``LINALG`` and ``SECOND_ORDER`` for ``reptutor/losses/vicreg.py``. :func:`declared` imports
each test module that assigns such a name at module level and returns the values.

The modules are imported under the name pytest gives them (the file stem, with ``tests/`` on
``sys.path``: prepend import mode, no ``__init__.py``), so pytest's own collection later finds
the very same module objects (with their asserts rewritten: the hook is active during
collection) instead of importing the files a second time.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Any

TESTS = Path(__file__).resolve().parent


def _modules_assigning(name: str, exclude: str) -> list[ModuleType]:
    pattern = re.compile(rf"^{re.escape(name)}\s*(?::[^=\n]*)?=", re.MULTILINE)
    out = []
    for path in sorted(TESTS.glob("test_*.py")):
        if path.name != exclude and pattern.search(path.read_text(encoding="utf-8")):
            out.append(importlib.import_module(path.stem))
    return out


def declared(name: str, *, harness: str) -> list[tuple[str, Any]]:
    """``(test file name, value of name)`` for every ``tests/test_*.py`` assigning ``name``.

    ``harness`` is the calling harness's file name; it is never imported from here (it is the
    module being imported when it calls this).
    """
    return [(Path(m.__file__).name, getattr(m, name))
            for m in _modules_assigning(name, exclude=Path(harness).name)]


def mirror(module: str) -> str:
    """The test file that mirrors a library module: ``reptutor.losses.vicreg`` ->
    ``test_losses_vicreg.py`` (a private module's leading underscore is dropped:
    ``reptutor.metrics._discrete`` -> ``test_metrics_discrete.py``).

    >>> mirror("reptutor.metrics._discrete"), mirror("reptutor.train")
    ('test_metrics_discrete.py', 'test_train.py')
    """
    parts = module.split(".")
    assert parts[0] == "reptutor", module
    return "test_" + "_".join(p.lstrip("_") for p in parts[1:]) + ".py"


def merged(name: str, *, harness: str, kind: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The union of every module's dict ``name``, and the test file that declares each key.

    Each value must be an instance of ``kind`` (a type or a tuple of types); a key declared in
    two modules is an error (two test files would disagree about one function).
    """
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    for file, decl in declared(name, harness=harness):
        assert isinstance(decl, dict), f"{file}: {name} must be a dict"
        for key, value in decl.items():
            assert key not in where, f"{key} is declared in {where[key]} and in {file}"
            assert isinstance(value, kind), f"{file}: {name}[{key!r}] is {value!r}, not a {kind}"
            values[key], where[key] = value, file
    return values, where
