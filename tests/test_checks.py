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
    with pytest.raises(ValueError, match=r"z must have at least 2 rows, got shape \(1, 2\)"):
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


def test_tensor_allow_empty():
    # torch.nn layers map zero samples to zero outputs: a model may accept an empty batch
    empty = torch.zeros(0, 3)
    assert _checks.tensor("x", empty, ndim=2, min_rows=0, allow_empty=True) is empty
    with pytest.raises(ValueError, match=r"x must not be empty, got shape \(0, 3\)"):
        _checks.tensor("x", empty, ndim=2, min_rows=0)
    with pytest.raises(ValueError, match=r"x must have at least 1 row, got shape \(0, 3\)"):
        _checks.tensor("x", empty, ndim=2)


def test_rows_names_the_argument_not_a_shape_letter():
    s = torch.zeros(1, 5)
    assert _checks.rows("scores", torch.zeros(2, 5), 2) is not None
    with pytest.raises(ValueError, match=r"^scores must have at least 2 rows, got shape \(1, 5\)$"):
        _checks.rows("scores", s, 2)
    with pytest.raises(ValueError, match=r"^z must have at least 2 rows \(a variance needs 2 samples\), "
                                         r"got shape \(1, 5\)$"):
        _checks.rows("z", s, 2, "a variance needs 2 samples")
    # another axis is named by its index (a stack of (K, K) matrices: rows are dim 1)
    with pytest.raises(ValueError, match=r"scores must have at least 2 rows along dim 1, got shape \(3, 1, 1\)"):
        _checks.rows("scores", torch.zeros(3, 1, 1), 2, dim=-2)
    assert _checks.rows("scores", torch.zeros(1, 2, 2), 2, dim=-2).shape == (1, 2, 2)
    with pytest.raises(ValueError, match=r"x must have at least 1 row, got shape \(\)"):
        _checks.rows("x", torch.tensor(1.0), 1)


def test_views():
    a = torch.zeros(4, 3)
    _checks.views("z_a", a, "z_b", a.clone(), min_rows=2)
    with pytest.raises(ValueError, match=r"z_b must have at least 2 rows \(needs negatives\), got shape \(1, 3\)"):
        _checks.views("z_a", a, "z_b", a[:1], min_rows=2, why="needs negatives")
    with pytest.raises(ValueError, match=r"z_a and z_b must have the same shape, got \(4, 3\) and \(4, 2\)"):
        _checks.views("z_a", a, "z_b", a[:, :2])
    with pytest.raises(TypeError, match="p and z must have the same dtype, got torch.float32 and torch.float64"):
        _checks.views("p", a, "z", a.double())
    with pytest.raises(ValueError, match=r"p must be 3-D, got shape \(4, 3\)"):
        _checks.views("p", a, "z", a, ndim=3)
    with pytest.raises(ValueError, match=r"z must be finite"):
        _checks.views("p", a, "z", torch.full((4, 3), float("nan")))
    with pytest.raises(ValueError, match=r"p must not be empty, got shape \(0, 3\)"):
        _checks.views("p", a[:0], "z", a[:0])


def test_boolean():
    assert _checks.boolean("normalize", True) is True
    assert _checks.boolean("normalize", np.bool_(False)) is False
    for bad, shown in (("yes", "str 'yes'"), (1, "int 1"), (None, "NoneType None"),
                       (torch.tensor(True), "a tensor of shape")):
        with pytest.raises(TypeError, match=f"^normalize must be a bool, got {shown}"):
            _checks.boolean("normalize", bad)


def test_generator():
    g = torch.Generator().manual_seed(0)
    assert _checks.generator("generator", g) is g
    assert _checks.generator("generator", g, device=torch.device("cpu")) is g
    with pytest.raises(TypeError, match="^generator must be a torch.Generator, got int 0$"):
        _checks.generator("generator", 0)
    with pytest.raises(TypeError, match="^generator must be a torch.Generator, got NoneType None$"):
        _checks.generator("generator", None)
    # a CPU generator cannot draw on another device: the message names whose device it is
    with pytest.raises(ValueError, match=r"^generator must be on x's device \(meta\), got a generator on cpu$"):
        _checks.generator("generator", g, device="meta", of="x")


