r"""Where and at what size a chapter runs: device, scale, seeds, threads.

Every chapter starts with the same three lines::

    seed = runtime.seed_everything(0)       # REPTUTOR_SEED overrides the 0
    dev = runtime.device()                  # cuda if available, else cpu
    cfg = runtime.pick(ci=dict(...), full=dict(...))

Environment variables (the only global configuration the library reads):

* ``REPTUTOR_SCALE``: ``"ci"`` (small, runs on 2 CPU cores within the chapter's budget) or
  ``"full"`` (larger, meant for a GPU). Default: ``"full"`` when CUDA is available, else ``"ci"``.
* ``REPTUTOR_SEED``: an integer that replaces the seed a chapter passes to
  :func:`seed_everything`, so anyone can check that the chapter's claims do not depend on one
  lucky seed (``REPTUTOR_SEED=3 jupyter nbconvert --execute ...``).
* ``REPTUTOR_THREADS``: torch intra-op threads set by :func:`seed_everything`. Default 1 at ci
  scale on CPU (small models gain nothing from more, and a busy 2-core machine was measured
  ~20x slower with two threads than with one); at full scale torch's own default is kept.
* ``REPTUTOR_DEVICE``: force a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).
"""
from __future__ import annotations

import os
import random
import re
from typing import Any, TypeVar

import numpy as np
import torch

from reptutor import _checks

__all__ = ["device", "scale", "pick", "seed_everything", "generator", "glue", "SCALES", "GLUE_KEY"]

SCALES = ("ci", "full")
#: The pattern of glue keys, the paper id then one or more dot-separated lowercase segments, e.g.
#: ``P07.trained-gap`` or ``P07.trained-gap.seeds-0-4`` (a claim id is the one-segment case, see
#: :data:`reptutor.claims.CLAIM_ID`, so a claim's value is glued under its own id).
GLUE_KEY = re.compile(r"^P\d{2}\.[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*$")
T = TypeVar("T")


def device() -> torch.device:
    r"""The device chapters put their tensors and models on.

    ``REPTUTOR_DEVICE`` wins when set; otherwise CUDA when available, then Apple's MPS, then
    the CPU. The library itself never calls this: its functions follow their inputs' device.

    Returns:
        A :class:`torch.device`.

    Raises:
        ValueError: if ``REPTUTOR_DEVICE`` names a device torch does not understand.

    Examples:
        >>> import os
        >>> os.environ["REPTUTOR_DEVICE"] = "cpu"
        >>> device()
        device(type='cpu')
        >>> del os.environ["REPTUTOR_DEVICE"]
    """
    forced = os.environ.get("REPTUTOR_DEVICE")
    if forced:
        try:
            return torch.device(forced)
        except RuntimeError as err:
            raise ValueError(
                f"REPTUTOR_DEVICE must name a torch device such as 'cpu' or 'cuda:0', got {forced!r}"
            ) from err
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def scale() -> str:
    r"""The configuration size chapters run at: ``"ci"`` or ``"full"``.

    ``REPTUTOR_SCALE`` decides; when it is unset the default is ``"full"`` if CUDA is
    available and ``"ci"`` otherwise.

    Returns:
        ``"ci"`` or ``"full"``.

    Raises:
        ValueError: if ``REPTUTOR_SCALE`` is set to anything else.

    Examples:
        >>> import os
        >>> os.environ["REPTUTOR_SCALE"] = "ci"
        >>> scale()
        'ci'
        >>> del os.environ["REPTUTOR_SCALE"]
    """
    value = os.environ.get("REPTUTOR_SCALE")
    if value is None or value == "":
        return "full" if torch.cuda.is_available() else "ci"
    _checks.choice("REPTUTOR_SCALE", value, SCALES)
    return value


def pick(*, ci: T, full: T) -> T:
    r"""Return ``ci`` or ``full`` according to :func:`scale`.

    Each chapter declares both of its configurations in one call, so a reader sees at a glance
    what the GPU run changes.

    Args:
        ci: the configuration for the small CPU run (the regression test).
        full: the configuration for a GPU run.

    Returns:
        One of the two arguments, unchanged.

    Examples:
        >>> import os
        >>> os.environ["REPTUTOR_SCALE"] = "full"
        >>> pick(ci={"n": 512}, full={"n": 65536})
        {'n': 65536}
        >>> del os.environ["REPTUTOR_SCALE"]
    """
    return full if scale() == "full" else ci


