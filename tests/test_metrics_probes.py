"""reptutor.metrics.probes: references from scikit-learn, invariants, errors."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score

import reptutor.metrics as M
from reptutor.metrics import linear_probe_accuracy, ridge_probe_r2

import _robustness as R
import _validation as V


def _blobs(n=300, d=5, k=3, sep=2.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    centers = sep * torch.randn(k, d, generator=g)
    return centers[y] + torch.randn(n, d, generator=g), y


def test_agrees_with_sklearn_logistic_regression():
    z, y = _blobs(sep=1.0)
    ours = linear_probe_accuracy(z[:200], y[:200], z[200:], y[200:], weight_decay=1e-4)
    zn = z.numpy()
    mu, sd = zn[:200].mean(0), zn[:200].std(0, ddof=1)
    ref = LogisticRegression(C=1 / (1e-4 * 200), max_iter=5000).fit((zn[:200] - mu) / sd, y[:200].numpy())
    acc_ref = ref.score((zn[200:] - mu) / sd, y[200:].numpy())
    # Same convex objective solved by two optimizers: predictions may differ on a sample or two.
    assert abs(ours - acc_ref) <= 2 / 100


def test_invariant_to_feature_scaling_and_sample_order():
    z, y = _blobs(seed=1)
    base = linear_probe_accuracy(z[:200], y[:200], z[200:], y[200:])
    scaled = linear_probe_accuracy(5 * z[:200] + 1, y[:200], 5 * z[200:] + 1, y[200:])
    perm = torch.randperm(200, generator=torch.Generator().manual_seed(0))
    shuffled = linear_probe_accuracy(z[:200][perm], y[:200][perm], z[200:], y[200:])
    assert base == pytest.approx(scaled, abs=1 / 100) and base == pytest.approx(shuffled, abs=1 / 100)


def test_ridge_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(120, 6, generator=g, dtype=torch.float64)
    t = z @ torch.randn(6, 2, generator=g, dtype=torch.float64) + 0.3 * torch.randn(120, 2, generator=g, dtype=torch.float64)
    alpha = 0.1
    ours = ridge_probe_r2(z[:80], t[:80], z[80:], t[80:], alpha=alpha)
    # sklearn's Ridge penalises alpha*||w||^2 against the *sum* of squares: alpha_sk = alpha * N.
    ref = Ridge(alpha=alpha * 80).fit(z[:80].numpy(), t[:80].numpy())
    assert ours == pytest.approx(r2_score(t[80:].numpy(), ref.predict(z[80:].numpy())), abs=1e-10)


def test_ridge_closed_forms():
    z = torch.randn(100, 3, dtype=torch.float64)
    noise = torch.randn(100, dtype=torch.float64)
    # Independent target: R^2 near 0 (can be slightly negative on the test split).
    assert ridge_probe_r2(z[:50], noise[:50], z[50:], noise[50:]) < 0.2
    # A 1-D target works and equals the 2-D form.
    t = z[:, 0] * 2
    assert ridge_probe_r2(z[:50], t[:50], z[50:], t[50:]) == pytest.approx(
        ridge_probe_r2(z[:50], t[:50, None], z[50:], t[50:, None]))


def test_errors():
    z, y = _blobs(20)
    with pytest.raises(ValueError, match="z_train and z_test must have the same number of features, got 5 and 4"):
        linear_probe_accuracy(z, y, z[:, :4], y)
    with pytest.raises(ValueError, match=r"y_train must have length 20 \(one label per sample\), got 19"):
        linear_probe_accuracy(z, y[:19], z, y)
    with pytest.raises(TypeError, match="y_test must have an integer dtype"):
        linear_probe_accuracy(z, y, z, y.float())
    with pytest.raises(ValueError, match="weight_decay must be >= 0, got -1.0"):
        linear_probe_accuracy(z, y, z, y, weight_decay=-1.0)
    with pytest.raises(ValueError, match="t_train must have 20 rows like z_train, got 19"):
        ridge_probe_r2(z, z[:19, 0], z, z[:, 0])
    with pytest.raises(ValueError, match="t_train and t_test must have the same number of targets, got 1 and 2"):
        ridge_probe_r2(z, z[:, 0], z, z[:, :2])
    with pytest.raises(ValueError, match="alpha must be >= 0, got -0.1"):
        ridge_probe_r2(z, z[:, 0], z, z[:, 0], alpha=-0.1)
    with pytest.raises(ValueError, match=r"z_train must be 2-D, got shape \(20,\)"):
        ridge_probe_r2(z[:, 0], z[:, 0], z, z[:, 0])


# ------------------------------------------------------------------ ridge_probe_r2: numerics
def test_ridge_is_bit_identical_on_repeated_calls():
    # torch.linalg.lstsq's default CPU driver (gelsy) gave a different value on 198 of 200
    # identical float32 calls at this size; the Cholesky solve in float64 gives one value.
    g = torch.Generator().manual_seed(1)
    z = torch.randn(500, 256, generator=g)
    t = torch.randn(500, 4, generator=g)
    values = {ridge_probe_r2(z[:375], t[:375], z[375:], t[375:]) for _ in range(40)}
    assert len(values) == 1, f"{len(values)} different values over 40 identical calls"


def test_ridge_min_norm_solution_for_collinear_features_without_ridge():
    # alpha = 0 and a duplicated (scaled) feature block: the normal equations are singular; the
    # answer is the minimum-norm least-squares fit, i.e. the pseudo-inverse's.
    g = torch.Generator().manual_seed(2)
    base = torch.randn(200, 5, generator=g, dtype=torch.float64)
    z = torch.cat([base, 2 * base], dim=1)  # (200, 10), rank 5
    t = base[:, :2].sum(1) + 0.1 * torch.randn(200, generator=g, dtype=torch.float64)
    zm, tm = z[:150].mean(0), t[:150].mean()
    w = torch.linalg.pinv(z[:150] - zm) @ (t[:150] - tm)
    pred = (z[150:] - zm) @ w + tm
    ref = 1 - float(((t[150:] - pred) ** 2).sum() / ((t[150:] - t[150:].mean()) ** 2).sum())
    assert ridge_probe_r2(z[:150], t[:150], z[150:], t[150:], alpha=0.0) == pytest.approx(ref, abs=1e-12)


def test_ridge_half_precision_inputs_are_fitted_in_float64():
    # float16 / bfloat16 -> float64 is exact, so the answer is the one of the same values in
    # float32, to the last bit (lstsq has no half-precision kernel and raised before).
    g = torch.Generator().manual_seed(3)
    z, t = torch.randn(80, 4, generator=g), torch.randn(80, 2, generator=g)
    for half in (torch.bfloat16, torch.float16):
        zh, th = z.to(half), t.to(half)
        assert ridge_probe_r2(zh[:60], th[:60], zh[60:], th[60:]) == ridge_probe_r2(
            zh[:60].float(), th[:60].float(), zh[60:].float(), th[60:].float())


def test_ridge_constant_target_is_an_error_not_minus_infinity():
    g = torch.Generator().manual_seed(4)
    z = torch.randn(40, 3, generator=g)
    t = torch.stack([torch.randn(40, generator=g), torch.full((40,), 2.5)], dim=1)  # column 1 constant
    with pytest.raises(ValueError, match=r"t_test has constant column\(s\) \[1\] over its 20 test row"):
        ridge_probe_r2(z[:20], t[:20], z[20:], t[20:])
    with pytest.raises(ValueError, match=r"t_test is constant over its 20 test row\(s\).*SST = 0"):
        ridge_probe_r2(z[:20], t[:20, 0], z[20:], t[20:, 1])
    # a constant *training* target is fine: W = 0, the prediction is its mean
    r2 = ridge_probe_r2(z[:20], t[:20, 1], z[20:], t[20:, 0])
    assert r2 == pytest.approx(1 - float(((t[20:, 0] - 2.5) ** 2).sum() / ((t[20:, 0] - t[20:, 0].mean()) ** 2).sum()), rel=1e-6)


def test_ridge_meta_and_device_errors():
    z = torch.randn(20, 3)
    with pytest.raises(ValueError, match="z_train and t_train must be on the same device, got cpu and meta"):
        ridge_probe_r2(z, z[:, 0].to("meta"), z, z[:, 0])
    m = z.to("meta")
    with pytest.raises(ValueError, match="z_train is on the meta device, which holds no values; ridge_probe_r2 needs them"):
        ridge_probe_r2(m, m[:, 0], m, m[:, 1])


def test_linear_probe_with_one_training_row():
    # standardize=True divides by each feature's standard deviation over the training rows:
    # one row has none (torch raised "value cannot be converted to type float without overflow")
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 3, generator=g)
    with pytest.raises(ValueError, match=r"^z_train must have at least 2 rows \(standardize=True .*\), "
                                         r"got shape \(1, 3\)$"):
        linear_probe_accuracy(z, torch.tensor([0]), torch.randn(4, 3, generator=g),
                              torch.tensor([0, 1, 0, 1]))
    # without standardisation one row is a valid probe: it gives its training point its class
    assert linear_probe_accuracy(z, torch.tensor([1]), z.repeat(3, 1), torch.tensor([1, 1, 1]),
                                 standardize=False) == 1.0


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("metrics.linear_probe_accuracy",
            lambda: {"z_train": V.randn(12, 3), "y_train": V.labels(12, 3),
                     "z_test": V.randn(6, 3, seed=1), "y_test": V.labels(6, 3, seed=1), "max_iter": 5}, (
              V.rank("z_train"), V.shape("z_test", lambda k: k["z_test"][:, :2]),
              V.shape("y_train", lambda k: k["y_train"][:11]), V.empty("z_train", "y_train"),
              V.nonfinite("z_train"), V.nonfinite("z_test"), V.nonpositive("weight_decay", -1),
              V.nonpositive("max_iter"), V.labels_range("y_train"), V.labels_dtype("y_test"),
              V.dtype_mismatch("z_train", "z_test"), V.device_mismatch("z_train", "z_test"),
              V.wrong_type("z_train"), *V.boolean("standardize"),
              V.Bad("empty", "z_train",
                    lambda k: V.replace(k, z_train=k["z_train"][:1], y_train=k["y_train"][:1]),
                    V.all_of("z_train", "at least 2 rows", "standardize=True", r"\(1, 3\)")))),
    V.Entry("metrics.ridge_probe_r2",
            lambda: {"z_train": V.randn(12, 3), "t_train": V.randn(12, seed=2),
                     "z_test": V.randn(6, 3, seed=1), "t_test": V.randn(6, seed=3)}, (
              V.rank("z_train"), V.shape("z_test", lambda k: k["z_test"][:, :2]),
              V.shape("t_train", lambda k: k["t_train"][:11]), V.empty("z_train", "t_train"),
              V.nonfinite("z_train"), V.nonfinite("t_test"), V.nonpositive("alpha", -1),
              V.dtype_mismatch("z_train", "z_test"), V.device_mismatch("z_train", "z_test"),
              V.wrong_type("z_train"))),
]


def _probe_split(dt):
    z, t = R.pair(dt)
    return z[:6], t[:6], z[6:], t[6:]



LINALG = {
    "metrics.ridge_probe_r2": R.LinalgCase(_probe_split, M.ridge_probe_r2),
}
