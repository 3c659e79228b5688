"""reptutor.losses.contrastive: closed forms, a loop reference, invariants, errors, gradcheck."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.losses as L
from reptutor.losses import InfoNCELoss, NTXentLoss, info_nce_loss, nt_xent_loss

import _gradcheck as G
import _robustness as R
import _validation as V
from _helpers import views


def _info_nce_loop(a, b, t):
    """Per-sample loop straight from the formula (the reference)."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    out = []
    for i in range(a.shape[0]):
        s = torch.stack([a[i] @ b[j] / t for j in range(b.shape[0])])
        s_col = torch.stack([a[j] @ b[i] / t for j in range(a.shape[0])])
        fwd = -(s[i] - torch.logsumexp(s, 0))
        bwd = -(s_col[i] - torch.logsumexp(s_col, 0))
        out.append(0.5 * (fwd + bwd))
    return torch.stack(out)


def _nt_xent_loop(a, b, t):
    w = F.normalize(torch.cat([a, b]), dim=1)
    n2 = w.shape[0]
    out = []
    for k in range(n2):
        pos = (k + n2 // 2) % n2
        others = torch.stack([w[k] @ w[m] / t for m in range(n2) if m != k])
        out.append(torch.logsumexp(others, 0) - w[k] @ w[pos] / t)
    return torch.stack(out)


def test_closed_form_constant_views():
    c = torch.ones(7, 3)
    assert info_nce_loss(c, c).item() == pytest.approx(math.log(7), abs=1e-6)
    assert nt_xent_loss(c, c).item() == pytest.approx(math.log(13), abs=1e-6)


def test_closed_form_two_orthogonal_pairs():
    # Two samples, views identical and orthogonal: s_ii = 1/t, s_ij = 0 -> l = log(1 + e^{-1/t}).
    z = torch.eye(2, dtype=torch.float64)
    t = 0.5
    assert info_nce_loss(z, z, temperature=t).item() == pytest.approx(math.log1p(math.exp(-1 / t)))
    # NT-Xent: denominator over the other 3 views: e^{1/t} + 2 e^0.
    expect = math.log(math.exp(1 / t) + 2) - 1 / t
    assert nt_xent_loss(z, z, temperature=t).item() == pytest.approx(expect)


@pytest.mark.parametrize("t", [0.05, 0.5, 2.0])
def test_matches_loop_reference(t):
    a, b = views()
    torch.testing.assert_close(info_nce_loss(a, b, temperature=t, reduction="none"), _info_nce_loop(a, b, t))
    torch.testing.assert_close(nt_xent_loss(a, b, temperature=t, reduction="none"), _nt_xent_loop(a, b, t))


def test_reductions_and_asymmetric_direction():
    a, b = views()
    per = info_nce_loss(a, b, reduction="none")
    assert info_nce_loss(a, b, reduction="sum").item() == pytest.approx(per.sum().item())
    one_way = info_nce_loss(a, b, symmetric=False, reduction="none")
    other_way = info_nce_loss(b, a, symmetric=False, reduction="none")
    torch.testing.assert_close(0.5 * (one_way + other_way), per)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 9), d=st.integers(1, 5), seed=st.integers(0, 10_000),
       t=st.floats(0.05, 5.0))
def test_invariants(n, d, seed, t):
    a, b = views(n, d, seed)
    loss = info_nce_loss(a, b, temperature=t)
    # Symmetric loss is invariant to swapping the views and to permuting samples jointly.
    assert info_nce_loss(b, a, temperature=t).item() == pytest.approx(loss.item(), rel=1e-9, abs=1e-12)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    assert info_nce_loss(a[perm], b[perm], temperature=t).item() == pytest.approx(loss.item(), rel=1e-9)
    # Rotation invariance of cosine similarities.
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed + 1), dtype=a.dtype))
    assert nt_xent_loss(a @ q, b @ q, temperature=t).item() == pytest.approx(
        nt_xent_loss(a, b, temperature=t).item(), rel=1e-9)
    # InfoNCE bound: log N - loss <= log N, i.e. the loss is non-negative.
    assert loss.item() >= 0


