# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: reptutor
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   reptutor:
#     budget_s: 60
#     papers:
#     - P07
#     prerequisites: []
# ---

# %% [markdown]
# # Why InfoNCE can't see more than log K, and the chain-rule fix (DEMI)
#
# **Paper.** Sordoni, Dziri, Schulz, Gordon, Bachman, Tachet des Combes, *Decomposed Mutual
# Information Estimation for Contrastive Representation Learning*, ICML 2021
# {cite}`sordoni2021decomposed`. It builds on the InfoNCE bound of contrastive predictive coding
# {cite}`oord2018representation`, on the map of variational MI bounds in
# {cite}`poole2019variational`, and works around the limitation made formal by
# {cite}`mcallester2020formal`, but only by using more than the sample: its conditional
# negatives come from a sampler of $p(y_k\mid y_{<k})$, which this chapter has exactly (an
# oracle) and real data do not.
#
# Contrastive learning maximizes InfoNCE, a lower bound on the mutual information (MI) between
# two views. With $K$ samples per batch that bound can never exceed $\log K$, whatever the critic
# and whatever the true MI. When two views share much more than $\log K$ nats, the bound saturates
# and stops rewarding the encoder for the extra information. DEMI splits one view into
# sub-views, writes the MI as a sum of conditional terms by the chain rule, and bounds each term
# contrastively: each term still has its own $\log K$ ceiling, but the sum can reach $m\log K$.
#
# **What you will learn**
#
# * the InfoNCE bound, why it is a lower bound on the MI, and why every batch is capped by
#   $\log K$ (a one-line proof);
# * the chain rule of mutual information and the conditional InfoNCE bound, whose negatives come
#   from $p(y_k\mid y_{<k})$;
# * how to check an MI estimator on correlated Gaussians whose MI, optimal critic and conditionals
#   are all known in closed form;
# * what happens with analytic and with trained critics: InfoNCE flat at $\log K$, DEMI rising with
#   the true MI;
# * why DEMI's larger ceiling needs an exact (oracle) sampler of the conditional negatives, and
#   what marginal negatives estimate instead.
#
# **Prerequisites.** Entropy, KL divergence and mutual information; the softmax cross-entropy;
# conditioning a multivariate Gaussian. This is the first chapter of Part I: no earlier chapter is
# needed.

# %% tags=["hide-cell", "install"]
# On Colab: install reptutor v0.1.0 (pinned in pyproject.toml [tool.reptutor]) without
# its dependencies, so that Colab's own torch is kept; then its other dependencies (what
# the chapter imports besides torch), which Colab mostly has already.
import sys, subprocess
if "google.colab" in sys.modules:
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    package = "reptutor @ git+https://github.com/reptutor/reptutor@v0.1.0"
    subprocess.run(pip + ["--no-deps", package], check=True)
    subprocess.run(pip + ["numpy>=1.24", "scipy>=1.10", "scikit-learn>=1.3", "matplotlib>=3.7",
                          "seaborn>=0.13", "tqdm>=4.60", "pandas>=2.0"], check=True)

# %%
import math

import numpy as np
import torch
from torch import nn

from reptutor import claims, plot, runtime
from reptutor.data import CorrelatedGaussian, ar1_covariance
from reptutor.estimators import demi, demi_terms, infonce
from reptutor.models import SeparableCritic
from reptutor.train import fit

seed = runtime.seed_everything(0)
dev = runtime.device()
cfg = runtime.pick(
    ci=dict(dim=20, phi=0.5, mi=10.0, K=128, m=4, batches=20,          # the headline setting
            phi_high=0.9,                                 # strongly dependent chunks (marginals)
            mi_grid=[1.0, 2.5, 5.0, 7.5, 10.0, 12.5, 15.0, 20.0],      # the sweep of the figure
            m_grid=[2, 4], sweep_batches=10, ref_anchors=16384,   # the isotropic reference
            steps=400, anchors=32, lr=3e-3,                             # trained critics
            nce_hidden=[128], nce_out=64, demi_hidden=[64], demi_out=32),
    full=dict(dim=100, phi=0.5, mi=20.0, K=512, m=8, batches=50, phi_high=0.9,
              mi_grid=[5.0, 10.0, 20.0, 40.0, 60.0, 80.0],
              m_grid=[2, 4, 8], sweep_batches=20, ref_anchors=65536,
              steps=3000, anchors=128, lr=1e-3,
              nce_hidden=[512, 512], nce_out=128, demi_hidden=[256], demi_out=64),
)
K = cfg["K"]
log_k = math.log(K)
plot.set_theme()
print(f"seed={seed} device={dev} scale={runtime.scale()} K={K} log K={log_k:.3f}")

