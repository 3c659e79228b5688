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
#     - P46
#     prerequisites:
#     - P07
# ---

# %% [markdown]
# # VICReg from an information-theoretic view
#
# **Paper.** Shwartz-Ziv, Balestriero, Kawaguchi, Rudner, LeCun, *An Information-Theoretic
# Perspective on Variance-Invariance-Covariance Regularization*, NeurIPS 2023
# {cite}`shwartzziv2023information` (the extended version of the workshop paper
# {cite}`shwartzziv2022maximize`). It reads the VICReg loss of Bardes, Ponce and LeCun
# {cite}`bardes2022vicreg` as an information objective.
#
# VICReg trains two views $Z=\phi_\theta(X)$ and $Z'=\phi_\theta(X')$ of the same input with
# three terms: an *invariance* term pulls $Z$ and $Z'$ together, a *variance* term keeps every
# coordinate's standard deviation above a target, and a *covariance* term decorrelates the
# coordinates. No negatives, no probabilities, and a deterministic network. So in what sense is this
# "information maximization"? The paper answers in two steps. First, a deterministic network
# still has well-defined entropies once the data are modelled as noisy copies of training points:
# a piecewise-affine network maps that noise to a Gaussian. Second, the mutual information
# between the two views is bounded below by an entropy term, which VICReg's variance and
# covariance terms stand in for through a log-determinant, minus a conditional-entropy term,
# which is the invariance term.
#
# **What you will learn**
#
# * why a deterministic ReLU network has a Gaussian output around each training point when the
#   noise stays inside one linear region, and how likely the noise is to leave it;
# * the bound $I(Z;Z')\ge H(Z)-\tfrac D2\log(2\pi e\,s)$, with $s$ VICReg's invariance term, and
#   the Gaussian form $\tfrac12\log\det C-\tfrac D2\log s$ that it takes for Gaussian features;
# * how the variance and covariance terms control $\log\det C$: Hadamard's inequality and a
#   two-sided bound of the gap by the squared correlations VICReg penalizes;
# * where the reading is exact (linear encoders on Gaussian data, where every quantity is
#   computable) and where it is only an approximation (non-Gaussian outputs);
# * why linear VICReg on Gaussian views recovers canonical correlation analysis, the
#   information-maximizing linear encoder {cite}`balestriero2022contrastive`.
#
# **Prerequisites.** Differential entropy and mutual information (Cover and Thomas
# {cite}`cover2006elements`, chapters 8 and 17); the InfoNCE chapter
# ({doc}`01_infonce_demi`), for mutual-information lower bounds. Piecewise-affine networks are
# introduced here as far as needed.

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
from torch.func import jacrev
import pandas as pd

from reptutor import claims, plot, runtime
from reptutor.estimators import (
    gaussian_entropy,
    gaussian_mutual_information,
    hadamard_gap_bounds,
    knn_entropy,
    logdet_entropy,
    vicreg_information_bound,
)
from reptutor.losses import invariance_term, vicreg_terms
from reptutor.models import MLP
from reptutor.train import fit

seed = runtime.seed_everything(0)
dev = runtime.device()
cfg = runtime.pick(
    ci=dict(in_dim=4, hidden=[32, 32, 32], out_dim=2,       # Experiment 1: a random ReLU net
            samples=4000, n_sigma=8, sigma_max=3.0, repeats=3, wide=3.0,
            views_dim=10, emb_dim=3, pairs=4000,            # Experiment 2: linear, Gaussian
            steps=800, batch=512, lr=1e-2, cov_weights=[0.0, 1.0, 25.0], log_every=20),
    full=dict(in_dim=16, hidden=[256, 256, 256], out_dim=4,
              samples=50000, n_sigma=16, sigma_max=3.0, repeats=3, wide=3.0,
              views_dim=64, emb_dim=8, pairs=100000,
              steps=5000, batch=4096, lr=5e-3, cov_weights=[0.0, 0.25, 1.0, 5.0, 25.0],
              log_every=50),
)
plot.set_theme()
print(f"seed={seed} device={dev} scale={runtime.scale()}")

