"""reptutor.losses.dim: closed forms, per-location references, invariants, errors, gradcheck."""
import math

import pytest
import torch
import torch.nn.functional as F

import reptutor.losses as L
from reptutor.estimators import dv, infonce, jsd
from reptutor.losses import (
    DeepInfoMaxLoss,
    DIMTerms,
    PriorMatchingTerms,
    dim_global_loss,
    dim_local_loss,
    dim_terms,
    prior_matching_terms,
)

import _gradcheck as G
import _robustness as R
import _validation as V

ESTIMATORS = {"jsd": jsd, "dv": dv, "infonce": infonce}


def _local(n=5, p=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, n, p, generator=g, dtype=dtype)


# ------------------------------------------------------------------ closed forms
def test_constant_critic_values():
    f = torch.zeros(6, 6, dtype=torch.float64)
    assert dim_global_loss(f).item() == pytest.approx(2 * math.log(2))  # -JSD = 2 log 2
    assert dim_global_loss(f, estimator="dv").item() == pytest.approx(0.0)
    assert dim_global_loss(f, estimator="infonce").item() == pytest.approx(0.0)
    s = torch.zeros(6, 6, 9, dtype=torch.float64)
    for name in ESTIMATORS:
        assert dim_local_loss(s, estimator=name).item() == pytest.approx(
            dim_global_loss(f, estimator=name).item())


def test_perfect_local_critic_reaches_infonce_ceiling_per_location():
    # every location ranks its own image first with a huge margin: -loss -> log N per location
    n, p = 8, 5
    s = 100.0 * torch.eye(n, dtype=torch.float64)[:, :, None].expand(n, n, p)
    assert -dim_local_loss(s, estimator="infonce").item() == pytest.approx(math.log(n))


def test_prior_matching_closed_form():
    # logits a on the prior and b on the codes: D = -sp(-a) - sp(b), encoder loss = sp(-b)
    a, b = 1.5, -0.5
    t = prior_matching_terms(torch.full((4,), a, dtype=torch.float64),
                             torch.full((3,), b, dtype=torch.float64))
    assert isinstance(t, PriorMatchingTerms)
    assert t.divergence.item() == pytest.approx(-math.log1p(math.exp(-a)) - math.log1p(math.exp(b)))
    assert t.discriminator_loss.item() == pytest.approx(-t.divergence.item())
    assert t.encoder_loss.item() == pytest.approx(math.log1p(math.exp(-b)))


# ------------------------------------------------------------------ references
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_local_is_the_mean_over_locations(name):
    s = _local(seed=1)
    reference = sum(ESTIMATORS[name](s[:, :, p]).item() for p in range(s.shape[2])) / s.shape[2]
    assert -dim_local_loss(s, estimator=name).item() == pytest.approx(reference, rel=1e-10)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_global_is_minus_the_estimator(name):
    f = _local(seed=2)[:, :, 0]
    assert dim_global_loss(f, estimator=name).item() == pytest.approx(-ESTIMATORS[name](f).item())


def test_local_jsd_equals_pooled_negatives():
    # for JSD, per-location negatives and pooling all locations of the other images coincide
    s = _local(n=6, p=3, seed=3)
    eye = torch.eye(6, dtype=torch.bool)
    pooled = -F.softplus(-s[eye]).mean() - F.softplus(s[~eye]).mean()
    assert -dim_local_loss(s).item() == pytest.approx(pooled.item())


def test_dim_terms_combination():
    g = _local(seed=4)[:, :, 0]
    s = _local(seed=5)
    prior = torch.tensor(0.7, dtype=torch.float64)
    t = dim_terms(global_scores=g, local_scores=s, prior_loss=prior, global_weight=0.5,
                  local_weight=2.0, prior_weight=0.1, estimator="dv")
    assert isinstance(t, DIMTerms)
    assert t.global_mi.item() == pytest.approx(dv(g).item())
    assert t.local_mi.item() == pytest.approx(-dim_local_loss(s, estimator="dv").item())
    assert t.loss.item() == pytest.approx(-0.5 * t.global_mi.item() - 2.0 * t.local_mi.item()
                                          + 0.1 * 0.7)
    module = DeepInfoMaxLoss(global_weight=0.5, local_weight=2.0, prior_weight=0.1, estimator="dv")
    assert module(g, s, prior).item() == pytest.approx(t.loss.item())


def test_dim_terms_missing_terms_report_zero():
    s = _local(seed=6)
    t = dim_terms(local_scores=s, prior_weight=0.0)  # the paper's local-only setting without the prior
    assert t.global_mi.item() == 0.0 and t.prior.item() == 0.0
    assert t.loss.item() == pytest.approx(dim_local_loss(s).item())
    assert t.loss.dtype == torch.float64