def test_integer_sequence():
    assert _checks.integer_sequence("hidden", (3, np.int64(4)), minimum=1) == [3, 4]
    assert _checks.integer_sequence("hidden", [], minimum=1) == []
    with pytest.raises(TypeError, match="^hidden must be a sequence of integers, got int 8$"):
        _checks.integer_sequence("hidden", 8)
    with pytest.raises(TypeError, match="^hidden must be a sequence of integers, got str '88'$"):
        _checks.integer_sequence("hidden", "88")
    with pytest.raises(ValueError, match=r"^hidden\[1\] must be >= 1, got 0$"):
        _checks.integer_sequence("hidden", [4, 0], minimum=1)
    with pytest.raises(TypeError, match=r"^hidden\[0\] must be an integer, got float 2.5$"):
        _checks.integer_sequence("hidden", [2.5])
    with pytest.raises(ValueError, match=r"^channels must hold 3 integers, got 2: \[4, 4\]$"):
        _checks.integer_sequence("channels", [4, 4], length=3)


def test_integers_allow_empty():
    cols = torch.zeros(4, 0, dtype=torch.long)
    assert _checks.integers("params", cols, ndim=2, layout="(N, M)", allow_empty=True) is cols
    with pytest.raises(ValueError, match=r"params must not be empty, got shape \(4, 0\)"):
        _checks.integers("params", cols, ndim=2, layout="(N, M)")


def test_module_input():
    net = torch.nn.Linear(3, 2).weight  # the parameter the input meets first
    x = torch.zeros(4, 3)
    assert _checks.module_input("x", x, net) is x
    with pytest.raises(TypeError, match=r"^x must have the model's dtype torch.float32, got torch.float64 "
                                        r"\(convert the input with .to\(torch.float32\) or the model "
                                        r"with .to\(torch.float64\)\)$"):
        _checks.module_input("x", x.double(), net)
    # an integer input: only the input can be converted
    with pytest.raises(TypeError, match=r"^x must have the model's dtype torch.float32, got torch.int64 "
                                        r"\(convert the input with .to\(torch.float32\)\)$"):
        _checks.module_input("x", x.long(), net)
    with pytest.raises(ValueError, match="x must be on the model's device cpu, got x on meta"):
        _checks.module_input("x", x.to("meta"), net)
    # autocast runs float32 layers on bfloat16 inputs: the dtypes may differ there
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert _checks.module_input("x", x.bfloat16(), net) is not None
        with pytest.raises(TypeError, match="x must have the model's dtype"):
            _checks.module_input("x", x.long(), net)


def test_no_copy_of_a_shared_check_remains():
    # one helper each (issue 10, item 3): a new copy of a check that _checks provides fails here
    import re
    from pathlib import Path

    import reptutor

    copies = {
        r"must be a torch\.Generator": "_checks.generator",
        r"must be a bool\b": "_checks.boolean",
        r"must be a torch\.Tensor of integers": "_checks.integers",
        r"_checks\.integer\(\s*\"[A-Z]\"": "_checks.rows: name the argument, not a shape letter",
        r"raise \w+\(\s*f?\"[^\"]*must have at least \d+ rows": "_checks.rows / _checks.views",
        r"sequence of positive integers": "_checks.integer_sequence",
    }
    found = []
    for path in sorted(Path(reptutor.__file__).parent.rglob("*.py")):
        if path.name == "_checks.py":
            continue
        text = path.read_text()
        found += [f"{path.name}: {pattern} -> use {helper}"
                  for pattern, helper in copies.items() if re.search(pattern, text)]
    assert not found, "\n".join(found)
