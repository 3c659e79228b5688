"""reptutor.losses.byol: closed forms of 2 - 2 cos, a row-by-row reference, the stop-gradient and
the analytic gradient, invariants, the EMA update and the cosine schedule, errors, gradcheck."""
import copy
import math

import pytest
import torch
from torch import nn

import reptutor.losses as L
from reptutor.losses import BYOLLoss, byol_loss, byol_momentum, ema_update

import _gradcheck as G
import _robustness as R
import _validation as V
from _helpers import views


# --- closed forms --------------------------------------------------------------------------------

def test_aligned_orthogonal_opposite():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], dtype=torch.float64)
    z = torch.tensor([[5.0, 0.0], [1.0, 0.0], [-1.0, -1.0]], dtype=torch.float64)
    torch.testing.assert_close(byol_loss(p, z, reduction="none"),
                               torch.tensor([0.0, 2.0, 4.0], dtype=torch.float64))
    assert byol_loss(p, z).item() == pytest.approx(2.0)
    assert byol_loss(p, z, reduction="sum").item() == pytest.approx(6.0)


def test_known_angle():
    # 60 degrees apart: 2 - 2 cos(pi/3) = 1
    p = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    z = torch.tensor([[math.cos(math.pi / 3), math.sin(math.pi / 3)]], dtype=torch.float64) * 7
    assert byol_loss(p, z).item() == pytest.approx(1.0, abs=1e-14)


def test_zero_vector_counts_as_orthogonal():
    p = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    z = torch.ones(1, 3, dtype=torch.float64)
    loss = byol_loss(p, z)
    assert loss.item() == 2.0
    loss.backward()
    assert bool(torch.isfinite(p.grad).all())


# --- reference -----------------------------------------------------------------------------------

def test_matches_row_by_row_normalised_l2():
    p, z = views(9, 5, seed=1)
    ref = []
    for i in range(9):
        pn = [v / math.sqrt(sum(u * u for u in p[i].tolist())) for v in p[i].tolist()]
        zn = [v / math.sqrt(sum(u * u for u in z[i].tolist())) for v in z[i].tolist()]
        ref.append(sum((a - b) ** 2 for a, b in zip(pn, zn)))  # ||p_bar - z_bar||^2 (eq. 2)
    torch.testing.assert_close(byol_loss(p, z, reduction="none"),
                               torch.tensor(ref, dtype=torch.float64), atol=1e-13, rtol=0)


# --- the stop-gradient and the gradient ----------------------------------------------------------

def test_stop_gradient_and_analytic_gradient():
    p, z = views(5, 4, seed=2)
    p.requires_grad_(True)
    z.requires_grad_(True)
    byol_loss(p, z, reduction="sum").backward()
    assert z.grad is None
    # d/dp (2 - 2 p.z_bar / |p|) = -2 (z_bar - (p_bar . z_bar) p_bar) / |p|
    with torch.no_grad():
        norm = p.norm(dim=1, keepdim=True)
        p_bar, z_bar = p / norm, z / z.norm(dim=1, keepdim=True)
        expected = -2 * (z_bar - (p_bar * z_bar).sum(1, keepdim=True) * p_bar) / norm
    torch.testing.assert_close(p.grad, expected, atol=1e-12, rtol=0)


# --- invariants ----------------------------------------------------------------------------------

def test_invariances_and_range():
    p, z = views(50, 6, seed=3)
    loss = byol_loss(p, z, reduction="none")
    assert float(loss.min()) >= 0.0 and float(loss.max()) <= 4.0
    torch.testing.assert_close(byol_loss(z, p, reduction="none"), loss)  # symmetric value
    scales = torch.rand(50, 1, dtype=torch.float64) + 0.1
    torch.testing.assert_close(byol_loss(scales * p, 3 * z, reduction="none"), loss)
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    torch.testing.assert_close(byol_loss(p @ q, z @ q, reduction="none"), loss)  # rotations
    perm = torch.randperm(50)
    torch.testing.assert_close(byol_loss(p[perm], z[perm]), byol_loss(p, z))


def test_module_matches_function():
    p, z = views(4, 3, seed=4)
    assert torch.equal(BYOLLoss(reduction="sum")(p, z), byol_loss(p, z, reduction="sum"))
    assert "reduction='sum'" in repr(BYOLLoss(reduction="sum"))