def test_stable_for_extreme_inputs():
    a, b = views(dtype=torch.float32)
    for t in (1e-3, 10.0):
        for fn in (info_nce_loss, nt_xent_loss):
            a_ = (a + 1e4).requires_grad_()
            val = fn(a_, b, temperature=t)
            val.backward()
            assert torch.isfinite(val) and torch.isfinite(a_.grad).all()


def test_modules_match_functions():
    a, b = views()
    assert InfoNCELoss(temperature=0.3)(a, b).item() == pytest.approx(info_nce_loss(a, b, temperature=0.3).item())
    assert NTXentLoss(temperature=0.3)(a, b).item() == pytest.approx(nt_xent_loss(a, b, temperature=0.3).item())


def test_errors():
    a, b = views()
    with pytest.raises(ValueError, match=r"z_a and z_b must have the same shape, got \(6, 4\) and \(5, 4\)"):
        info_nce_loss(a, b[:5])
    with pytest.raises(ValueError, match=r"z_a must be 2-D, got shape \(6,\)"):
        info_nce_loss(a[:, 0], b[:, 0])
    with pytest.raises(ValueError, match="temperature must be > 0, got 0.0"):
        nt_xent_loss(a, b, temperature=0.0)
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'avg'"):
        info_nce_loss(a, b, reduction="avg")
    with pytest.raises(TypeError, match="z_a and z_b must have the same dtype"):
        info_nce_loss(a, b.float())
    with pytest.raises(ValueError, match="z_b must be finite"):
        info_nce_loss(a, b * float("nan"))
    with pytest.raises(ValueError, match=r"z_a must have at least 2 rows \(NT-Xent needs negatives\)"):
        nt_xent_loss(a[:1], b[:1])
    with pytest.raises(ValueError, match="temperature must be > 0, got -1.0"):
        InfoNCELoss(temperature=-1)


def test_gradcheck():
    a, b = views(4, 3)
    a.requires_grad_(); b.requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: info_nce_loss(x, y, temperature=0.3), (a, b))
    assert torch.autograd.gradcheck(lambda x, y: nt_xent_loss(x, y, temperature=0.3), (a, b))


def test_new_arguments_are_validated():
    a, b = views()
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        info_nce_loss(a, b, chunk_size=0)
    with pytest.raises(TypeError, match="chunk_size must be an integer, got float 2.5"):
        nt_xent_loss(a, b, chunk_size=2.5)
    with pytest.raises(TypeError, match="distributed must be a bool, got str 'yes'"):
        nt_xent_loss(a, b, distributed="yes")
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got -3"):
        NTXentLoss(chunk_size=-3)


def test_modules_forward_chunk_size():
    a, b = views(9, 4)
    torch.testing.assert_close(InfoNCELoss(temperature=0.3, chunk_size=2)(a, b),
                               info_nce_loss(a, b, temperature=0.3))
    torch.testing.assert_close(NTXentLoss(temperature=0.3, chunk_size=4)(a, b),
                               nt_xent_loss(a, b, temperature=0.3))


def test_no_distributed_group_means_single_process():
    # distributed=True is a no-op without an initialised process group.
    a, b = views()
    assert not torch.distributed.is_initialized()
    assert nt_xent_loss(a, b, distributed=True).item() == nt_xent_loss(
        a, b, distributed=False).item()


