"""reptutor.data.digits: the bundled digits as tensors and their augmentation."""
import pytest
import torch
from sklearn.datasets import load_digits

from reptutor.data import augment_digits, load_digits_tensors

import _validation as V

F64 = torch.float64


def test_load_digits_tensors_matches_scikit_learn():
    x, y = load_digits_tensors(dtype=F64)
    ref = load_digits()
    assert x.shape == (1797, 64) and y.shape == (1797,) and y.dtype == torch.long
    assert torch.equal(x * 16, torch.as_tensor(ref.data, dtype=F64))  # exact: k/16 is binary
    assert torch.equal(y, torch.as_tensor(ref.target))
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert load_digits_tensors().x.dtype == torch.float32
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype, got torch.int64"):
        load_digits_tensors(dtype=torch.long)


def test_shift_only_is_a_roll_by_at_most_one_pixel():
    x, _ = load_digits_tensors(dtype=F64)
    x = x[:60]
    out = augment_digits(x, torch.Generator().manual_seed(0), noise_std=0.0)
    img, aug = x.view(-1, 8, 8), out.view(-1, 8, 8)
    seen = set()
    for n in range(60):  # brute force over the 9 candidate shifts (a test may loop)
        hits = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                if torch.equal(torch.roll(img[n], (dy, dx), dims=(0, 1)), aug[n])]
        assert hits, f"sample {n} is not a roll of its input"
        seen.update(hits)
    assert len(seen) == 9  # every shift occurs among 60 samples (probability ~ 1 - 9 (8/9)^60)
    # (N, 8, 8) input gives the same result as (N, 64) with the same generator state
    same = augment_digits(img, torch.Generator().manual_seed(0), noise_std=0.0)
    assert same.shape == (60, 8, 8) and torch.equal(same.reshape(60, 64), out)


def test_noise_statistics_and_reproducibility():
    x, _ = load_digits_tensors(dtype=F64)
    noise = augment_digits(x, torch.Generator().manual_seed(1), max_shift=0, noise_std=0.1) - x
    # 115,008 N(0, 0.01) draws: the std of the sample mean is 3e-4, of the sample std 2e-4
    assert abs(float(noise.mean())) < 2e-3 and abs(float(noise.std()) - 0.1) < 2e-3
    a = augment_digits(x, torch.Generator().manual_seed(2))
    b = augment_digits(x, torch.Generator().manual_seed(2))
    c = augment_digits(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == x.dtype and a.device == x.device


def test_augment_errors():
    x = torch.zeros(4, 64)
    g = torch.Generator()
    with pytest.raises(ValueError,
                       match=r"x must have shape \(N, 64\) or \(N, 8, 8\), got \(4, 63\)"):
        augment_digits(torch.zeros(4, 63), g)
    with pytest.raises(TypeError, match="generator must be a torch.Generator, got int"):
        augment_digits(x, 0)
    with pytest.raises(ValueError, match="max_shift must be <= 7, got 8"):
        augment_digits(x, g, max_shift=8)
    with pytest.raises(ValueError, match="noise_std must be >= 0, got -0.1"):
        augment_digits(x, g, noise_std=-0.1)
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        augment_digits(torch.zeros(4, 64, dtype=torch.long), g)


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("data.load_digits_tensors", lambda: {}, (
        V.custom("type", "dtype", lambda k: torch.long, V.all_of("dtype", "floating", "int64"),
                 error=TypeError),)),
    V.Entry("data.augment_digits", lambda: {"x": V.randn(4, 64), "generator": V.gen()}, (
        V.rank("x"), V.custom("shape", "x", lambda k: k["x"][:, :63], V.all_of("x", "64", r"\(4, 63\)")),
        V.empty("x"), V.nonfinite("x"), V.nonpositive("max_shift", -1), V.nonpositive("noise_std", -1),
        V.wrong_type("x"), V.wrong_type("generator", lambda x: None, "torch.Generator"))),
]
