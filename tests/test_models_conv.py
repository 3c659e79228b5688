"""reptutor.models.conv: shapes, reference scores, locality and equivariance, errors, gradients."""
import pytest
import torch

from reptutor.models import (
    ConvEncoder,
    EncoderOutput,
    GlobalCritic,
    LocalCritic,
    PriorDiscriminator,
)

import _validation as V


def _images(n=4, size=16, seed=0, dtype=torch.float32):
    return torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("size", [8, 16, 32])
def test_encoder_shapes(size):
    torch.manual_seed(0)
    enc = ConvEncoder(3, size, channels=(4, 5, 6), hidden=7, out_dim=9)
    out = enc(torch.randn(2, 3, size, size))
    assert isinstance(out, EncoderOutput)
    assert out.feature_map.shape == (2, 6, size // 4, size // 4)
    assert out.y.shape == (2, 9)
    assert enc.grid == size // 4 and enc.local_channels == 6
    torch.testing.assert_close(enc.encode(torch.zeros(1, 3, size, size)),
                               enc(torch.zeros(1, 3, size, size)).y)


def test_sigmoid_output_in_unit_cube():
    torch.manual_seed(0)
    y = ConvEncoder(1, 16, out_dim=5, sigmoid_output=True).encode(10 * _images())
    assert bool((y > 0).all() and (y < 1).all())


# ------------------------------------------------------------------ reference scores
def test_global_critic_matches_pairwise_reference():
    torch.manual_seed(0)
    critic = GlobalCritic(6, 2, 5, hidden=8, embed_dim=3)
    c, y = torch.randn(4, 6, 2, 2), torch.randn(4, 5)
    f = critic(c, y)
    for i in range(4):
        for j in range(4):
            ref = critic.psi(y[i:i + 1]) @ critic.phi(c[j:j + 1].flatten(1)).T
            assert f[i, j].item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)


def test_local_critic_matches_per_location_reference():
    torch.manual_seed(0)
    critic = LocalCritic(6, 5, hidden=8, embed_dim=3)
    c, y = torch.randn(3, 6, 2, 3), torch.randn(3, 5)
    s = critic(c, y)
    assert s.shape == (3, 3, 6)
    for i in range(3):
        for j in range(3):
            for p in range(6):
                r, q = divmod(p, 3)  # row-major location order
                feat = c[j, :, r, q].view(1, 6, 1, 1)
                ref = (critic.phi(feat).flatten() * critic.psi(y[i:i + 1]).flatten()).sum()
                assert s[i, j, p].item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)


# ------------------------------------------------------------------ invariants
def test_local_features_are_local():
    # a 9x9 receptive field: a pixel in the top-left corner cannot reach the bottom-right location
    torch.manual_seed(0)
    enc = ConvEncoder(1, 16, channels=(4, 4, 4))
    x = _images(1)
    x2 = x.clone()
    x2[0, 0, 0, 0] += 10.0
    c, c2 = enc(x).feature_map, enc(x2).feature_map
    assert torch.equal(c[..., 2:, 2:], c2[..., 2:, 2:])
    assert not torch.equal(c[..., 0, 0], c2[..., 0, 0])


def test_critics_are_equivariant_to_joint_permutation():
    torch.manual_seed(0)
    g, loc = GlobalCritic(4, 2, 3, hidden=5, embed_dim=2), LocalCritic(4, 3, hidden=5, embed_dim=2)
    c, y = torch.randn(5, 4, 2, 2), torch.randn(5, 3)
    perm = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(g(c[perm], y[perm]), g(c, y)[perm][:, perm])
    torch.testing.assert_close(loc(c[perm], y[perm]), loc(c, y)[perm][:, perm])


def test_batch_independence_of_the_encoder():
    # no batch statistics: encoding a sample alone or in a batch gives the same code
    torch.manual_seed(0)
    enc = ConvEncoder(1, 16, channels=(4, 4, 4), hidden=8, out_dim=3).eval()
    x = _images(5)
    torch.testing.assert_close(enc.encode(x[2:3]), enc.encode(x)[2:3])


def test_dtype_follows_the_module():
    torch.manual_seed(0)
    enc = ConvEncoder(1, 8, channels=(2, 2, 2), hidden=4, out_dim=2).double()
    assert enc.encode(_images(2, 8, dtype=torch.float64)).dtype == torch.float64


