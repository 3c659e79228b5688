"""reptutor._checks: every validator's message names the argument, expectation and value."""
import numpy as np
import pytest
import torch

from reptutor import _checks


def test_tensor():
    x = torch.zeros(3, 2)
    assert _checks.tensor("z", x, ndim=2) is x
    with pytest.raises(TypeError, match=r"z must be a torch.Tensor, got an array of shape \(3,\)"):
        _checks.tensor("z", np.zeros(3))
    with pytest.raises(ValueError, match=r"z must be 3-D, got shape \(3, 2\)"):
        _checks.tensor("z", x, ndim=3)
    with pytest.raises(ValueError, match=r"z must be 1-D or 3-D, got shape \(3, 2\)"):
        _checks.tensor("z", x, ndim=(1, 3))
    with pytest.raises(TypeError, match="z must have a floating-point dtype, got torch.int64"):
        _checks.tensor("z", torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"z must have at least 2 row\(s\) along dim 0, got shape \(1, 2\)"):
        _checks.tensor("z", torch.zeros(1, 2), min_rows=2)
    with pytest.raises(ValueError, match=r"z must not be empty, got shape \(3, 0\)"):
        _checks.tensor("z", torch.zeros(3, 0))
    with pytest.raises(ValueError, match=r"z must be finite, got 2 NaN or infinite value\(s\)"):
        _checks.tensor("z", torch.tensor([1.0, float("nan"), float("inf")]))


def test_pairs():
    a, b = torch.zeros(4, 2), torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"z_a and z_b must have the same shape, got \(4, 2\) and \(4, 3\)"):
        _checks.same_shape("z_a", a, "z_b", b)
    with pytest.raises(TypeError, match="z_a and z_b must have the same dtype, got torch.float32 and torch.float64"):
        _checks.same_device_dtype("z_a", a, "z_b", a.double())
    with pytest.raises(ValueError, match=r"p must have size 5 along dim 1 \(one per class\), got shape \(4, 2\)"):
        _checks.dim_size("p", a, 1, 5, "one per class")
    with pytest.raises(ValueError, match=r"m must be a square \(K, K\) matrix, got shape \(4, 2\)"):
        _checks.square("m", a)


def test_numbers():
    assert _checks.number("t", torch.tensor(0.5), positive=True) == 0.5
    assert _checks.number("t", np.float64(2.0), maximum=2.0) == 2.0
    with pytest.raises(ValueError, match="temperature must be > 0, got 0.0"):
        _checks.number("temperature", 0.0, positive=True)
    with pytest.raises(ValueError, match="tol must be >= 0, got -1.0"):
        _checks.number("tol", -1, nonnegative=True)
    with pytest.raises(ValueError, match="rho must be > -1, got -1.0"):
        _checks.number("rho", -1.0, minimum=-1, open_min=True)
    with pytest.raises(ValueError, match="rho must be >= 0, got -0.5"):
        _checks.number("rho", -0.5, minimum=0)
    with pytest.raises(ValueError, match="rho must be <= 1, got 2.0"):
        _checks.number("rho", 2.0, maximum=1)
    with pytest.raises(ValueError, match="eps must be finite, got nan"):
        _checks.number("eps", float("nan"))
    with pytest.raises(TypeError, match="eps must be a real number, got bool True"):
        _checks.number("eps", True)
    with pytest.raises(TypeError, match="eps must be a real number, got str '1'"):
        _checks.number("eps", "1")


def test_integers_choices_strings():
    assert _checks.integer("k", np.int64(3), minimum=1) == 3
    with pytest.raises(TypeError, match="k must be an integer, got float 2.0"):
        _checks.integer("k", 2.0)
    with pytest.raises(ValueError, match="k must be <= 4, got 5"):
        _checks.integer("k", 5, maximum=4)
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'avg'"):
        _checks.choice("reduction", "avg", ("mean", "sum", "none"))
    with pytest.raises(TypeError, match="name must be a non-empty string, got int 3"):
        _checks.string("name", 3)


def test_labels():
    y = torch.tensor([0, 2, 1])
    assert _checks.labels("y", y, n=3, num_classes=3) is y
    with pytest.raises(TypeError, match="y must be a torch.Tensor of integer labels, got list"):
        _checks.labels("y", [0, 1])
    with pytest.raises(TypeError, match=r"y must have an integer dtype \(e.g. torch.long\), got torch.float32"):
        _checks.labels("y", y.float())
    with pytest.raises(ValueError, match=r"y must be 1-D \(N,\), got shape \(3, 1\)"):
        _checks.labels("y", y[:, None])
    with pytest.raises(ValueError, match=r"y must have length 4 \(one label per sample\), got 3"):
        _checks.labels("y", y, n=4)
    with pytest.raises(ValueError, match="y must be non-negative, got minimum -1"):
        _checks.labels("y", torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="y must be < num_classes=2, got maximum 2"):
        _checks.labels("y", y, num_classes=2)
    with pytest.raises(ValueError, match=r"y must not be empty, got shape \(0,\)"):
        _checks.labels("y", torch.zeros(0, dtype=torch.long))


def test_labels_bound_name():
    with pytest.raises(ValueError, match="labels must be < num_clusters=2, got maximum 2"):
        _checks.labels("labels", torch.tensor([0, 2]), num_classes=2, bound_name="num_clusters")


def test_meta_tensors_skip_value_checks_but_not_structure():
    # a meta tensor has no values: the NaN scan and label range are skipped, so that the
    # caller's device check (the validation matrix moves one argument to "meta") can speak
    z = torch.zeros(3, 2, device="meta")
    assert _checks.tensor("z", z, ndim=2) is z
    with pytest.raises(ValueError, match=r"z must be 3-D, got shape \(3, 2\)"):
        _checks.tensor("z", z, ndim=3)
    y = torch.zeros(3, dtype=torch.long, device="meta")
    assert _checks.labels("y", y, n=3, num_classes=2) is y
    with pytest.raises(ValueError, match=r"y must have length 4 \(one label per sample\), got 3"):
        _checks.labels("y", y, n=4)


def test_dim_size_missing_dim():
    # a 0-d tensor has no dim -1: a wrong size with the received shape, not an IndexError
    with pytest.raises(ValueError, match=r"x must have size 2 along dim -1 \(dim\), got shape \(\)"):
        _checks.dim_size("x", torch.tensor(1.0), -1, 2, "dim")
    with pytest.raises(ValueError, match=r"x must have size 2 along dim 1 \(D\), got shape \(3,\)"):
        _checks.dim_size("x", torch.zeros(3), 1, 2, "D")


def test_finite_scan_survives_an_overflowing_sum_and_cancelling_infinities():
    # The fast path sums the tensor: a finite tensor whose sum overflows must still pass, and
    # +inf with -inf (a NaN sum) must still be reported.
    big = torch.full((4,), 3e38, dtype=torch.float32)
    assert not torch.isfinite(big.sum())
    assert _checks.tensor("x", big) is big
    with pytest.raises(ValueError, match=r"x must be finite, got 2 NaN or infinite"):
        _checks.tensor("x", torch.tensor([float("inf"), float("-inf"), 1.0]))
    with pytest.raises(ValueError, match=r"x must be finite, got 1 NaN or infinite"):
        _checks.tensor("x", torch.tensor([1.0, float("nan")], dtype=torch.float16))
