"""Shared set-up of the unit tests (the root ``conftest.py`` sets the environment for everything).

Layout. ``tests/test_<subpackage>_<module>.py`` mirrors ``reptutor/<subpackage>/<module>.py``.
Shared code lives in plain modules that the tests import by name (``tests/`` has no
``__init__.py``; pytest's default prepend import mode puts this folder on ``sys.path``):

* ``_helpers.py``: seeded inputs, ``gen(seed)``, ``randn(*shape, seed=...)``,
  ``views(n, d, seed, dtype)``. They are functions, not fixtures, because the tests call them
  with arguments (seeds from ``parametrize`` and hypothesis, shapes, dtypes), also at import
  time, and hypothesis refuses function-scoped fixtures in ``@given`` tests.
* ``_validation.py``, ``_robustness.py``, ``_gradcheck.py``: the vocabulary in which a test
  module declares its public functions for the three harnesses (``VALIDATION``,
  ``ROBUSTNESS`` / ``LINALG``, ``SECOND_ORDER``); ``_declarations.py`` collects them. How to add
  a public function is written at the top of ``test_validation_matrix.py``.

``--doctest-modules`` collects the helper modules too: they are imported under the same names
as the tests import them (one module object each), and their doctests run.
"""
from __future__ import annotations

import pytest

# The helper modules hold asserts that tests rely on (e.g. mirror()'s); let pytest rewrite them
# so that a failure shows the values. Must run before the first import of those modules.
pytest.register_assert_rewrite("_helpers", "_validation", "_robustness", "_gradcheck", "_declarations")