# %% [markdown]
# ## Deterministic networks and Gaussian outputs
#
# The paper writes the network $f$; this book writes the encoder $\phi_\theta$, or $\phi$ when
# its parameters play no role, and keeps $f$ for critics (the {doc}`notation page </book/notation>`).
#
# A deterministic encoder $Z=\phi(X)$ of a continuous input carries *infinite* information about
# it: $H(Z\mid X)=-\infty$. Information-theoretic accounts of deep learning often make the network
# stochastic (add noise to its units) to get finite quantities. The paper instead puts the
# randomness in the data, which is where augmentations put it anyway.
#
# ```{prf:definition} Noisy training points and piecewise-affine networks
# :label: p46-def-setting
#
# *Data.* Training points $x_1,\dots,x_N\in\mathbb R^d$. A sample picks $n$ uniformly and returns
# $X=x_n+\varepsilon$ with $\varepsilon\sim\mathcal N(0,\Sigma_x)$. Two views $X, X'$ of one
# sample share $n$ and have independent noises. So $p(x)=\frac1N\sum_n\mathcal N(x;x_n,\Sigma_x)$.
#
# *Network.* $\phi:\mathbb R^d\to\mathbb R^D$ is continuous and piecewise affine (CPA): the input
# space is partitioned into regions $\omega$ on each of which $\phi(x)=A_\omega x+b_\omega$. ReLU
# and leaky-ReLU MLPs are CPA. Write $A_n, b_n$ for the affine map of the region $\omega(x_n)$
# that contains $x_n$.
# ```
#
# For a ReLU MLP the region of $x_n$ is a polytope. Let $h_j(x)$, $j=1..H$, be all hidden
# pre-activations written in their affine form on that region. The region is the set where every
# $h_j$ keeps the sign it has at $x_n$ (if the signs agree, all layers compute the same affine
# maps, by induction over layers). Its walls are the hyperplanes $h_j=0$, at distances
# $d_j=|h_j(x_n)|/\lVert\nabla h_j\rVert$ from $x_n$. Call $r_n=\min_j d_j$ the distance to the
# nearest *knot*.
#
# ```{prf:theorem} A CPA network maps noise around a training point to a Gaussian
# :label: p46-thm-gaussian
#
# In the setting of {prf:ref}`p46-def-setting`, assume, as the paper does, that the noise around
# $x_n$ stays inside the region $\omega(x_n)$. Then
#
# $$
# Z\mid n\ \sim\ \mathcal N\big(A_nx_n+b_n,\ A_n\Sigma_xA_n^\top\big),\qquad
# p(z)=\frac1N\sum_{n=1}^N\mathcal N\big(z;\,A_nx_n+b_n,\ A_n\Sigma_xA_n^\top\big),
# $$
#
# and, when $A_n$ has full row rank $D\le d$,
# $H(Z\mid n)=\tfrac12\log\det\big(2\pi e\,A_n\Sigma_xA_n^\top\big)$ is finite. For Gaussian
# noise, which is never confined to a region, the assumption fails with probability
# $\delta_n=P(x_n+\varepsilon\notin\omega(x_n))$, and the law of $Z\mid n$ is within total
# variation $\delta_n$ of that Gaussian. With isotropic noise $\Sigma_x=\sigma^2I$,
#
# $$
# \delta_n\ \le\ \sum_{j=1}^H\bar\Phi\big(d_j/\sigma\big),
# $$
#
# where $\bar\Phi$ is the standard normal tail. In particular $\delta_n\approx0$ once
# $\sigma\ll r_n$.
# ```
#
# ```{prf:proof}
# On the event $E=\{x_n+\varepsilon\in\omega(x_n)\}$, $\phi(x_n+\varepsilon)=A_n(x_n+\varepsilon)+b_n$.
# So $\phi(x_n+\varepsilon)$ and the Gaussian variable $A_n(x_n+\varepsilon)+b_n$ are equal outside
# an event of probability $P(E^c)=\delta_n$, and the total variation between their laws is at
# most $\delta_n$. An affine image of $\mathcal N(x_n,\Sigma_x)$ is
# $\mathcal N(A_nx_n+b_n,A_n\Sigma_xA_n^\top)$, whose entropy is
# $\tfrac12\log\det(2\pi e\,A_n\Sigma_xA_n^\top)$ ({cite}`cover2006elements`, Thm. 8.4.1).
# Averaging over $n$ gives the mixture. To leave the polytope, $x_n+\varepsilon$ must cross at
# least one wall. The signed distance of $x_n+\varepsilon$ to wall $j$, measured towards the
# wall, is $\mathcal N(-d_j,\sigma^2)$, so it crosses with probability $\bar\Phi(d_j/\sigma)$.
# A union bound over the walls finishes the proof.
# ```
#
# The paper states the first part, with the noise truncated to its effective support inside the
# region. The explicit $\delta_n$ and its union bound are our additions, so that the assumption
# can be *measured* in Experiment 1.
#
# ## VICReg as a bound on the information between views
#
# ```{prf:definition} The VICReg loss (official-code normalization)
# :label: p46-def-vicreg
#
# For two batches $Z,Z'\in\mathbb R^{N\times D}$ of paired embeddings, let
# $C=\frac1{N-1}\sum_i(z_i-\bar z)(z_i-\bar z)^\top$ be the covariance of $Z$. Then
#
# $$
# s(Z,Z')=\frac1{ND}\sum_i\lVert z_i-z_i'\rVert^2,\quad
# v(Z)=\frac1D\sum_k\max\big(0,\gamma-\sqrt{C_{kk}+\epsilon}\big),\quad
# c(Z)=\frac1D\sum_{k\ne l}C_{kl}^2,
# $$
#
# $$
# \mathcal L=\lambda\,s(Z,Z')+\mu\,\tfrac12\big[v(Z)+v(Z')\big]+\nu\,\big[c(Z)+c(Z')\big],
# $$
#
# with $\lambda=\mu=25$, $\nu=1$, $\gamma=1$, $\epsilon=10^{-4}$. These are the constants of the
# official code, which `reptutor.losses.vicreg_loss` follows. The printed equations of
# {cite}`bardes2022vicreg` *sum* the two variance terms and the invariance term over the $D$
# coordinates. That is a $2\times$ larger variance weight and a $D\times$ larger invariance weight
# for the same $\lambda,\mu$.
# ```
#
# The information-theoretic reading rests on one inequality. For any conditional density $q$,
# $H(Z\mid Z')\le\mathbb E[-\log q(Z\mid Z')]$ (the gap is an expected KL divergence).
#
# ```{prf:proposition} The invariance term bounds a conditional entropy; VICReg bounds the information
# :label: p46-prop-bound
#
# Let $s=\frac1D\mathbb E\lVert Z-Z'\rVert^2$, the population value of the invariance term. Then
#
# $$
# H(Z\mid Z')\ \le\ \tfrac D2\log(2\pi e\,s)
# \qquad\text{and so}\qquad
# I(Z;Z')\ \ge\ H(Z)-\tfrac D2\log(2\pi e\,s).
# $$
#
# If $Z$ is Gaussian with covariance $C$, then $H(Z)=\tfrac12\log\det(2\pi e\,C)$ and
#
# $$
# I(Z;Z')\ \ge\ I_{\mathrm{VIC}}:=\tfrac12\log\det C-\tfrac D2\log s .
# $$
#
# $I_{\mathrm{VIC}}$ is unchanged when both views are rescaled by the same factor. Because
# $Z'=\phi(X')$, it also bounds $I(Z;X')\ge I(Z;Z')$, the quantity of the paper.
# ```
#
# ```{prf:proof}
# Take $q(z\mid z')=\mathcal N(z;z',tI)$. Then
# $\mathbb E[-\log q]=\tfrac D2\log(2\pi t)+\tfrac{Ds}{2t}$, which is smallest at $t=s$, where it
# equals $\tfrac D2\log(2\pi e\,s)$. Subtract from $H(Z)$. For the Gaussian case, expand
# $\tfrac12\log\det(2\pi e\,C)=\tfrac D2\log(2\pi e)+\tfrac12\log\det C$; the $\log(2\pi e)$
# terms cancel. Rescaling $Z\to aZ$ adds $D\log|a|$ to both terms.
# ```
#
# ```{prf:remark} Which decoder: the paper's and VICReg's, or ours
# :label: p46-rem-decoder
#
# The proof leaves the decoder variance $t$ free. For any *fixed* $t$ it gives
# $I(Z;Z')\ge H(Z)-\tfrac D2\log(2\pi t)-\tfrac{D}{2t}\,s$, a bound that is *linear* in $s$.
# That is the form of VICReg's loss, whose invariance term enters as $\lambda s$ (so
# $\lambda$ plays the role of $D/2t$), and the paper's derivation likewise uses a Gaussian
# $q$ of fixed variance. $I_{\mathrm{VIC}}$ optimizes $t$ instead ($t=s$), which turns
# $\tfrac{D}{2t}s$ into $\tfrac D2\log s$. That choice is this chapter's refinement, not the
# paper's or VICReg's: it is the tightest isotropic-decoder bound and it is scale-invariant,
# which makes it a fair yardstick along training. It is *not* what VICReg minimizes: at a fixed
# scale both decrease with $s$, but VICReg's gradient in $s$ is the constant $\lambda$, while
# $I_{\mathrm{VIC}}$'s is $D/(2s)$, which grows as the views agree.
# ```
#
# For a non-Gaussian $Z$, $\tfrac12\log\det(2\pi e\,C)$ is an *upper* bound on $H(Z)$: the
# Gaussian has maximal entropy for a given covariance ({cite}`cover2006elements`, Thm. 8.6.5).
# Replacing $H(Z)$ by it, as VICReg implicitly does, then no longer gives a guaranteed lower
# bound on $I(Z;Z')$. The NeurIPS version of the paper lists the Gaussian assumption among the
# assumptions of this step in the section that relates the VICReg objective to mutual
# information, and for that reason replaces the log-determinant by other entropy estimators
# (LogDet and pairwise-distance estimators) in the later section that introduces its new
# information-theoretic self-supervised objectives. {prf:ref}`p46-thm-gaussian` is what makes
# the Gaussian form reasonable: the output is a *mixture* of Gaussians, and Gaussian itself if
# there is a single component (for example, a single region, as for a linear encoder).
#
# ### Where the variance and covariance terms come in
#
# VICReg never computes $\log\det C$. The paper reads its variance and covariance terms as a
# proxy for it. Here is that relation made exact. Write $R$ for the correlation matrix,
# $R_{kl}=C_{kl}/\sqrt{C_{kk}C_{ll}}$, and let $\lambda_{\min},\lambda_{\max}$ be its extreme
# eigenvalues (no relation to the invariance weight $\lambda$).
#
# ```{prf:proposition} log det C is the diagonal term minus a gap that the covariance term controls
# :label: p46-prop-hadamard
#
# $$
# \log\det C=\sum_k\log C_{kk}-g(C),\qquad g(C)=-\log\det R\ \ge\ 0,
# $$
#
# with $g(C)=0$ iff $C$ is diagonal (Hadamard's inequality, {cite}`cover2006elements`,
# Thm. 17.9.2), and
#
# $$
# \frac{\lVert R-I\rVert_F^2}{2\lambda_{\max}^2}\ \le\ g(C)\ \le\
# \frac{\lVert R-I\rVert_F^2}{2\lambda_{\min}^2},\qquad
# \lVert R-I\rVert_F^2=\sum_{k\ne l}R_{kl}^2 .
# $$
#
# Consequently, if VICReg's variance term of the branch is zero, so that
# $C_{kk}\ge v:=\gamma^2-\epsilon$ for every $k$, and its covariance term is $c(Z)$, then
#
# $$
# \tfrac12\log\det(2\pi e\,C)\ \ge\ \tfrac D2\log(2\pi e\,v)\ -\ \frac{D\,c(Z)}{4\,v^2\lambda_{\min}^2}.
# $$
# ```
#
# ```{prf:proof}
# $C=V^{1/2}RV^{1/2}$ with $V=\mathrm{diag}(C)$ gives the identity. Let $\lambda_i$ be the
# eigenvalues of $R$. Since $\operatorname{tr}R=D$, $\sum_i(\lambda_i-1)=0$, so
# $g=-\sum_i\log\lambda_i=\sum_i\psi(\lambda_i)$ with $\psi(\lambda)=\lambda-1-\log\lambda\ge0$.
# Taylor's theorem with $\psi(1)=\psi'(1)=0$ and $\psi''(\lambda)=1/\lambda^2$ gives
# $\psi(\lambda_i)=(\lambda_i-1)^2/(2\xi_i^2)$ for some $\xi_i$ between 1 and $\lambda_i$. As
# $\lambda_{\min}\le1\le\lambda_{\max}$, $\xi_i\in[\lambda_{\min},\lambda_{\max}]$. Sum, using
# $\sum_i(\lambda_i-1)^2=\lVert R-I\rVert_F^2$. For the last claim,
# $\sum_k\log C_{kk}\ge D\log v$ and
# $\lVert R-I\rVert_F^2=\sum_{k\ne l}C_{kl}^2/(C_{kk}C_{ll})\le D\,c(Z)/v^2$.
# ```
#
# So the three terms split the work. The variance term fixes the scale by putting a floor under
# $\sum_k\log C_{kk}$. The covariance term closes the Hadamard gap: to second order,
# $g\approx\tfrac12\sum_{k\ne l}R_{kl}^2$. The invariance term, measured against that fixed
# scale, shrinks the conditional-entropy bound. The scale needs fixing because VICReg's loss,
# unlike $I_{\mathrm{VIC}}$, is *not* scale-invariant: shrinking both views by a factor $a<1$
# multiplies the invariance term by $a^2$ and the covariance term by $a^4$, so without the
# variance term the loss is minimized by collapsing the embedding towards a point, where
# $\log\det C\to-\infty$. The variance hinge is flat above $\gamma$ and steep below it, so it
# stops that shrinking at $\sqrt{C_{kk}}\approx\gamma$; at that scale, lowering $s$ is the same
# as raising $I_{\mathrm{VIC}}$. Without the covariance term, $\log\det C$ can be far below
# $\sum_k\log C_{kk}$: the coordinates may all copy the most invariant direction.
#
# For two coordinates with correlation $\rho$ everything is explicit: $g=-\log(1-\rho^2)$, and the
# bounds are $\rho^2/(1+|\rho|)^2$ and $\rho^2/(1-|\rho|)^2$. The figure evaluates
# `hadamard_gap_bounds` on such matrices.

