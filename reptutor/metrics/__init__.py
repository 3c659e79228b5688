r"""Metrics: pure functions from representations (and labels or factors) to scores."""

from reptutor.metrics.clustering import cluster_size_entropy, largest_cluster_fraction, nmi
from reptutor.metrics.probes import linear_probe_accuracy, ridge_probe_r2
from reptutor.metrics.disentanglement import (
    DCIResult, DCIScores, FactorVAEResult, MIGResult, dci, dci_from_importance,
    discrete_entropy, discrete_mutual_info, discretize, factor_vae_batches, factor_vae_score, mig,
)

__all__: list[str] = ["linear_probe_accuracy", "ridge_probe_r2",
                      "nmi", "cluster_size_entropy", "largest_cluster_fraction",
                      "discretize", "discrete_mutual_info", "discrete_entropy", "mig",
                      "MIGResult", "factor_vae_score", "factor_vae_batches", "FactorVAEResult",
                      "dci", "dci_from_importance", "DCIScores", "DCIResult", ]
