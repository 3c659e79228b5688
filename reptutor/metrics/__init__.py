r"""Metrics: pure functions from representations (and labels or factors) to scores."""

from reptutor.metrics.clustering import cluster_size_entropy, largest_cluster_fraction, nmi
from reptutor.metrics.probes import linear_probe_accuracy, ridge_probe_r2
from reptutor.metrics._discrete import discrete_entropy, discrete_mutual_info, discretize
from reptutor.metrics.mig import MIGResult, mig
from reptutor.metrics.factor_vae import FactorVAEResult, factor_vae_score
from reptutor.metrics.dci import DCIResult, DCIScores, dci, dci_from_importance
from reptutor.metrics.subspace import principal_angles
from reptutor.metrics.collapse import collapse_std, effective_rank
from reptutor.metrics.variations import dirichlet_energy, projection_residual, spectral_residual_bound

__all__: list[str] = ["linear_probe_accuracy", "ridge_probe_r2",
                      "nmi", "cluster_size_entropy", "largest_cluster_fraction",
                      "discretize", "discrete_mutual_info", "discrete_entropy", "mig",
                      "MIGResult", "factor_vae_score", "FactorVAEResult",
                      "dci", "dci_from_importance", "DCIScores", "DCIResult",
                      "principal_angles",
                      "collapse_std", "effective_rank",
                      "dirichlet_energy", "projection_residual", "spectral_residual_bound", ]