# %%
rhos = np.linspace(-0.95, 0.95, 39)
gap2 = [hadamard_gap_bounds(torch.tensor([[1.0, r], [r, 1.0]], dtype=torch.float64)) for r in rhos]
ax = plot.measured_vs_theory(rhos, [b.gap.item() for b in gap2], theory=-np.log(1 - rhos**2),
                             label="hadamard_gap", theory_label=r"$-\log(1-\rho^2)$", marker=".")
ax.fill_between(rhos, [b.lower.item() for b in gap2], [b.upper.item() for b in gap2],
                color=plot.PALETTE["baseline"], alpha=0.25, label="two-sided bound")
ax.set_ylim(0, 3)
ax.set_xlabel(r"correlation $\rho$")
ax.set_ylabel("gap (nats)")
ax.set_title("Hadamard gap of a 2x2 correlation")
ax.legend(frameon=False);

# %% [markdown]
# ## From scratch
#
# The whole loss in plain torch, in the official code's normalization, checked against
# `reptutor.losses.vicreg_terms`. Then the bound of {prf:ref}`p46-prop-bound` from a sample.

# %%
def vicreg_from_scratch(za, zb, lam=25.0, mu=25.0, nu=1.0, gamma=1.0, eps=1e-4):
    n, d = za.shape
    inv = ((za - zb) ** 2).mean()                      # s: mean over the N*D entries

    def var_cov(z):
        zc = z - z.mean(0)                             # (N, D) centred
        cov = zc.T @ zc / (n - 1)                      # (D, D) covariance C
        v = torch.relu(gamma - torch.sqrt(cov.diagonal() + eps)).mean()
        c = (cov**2).sum() - (cov.diagonal() ** 2).sum()
        return v, c / d

    (va, ca), (vb, cb) = var_cov(za), var_cov(zb)
    var, cov = 0.5 * (va + vb), ca + cb                # variance averaged, covariance summed
    return lam * inv + mu * var + nu * cov, inv, var, cov


g_check = runtime.generator(seed)
za = 0.7 * torch.randn(256, 5, generator=g_check, dtype=torch.float64)
zb = za + 0.2 * torch.randn(256, 5, generator=g_check, dtype=torch.float64)
torch.testing.assert_close(torch.stack(vicreg_from_scratch(za, zb)), torch.stack(tuple(vicreg_terms(za, zb))))
sample_bound = vicreg_information_bound(torch.cov(za.T), invariance_term(za, zb))
print(f"VICReg terms agree; I_VIC on this sample = {sample_bound:.3f} nats")

# %% [markdown]
# ## Experiment 1: a random ReLU network around one training point
#
# We take a random ReLU MLP $\mathbb R^{4}\to\mathbb R^{2}$ (at ci scale; three hidden layers of
# 32; all in float64), one training point $x_n$, and isotropic noise $\sigma\varepsilon$. We compute the
# local affine map $A_n$ (the Jacobian at $x_n$), the wall distances $d_j$ and the knot distance
# $r_n$. For noise levels from $r_n/4$ up to $\sigma=3$ (the scale of the input itself) we
# measure:
#
# * the fraction of noisy inputs whose activation pattern differs from $x_n$'s (they left the
#   region), against the union bound of {prf:ref}`p46-thm-gaussian`;
# * the entropy of the outputs by the Kozachenko-Leonenko nearest-neighbour estimator
#   (`knn_entropy`, which assumes nothing about the shape of the density), against the closed
#   form $\tfrac12\log\det(2\pi e\,\sigma^2A_nA_n^\top)$ and against the Gaussian log-det entropy
#   of the sample covariance (`logdet_entropy`).

# %%
dev1 = dev if dev.type == "cuda" else torch.device("cpu")  # float64 needs CPU or CUDA
net = MLP(cfg["in_dim"], cfg["hidden"], cfg["out_dim"]).to(dev1, torch.float64).eval()


def pre_activations(x):
    """All hidden pre-activations h_j(x), concatenated: (N, H). The output layer has no knot."""
    hs = []
    for layer in net.layers:
        x = layer(x)
        if isinstance(layer, nn.Linear):
            hs.append(x)
    return torch.cat(hs[:-1], dim=1)


gen = runtime.generator(seed + 1, dev1)
x_n = torch.randn(cfg["in_dim"], generator=gen, dtype=torch.float64, device=dev1)
with torch.no_grad():
    h_n = pre_activations(x_n[None])[0]                               # (H,)
grad_h = jacrev(lambda x: pre_activations(x[None])[0])(x_n)            # (H, d) wall normals
A_n = jacrev(lambda x: net(x[None])[0])(x_n)                           # (D, d) local affine map
wall = h_n.abs() / grad_h.norm(dim=1).clamp_min(1e-300)                # (H,) distances d_j
r_n = wall.min().item()
pattern_n = h_n > 0
sigmas = np.geomspace(r_n / 4, cfg["sigma_max"], cfg["n_sigma"])
rows = []
for sigma in sigmas:
    x = x_n + sigma * torch.randn(cfg["samples"], cfg["in_dim"], generator=gen, dtype=torch.float64,
                                  device=dev1)
    with torch.no_grad():
        z = net(x)                                                     # (N, D) outputs
        left = (pre_activations(x) > 0).ne(pattern_n).any(dim=1)       # (N,) left the region
    rows.append(dict(
        sigma=sigma,
        escaped=left.double().mean().item(),
        union_bound=min(1.0, torch.special.ndtr(-wall / sigma).sum().item()),
        knn=knn_entropy(z).item(),
        logdet=logdet_entropy(z).item(),
        closed=gaussian_entropy(sigma**2 * A_n @ A_n.T).item(),
    ))
res = {key: np.array([r[key] for r in rows]) for key in rows[0]}
runtime.glue("P46.r", r_n)
runtime.glue("P46.regions", int(pattern_n.numel()))
print(f"knot distance r_n = {r_n:.2e}; {pattern_n.numel()} hidden units")
for r in rows:
    print(f"sigma/r = {r['sigma'] / r_n:10.2f}  escaped {r['escaped']:.3f} (bound {r['union_bound']:.3f})"
          f"  kNN - closed {r['knn'] - r['closed']:+.3f}  logdet - kNN {r['logdet'] - r['knn']:+.3f}")

# %% [markdown]
# The invariance term at the smallest noise. Two views $x_n+\sigma\varepsilon$ and
# $x_n+\sigma\varepsilon'$ give $s=\frac1D\mathbb E\lVert Z-Z'\rVert^2=2\sigma^2\operatorname{tr}(A_nA_n^\top)/D$
# inside the region. {prf:ref}`p46-prop-bound` says $\tfrac D2\log(2\pi e\,s)$ bounds the
# conditional entropy $H(Z\mid X')$, here $H(Z\mid n)$. The slack is known in closed form:
#
# $$
# \tfrac D2\log(2\pi e\,s)-H(Z\mid n)
#   =\tfrac D2\log 2+\Big[\tfrac D2\log\tfrac{\operatorname{tr}\Sigma_n}{D}-\tfrac12\log\det\Sigma_n\Big],
# \qquad \Sigma_n=\sigma^2A_nA_n^\top .
# $$
#
# The first part is the price of centring the decoder on the *noisy* other view instead of the
# mean: it doubles the variance. The bracket is the arithmetic-geometric-mean gap of the
# eigenvalues of $\Sigma_n$, the price of an isotropic decoder. We measure the left side with the
# sample invariance term and the kNN entropy, each averaged over `repeats` independent pairs of
# views (which also gives the entropy that the claims compare with the closed form).

# %%
sigma0 = sigmas[0]
D_out = cfg["out_dim"]
cov_n = sigma0**2 * A_n @ A_n.T                                        # (D, D) Sigma_n
h_small, s_small = [], []
for _ in range(cfg["repeats"]):
    eps_a, eps_b = (torch.randn(cfg["samples"], cfg["in_dim"], generator=gen, dtype=torch.float64,
                                device=dev1) for _ in range(2))
    with torch.no_grad():
        z_a, z_b = net(x_n + sigma0 * eps_a), net(x_n + sigma0 * eps_b)  # two views of x_n
    h_small.append(knn_entropy(z_a).item())
    s_small.append(invariance_term(z_a, z_b).item())
h_small, s_measured = float(np.mean(h_small)), float(np.mean(s_small))
h_closed = gaussian_entropy(cov_n).item()
slack_measured = 0.5 * D_out * math.log(2 * math.pi * math.e * s_measured) - h_small
slack_theory = (0.5 * D_out * math.log(2) + 0.5 * D_out * math.log(torch.trace(cov_n).item() / D_out)
                - 0.5 * torch.logdet(cov_n).item())
print(f"H(Z|n): kNN {h_small:.3f}, closed form {h_closed:.3f} nats")
print(f"invariance term s = {s_measured:.3e} (theory {2 * torch.trace(cov_n).item() / D_out:.3e})")
print(f"slack of the invariance bound: measured {slack_measured:.3f}, theory {slack_theory:.3f} nats")
runtime.glue("P46.slack-theory", slack_theory)