# ------------------------------------------------------------------ error messages
def test_errors():
    with pytest.raises(ValueError, match="image_size must be a multiple of 4, got 18"):
        ConvEncoder(1, 18)
    with pytest.raises(ValueError, match=r"^channels must hold 3 integers, got 2: \(4, 4\)$"):
        ConvEncoder(1, 16, channels=(4, 4))
    with pytest.raises(ValueError, match=r"^channels\[2\] must be >= 1, got 0$"):
        ConvEncoder(1, 16, channels=(4, 4, 0))
    with pytest.raises(TypeError, match="^sigmoid_output must be a bool, got str 'yes'$"):
        ConvEncoder(1, 16, sigmoid_output="yes")
    with pytest.raises(ValueError, match="out_dim must be >= 1"):
        ConvEncoder(1, 16, out_dim=0)
    enc = ConvEncoder(1, 16, channels=(2, 2, 2), hidden=4, out_dim=2)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 16, 16\), got \(2, 1, 8, 8\)"):
        enc(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="x must be 4-D"):
        enc(torch.zeros(2, 256))
    g = GlobalCritic(2, 4, 3, hidden=4, embed_dim=2)
    with pytest.raises(ValueError, match=r"feature_map must have a 4x4 grid"):
        g(torch.zeros(2, 2, 3, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"feature_map must have size 2 along dim 1 \(local_channels\)"):
        g(torch.zeros(2, 5, 4, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"y must have size 3 along dim 1 \(global_dim\)"):
        g(torch.zeros(2, 2, 4, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"y must have size 2 along dim 0 \(one code per feature map\)"):
        LocalCritic(2, 3, hidden=4, embed_dim=2)(torch.zeros(2, 2, 4, 4), torch.zeros(3, 3))
    with pytest.raises(TypeError, match="feature_map and y must have the same dtype"):
        LocalCritic(2, 3)(torch.zeros(2, 2, 4, 4), torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"y must have size 4 along dim 1 \(dim\)"):
        PriorDiscriminator(4, hidden=(3,))(torch.zeros(5, 2))


# ------------------------------------------------------------------ gradients
def test_gradcheck_critics():
    torch.manual_seed(0)
    loc = LocalCritic(3, 2, hidden=4, embed_dim=2).double()
    glob = GlobalCritic(3, 2, 2, hidden=4, embed_dim=2).double()
    c = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: loc(a, b), (c, y))
    assert torch.autograd.gradcheck(lambda a, b: glob(a, b), (c, y))


def test_gradients_reach_every_encoder_parameter():
    torch.manual_seed(0)
    enc = ConvEncoder(1, 8, channels=(8, 8, 8), hidden=16, out_dim=2)  # wide: no dead layer
    out = enc(_images(8, 8))
    (out.feature_map.sum() + out.y.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("models.ConvEncoder", lambda: {"image_size": 8, "channels": (4, 4, 4), "hidden": 8,
                                           "out_dim": 4, "x": V.randn(2, 1, 8, 8)}, (
        V.nonpositive("out_dim"), V.out_of_range("image_size", 6, "multiple of 4"),
        V.rank("x", lambda x: x[0]), V.shape("x", lambda k: k["x"][..., :7]), V.wrong_type("x"),
        V.nonfinite("x"), V.empty("x"), *V.boolean("sigmoid_output"),
        V.custom("dtype-mismatch", "x", lambda k: k["x"].double(),
                 V.all_of("x", "model's dtype", "float32", "float64"), error=TypeError)),
        ctor=("image_size", "channels", "hidden", "out_dim", "sigmoid_output")),
    *(V.Entry(f"models.{name}", lambda name=name: {"local_channels": 3, **({"grid": 2} if "Global" in name else {}),
                                       "global_dim": 4, "hidden": 8, "embed_dim": 5,
                                       "feature_map": V.randn(2, 3, 2, 2), "y": V.randn(2, 4, seed=1)}, (
        V.nonpositive("local_channels"), V.nonpositive("embed_dim"), V.rank("feature_map", lambda x: x[0]),
        V.shape("y", lambda k: k["y"][:, :3]), V.dtype_mismatch("feature_map", "y"),
        V.device_mismatch("feature_map", "y"), V.wrong_type("feature_map"), V.nonfinite("feature_map"),
        V.empty("feature_map", "y")),
        ctor=("local_channels", "grid", "global_dim", "hidden", "embed_dim"))
      for name in ("GlobalCritic", "LocalCritic")),
    V.Entry("models.PriorDiscriminator", lambda: {"dim": 4, "hidden": (8,), "y": V.randn(3, 4)}, (
        V.nonpositive("dim"), V.rank("y"), V.shape("y", lambda k: k["y"][:, :3]), V.wrong_type("y"),
        V.nonfinite("y"), V.empty("y"),
        V.custom("dtype-mismatch", "y", lambda k: k["y"].double(),
                 V.all_of("y", "model's dtype", "float32", "float64"), error=TypeError)),
        ctor=("dim", "hidden")),
]
