"""reptutor.solvers.deepcluster: PCA whitening against its closed form and numpy's SVD, k-means
against scikit-learn's Lloyd iterations, DeepCluster's empty-cluster rule and uniform sampling
(invariants), error messages, gradcheck of the whitening.

Tolerances: float64 throughout; 1e-10 where two implementations do the same arithmetic in a
different order, exact equality for integer outputs (labels, counts).
"""
import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

import reptutor.solvers as S
from reptutor.solvers import KMeansResult, kmeans, pca_whiten, uniform_cluster_indices

import _robustness as R
import _validation as V
from _helpers import gen

F64 = torch.float64


def _blobs(per=40, centres=((0.0, 0.0), (6.0, 0.0), (0.0, 6.0), (6.0, 6.0)), seed=0, std=0.5):
    g = gen(seed)
    c = torch.tensor(centres, dtype=F64)
    x = torch.cat([c[j] + std * torch.randn(per, 2, generator=g, dtype=F64) for j in range(len(c))])
    return x, torch.arange(len(c)).repeat_interleave(per)


def _anisotropic(n=400, seed=0):
    g = gen(seed)
    mix = torch.tensor([[3.0, 0.5, 0.0, 0.0], [0.0, 1.0, 0.2, 0.0], [0.0, 0.0, 0.5, 0.1],
                        [0.0, 0.0, 0.0, 2.0]], dtype=F64)
    return torch.randn(n, 4, generator=g, dtype=F64) @ mix + torch.tensor([1.0, -2.0, 0.5, 3.0],
                                                                           dtype=F64)