# %% [markdown]
# The same measurement outside the theorem's assumption, at $\sigma=r_n$ and at
# $\sigma=$ {glue:text}`P46.wide` $r_n$, where a sizeable share of the noisy inputs leaves the
# region of $x_n$ and the theorem guarantees nothing. How far is the output entropy from the local
# Gaussian value?

# %%
def entropy_gap(multiple):
    """Escaped fraction and kNN entropy minus the local Gaussian value at sigma = multiple r_n."""
    sigma, h, esc = multiple * r_n, [], []
    for _ in range(cfg["repeats"]):
        x = x_n + sigma * torch.randn(cfg["samples"], cfg["in_dim"], generator=gen,
                                      dtype=torch.float64, device=dev1)
        with torch.no_grad():
            esc.append((pre_activations(x) > 0).ne(pattern_n).any(dim=1).double().mean().item())
            h.append(knn_entropy(net(x)).item())
    return float(np.mean(esc)), float(np.mean(h)) - gaussian_entropy(sigma**2 * A_n @ A_n.T).item()


esc_near, dev_near = entropy_gap(1.0)
esc_wide, dev_wide = entropy_gap(cfg["wide"])
runtime.glue("P46.wide", cfg["wide"])
runtime.glue("P46.near-escaped", esc_near)
runtime.glue("P46.wide-escaped", esc_wide)
runtime.glue("P46.near-deviation", dev_near)
runtime.glue("P46.wide-deviation", dev_wide)
for name, m, esc, dev in [("r_n", 1.0, esc_near, dev_near), ("wide", cfg["wide"], esc_wide, dev_wide)]:
    print(f"sigma = {m:g} r_n: {esc:.3f} of the inputs left the region; "
          f"kNN entropy - local Gaussian = {dev:+.3f} nats")

# %% [markdown]
# Left: how often the noise leaves the region, against the union bound. Right: the entropies
# minus the closed form $\tfrac12\log\det(2\pi e\,\sigma^2A_nA_n^\top)$ of the local affine map.
# The theory line is at 0. The log-det entropy of the sample is the Gaussian upper bound.

# %%
fig, axes = plot.subplots(2, width=5.0, height=3.6)
ratio = res["sigma"] / r_n
ax = plot.measured_vs_theory(ratio, res["escaped"], theory=res["union_bound"],
                             label="measured", theory_label="union bound", ax=axes[0, 0])
ax.set_xscale("log")
ax.set_xlabel(r"$\sigma / r_n$")
ax.set_ylabel("fraction that left the region")
ax.set_title("The small-noise assumption")
ax = plot.measured_vs_theory(ratio, res["knn"] - res["closed"], theory=0.0,
                             label="kNN entropy", theory_label="local Gaussian (theory)",
                             ax=axes[0, 1])
ax.plot(ratio, res["logdet"] - res["closed"], marker="s", color=plot.PALETTE["highlight"],
        label="Gaussian log-det of the sample")
ax.set_xscale("log")
ax.set_xlabel(r"$\sigma / r_n$")
ax.set_ylabel(r"$H - \frac{1}{2}\log\det(2\pi e\,\sigma^2 A_n A_n^T)$ (nats)")
ax.set_title("Output entropy")
ax.legend(frameon=False, fontsize=8);

# %% [markdown]
# Three things to read off. While $\sigma\ll r_n$, nothing leaves the region, and the kNN
# entropy agrees with the closed form: the deterministic network's output *is* Gaussian, with a
# finite entropy. Second, the knot distance is tiny: $r_n=$ {glue:text}`P46.r:.1e` here, with
# {glue:text}`P46.regions` hidden units and inputs of scale 1. So the assumption holds only
# for very small noise, far smaller than any realistic augmentation. Yet crossing the first
# walls changes the entropy little: at $\sigma=r_n$, where a fraction
# {glue:text}`P46.near-escaped:.2f` of the noisy inputs left the region, the kNN entropy differs
# from the local Gaussian value by {glue:text}`P46.near-deviation:+.3f` nats (neighbouring regions
# have similar slopes), while that value itself moves by $D\log$ of the noise ratio, several nats
# across the figure. Farther out the deviation grows at a rate that depends on the network: at
# {glue:text}`P46.wide` $r_n$ it is {glue:text}`P46.wide-deviation:+.2f` nats here, and over the
# networks of seeds 0-4 and 5-9 it ranged over {glue:text}`P46.entropy-robust-wide.seeds-0-4` and
# {glue:text}`P46.entropy-robust-wide.seeds-5-9` nats (the not-reproduced record
# `P46.entropy-robust-wide` below). Only when the noise spans many regions ($\sigma$ near the
# input scale) does the output become clearly non-Gaussian. There the log-det entropy, an upper bound,
# exceeds the kNN estimate, and the local closed form is simply wrong.
#
# By how much does the log-det entropy over-state $H(Z)$ there? One kNN estimate from 4000
# samples varies by one to two hundredths of a nat from draw to draw, so we average the
# difference (log-det minus kNN) over `repeats` fresh draws, at $\sigma=3$ and, as a control, at
# $\sigma=r_n/4$, where the output is Gaussian and the two estimates should agree.

# %%
def logdet_overshoot(sigma, generator):
    """Log-det minus kNN entropy of the outputs at noise sigma, mean over `repeats` draws."""
    gaps = []
    for _ in range(cfg["repeats"]):
        x = x_n + sigma * torch.randn(cfg["samples"], cfg["in_dim"], generator=generator,
                                      dtype=torch.float64, device=dev1)
        with torch.no_grad():
            z = net(x)
        gaps.append((logdet_entropy(z) - knn_entropy(z)).item())
    return float(np.mean(gaps))


gen_overshoot = runtime.generator(seed + 4, dev1)  # its own draws, so the cells above are unchanged
overshoot_wide = logdet_overshoot(cfg["sigma_max"], gen_overshoot)
overshoot_small = logdet_overshoot(r_n / 4, gen_overshoot)
runtime.glue("P46.overshoot-wide", overshoot_wide)
runtime.glue("P46.overshoot-small", overshoot_small)
print(f"log-det minus kNN entropy: {overshoot_wide:+.3f} nats at sigma = {cfg['sigma_max']:g}, "
      f"{overshoot_small:+.3f} at sigma = r_n / 4")

