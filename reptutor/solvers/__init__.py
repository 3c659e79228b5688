r"""Solvers: entropic optimal transport (Sinkhorn), SeLa's equipartition, closed-form spectral
optima of SSL losses, exact references."""

from reptutor.solvers._common import ConvergenceWarning
from reptutor.solvers.deepcluster import KMeansResult, kmeans, pca_whiten, uniform_cluster_indices
from reptutor.solvers.equipartition import (
    EquipartitionLabelsResult,
    EquipartitionResult,
    equipartition_labels,
    exact_equipartition,
)
from reptutor.solvers.variations import LaplacianEigenbasis, gaussian_graph, laplacian_eigenbasis
from reptutor.solvers.sinkhorn import EntropicOTResult, SinkhornResult, sinkhorn, sinkhorn_knopp
from reptutor.solvers.spectral import (
    CCAResult,
    SpectralEmbeddingResult,
    VICRegClosedFormResult,
    VICRegLinearResult,
    cca,
    graph_laplacian,
    knn_graph,
    laplacian_eigenmaps,
    positive_pair_graph,
    vicreg_closed_form,
    vicreg_linear_closed_form,
)

__all__: list[str] = [
    "ConvergenceWarning",
    "EntropicOTResult", "sinkhorn", "SinkhornResult", "sinkhorn_knopp",
    "EquipartitionLabelsResult", "equipartition_labels", "EquipartitionResult",
    "exact_equipartition",
    "KMeansResult", "kmeans", "pca_whiten", "uniform_cluster_indices",
    "positive_pair_graph", "knn_graph", "graph_laplacian", "laplacian_eigenmaps",
    "SpectralEmbeddingResult", "vicreg_closed_form", "VICRegClosedFormResult",
    "vicreg_linear_closed_form", "VICRegLinearResult", "cca", "CCAResult",
    "gaussian_graph", "laplacian_eigenbasis", "LaplacianEigenbasis",
]