# ------------------------------------------------------------------ invariants
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_local_invariant_to_location_order_and_joint_permutation(name):
    s = _local(n=6, p=5, seed=7)
    loc = torch.randperm(5, generator=torch.Generator().manual_seed(0))
    img = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    base = dim_local_loss(s, estimator=name).item()
    assert dim_local_loss(s[:, :, loc], estimator=name).item() == pytest.approx(base)
    assert dim_local_loss(s[img][:, img], estimator=name).item() == pytest.approx(base)


def test_prior_matching_label_swap_symmetry():
    # swapping which sample is called "prior" and negating the logits leaves the GAN value
    # unchanged; it is a sum of log-probabilities, hence negative
    g = torch.Generator().manual_seed(0)
    a = torch.randn(7, generator=g, dtype=torch.float64)
    b = torch.randn(9, generator=g, dtype=torch.float64)
    t = prior_matching_terms(a, b)
    assert prior_matching_terms(-b, -a).divergence.item() == pytest.approx(t.divergence.item())
    assert t.divergence.item() < 0


# ------------------------------------------------------------------ error messages
def test_errors():
    with pytest.raises(ValueError, match="estimator must be one of 'jsd', 'dv', 'infonce'"):
        dim_global_loss(torch.zeros(3, 3), estimator="nwj")
    with pytest.raises(ValueError, match="estimator must be one of"):
        dim_local_loss(torch.zeros(3, 3, 2), estimator="mine")
    with pytest.raises(ValueError, match=r"scores must be a square \(K, K\) matrix"):
        dim_global_loss(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="scores must be 2-D"):
        dim_global_loss(torch.zeros(3, 3, 2))
    with pytest.raises(ValueError, match="scores must be 3-D"):
        dim_local_loss(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"scores must have shape \(N, N, P\)"):
        dim_local_loss(torch.zeros(3, 4, 2))
    with pytest.raises(ValueError, match=r"scores must have at least 2 rows \(each positive needs a negative\), got shape \(1, 1, 4\)"):
        dim_local_loss(torch.zeros(1, 1, 4))
    with pytest.raises(TypeError, match="scores must have a floating-point dtype"):
        dim_local_loss(torch.zeros(3, 3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="local_scores is required when local_weight > 0"):
        dim_terms(global_scores=torch.zeros(3, 3), global_weight=1.0, local_weight=1.0,
                  prior_weight=0.0)
    with pytest.raises(ValueError, match="global_scores is required when global_weight > 0"):
        dim_terms(local_scores=torch.zeros(3, 3, 2), global_weight=1.0, prior_weight=0.0)
    with pytest.raises(ValueError, match="prior_loss is required when prior_weight > 0"):
        dim_terms(local_scores=torch.zeros(3, 3, 2))
    with pytest.raises(ValueError, match="global_weight must be >= 0"):
        dim_terms(local_scores=torch.zeros(3, 3, 2), global_weight=-1.0, prior_weight=0.0)
    with pytest.raises(ValueError, match="prior_loss must be 0-D"):
        dim_terms(local_scores=torch.zeros(3, 3, 2), prior_loss=torch.zeros(2))
    with pytest.raises(ValueError, match="prior_weight must be >= 0"):
        DeepInfoMaxLoss(prior_weight=-0.1)
    with pytest.raises(ValueError, match="prior_logits must be 1-D"):
        prior_matching_terms(torch.zeros(3, 1), torch.zeros(3))
    with pytest.raises(TypeError, match="prior_logits and code_logits must have the same dtype"):
        prior_matching_terms(torch.zeros(3), torch.zeros(3, dtype=torch.float64))


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_gradcheck(name):
    s = _local(n=3, p=2, seed=8).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: dim_local_loss(t, estimator=name), (s,))
    f = _local(n=3, p=1, seed=9)[:, :, 0].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: dim_global_loss(t, estimator=name), (f,))


