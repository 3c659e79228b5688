r"""Where and at what size a chapter runs: device, scale, seeds, threads.

Every chapter starts with the same three lines::

    seed = runtime.seed_everything(0)       # REPTUTOR_SEED overrides the 0
    dev = runtime.device()                  # cuda if available, else cpu
    cfg = runtime.pick(ci=dict(...), full=dict(...))

Environment variables (the only global configuration the library reads):

* ``REPTUTOR_SCALE``: ``"ci"`` (small, runs on 2 CPU cores within the chapter's budget) or
  ``"full"`` (larger, meant for a GPU). Default: ``"ci"``, and on a GPU ``"full"`` only for a
  chapter whose full configuration has been run on a GPU (a committed record in
  ``reptutor/calibration/full_runs.json``, see :func:`pick`); otherwise the ci configuration
  runs on the GPU, and :func:`pick` prints one line saying how to try the full one.
* ``REPTUTOR_SEED``: an integer that replaces the seed a chapter passes to
  :func:`seed_everything`, so anyone can check that the chapter's claims do not depend on one
  lucky seed (``REPTUTOR_SEED=3 jupyter nbconvert --execute ...``).
* ``REPTUTOR_THREADS``: torch intra-op threads set by :func:`seed_everything`. Default 1 at ci
  scale on CPU (small models gain nothing from more, and a busy 2-core machine was measured
  ~20x slower with two threads than with one); at full scale torch's own default is kept.
* ``REPTUTOR_DEVICE``: force a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).
"""
from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from reptutor import _checks

__all__ = ["device", "scale", "pick", "seed_everything", "generator", "glue", "full_runs",
           "verified_full_run", "SCALES", "GLUE_KEY", "FULL_RUNS"]

SCALES = ("ci", "full")
#: The pattern of glue keys, the paper id then one or more dot-separated lowercase segments, e.g.
#: ``P07.trained-gap`` or ``P07.trained-gap.seeds-0-4`` (a claim id is the one-segment case, see
#: :data:`reptutor.claims.CLAIM_ID`, so a claim's value is glued under its own id).
GLUE_KEY = re.compile(r"^P\d{2}\.[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*$")
T = TypeVar("T")
#: Path of the committed record of the chapters' full configurations run on a GPU.
#:
#: A JSON object whose ``runs`` maps a chapter source to its record. A record names the
#: configuration (``config``), the code it ran (``code_sha256``, see
#: :func:`reptutor.claims.code_digest`), where and when (``device``, ``torch``, ``date``), how
#: long (``wall_s``) and every claim's value (``claims``). It is written by
#: ``tools/run_chapter.py CHAPTER --scale full --record-full`` on a GPU, never by hand.
FULL_RUNS = Path(__file__).resolve().parent / "calibration" / "full_runs.json"
FULL_HINT = ("reptutor: a GPU is here, but this chapter's full configuration has not been run on "
             "a GPU yet, so its ci configuration runs (on the GPU); to try the full one, set "
             "REPTUTOR_SCALE=full (on Colab: %env REPTUTOR_SCALE=full) and rerun from this cell.")
_picked = {"full_verified": False}  # what the last pick() found for the running chapter


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

    ``REPTUTOR_SCALE`` decides. When it is unset the scale is ``"ci"``, except on a GPU for a
    chapter whose full configuration has been verified there (:func:`pick` looks it up in
    :data:`FULL_RUNS`): a configuration nobody has run is not the default anywhere.

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
        return "full" if torch.cuda.is_available() and _picked["full_verified"] else "ci"
    _checks.choice("REPTUTOR_SCALE", value, SCALES)
    return value


def full_runs() -> dict[str, dict]:
    r"""The committed full-scale runs, ``{chapter source: record}`` (see :data:`FULL_RUNS`).

    Examples:
        >>> isinstance(full_runs(), dict)
        True
    """
    try:
        data = json.loads(FULL_RUNS.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return dict(data.get("runs", {}))


def _canonical(config: Any) -> Any:
    return json.loads(json.dumps(config, sort_keys=True, default=repr))


def verified_full_run(full: Any) -> dict | None:
    r"""The committed GPU run of the configuration ``full``, or ``None`` if it was never run.

    A record counts only for the very configuration it ran (compared as JSON: tuples and lists
    alike), so changing a chapter's full configuration makes it unverified again.

    Examples:
        >>> verified_full_run({"n": -1}) is None
        True
    """
    target = _canonical(full)
    for record in full_runs().values():
        if record.get("config") == target:
            return record
    return None


def pick(*, ci: T, full: T) -> T:
    r"""Return ``ci`` or ``full`` according to :func:`scale`.

    Each chapter declares both of its configurations in one call, so a reader sees at a glance
    what the GPU run changes. With ``REPTUTOR_SCALE`` unset on a GPU, the full configuration is
    chosen only if it has been run on a GPU (:func:`verified_full_run`); otherwise the ci one
    runs, on the GPU, and one line says how to try the full one (``REPTUTOR_SCALE=full``).

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
    if os.environ.get("REPTUTOR_SCALE") in (None, "") and torch.cuda.is_available():
        record = verified_full_run(full)
        _picked["full_verified"] = record is not None
        if record is None:
            print(FULL_HINT)
        else:
            print(f"reptutor: the full configuration runs (verified on {record.get('device')} "
                  f"in {record.get('wall_s', float('nan')):.0f} s); REPTUTOR_SCALE=ci runs the "
                  "small one.")
    chosen = full if scale() == "full" else ci
    log = os.environ.get("REPTUTOR_PICK_LOG")  # tools/run_chapter.py records what ran
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"scale": scale(), "config": _canonical(chosen)}) + "\n")
    return chosen


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


def glue(name: str, value: Any) -> None:
    r"""Make ``value`` available to the chapter's prose as ``{glue:text}`name```.

    Calls :func:`myst_nb.glue` when myst-nb is installed (the book build) and does nothing
    otherwise (Colab), so numbers in the text always come from the computation.

    Args:
        name: the key, matching :data:`GLUE_KEY`: the chapter's paper id, a dot, then lowercase
            segments of letters, digits and hyphens separated by dots (``"P07.log-k"``,
            ``"P07.trained-gap.seeds-0-4"``), the pattern of claim ids extended by sub-keys.
        value: a number, string, 0-d tensor or NumPy scalar (tensors and NumPy scalars are
            converted to Python numbers; larger tensors to arrays).

    Returns ``None``, so that a ``glue(...)`` call ending a cell leaves no stray number in the
    rendered page.

    Raises:
        TypeError: if ``name`` is not a non-empty string.
        ValueError: if ``name`` does not match :data:`GLUE_KEY`.

    Examples:
        >>> glue("P07.k-needed", 3.5)
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
        return None
    _glue(name, value, display=False)
    return None
