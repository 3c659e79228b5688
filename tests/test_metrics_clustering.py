"""reptutor.metrics.clustering: closed forms -> scikit-learn reference -> invariants -> errors."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import normalized_mutual_info_score

from reptutor.metrics import cluster_size_entropy, largest_cluster_fraction, nmi

import _validation as V


def test_nmi_closed_forms():
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    assert nmi(y, y) == 1.0
    assert nmi(y, torch.tensor([7, 7, 0, 0, 3, 3])) == 1.0  # renamed clusters
    assert nmi(y, torch.zeros(6, dtype=torch.long)) == 0.0  # one cluster: no information
    # both labelings a single group: scikit-learn's convention is a perfect match
    assert nmi(torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)) == 1.0
    # two balanced binary labelings that are independent: MI = 0 exactly
    assert nmi(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])) == 0.0
    # refining a binary split into 4 groups: I = log 2, H_true = log 2, H_pred = log 4
    got = nmi(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 2, 3]))
    assert abs(got - math.log(2) / ((math.log(2) + math.log(4)) / 2)) < 1e-15


@pytest.mark.parametrize("seed", range(6))
def test_nmi_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    a = rng.integers(0, int(rng.integers(1, 12)), n)
    b = rng.integers(0, int(rng.integers(1, 12)), n) * 3 + 5  # gaps in the label values
    if seed % 2:
        b = np.where(rng.random(n) < 0.7, a, b)  # correlated partitions
    ours = nmi(torch.as_tensor(a), torch.as_tensor(b))
    ref = normalized_mutual_info_score(a, b)  # arithmetic normalization is the default
    assert abs(ours - ref) < 1e-12  # float64 sums over at most 144 cells


def test_nmi_invariances():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (300,), generator=g)
    b = torch.where(torch.rand(300, generator=g) < 0.5, a, torch.randint(0, 6, (300,), generator=g))
    base = nmi(a, b)
    assert abs(nmi(b, a) - base) < 1e-14  # symmetric
    relabel = torch.randperm(6, generator=g)
    assert abs(nmi(a, relabel[b]) - base) < 1e-14  # renaming clusters
    order = torch.randperm(300, generator=g)
    assert abs(nmi(a[order], b[order]) - base) < 1e-14  # order of samples
    assert 0.0 < base < 1.0


def test_nmi_errors():
    y = torch.tensor([0, 1, 1])
    with pytest.raises(TypeError, match="labels_pred must have an integer dtype"):
        nmi(y, y.float())
    with pytest.raises(ValueError,
                       match=r"labels_pred must have length 3 \(one label per sample\), got 2"):
        nmi(y, y[:2])
    with pytest.raises(ValueError, match="labels_true must be non-negative, got minimum -1"):
        nmi(torch.tensor([-1, 0, 1]), y)
    with pytest.raises(TypeError, match="labels_true must be a torch.Tensor of integer labels"):
        nmi([0, 1, 1], y)


def test_cluster_size_entropy_and_largest_fraction():
    balanced = torch.arange(20) % 5
    assert abs(cluster_size_entropy(balanced, 5) - math.log(5)) < 1e-15
    assert largest_cluster_fraction(balanced, 5) == 0.2
    collapsed = torch.full((20,), 3)
    assert cluster_size_entropy(collapsed, 5) == 0.0
    assert largest_cluster_fraction(collapsed, 5) == 1.0
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 7, (500,), generator=g) % 4  # uneven sizes, clusters 4..6 empty
    counts = np.bincount(labels.numpy(), minlength=7)
    assert abs(cluster_size_entropy(labels, 7) - scipy_entropy(counts)) < 1e-13
    assert largest_cluster_fraction(labels, 7) == counts.max() / 500
    # bounds: [0, log K] and [1/K, 1]
    assert 0 <= cluster_size_entropy(labels, 7) <= math.log(7)
    assert 1 / 7 <= largest_cluster_fraction(labels, 7) <= 1


def test_size_statistics_errors():
    with pytest.raises(ValueError, match="labels must be < num_clusters=3, got maximum 3"):
        cluster_size_entropy(torch.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match="num_clusters must be >= 1, got 0"):
        largest_cluster_fraction(torch.tensor([0]), 0)
    with pytest.raises(ValueError, match=r"labels must be 1-D \(N,\), got shape \(2, 1\)"):
        largest_cluster_fraction(torch.zeros(2, 1, dtype=torch.long), 2)


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("metrics.nmi", lambda: {"labels_true": V.labels(9, 3), "labels_pred": V.labels(9, 3, seed=1)}, (
        V.rank("labels_true"), V.shape("labels_pred", lambda k: k["labels_pred"][:8]),
        V.empty("labels_true", "labels_pred"), V.labels_range("labels_pred"),
        V.labels_dtype("labels_true"), V.device_mismatch("labels_true", "labels_pred"),
        V.wrong_type("labels_true", expect="torch.Tensor")),
        na={"nonfinite": "integer labels only", "dtype-mismatch": "integer labels only"}),
    *(V.Entry(f"metrics.{name}", lambda: {"labels": V.labels(9, 3), "num_clusters": 3}, (
        V.rank("labels"), V.empty("labels"), V.labels_range("labels"), V.labels_range("labels", 3),
        V.labels_dtype("labels"), V.nonpositive("num_clusters"),
        V.wrong_type("labels", expect="torch.Tensor")),
        na={"nonfinite": "integer labels only"})
      for name in ("cluster_size_entropy", "largest_cluster_fraction")),
]