# %% [markdown]
# ## InfoNCE and its ceiling
#
# Let $(x_1,y_1),\dots,(x_K,y_K)$ be $K$ independent draws from a joint distribution $p(x,y)$ and
# let $f(x,y)$ be any real-valued *critic*. Collect its scores in the matrix
# $F_{ij}=f(x_i,y_j)$: row $i$ compares anchor $x_i$ with its positive $y_i$ (the diagonal) and
# with the $K-1$ other $y_j$, which are independent of $x_i$ and serve as negatives.
#
# ```{prf:definition} InfoNCE
# :label: p07-def-infonce
#
# $$
# I_{\mathrm{NCE}}(F) = \frac1K\sum_{i=1}^K \log\frac{e^{F_{ii}}}{\frac1K\sum_{j=1}^K e^{F_{ij}}}
#   = \frac1K\sum_{i=1}^K\Big(F_{ii}-\log\sum_{j=1}^K e^{F_{ij}}\Big) + \log K .
# $$
#
# The first term is minus the softmax cross-entropy of "which column is the positive": InfoNCE is
# $\log K$ minus the contrastive loss. Here $K$ counts the candidates of a row *including* the
# positive (van den Oord et al. call it $N$); `reptutor.estimators.infonce` returns the bound in
# nats, never the loss.
# ```
#
# ```{prf:theorem} InfoNCE is a lower bound on the MI, capped by log K
# :label: p07-thm-infonce
#
# For any critic $f$ with $\mathbb E|f|<\infty$:
#
# 1. (lower bound) $\mathbb E\big[I_{\mathrm{NCE}}(F)\big] \le I(X;Y)$, the expectation over the
#    $K$ i.i.d. pairs;
# 2. (ceiling) $I_{\mathrm{NCE}}(F)\le\log K$ for *every* batch, deterministically.
#
# The bound is tight as $K\to\infty$ for the optimal critic
# $f^\star(x,y)=\log\frac{p(y\mid x)}{p(y)}+c(x)$, where $c$ is any function of $x$ alone.
# ```
#
# ```{prf:proof}
# *Ceiling.* The positive is one of the $K$ terms of its row's log-sum-exp, so
# $F_{ii}-\log\sum_j e^{F_{ij}}\le F_{ii}-\log e^{F_{ii}}=0$ for every row; averaging and adding
# $\log K$ gives $I_{\mathrm{NCE}}\le\log K$. No expectation, no assumption on $p$ or $f$.
#
# *Lower bound* (the argument of {cite}`poole2019variational`). Because $y_2,\dots,y_K$ are
# independent of $(x_1,y_1)$, $I(X;Y)=I(x_1;y_{1:K})$. The Nguyen-Wainwright-Jordan bound
# {cite}`nguyen2010estimating` says $I(U;V)\ge 1+\mathbb E_{p(u,v)}[g]-\mathbb E_{p(u)p(v)}[e^{g}]$
# for any function $g$. Apply it with $u=x_1$, $v=y_{1:K}$ and
# $g=f(x_1,y_1)-\log\frac1K\sum_j e^{f(x_1,y_j)}$. Under the product of marginals all $K$ of the
# $y_j$ are exchangeable, so
# $\mathbb E[e^g]=\frac1K\sum_i\mathbb E\big[e^{f(x_1,y_i)}/\frac1K\sum_j e^{f(x_1,y_j)}\big]=1$,
# and the bound reads $I(X;Y)\ge\mathbb E[g]$, which is the expected value of one row of
# $I_{\mathrm{NCE}}$. By symmetry every row has the same expectation.
# ```
#
# The ceiling is the whole story of this chapter. If the true MI is 10 nats, a perfect critic
# ranks every positive first with overwhelming confidence, the cross-entropy goes to 0, and the
# bound reports $\log K$: to certify $I$ nats InfoNCE needs at least $K\ge e^{I}$ candidates per
# anchor ({glue:text}`P07.k-needed:,.0f` for $I=10$). {cite}`mcallester2020formal` prove that this
# is not a flaw of InfoNCE alone: no distribution-free high-confidence lower bound on MI computed
# from $N$ samples can exceed $O(\log N)$. DEMI below reaches $m\log K$ without contradicting
# them only because it is given more than $N$ samples: a sampler of the conditional
# $p(y_k\mid y_{<k})$, that is, knowledge of the distribution. With negatives that must come from
# the sample itself, the limit applies to DEMI as well.
#
# ```{prf:remark} NWJ has no ceiling, and pays in variance
# :label: p07-rem-nwj
#
# The NWJ bound {cite}`nguyen2010estimating` (also the "MINE-f" objective, close to MINE
# {cite}`belghazi2018mine`) is
# $I_{\mathrm{NWJ}}=\mathbb E_p[f]-e^{-1}\mathbb E_{p(x)p(y)}[e^{f}]$, implemented as
# `reptutor.estimators.nwj`. It is not capped by $\log K$, but its exponential term is estimated
# from samples whose weights grow like $e^{I}$, so its variance explodes at large MI. Song and
# Ermon {cite}`song2020understanding` made this precise: for the density ratio
# $r=p(x,y)/\big(p(x)p(y)\big)$, the mean of $r$ over $n$ independent draws from $p(x)p(y)$ has
# variance at least $(e^{I}-1)/n$, and NWJ's second term at its optimal critic $1+\log r$ is such
# a mean. InfoNCE trades that variance for bias.
# ```
#
# ## The chain rule and DEMI
#
# Split the second view into $m$ consecutive sub-views, $y=(y_1,\dots,y_m)$, and write
# $y_{<k}=(y_1,\dots,y_{k-1})$.
#
# ```{prf:proposition} Chain rule of mutual information
# :label: p07-prop-chain-rule
#
# $$
# I(x;y)=\sum_{k=1}^m I(x;y_k\mid y_{<k}),\qquad
# I(x;y_k\mid y_{<k})=\mathbb E\Big[\log\frac{p(y_k\mid x,y_{<k})}{p(y_k\mid y_{<k})}\Big].
# $$
# ```
#
# ```{prf:proof}
# $\log\frac{p(y\mid x)}{p(y)}=\sum_k\log\frac{p(y_k\mid x,y_{<k})}{p(y_k\mid y_{<k})}$ by
# factorizing both densities along $y_1,\dots,y_m$; take expectations.
# ```
#
# Each term is a *modest chunk* of the total. DEMI estimates each chunk with a contrastive
# bound. In this chapter the anchor of term $k$ is $(x,y_{<k})$, the positive is the true $y_k$,
# and the $K-1$ negatives $\tilde y_k^{(j)}$ are drawn from $p(y_k\mid y_{<k})$ with the *same*
# prefix.
#
# ```{prf:remark} The paper's parameterization and ours
# :label: p07-rem-parameterization
#
# Sordoni et al. split the *first* view into sub-views $x''$ and $x'$ (functions of $x$, such as
# two crops) and use $I(x;y)\ge I(x'';y)+I(x';y\mid x'')$, the chain rule plus data processing.
# The conditional term is estimated by contrasting the *unsplit* view: the anchor is
# $(x',x'')$, the positive is $y$, and the negatives are whole views drawn from $p(y\mid x'')$.
# We split the second view into a partition $y=(y_1,\dots,y_m)$ (so the chain rule holds with
# equality) and contrast the *chunk* $y_k$, with negatives from $p(y_k\mid y_{<k})$. Renaming
# the views (their $y$ is our $x$, their $x''$ our $y_{<k}$, their $x'$ our $y_k$) gives the
# same term, $I(x;y_k\mid y_{<k})=I(y_k;x\mid y_{<k})$: conditional MI is symmetric, so either
# side may be contrasted, as long as its negatives come from its law given the shared condition.
# Both forms are lower bounds when those negatives are exact. We contrast the chunk because its
# conditional is a low-dimensional Gaussian with a short closed-form critic, and because the
# terms then read as a staircase over one view. The paper contrasts whole views because in
# representation learning one encoder of $y$ serves every term, and its approximate
# conditional negatives (below) are built from whole views.
# ```
#
# ```{prf:theorem} DEMI is a lower bound capped by m log K
# :label: p07-thm-demi
#
# Let $f_1,\dots,f_m$ be critics and, for each anchor and each $k$, let
# $\tilde y_k^{(2)},\dots,\tilde y_k^{(K)}\sim p(y_k\mid y_{<k})$ be drawn independently of $x$
# given $y_{<k}$. With $\tilde y_k^{(1)}=y_k$ and
# $s_{kj}=f_k(x,y_{<k},\tilde y_k^{(j)})$ define
#
# $$
# I_{\mathrm{DEMI}}=\sum_{k=1}^m \mathbb E\Big[\log\frac{e^{s_{k1}}}{\frac1K\sum_{j=1}^K e^{s_{kj}}}\Big].
# $$
#
# Then each term is at most $I(x;y_k\mid y_{<k})$, so $I_{\mathrm{DEMI}}\le I(x;y)$, and each
# term is at most $\log K$ on every batch, so $I_{\mathrm{DEMI}}\le m\log K$.
# ```
#
# ```{prf:proof}
# Fix the prefix $y_{<k}=c$. Given $c$, the pair $(x,y_k)$ has joint law $p(x,y_k\mid c)$ and
# the negatives are fresh draws from its second marginal $p(y_k\mid c)$, independent of $x$.
# {prf:ref}`p07-thm-infonce` was stated with in-batch negatives (the other rows' $y_j$), but its
# proof used only that, under the product of marginals, the $K$ candidates of a row are
# exchangeable; that holds just as well for $K-1$ fresh i.i.d. draws. Applied given $c$ with the
# critic $f_k(\cdot,c,\cdot)$, it bounds the term's conditional expectation by
# $I(X;Y_k\mid Y_{<k}=c)$ and the term itself by $\log K$; average over $c$ and sum over $k$
# with {prf:ref}`p07-prop-chain-rule`.
# ```
#
# The assumption that matters is the one on the negatives. If they come from the marginal
# $p(y_k)$ instead of $p(y_k\mid y_{<k})$, the proof breaks, and the estimate can *exceed* the
# true MI (try it in {ref}`the exercises <p07-exercises>`). On images and dialogue the paper
# cannot sample $p(y\mid x'')$ and approximates it with what the unconditional term has learned:
# that term's optimal critic is $\log p(y\mid x'')/p(y)$ up to a function of $x''$, so
# $p(y\mid x'')\propto p(y)\,e^{f(x'',y)}$, and marginal (in-batch) samples re-weighted by
# $e^{f(x'',y)}$ stand in for conditional ones. That is our reading of the paper's method
# section; we found no official code to check it against. With a learned critic and finitely
# many re-weighted samples the negatives no longer follow $p(y\mid x'')$, and the estimate is
# then no longer guaranteed to be a lower bound. This chapter samples the conditional exactly,
# with an oracle that real data do not offer, and its DEMI estimates are bounds for that reason.
#
# ## A benchmark with everything in closed form
#
# `CorrelatedGaussian(D, mi=I, cov_x=Σ)` draws $x\sim\mathcal N(0,\Sigma)$ and
# $y=\rho x+\sqrt{1-\rho^2}\,\xi$ with $\xi\sim\mathcal N(0,\Sigma)$ independent of $x$. Then
# $y\mid x\sim\mathcal N(\rho x,(1-\rho^2)\Sigma)$ and
#
# $$
# I(x;y)=-\tfrac D2\log(1-\rho^2),\qquad
# I(x;y_{[a,b)}\mid y_{[0,a)})=-\tfrac{b-a}2\log(1-\rho^2),
# $$
#
# independent of $\Sigma$: every coordinate carries the same share of the MI. With an AR(1)
# covariance $\Sigma_{ij}=\phi^{|i-j|}$ (the `phi` of `ar1_covariance`; this chapter has no
# encoder, so the book's letter for one, $\phi_\theta$, is free here) the conditional
# $p(y_k\mid y_{<k})$ is a genuinely different Gaussian from $p(y_k)$, so the conditional
# sampler matters. The optimal critics
# $\log p(y\mid x)/p(y)$ and $\log p(y_k\mid x,y_{<k})/p(y_k\mid y_{<k})$ are exact Gaussian
# log-density ratios (`log_density_ratio`, `score_matrix`, `conditional_log_density_ratio`),
# and `conditional_sample` draws the conditional negatives exactly. This Kronecker construction is
# our choice for the synthetic check. The paper's synthetic study also uses correlated Gaussians
# with a known MI, but we do not claim to reproduce its exact benchmark.
#
# ```{prf:proposition} Every chunk is the isotropic case in disguise
# :label: p07-prop-whitening
#
# Write $y_k\mid y_{<k}\sim\mathcal N(A\,y_{<k},S)$ with $S=L_SL_S^\top$, and let
# $r=L_S^{-1}(y_k-A\,y_{<k})$ and $t=L_S^{-1}(x_k-A\,x_{<k})$, with $x_k$, $x_{<k}$ the same
# coordinates of $x$. Given $y_{<k}$, $t\sim\mathcal N(0,I)$ and $r\mid t\sim\mathcal N(\rho t,
# (1-\rho^2)I)$, the optimal conditional critic is the isotropic critic
# $\log\mathcal N(r;\rho t,(1-\rho^2)I)-\log\mathcal N(r;0,I)$, and the exact negatives become
# $\mathcal N(0,I)$ draws. So the law of term $k$ with the optimal critic does not depend on
# $\Sigma$ at all: its expectation is a function $g(\rho,b-a,K)$ of the correlation, the chunk
# size and $K$ alone, the value of the same estimator on an isotropic pair
# $y=\rho x+\sqrt{1-\rho^2}\,\xi$ in $b-a$ dimensions.
# ```
#
# ```{prf:proof}
# Given $x$ and $y_{<k}$, $y_k\sim\mathcal N\big(A y_{<k}+\rho(x_k-Ax_{<k}),(1-\rho^2)S\big)$
# (the class docstring of `CorrelatedGaussian`), so $r\mid x,y_{<k}\sim\mathcal N(\rho t,
# (1-\rho^2)I)$, and $r\mid y_{<k}\sim\mathcal N(0,I)$. Since $t$ is Gaussian given $y_{<k}$
# and $\operatorname{Cov}(r\mid y_{<k})=\rho^2\operatorname{Cov}(t\mid y_{<k})+(1-\rho^2)I=I$,
# $t\mid y_{<k}\sim\mathcal N(0,I)$ (its mean is $L_S^{-1}(\rho Ay_{<k}-A\rho y_{<k})=0$). The
# critic and the negatives depend on $(x,y)$ only through $t$, $r$ and fresh
# $\mathcal N(0,I)$ draws.
# ```
#
# This gives Experiment 1 a sharp prediction that a few lines of NumPy can compute without any
# conditioning: $\mathbb E[I_{\mathrm{DEMI}}]=\sum_k g(\rho,b_k-a_k,K)$. A wrong conditional
# mean or covariance in the sampler, or a wrong critic, moves DEMI away from it.

