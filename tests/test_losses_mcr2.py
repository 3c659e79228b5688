"""reptutor.losses.mcr2: closed forms, the official code's formula (membership matrices, D x D
logdet) as reference, Sylvester's two sides, invariants, errors, gradcheck."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.losses as L
from reptutor.losses import (
    MCR2Loss,
    MCR2Terms,
    class_coding_rate,
    coding_rate,
    mcr2_loss,
    mcr2_terms,
)
from reptutor.losses._gram import logdet_spd

import _gradcheck as G
import _robustness as R
import _validation as V

FORMS = ("features", "samples")


def _data(n=12, d=5, k=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=dtype), dim=1)
    y = torch.randint(0, k, (n,), generator=g)
    return z, y


def _official(z, y, k, eps_sq=0.5):
    """ryanchankh/mcr2 loss.py, empirical R and R^c, with W = z.T and diagonal Pi_j matrices."""
    w = z.T
    p, m = w.shape
    eye = torch.eye(p, dtype=z.dtype)
    rate = torch.logdet(eye + p / (m * eps_sq) * w @ w.T) / 2
    class_rate = 0.0
    for j in range(k):
        pi = torch.diag((y == j).to(z.dtype))  # (N, N) membership of class j
        tr = torch.trace(pi) + 1e-8
        class_rate = class_rate + torch.logdet(eye + p / (tr * eps_sq) * w @ pi @ w.T) * tr / m
    return rate, class_rate / 2


# --- closed forms -------------------------------------------------------------------------------

@pytest.mark.parametrize("form", FORMS)
def test_axis_aligned_classes(form):
    # rows e_1, e_1, e_2, e_2, e_3, e_3: Z^T Z = 2 I, alpha = D / (N eps^2) = 3 / (6 * 0.5) = 1
    # R = 3/2 log(1 + 2); class j: Z_j^T Z_j = 2 e_j e_j^T, alpha_j = 3 / (2 * 0.5) = 3,
    # log det = log(1 + 6), weight N_j / (2N) = 1/6 -> R^c = 3 * log(7) / 6
    z = torch.eye(3, dtype=torch.float64).repeat_interleave(2, dim=0)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    t = mcr2_terms(z, y, form=form)
    assert t.rate.item() == pytest.approx(1.5 * math.log(3), rel=1e-14)
    assert t.class_rate.item() == pytest.approx(0.5 * math.log(7), rel=1e-14)
    assert t.loss.item() == pytest.approx(0.5 * math.log(7) - 1.5 * math.log(3), rel=1e-13)


@pytest.mark.parametrize("form", FORMS)
def test_scaled_orthonormal_rows(form):
    # N = D orthonormal rows times c: every singular value c, R = D/2 log(1 + c^2 / eps^2)
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    for c, eps_sq in ((1.0, 0.5), (3.0, 0.1), (0.2, 2.0)):
        assert coding_rate(c * q, eps_sq=eps_sq, form=form).item() == pytest.approx(
            3 * math.log(1 + c * c / eps_sq), rel=1e-12)
    assert coding_rate(torch.zeros(4, 3, dtype=torch.float64), form=form).item() == 0.0


def test_mcr2_optimum_of_orthogonal_equal_subspaces():
    # Yu et al.'s optimal structure: K classes in mutually orthogonal subspaces of dim d_j, each
    # Z_j with d_j equal singular values sqrt(N_j / d_j). Closed form (unit-norm rows):
    # dR* = sum_j d_j/2 log(1 + D N_j / (N eps^2 d_j)) - sum_j N_j/(2N) d_j log(1 + D / (eps^2 d_j))
    k, dj, nj, d, eps_sq = 3, 2, 4, 6, 0.5
    blocks = []
    for j in range(k):
        basis = torch.zeros(dj, d, dtype=torch.float64)
        basis[:, j * dj:(j + 1) * dj] = torch.eye(dj, dtype=torch.float64)
        blocks.append(basis.repeat(nj // dj, 1))  # N_j unit rows, Z_j^T Z_j = (N_j/d_j) I on its block
    z = torch.cat(blocks)
    y = torch.arange(k).repeat_interleave(nj)
    n = k * nj
    star = (k * dj / 2 * math.log(1 + d * nj / (n * eps_sq * dj))
            - k * nj / (2 * n) * dj * math.log(1 + d / (eps_sq * dj)))
    assert -mcr2_loss(z, y, eps_sq=eps_sq).item() == pytest.approx(star, rel=1e-13)


# --- reference: the official code's formula ----------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("form", ["auto", *FORMS])
def test_matches_official_formula(seed, form):
    # 5 classes declared, labels drawn from 3 of them: two empty classes contribute 0
    z, y = _data(n=14, d=6, k=3, seed=seed)
    rate, class_rate = _official(z, y, k=5)
    t = mcr2_terms(z, y, num_classes=5, form=form)
    assert isinstance(t, MCR2Terms)
    assert t.rate.item() == pytest.approx(rate.item(), rel=1e-12)
    # the official 1e-8 added to tr(Pi_j) shifts each class term by ~1e-8 relative
    assert t.class_rate.item() == pytest.approx(class_rate.item(), rel=1e-7)
    assert class_coding_rate(z, y, num_classes=5, form=form).item() == t.class_rate.item()
    assert mcr2_loss(z, y, num_classes=5, form=form).item() == t.loss.item()


def test_unbalanced_classes_match_per_class_rates():
    # R^c is the N_j/N-weighted average of each class's own coding rate R(Z_j)
    g = torch.Generator().manual_seed(4)
    z = torch.randn(20, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0] * 13 + [1] * 2 + [2] * 5)
    expected = sum((y == j).sum().item() / 20 * coding_rate(z[y == j]).item() for j in range(3))
    for form in FORMS:
        assert class_coding_rate(z, y, form=form).item() == pytest.approx(expected, rel=1e-12)


# --- Sylvester's two sides -----------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 10), d=st.integers(1, 10), k=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_sides_agree_in_value_and_gradient(n, d, k, seed):
    z, y = _data(n, d, k, seed)
    z.requires_grad_(True)
    out = {}
    for form in FORMS:
        t = mcr2_terms(z, y, num_classes=k, form=form)
        out[form] = (t.rate, t.class_rate, *torch.autograd.grad(t.loss, z))
    # float64 Cholesky of well-conditioned matrices (eigenvalues in [1, 1 + D/eps^2 * ...])
    for a, b in zip(out["samples"], out["features"]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # auto picks the smaller matrix, bit for bit
    side = "samples" if n < d else "features"
    assert coding_rate(z).item() == coding_rate(z, form=side).item()


# --- invariants ---------------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 12), d=st.integers(1, 7), k=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_invariants(n, d, k, seed):
    z, y = _data(n, d, k, seed)
    t = mcr2_terms(z, y, num_classes=k)
    g = torch.Generator().manual_seed(seed)
    # rotation of feature space: Z -> Z Q leaves every singular value unchanged
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=z.dtype))
    t_rot = mcr2_terms(z @ q, y, num_classes=k)
    for a, b in zip(t_rot, t):
        assert a.item() == pytest.approx(b.item(), rel=1e-10, abs=1e-12)
    # permuting samples with their labels, and renaming the classes
    perm = torch.randperm(n, generator=g)
    rename = torch.randperm(k, generator=g)
    assert mcr2_loss(z[perm], rename[y[perm]], num_classes=k).item() == pytest.approx(
        t.loss.item(), rel=1e-10, abs=1e-12)
    # Delta R >= 0 (concavity of log det, Z^T Z = sum_j Z_j^T Z_j) and R, R^c >= 0
    assert t.loss.item() <= 1e-12 and t.rate.item() >= 0.0 and t.class_rate.item() >= 0.0
    # one class: R^c = R, loss 0
    assert mcr2_loss(z, torch.zeros_like(y)).item() == pytest.approx(0.0, abs=1e-12)


def test_module_and_dtype():
    z, y = _data(n=10, d=4, k=2, dtype=torch.float32)
    m = MCR2Loss(eps_sq=0.1, num_classes=3, form="features")
    assert m(z, y).item() == mcr2_loss(z, y, eps_sq=0.1, num_classes=3, form="features").item()
    assert m(z, y).dtype == torch.float32
    assert "eps_sq=0.1" in repr(m) and "num_classes=3" in repr(m)


# --- errors --------------------------------------------------------------------------------------------

def test_errors():
    z, y = _data(n=6, d=3, k=2)
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        coding_rate(z.numpy())
    with pytest.raises(ValueError, match=r"z must be 2-D, got shape \(6,\)"):
        coding_rate(z[:, 0])
    with pytest.raises(TypeError, match="z must have a floating-point dtype"):
        coding_rate(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="z must be finite"):
        mcr2_loss(z.clone().fill_(float("inf")), y)
    with pytest.raises(ValueError, match="eps_sq must be > 0, got 0.0"):
        coding_rate(z, eps_sq=0.0)
    with pytest.raises(ValueError, match="form must be one of 'auto', 'features', 'samples'; got 'nxn'"):
        coding_rate(z, form="nxn")
    with pytest.raises(ValueError, match="form must be one of"):
        class_coding_rate(z, y, form="dxd")
    with pytest.raises(TypeError, match="labels must have an integer dtype"):
        mcr2_loss(z, y.double())
    with pytest.raises(ValueError, match="labels must have length 6 .* got 5"):
        mcr2_loss(z, y[:5])
    with pytest.raises(ValueError, match="labels must be < num_classes=2, got maximum 3"):
        mcr2_loss(z, torch.tensor([0, 1, 3, 0, 1, 0]), num_classes=2)
    with pytest.raises(ValueError, match="labels must be non-negative"):
        mcr2_loss(z, torch.tensor([0, 1, -1, 0, 1, 0]))
    with pytest.raises(TypeError, match="num_classes must be an integer, got bool True"):
        mcr2_loss(z, y, num_classes=True)
    with pytest.raises(ValueError, match="num_classes must be >= 1, got 0"):
        MCR2Loss(num_classes=0)
    with pytest.raises(ValueError, match=r"m is not numerically positive definite in torch.float64"):
        logdet_spd(-torch.eye(2, dtype=torch.float64), "m")


# --- gradcheck ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", FORMS)
def test_gradcheck(form):
    z, y = _data(n=7, d=4, k=3, seed=9)
    z.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: coding_rate(x, eps_sq=0.3, form=form), (z,))
    assert torch.autograd.gradcheck(lambda x: mcr2_loss(x, y, eps_sq=0.3, form=form), (z,))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("losses.coding_rate", lambda: {"z": V.randn(8, 4)}, (
        V.rank("z"), V.empty("z"), V.nonfinite("z"), V.nonpositive("eps_sq"), V.choice("form", V.FORMS),
        V.wrong_type("z"))),
    *(V.Entry(f"losses.{name}", lambda: {"z": V.randn(8, 4), "labels": V.labels(8, 3)}, (
        V.rank("z"), V.shape("labels", lambda k: k["labels"][:7]), V.empty("z", "labels"),
        V.nonfinite("z"), V.nonpositive("eps_sq"), V.nonpositive("num_classes"),
        V.labels_range("labels"), V.labels_range("labels", 3, num_classes=3),
        V.labels_dtype("labels"), V.device_mismatch("z", "labels"), V.choice("form", V.FORMS),
        V.wrong_type("z"), V.wrong_type("labels")),
        na={"dtype-mismatch": "labels are integer by contract (see labels-dtype); one float input"})
      for name in ("class_coding_rate", "mcr2_loss", "mcr2_terms")),
    V.Entry("losses.MCR2Loss", lambda: {"z": V.randn(8, 4), "labels": V.labels(8, 3), "eps_sq": 0.5}, (
        V.number_type("eps_sq"), V.nonpositive("eps_sq"), V.choice("form", V.FORMS), V.rank("z")),
        ctor=("eps_sq", "form")),
]


def _rate_scale(z, eps_sq=0.5):
    # R = 1/2 log det(I + a G), G = Z^T Z, a = D/(N eps^2): dR = a/2 tr(M^-1 dG) and
    # |dG_kl| <= 3u sqrt(G_kk G_ll), so |dR| <= 3u * a/2 sum_kl |M^-1_kl| sqrt(G_kk G_ll)
    z = z.detach().double()
    n, d = z.shape
    a = d / (n * eps_sq)
    g = z.T @ z
    m_inv = torch.linalg.inv(torch.eye(d, dtype=R.F64) + a * g)
    s = g.diagonal().sqrt()
    return 0.5 * a * float((m_inv.abs() * s[:, None] * s[None, :]).sum())


def _class_rate_scale(z, labels, eps_sq=0.5):  # R^c = sum_j n_j/N R(Z_j)
    return sum(float((labels == j).sum()) / len(labels) * _rate_scale(z[labels == j], eps_sq)
               for j in labels.unique())


ROBUSTNESS = {
    # coding rates of raw (not normalised) features: scaled by 1e4; eps^2 swept
    "coding_rate": R.Case(make=lambda dt: (R.pair(dt)[0],),
                          call=lambda z, t=None: L.coding_rate(z, eps_sq=R.swept(t, 0.5)), big="scale",
                          expect=None, bf16=(3, lambda xs, out: _rate_scale(xs[0]))),
    "class_coding_rate": R.Case(make=lambda dt: (R.pair(dt)[0],),
                                call=lambda z, t=None: L.class_coding_rate(z, R.LABELS, eps_sq=R.swept(t, 0.5)),
                                big="scale", expect=None,
                                bf16=(3, lambda xs, out: _class_rate_scale(xs[0], R.LABELS))),
    "mcr2_loss": R.Case(make=lambda dt: (R.pair(dt)[0],),
                        call=lambda z, t=None: L.mcr2_loss(z, R.LABELS, eps_sq=R.swept(t, 0.5)), big="scale",
                        expect=None, bf16=(3, lambda xs, out: _rate_scale(xs[0])
                                           + _class_rate_scale(xs[0], R.LABELS))),
    "mcr2_terms": R.Case(make=lambda dt: (R.pair(dt)[0],),
                         call=lambda z, t=None: R.sum_fields(L.mcr2_terms(z, R.LABELS, eps_sq=R.swept(t, 0.5))),
                         big="scale", expect=None,
                         bf16=(3, lambda xs, out: 2 * (_rate_scale(xs[0]) + _class_rate_scale(xs[0], R.LABELS)))),
    "MCR2Loss": R.wraps("mcr2_loss"),
}

LINALG = {
    "losses.coding_rate": R.LinalgCase(lambda dt: (R.pair(dt)[0],), L.coding_rate),
    **{f"losses.{name}": R.LinalgCase(lambda dt: (R.pair(dt)[0],), lambda z, f=f: f(z, R.LABELS),
                                      meta_call=lambda z, f=f: f(z, R.LABELS.to("meta")))
       for name, f in (("class_coding_rate", L.class_coding_rate), ("mcr2_terms", L.mcr2_terms),
                       ("mcr2_loss", L.mcr2_loss), ("MCR2Loss", L.MCR2Loss()))},
}

_Y8 = torch.tensor([0, 1, 0, 1, 2, 2, 0, 1])

SECOND_ORDER = {
    # _Gram, and _LogdetSPD whose create_graph backward differentiates inv(M)
    "coding_rate": ("exact", lambda: [
        (f"form={f}", lambda z, f=f: L.coding_rate(z, form=f), (G.x(8, 3, seed=18),))
        for f in ("features", "samples")]),
    "class_coding_rate": ("exact", lambda: [
        (f"form={f}", lambda z, f=f: L.class_coding_rate(z, _Y8, form=f), (G.x(8, 3, seed=18),))
        for f in ("features", "samples")]),
    "mcr2_terms": ("exact", lambda: [
        (f"form={f}", lambda z, f=f: L.mcr2_terms(z, _Y8, form=f), (G.x(8, 3, seed=18),))
        for f in ("features", "samples")]),
    "mcr2_loss": ("exact", lambda: [
        (f"form={f}", lambda z, f=f: L.mcr2_loss(z, _Y8, form=f), (G.x(8, 3, seed=18),))
        for f in ("features", "samples")]),
}
