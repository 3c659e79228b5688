r"""DeepCluster's label step: k-means on whitened features, empty clusters re-split, and
mini-batches drawn uniformly over the clusters.

Caron, Bojanowski, Joulin & Douze, "Deep Clustering for Unsupervised Learning of Visual
Features", ECCV 2018, arXiv:1807.05520v2 (code: github.com/facebookresearch/deepcluster).
DeepCluster alternates two steps: cluster the network's features with k-means and use the
clusters as pseudo-labels, then train the network (with a freshly initialised classifier) by
cross-entropy on them. Its Sec. 3.3, "Avoiding trivial solutions", names the two mechanisms that
keep the alternation from collapsing, and this module provides both:

* **empty clusters** are re-split during k-means (:func:`kmeans`): an empty cluster takes the
  centroid of a non-empty one plus a small random perturbation, and the points of that cluster
  are divided between the two;
* **uniform sampling over pseudo-labels** (:func:`uniform_cluster_indices`): each epoch draws the
  same number of samples from every cluster, so a large cluster does not dominate the
  classifier (the official ``UnifLabelSampler``).

The features are PCA-whitened and L2-normalised before k-means (:func:`pca_whiten`, the
official ``preprocess_features``). The official ``main.py`` takes them from the last hidden
layer *before* its ReLU: it drops the final ``ReLU`` of AlexNet's classifier while it computes
the features to cluster, and appends it again to train. SeLa (Asano, Rupprecht & Vedaldi, ICLR 2020,
arXiv:1911.05371) replaces these fixes by an equipartition constraint on the labels (see
:mod:`reptutor.solvers.sinkhorn`). Taught, as SeLa's baseline, in the chapter *Self-labelling as
optimal transport (SeLa)* (``notebooks/04_clustering``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from reptutor import _checks, _precision

__all__ = ["KMeansResult", "kmeans", "pca_whiten", "uniform_cluster_indices"]


class KMeansResult(NamedTuple):
    r"""What :func:`kmeans` returns: ``(centroids, labels, inertia, n_iter, n_split)``."""

    #: The cluster centres, the mean of each cluster's points, shape ``(K, D)``.
    centroids: torch.Tensor
    #: The cluster of each sample, shape ``(N,)``; no cluster is empty.
    labels: torch.Tensor
    #: :math:`\sum_i \lVert x_i - \mu_{y_i} \rVert^2` of the returned labels, a 0-d tensor.
    inertia: torch.Tensor
    #: Number of iterations (assignment, re-splits, centroid update) performed.
    n_iter: int
    #: Total number of empty clusters that were re-split over all iterations.
    n_split: int


def pca_whiten(features: torch.Tensor, dim: int, *, normalize: bool = True,
               eps: float = 1e-8) -> torch.Tensor:
    r"""Project on the top principal components, whiten, then L2-normalise each row.

    DeepCluster's feature preprocessing (Caron et al., ECCV 2018, arXiv:1807.05520v2, Sec. 3.2
    and ``preprocess_features`` in the official code, which reduces to 256 dimensions). With
    :math:`\bar x` the mean of the rows and :math:`\Sigma = \frac1N\sum_i (x_i-\bar x)(x_i-\bar
    x)^\top = U \Lambda U^\top` (eigenvalues in decreasing order),

    .. math::

        w_i = \big(\Lambda_{:d} + \epsilon\big)^{-1/2}\, U_{:d}^\top (x_i - \bar x),
        \qquad z_i = w_i / \lVert w_i \rVert_2 \quad\text{(if normalize)},

    so that the :math:`w_i` have identity covariance (up to :math:`\epsilon`) on the :math:`d`
    kept directions. The sign of each component is fixed by making its largest-magnitude loading
    positive, so the output does not depend on the eigen-solver's sign convention.

    Args:
        features: one row per sample, at least 2 rows.
        dim: number of principal components kept, :math:`1 \le d \le D`.
        normalize: L2-normalise each whitened row (DeepCluster does).
        eps: added to the eigenvalues before the inverse square root (directions of zero
            variance stay finite).

    Returns:
        The whitened features, same dtype and device.

    Shape:
        ``(N, D) -> (N, dim)``.

    Raises:
        TypeError: for a non-tensor or non-float ``features``.
        ValueError: for non-finite ``features``, fewer than 2 rows, or ``dim`` out of range.

    Examples:
        Without the normalisation the whitened features have identity covariance:

        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(500, 4, generator=g, dtype=torch.float64) @ torch.tensor(
        ...     [[3.0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0.5, 0], [0, 0, 0, 2]], dtype=torch.float64)
        >>> w = pca_whiten(x, 3, normalize=False, eps=0.0)
        >>> torch.allclose(w.T @ w / 500, torch.eye(3, dtype=torch.float64))
        True
        >>> torch.allclose(pca_whiten(x, 3).norm(dim=1), torch.ones(500, dtype=torch.float64))
        True
    """
    _checks.tensor("features", features, ndim=2, min_rows=2)
    _checks.integer("dim", dim, minimum=1, maximum=features.shape[1])
    _checks.boolean("normalize", normalize)
    eps = _checks.number("eps", eps, nonnegative=True)
    x = _precision.upcast(features)  # eigh has no float16 / bfloat16 kernel: float32, exact cast
    centred = x - x.mean(0, keepdim=True)  # (N, D)
    cov = centred.T @ centred / features.shape[0]  # (D, D) covariance, 1/N as in PCA
    evals, evecs = torch.linalg.eigh(cov)  # ascending eigenvalues, (D,), (D, D)
    evals, evecs = evals.flip(0)[:dim], evecs.flip(1)[:, :dim]  # (d,), (D, d) top components
    # fix each component's sign: its largest-magnitude loading is positive
    pivot = evecs.abs().argmax(0)  # (d,)
    evecs = evecs * torch.sign(evecs[pivot, torch.arange(dim, device=evecs.device)])
    w = centred @ evecs / (evals.clamp_min(0) + eps).sqrt()  # (N, d) unit variance per direction
    if normalize:
        w = w / w.norm(dim=1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
    return w.to(features.dtype)


def _sq_distances(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    # ||x - mu||^2 = ||x||^2 - 2 x.mu + ||mu||^2, one matmul, clamped against round-off
    return ((x * x).sum(1, keepdim=True) - 2 * x @ centroids.T
            + (centroids * centroids).sum(1)).clamp_min(0)  # (N, K)


def kmeans(
    x: torch.Tensor,
    num_clusters: int,
    *,
    generator: torch.Generator,
    max_iter: int = 20,
    init: torch.Tensor | None = None,
    perturbation: float = 1e-3,
) -> KMeansResult:
    r"""Lloyd's k-means with DeepCluster's rule for empty clusters.

    Caron et al., ECCV 2018, arXiv:1807.05520v2, Sec. 3.3 ("Empty clusters"): "when a cluster
    becomes empty, we randomly select a non-empty cluster and use its centroid with a small
    random perturbation as the new centroid for the empty cluster. We then reassign the points
    belonging to the non-empty cluster to the two resulting clusters." Lloyd's iterations
    minimise the within-cluster sum of squares

    .. math::

        \min_{\mu,\, y}\ \sum_{i=1}^N \lVert x_i - \mu_{y_i} \rVert_2^2 ,

    alternating :math:`y_i \leftarrow \arg\min_k \lVert x_i-\mu_k\rVert^2` and
    :math:`\mu_k \leftarrow` the mean of cluster :math:`k`. After each assignment, every empty
    cluster :math:`e` is re-split from a donor :math:`j` drawn with probability proportional to
    :math:`|C_j| - 1` (the rule of the faiss k-means that the official code calls; a singleton
    is never split): with :math:`\delta` a random Gaussian direction scaled to
    ``perturbation`` times :math:`\max(\lVert \mu_j \rVert, 1)`, the two centroids become
    :math:`\mu_j \pm \delta` and each point of :math:`C_j` goes to the nearer one, i.e. to
    :math:`e` iff :math:`(x_i - \mu_j)^\top \delta > 0`. Because :math:`\mu_j` is the mean of
    :math:`C_j`, these projections sum to zero, so both halves are non-empty unless all points
    of :math:`C_j` coincide (then one of them moves to :math:`e`). The centroids of both halves
    are then recomputed as means. So, unlike plain Lloyd, the returned labels use every cluster
    (when :math:`N \ge K`).

    Initial centroids are ``num_clusters`` distinct rows drawn at random (faiss's default) unless
    ``init`` is given. The loop stops after ``max_iter`` iterations (20 in the official code) or
    earlier, when an assignment changes no label and no cluster was empty (a fixed point of
    Lloyd's map). scikit-learn's ``KMeans`` relocates empty clusters differently (to the points
    farthest from their centres), which is why this function exists.

    Args:
        x: points, one row per sample (DeepCluster passes :func:`pca_whiten` features).
        num_clusters: :math:`K \ge 1`, at most the number of rows.
        generator: random generator for the initial centroids, donors and perturbations (on
            ``x``'s device).
        max_iter: maximum number of iterations, at least 1.
        init: optional initial centroids ``(K, D)`` (then no random draw for them).
        perturbation: relative size of the split perturbation, > 0.

    Returns:
        A :class:`KMeansResult` ``(centroids, labels, inertia, n_iter, n_split)``: the labels
        after the last iteration's re-splits, and the centroids as the exact means of those
        labels.

    Shape:
        ``x``: ``(N, D)``; ``init``: ``(K, D)`` -> ``centroids`` ``(K, D)``, ``labels``
        ``(N,)``, ``inertia`` ``()``.

    Raises:
        TypeError: for a non-tensor or non-float ``x`` or ``init``, a dtype mismatch, or a
            ``generator`` that is not a ``torch.Generator``.
        ValueError: for non-finite input, ``num_clusters`` out of ``[1, N]``, a wrongly shaped
            ``init``, or bad ``max_iter`` / ``perturbation``.

    Examples:
        Three centroids all placed on one blob: plain Lloyd would leave two clusters empty
        forever (the blob's points are all nearer to the first). The re-splits fill them.

        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.cat([torch.randn(30, 2, generator=g, dtype=torch.float64) * 0.1 + c
        ...                for c in (torch.tensor([0.0, 0.0]), torch.tensor([5.0, 0.0]),
        ...                          torch.tensor([0.0, 5.0]))])
        >>> init = torch.tensor([[0.0, 0.0], [-50.0, 0.0], [0.0, -50.0]], dtype=torch.float64)
        >>> res = kmeans(x, 3, generator=g, init=init)
        >>> res.n_split >= 2, torch.bincount(res.labels, minlength=3).tolist()
        (True, [30, 30, 30])
    """
    _checks.tensor("x", x, ndim=2)
    n, d = x.shape
    _checks.integer("num_clusters", num_clusters, minimum=1)
    if num_clusters > n:
        raise ValueError(
            f"num_clusters must be at most the number of rows of x ({n}), got {num_clusters}")
    _checks.generator("generator", generator, device=x.device, of="x")
    _checks.integer("max_iter", max_iter, minimum=1)
    perturbation = _checks.number("perturbation", perturbation, positive=True)
    k = num_clusters
    if init is None:
        centroids = x[torch.randperm(n, generator=generator, device=x.device)[:k]].clone()
    else:
        _checks.tensor("init", init, ndim=2)
        _checks.same_device_dtype("init", init, "x", x)
        if init.shape != (k, d):
            raise ValueError(f"init must have shape (num_clusters, D) = {(k, d)}, got "
                             f"{tuple(init.shape)}")
        centroids = init.clone()
    labels = torch.full((n,), -1, dtype=torch.long, device=x.device)
    n_split, n_iter = 0, 0
    for n_iter in range(1, max_iter + 1):
        new = _sq_distances(x, centroids).argmin(1)  # (N,) nearest centroid
        counts = torch.bincount(new, minlength=k)  # (K,)
        empty = (counts == 0).nonzero().flatten().tolist()
        # (rare, a few clusters at most: a Python loop over the empty ones)
        for e in empty:
            new, counts, centroids = _split(x, new, counts, centroids, e, generator, perturbation)
        n_split += len(empty)
        changed = bool((new != labels).any())
        labels = new
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)  # (K, D)
        centroids = sums / counts[:, None].to(x.dtype)  # every count >= 1 now
        if not changed and not empty:
            break
    diff = x - centroids[labels]  # (N, D)
    return KMeansResult(centroids, labels, (diff * diff).sum(), n_iter, n_split)


def _split(x, labels, counts, centroids, e, generator, perturbation):
    """Refill the empty cluster ``e`` from a donor (see :func:`kmeans`)."""
    weight = (counts - 1).clamp_min(0).to(x.dtype)  # (K,) P(donor) ∝ |C_j| - 1
    j = int(torch.multinomial(weight, 1, generator=generator))  # N >= K: some |C_j| >= 2
    members = (labels == j).nonzero().flatten()  # (n_j,)
    mu = x[members].mean(0)  # (D,) the donor's mean (not its stale centroid)
    delta = torch.randn(x.shape[1], generator=generator, device=x.device, dtype=x.dtype)
    delta = delta * (perturbation * max(float(mu.norm()), 1.0) / float(delta.norm()))
    to_e = (x[members] - mu) @ delta > 0  # (n_j,) the half nearer to mu + delta
    if not bool(to_e.any()) or bool(to_e.all()):  # all points of C_j coincide
        to_e = torch.zeros_like(to_e)
        to_e[0] = True
    labels = labels.clone()
    labels[members[to_e]] = e
    counts = counts.clone()
    counts[e], counts[j] = int(to_e.sum()), int((~to_e).sum())
    centroids = centroids.clone()
    centroids[e], centroids[j] = x[members[to_e]].mean(0), x[members[~to_e]].mean(0)
    return labels, counts, centroids


def uniform_cluster_indices(
    labels: torch.Tensor, num_samples: int, *, generator: torch.Generator,
    num_clusters: int | None = None,
) -> torch.Tensor:
    r"""Sample indices uniformly over the clusters, then uniformly within each (DeepCluster).

    Caron et al., ECCV 2018, arXiv:1807.05520v2, Sec. 3.3 ("Trivial parametrization"): "sample
    images based on a uniform distribution over the classes, or pseudo-labels" (the official
    ``UnifLabelSampler``). With :math:`K'` non-empty clusters, each contributes
    :math:`m = \lfloor n / K' \rfloor + 1` draws: without replacement from a cluster with more
    than :math:`m` members, with replacement from a smaller one. The :math:`m K'` draws are
    shuffled and the first :math:`n` returned, so every cluster appears between
    :math:`m - (mK' - n)` and :math:`m` times whatever its size. (Empty clusters are skipped;
    the official sampler would fail on one.)

    Args:
        labels: the pseudo-label of each sample, integers in ``[0, num_clusters)``.
        num_samples: :math:`n \ge 1`, how many indices to return (one epoch: ``N``).
        generator: random generator (on ``labels``' device).
        num_clusters: :math:`K`; default ``labels.max() + 1``.

    Returns:
        Indices into ``labels``, dtype ``torch.long``.

    Shape:
        ``labels``: ``(N,)`` -> ``(num_samples,)``.

    Raises:
        TypeError: for non-integer ``labels`` or a bad ``generator``.
        ValueError: for labels out of range or a non-positive ``num_samples``.

    Examples:
        A cluster of 95 samples and one of 5: each gets m = 51 draws, the epoch keeps 100 of the
        102, so each cluster appears 49 to 51 times (the small one with repeats).

        >>> labels = torch.tensor([0] * 95 + [1] * 5)
        >>> idx = uniform_cluster_indices(labels, 100, generator=torch.Generator().manual_seed(0))
        >>> torch.bincount(labels[idx]).tolist()
        [51, 49]
    """
    if num_clusters is not None:
        _checks.integer("num_clusters", num_clusters, minimum=1)
    _checks.labels("labels", labels, num_classes=num_clusters, bound_name="num_clusters")
    _checks.integer("num_samples", num_samples, minimum=1)
    _checks.generator("generator", generator, device=labels.device, of="labels")
    k = int(labels.max()) + 1 if num_clusters is None else num_clusters
    dev = labels.device
    sizes = torch.bincount(labels, minlength=k)  # (K,)
    used = (sizes > 0).nonzero().flatten()  # (K',) non-empty clusters
    m = num_samples // used.numel() + 1  # draws per cluster
    # members of each cluster in a random order: sort by (label, random key)
    keys = torch.rand(labels.shape[0], generator=generator, device=dev, dtype=torch.float64)
    order = torch.argsort(labels.double() * 2 + keys)  # keys in [0, 1): clusters stay apart
    starts = torch.cumsum(sizes, 0) - sizes  # (K,) first position of each cluster in `order`
    s = sizes[used][:, None]  # (K', 1)
    slot = torch.arange(m, device=dev)[None, :].expand(used.numel(), m)  # (K', m)
    # without replacement (first m of the random order) where |C| > m, else with replacement
    with_repl = torch.floor(torch.rand(used.numel(), m, generator=generator, device=dev,
                                       dtype=torch.float64) * s).long()  # (K', m) in [0, |C|)
    pos = torch.where(s > m, slot, with_repl)  # (K', m) position inside the cluster
    draws = order[starts[used][:, None] + pos].flatten()  # (K' m,)
    shuffle = torch.randperm(draws.numel(), generator=generator, device=dev)
    return draws[shuffle[:num_samples]]
