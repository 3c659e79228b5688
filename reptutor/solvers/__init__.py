r"""Solvers: entropic optimal transport (Sinkhorn), SeLa's equipartition, exact references."""

from reptutor.solvers._common import ConvergenceWarning
from reptutor.solvers.deepcluster import KMeansResult, kmeans, pca_whiten, uniform_cluster_indices
from reptutor.solvers.equipartition import (
    EquipartitionLabelsResult,
    EquipartitionResult,
    equipartition_labels,
    exact_equipartition,
)
from reptutor.solvers.sinkhorn import EntropicOTResult, SinkhornResult, sinkhorn, sinkhorn_knopp

__all__: list[str] = [
    "ConvergenceWarning",
    "EntropicOTResult", "sinkhorn", "SinkhornResult", "sinkhorn_knopp",
    "EquipartitionLabelsResult", "equipartition_labels", "EquipartitionResult",
    "exact_equipartition",
    "KMeansResult", "kmeans", "pca_whiten", "uniform_cluster_indices",
]
