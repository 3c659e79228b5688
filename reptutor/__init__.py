r"""reptutor: the library behind the book *Representation learning, paper by paper*.

Pure functions are the source of truth (``reptutor.losses``, ``reptutor.estimators``,
``reptutor.solvers``, ``reptutor.metrics``); ``nn.Module`` wrappers are one line on top.
Data generators with known ground truth live in ``reptutor.data``, small models in
``reptutor.models``. ``reptutor.runtime`` decides device, scale and seeds; ``reptutor.claims``
asserts the papers' claims; ``reptutor.train`` and ``reptutor.plot`` serve the chapters;
``reptutor.evaluation`` holds the protocols that sample data and call a model for a metric.
"""
from reptutor import (  # noqa: F401  (the public subpackages)
    claims,
    data,
    estimators,
    evaluation,
    losses,
    metrics,
    models,
    plot,
    runtime,
    solvers,
    train,
)

__version__ = "0.1.0"
__all__ = [
    "claims", "data", "estimators", "evaluation", "losses", "metrics", "models", "plot", "runtime",
    "solvers", "train", "__version__",
]
