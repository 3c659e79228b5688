"""reptutor.metrics.collapse: closed forms -> reference (numpy / Roy & Vetterli) -> invariants -> errors."""
import math

import numpy as np
import pytest
import torch

from reptutor.metrics import collapse_std, effective_rank
from reptutor.metrics import collapse as C

import _robustness as R
import _validation as V


# ------------------------------------------------------------------ collapse_std
def test_collapse_std_closed_forms():
    # complete collapse: every row has the same direction (norms may differ) -> exactly 0
    z = torch.tensor([[1.0, 2.0], [2.0, 4.0], [0.5, 1.0]])
    assert collapse_std(z) == 0.0
    # two opposite unit vectors along axis 0 in D=2: std (1, 0), mean 1/2 = 1/sqrt(D) / sqrt(2)
    z = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    assert collapse_std(z) == 0.5
    # the 2D signed basis vectors +-e_k (centred, equal variance 1/D per coordinate) reach the
    # bound 1/sqrt(D) exactly
    d = 5
    e = torch.eye(d, dtype=torch.float64)
    assert abs(collapse_std(torch.cat([e, -e])) - 1 / math.sqrt(d)) < 1e-15


def test_collapse_std_equals_numpy_reference():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(40, 7, generator=g, dtype=torch.float64) + 0.3
    x = z.numpy()
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert abs(collapse_std(z) - float(np.std(x, axis=0, ddof=0).mean())) < 1e-14


@pytest.mark.parametrize("seed", range(4))
def test_collapse_std_invariants(seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(30, 6, generator=g, dtype=torch.float64)
    s = collapse_std(z)
    assert 0 <= s <= 1 / math.sqrt(6) + 1e-15  # the Jensen bound of the docstring
    scale = torch.rand(30, 1, generator=g, dtype=torch.float64) + 0.1
    assert abs(collapse_std(z * scale) - s) < 1e-14  # row norms are invisible
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    perm = torch.randperm(30, generator=g)
    assert abs(collapse_std(z[perm]) - s) < 1e-14  # sample order
    assert abs(collapse_std(z[:, torch.randperm(6, generator=g)]) - s) < 1e-14  # coordinate order
    # not rotation invariant (it measures spread along the coordinate axes), but its square
    # mean is: sum_k Var_k = 1 - ||mu||^2 is
    zn = torch.nn.functional.normalize(z, dim=1)
    tot = float(zn.var(0, unbiased=False).sum())
    assert abs(float((zn @ q).var(0, unbiased=False).sum()) - tot) < 1e-12
    # shrinking towards one direction lowers it to 0
    u = torch.ones(6, dtype=torch.float64)
    spreads = [collapse_std(u + t * z) for t in (1.0, 0.1, 0.01, 0.0)]
    assert spreads == sorted(spreads, reverse=True) and spreads[-1] == 0.0


def test_collapse_std_half_precision_and_no_grad():
    z = torch.randn(16, 4, requires_grad=True)
    s = collapse_std(z)
    assert isinstance(s, float)
    assert collapse_std(z.detach().bfloat16()) == collapse_std(z.detach().bfloat16().float())


# ------------------------------------------------------------------ effective_rank
def test_effective_rank_closed_forms():
    assert effective_rank(torch.eye(4), center=False) == pytest.approx(4.0, abs=1e-6)
    # singular values (3, 1): p = (3/4, 1/4), erank = exp(H) with H in nats
    z = torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64))
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert abs(effective_rank(z, center=False) - math.exp(h)) < 1e-14
    # rank one, after centring
    g = torch.Generator().manual_seed(0)
    z = torch.randn(50, 1, generator=g, dtype=torch.float64) @ torch.randn(1, 8, generator=g,
                                                                           dtype=torch.float64)
    assert abs(effective_rank(z) - 1.0) < 1e-9
    # all rows equal: nothing left after centring -> 0 by convention
    assert effective_rank(torch.ones(5, 3)) == 0.0
    assert effective_rank(torch.zeros(3, 3), center=False) == 0.0


def test_effective_rank_equals_numpy_reference():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(30, 10, generator=g, dtype=torch.float64) * torch.linspace(0.1, 3, 10,
                                                                              dtype=torch.float64)
    x = z.numpy() - z.numpy().mean(0)
    s = np.linalg.svd(x, compute_uv=False)
    p = s / s.sum()
    assert abs(effective_rank(z) - float(np.exp(-(p * np.log(p)).sum()))) < 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_effective_rank_invariants(seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(25, 6, generator=g, dtype=torch.float64)
    r = effective_rank(z)
    assert 1 <= r <= 6
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    assert abs(effective_rank(z @ q) - r) < 1e-10  # rotations
    assert abs(effective_rank(7.5 * z) - r) < 1e-10  # scale
    assert abs(effective_rank(z + 3.0) - r) < 1e-10  # a shared offset, when centred
    assert abs(effective_rank(z[torch.randperm(25, generator=g)]) - r) < 1e-10
    # squeezing one direction lowers it
    squeezed = z.clone()
    squeezed[:, 0] *= 0.01
    assert effective_rank(squeezed) < r


# ------------------------------------------------------------------ errors
def test_collapse_metric_errors():
    with pytest.raises(ValueError, match=r"z must have at least 2 rows \(a standard deviation"):
        collapse_std(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="z must be 2-D, got shape"):
        effective_rank(torch.zeros(3))
    with pytest.raises(ValueError, match="z is on the meta device"):
        effective_rank(torch.zeros(3, 2, device="meta"))
    with pytest.raises(TypeError, match="center must be a bool"):
        effective_rank(torch.zeros(3, 2), center=1)
    # one row is fine without centring
    assert effective_rank(torch.tensor([[3.0, 4.0]]), center=False) == 1.0


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("metrics.collapse_std", lambda: {"z": V.randn(8, 3), "eps": 1e-12}, (
        V.rank("z"), V.empty("z"), V.nonfinite("z"), V.nonpositive("eps"), V.wrong_type("z"),
        V.number_type("eps"),
        V.Bad("empty", "z", lambda k: V.replace(k, z=k["z"][:1]),
              V.all_of("z", "at least 2 rows", r"\(1, 3\)")))),
    V.Entry("metrics.effective_rank", lambda: {"z": V.randn(8, 3)}, (
        V.rank("z"), V.empty("z"), V.nonfinite("z"), V.wrong_type("z"), *V.boolean("center"),
        V.Bad("empty", "z", lambda k: V.replace(k, z=k["z"][:1]),
              V.all_of("z", "at least 2 rows", "centring", r"\(1, 3\)")))),
]

LINALG = {
    "metrics.effective_rank": R.LinalgCase(lambda dt: (R.pair(dt)[0],), C.effective_rank),
}