def seed_everything(seed: int = 0, *, threads: int | None = None) -> int:
    r"""Seed Python, NumPy and torch (all devices); set torch's intra-op threads.

    ``REPTUTOR_SEED``, when set, replaces ``seed``: the chapter's default stays in its source
    while anyone can rerun it under other seeds.

    Args:
        seed: the chapter's default seed, a non-negative integer.
        threads: torch intra-op threads. ``None`` reads ``REPTUTOR_THREADS``, else uses 1 at ci
            scale on a CPU and leaves torch's default otherwise.

    Returns:
        The seed actually used (so chapters can print it and derive generators from it).

    Raises:
        ValueError: if ``seed``, ``threads`` or the environment variables are not
            non-negative / positive integers.

    Examples:
        >>> s = seed_everything(7)
        >>> a = torch.rand(2); _ = seed_everything(7); b = torch.rand(2)
        >>> bool(torch.equal(a, b))
        True
    """
    env = os.environ.get("REPTUTOR_SEED")
    if env not in (None, ""):
        try:
            seed = int(env)
        except ValueError as err:
            raise ValueError(f"REPTUTOR_SEED must be a non-negative integer, got {env!r}") from err
    _checks.integer("seed", seed, minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CUDA generators too
    if threads is None:
        env_threads = os.environ.get("REPTUTOR_THREADS")
        if env_threads not in (None, ""):
            try:
                threads = int(env_threads)
            except ValueError as err:
                raise ValueError(
                    f"REPTUTOR_THREADS must be a positive integer, got {env_threads!r}"
                ) from err
        elif scale() == "ci" and device().type == "cpu":
            threads = 1
    if threads is not None:
        _checks.integer("threads", threads, minimum=1)
        torch.set_num_threads(threads)
    return seed


def generator(seed: int, device: torch.device | str | None = None) -> torch.Generator:
    r"""A fresh :class:`torch.Generator` seeded with ``seed`` on ``device``.

    Library functions that draw random numbers take such a generator; they never touch the
    global random state.

    Examples:
        >>> g1, g2 = generator(3), generator(3)
        >>> bool(torch.equal(torch.randn(4, generator=g1), torch.randn(4, generator=g2)))
        True
    """
    _checks.integer("seed", seed, minimum=0)
    g = torch.Generator(device=device if device is not None else "cpu")
    g.manual_seed(seed)
    return g


def glue(name: str, value: Any) -> Any:
    r"""Make ``value`` available to the chapter's prose as ``{glue:text}`name```.

    Calls :func:`myst_nb.glue` when myst-nb is installed (the book build) and does nothing
    otherwise (Colab), so numbers in the text always come from the computation.

    Args:
        name: the key, matching :data:`GLUE_KEY`: the chapter's paper id, a dot, then lowercase
            segments of letters, digits and hyphens separated by dots (``"P07.log-k"``,
            ``"P07.trained-gap.seeds-0-4"``), the pattern of claim ids extended by sub-keys.
        value: a number, string, 0-d tensor or NumPy scalar (tensors and NumPy scalars are
            converted to Python numbers; larger tensors to arrays).

    Returns:
        ``value``, unchanged (converted as above).

    Raises:
        TypeError: if ``name`` is not a non-empty string.
        ValueError: if ``name`` does not match :data:`GLUE_KEY`.

    Examples:
        >>> glue("P07.k-needed", 3.5)
        3.5
        >>> glue("p07-k-needed", 3.5)
        Traceback (most recent call last):
            ...
        ValueError: name must be a glue key: ... got 'p07-k-needed'
    """
    _checks.string("name", name)
    if not GLUE_KEY.match(name):
        raise ValueError(
            "name must be a glue key: a paper id, a dot and lowercase dot-separated segments of "
            "letters, digits and hyphens (e.g. 'P07.trained-gap' or 'P07.trained-gap.seeds-0-4'), "
            f"got {name!r}"
        )
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.detach().cpu().numpy()
    elif isinstance(value, np.generic):
        value = value.item()  # myst-nb formats Python numbers, not NumPy scalars
    try:
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover - depends on the environment
        return value
    _glue(name, value, display=False)
    return value