# %% [markdown]
# Here the log-det entropy exceeds the kNN estimate by {glue:text}`P46.overshoot-wide:.3f` nats at
# $\sigma=3$ and by {glue:text}`P46.overshoot-small:+.3f` at $\sigma=r_n/4$. The first number
# depends on the network: it is a property of how non-Gaussian this particular network makes
# the noise, not of the estimators.
#
# ## Experiment 2: linear VICReg on Gaussian views, where everything is exact
#
# To measure the bound itself, we need $I(Z;Z')$ exactly. Take $x=u+\eta$ and $x'=u+\eta'$ with a
# shared signal $u\sim\mathcal N(0,\Sigma_u)$ and independent noises
# $\eta,\eta'\sim\mathcal N(0,\Sigma_\eta)$ in $\mathbb R^d$ ($d=10$ at ci scale). Encode them with
# one linear map, $z=M^\top x\in\mathbb R^D$ ($D=3$). Then $(Z,Z')$ is jointly Gaussian with $C=M^\top\Sigma_xM$
# ($\Sigma_x=\Sigma_u+\Sigma_\eta$), cross-covariance $M^\top\Sigma_uM$, and
# $s=2\operatorname{tr}(M^\top\Sigma_\eta M)/D$. So `gaussian_mutual_information` gives
# $I(Z;Z')$ exactly and `vicreg_information_bound` gives $I_{\mathrm{VIC}}$ exactly, for every
# $M$ along training. The largest $I(Z;Z')$ over rank-$D$ maps,
# $I_{\max}=-\tfrac12\sum_{k\le D}\log(1-\rho_k^2)$, comes from the top generalized eigenvalues
# $\rho_k$ of $(\Sigma_u,\Sigma_x)$ (the canonical correlations of the two views).
#
# Does VICReg find that subspace? Balestriero and LeCun {cite}`balestriero2022contrastive` show
# that VICReg is a spectral embedding method: with its variance and covariance terms read as the
# constraint $C=I$, it minimizes a graph-Laplacian quadratic form on the graph that links the two
# views of each sample, and for a linear encoder this is a generalized eigenproblem (locality
# preserving projections). In this Gaussian model that eigenproblem is canonical correlation
# analysis, and CCA is the information-maximizing linear encoder.
#
# ```{prf:proposition} Linear VICReg recovers CCA, which maximizes the information
# :label: p46-prop-cca
#
# Let $z=M^\top x$ with $M\in\mathbb R^{d\times D}$, weights $\lambda=\mu$ (25 each), $\gamma=1$
# and $\epsilon\to0$. (i) Among encoders with diagonal $C$ (covariance term zero), VICReg's
# population loss is minimized by the $M$ whose columns are the top-$D$ generalized eigenvectors $w_k$ of $(\Sigma_u,\Sigma_x)$,
# scaled to the standard deviations $\sigma_k=\min\big(1,\tfrac1{4(1-\rho_k)}\big)$ (up to
# signs and rotations within equal $\rho_k$). (ii) For any $M$ of rank $D$, $I(Z;Z')\le I_{\max}$,
# with equality on that subspace, whatever the scales. So VICReg's optimum carries the maximal
# information, and when $\rho_D\ge\tfrac34$ every coordinate sits exactly at the variance floor
# $C_{kk}=\gamma^2$.
# ```
#
# ```{prf:proof}
# (i) Write column $k$ as $\sigma_kw_k$ with $w_k^\top\Sigma_xw_k=1$. With $C$ diagonal,
# $s=\tfrac1D\sum_k2\sigma_k^2\,w_k^\top\Sigma_\eta w_k=\tfrac2D\sum_k\sigma_k^2(1-r_k)$, where
# $r_k=w_k^\top\Sigma_uw_k$ is the correlation of $z_k$ and $z'_k$ (because
# $\Sigma_\eta=\Sigma_x-\Sigma_u$), and the variance term is $\tfrac1D\sum_k(1-\sigma_k)_+$
# (with $\epsilon\to0$). For fixed directions the loss splits over $k$ into
# $\tfrac1D\big[2\lambda(1-r_k)\sigma_k^2+\mu(1-\sigma_k)_+\big]$, minimized at
# $\sigma_k=\min\big(1,\mu/(4\lambda(1-r_k))\big)$, with a minimum $h(r_k)$ that is
# decreasing and concave in $r_k$ (a minimum of affine functions of $r_k$). $C$ diagonal makes
# $W=(w_1,\dots,w_D)$ $\Sigma_x$-orthonormal, and the $r_k$ are the diagonal of
# $W^\top\Sigma_uW$. Its eigenvalues are at most $\rho_1,\dots,\rho_D$ (Poincaré separation), and
# a concave function summed over a diagonal is at least its sum over the eigenvalues
# (Schur-Horn), so $\sum_kh(r_k)\ge\sum_kh(\rho_k)$, with equality for the top generalized
# eigenvectors, where $r_k=\rho_k$. This is the linear case of the spectral-embedding theorem of
# {cite}`balestriero2022contrastive`, with $\mathbb E[(x-x')(x-x')^\top]=2\Sigma_\eta$ as the
# pair graph's quadratic form. (ii) $(Z,Z')$ is Gaussian with $\operatorname{Cov}Z=M^\top\Sigma_xM$
# and $\operatorname{Cov}(Z,Z')=M^\top\Sigma_uM$, so its canonical correlations are the generalized
# eigenvalues of $(M^\top\Sigma_uM,M^\top\Sigma_xM)$, and
# $I(Z;Z')=-\tfrac12\sum_k\log(1-\rho_k(M)^2)$. By Poincaré separation again
# $\rho_k(M)\le\rho_k$, with equality when the columns of $M$ span the top-$D$ eigenvectors.
# The information does not change under an invertible mixing of the coordinates, so the scales
# $\sigma_k$ do not matter.
# ```
#
# VICReg's actual terms are penalties, not constraints: the covariance weight $\nu$ is finite,
# the variance term acts on mini-batches, and Adam stops after a few hundred steps. The claims
# below therefore ask for a ratio $I/I_{\max}$ near 1 and variances near the floor, not
# equality.
#
# We train the linear encoder with VICReg (inputs whitened once with their pooled sample
# covariance, so that Adam sees a well-conditioned problem) once per covariance weight, from the
# same initialization: $\nu\in\{0,1,25\}$ at ci scale. Every {glue:text}`P46.log-every` steps we
# record $I(Z;Z')$, $I_{\mathrm{VIC}}$ and the Hadamard gap with its two bounds, all at the
# population level.

# %%
d, D = cfg["views_dim"], cfg["emb_dim"]
gen = runtime.generator(seed + 2)
f64 = torch.float64
basis_u, basis_eta = (torch.randn(d, d, generator=gen, dtype=f64) for _ in range(2))
sigma_u = basis_u @ torch.diag(torch.linspace(3.0, 0.1, d, dtype=f64)) @ basis_u.T / d
sigma_eta = (basis_eta @ basis_eta.T / d + torch.eye(d, dtype=f64)) / 4  # well conditioned
sigma_x = sigma_u + sigma_eta
u = torch.randn(cfg["pairs"], d, generator=gen, dtype=f64) @ torch.linalg.cholesky(sigma_u).T
x_a, x_b = (u + torch.randn(cfg["pairs"], d, generator=gen, dtype=f64)
            @ torch.linalg.cholesky(sigma_eta).T for _ in range(2))
white = torch.linalg.inv(torch.linalg.cholesky(torch.cov(torch.cat([x_a, x_b]).T))).T  # x @ white
views = ((x_a @ white).float().to(dev), (x_b @ white).float().to(dev))

chol_x_inv = torch.linalg.inv(torch.linalg.cholesky(sigma_x))
rho = torch.linalg.eigvalsh(chol_x_inv @ sigma_u @ chol_x_inv.T).flip(0)  # canonical correlations
I_max = -0.5 * torch.log1p(-rho[:D] ** 2).sum().item()
print("canonical correlations:", rho.numpy().round(3), f" I_max = {I_max:.3f} nats")


def population(m):
    """Exact I(Z;Z'), I_VIC and the Hadamard gap for the encoder z = x @ m, m: (d, D)."""
    c, c_cross = m.T @ sigma_x @ m, m.T @ sigma_u @ m                  # (D, D) each
    joint = torch.cat([torch.cat([c, c_cross], 1), torch.cat([c_cross, c], 1)])  # (2D, 2D)
    s = 2 * torch.trace(m.T @ sigma_eta @ m) / D                       # invariance term
    gap = hadamard_gap_bounds(c)
    v = c.diagonal().min().item()                                      # smallest variance
    cov_term = ((c - torch.diag(c.diagonal())) ** 2).sum().item() / D  # VICReg's c(Z)
    lam_min = torch.linalg.eigvalsh(c / torch.outer(c.diagonal(), c.diagonal()).sqrt())[0].item()
    return dict(mi=gaussian_mutual_information(joint, D).item(),
                bound=vicreg_information_bound(c, s).item(),
                diag=0.5 * torch.log(c.diagonal()).sum().item(),       # variance part
                inv=-0.5 * D * math.log(s.item()),                     # invariance part
                gap=gap.gap.item(), lower=gap.lower.item(), upper=gap.upper.item(),
                min_var=v, entropy=gaussian_entropy(c).item(),
                floor_dev=(c.diagonal() - 1.0).abs().max().item(),            # max_k |C_kk - gamma^2|
                floor=0.5 * D * math.log(2 * math.pi * math.e * v) - D * cov_term / (4 * v**2 * lam_min**2))


w_init = 0.3 * torch.randn(D, d, generator=gen)
untrained = population(white @ w_init.to(f64).T)                      # the control: no training
random_ratio = untrained["mi"] / I_max
runtime.glue("P46.random-ratio", random_ratio)


