r"""Numerical robustness of every public loss and estimator: overflow, temperature, bf16, determinism.

Every function listed in ``reptutor.losses.__all__`` and ``reptutor.estimators.__all__`` that
computes a number from tensors is registered in ``CASES`` with valid inputs (a meta-test fails
when a public one is missing). Each case is run through four checks.

(a) **Large inputs.** Inputs that act as logits are pushed to magnitude :math:`10^4`: critic
    scores get :math:`+10^4` (``"add"``), embeddings that the loss L2-normalises are multiplied
    by :math:`10^4` (``"scale"``), raw embeddings entering distances / covariances are
    translated by :math:`10^4` (``"add"``), covariance matrices are multiplied by
    :math:`10^4` (``"scale"``). Value and gradient must be finite (in float32), and where the
    math says how the value transforms (invariance, or :math:`+\tfrac D2\log 10^4` for a
    Gaussian entropy) it must do so:

    * ``"scale"`` checks compare two float32 results; scaling by :math:`10^4` perturbs each
      input by one rounding (:math:`2^{-24}` relative) and normalisation removes the factor,
      so the logits :math:`s = \langle u, v\rangle/\tau` move by a few :math:`2^{-24}/\tau`:
      ``rtol=1e-5`` and ``atol = 1e-5 * S`` (:math:`S` the case's logit scale) leave a
      factor > 10 of room.
    * ``"add"`` checks compare with a float64 reference evaluated on the *same* rounded float32
      inputs with the shift removed exactly (``x.double() - 1e4`` is exact), so only the
      arithmetic done at magnitude :math:`10^4` remains: each such rounding costs at most
      half an ulp of float32 at :math:`10^4`, :math:`2^{-11}\approx 4.9\times 10^{-4}`; a
      log-sum-exp minus the positive logit (differences of nearby floats are exact), or a mean
      of K such numbers (at most K roundings at :math:`K\cdot 10^4`, divided by K) costs a
      few of them: ``atol = 8 ulp`` (:math:`7.8\times 10^{-3}`; the largest error measured,
      DV's, is 1.1 ulp). Translated embeddings that are centred before a quadratic term
      (variance, covariance, log-det) carry the rounding of the mean (:math:`\le` a few ulp
      at :math:`10^4`, relative :math:`\sim 10^{-3}` to unit-scale data, doubled by the
      square): ``rtol = 1e-2`` there (measured: below 1e-6).

(b) **Temperature sweep.** :math:`\tau \in \{10^{-3}, 10^{-2}, 0.1, 1, 10\}` (or, for
    estimators that take critic scores, scores divided by :math:`\tau`; for sample- and
    covariance-based estimators the data multiplied by :math:`\tau`): finite value and gradient.

(c) **bf16 autocast on CPU.** Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` only the
    matrix products run in bfloat16 (the autocast op list); everything else stays in float32.
    bfloat16 keeps 8 significant bits, unit roundoff :math:`u = 2^{-8} \approx 3.9\times10^{-3}`.
    A product :math:`s = \langle a, b\rangle` rounds both operands and the result (the
    accumulation is float32), so :math:`|\Delta s| \le 3u\,\lVert a\rVert\lVert b\rVert` (*depth*
    3). A loss :math:`\operatorname{LSE}_j s_{ij} - s_{ii}` is 1-Lipschitz in the max-norm of
    its logits, so each direction moves by at most :math:`3u S` with :math:`S` the largest
    :math:`\lVert a\rVert\lVert b\rVert/\tau`; terms add up. The tolerance is
    ``|bf16 - fp32| <= depth * u * S`` with, per case:

    ================================================  =====  =================================
    case                                              depth  scale S
    ================================================  =====  =================================
    info_nce, nt_xent, supcon, class-conditional      3      :math:`1/\tau` (unit rows)
    cmc_loss / cmc_terms (V=3 views, full graph)      18     :math:`1/\tau` (2 directions x 3
                                                             pairs, each 3)
    generalized_nce / gdt (positives from the bf16    6      :math:`1/\tau`
    logits too)
    global / local contrastive (raw dot products)     3      :math:`\max\lVert a\rVert
                                                             \max\lVert b\rVert/\tau`
    global_local_loss / _terms                        6      as above, two terms
    covariance_term / vicreg (Gram products)          6      :math:`(\operatorname{tr} C)^2/D`
                                                             per view (:math:`\partial c /
                                                             \partial C` has norm
                                                             :math:`2\lVert C\rVert/D`)
    logdet_entropy (sample covariance)                3      :math:`\tfrac12\sum_{kl}|R^{-1}_
                                                             {kl}|` (R the correlation)
    cross_correlation (sum of C's entries)            3      :math:`D^2` (:math:`|C_{ij}|\le 1`)
    barlow_twins (first order in C)                   3      :math:`2\sum_i|1-C_{ii}| +
                                                             2\lambda\sum_{i\ne j}|C_{ij}|`
    coding rates / MCR2 (first order in the Gram G)   3      :math:`\tfrac a2\sum_{kl}|M^{-1}_
                                                             {kl}|\sqrt{G_{kk}G_{ll}}`,
                                                             :math:`M = I + aG` (per class,
                                                             weighted, for :math:`R^c`)
    everything without a matrix product (critic       1      :math:`|\text{value}|` (one
    estimators, BYOL/SCRL, MSE, kNN, Cholesky)               final rounding at most)
    ================================================  =====  =================================

    These are worst-case bounds; the measured errors are typically 10-100x smaller. The result
    must also keep its input's dtype (float32), as torch's own losses do under autocast.

(d) **Determinism.** Under ``torch.use_deterministic_algorithms(True)`` two calls raise nothing
    and give bitwise-equal values and gradients.

Sinkhorn (``reptutor.solvers.sinkhorn_knopp``) is tested for its public contract only: finite
plans for :math:`\lambda` up to :math:`10^3` (:math:`\varepsilon = 1/\lambda` down to
:math:`10^{-3}`) in the log domain in float32 and float64, and a ConvergenceWarning that tells
the reader what to change.

Documented limits, tested as documented: NWJ's :math:`e^{F-1}` term exceeds every float for
off-diagonal scores above about 88 (float32) / 709 (float64): the value is then ``-inf`` (the
exact value is below every float) with a gradient free of NaN; see :func:`reptutor.estimators.nwj`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import pytest
import torch

import reptutor.estimators as E
import reptutor.losses as L
from reptutor.solvers import ConvergenceWarning, sinkhorn_knopp

F32, F64 = torch.float32, torch.float64
U_BF16 = 2.0 ** -8  # bfloat16 unit roundoff: 8 significant bits (7 stored + 1 implicit)
ULP32_1E4 = 2.0 ** -10  # float32 spacing in [8192, 16384): 2^13 * 2^-23
TEMPERATURES = (1e-3, 1e-2, 0.1, 1.0, 10.0)
BIG = 1e4
N, D = 8, 5


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=dtype)


def _pair(dtype):  # two correlated views, (N, D) each
    a = _randn(N, D, seed=1, dtype=dtype)
    return a, a + 0.5 * _randn(N, D, seed=2, dtype=dtype)


def _spd(dtype, d=4):
    m = _randn(d, d, seed=3, dtype=dtype)
    return m @ m.T / d + 0.5 * torch.eye(d, dtype=dtype)  # well conditioned, correlated


def _seqs(dtype, n=4, t=3, d=3, seed=4):
    a = _randn(n, t, d, seed=seed, dtype=dtype)
    return a, a + 0.5 * _randn(n, t, d, seed=seed + 1, dtype=dtype)


LABELS = torch.tensor([0, 1, 0, 2, 1, 0, 2, 1])
GDT_INDEX = torch.arange(N).repeat(2)  # the two views of N samples, stacked
GDT_MASKS = L.gdt_masks(GDT_INDEX, None, modes=[])


def _norms(x):
    return float(torch.linalg.vector_norm(x.detach().double(), dim=-1).max())


def _gram_scale(*views):  # (tr C)^2 / D per view, summed
    out = 0.0
    for z in views:
        z = z.detach().double()
        out += float(torch.cov(z.T).trace()) ** 2 / z.shape[1]
    return out


def _inv_corr_scale(z):
    c = torch.cov(z.detach().double().T)
    sd = c.diagonal().sqrt()
    return 0.5 * float(torch.linalg.inv(c / sd[:, None] / sd[None, :]).abs().sum())


def _barlow_scale(xs, w_inv, w_red, lam=5e-3):
    # first order: |dL| <= sum_i 2|1 - C_ii| |dC_ii| + lam sum_{i!=j} 2|C_ij| |dC_ij|, and
    # |dC_ij| <= 3u (standardised columns: Cauchy-Schwarz); the depth 3 is in the case
    c = L.cross_correlation(*(x.detach().double() for x in xs))
    off = c - torch.diag_embed(c.diagonal())
    return float(w_inv * 2 * (1 - c.diagonal()).abs().sum() + w_red * 2 * lam * off.abs().sum())


def _rate_scale(z, eps_sq=0.5):
    # R = 1/2 log det(I + a G), G = Z^T Z, a = D/(N eps^2): dR = a/2 tr(M^-1 dG) and
    # |dG_kl| <= 3u sqrt(G_kk G_ll), so |dR| <= 3u * a/2 sum_kl |M^-1_kl| sqrt(G_kk G_ll)
    z = z.detach().double()
    n, d = z.shape
    a = d / (n * eps_sq)
    g = z.T @ z
    m_inv = torch.linalg.inv(torch.eye(d, dtype=F64) + a * g)
    s = g.diagonal().sqrt()
    return 0.5 * a * float((m_inv.abs() * s[:, None] * s[None, :]).sum())


def _class_rate_scale(z, labels, eps_sq=0.5):  # R^c = sum_j n_j/N R(Z_j)
    return sum(float((labels == j).sum()) / len(labels) * _rate_scale(z[labels == j], eps_sq)
               for j in labels.unique())


@dataclass(frozen=True)
class Case:
    """One public function with valid inputs.

    make(dtype) -> differentiable input tensors; call(*xs, t) -> scalar (t=None: defaults);
    big: "scale" | "add" (how inputs are pushed to 1e4); expect(ref, xs) -> the value the big
    input must give (None: no claim, finiteness only); tau: whether t applies;
    bf16: (depth, scale(xs)) for the autocast tolerance.
    """

    make: Callable[[torch.dtype], tuple]
    call: Callable[..., torch.Tensor]
    big: str
    expect: Callable | None
    bf16: tuple[float, Callable]
    tau: bool = True
    logit_scale: Callable = field(default=lambda xs: 1.0)  # S for the "scale" tolerance
    overflows_to_minus_inf: bool = False  # documented limit (NWJ)
    centred: bool = False  # "add" inputs go through a centring before quadratic terms


SAME = lambda ref, xs: ref  # noqa: E731  the math says: invariant
VALUE = lambda xs, out: abs(float(out))  # noqa: E731  bf16 scale = |value| (no matmul)


def _t(t, default):
    return default if t is None else t


def _sum_fields(res) -> torch.Tensor:
    return sum(v.sum() for v in res if isinstance(v, torch.Tensor) and v.is_floating_point())


def _scores_case(fn, expect, *, k=6, seed=5, **kw):
    return Case(make=lambda dt: (_randn(k, k, seed=seed, dtype=dt),),
                call=lambda f, t=None: fn(f / _t(t, 1.0)), big="add", expect=expect,
                bf16=(1, VALUE), **kw)


def _cosine(fn, tau0, depth=3, make=None):
    return Case(make=make or (lambda dt: _pair(dt)),
                call=lambda *xs, t=None: fn(*xs, temperature=_t(t, tau0)),
                big="scale", expect=SAME, bf16=(depth, lambda xs, out: 1 / tau0),
                logit_scale=lambda xs: depth / tau0)


def _raw_seq(fn, tau0=1.0, depth=3, n_in=2, **kw):
    def make(dt):
        a, b = _seqs(dt)
        c, d = _seqs(dt, seed=7)
        return (a, b, c, d)[:n_in]

    def scale(xs, out):
        pooled = [x.mean(1) for x in xs]  # the global term's operands are time means
        return max(_norms(xs[0]) * _norms(xs[1]), _norms(pooled[0]) * _norms(pooled[1])) / tau0
    return Case(make=make, call=lambda *xs, t=None: fn(*xs, temperature=_t(t, tau0), **kw),
                big="scale", expect=None, bf16=(depth, scale))


def _dim_scores(dt):
    return (_randn(N, N, seed=8, dtype=dt), _randn(N, N, 3, seed=9, dtype=dt))


CASES: dict[str, Case] = {
    # ---- two-view and multi-view contrastive losses on L2-normalised embeddings
    "info_nce_loss": _cosine(L.info_nce_loss, 0.1),
    "info_nce_loss[chunked]": _cosine(lambda a, b, **k: L.info_nce_loss(a, b, chunk_size=3, **k), 0.1),
    "nt_xent_loss": _cosine(L.nt_xent_loss, 0.1),
    "nt_xent_loss[chunked]": _cosine(lambda a, b, **k: L.nt_xent_loss(a, b, chunk_size=3, **k), 0.1),
    "supcon_loss": _cosine(lambda a, b, **k: L.supcon_loss(torch.stack([a, b], 1), LABELS, **k), 0.1),
    "supcon_loss[chunked]": _cosine(
        lambda a, b, **k: L.supcon_loss(torch.stack([a, b], 1), LABELS, chunk_size=3, **k), 0.1),
    "class_conditional_info_nce_loss": _cosine(
        lambda a, b, **k: L.class_conditional_info_nce_loss(a, b, LABELS, **k), 0.1),
    "class_conditional_info_nce_loss[chunked]": _cosine(
        lambda a, b, **k: L.class_conditional_info_nce_loss(a, b, LABELS, chunk_size=3, **k), 0.1),
    "cmc_loss": _cosine(lambda a, b, **k: L.cmc_loss([a, b, a - b], **k), 0.07, depth=18),
    "cmc_terms": _cosine(lambda a, b, **k: _sum_fields(L.cmc_terms([a, b, a - b], **k)[::2]),
                         0.07, depth=36),  # loss + pair_losses: the total counted twice
    "generalized_nce_loss": _cosine(
        lambda a, b, **k: L.generalized_nce_loss(torch.cat([a, b]), GDT_MASKS.positive,
                                                 GDT_MASKS.compare, **k), 0.07, depth=6),
    "gdt_loss": _cosine(lambda a, b, **k: L.gdt_loss(torch.cat([a, b]), GDT_INDEX, None,
                                                     modes=[], **k), 0.07, depth=6),
    "global_contrastive_loss[normalize]": _cosine(
        lambda a, b, **k: L.global_contrastive_loss(a[:, None], b[:, None], normalize=True, **k), 1.0),
    "local_contrastive_loss[clip,normalize]": _cosine(
        lambda a, b, **k: L.local_contrastive_loss(a.view(2, 4, D), b.view(2, 4, D), normalize=True,
                                                   negatives="clip", **k), 1.0),
    "byol_loss": Case(make=_pair, call=lambda p, z, t=None: L.byol_loss(p, z), big="scale",
                      expect=SAME, bf16=(1, VALUE), tau=False),
    "scrl_loss": Case(make=lambda dt: tuple(x.view(2, 4, D) for x in _pair(dt)),
                      call=lambda p, z, t=None: L.scrl_loss(p, z), big="scale", expect=SAME,
                      bf16=(1, VALUE), tau=False),
    # ---- raw dot products (the official global-local code): large inputs must stay finite
    "global_contrastive_loss": _raw_seq(L.global_contrastive_loss),
    "local_contrastive_loss": _raw_seq(L.local_contrastive_loss),
    "global_local_terms": _raw_seq(lambda *xs, **k: _sum_fields(L.global_local_terms(*xs, **k)),
                                   depth=6, n_in=4),
    "global_local_loss": _raw_seq(L.global_local_loss, depth=6, n_in=4),
    # ---- regression and covariance losses on raw embeddings: translation by 1e4
    "cross_view_prediction_loss": Case(make=_pair, call=lambda p, y, t=None:
                                       L.cross_view_prediction_loss(p, y), big="add",
                                       expect=SAME, bf16=(1, VALUE), tau=False),
    "invariance_term": Case(make=_pair, call=lambda a, b, t=None: L.invariance_term(a, b),
                            big="add", expect=SAME, bf16=(1, VALUE), tau=False),
    "variance_term": Case(make=lambda dt: (_pair(dt)[0],), call=lambda z, t=None: L.variance_term(z),
                          big="add", expect=SAME, bf16=(1, VALUE), tau=False, centred=True),
    "covariance_term": Case(make=lambda dt: (_pair(dt)[0],),
                            call=lambda z, t=None: L.covariance_term(z), big="add", expect=SAME,
                            bf16=(6, lambda xs, out: _gram_scale(*xs)), tau=False, centred=True),
    "covariance_term[samples]": Case(make=lambda dt: (_randn(4, 9, seed=6, dtype=dt),),
                                     call=lambda z, t=None: L.covariance_term(z, form="samples"),
                                     big="add", expect=SAME,
                                     bf16=(6, lambda xs, out: _gram_scale(*xs)), tau=False,
                                     centred=True),
    "vicreg_loss": Case(make=_pair, call=lambda a, b, t=None: L.vicreg_loss(a, b), big="add",
                        expect=SAME, bf16=(6, lambda xs, out: _gram_scale(*xs) + abs(float(out))),
                        tau=False, centred=True),
    "vicreg_terms": Case(make=_pair, call=lambda a, b, t=None: _sum_fields(L.vicreg_terms(a, b)),
                         big="add", expect=SAME,
                         bf16=(6, lambda xs, out: 2 * _gram_scale(*xs) + abs(float(out))), tau=False,
                         centred=True),
    # ---- Deep InfoMax on critic scores (default estimator JSD is not shift-invariant)
    "dim_global_loss": Case(make=lambda dt: _dim_scores(dt)[:1],
                            call=lambda f, t=None: L.dim_global_loss(f / _t(t, 1.0)), big="add",
                            expect=None, bf16=(1, VALUE)),
    "dim_global_loss[infonce]": _scores_case(lambda f: L.dim_global_loss(f, estimator="infonce"), SAME),
    "dim_global_loss[dv]": _scores_case(lambda f: L.dim_global_loss(f, estimator="dv"), SAME),
    "dim_local_loss": Case(make=lambda dt: _dim_scores(dt)[1:],
                           call=lambda s, t=None: L.dim_local_loss(s / _t(t, 1.0)), big="add",
                           expect=None, bf16=(1, VALUE)),
    "dim_local_loss[infonce]": Case(make=lambda dt: _dim_scores(dt)[1:],
                                    call=lambda s, t=None: L.dim_local_loss(
                                        s / _t(t, 1.0), estimator="infonce"),
                                    big="add", expect=SAME, bf16=(1, VALUE)),
    "dim_terms": Case(make=_dim_scores,
                      call=lambda g, s, t=None: _sum_fields(L.dim_terms(
                          global_scores=g / _t(t, 1.0), local_scores=s / _t(t, 1.0), alpha=0.5,
                          gamma=0.0)), big="add", expect=None, bf16=(1, VALUE)),
    "prior_matching_terms": Case(make=lambda dt: (_randn(N, seed=10, dtype=dt), _randn(6, seed=11, dtype=dt)),
                                 call=lambda u, v, t=None: _sum_fields(L.prior_matching_terms(
                                     u / _t(t, 1.0), v / _t(t, 1.0))),
                                 big="add", expect=None, bf16=(1, VALUE)),
    # ---- mutual-information estimators on critic scores
    "infonce": _scores_case(E.infonce, SAME),
    "dv": _scores_case(E.dv, SAME),
    "jsd": _scores_case(E.jsd, None),
    "nwj": _scores_case(E.nwj, None, overflows_to_minus_inf=True),
    "conditional_infonce": Case(make=lambda dt: (_randn(N, seed=12, dtype=dt),
                                                 _randn(N, 5, seed=13, dtype=dt)),
                                call=lambda p, q, t=None: E.conditional_infonce(p / _t(t, 1.0),
                                                                                q / _t(t, 1.0)),
                                big="add", expect=SAME, bf16=(1, VALUE)),
    "demi": Case(make=lambda dt: (_randn(N, 3, seed=14, dtype=dt), _randn(N, 3, 4, seed=15, dtype=dt)),
                 call=lambda p, q, t=None: E.demi(p / _t(t, 1.0), q / _t(t, 1.0)), big="add",
                 expect=SAME, bf16=(1, VALUE)),
    "demi_terms": Case(make=lambda dt: (_randn(N, 3, seed=14, dtype=dt), _randn(N, 3, 4, seed=15, dtype=dt)),
                       call=lambda p, q, t=None: _sum_fields(E.demi_terms(p / _t(t, 1.0), q / _t(t, 1.0))),
                       big="add", expect=SAME, bf16=(1, VALUE)),
    # ---- entropies of covariances (scaled by 1e4) and samples (translated by 1e4)
    "gaussian_entropy": Case(make=lambda dt: (_spd(dt),),
                             call=lambda c, t=None: E.gaussian_entropy(c * _t(t, 1.0)), big="scale",
                             expect=lambda ref, xs: ref + 0.5 * xs[0].shape[0] * math.log(BIG),
                             bf16=(1, VALUE)),
    "hadamard_gap": Case(make=lambda dt: (_spd(dt),), call=lambda c, t=None: E.hadamard_gap(c * _t(t, 1.0)),
                         big="scale", expect=SAME, bf16=(1, VALUE)),
    "hadamard_gap_bounds": Case(make=lambda dt: (_spd(dt),),
                                call=lambda c, t=None: _sum_fields(E.hadamard_gap_bounds(c * _t(t, 1.0))),
                                big="scale", expect=SAME, bf16=(1, VALUE)),
    "gaussian_mutual_information": Case(make=lambda dt: (_spd(dt),),
                                        call=lambda c, t=None: E.gaussian_mutual_information(
                                            c * _t(t, 1.0), 2),
                                        big="scale", expect=SAME, bf16=(1, VALUE)),
    "vicreg_information_bound": Case(make=lambda dt: (_spd(dt), torch.tensor(0.3, dtype=dt)),
                                     call=lambda c, s, t=None: E.vicreg_information_bound(
                                         c * _t(t, 1.0), s * _t(t, 1.0)),
                                     big="scale", expect=SAME, bf16=(1, VALUE)),
    "logdet_entropy": Case(make=lambda dt: (_randn(40, 3, seed=16, dtype=dt),),
                           call=lambda z, t=None: E.logdet_entropy(z * _t(t, 1.0)), big="add",
                           expect=SAME, bf16=(3, lambda xs, out: _inv_corr_scale(xs[0]) + abs(float(out))),
                           centred=True),
    "knn_entropy": Case(make=lambda dt: (_randn(40, 3, seed=17, dtype=dt),),
                        call=lambda z, t=None: E.knn_entropy(z * _t(t, 1.0)), big="add",
                        expect=SAME, bf16=(1, VALUE)),
    # ---- Barlow Twins (batch-standardised cross-correlation): translation by 1e4
    "cross_correlation": Case(make=_pair, call=lambda a, b, t=None: L.cross_correlation(a, b).sum(),
                              big="add", expect=SAME, bf16=(3, lambda xs, out: D * D), tau=False,
                              centred=True),
    "barlow_twins_loss": Case(make=_pair, call=lambda a, b, t=None: L.barlow_twins_loss(a, b),
                              big="add", expect=SAME,
                              bf16=(3, lambda xs, out: _barlow_scale(xs, 1, 1)), tau=False,
                              centred=True),
    "barlow_twins_terms": Case(make=_pair, call=lambda a, b, t=None: _sum_fields(L.barlow_twins_terms(a, b)),
                               big="add", expect=SAME,
                               bf16=(3, lambda xs, out: _barlow_scale(xs, 2, 1 + 1 / 5e-3)),
                               tau=False, centred=True),
    # ---- MCR2 coding rates (raw features, not normalised): scaled by 1e4; eps^2 swept
    "coding_rate": Case(make=lambda dt: (_pair(dt)[0],),
                        call=lambda z, t=None: L.coding_rate(z, eps_sq=_t(t, 0.5)), big="scale",
                        expect=None, bf16=(3, lambda xs, out: _rate_scale(xs[0]))),
    "class_coding_rate": Case(make=lambda dt: (_pair(dt)[0],),
                              call=lambda z, t=None: L.class_coding_rate(z, LABELS, eps_sq=_t(t, 0.5)),
                              big="scale", expect=None,
                              bf16=(3, lambda xs, out: _class_rate_scale(xs[0], LABELS))),
    "mcr2_loss": Case(make=lambda dt: (_pair(dt)[0],),
                      call=lambda z, t=None: L.mcr2_loss(z, LABELS, eps_sq=_t(t, 0.5)), big="scale",
                      expect=None, bf16=(3, lambda xs, out: _rate_scale(xs[0])
                                         + _class_rate_scale(xs[0], LABELS))),
    "mcr2_terms": Case(make=lambda dt: (_pair(dt)[0],),
                       call=lambda z, t=None: _sum_fields(L.mcr2_terms(z, LABELS, eps_sq=_t(t, 0.5))),
                       big="scale", expect=None,
                       bf16=(3, lambda xs, out: 2 * (_rate_scale(xs[0]) + _class_rate_scale(xs[0], LABELS)))),
}

# Public names that are not a number computed from tensors, or are one-line nn.Module wrappers
# of a registered function (their forward is that function; the wrapper's own tests check it).
NOT_NUMERIC = {
    "CMC_GRAPHS", "TRANSFORM_MODES", "view_pairs", "gdt_masks", "mask_conflicts",  # structure
    "CMCTerms", "GDTMasks", "VICRegTerms", "DIMTerms", "PriorMatchingTerms", "GlobalLocalTerms",
    "DemiTerms", "HadamardGapBounds", "BarlowTwinsTerms", "MCR2Terms",  # result types
    "ema_update", "byol_momentum",  # parameter updates and schedules
}
WRAPPERS = {
    "InfoNCELoss": "info_nce_loss", "NTXentLoss": "nt_xent_loss", "SupConLoss": "supcon_loss",
    "ClassConditionalInfoNCELoss": "class_conditional_info_nce_loss", "CMCLoss": "cmc_loss",
    "GDTLoss": "gdt_loss", "VICRegLoss": "vicreg_loss", "DeepInfoMaxLoss": "dim_terms",
    "GlobalLocalLoss": "global_local_loss", "BYOLLoss": "byol_loss", "SCRLLoss": "scrl_loss",
    "BarlowTwinsLoss": "barlow_twins_loss", "MCR2Loss": "mcr2_loss",
}
NAMES = sorted(CASES)


def _base(name: str) -> str:
    return name.split("[")[0]


def test_every_public_loss_and_estimator_is_registered():
    public = set(L.__all__) | set(E.__all__)
    registered = {_base(k) for k in CASES}
    missing = sorted(public - registered - NOT_NUMERIC - set(WRAPPERS))
    assert not missing, f"register these public functions in tests/test_robustness.py: {missing}"
    stale = sorted(registered - public)
    assert not stale, f"registered names that are not public any more: {stale}"
    assert set(WRAPPERS.values()) <= registered  # a wrapper's function is itself registered
    assert not (NOT_NUMERIC | set(WRAPPERS)) - public  # no stale exemption


def _inputs(case: Case, dtype=F32):
    return tuple(x.detach().clone().requires_grad_(True) for x in case.make(dtype))


def _value_and_grads(case: Case, xs, t=None):
    out = case.call(*xs, t=t)
    assert out.ndim == 0
    grads = torch.autograd.grad(out, xs, allow_unused=True)
    assert any(g is not None for g in grads)
    return out.detach(), [g for g in grads if g is not None]


def _assert_finite(out, grads, case: Case, where: str):
    if case.overflows_to_minus_inf:  # documented: -inf value, gradient without NaN
        assert not torch.isnan(out) and (torch.isfinite(out) or float(out) == -math.inf), where
        assert all(not bool(torch.isnan(g).any()) for g in grads), where
        return
    assert torch.isfinite(out), f"{where}: value {float(out)}"
    for g in grads:
        assert bool(torch.isfinite(g).all()), f"{where}: non-finite gradient"


def _push(case: Case, xs):
    with torch.no_grad():
        if case.big == "scale":
            return tuple((x * BIG).requires_grad_(True) for x in xs)
        return tuple((x + BIG).requires_grad_(True) for x in xs)


# ---------------------------------------------------------------------------- (a) large inputs
@pytest.mark.parametrize("name", NAMES)
def test_large_inputs_are_finite_and_transform_as_the_math_says(name):
    case = CASES[name]
    xs = _inputs(case)
    big = _push(case, xs)
    out, grads = _value_and_grads(case, big)
    _assert_finite(out, grads, case, f"{name} at inputs of magnitude 1e4")
    if case.expect is None or not torch.isfinite(out):
        return
    if case.big == "scale":
        ref = case.call(*xs).detach()
        expected = case.expect(float(ref), xs)
        # see the module docstring: one rounding per input, removed by the normalisation
        tol = 1e-5 * max(1.0, case.logit_scale(xs))
        assert float(out) == pytest.approx(expected, rel=1e-5, abs=tol)
    else:
        # float64 reference on the same rounded inputs, shift removed exactly
        unshifted = tuple(x.detach().double() - BIG for x in big)
        ref = float(case.call(*unshifted))
        expected = case.expect(ref, unshifted)
        # 8 float32 ulps at 1e4 (module docstring); rtol 1e-2 for centred quadratic terms
        rel = 1e-2 if case.centred else 0.0
        assert float(out) == pytest.approx(expected, rel=rel, abs=8 * ULP32_1E4)


def test_nwj_overflow_is_documented_minus_inf_not_nan():
    # e^{F - 1} with F = 1e4 exceeds float64 too: the documented limit of the NWJ estimator.
    f = (_randn(4, 4, seed=0, dtype=F64) + BIG).requires_grad_(True)
    out = E.nwj(f)
    out.backward()
    assert float(out.detach()) == -math.inf
    assert not bool(torch.isnan(f.grad).any())
    assert bool(torch.isfinite(f.grad.diagonal()).all())  # the positive scores keep a gradient
    assert "-inf" in E.nwj.__doc__  # the limit is stated where users read it


# ---------------------------------------------------------------------------- (b) temperatures
TAU_NAMES = [n for n in NAMES if CASES[n].tau]


@pytest.mark.parametrize("name", TAU_NAMES)
def test_temperature_sweep_is_finite(name):
    case = CASES[name]
    for t in TEMPERATURES:
        out, grads = _value_and_grads(case, _inputs(case), t=t)
        _assert_finite(out, grads, case, f"{name} at temperature {t:g}")


def test_no_temperature_cases_really_have_none():
    # the cases exempted from the sweep must not take a temperature-like argument
    import inspect
    for name in NAMES:
        if not CASES[name].tau:
            fn = getattr(L, _base(name), None) or getattr(E, _base(name))
            assert "temperature" not in inspect.signature(fn).parameters, name


# ---------------------------------------------------------------------------- (c) bf16 autocast
@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast_is_close_to_float32(name):
    case = CASES[name]
    xs = _inputs(case)
    ref = case.call(*xs).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = case.call(*xs)
    value = float(out.detach())
    assert out.dtype == F32, f"{name} returned {out.dtype} under autocast; a loss keeps its input's dtype"
    depth, scale = case.bf16
    tol = depth * U_BF16 * scale(xs, ref)  # the table in the module docstring
    assert abs(value - float(ref)) <= tol, (name, value, float(ref), tol)
    (g,) = [g for g in torch.autograd.grad(out, xs, allow_unused=True) if g is not None][:1]
    assert bool(torch.isfinite(g).all())


# ---------------------------------------------------------------------------- (d) determinism
@pytest.mark.parametrize("name", NAMES)
def test_deterministic_algorithms(name):
    case = CASES[name]
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        runs = [_value_and_grads(case, _inputs(case)) for _ in range(2)]
    finally:
        torch.use_deterministic_algorithms(before)
    (v1, g1), (v2, g2) = runs
    assert torch.equal(v1, v2)
    assert len(g1) == len(g2) and all(torch.equal(a, b) for a, b in zip(g1, g2))


# ---------------------------------------------------------------------------- Sinkhorn
def _log_p(n, k, dtype, seed=0, scale=3.0):
    return (scale * _randn(n, k, seed=seed, dtype=dtype)).log_softmax(-1)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("lam", [1.0, 10.0, 100.0, 1000.0])
def test_sinkhorn_log_domain_plans_are_finite_up_to_lam_1e3(dtype, lam):
    log_p = _log_p(24, 4, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # convergence is not the point here
        res = sinkhorn_knopp(log_p, lam=lam, method="log", max_iter=200)
    assert res.plan.dtype == dtype
    for x in (res.plan, res.log_alpha, res.log_beta, res.marginal_error):
        assert bool(torch.isfinite(x).all()), f"non-finite output at lam={lam:g}, {dtype}"
    # rows are fixed by the last (sample) step: they sum to 1/N up to the rounding of the
    # exponents lam * log_p + log_alpha + log_beta, each off by about eps * |exponent|, which
    # is relative error in the plan: rtol = 4 eps (1 + lam max|log_p|)
    eps = torch.finfo(dtype).eps
    rtol = 4 * eps * (1 + lam * float(log_p.abs().max()))
    torch.testing.assert_close(res.plan.sum(1), torch.full((24,), 1 / 24, dtype=dtype),
                               rtol=rtol, atol=0)
    assert bool((res.plan >= 0).all()) and float(res.marginal_error) <= 2.0  # an L1 gap of two
    # probability vectors is at most 2


@pytest.mark.parametrize("method", ["log", "scaling"])
def test_sinkhorn_convergence_warning_says_what_to_change(method):
    log_p = _log_p(30, 4, F64, seed=17, scale=4.0)
    with pytest.warns(ConvergenceWarning) as record:
        res = sinkhorn_knopp(log_p, lam=25.0, max_iter=2, method=method)
    assert not res.converged
    msg = str(record[0].message)
    assert "max_iter=2" in msg  # how far it went
    assert "increase max_iter" in msg.lower() and "lower lam" in msg.lower()  # what to change


def test_sinkhorn_scaling_warning_suggests_the_log_domain():
    log_p = _log_p(30, 4, F64, seed=17, scale=4.0)
    with pytest.warns(ConvergenceWarning, match=r"method=['\"]log['\"]"):
        sinkhorn_knopp(log_p, lam=25.0, max_iter=2, method="scaling")