def test_gradcheck_prior_matching():
    a = torch.randn(4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda u, v: prior_matching_terms(u, v), (a, b))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("losses.dim_global_loss", lambda: {"scores": V.randn(6, 6)}, (
        V.rank("scores"), V.shape("scores", lambda k: k["scores"][:, :5]), V.empty("scores"),
        V.nonfinite("scores"), V.choice("estimator", ("jsd", "dv", "infonce")), V.wrong_type("scores"))),
    V.Entry("losses.dim_local_loss", lambda: {"scores": V.randn(6, 6, 3)}, (
        V.rank("scores"), V.shape("scores", lambda k: k["scores"][:, :5]), V.empty("scores"),
        V.nonfinite("scores"), V.choice("estimator", ("jsd", "dv", "infonce")), V.wrong_type("scores"))),
    V.Entry("losses.dim_terms",
            lambda: {"global_scores": V.randn(6, 6), "local_scores": V.randn(6, 6, 3, seed=1),
                     "prior_loss": torch.tensor(0.5)}, (
              V.rank("global_scores"), V.shape("local_scores", lambda k: k["local_scores"][:5, :5]),
              V.empty("global_scores", "local_scores"), V.nonfinite("global_scores"),
              V.nonfinite("local_scores"), V.nonfinite("prior_loss"),
              V.nonpositive("global_weight", -1), V.nonpositive("local_weight", -1),
              V.nonpositive("prior_weight", -1),
              V.dtype_mismatch("global_scores", "local_scores"),
              V.device_mismatch("global_scores", "local_scores"),
              V.choice("estimator", ("jsd", "dv", "infonce")), V.wrong_type("global_scores"))),
    V.Entry("losses.DeepInfoMaxLoss", lambda: {"global_scores": V.randn(6, 6), "global_weight": 1.0,
                                               "local_weight": 0.0, "prior_weight": 0.0}, (
        V.number_type("local_weight"), V.nonpositive("local_weight", -1),
        V.choice("estimator", ("jsd", "dv", "infonce")), V.rank("global_scores")),
        ctor=("global_weight", "local_weight", "prior_weight", "estimator")),
    V.Entry("losses.prior_matching_terms",
            lambda: {"prior_logits": V.randn(6), "code_logits": V.randn(5, seed=1)}, (
              V.rank("prior_logits"), V.empty("prior_logits"), V.nonfinite("prior_logits"),
              V.nonfinite("code_logits"), V.dtype_mismatch("prior_logits", "code_logits"),
              V.device_mismatch("prior_logits", "code_logits"), V.wrong_type("code_logits")),
            na={"shape": "N and M may differ: any two 1-D tensors are a valid pair"}),
]


def _dim_scores(dt):
    return (R.randn(R.N, R.N, seed=8, dtype=dt), R.randn(R.N, R.N, 3, seed=9, dtype=dt))


ROBUSTNESS = {
    # critic scores (the default estimator JSD is not shift-invariant: finiteness only)
    "dim_global_loss": R.Case(make=lambda dt: _dim_scores(dt)[:1],
                              call=lambda f, t=None: L.dim_global_loss(f / R.swept(t, 1.0)), big="add",
                              expect=None, bf16=(1, R.VALUE)),
    "dim_global_loss[infonce]": R.scores_case(lambda f: L.dim_global_loss(f, estimator="infonce"), R.SAME),
    "dim_global_loss[dv]": R.scores_case(lambda f: L.dim_global_loss(f, estimator="dv"), R.SAME),
    "dim_local_loss": R.Case(make=lambda dt: _dim_scores(dt)[1:],
                             call=lambda s, t=None: L.dim_local_loss(s / R.swept(t, 1.0)), big="add",
                             expect=None, bf16=(1, R.VALUE)),
    "dim_local_loss[infonce]": R.Case(make=lambda dt: _dim_scores(dt)[1:],
                                      call=lambda s, t=None: L.dim_local_loss(
                                        s / R.swept(t, 1.0), estimator="infonce"),
                                      big="add", expect=R.SAME, bf16=(1, R.VALUE)),
    "dim_terms": R.Case(make=_dim_scores,
                        call=lambda g, s, t=None: R.sum_fields(L.dim_terms(
                          global_scores=g / R.swept(t, 1.0), local_scores=s / R.swept(t, 1.0),
                          global_weight=0.5, prior_weight=0.0)), big="add", expect=None, bf16=(1, R.VALUE)),
    "prior_matching_terms": R.Case(make=lambda dt: (R.randn(R.N, seed=10, dtype=dt), R.randn(6, seed=11, dtype=dt)),
                                   call=lambda u, v, t=None: R.sum_fields(L.prior_matching_terms(
                                     u / R.swept(t, 1.0), v / R.swept(t, 1.0))),
                                   big="add", expect=None, bf16=(1, R.VALUE)),
    "DeepInfoMaxLoss": R.wraps("dim_terms"),
}

SECOND_ORDER = {
    # plain torch ops on critic scores
    "dim_global_loss": ("exact", lambda: G.one(L.dim_global_loss, G.x(3, 3, seed=44))),
    "dim_local_loss": ("exact", lambda: G.one(L.dim_local_loss, G.x(3, 3, 2, seed=45))),
    "dim_terms": ("exact", lambda: G.one(
        lambda g, s, p: L.dim_terms(global_scores=g, local_scores=s, prior_loss=p,
                                    global_weight=0.5, prior_weight=0.1, estimator="dv"),
        G.x(3, 3, seed=46), G.x(3, 3, 2, seed=47), G.x((), seed=48))),
    "prior_matching_terms": ("exact", lambda: G.one(
        L.prior_matching_terms, G.x(4, seed=49), G.x(5, seed=50))),
}