# ------------------------------------------------------------- second derivatives (issue 10)
def _plain_info_nce(a, b, t, symmetric=True):
    """Plain autograd: the dense formula with torch ops only (no custom backward)."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    s = a @ b.T / t
    loss = torch.logsumexp(s, 1) - s.diagonal()
    if symmetric:
        loss = 0.5 * (loss + torch.logsumexp(s, 0) - s.diagonal())
    return loss.mean()


def _plain_nt_xent(a, b, t):
    w = F.normalize(torch.cat([a, b]), dim=1)
    n2 = w.shape[0]
    s = (w @ w.T / t).masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    partner = (torch.arange(n2) + n2 // 2) % n2
    return (torch.logsumexp(s, 1) - s[torch.arange(n2), partner]).mean()


def _penalty_gradient(loss_fn, x, y, w):
    """d/dW of the gradient penalty ||d loss(x W, y W) / dW||^2 (double backward)."""
    w = w.clone().requires_grad_()
    (g,) = torch.autograd.grad(loss_fn(x @ w, y @ w), w, create_graph=True)
    (gg,) = torch.autograd.grad(g.pow(2).sum(), w)
    return g.detach(), gg


@pytest.mark.parametrize("chunk", [None, 3])
@pytest.mark.parametrize("name", ["info_nce", "info_nce_one_way", "nt_xent"])
def test_gradient_penalty_matches_plain_autograd(name, chunk):
    # A gradient penalty differentiates the backward itself. Before issue 10 the custom backward
    # was silently first order (info_nce: penalty-gradient norm 8.66 against plain autograd's
    # 9.16 here); now it equals plain autograd.
    g = torch.Generator().manual_seed(0)
    x, y = (torch.randn(8, 4, generator=g, dtype=torch.float64) for _ in range(2))
    w = torch.randn(4, 4, generator=g, dtype=torch.float64)
    ours, plain = {
        "info_nce": (lambda p, q: info_nce_loss(p, q, temperature=0.1, chunk_size=chunk),
                     lambda p, q: _plain_info_nce(p, q, 0.1)),
        "info_nce_one_way": (
            lambda p, q: info_nce_loss(p, q, temperature=0.1, symmetric=False, chunk_size=chunk),
            lambda p, q: _plain_info_nce(p, q, 0.1, symmetric=False)),
        "nt_xent": (lambda p, q: nt_xent_loss(p, q, temperature=0.1, chunk_size=chunk),
                    lambda p, q: _plain_nt_xent(p, q, 0.1)),
    }[name]
    g_ours, gg_ours = _penalty_gradient(ours, x, y, w)
    g_plain, gg_plain = _penalty_gradient(plain, x, y, w)
    torch.testing.assert_close(g_ours, g_plain, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gg_ours, gg_plain, rtol=1e-10, atol=1e-10)
    assert gg_plain.norm() > 1.0  # a penalty gradient far from zero: the comparison has teeth


# -------------------------------------------- per-sample losses are >= 0 in float32 (issue 10)
def _identical_views(t):
    """256 random unit directions (D = 32) plus 8 near-duplicate pairs a few tau apart."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(256, 32, generator=g)
    z[248:] = z[:8] + (t ** 0.5) * torch.randn(8, 32, generator=g)  # cosine gap ~ tau: loss ~ 1
    return z


@pytest.mark.parametrize("t", [1e-2, 1e-4])
@pytest.mark.parametrize("chunk", [None, 7])
@pytest.mark.parametrize("name", ["info_nce", "info_nce_one_way", "nt_xent"])
def test_float32_small_temperature_losses_are_non_negative(name, chunk, t):
    # Identical views: every per-sample loss is >= 0 in exact math (the positive is one of the
    # log-sum-exp's terms). The positive logit used to be a separate dot product that rounds
    # differently from the matmul: -3e-5 at tau = 0.01 and -2.9e-3 at tau = 1e-4 in float32.
    fn = {"info_nce": lambda a, b, **k: info_nce_loss(a, b, **k),
          "info_nce_one_way": lambda a, b, **k: info_nce_loss(a, b, symmetric=False, **k),
          "nt_xent": lambda a, b, **k: nt_xent_loss(a, b, **k)}[name]
    z = _identical_views(t)
    z32, z64 = z.clone().requires_grad_(), z.double().requires_grad_()
    per32 = fn(z32, z32, temperature=t, chunk_size=chunk, reduction="none")
    per64 = fn(z64, z64, temperature=t, chunk_size=chunk, reduction="none")
    assert per32.dtype == torch.float32
    assert bool((per32 >= 0).all()), f"min {per32.min().item():.3g}"
    # float32 vs a float64 reference on the same inputs: each logit <u_i, u_j>/tau carries a
    # few roundings of unit roundoff u = 2^-24 relative to 1/tau (normalisation, the dot
    # product); a loss is 1-Lipschitz in its logits (max-norm), and the softmax weights of the
    # gradient move by the same relative amount. Tolerance 8 u / tau (measured: <= 3.7 u / tau).
    tol = 8 * 2.0**-24 / t
    torch.testing.assert_close(per32.double(), per64.detach(), rtol=0, atol=tol)
    (g32,) = torch.autograd.grad(per32.sum(), z32)
    (g64,) = torch.autograd.grad(per64.sum(), z64)
    torch.testing.assert_close(g32.double(), g64, rtol=0, atol=tol * float(g64.abs().max()))
    assert float(per64.detach().max()) > 0.1  # the near-duplicate rows make the comparison non-trivial