# %%
gauss = CorrelatedGaussian(cfg["dim"], mi=cfg["mi"], cov_x=ar1_covariance(cfg["dim"], cfg["phi"]))
runtime.glue("P07.mi", gauss.mi())
runtime.glue("P07.log-k", log_k)
runtime.glue("P07.k-needed", math.exp(cfg["mi"]))
print(gauss)
print("chunks for m =", cfg["m"], ":", gauss.chunks(cfg["m"]),
      "each carrying", [round(gauss.conditional_mi(a, b), 3) for a, b in gauss.chunks(cfg["m"])],
      "nats")

# %% [markdown]
# ## From scratch
#
# InfoNCE is a row-wise log-softmax read on the diagonal. DEMI is the same with the positive in
# column 0 of each chunk's candidate list, summed over chunks. Both fit in a few lines, and we
# check them against the library on a random critic.

# %%
def infonce_from_scratch(scores):
    k = scores.shape[0]
    log_softmax = scores - torch.logsumexp(scores, dim=1, keepdim=True)  # row i: log q(j | x_i)
    return log_softmax.diagonal().mean() + math.log(k)  # mean log q(positive) + log K


def demi_from_scratch(pos, neg):
    cand = torch.cat([pos[..., None], neg], dim=-1)  # (N, m, K) candidates, positive first
    per_term = torch.log_softmax(cand, dim=-1)[..., 0] + math.log(cand.shape[-1])  # (N, m)
    return per_term.sum(dim=1).mean()  # chain rule: sum over chunks, mean over anchors


g_check = runtime.generator(seed)
scores = 3 * torch.randn(K, K, generator=g_check)
pos, neg = torch.randn(K, 4, generator=g_check), torch.randn(K, 4, K - 1, generator=g_check)
torch.testing.assert_close(infonce_from_scratch(scores), infonce(scores))
torch.testing.assert_close(demi_from_scratch(pos, neg), demi(pos, neg))
print(f"random critic: InfoNCE = {infonce(scores):.3f} <= log K = {log_k:.3f}")

# %% [markdown]
# ## Experiment 1: the optimal critics
#
# No training yet: we plug in the analytic optimal critics, the best any learned critic could do,
# and evaluate both estimators on fresh batches of $K$ pairs. `chain_scores` builds, for each
# chunk, the $K$ candidates of every anchor (its true $y_k$ in column 0, then $K-1$ exact
# conditional negatives) and scores them with a given critic.

# %%
def oracle_negatives(model, y, a, b, n, gen):
    """n exact draws of the chunk y_[a,b) given each row's prefix: (N, n, b-a) ~ p(y_k | y_<k)."""
    return model.conditional_sample(y, a, b, n, gen)


def chain_scores(model, critic, x, y, m, gen, negatives_of=oracle_negatives):
    """DEMI scores with m chunks: positives (N, m) and conditional negatives (N, m, K - 1)."""
    pos, neg = [], []
    for k, (a, b) in enumerate(model.chunks(m)):
        negatives = negatives_of(model, y, a, b, K - 1, gen)  # (N, K-1, b-a)
        cand = torch.cat([y[:, None, a:b], negatives], dim=1)  # (N, K, b-a), positive first
        s = critic(k, a, b, x, y, cand)  # (N, K) scores
        pos.append(s[:, 0])
        neg.append(s[:, 1:])
    return torch.stack(pos, dim=1), torch.stack(neg, dim=1)


def analytic_critic(model):
    return lambda k, a, b, x, y, cand: model.conditional_log_density_ratio(x, y, cand, a, b)


def analytic_estimates(model, batches, ms, gen):
    """InfoNCE (in-batch negatives) and DEMI for each m: one value per batch, and the terms."""
    out = {"infonce": [], **{m: [] for m in ms}, **{("terms", m): [] for m in ms}}
    for _ in range(batches):
        x, y = model.sample(K, gen)
        x, y = x.to(dev), y.to(dev)
        out["infonce"].append(infonce(model.score_matrix(x, y)).item())
        for m in ms:
            res = demi_terms(*chain_scores(model, analytic_critic(model), x, y, m, gen))
            out[m].append(res.total.item())
            out[("terms", m)].append(res.terms.cpu().numpy())  # (m,) one value per chunk
    return {key: np.array(v) for key, v in out.items()}