# --- the EMA target ------------------------------------------------------------------------------

def _nets():
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    target = copy.deepcopy(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    return target, online


def test_ema_closed_form_and_extremes():
    target, online = _nets()
    before = [p.clone() for p in target.parameters()]
    online_before = [p.clone() for p in online.parameters()]
    ema_update(target, online, 0.9)
    for xi, xi0, theta in zip(target.parameters(), before, online.parameters()):
        torch.testing.assert_close(xi, 0.9 * xi0 + 0.1 * theta)
    for theta, theta0 in zip(online.parameters(), online_before):
        assert torch.equal(theta, theta0)  # the online network is read only
    frozen = [p.clone() for p in target.parameters()]
    ema_update(target, online, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), frozen))
    ema_update(target, online, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), online.parameters()))


def test_ema_converges_geometrically_and_leaves_buffers():
    target, online = _nets()
    pairs = lambda: zip(target.parameters(), online.parameters())  # noqa: E731
    gap0 = sum(float((a - b).detach().abs().sum()) for a, b in pairs())
    online[1].running_mean.fill_(5.0)
    for _ in range(10):
        ema_update(target, online, 0.5)
    gap = sum(float((a - b).detach().abs().sum()) for a, b in pairs())
    assert gap / gap0 == pytest.approx(0.5**10, rel=1e-4)
    assert float(target[1].running_mean.abs().max()) == 0.0  # buffers are not averaged


def test_ema_records_no_graph():
    target, online = _nets()
    loss = sum(p.sum() for p in online.parameters())
    ema_update(target, online, 0.5)
    assert all(p.grad_fn is None for p in target.parameters())
    loss.backward()  # the online graph is untouched
    assert all(p.grad is not None for p in online.parameters())


