"""reptutor.models.sequence: shapes, locality in time, shift equivariance, projectors, errors."""
import pytest
import torch

from reptutor.losses import global_local_loss
from reptutor.models import GlobalLocalEncoder, GlobalLocalOutput, TemporalConvEncoder

import _validation as V


def test_shapes():
    net = TemporalConvEncoder(3, 8, 5, kernel_size=5)
    assert net(torch.randn(4, 7, 3)).shape == (4, 7, 5)
    out = GlobalLocalEncoder(3, 8, 5, 6)(torch.randn(4, 7, 3))
    assert isinstance(out, GlobalLocalOutput)
    assert [tuple(t.shape) for t in out] == [(4, 7, 5), (4, 7, 6), (4, 7, 6)]


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_receptive_field(kernel_size):
    # Changing input step s changes exactly the outputs t with |t - s| <= kernel_size // 2.
    torch.manual_seed(0)
    net = TemporalConvEncoder(2, 16, 3, kernel_size=kernel_size).double()
    x = torch.randn(1, 11, 2, dtype=torch.float64)
    x2 = x.clone()
    x2[0, 5] += 1.0
    changed = (net(x) - net(x2)).abs().amax(-1)[0] > 0
    r = kernel_size // 2
    assert changed.nonzero().flatten().tolist() == list(range(5 - r, 5 + r + 1))


def test_shift_equivariance_away_from_the_edges():
    # Same weights at every step: dropping the first input step shifts the interior outputs.
    torch.manual_seed(1)
    net = TemporalConvEncoder(2, 8, 3).double()
    x = torch.randn(2, 9, 2, dtype=torch.float64)
    torch.testing.assert_close(net(x[:, 1:])[:, 1:-1], net(x)[:, 2:-1])


def test_global_projector_commutes_with_time_average():
    torch.manual_seed(2)
    enc = GlobalLocalEncoder(3, 8, 4, 5).double()
    out = enc(torch.randn(3, 6, 3, dtype=torch.float64))
    torch.testing.assert_close(enc.global_projector(out.z.mean(1)), out.z_global.mean(1))


def test_each_projector_gets_gradient_only_from_its_term():
    torch.manual_seed(3)
    enc_a, enc_b = GlobalLocalEncoder(3, 8, 4, 5), GlobalLocalEncoder(3, 8, 4, 5)
    x = torch.randn(4, 6, 3)
    oa, ob = enc_a(x), enc_b(x + 0.1 * torch.randn(4, 6, 3))
    global_local_loss(oa.z_global, ob.z_global, oa.z_local, ob.z_local, local_weight=0.0).backward()
    assert enc_a.local_projector.weight.grad is None
    assert enc_a.global_projector.weight.grad.abs().sum() > 0
    assert enc_a.encoder.conv.weight.grad.abs().sum() > 0


def test_errors():
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        TemporalConvEncoder(2, 4, 3, kernel_size=2)
    with pytest.raises(ValueError, match="hidden must be >= 1, got 0"):
        TemporalConvEncoder(2, 0, 3)
    with pytest.raises(ValueError, match="proj_dim must be >= 1, got 0"):
        GlobalLocalEncoder(2, 4, 3, 0)
    net = TemporalConvEncoder(2, 4, 3)
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, 2\), got \(5, 2\)"):
        net(torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, 2\), got \(5, 4, 3\)"):
        net(torch.randn(5, 4, 3))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    *(V.Entry(f"models.{name}", lambda name=name: {"in_dim": 3, "hidden": 4, "out_dim": 5,
                                       **({"proj_dim": 2} if "Local" in name else {}),
                                       "x": V.randn(2, 6, 3)}, (
        V.nonpositive("in_dim"), V.nonpositive("kernel_size"), V.rank("x", lambda x: x[0]),
        V.shape("x", lambda k: k["x"][..., :2]), V.wrong_type("x"), V.nonfinite("x"),
        V.custom("dtype-mismatch", "x", lambda k: k["x"].double(),
                 V.all_of("x", "model's dtype", "float32", "float64"), error=TypeError),
        V.custom("type", "generator", lambda k: 0, V.all_of("generator", "torch.Generator", "int 0"),
                 error=TypeError)),
        ctor=("in_dim", "hidden", "out_dim", "proj_dim", "kernel_size", "generator"),
        na={"empty": "zero samples give zero outputs, as in torch.nn"})
      for name in ("TemporalConvEncoder", "GlobalLocalEncoder")),
]