def isotropic_term(rho, s, k, n, rng, block=2048):
    """g(rho, s, K): the optimal-critic InfoNCE term on an isotropic pair in s dims (NumPy)."""
    c, terms = 1.0 - rho**2, []
    for _ in range(n // block):
        x = rng.standard_normal((block, s))
        y = rho * x + math.sqrt(c) * rng.standard_normal((block, s))              # positives
        cand = np.concatenate([y[:, None], rng.standard_normal((block, k - 1, s))], 1)
        f = (-0.5 * s * math.log(c) - ((cand - rho * x[:, None]) ** 2).sum(-1) / (2 * c)
             + 0.5 * (cand**2).sum(-1))                                 # (block, K) log ratios
        top = f.max(1)
        terms.append(f[:, 0] - top - np.log(np.exp(f - top[:, None]).sum(1)) + math.log(k))
    terms = np.concatenate(terms)
    return terms.mean(), terms.std() / math.sqrt(len(terms))  # estimate, its standard error


gen = runtime.generator(seed + 1, dev)
main = analytic_estimates(gauss, cfg["batches"], sorted({1, 2, cfg["m"]}), gen)
rng = np.random.default_rng(seed + 4)
sizes = [b - a for a, b in gauss.chunks(cfg["m"])]
ref = [isotropic_term(gauss.rho, s, K, cfg["ref_anchors"], rng) for s in sorted(set(sizes))]
ref = dict(zip(sorted(set(sizes)), ref))
demi_pred = sum(ref[s][0] for s in sizes)                                   # sum_k g(rho, s_k, K)
demi_pred_se = math.sqrt(sum((sizes.count(s) * ref[s][1]) ** 2 for s in ref))  # shared estimates
for key in ["infonce", *sorted({1, 2, cfg["m"]})]:
    v = main[key]
    name = "InfoNCE (in-batch)" if key == "infonce" else f"DEMI m={key}"
    print(f"{name:>20}: {v.mean():6.3f} ± {v.std():.3f} nats   (true MI {gauss.mi():.1f}, "
          f"log K {log_k:.3f})")
demi_se = main[cfg["m"]].std(ddof=1) / math.sqrt(cfg["batches"])           # over the batches
print(f"isotropic prediction for DEMI m={cfg['m']}: {demi_pred:.3f} ± {demi_pred_se:.3f}; "
      f"measured {main[cfg['m']].mean():.3f} ± {demi_se:.3f} (standard errors)")
runtime.glue("P07.nce-analytic", float(main["infonce"].mean()))
runtime.glue("P07.demi2-analytic", float(main[2].mean()))
runtime.glue("P07.demi-analytic", float(main[cfg["m"]].mean()))
runtime.glue("P07.demi-pred", demi_pred)
runtime.glue("P07.chunk-mi", gauss.conditional_mi(*gauss.chunks(cfg["m"])[0]))

# %% [markdown]
# With the true MI at {glue:text}`P07.mi:.1f` nats, InfoNCE with the *optimal* critic reports
# {glue:text}`P07.nce-analytic:.3f` nats, just under its ceiling $\log K=$
# {glue:text}`P07.log-k:.3f`. The critic is not the problem: the estimator cannot say more.
# Splitting $y$ into two halves gives {glue:text}`P07.demi2-analytic:.2f` nats. The headline
# split into $m$ chunks (four at ci scale, {glue:text}`P07.chunk-mi:.1f` nats each) gives
# {glue:text}`P07.demi-analytic:.2f`, where {prf:ref}`p07-prop-whitening` predicts
# {glue:text}`P07.demi-pred:.2f` from the isotropic case; the gap to the true MI is the finite-$K$
# bias of the four terms, not a failure of the chain rule. (DEMI with $m=1$ is InfoNCE with
# fresh, non-shared negatives, and lands at the same place.)
#
# Now sweep the true MI. Every point below is a mean over batches, with the analytic critics.

# %%
sweep = {}
for mi in cfg["mi_grid"]:
    model = CorrelatedGaussian(cfg["dim"], mi=mi, cov_x=ar1_covariance(cfg["dim"], cfg["phi"]))
    sweep[mi] = analytic_estimates(model, cfg["sweep_batches"], cfg["m_grid"], gen)
grid = np.array(cfg["mi_grid"])

# %% [markdown]
# ### Without the oracle: marginal negatives
#
# Everything so far drew the negatives from the oracle sampler of $p(y_k\mid y_{<k})$. Without
# knowledge of the distribution, the sample itself offers only the chunk's *marginal*
# $p(y_k)$ (the $y_k$ of other rows of the batch). Keep the optimal conditional critics and change
# nothing but where the negatives come from. The critic
# $\log p(y_k\mid x,y_{<k})/p(y_k\mid y_{<k})$ is normalized against the conditional law; a
# marginal negative tends to fall away from the conditional mean $Ay_{<k}$, where the critic
# scores it low for a reason that has nothing to do with $x$. The positive then wins too easily,
# the proof of {prf:ref}`p07-thm-demi` no longer applies, and nothing keeps the estimate below the
# MI. How much this matters depends on how much the prefix says about the chunk: little at the
# headline $\phi=0.5$, a lot at $\phi=0.9$, where the first coordinate of a chunk has conditional
# variance $1-\phi^2=0.19$ given the coordinate before it. We run both samplers on the same
# batches, at both correlations and the same true MI.

# %%
def marginal_negatives(model, y, a, b, n, gen):
    """n draws of the chunk y_[a,b) that ignore the prefix: (N, n, b-a) ~ p(y_k)."""
    return model.conditional_sample(y, 0, b, n, gen)[..., a:b]  # block [a, b) of fresh y_[0,b)


def sampler_comparison(model, gen):
    """DEMI with m chunks and the optimal critics, per batch, with both kinds of negatives."""
    out = {"oracle": [], "marginal": []}
    for _ in range(cfg["batches"]):
        x, y = model.sample(K, gen)
        x, y = x.to(dev), y.to(dev)
        for name, negatives_of in (("oracle", oracle_negatives), ("marginal", marginal_negatives)):
            scores = chain_scores(model, analytic_critic(model), x, y, cfg["m"], gen, negatives_of)
            out[name].append(demi_terms(*scores).total.item())
    return {name: np.array(v) for name, v in out.items()}


gauss_high = CorrelatedGaussian(cfg["dim"], mi=cfg["mi"],
                                cov_x=ar1_covariance(cfg["dim"], cfg["phi_high"]))
samplers = {phi: sampler_comparison(model, runtime.generator(seed + 8, dev))  # same draws
            for phi, model in ((cfg["phi"], gauss), (cfg["phi_high"], gauss_high))}
for phi, out in samplers.items():
    print(f"phi = {phi}: DEMI m={cfg['m']} with oracle negatives {out['oracle'].mean():.3f}, "
          f"with marginal negatives {out['marginal'].mean():.3f} (true MI {cfg['mi']:.1f})")
runtime.glue("P07.phi-high", cfg["phi_high"])
runtime.glue("P07.marginal-low", float(samplers[cfg["phi"]]["marginal"].mean()))
runtime.glue("P07.marginal-high", float(samplers[cfg["phi_high"]]["marginal"].mean()))
runtime.glue("P07.oracle-low", float(samplers[cfg["phi"]]["oracle"].mean()))
runtime.glue("P07.oracle-high", float(samplers[cfg["phi_high"]]["oracle"].mean()))

fig, ax = plot.subplots(1, width=4.6, height=3.2)
for j, (name, color) in enumerate((("oracle", plot.PALETTE["measured"]),
                                   ("marginal", plot.PALETTE["highlight"]))):
    means = [samplers[phi][name].mean() for phi in samplers]
    ax.bar(np.arange(2) + (j - 0.5) * 0.35, means, width=0.35, color=color,
           label=f"{name} negatives")
ax.axhline(gauss.mi(), color=plot.PALETTE["baseline"], linestyle=":", label="true MI")
ax.set_xticks(np.arange(2), [f"phi = {phi}" for phi in samplers])
ax.set_ylim(0, 1.3 * gauss.mi())
ax.set_ylabel(f"DEMI, m = {cfg['m']} (nats)")
ax.set_title("Where the negatives come from")
plot.legend_below(ax);

# %% [markdown]
# With the oracle, DEMI gives {glue:text}`P07.oracle-low:.2f` nats at $\phi=0.5$ and
# {glue:text}`P07.oracle-high:.2f` at $\phi=$ {glue:text}`P07.phi-high`: the same numbers up to
# round-off, draw for draw, because by {prf:ref}`p07-prop-whitening` the whitened problem does
# not depend on $\Sigma$. With marginal negatives it gives {glue:text}`P07.marginal-low:.2f` at $\phi=0.5$,
# inflated but still below the true MI, and {glue:text}`P07.marginal-high:.2f` at
# $\phi=$ {glue:text}`P07.phi-high`, *above* the true MI of {glue:text}`P07.mi:.0f` nats. It is
# still a lower bound, but of another quantity: negatives drawn independently of the anchor
# $(x,y_{<k})$ make each term an ordinary InfoNCE bound on $I(x,y_{<k};y_k)$, whatever the critic,
# and these sum to $I(x;y)$ plus the total correlation of the chunks ({ref}`exercise 2
# <p07-exercises>`). So it no longer bounds the MI. This is the sense in which DEMI's $m\log K$
# ceiling is bought with the oracle: {cite}`mcallester2020formal` limit what can be *certified*
# about $I(x;y)$ from the sample alone, and a DEMI built from the sample alone reports large
# numbers that certify something else.

# %% [markdown]
# ## Experiment 2: trained critics
#
# Analytic critics show what the estimators *can* reach. In practice the critic is learned, so
# we train two critics on fresh batches from the same Gaussian, with the progress bar on:
#
# * **InfoNCE**: a separable critic $f(x,y)=g(x)^\top h(y)$ (two MLPs), maximizing
#   $I_{\mathrm{NCE}}$ with in-batch negatives;
# * **DEMI** with $m$ chunks: one separable critic per chunk,
#   $f_k=g_k(x,y_{<k})^\top h_k(y_k)$, maximizing the sum of conditional InfoNCE terms with exact
#   conditional negatives. The prefix $y_{<k}$ is shared by the positive and all the negatives of a
#   row, so it can sit on the anchor side at no cost.
#
# The DEMI critics are smaller than the InfoNCE one (and see fewer anchors per step). The
# comparison still favours DEMI in one respect that matters: each DEMI anchor is scored against
# $K-1$ oracle conditional negatives *per chunk*, $m(K-1)$ candidates in all, while an InfoNCE
# anchor sees the $K-1$ other rows of its batch. The evaluation below therefore also gives the
# trained InfoNCE critic batches of $m(K-1)+1$ pairs, the same number of candidates per anchor.

# %%
class ChainCritic(nn.Module):
    """One separable critic per chunk: f_k(x, y_<k, y_k) = g_k([x, y_<k])^T h_k(y_k)."""

    def __init__(self, model, m, hidden, out, generator):
        super().__init__()
        self.bounds = model.chunks(m)
        self.parts = nn.ModuleList(
            SeparableCritic(model.dim + a, b - a, hidden, out, generator=generator)
            for a, b in self.bounds)

    def forward(self, k, a, b, x, y, cand):
        anchor = torch.cat([x, y[:, :a]], dim=1)[:, None, :]  # (N, 1, D + a)
        return self.parts[k].score(anchor, cand)  # (N, K)


def make_critics():
    """The two critics at their initialization (the same one every call)."""
    nce = SeparableCritic(cfg["dim"], cfg["dim"], cfg["nce_hidden"], cfg["nce_out"],
                          generator=runtime.generator(seed + 5))
    chain = ChainCritic(gauss, cfg["m"], cfg["demi_hidden"], cfg["demi_out"],
                        generator=runtime.generator(seed + 6))
    return nce.to(dev), chain.to(dev)


nce_critic, demi_critic = make_critics()
g_train = runtime.generator(seed + 2, dev)


def batch(step):
    return gauss.sample(K, g_train)


def nce_objective(critic, b):
    bound = infonce(critic(*b))
    return {"loss": -bound, "bound": bound}


def demi_objective(critic, b):
    x, y = (t[: cfg["anchors"]] for t in b)  # fewer anchors; each still sees K candidates
    bound = demi(*chain_scores(gauss, critic, x, y, cfg["m"], g_train))
    return {"loss": -bound, "bound": bound}


hist_nce = fit(nce_critic, nce_objective, batch, steps=cfg["steps"], lr=cfg["lr"], desc="InfoNCE")
hist_demi = fit(demi_critic, demi_objective, batch, steps=cfg["steps"], lr=cfg["lr"],
                desc=f"DEMI m={cfg['m']}")

# %% [markdown]
# Both trained critics are evaluated on fresh batches (the same number as above, with $K$ anchors
# per batch for both estimators), and so are the same critics *untrained*, at their
# initialization: the control for every claim about training below. The InfoNCE critic is also
# evaluated on batches of $m(K-1)+1$ pairs.

# %%
K_equal = cfg["m"] * (K - 1) + 1  # InfoNCE candidates per anchor = DEMI's m (K - 1) + 1


def evaluate(nce, chain, gen, gen_equal):
    """Both estimators on fresh batches; InfoNCE also with K_equal candidates per anchor."""
    res = {"infonce": [], "demi": [], "terms": [], "infonce_equal": []}
    with torch.no_grad():
        for _ in range(cfg["batches"]):
            x, y = gauss.sample(K, gen)
            res["infonce"].append(infonce(nce(x, y)).item())
            out = demi_terms(*chain_scores(gauss, chain, x, y, cfg["m"], gen))
            res["demi"].append(out.total.item())
            res["terms"].append(out.terms.cpu().numpy())
            res["infonce_equal"].append(infonce(nce(*gauss.sample(K_equal, gen_equal))).item())
    return {key: np.array(v) for key, v in res.items()}


trained = evaluate(nce_critic, demi_critic, runtime.generator(seed + 3, dev),
                   runtime.generator(seed + 7, dev))
untrained = evaluate(*make_critics(), runtime.generator(seed + 3, dev),
                     runtime.generator(seed + 7, dev))
runtime.glue("P07.nce-trained", float(trained["infonce"].mean()))
runtime.glue("P07.demi-trained", float(trained["demi"].mean()))
runtime.glue("P07.nce-trained-equal", float(trained["infonce_equal"].mean()))
runtime.glue("P07.k-equal", K_equal)
runtime.glue("P07.log-k-equal", math.log(K_equal))
print(f"trained InfoNCE: {trained['infonce'].mean():.3f} ± {trained['infonce'].std():.3f}; "
      f"with {K_equal} candidates: {trained['infonce_equal'].mean():.3f} "
      f"(log {K_equal} = {math.log(K_equal):.3f})")
print(f"untrained: InfoNCE {untrained['infonce'].mean():.3f}, DEMI {untrained['demi'].mean():.3f}")
print(f"trained DEMI m={cfg['m']}: {trained['demi'].mean():.3f} ± {trained['demi'].std():.3f}; "
      f"per chunk {np.round(trained['terms'].mean(0), 3)} "
      f"(true {gauss.conditional_mi(*gauss.chunks(cfg['m'])[0]):.3f} each)")

# %% [markdown]
# ## The picture
#
# Left: estimated versus true MI with the analytic critics. InfoNCE sticks to the line
# $\log K$; DEMI with $m$ chunks follows the identity line until the MI per chunk approaches
# $\log K$, and then bends towards its own ceiling $m\log K$. The stars are the trained critics at
# the headline MI. Right: the training curves (the bound on each training batch), with the true
# MI and $\log K$ on the same axes.

# %%
fig, axes = plot.subplots(2, width=5.2, height=4.0)
ax = axes[0, 0]
ax.plot(grid, grid, color=plot.PALETTE["baseline"], linestyle=":", label="true MI (identity)")
plot.reference_line(ax, log_k, f"log K = {log_k:.2f}")
nce_mean = np.array([sweep[mi]["infonce"].mean() for mi in grid])
plot.measured_vs_theory(grid, nce_mean, spread=np.array([sweep[mi]["infonce"].std() for mi in grid]),
                        label="InfoNCE (analytic critic)", ax=ax)
colors = ["#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"]
for color, m in zip(colors, cfg["m_grid"]):
    mean = np.array([sweep[mi][m].mean() for mi in grid])
    std = np.array([sweep[mi][m].std() for mi in grid])
    ax.plot(grid, mean, marker="s", color=color, label=f"DEMI m={m} (analytic)")
    ax.fill_between(grid, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
    ax.axhline(m * log_k, color=color, linestyle="--", linewidth=0.8, alpha=0.7)
ax.scatter([cfg["mi"]], [trained["infonce"].mean()], marker="*", s=180, zorder=5,
           color=plot.PALETTE["measured"], edgecolor="k", label="InfoNCE (trained)")
ax.scatter([cfg["mi"]], [trained["demi"].mean()], marker="*", s=180, zorder=5,
           color=colors[cfg["m_grid"].index(cfg["m"])], edgecolor="k",
           label=f"DEMI m={cfg['m']} (trained)")
ax.set_ylim(0, min(grid.max(), max(cfg["m_grid"]) * log_k) * 1.1)
ax.set_xlabel("true MI (nats)")
ax.set_ylabel("estimate (nats)")
ax.set_title("Estimate vs truth (dashed: m log K)")
plot.legend_below(ax)
ax = axes[0, 1]
ax.plot(hist_nce.step, hist_nce["bound"], color=plot.PALETTE["measured"], label="InfoNCE (trained)")
ax.plot(hist_demi.step, hist_demi["bound"], color=colors[cfg["m_grid"].index(cfg["m"])],
        label=f"DEMI m={cfg['m']} (trained)")
ax.axhline(gauss.mi(), color=plot.PALETTE["baseline"], linestyle=":", label="true MI")
plot.reference_line(ax, log_k, "log K")
ax.set_ylim(min(0.0, hist_nce["bound"][0]), 1.15 * gauss.mi())
ax.set_xlabel("step")
ax.set_ylabel("bound on the training batch (nats)")
ax.set_title("Training")
plot.legend_below(ax);

# %% [markdown]
# The same sweep, one chain-rule term at a time. Each point is one conditional InfoNCE term
# (averaged over the chunks and batches) against the MI its chunk truly carries, $I/m$; InfoNCE
# is the case $m=1$. Whatever $m$, the terms fall on nearly one curve (by
# {prf:ref}`p07-prop-whitening` a term depends on the chunk only through $\rho$ and its size):
# they track the identity while the chunk MI is well below $\log K$ and flatten at $\log K$
# above it. DEMI works by moving every term to the left part of this curve, not by lifting the
# ceiling of any term. The stars are the trained DEMI critics' terms at the headline MI, one per
# chunk.

# %%
fig, ax = plot.subplots(1, width=5.2, height=4.0)
chunk_grid = np.linspace(0.0, grid.max(), 50)
ax.plot(chunk_grid, chunk_grid, color=plot.PALETTE["baseline"], linestyle=":",
        label="true chunk MI (identity)")
plot.reference_line(ax, log_k, f"log K = {log_k:.2f}")
ax.plot(grid, nce_mean, marker="o", color=plot.PALETTE["measured"], label="m=1 (InfoNCE)")
for color, m in zip(colors, cfg["m_grid"]):
    per_chunk = np.array([sweep[mi][("terms", m)].mean() for mi in grid])  # mean over chunks
    ax.plot(grid / m, per_chunk, marker="s", color=color, label=f"m={m}: one DEMI term")
chunk_mi = [gauss.conditional_mi(a, b) for a, b in gauss.chunks(cfg["m"])]
ax.scatter(chunk_mi, trained["terms"].mean(0), marker="*", s=150, zorder=5, edgecolor="k",
           color=colors[cfg["m_grid"].index(cfg["m"])], label=f"trained terms (m={cfg['m']})")
ax.set_xlabel("true MI of the chunk, I / m (nats)")
ax.set_ylabel("conditional InfoNCE term (nats)")
ax.set_title("Every term follows nearly one curve")
plot.legend_below(ax);

# %% [markdown]
# ## Claims
#
# Five claims, each measured above and asserted below. That InfoNCE never exceeds $\log K$ on any
# batch is not among them: it holds for every critic and every batch by
# {prf:ref}`p07-thm-infonce`, so it is a unit test of `infonce` and `demi_terms`
# (`tests/test_estimators_infonce.py`), not a finding about data.
#
# 1. **`P07.infonce-saturates`** (theorem, {prf:ref}`p07-thm-infonce` with
#    {cite}`mcallester2020formal`): at MI = {glue:text}`P07.mi:.0f` nats, InfoNCE with the optimal
#    critic sits just *below* $\log K$, far below the MI. We require the mean over
#    {glue:text}`P07.batches` batches within 0.15 nats of $\log K$. Seeds 0-4 gave
#    {glue:text}`P07.infonce-saturates.seeds-0-4`, held-out seeds 5-9
#    {glue:text}`P07.infonce-saturates.seeds-5-9`.
# 2. **`P07.demi-recovers`** (theorem, {prf:ref}`p07-thm-demi` and
#    {prf:ref}`p07-prop-whitening`): DEMI with $m$ = {glue:text}`P07.m` chunks, the optimal
#    critics and exact conditional negatives equals the sum of the isotropic finite-$K$ values
#    $g(\rho,b_k-a_k,K)$. The tolerance is four standard errors of the difference (the batches'
#    spread and the reference's own Monte Carlo error, computed on each run), about
#    {glue:text}`P07.demi-recovers-tol:.2f` nats here. That resolves errors of a few tenths of a
#    nat: a sampler that ignores the conditional covariance $S$ fails the claim, but one that
#    ignores only the conditional mean $Ay_{<k}$, or draws marginal negatives, shifts DEMI by less
#    at $\phi=0.5$ and can pass (claim 3 takes the marginal sampler to $\phi=0.9$). Seeds 0-4
#    gave {glue:text}`P07.demi-recovers.seeds-0-4` nats (5-9:
#    {glue:text}`P07.demi-recovers.seeds-5-9`), for a true MI of {glue:text}`P07.mi:.0f`.
# 3. **`P07.marginal-negatives-overshoot`** (observation): without the oracle the estimate is no
#    longer a bound on the MI. At $\phi=$ {glue:text}`P07.phi-high`, the same DEMI (optimal
#    critics, $m$ = {glue:text}`P07.m`) with marginal negatives $p(y_k)$ exceeds the true MI. We
#    measure the estimate minus the true MI and require it to be positive; that bound is the
#    statement itself, not a value chosen on outcomes. Seeds 0-4:
#    {glue:text}`P07.marginal-negatives-overshoot.seeds-0-4` nats (5-9:
#    {glue:text}`P07.marginal-negatives-overshoot.seeds-5-9`). The null is the same estimate on
#    the same batches with the oracle's conditional negatives, which stays below the MI as
#    {prf:ref}`p07-thm-demi` requires: {glue:text}`P07.marginal-negatives-overshoot.null-range`.
# 4. **`P07.trained-gap`** (reproduction of the paper's synthetic result that DEMI captures more
#    MI than InfoNCE): with trained critics, DEMI's estimate exceeds InfoNCE's by at least 3 nats.
#    The condition matters: DEMI's anchors are scored against $m(K-1)$ =
#    {glue:text}`P07.k-equal-minus-one` candidates drawn by an oracle conditional sampler,
#    InfoNCE's against the $K-1$ = {glue:text}`P07.k-minus-one` other rows of the batch. Seeds 0-4:
#    {glue:text}`P07.trained-gap.seeds-0-4` nats (5-9: {glue:text}`P07.trained-gap.seeds-5-9`).
#    The null is the same two critics untrained: {glue:text}`P07.trained-gap.null-range`.
# 5. **`P07.equal-candidates`** (observation): the gap survives giving InfoNCE as many candidates
#    per anchor, $m(K-1)+1$ = {glue:text}`P07.k-equal`, because its ceiling grows only to
#    $\log$ {glue:text}`P07.k-equal` = {glue:text}`P07.log-k-equal:.2f`. We require at least 2
#    nats. The InfoNCE critic is trained with $K$ candidates and only *evaluated* with
#    {glue:text}`P07.k-equal`; retrained at that size it would come closer to its ceiling, but not
#    past it, so the gap cannot fall below DEMI's estimate minus $\log$
#    {glue:text}`P07.k-equal`, which is what bounds this claim's margin. Seeds 0-4: {glue:text}`P07.equal-candidates.seeds-0-4` (5-9:
#    {glue:text}`P07.equal-candidates.seeds-5-9`); untrained critics:
#    {glue:text}`P07.equal-candidates.null-range`.
#
# The thresholds of claims 1, 4 and 5 were chosen on seeds 0-4 and then checked on seeds 5-9.
# The training constants (steps, learning rate, critic sizes) and the data were fixed before the
# thresholds were chosen and were not tuned on the claims' outcomes.

# %%
runtime.glue("P07.batches", cfg["batches"])
runtime.glue("P07.m", cfg["m"])
runtime.glue("P07.k-minus-one", K - 1)
runtime.glue("P07.k-equal-minus-one", K_equal - 1)
claims.check("P07.infonce-saturates", main["infonce"].mean(), kind="theorem",
             lower=log_k - 0.15, upper=log_k,
             statement=f"with true MI = {gauss.mi():.0f} nats >> log K, InfoNCE with the optimal "
                       "critic saturates just below log K (within 0.15 nats)")
tol_demi = 4 * math.sqrt(demi_se**2 + demi_pred_se**2)  # four standard errors of the difference
runtime.glue("P07.demi-recovers-tol", tol_demi)
claims.check("P07.demi-recovers", main[cfg["m"]].mean(), kind="theorem",
             expected=demi_pred, tol=tol_demi,
             statement=f"with optimal critics and exact conditional negatives, DEMI over m = "
                       f"{cfg['m']} chunks equals the sum of the isotropic finite-K terms "
                       "g(rho, chunk size, K), within four standard errors")
claims.check("P07.marginal-negatives-overshoot",
             samplers[cfg["phi_high"]]["marginal"].mean() - gauss_high.mi(), kind="observation",
             lower=0.0, null=samplers[cfg["phi_high"]]["oracle"].mean() - gauss_high.mi(),
             null_name="the same estimate with the oracle's conditional negatives",
             statement=f"at AR(1) correlation phi = {cfg['phi_high']} and I = "
                       f"{gauss_high.mi():.0f} nats, DEMI (m = {cfg['m']}, optimal critics) with "
                       "marginal negatives p(y_k) in place of the oracle's p(y_k | y_<k) exceeds "
                       "the true MI: it is no longer a lower bound on it")
gap = trained["demi"].mean() - trained["infonce"].mean()
claims.check("P07.trained-gap", gap, kind="reproduction", lower=3.0,
             null=untrained["demi"].mean() - untrained["infonce"].mean(),
             null_name="the same critics untrained",
             statement=f"with trained critics at I = {gauss.mi():.0f} nats, DEMI (m = {cfg['m']}, "
                       f"each anchor scored against m(K-1) = {K_equal - 1} oracle conditional "
                       f"negatives) estimates at least 3 nats more MI than InfoNCE (K-1 = {K - 1} "
                       "in-batch negatives)")
claims.check("P07.equal-candidates", trained["demi"].mean() - trained["infonce_equal"].mean(),
             kind="observation", lower=2.0,
             null=untrained["demi"].mean() - untrained["infonce_equal"].mean(),
             null_name="the same critics untrained",
             statement=f"with trained critics at I = {gauss.mi():.0f} nats, DEMI still estimates at "
                       f"least 2 nats more than InfoNCE given as many candidates per anchor "
                       f"({K_equal}), since InfoNCE's ceiling is log {K_equal}")
claims.summary("P07")

# %%
for cid in ["P07.infonce-saturates", "P07.demi-recovers", "P07.marginal-negatives-overshoot",
            "P07.trained-gap", "P07.equal-candidates"]:
    claims.glue_calibration(cid, fmt=".2f")

# %% [markdown]
# At ci scale the trained InfoNCE critic reaches {glue:text}`P07.nce-trained:.2f` nats (ceiling
# {glue:text}`P07.log-k:.2f`), or {glue:text}`P07.nce-trained-equal:.2f` with
# {glue:text}`P07.k-equal` candidates per anchor (ceiling {glue:text}`P07.log-k-equal:.2f`); the
# trained DEMI critics reach {glue:text}`P07.demi-trained:.2f`, and the gap asserted above is
# {glue:text}`P07.trained-gap:.2f` nats, against {glue:text}`P07.trained-gap.null:.2f` for the
# untrained critics.
#
# ## What the toy scale cannot show
#
# * **Approximate conditional negatives.** Here $p(y_k\mid y_{<k})$ is a Gaussian we sample
#   exactly. On images and dialogue the paper must approximate it, and the quality of that
#   approximation decides whether DEMI stays a bound. The exercises show that wrong negatives
#   can push the estimate above the true MI. We do not test the paper's approximation.
# * **Better representations.** The paper's point is that the decomposed objective trains better
#   *encoders* (linear-probe accuracy on vision, and dialogue tasks). Those experiments need real
#   data and GPUs and are not reproduced; this chapter checks the estimation argument only.
# * **Scale.** $D=20$, one MI of 10 nats for the trained critics, $K=128$, 400 steps. The full
#   configuration (a GPU) uses $D=100$, MI up to 80 nats, $K=512$, $m\in\{2,4,8\}$ and 3000
#   training steps. There DEMI itself saturates once $I/m$ nears $\log K$ (at 80 nats and $m=8$
#   each chunk carries 10 nats > $\log 512\approx6.2$), so both ceilings show on one plot. The
#   claims' thresholds were calibrated at ci scale only, and the full configuration has not been
#   run as part of the chapter's checks.
#
# (p07-exercises)=
# ## Exercises
#
# ```{exercise}
# :label: ex-p07-1
#
# How many candidates $K$ per anchor would InfoNCE need to be *able* to report 10 nats? Evaluate
# the analytic-critic InfoNCE at $I=10$ for $K\in\{128, 512, 2048\}$ and compare with
# $\log K$ and with the true MI.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p07-1
# :class: dropdown
#
# The ceiling requires $\log K\ge 10$, that is $K\ge e^{10}\approx 22{,}026$, and that is only
# necessary. Redefine `K` and rerun `analytic_estimates(gauss, 10, [2], gen)` (the function reads
# the global `K`; $K=2048$ takes about a minute). The InfoNCE mean stays below $\log K$ each time,
# about 4.79, 6.04 and 7.16 nats against $\log K\approx4.85$, 6.24 and 7.62, and the gap grows
# as $\log K$ comes closer to $I$. DEMI with two chunks and the same $K$ gets closer to 10 (about
# 7.8, 8.8 and 9.4 nats). The $K\times K$ matrix costs $O(K^2)$ memory and time, so raising $K$
# quickly stops being an option.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p07-2
#
# Marginal negatives, `chain_scores(..., negatives_of=marginal_negatives)`, as in the section
# *Without the oracle*.
#
# (a) Keep the analytic conditional critic, $m=4$ and $I=10$, and sweep the AR(1) correlation
# $\phi$ from 0 to 0.95. Where does DEMI cross the true MI? Is there a quantity it stays below?
#
# (b) Now train the chunk critics with marginal negatives (the `demi_objective` of Experiment 2
# with `negatives_of=marginal_negatives`). Which quantity does the sum of the terms estimate?
# Compute it in closed form for the AR(1) covariance and compare.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p07-2
# :class: dropdown
#
# (a) The estimate rises with $\phi$ and crosses the true MI between $\phi=0.6$ and $0.7$ at ci
# scale (about 9.4 nats at $\phi=0$, 11.1 at $\phi=0.9$). The proof of {prf:ref}`p07-thm-demi`
# needs the negatives to be draws from $p(y_k\mid y_{<k})$, the distribution the critic
# $\log p(y_k\mid x,y_{<k})/p(y_k\mid y_{<k})$ is normalized against. Marginal negatives ignore
# the prefix. They are easy to tell apart from the positive *without using $x$*, so the critic
# scores them low for the wrong reason, and the stronger the dependence between chunks
# ($\phi\to1$), the larger the error. The estimate stays below $I+\mathrm{TC}(y)$ of part (b),
# for any critic: negatives independent of the anchor $(x,y_{<k})$ make term $k$ an InfoNCE
# bound on $I(x,y_{<k};y_k)$.
#
# (b) With negatives from $p(y_k)$, independent of the anchor $(x,y_{<k})$, term $k$ is an
# ordinary InfoNCE bound, but on $I(x,y_{<k};y_k)$: a trained critic learns to use the prefix
# too. By the chain rule $I(x,y_{<k};y_k)=I(y_{<k};y_k)+I(x;y_k\mid y_{<k})$, so the sum estimates
#
# $$
# \sum_{k=1}^m I(x,y_{<k};y_k)=I(x;y)+\mathrm{TC}(y),\qquad
# \mathrm{TC}(y)=\sum_k H(y_k)-H(y)=\sum_{k\ge2}I(y_{<k};y_k),
# $$
#
# the total correlation of the chunks of $y$. It is a valid bound, of the wrong quantity, and it
# exceeds $I(x;y)$ whenever the chunks are dependent. For the AR(1) covariance, $y$ is a Gaussian
# Markov chain, so $I(y_{<k};y_k)$ is the information between the two coordinates that touch,
# $-\tfrac12\log(1-\phi^2)$, and $\mathrm{TC}(y)=-\tfrac{m-1}2\log(1-\phi^2)$: about 0.43 nats
# for $\phi=0.5$ and 2.49 nats for $\phi=0.9$ with $m=4$. Each term after the first carries
# $\tfrac Im-\tfrac12\log(1-\phi^2)$ nats, still below $\log K$ here, so a trained critic can get
# close to $I+\mathrm{TC}$. This is why the paper spends most of its method section on
# approximating the conditional.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p07-3
#
# (a) Show that adding any function $c(x_i)$ to row $i$ of $F$ leaves $I_{\mathrm{NCE}}$
# unchanged but changes $I_{\mathrm{NWJ}}$, and find the normalization of the optimal critic
# that NWJ requires.
#
# (b) *Code.* Implement $I_{\mathrm{NWJ}}$ of {prf:ref}`p07-rem-nwj` from a $K\times K$ score
# matrix, estimating the product-of-marginals term from the $K(K-1)$ off-diagonal pairs, and
# check it against `reptutor.estimators.nwj`. Then evaluate InfoNCE with the optimal critic
# $f^\star$ and NWJ with the critic $1+f^\star$ on 50 batches of $K=128$ pairs at $I=2$ and
# $I=10$, and compare their means, medians and spreads.
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p07-3
# :class: dropdown
# ```
#
# (a) The shift adds $c(x_i)$ to $F_{ii}$ and to $\log\sum_j e^{F_{ij}}$, so it cancels in
# $I_{\mathrm{NCE}}$. In $I_{\mathrm{NWJ}}$ it adds $c(x_i)$ to the first term but multiplies
# the second by $e^{c(x_i)}$. In expectation, the critic $f+c$ gains $\mathbb E[c(x)]$ in the
# first term, and the second becomes $e^{-1}\mathbb E_x\big[e^{c(x)}\,\mathbb E_{p(y)}e^{f(x,y)}\big]$;
# the derivative in $c(x)$ vanishes where $e^{c(x)-1}\,\mathbb E_{p(y)}e^{f(x,y)}=1$. For
# $f=\log p(y\mid x)/p(y)$ the inner mean is 1, so $c=1$: NWJ is tight only for the critic
# $1+\log p(y\mid x)/p(y)$, the one used below.
#
# (b) The second term is a plain mean of $e^{F_{ij}}$ over the off-diagonal entries (each row's
# $K-1$ negatives, averaged over rows: the same thing).

# %% tags=["solution"]
from reptutor.estimators import nwj


def nwj_from_scratch(scores):
    """I_NWJ of a (K, K) critic matrix, the product of marginals from the off-diagonal pairs."""
    # HINT: the mean of the diagonal minus exp(-1) times the mean of exp(scores) off the diagonal
    # BEGIN SOLUTION
    off_diagonal = ~torch.eye(scores.shape[0], dtype=torch.bool, device=scores.device)
    return scores.diagonal().mean() - math.exp(-1.0) * scores[off_diagonal].exp().mean()
    # END SOLUTION


g_ex = runtime.generator(0)
random_scores = torch.randn(16, 16, generator=g_ex, dtype=torch.float64)
torch.testing.assert_close(nwj_from_scratch(random_scores), nwj(random_scores))
print(f"{'true MI':>8} | InfoNCE: {'mean':>6} {'sd':>5} | NWJ: {'mean':>7} {'median':>7} "
      f"{'sd':>6} {'min':>7}")
for mi_ex in (2.0, 10.0):
    model_ex = CorrelatedGaussian(20, mi=mi_ex, cov_x=ar1_covariance(20, 0.5))
    nce_ex, nwj_ex = [], []
    for _ in range(50):
        x_ex, y_ex = model_ex.sample(128, g_ex, dtype=torch.float64)
        f_ex = model_ex.score_matrix(x_ex, y_ex)
        nce_ex.append(infonce(f_ex).item())
        nwj_ex.append(nwj_from_scratch(1.0 + f_ex).item())
    nce_ex, nwj_ex = np.array(nce_ex), np.array(nwj_ex)
    print(f"{mi_ex:8.1f} | {'':9}{nce_ex.mean():6.2f} {nce_ex.std():5.2f} | {'':4} "
          f"{nwj_ex.mean():7.2f} {np.median(nwj_ex):7.2f} {nwj_ex.std():6.2f} {nwj_ex.min():7.2f}")

# %% [markdown] tags=["solution"]
# At $I=2$ both estimators are close to the truth and NWJ's spread is small. At $I=10$ InfoNCE
# is stuck just under $\log 128\approx4.85$ with a tiny spread, while NWJ is not capped: its
# median batch is close to (a little above) 10 nats. Its price is the spread, and a spread of an
# unusual kind. The second term averages the density ratio $r=e^{f^\star}$ over the $K(K-1)$
# off-diagonal pairs. {cite}`song2020understanding` give
# $\operatorname{Var}_{p(x)p(y)}[r]\ge e^{I}-1$, and for these Gaussians it is exactly
# $e^{2I}-1$ (each coordinate contributes a factor $1/(1-\rho^2)$ to $\mathbb E[r^2]$). That
# variance is carried by very rare pairs with a huge ratio: most batches miss them and land a
# little *above* $I$, and now and then one batch catches one and falls tens of nats below zero
# (the `min` column; rerun the cell with other seeds to see how much the mean and the spread
# over 50 batches depend on whether such a batch occurs). The bound holds for the expectation,
# which the typical batch does not show. This is the bias-variance trade-off of
# {cite}`poole2019variational`: InfoNCE's variance is small because it is capped at $\log K$.
#
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p07-4
#
# Run the analytic DEMI at $I=10$ with $m\in\{1,2,4,5,10,20\}$. Plot the estimate against $m$
# together with $\min(I, m\log K)$ and with the prediction $\sum_k g(\rho,b_k-a_k,K)$ of
# {prf:ref}`p07-prop-whitening` (`isotropic_term`). Why does it keep improving beyond $m=4$, why
# does it not reach $I$, and what does a large $m$ cost with learned critics?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p07-4
# :class: dropdown
#
# Each term carries $I/m$ nats. The estimate rises quickly while $I/m$ comes down towards and
# below $\log K$, and the measured points follow the isotropic prediction for every $m$, within
# their standard errors (with 20 batches, about 9.8 nats measured against 9.9 predicted at
# $m=20$). Beyond that it only creeps up: the finite-$K$ bias of each term shrinks as its MI
# falls, but there are $m$ terms, so the total bias shrinks slowly and the prediction approaches
# $I$ from below without reaching it. (With few batches a measured point can land above $I$:
# the bound holds in expectation.) With learned critics every chunk needs its own critic, or a
# critic conditioned on $k$, and its own set of $K-1$ conditional negatives per anchor. Cost and
# sampling error grow linearly in $m$, and with approximate conditionals the errors of the terms
# add up.
# ```

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