def test_cosine_momentum_schedule():
    assert byol_momentum(0, 10) == pytest.approx(0.996)
    assert byol_momentum(10, 10) == pytest.approx(1.0)
    assert byol_momentum(5, 10, base=0.97) == pytest.approx(0.985)
    values = [byol_momentum(k, 100, base=0.9) for k in range(101)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    # symmetric around the middle: tau_k + tau_{K-k} = 1 + tau_base
    assert values[20] + values[80] == pytest.approx(1.9)


def test_matches_the_official_jax_formulas():
    # deepmind-research byol/ (commit d8df415): utils/helpers.py l2_normalize divides by
    # sqrt(max(|x|^2, 1e-12)) and regression_loss = sum((x_bar - y_bar)^2); byol_experiment.py
    # adds both directions per sample and averages over the batch; utils/schedules.py target_ema
    # = 1 - (1 - base) * 0.5 * (1 + cos(pi * min(k, K) / K)); the target update is
    # xi + (1 - tau) * (theta - xi). Re-derived here in NumPy (no JAX), not copied.
    import numpy as np

    g = torch.Generator().manual_seed(3)
    p1, p2, z1, z2 = (torch.randn(16, 8, generator=g, dtype=torch.float64) for _ in range(4))

    def official(x, y):
        x, y = x.numpy(), y.numpy()
        xn = x / np.sqrt(np.maximum((x ** 2).sum(-1, keepdims=True), 1e-12))
        yn = y / np.sqrt(np.maximum((y ** 2).sum(-1, keepdims=True), 1e-12))
        return ((xn - yn) ** 2).sum(-1)

    want = float(np.mean(official(p1, z2) + official(p2, z1)))
    got = float(byol_loss(p1, z2) + byol_loss(p2, z1))
    assert abs(got - want) < 1e-12
    for k, K, base in [(0, 100, 0.996), (37, 100, 0.99), (100, 100, 0.97)]:
        want_tau = 1 - (1 - base) * 0.5 * (1 + math.cos(math.pi * min(k, K) / K))
        assert byol_momentum(k, K, base=base) == pytest.approx(want_tau, abs=1e-15)
    online, target = nn.Linear(3, 2).double(), nn.Linear(3, 2).double()
    before = [w.detach().clone() for w in target.parameters()]
    ema_update(target, online, 0.9)
    for xi0, xi, theta in zip(before, target.parameters(), online.parameters()):
        torch.testing.assert_close(xi, xi0 + (1 - 0.9) * (theta.detach() - xi0))


# --- error messages ------------------------------------------------------------------------------

def test_errors():
    p, z = views(3, 2)
    with pytest.raises(ValueError, match="p and z must have the same shape"):
        byol_loss(p, z[:2])
    with pytest.raises(ValueError, match="p must be 2-D"):
        byol_loss(p[0], z[0])
    with pytest.raises(TypeError, match="p and z must have the same dtype"):
        byol_loss(p, z.float())
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'"):
        byol_loss(p, z, reduction="max")
    with pytest.raises(ValueError, match="eps must be > 0"):
        byol_loss(p, z, eps=0.0)
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        byol_loss(p, [1.0])
    target, online = _nets()
    with pytest.raises(ValueError, match="momentum must be <= 1.0"):
        ema_update(target, online, 1.5)
    with pytest.raises(TypeError, match="target must be a torch.nn.Module"):
        ema_update(None, online, 0.5)
    with pytest.raises(ValueError, match="got 6 and 2 parameter tensors"):
        ema_update(target, nn.Linear(3, 4), 0.5)
    with pytest.raises(ValueError, match=r"got parameter 0 of shape \(4, 3\) and \(4, 5\)"):
        ema_update(nn.Linear(3, 4), nn.Linear(5, 4), 0.5)
    with pytest.raises(ValueError, match="step must be <= 10"):
        byol_momentum(11, 10)
    with pytest.raises(ValueError, match="total_steps must be >= 1"):
        byol_momentum(0, 0)
    with pytest.raises(ValueError, match="base must be <= 1.0"):
        byol_momentum(0, 10, base=1.2)


def test_gradcheck():
    p, z = views(4, 3, seed=5)
    p.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: byol_loss(a, z, reduction="none"), (p,))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("losses.byol_loss", lambda: {"p": V.randn(8, 4), "z": V.randn(8, 4, seed=1)}, (
        *V.pair_cells("p", "z"), V.nonpositive("eps"), V.choice("reduction", V.REDUCTIONS))),
    V.Entry("losses.BYOLLoss", lambda: {"p": V.randn(8, 4), "z": V.randn(8, 4, seed=1), "eps": 1e-12},
            (V.number_type("eps"), V.nonpositive("eps"), V.choice("reduction", V.REDUCTIONS), V.rank("p")),
            ctor=("eps", "reduction")),
    V.Entry("losses.ema_update",
            lambda: {"target": nn.Linear(2, 2), "online": nn.Linear(2, 2), "momentum": 0.99}, (
              V.nonpositive("momentum", -1), V.out_of_range("momentum", 1.5, "<= 1"),
              V.custom("type", "target", lambda k: None, V.all_of("target", r"nn\.Module", "NoneType"),
                       error=TypeError),
              V.custom("shape", "online", lambda k: nn.Linear(2, 3),
                       V.all_of("online", "target", "shape|parameters")),
            )),
    V.Entry("losses.byol_momentum", lambda: {"step": 3, "total_steps": 10}, (
        V.nonpositive("total_steps"), V.nonpositive("step", -1),
        V.out_of_range("base", 1.5, "<= 1"),
        V.wrong_type("step", lambda x: 3.5, "integer"))),
]

ROBUSTNESS = {
    # normalised prediction and target: scaled by 1e4
    "byol_loss": R.Case(make=R.pair, call=lambda p, z, t=None: L.byol_loss(p, z), big="scale",
                        expect=R.SAME, bf16=(1, R.VALUE), tau=False),
    "BYOLLoss": R.wraps("byol_loss"),
    "byol_momentum": R.not_numeric("a momentum schedule of Python floats: no tensor input"),
    "ema_update": R.not_numeric("an in-place parameter update: no number is returned"),
}

SECOND_ORDER = {
    # the target z is a stop-gradient (no derivative by design): p only
    "byol_loss": ("exact", lambda: G.one(
        lambda p: L.byol_loss(p, G.x(4, 3, seed=56).detach(), reduction="none"), G.x(4, 3, seed=55))),
    "ema_update": ("none", "an in-place parameter update under no_grad: nothing to differentiate"),
    "byol_momentum": ("none", "a schedule of Python floats: nothing to differentiate"),
}
