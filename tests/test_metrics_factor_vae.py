"""reptutor.metrics.factor_vae: closed forms, disentanglement_lib's vote loop, messages.

The reference is disentanglement_lib's ``compute_factor_vae`` written out with NumPy, one vote per
loop iteration. Batches are drawn by ``reptutor.evaluation.factor_vae_batches`` (tested in
``test_evaluation.py``). (gradcheck does not apply: the score is a function of an argmin.)
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reptutor.evaluation import factor_vae_batches
from reptutor.metrics import factor_vae_score

import _validation as V


# ---------------------------------------------------------------------------------------------
# Reference (disentanglement_lib's algorithm, loops included).
# ---------------------------------------------------------------------------------------------
def ref_factor_vae(votes, fixed, global_codes, num_factors, num_train, threshold):
    global_var = np.var(global_codes, axis=0, ddof=1)
    active = np.sqrt(global_var) >= threshold
    if not active.any():
        return 0.0, 0.0
    tallies = []
    for part in (range(num_train), range(num_train, len(votes))):
        t = np.zeros((num_factors, votes.shape[2]), dtype=np.int64)
        for i in part:  # one vote per iteration, as _generate_training_batch
            local = np.var(votes[i], axis=0, ddof=1)
            t[fixed[i], np.argmin(local[active] / global_var[active])] += 1
        tallies.append(t)
    classifier = np.argmax(tallies[0], axis=0)
    cols = np.arange(votes.shape[2])
    return tuple(float(t[classifier, cols].sum() / t.sum()) for t in reversed(tallies))


SIZES = (4, 6, 10, 8)


def sample_factors(n, gen):
    return torch.stack([torch.randint(0, s, (n,), generator=gen) for s in SIZES], dim=1)


# ---------------------------------------------------------------------------------------------
# FactorVAE score
# ---------------------------------------------------------------------------------------------
def test_factor_vae_score_identity_encoder_is_one():
    g = torch.Generator().manual_seed(1)
    encode = lambda v: torch.cat([v.float(), torch.randn(v.shape[0], 2, generator=g)], 1)  # noqa: E731
    codes, k = factor_vae_batches(sample_factors, encode, num_factors=4, num_batches=400,
                                  generator=g)
    result = factor_vae_score(codes, k, global_codes=encode(sample_factors(2000, g)),
                              num_factors=4, num_train=300)
    # the fixed factor's code has variance exactly 0, every other code's is > 0: no error
    assert result.score == 1.0 and result.train_accuracy == 1.0
    assert result.classifier[:4].tolist() == [0, 1, 2, 3] and result.num_active_dims == 6


def test_factor_vae_score_noise_is_chance():
    g = torch.Generator().manual_seed(2)
    encode = lambda v: torch.randn(v.shape[0], 5, generator=g)  # noqa: E731
    codes, k = factor_vae_batches(sample_factors, encode, num_factors=4, num_batches=3000,
                                  batch_size=32, generator=g)
    result = factor_vae_score(codes, k, global_codes=encode(sample_factors(1000, g)),
                              num_factors=4, num_train=1000)
    # argmin independent of the factor: accuracy ~ 1/4; sd sqrt(.25 .75 / 2000) ~ 0.01, and
    # the fitted majority adds at most a few points of overfit, so 0.07 is > 5 sd of slack
    assert abs(result.score - 0.25) < 0.07
    assert result.train_votes.sum() == 1000 and result.eval_votes.sum() == 2000


def test_factor_vae_matches_disentanglement_lib_loop_with_pruning():
    g = torch.Generator().manual_seed(3)
    mix = torch.randn(4, 6, generator=g)
    mix[:, 2] = 0.0  # a code that ignores the factors ...

    def encode(v):
        z = v.float() @ mix + 0.5 * torch.randn(v.shape[0], 6, generator=g)
        z[:, 2] *= 0.01  # ... and is collapsed: std ~ 0.005 < 0.05, so pruned
        return z

    codes, k = factor_vae_batches(sample_factors, encode, num_factors=4, num_batches=600,
                                  batch_size=20, generator=g)
    glob = encode(sample_factors(500, g))
    result = factor_vae_score(codes, k, global_codes=glob, num_factors=4, num_train=400)
    ref_eval, ref_train = ref_factor_vae(codes.numpy(), k.numpy(), glob.numpy(), 4, 400, 0.05)
    # same votes: a vote could only flip on a float32 near-tie of two variance ratios, and
    # the accuracies are ratios of integers, so they agree to float64 round-off
    assert result.score == pytest.approx(ref_eval, abs=1e-12)
    assert result.train_accuracy == pytest.approx(ref_train, abs=1e-12)
    assert result.num_active_dims == 5 and int(result.train_votes[:, 2].sum()) == 0


def test_factor_vae_all_collapsed_scores_zero():
    codes = torch.zeros(10, 8, 3)
    codes[..., 0] = 0.001 * torch.arange(8.0)
    result = factor_vae_score(codes, torch.zeros(10, dtype=torch.long),
                              global_codes=codes[0], num_factors=2, num_train=5)
    assert (result.score, result.train_accuracy, result.num_active_dims) == (0.0, 0.0, 0)


def test_factor_vae_messages():
    codes, k, glob = torch.randn(6, 8, 3), torch.tensor([0, 1, 0, 1, 0, 1]), torch.randn(20, 3)
    ok = dict(global_codes=glob, num_factors=2, num_train=4)
    with pytest.raises(ValueError, match=r"codes must be 3-D, got shape \(6, 8\)"):
        factor_vae_score(codes[:, :, 0], k, **ok)
    with pytest.raises(ValueError, match="codes must hold at least 2 codes per batch"):
        factor_vae_score(codes[:, :1], k, **ok)
    with pytest.raises(ValueError, match=r"global_codes must have size 3 along dim 1 \(the code dimension L\)"):
        factor_vae_score(codes, k, **{**ok, "global_codes": glob[:, :2]})
    with pytest.raises(TypeError, match="codes and global_codes must have the same dtype"):
        factor_vae_score(codes, k, **{**ok, "global_codes": glob.double()})
    with pytest.raises(ValueError, match="fixed_factor must be < num_factors=2, got maximum 2"):
        factor_vae_score(codes, k + 1, **ok)
    with pytest.raises(ValueError, match=r"fixed_factor must have length 6 \(one label per sample\), got 5"):
        factor_vae_score(codes, k[:5], **ok)
    with pytest.raises(ValueError, match="num_train must be <= 5, got 6"):
        factor_vae_score(codes, k, **{**ok, "num_train": 6})
    with pytest.raises(ValueError, match="threshold must be >= 0, got -1.0"):
        factor_vae_score(codes, k, threshold=-1.0, **ok)
    bad = codes.clone()
    bad[2, 3, 1] = float("inf")
    with pytest.raises(ValueError, match=r"codes must be finite, got 1 NaN or infinite value\(s\)"):
        factor_vae_score(bad, k, **ok)
    with pytest.raises(ValueError, match="codes must be small enough for their variance to be finite"):
        factor_vae_score(codes * 1e30, k, **ok)


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("metrics.factor_vae_score",
            lambda: {"codes": V.randn(6, 4, 3), "fixed_factor": V.labels(6, 2),
                     "global_codes": V.randn(10, 3, seed=1), "num_factors": 2, "num_train": 4}, (
              V.rank("codes", lambda x: x[0]), V.shape("global_codes", lambda k: k["global_codes"][:, :2]),
              V.shape("fixed_factor", lambda k: k["fixed_factor"][:5]),
              V.custom("empty", "codes", lambda k: k["codes"][:, :1],
                       V.all_of("codes", "at least 2 codes per batch", r"\(6, 1, 3\)")),
              V.empty("codes", "fixed_factor"), V.nonfinite("codes"), V.nonfinite("global_codes"),
              V.nonpositive("num_factors"), V.nonpositive("num_train"), V.nonpositive("threshold", -1),
              V.out_of_range("num_train", 6, "<= 5"),
              V.labels_range("fixed_factor"), V.labels_range("fixed_factor", 2),
              V.labels_dtype("fixed_factor"), V.dtype_mismatch("codes", "global_codes"),
              V.device_mismatch("codes", "global_codes"), V.device_mismatch("codes", "fixed_factor"),
              V.wrong_type("codes"), V.wrong_type("num_factors", lambda x: 2.0, "integer"))),
]