# ------------------------------------------------- shared engines live in private modules
def test_private_names_are_imported_from_private_modules_only():
    # The InfoNCE engine, its masks and validators used to live in the public contrastive.py,
    # and supcon.py imported private names from it. In the loss modules, a private name
    # (leading underscore) may only come from a private module (a dotted path with a component
    # that starts with "_").
    import ast
    from pathlib import Path

    import reptutor

    root = Path(reptutor.__file__).parent
    bad = []
    for path in sorted((root / "losses").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            module = ("." * node.level) + node.module
            if any(part.startswith("_") for part in module.split(".") if part):
                continue  # a private module: its names are for the library
            base = path.parents[node.level - 1] if node.level else root.parent
            base = base.joinpath(*node.module.split("."))
            bad += [f"{path.relative_to(root)}: from {module} import {alias.name}"
                    for alias in node.names if alias.name.startswith("_")
                    # importing a private *module* from its package is how they are used
                    and not ((base / f"{alias.name}.py").exists() or (base / alias.name).is_dir())]
    assert not bad, "private names imported from public modules:\n" + "\n".join(bad)
    assert (root / "losses" / "_engine.py").exists()


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("losses.info_nce_loss", V.pair, (
        *V.pair_cells(), V.nonpositive("temperature"), V.nonpositive("chunk_size"),
        V.choice("reduction", V.REDUCTIONS), *V.boolean("normalize", "symmetric", "distributed"))),
    V.Entry("losses.nt_xent_loss", V.pair, (
        *V.pair_cells(), V.nonpositive("temperature"), V.nonpositive("chunk_size"),
        V.choice("reduction", V.REDUCTIONS), *V.boolean("distributed"),
        V.Bad("empty", "z_a", lambda k: V.replace(k, z_a=k["z_a"][:1], z_b=k["z_b"][:1]),
              V.all_of("z_a", "at least 2 rows", r"\(1, 4\)")),
    )),
    V.Entry("losses.InfoNCELoss", lambda: {**V.pair(), "temperature": 0.1},
            (V.number_type("temperature"), V.nonpositive("temperature"), V.choice("reduction", V.REDUCTIONS), V.rank("z_a"),
             V.shape("z_b", lambda k: k["z_b"][:, :3]), *V.boolean("normalize", "symmetric", "distributed")),
            ctor=("temperature", "reduction", "normalize", "symmetric", "distributed"), na={}),
    V.Entry("losses.NTXentLoss", lambda: {**V.pair(), "temperature": 0.1},
            (V.number_type("temperature"), V.nonpositive("temperature"), V.choice("reduction", V.REDUCTIONS), V.rank("z_a"),
             *V.boolean("distributed")),
            ctor=("temperature", "reduction", "distributed")),
]

ROBUSTNESS = {
    # L2-normalised embeddings: inputs multiplied by 1e4, the value must not move
    "info_nce_loss": R.cosine(L.info_nce_loss, 0.1),
    "info_nce_loss[chunked]": R.cosine(lambda a, b, **k: L.info_nce_loss(a, b, chunk_size=3, **k), 0.1),
    "nt_xent_loss": R.cosine(L.nt_xent_loss, 0.1),
    "nt_xent_loss[chunked]": R.cosine(lambda a, b, **k: L.nt_xent_loss(a, b, chunk_size=3, **k), 0.1),
    "InfoNCELoss": R.wraps("info_nce_loss"),
    "NTXentLoss": R.wraps("nt_xent_loss"),
}

SECOND_ORDER = {
    # the InfoNCE engine (losses/_engine.py): exact by a dense differentiable backward
    "info_nce_loss": ("exact", lambda: G.chunked(
        lambda a, b, **k: L.info_nce_loss(a, b, temperature=0.5, reduction="none", **k), *G.pair_xy())),
    "nt_xent_loss": ("exact", lambda: G.chunked(
        lambda a, b, **k: L.nt_xent_loss(a, b, temperature=0.5, reduction="none", **k), *G.pair_xy())),
}