def train(nu, mu=25.0):
    """Linear VICReg from w_init with covariance weight nu and variance weight mu."""
    enc = nn.Linear(d, D, bias=False).to(dev)
    with torch.no_grad():
        enc.weight.copy_(w_init)
    opt = torch.optim.Adam(enc.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"], eta_min=cfg["lr"] * 1e-3)
    trace = []

    def record(step, model, hist, sched=sched, trace=trace):
        sched.step()
        if step % cfg["log_every"] == 0 or step == 1:
            m = white @ model.weight.detach().to("cpu", f64).T        # (d, D) effective map
            trace.append(dict(step=step, **population(m)))

    def objective(model, batch):
        t = vicreg_terms(model(batch[0]), model(batch[1]), covariance_weight=nu,
                         variance_weight=mu)
        return {"loss": t.loss, "invariance": t.invariance, "variance": t.variance,
                "covariance": t.covariance}

    hist = fit(enc, objective, views, steps=cfg["steps"], batch_size=cfg["batch"], optimizer=opt,
               generator=runtime.generator(seed + 3), callback=record,
               desc=f"VICReg nu={nu:g} mu={mu:g}")
    weight = enc.weight.detach().to("cpu", f64)                          # (D, d) on whitened x
    return dict(hist=hist, weight=weight,
                trace={key: np.array([t[key] for t in trace]) for key in trace[0]})


runs = {nu: train(nu) for nu in cfg["cov_weights"]}
no_variance = train(1.0, mu=0.0)                # the control for the variance term (exercise 3a)
runtime.glue("P46.log-every", cfg["log_every"])
final = {nu: {key: v[-1] for key, v in run["trace"].items()} for nu, run in runs.items()}
nu_off, nu_strong = cfg["cov_weights"][0], cfg["cov_weights"][-1]
runtime.glue("P46.gap-off", final[nu_off]["gap"])
runtime.glue("P46.gap-default", final[1.0]["gap"])
runtime.glue("P46.gap-strong", final[nu_strong]["gap"])
runtime.glue("P46.ratio-off", final[nu_off]["mi"] / I_max)
runtime.glue("P46.ratio-default", final[1.0]["mi"] / I_max)
runtime.glue("P46.vic-off", final[nu_off]["bound"])
runtime.glue("P46.vic-default", final[1.0]["bound"])
for nu, run in runs.items():
    t = run["trace"]
    print(f"nu={nu:5g}: I/I_max = {t['mi'][-1] / I_max:.4f}  I_VIC = {t['bound'][-1]:.3f}  "
          f"I = {t['mi'][-1]:.3f}  gap = {t['gap'][-1]:.4f}  variance term {run['hist'].last('variance'):.4f}")

# %% [markdown]
# Left: exact information (solid) and $I_{\mathrm{VIC}}$ (dashed) along training, with
# $I_{\max}$. Right: the Hadamard gap $g(C)$ with its two-sided bound shaded, on a log scale.

# %%
fig, axes = plot.subplots(2, width=5.0, height=3.6)
colors = ["#ff7f0e", plot.PALETTE["measured"], plot.PALETTE["highlight"], "#9467bd", "#8c564b"]
for color, (nu, run) in zip(colors, runs.items()):
    t = run["trace"]
    axes[0, 0].plot(t["step"], t["mi"], color=color, label=rf"$I(Z;Z')$, $\nu$={nu:g}")
    axes[0, 0].plot(t["step"], t["bound"], color=color, linestyle="--")
    axes[0, 1].plot(t["step"], t["gap"], color=color, label=rf"$\nu$={nu:g}")
    axes[0, 1].fill_between(t["step"], t["lower"], t["upper"], color=color, alpha=0.15, linewidth=0)
plot.reference_line(axes[0, 0], I_max, r"$I_{\max}$")
axes[0, 0].set_ylim(bottom=min(0.0, min(r["trace"]["bound"].min() for r in runs.values())))
axes[0, 0].set_xlabel("step")
axes[0, 0].set_ylabel("nats (dashed: $I_{VIC}$)")
axes[0, 0].set_title("Exact information and the VICReg bound")
plot.legend_below(axes[0, 0])
axes[0, 1].set_yscale("log")
axes[0, 1].set_ylim(1e-4, 1e3)  # the upper bound is vacuous when R is nearly singular (nu = 0)
axes[0, 1].set_xlabel("step")
axes[0, 1].set_ylabel(r"$g(C)=\sum_k\log C_{kk}-\log\det C$")
axes[0, 1].set_title("Hadamard gap and its bounds")
plot.legend_below(axes[0, 1]);

# %% [markdown]
# The decomposition $I_{\mathrm{VIC}}=\tfrac12\sum_k\log C_{kk}-\tfrac12 g(C)-\tfrac D2\log s$
# at the end of training: the variance part, the covariance part, and the invariance part. The
# last columns put the log-det entropy $\tfrac12\log\det(2\pi e\,C)$ next to the floor that
# {prf:ref}`p46-prop-hadamard` certifies from the variance and covariance terms alone, with
# $v=\min_kC_{kk}$. The floor is tight when the covariance term is small, and vacuous (hugely
# negative) without it, when $R$ is nearly singular and $\lambda_{\min}\approx0$.

# %%
pd.DataFrame([{"nu": nu, "1/2 sum log C_kk": f["diag"], "-1/2 g(C)": -0.5 * f["gap"],
               "-D/2 log s": f["inv"], "I_VIC": f["bound"], "exact I": f["mi"],
               "I / I_max": f["mi"] / I_max, "min C_kk": f["min_var"],
               "1/2 log det(2 pi e C)": f["entropy"], "certified floor": f["floor"]}
              for nu, f in final.items()]).round(4)

# %% [markdown]
# What the covariance term does, seen in the embeddings themselves. Left and middle: the first
# two coordinates of the trained embeddings of the same views, without the covariance term and
# with $\nu=25$. Without it the coordinates are nearly copies of one another, so the cloud is a
# thin line: each coordinate has variance near the floor, yet the cloud spans almost no volume,
# and $\log\det C$ is far below $\sum_k\log C_{kk}$. With it the cloud is round. Right: what VICReg
# minimizes and what it is read as maximizing, along the default run ($\nu=1$). The loss falls
# while $I_{\mathrm{VIC}}$ rises, but the two are not the same function of the embedding
# ({prf:ref}`p46-rem-decoder`).

# %%
fig, axes = plot.subplots(3, width=3.6, height=3.4)
probe = views[0][:600].detach().to("cpu", f64)                       # (600, d) whitened views
for ax, nu, title in [(axes[0, 0], nu_off, "without covariance term"),
                      (axes[0, 1], nu_strong, rf"with covariance term, $\nu$={nu_strong:g}")]:
    z = probe @ runs[nu]["weight"].T                                  # (600, D) embeddings
    ax.scatter(z[:, 0], z[:, 1], s=4, alpha=0.5, color=plot.PALETTE["measured"])
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
ax = axes[0, 2]
hist_default, trace_default = runs[1.0]["hist"], runs[1.0]["trace"]
ax.plot(hist_default.step, hist_default["loss"], color=plot.PALETTE["measured"], alpha=0.7,
        label="VICReg loss (batch)")
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("loss")
twin = ax.twinx()
twin.plot(trace_default["step"], trace_default["bound"], color=plot.PALETTE["highlight"],
          label=r"$I_{\mathrm{VIC}}$")
twin.set_ylabel(r"$I_{\mathrm{VIC}}$ (nats)")
ax.set_title(r"Loss and $I_{\mathrm{VIC}}$, $\nu=1$")
plot.legend_below(ax, also=[twin])
runtime.glue("P46.no-variance-min-var", float(no_variance["trace"]["min_var"][-1]))
runtime.glue("P46.no-variance-ratio", float(no_variance["trace"]["mi"][-1] / I_max))
runtime.glue("P46.rho-d", float(rho[D - 1]))

# %% [markdown]
# What the runs show:
#
# * $I_{\mathrm{VIC}}$ stays below the exact information at every step, for every $\nu$, as
#   {prf:ref}`p46-prop-bound` requires for Gaussian features. It is loose: the isotropic decoder
#   centred on the other view pays for the anisotropy of $Z\mid Z'$ and for centring on a noisy
#   view, as in Experiment 1 (and {ref}`exercise 2 <p46-exercises>`).
# * With the default $\nu=1$, VICReg finds a nearly information-maximizing subspace:
#   $I/I_{\max}=$ {glue:text}`P46.ratio-default:.4f`, against
#   {glue:text}`P46.random-ratio:.2f` for the initial random map.
# * The covariance weight decides the Hadamard gap. Without the covariance term ($\nu=0$) the
#   coordinates crowd onto the most invariant directions: the gap is
#   {glue:text}`P46.gap-off:.1f` nats, and $I_{\mathrm{VIC}}$ drops to
#   {glue:text}`P46.vic-off:.2f` (from {glue:text}`P46.vic-default:.2f` with $\nu=1$). The exact
#   information notices much less ($I/I_{\max}=$ {glue:text}`P46.ratio-off:.3f`), because
#   $I(Z;Z')$ is invariant to any invertible mixing of the coordinates, however ill-conditioned.
#   The default $\nu=1$ leaves a gap of {glue:text}`P46.gap-default:.3f` nats; with $\nu=25$ it
#   is {glue:text}`P46.gap-strong:.4f`, so $\log\det C=\sum_k\log C_{kk}$ as the paper's reading
#   assumes. The gap always sits inside the two-sided bound of {prf:ref}`p46-prop-hadamard`.
#
# ## Claims
#
# Eight claims and one not-reproduced record, each measured above and asserted below. Except
# for claims 3 and 4 (see there), thresholds were chosen on seeds 0-4 at ci scale and confirmed
# on seeds 5-9; the ranges are quoted from the committed calibration record. Two inequalities are not
# claims: $I_{\mathrm{VIC}}\le I(Z;Z')$
# for Gaussian features and the Hadamard sandwich hold for *every* encoder, trained or not,
# because both sides are exact population quantities; they are unit tests of
# `vicreg_information_bound` and `hadamard_gap_bounds` (`tests/test_estimators_entropy.py`).
#
# 1. **`P46.gaussian-output`** (theorem, {prf:ref}`p46-thm-gaussian`): at $\sigma=r_n/4$ the kNN
#    entropy of the deterministic network's outputs equals the closed form
#    $\tfrac12\log\det(2\pi e\,\sigma^2A_nA_n^\top)$, within 0.1 nats. At this noise the union
#    bound on the escape probability is tiny, so the check tests the Gaussian push-forward and
#    the estimator more than the theorem's tail term. On known 2-D Gaussians, one kNN estimate
#    from 4000 samples errs by a few hundredths of a nat (its spread and bias are recorded in the
#    unit tests of `knn_entropy`), so the mean of three estimates sits well inside 0.1 when the
#    output is Gaussian. Seeds 0-4:
#    {glue:text}`P46.gaussian-output.seeds-0-4`; 5-9: {glue:text}`P46.gaussian-output.seeds-5-9`.
# 2. **`P46.invariance-slack`** (theorem, {prf:ref}`p46-prop-bound`, conditional part): the
#    invariance term's entropy $\tfrac D2\log(2\pi e\,s)$ exceeds the measured $H(Z\mid n)$ by the
#    closed-form slack, {glue:text}`P46.slack-theory:.3f` nats here, within the same 0.1. Seeds
#    0-4: {glue:text}`P46.invariance-slack.seeds-0-4`; 5-9:
#    {glue:text}`P46.invariance-slack.seeds-5-9`.
# 3. **`P46.entropy-robust`** (observation, ours): at $\sigma=r_n$, outside the theorem's
#    assumption (a fraction {glue:text}`P46.near-escaped:.2f` of the inputs leaves the region
#    here), the kNN entropy is still within 0.15 nats of the local Gaussian value. Seeds 0-4:
#    {glue:text}`P46.entropy-robust.seeds-0-4`; 5-9: {glue:text}`P46.entropy-robust.seeds-5-9`.
#    A stronger form, "within 0.3 nats at $\sigma=3r_n$", with its threshold chosen on seeds
#    0-4, failed on seed 9; it is the not-reproduced record `P46.entropy-robust-wide`. The
#    multiple $\sigma=r_n$ and the tolerance 0.15 were then chosen with seeds 0-9 in view, so
#    seeds 5-9 are not held out for this claim; seeds 10-19 were checked instead.
# 4. **`P46.logdet-overshoots`** (observation): at $\sigma=3$, the scale of the input, the
#    output is not Gaussian and the log-det entropy exceeds the kNN estimate, averaged over
#    three draws, by at least 0.05 nats, several times the draw-to-draw spread of that average.
#    Seeds 0-4: {glue:text}`P46.logdet-overshoots.seeds-0-4`; 5-9:
#    {glue:text}`P46.logdet-overshoots.seeds-5-9`. The control is the same difference at
#    $\sigma=r_n/4$, where the output is Gaussian and the two estimates agree:
#    {glue:text}`P46.logdet-overshoots.null-range`. This form was not chosen on seeds 0-4
#    alone. The first one, a single draw and a bound of 0.1 chosen on seeds 0-4, passed
#    held-out seed 8 by less than the spread of one kNN estimate, so whether it held depended on
#    the draw. Repeated draws on forty random networks (seeds 0-39) showed why: the overshoot is
#    a property of the network, and the least non-Gaussian networks sit right at 0.1, while the
#    control stays well below 0.05. We then averaged three draws and lowered the bound to 0.05
#    with seeds 0-39 in view, so seeds 5-9 are not held out for this claim; seeds 40-59 were
#    checked instead.
# 5. **`P46.no-covariance-gap`** (observation): without the covariance term the final Hadamard
#    gap is at least 2 nats. Seeds 0-4: {glue:text}`P46.no-covariance-gap.seeds-0-4`; 5-9:
#    {glue:text}`P46.no-covariance-gap.seeds-5-9`; the untrained random map:
#    {glue:text}`P46.no-covariance-gap.null-range`.
# 6. **`P46.covariance-closes-gap`** (reproduction of the reading that VICReg's covariance term
#    makes $\log\det C=\sum_k\log C_{kk}$): with $\nu=25$ the final gap is at most 0.02 nats.
#    Seeds 0-4: {glue:text}`P46.covariance-closes-gap.seeds-0-4`; 5-9:
#    {glue:text}`P46.covariance-closes-gap.seeds-5-9`; untrained:
#    {glue:text}`P46.covariance-closes-gap.null-range`.
# 7. **`P46.variance-floor`** (theorem, the consequence of {prf:ref}`p46-prop-cca`): when the
#    top-$D$ canonical correlations exceed $3/4$ (here $\rho_D=$ {glue:text}`P46.rho-d:.2f`),
#    every coordinate ends *at* the floor, $C_{kk}=\gamma^2=1$, in every run: we measure
#    $\max_k|C_{kk}-1|$ over the three covariance weights. The hinge acts on mini-batches of 512,
#    whose variance estimates fluctuate by about $\sqrt{2/511}\approx6\%$, so the population
#    variance can end a few percent off the floor; we require at most 0.15, about 2.5 times that
#    fluctuation, a bound chosen after seeing seeds 0-4 come within 0.01 of 0.1. Seeds 0-4:
#    {glue:text}`P46.variance-floor.seeds-0-4`; 5-9: {glue:text}`P46.variance-floor.seeds-5-9`.
#    The control is the untrained random map, whose variances are scattered around the floor
#    without sitting on it: {glue:text}`P46.variance-floor.null-range`. (A bound "every variance
#    $\ge0.9$", used before, was vacuous: the untrained map passed it on two of the ten seeds.)
#    Without the variance term ($\mu=0$) the smallest variance collapses to
#    {glue:text}`P46.no-variance-min-var:.1e`.
# 8. **`P46.near-max-information`** (theorem, {prf:ref}`p46-prop-cca` after
#    {cite}`balestriero2022contrastive`): with the default weights, the learned subspace carries
#    $I/I_{\max}\ge0.98$. Seeds 0-4: {glue:text}`P46.near-max-information.seeds-0-4`; 5-9:
#    {glue:text}`P46.near-max-information.seeds-5-9`; the untrained random map:
#    {glue:text}`P46.near-max-information.null-range`.
#
# The network, the data and the training constants are the chapter's original ones, except the
# noise level of claim 3 and the averaging and bound of claim 4 (both chosen by looking at
# their outcomes, as said there) and the added run without the variance term (the control of
# claim 7).

# %%
claims.check("P46.gaussian-output", h_small - h_closed, kind="theorem", expected=0.0, tol=0.1,
             statement="around a training point, a deterministic ReLU network maps small input "
                       "noise (sigma = r_n / 4) to a Gaussian with entropy "
                       "1/2 log det(2 pi e sigma^2 A A^T)")
claims.check("P46.invariance-slack", slack_measured, kind="theorem", expected=slack_theory,
             tol=0.1,
             statement="the invariance term bounds the conditional entropy H(Z|X') from above, "
                       "with the closed-form slack D/2 log 2 + AM-GM gap")
claims.check("P46.entropy-robust", dev_near, kind="observation", expected=0.0, tol=0.15,
             no_null="a random network; nothing is trained",
             statement="at sigma = r_n, where a sizeable share of the noisy inputs leaves the "
                       "region of x_n, the output entropy is still within 0.15 nats of the local "
                       "Gaussian value 1/2 log det(2 pi e sigma^2 A A^T)")
claims.not_reproduced("P46.entropy-robust-wide", measured=dev_wide, kind="observation",
                      expected=f"within 0.3 nats of the local Gaussian value at sigma = "
                               f"{cfg['wide']:g} r_n",
                      statement="the output entropy of a random ReLU network stays near the local "
                                f"Gaussian value at sigma = {cfg['wide']:g} r_n (our observation, "
                                "not a claim of the paper)",
                      why="the drift away from the local value grows with sigma / r_n at a rate "
                          "that depends on the network; on one of the ten calibration networks "
                          "(seed 9) it exceeded 0.3 nats")
claims.check("P46.logdet-overshoots", overshoot_wide, kind="observation",
             lower=0.05, null=overshoot_small,
             null_name="the same difference at sigma = r_n / 4, where the output is Gaussian",
             statement="when the noise spans many regions (sigma = 3, the input scale) the output "
                       "is not Gaussian and the log-det entropy over-states H(Z): it exceeds the "
                       "kNN estimate (mean of three draws) by >= 0.05 nats")
nus = cfg["cov_weights"]
claims.check("P46.no-covariance-gap", runs[nus[0]]["trace"]["gap"][-1], kind="observation",
             lower=2.0, null=untrained["gap"], null_name="untrained random linear map",
             statement=f"for a linear encoder to D = {D} of d = {d} dimensions on Gaussian views, "
                       "trained without the covariance term, log det C falls >= 2 nats below "
                       "sum log C_kk (coordinates crowd onto invariant directions)")
claims.check("P46.covariance-closes-gap", runs[nus[-1]]["trace"]["gap"][-1], kind="reproduction",
             upper=0.02, null=untrained["gap"], null_name="untrained random linear map",
             statement=f"for a linear encoder to D = {D} of d = {d} dimensions on Gaussian views, "
                       "a strong covariance term (nu = 25) makes C diagonal, so log det C = "
                       "sum log C_kk within 0.02 nats")
claims.check("P46.variance-floor", max(f["floor_dev"] for f in final.values()),
             kind="theorem", upper=0.15, null=untrained["floor_dev"],
             null_name="untrained random linear map",
             statement="when the top-D canonical correlations exceed 3/4, linear VICReg ends with "
                       "every coordinate's variance at the floor gamma^2 = 1: max_k |C_kk - 1| "
                       "<= 0.15 after mini-batch training, for every covariance weight")
claims.check("P46.near-max-information", final[1.0]["mi"] / I_max, kind="theorem", lower=0.98,
             null=random_ratio, null_name="untrained random linear map",
             statement="with the default weights, linear VICReg on Gaussian views finds a subspace "
                       "carrying I(Z;Z') >= 0.98 I_max (it recovers CCA)")
claims.summary("P46")

# %%
for cid in ["P46.gaussian-output", "P46.invariance-slack", "P46.entropy-robust",
            "P46.logdet-overshoots", "P46.no-covariance-gap", "P46.covariance-closes-gap",
            "P46.variance-floor", "P46.near-max-information", "P46.entropy-robust-wide"]:
    claims.glue_calibration(cid, fmt=".3g")

# %% [markdown]
# ## What the toy scale cannot show
#
# * **The paper's experiments.** The generalization bound of the NeurIPS version and its new
#   self-supervised objectives, which replace the log-det surrogate by other entropy estimators
#   and are evaluated on image benchmarks, are not reproduced here. Nor are the paper's
#   checks on trained ResNets.
# * **High dimensions.** The kNN estimator is what lets Experiment 1 test the Gaussian formula
#   without assuming it. It needs a low output dimension (here $D=2$) and becomes badly biased in
#   VICReg's real setting, where the embedding has thousands of coordinates. At that scale the
#   log-det surrogate cannot be checked this way.
# * **Non-Gaussian features.** The exact bound of Experiment 2 holds because a linear encoder of
#   Gaussian data has Gaussian features. For a real network the features are, at best, the
#   Gaussian mixture of {prf:ref}`p46-thm-gaussian`. Then $\tfrac12\log\det(2\pi e\,C)$
#   over-states $H(Z)$, as Experiment 1 measured at large noise, and $I_{\mathrm{VIC}}$ is an
#   approximation, not a bound.
# * **The small-noise assumption.** In a random network with a few dozen units per layer, the
#   nearest knot was at distance {glue:text}`P46.r:.1e` from the training point, so realistic
#   augmentations cross many regions. The toy shows that the output entropy stays within a few
#   tenths of a nat of the local Gaussian value up to a few times $r_n$, by a margin that depends
#   on the network, and says nothing about a trained network with millions of regions.
# * **What the full scale changes.** The full configuration (a GPU) uses a wider network
#   ($\mathbb R^{16}\to\mathbb R^4$, width 256, $5\cdot10^4$ samples per noise level),
#   64-dimensional views with $D=8$ and $10^5$ pairs, 5000 steps and five covariance weights.
#   The claims' thresholds were calibrated at ci scale only. The full configuration has not been
#   run as part of this chapter's checks.
#
# (p46-exercises)=
# ## Exercises
#
# ```{exercise}
# :label: ex-p46-1
#
# (a) For a $2\times2$ correlation matrix with off-diagonal $\rho$, show that the bounds of
# {prf:ref}`p46-prop-hadamard` are $\rho^2/(1+|\rho|)^2$ and $\rho^2/(1-|\rho|)^2$, and check
# that $\rho^2/(1+|\rho|)^2\le-\log(1-\rho^2)\le\rho^2/(1-|\rho|)^2$ directly.
#
# (b) *Code.* Implement the gap $g(C)=-\log\det R$ and its two bounds from a covariance matrix,
# check them against `hadamard_gap_bounds` on the covariance of a sample, and against your
# closed forms of (a) on $2\times2$ matrices.
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p46-1
# :class: dropdown
# ```
#
# (a) The eigenvalues are $1\pm\rho$, so $\lambda_{\max}=1+|\rho|$, $\lambda_{\min}=1-|\rho|$
# and $\lVert R-I\rVert_F^2=2\rho^2$. Dividing by $2\lambda^2$ gives the two bounds. Directly,
# with $t=|\rho|$: $-\log(1-t^2)=\sum_{j\ge1}t^{2j}/j\ge t^2\ge t^2/(1+t)^2$. For the upper
# bound, $-\log(1-t^2)\le t^2/(1-t^2)\le t^2/(1-t)^2$, using $-\log(1-y)\le y/(1-y)$ for
# $0\le y<1$ and $1-t^2\ge(1-t)^2$.

# %% tags=["solution"]
def hadamard_gap_from_scratch(cov):
    """The gap g(C) = -log det R of Proposition p46-prop-hadamard, and its lower and upper bounds."""
    # HINT: R = C / sqrt(C_kk C_ll); g = -logdet(R); the bounds divide ||R - I||_F^2 by 2 lambda^2 at the largest and the smallest eigenvalue of R (torch.linalg.eigvalsh)
    # BEGIN SOLUTION
    sd = cov.diagonal().sqrt()
    corr = cov / (sd[:, None] * sd[None, :])  # R
    eig = torch.linalg.eigvalsh(corr)  # ascending
    off = ((corr - torch.eye(len(cov), dtype=cov.dtype)) ** 2).sum()  # ||R - I||_F^2
    return -torch.logdet(corr), off / (2 * eig[-1] ** 2), off / (2 * eig[0] ** 2)
    # END SOLUTION


g_ex = runtime.generator(0)
features = torch.randn(500, 5, generator=g_ex, dtype=torch.float64)
features = features + 0.5 * torch.randn(500, 1, generator=g_ex, dtype=torch.float64)  # a shared factor
gap, lower, upper = hadamard_gap_from_scratch(torch.cov(features.T))
reference = hadamard_gap_bounds(torch.cov(features.T))
torch.testing.assert_close((gap, lower, upper), (reference.gap, reference.lower, reference.upper))
print(f"sample covariance: {lower:.4f} <= g = {gap:.4f} <= {upper:.4f}")
for rho in (0.1, 0.5, 0.9):  # the closed forms of (a)
    two = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
    expected = [-math.log(1 - rho**2), rho**2 / (1 + rho) ** 2, rho**2 / (1 - rho) ** 2]
    torch.testing.assert_close(torch.stack(hadamard_gap_from_scratch(two)),
                               torch.tensor(expected, dtype=torch.float64))

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p46-2
#
# Replace the isotropic decoder by $q(z\mid z')=\mathcal N(z;z',S)$ with a full covariance $S$.
# What is the best $S$, and what does the bound of {prf:ref}`p46-prop-bound` become? Evaluate it
# on the runs of Experiment 2 (you need $\mathrm{Cov}(Z-Z')=2M^\top\Sigma_\eta M$) and compare
# it with $I_{\mathrm{VIC}}$ and the exact information.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p46-2
# :class: dropdown
#
# $\mathbb E[-\log q]=\tfrac12\log\det(2\pi S)+\tfrac12\operatorname{tr}(S^{-1}\Delta)$ with
# $\Delta=\mathbb E[(Z-Z')(Z-Z')^\top]$. It is smallest at $S=\Delta$, where it equals
# $\tfrac12\log\det(2\pi e\,\Delta)$. The bound becomes
# $I\ge\tfrac12\log\det C-\tfrac12\log\det\Delta$, which is never smaller than $I_{\mathrm{VIC}}$:
# by the AM-GM inequality on the eigenvalues of $\Delta$,
# $\tfrac12\log\det\Delta\le\tfrac D2\log(\operatorname{tr}\Delta/D)=\tfrac D2\log s$. It
# removes the price of an isotropic decoder. What remains is the price of centring the decoder
# on $Z'$ itself. The true conditional, with mean $C_\times C^{-1}Z'$ and covariance
# $C-C_\times C^{-1}C_\times$ ($C_\times$ the cross-covariance), makes the bound exact.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p46-3
#
# Break the variance term in two ways. (a) Experiment 2 already trains once with $\mu=0$
# (`train(1.0, mu=0.0)`, the control of claim 7). Plot the exact information and the mean
# variance $\operatorname{tr}C/D$ along that run.
# (b) Put the hinge on the variance, $\max(0,\gamma-C_{kk})$, instead of on the standard
# deviation, and compare the two gradients with respect to the features of a nearly collapsed
# representation (standard deviation $10^{-3}$).
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p46-3
# :class: dropdown
#
# (a) Without the variance term the invariance and covariance terms are both minimized by
# shrinking $M$: the smallest variance ends at {glue:text}`P46.no-variance-min-var:.1e`. The
# exact information is scale-invariant, so it does not drop to zero, but the directions stop
# being driven by the data once the map has shrunk: $I/I_{\max}$ ends at
# {glue:text}`P46.no-variance-ratio:.2f`, against {glue:text}`P46.ratio-default:.4f` with
# $\mu=25$. (b) Both hinges have gradients proportional to $\partial C_{kk}/\partial z$, which
# is proportional to the centred features. The standard-deviation hinge multiplies it by
# $1/(2\sqrt{C_{kk}+\epsilon})\approx1/(2\sqrt\epsilon)=50$ at collapse. With plain SGD that
# factor is what pulls a collapsed representation back quickly. Adam rescales each parameter's
# steps and hides much of the difference. The unit test
# `test_variance_gradient_does_not_vanish_at_collapse` measures the ratio.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p46-4
#
# In Experiment 1, replace the single training point by $N=16$ points and the noise level by
# $\sigma=r_{\min}/4$. The output is then the Gaussian mixture of {prf:ref}`p46-thm-gaussian`.
# Compare the kNN entropy of all outputs with the log-det entropy of their covariance, and with
# $\log N+\frac1N\sum_n H(Z\mid n)$. Which is closer, and why?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p46-4
# :class: dropdown
#
# When the components are far apart compared with their widths (which is the case when the
# noise is below the knot distance), they barely overlap. Then $H(Z)\approx\log N+\frac1N\sum_n
# H(Z\mid n)$ (the entropy of the label plus the mean within-component entropy), and the kNN
# estimate is close to it (within 0.1 nats on seeds 0 and 1 at ci scale). The log-det entropy of
# the pooled covariance measures the spread of the component *means*, many nats higher (14 to 20
# nats there): it cannot see that the mass sits in $N$ tiny clusters. This is the regime for
# which the NeurIPS version of the paper tries other entropy estimators in place of the log-det,
# such as pairwise-distance estimators.
# ```

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
