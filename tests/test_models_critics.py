"""Tests for reptutor.models.critics: closed form -> reference -> invariants -> errors -> gradcheck."""
from __future__ import annotations

import pytest
import torch

from reptutor.estimators import infonce
from reptutor.models import ConcatCritic, SeparableCritic

import _validation as V
from _helpers import randn

F64 = torch.float64


# ---------------------------------------------------------------- closed forms
def test_linear_separable_critic_is_a_bilinear_form():
    # hidden=[] makes g, h linear maps: f(x, y) = (A x + a)^T (B y + b)
    torch.manual_seed(0)
    critic = SeparableCritic(3, 4, [], 5).double()
    lin_g, lin_h = critic.g.layers[0], critic.h.layers[0]
    x, y = randn(6, 3, seed=1), randn(7, 4, seed=2)
    expected = (x @ lin_g.weight.T + lin_g.bias) @ (y @ lin_h.weight.T + lin_h.bias).T
    torch.testing.assert_close(critic(x, y), expected)


def test_zeroed_critics_are_constant_and_give_zero_infonce():
    for critic in (SeparableCritic(3, 3, 8, 4).double(), ConcatCritic(3, 3, 8).double()):
        for p in critic.parameters():
            torch.nn.init.zeros_(p)
        x, y = randn(5, 3, seed=3), randn(5, 3, seed=4)
        assert torch.equal(critic(x, y), torch.zeros(5, 5, dtype=F64))
        assert infonce(critic(x, y)).item() == 0.0


# ---------------------------------------------------------------- references
@torch.no_grad()
def test_separable_matrix_matches_per_pair_loop():
    torch.manual_seed(1)
    critic = SeparableCritic(3, 2, [16, 8], 4).double()
    x, y = randn(4, 3, seed=5), randn(5, 2, seed=6)
    ref = torch.tensor([[float(critic.g(x[i:i + 1])[0] @ critic.h(y[j:j + 1])[0])
                         for j in range(5)] for i in range(4)], dtype=F64)
    torch.testing.assert_close(critic(x, y), ref)


@torch.no_grad()
def test_concat_matrix_matches_per_pair_loop():
    torch.manual_seed(2)
    critic = ConcatCritic(3, 2, [16]).double()
    x, y = randn(4, 3, seed=7), randn(5, 2, seed=8)
    ref = torch.tensor([[float(critic.net(torch.cat([x[i], y[j]])[None])[0, 0])
                         for j in range(5)] for i in range(4)], dtype=F64)
    torch.testing.assert_close(critic(x, y), ref)


@pytest.mark.parametrize("make", [lambda: SeparableCritic(3, 2, 8, 4), lambda: ConcatCritic(3, 2, 8)])
def test_score_broadcasts_anchor_against_its_own_candidates(make):
    torch.manual_seed(3)
    critic = make().double()
    x, cand = randn(4, 3, seed=9), randn(4, 6, 2, seed=10)  # each anchor has 6 own candidates
    s = critic.score(x[:, None, :], cand)
    assert s.shape == (4, 6)
    for i in range(4):
        torch.testing.assert_close(s[i], critic(x[i:i + 1], cand[i])[0])
    # all pairs through score equal the matrix
    y = randn(5, 2, seed=11)
    torch.testing.assert_close(critic.score(x[:, None], y[None]), critic(x, y))


# ---------------------------------------------------------------- invariants
@pytest.mark.parametrize("make", [lambda: SeparableCritic(3, 3, 8, 4), lambda: ConcatCritic(3, 3, 8)])
def test_permuting_inputs_permutes_the_matrix(make):
    torch.manual_seed(4)
    critic = make().double()
    x, y = randn(6, 3, seed=12), randn(6, 3, seed=13)
    p, q = torch.randperm(6), torch.randperm(6)
    torch.testing.assert_close(critic(x[p], y[q]), critic(x, y)[p][:, q])


def test_critics_follow_dtype():
    out = SeparableCritic(2, 2, 4, 3)(torch.zeros(3, 2), torch.zeros(5, 2))
    assert out.shape == (3, 5) and out.dtype == torch.float32


# ---------------------------------------------------------------- error messages
def test_errors():
    critic = SeparableCritic(3, 2, 8, 4)
    with pytest.raises(ValueError, match="x must have 3 features in its last dim"):
        critic(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="y must have 2 features in its last dim"):
        critic.score(torch.zeros(4, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="x must be 2-D"):
        critic(torch.zeros(4, 1, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="^hidden must be >= 1, got 0$"):
        SeparableCritic(3, 2, 0, 4)
    with pytest.raises(ValueError, match=r"^hidden\[1\] must be >= 1, got 0$"):
        SeparableCritic(3, 2, [4, 0], 4)
    with pytest.raises(TypeError, match="^hidden must be an integer, got str '64'$"):
        ConcatCritic(3, 2, "64")
    with pytest.raises(ValueError, match="out must be >= 1"):
        SeparableCritic(3, 2, 8, 0)
    with pytest.raises(ValueError, match="dx must be >= 1"):
        ConcatCritic(0, 2, 8)
    with pytest.raises(TypeError, match="dy must be an integer"):
        ConcatCritic(3, 2.0, 8)
    with pytest.raises(TypeError, match="x must have the model's dtype torch.float32, got torch.int64"):
        ConcatCritic(3, 2, 8)(torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, 2))


# ---------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("make", [lambda: SeparableCritic(3, 2, 6, 4), lambda: ConcatCritic(3, 2, 6)])
def test_gradcheck_inputs_float64(make):
    torch.manual_seed(5)
    critic = make().double()
    x = randn(3, 3, seed=14).requires_grad_(True)
    y = randn(4, 2, seed=15).requires_grad_(True)
    assert torch.autograd.gradcheck(critic, (x, y))
    assert torch.autograd.gradcheck(lambda a, b: infonce(critic(a, b[:3])), (x, y))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    *(V.Entry(f"models.{name}", lambda name=name: {"dx": 3, "dy": 2, "hidden": 8, **({"out": 4} if "Sep" in name else {}),
                                       "x": V.randn(5, 3), "y": V.randn(6, 2, seed=1)}, (
        V.nonpositive("dx"), V.wrong_type("dx", lambda x: "3", "integer"),
        V.choice("activation", ("relu", "gelu", "tanh", "silu")),
        V.rank("x"), V.shape("y", lambda k: k["y"][:, :1]), V.dtype_mismatch("x", "y"),
        V.device_mismatch("x", "y"), V.nonfinite("y"), V.empty("x")),
        ctor=("dx", "dy", "hidden", "out", "activation"))
      for name in ("SeparableCritic", "ConcatCritic")),
]