# ------------------------------------------------------------------------------ pca_whiten
def test_whitened_features_have_identity_covariance_and_unit_rows():
    x = _anisotropic()
    w = pca_whiten(x, 3, normalize=False, eps=0.0)
    assert w.shape == (400, 3)
    torch.testing.assert_close(w.mean(0), torch.zeros(3, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(w.T @ w / 400, torch.eye(3, dtype=F64), rtol=0, atol=1e-10)
    z = pca_whiten(x, 3, eps=0.0)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(400, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(z, w / w.norm(dim=1, keepdim=True), rtol=0, atol=1e-12)


def test_whitening_matches_numpy_svd_up_to_the_sign_convention():
    x = _anisotropic(seed=1)
    xc = (x - x.mean(0)).numpy()
    _, sv, vt = np.linalg.svd(xc, full_matrices=False)  # principal axes, decreasing variance
    ref = xc @ vt[:2].T / (sv[:2] / np.sqrt(len(xc)))  # (N, 2), unit variance per axis
    # our convention: each axis' largest-magnitude loading is positive
    signs = np.sign(vt[:2][np.arange(2), np.abs(vt[:2]).argmax(1)])
    ours = pca_whiten(x, 2, normalize=False, eps=0.0).numpy()
    np.testing.assert_allclose(ours, ref * signs, rtol=0, atol=1e-10)


def test_whitening_is_invariant_to_a_shift_and_a_positive_scale():
    x = _anisotropic(seed=2)
    a = pca_whiten(x, 4, eps=0.0)
    b = pca_whiten(3.0 * x + 7.0, 4, eps=0.0)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_gradcheck_whitening():
    x = _anisotropic(n=12, seed=3)[:, :3].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: pca_whiten(t, 2), (x,))


# ---------------------------------------------------------------------------------- kmeans
def test_kmeans_equals_sklearn_lloyd_when_no_cluster_empties():
    x, _ = _blobs(seed=4)
    init = x[torch.tensor([0, 40, 80, 120])]  # one point of each blob
    ours = kmeans(x, 4, generator=gen(), init=init, max_iter=50)
    ref = KMeans(4, init=init.numpy(), n_init=1, max_iter=50, tol=0.0,
                 algorithm="lloyd").fit(x.numpy())
    assert isinstance(ours, KMeansResult) and ours.n_split == 0
    assert torch.equal(ours.labels, torch.as_tensor(ref.labels_, dtype=torch.long))
    torch.testing.assert_close(ours.centroids, torch.as_tensor(ref.cluster_centers_),
                               rtol=0, atol=1e-10)
    assert abs(float(ours.inertia) - ref.inertia_) < 1e-9


def test_empty_clusters_are_resplit_and_every_cluster_is_used():
    # Two of four initial centroids are far from every point: plain Lloyd leaves them empty.
    x, truth = _blobs(seed=5)
    init = torch.tensor([[0.0, 0.0], [6.0, 3.0], [-100.0, 0.0], [0.0, 100.0]], dtype=F64)
    res = kmeans(x, 4, generator=gen(1), init=init, max_iter=20)
    assert res.n_split >= 2
    counts = torch.bincount(res.labels, minlength=4)
    assert int(counts.min()) >= 1
    # the centroids are exactly the means of the returned labels, the inertia their SSE
    means = torch.stack([x[res.labels == j].mean(0) for j in range(4)])
    torch.testing.assert_close(res.centroids, means, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.inertia, ((x - means[res.labels]) ** 2).sum(), rtol=1e-12,
                               atol=0)
    # on four separated blobs the re-splits end at the four blobs
    pairs = torch.stack([truth, res.labels], 1).unique(dim=0)
    assert pairs.shape[0] == 4


def test_identical_points_still_fill_every_cluster():
    x = torch.ones(6, 3, dtype=F64)
    res = kmeans(x, 3, generator=gen(2), max_iter=5)
    assert torch.bincount(res.labels, minlength=3).min() >= 1
    torch.testing.assert_close(res.centroids, torch.ones(3, 3, dtype=F64))
    assert float(res.inertia) == 0.0


def test_kmeans_stops_at_a_fixed_point_and_is_deterministic():
    x, _ = _blobs(seed=6)
    a = kmeans(x, 4, generator=gen(7), max_iter=100)
    b = kmeans(x, 4, generator=gen(7), max_iter=100)
    assert a.n_iter < 100  # a fixed point of Lloyd's map is reached long before
    assert torch.equal(a.labels, b.labels) and torch.equal(a.centroids, b.centroids)
    assert a.n_iter == b.n_iter and a.n_split == b.n_split
    # one more iteration from the returned centroids changes nothing
    again = kmeans(x, 4, generator=gen(0), init=a.centroids, max_iter=1)
    assert torch.equal(again.labels, a.labels) and again.n_split == 0


def test_kmeans_float32_and_k_equals_n():
    x = torch.randn(5, 2, generator=gen(8))
    res = kmeans(x, 5, generator=gen(9))
    assert res.centroids.dtype == torch.float32
    assert sorted(res.labels.tolist()) == [0, 1, 2, 3, 4]  # every point its own cluster
    assert float(res.inertia) == 0.0


# ------------------------------------------------------------------- uniform_cluster_indices
def test_uniform_sampling_balances_the_epoch_and_respects_its_rules():
    sizes = [500, 60, 7, 1]
    labels = torch.cat([torch.full((s,), j) for j, s in enumerate(sizes)])
    n = 400
    idx = uniform_cluster_indices(labels, n, generator=gen(10))
    assert idx.shape == (n,) and idx.dtype == torch.long
    assert int(idx.min()) >= 0 and int(idx.max()) < len(labels)
    m = n // 4 + 1  # draws per cluster before truncation
    counts = torch.bincount(labels[idx], minlength=4)
    assert int(counts.max()) <= m and int(counts.min()) >= m - (4 * m - n)
    # a cluster larger than m is drawn without replacement, a smaller one with replacement
    big = idx[labels[idx] == 0]
    assert big.unique().numel() == big.numel()
    small = idx[labels[idx] == 3]
    assert bool((small == len(labels) - 1).all())  # the singleton, repeated


def test_uniform_sampling_skips_empty_clusters_and_is_deterministic():
    labels = torch.tensor([0] * 30 + [2] * 10)
    a = uniform_cluster_indices(labels, 40, generator=gen(11), num_clusters=5)
    b = uniform_cluster_indices(labels, 40, generator=gen(11), num_clusters=5)
    assert torch.equal(a, b)
    counts = torch.bincount(labels[a], minlength=5)
    assert counts[[1, 3, 4]].sum() == 0
    m = 40 // 2 + 1  # 21 draws each, 42 in all, 40 kept
    assert m - 2 <= int(counts[0]) <= m and m - 2 <= int(counts[2]) <= m
    assert int(counts[0]) + int(counts[2]) == 40


# --------------------------------------------------------------------------- error messages
def test_error_messages():
    x = torch.randn(10, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"dim must be <= 3"):
        pca_whiten(x, 4)
    with pytest.raises(ValueError, match=r"features must have at least 2 rows"):
        pca_whiten(x[:1], 1)
    with pytest.raises(TypeError, match=r"features must have a floating-point dtype"):
        pca_whiten(torch.ones(4, 2, dtype=torch.long), 1)
    with pytest.raises(ValueError, match=r"num_clusters must be at most the number of rows of x"):
        kmeans(x, 11, generator=gen())
    with pytest.raises(ValueError, match=r"init must have shape \(num_clusters, D\) = \(2, 3\)"):
        kmeans(x, 2, generator=gen(), init=torch.zeros(3, 3, dtype=F64))
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator"):
        kmeans(x, 2, generator=0)
    with pytest.raises(ValueError, match=r"perturbation must be > 0"):
        kmeans(x, 2, generator=gen(), perturbation=0.0)
    with pytest.raises(ValueError, match=r"x must be finite"):
        kmeans(torch.full((4, 2), float("nan")), 2, generator=gen())
    with pytest.raises(ValueError, match=r"labels must be < num_clusters=2"):
        uniform_cluster_indices(torch.tensor([0, 1, 2]), 3, generator=gen(), num_clusters=2)
    with pytest.raises(TypeError, match=r"labels must have an integer dtype"):
        uniform_cluster_indices(torch.tensor([0.0, 1.0]), 3, generator=gen())
    with pytest.raises(ValueError, match=r"num_samples must be >= 1"):
        uniform_cluster_indices(torch.tensor([0, 1]), 0, generator=gen())


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("solvers.pca_whiten", lambda: {"features": V.randn(10, 4), "dim": 2}, (
        V.rank("features"), V.empty("features"), V.nonfinite("features"), V.nonpositive("dim"),
        V.nonpositive("eps", -1), V.out_of_range("dim", 5, "<= 4"), V.wrong_type("features"),
        *V.boolean("normalize"))),
    V.Entry("solvers.kmeans", lambda: {"x": V.randn(8, 3), "num_clusters": 2, "generator": V.gen(),
                                       "init": V.randn(2, 3, seed=1)}, (
        V.rank("x"), V.shape("init", lambda k: k["init"][:, :2]), V.empty("x"), V.nonfinite("x"),
        V.nonfinite("init"), V.nonpositive("num_clusters"), V.nonpositive("max_iter"),
        V.nonpositive("perturbation"), V.dtype_mismatch("x", "init"), V.device_mismatch("x", "init"),
        V.out_of_range("num_clusters", 9, "at most the number of rows of x"), V.wrong_type("x"),
        V.wrong_type("generator", lambda g: 0, "torch.Generator"))),
    V.Entry("solvers.uniform_cluster_indices",
            lambda: {"labels": V.labels(12, 3), "num_samples": 12, "generator": V.gen(),
                     "num_clusters": 3}, (
              V.rank("labels"), V.empty("labels"), V.labels_range("labels"),
              V.labels_range("labels", 3), V.labels_dtype("labels"), V.nonpositive("num_samples"),
              V.nonpositive("num_clusters"), V.wrong_type("labels"),
              V.wrong_type("generator", lambda g: 0, "torch.Generator")),
            na={"nonfinite": "labels are integers: there is no NaN to pass"}),
]

LINALG = {
    "solvers.pca_whiten": R.LinalgCase(lambda dt: (R.pair(dt)[0],), lambda x: S.pca_whiten(x, 3),
                                       meta="support"),
}
