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
#     - P43
#     prerequisites:
#     - P48
# ---

# %% [markdown]
# # Minimal variations: what unsupervised representations assume about the target
#
# **Paper.** Cabannes, Bietti, Balestriero, *On Minimal Variations for Unsupervised
# Representation Learning*, ICASSP 2023 {cite}`cabannes2023minimal` (arXiv:2211.03782).
#
# Manifold learning (Laplacian eigenmaps, diffusion maps) and self-supervised learning build a
# representation without ever seeing a label. Whatever they keep, they keep for *every*
# downstream task. The paper's thesis is that all of them rest on one assumption about those
# tasks: **a target function varies little where the data are dense.** A representation made of
# the functions that vary least, measured with the data's own density, then serves every target
# that respects this assumption. The converse, that a target varying where the data are dense is
# lost by every such representation, is this chapter's reading of the principle, not a result
# quoted from the paper. This chapter makes the assumption measurable, on data whose density and targets are
# both set by hand, and watches what a trained self-supervised encoder does when the assumption
# holds and when it fails.
#
# **What you will learn**
#
# * the Dirichlet energy $\mathbb E\lVert\nabla f(X)\rVert^2$ as the measure of variation, its
#   graph form $f^\top Lf$, and why its minimizers under orthonormality are the Laplacian
#   eigenfunctions;
# * the approximation bound: the part of a target that the first $p$ eigenfunctions leave out is
#   at most its Dirichlet energy divided by $\lambda_{p+1}$;
# * why the same target is easy or impossible for an unsupervised representation depending only on
#   *where the data are dense*, and how to see it in a graph spectrum and in a trained VICReg
#   encoder;
# * why small Gaussian augmentations make the invariance term of self-supervised learning an
#   estimate of the Dirichlet energy.
#
# **Prerequisites.** The previous chapter, on self-supervised learning as spectral embedding
# (Balestriero and LeCun {cite}`balestriero2022contrastive`), for VICReg's optimum as Laplacian
# eigenmaps; the eigendecomposition of a symmetric matrix.

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
import numpy as np
import torch

from reptutor import claims, plot, runtime
from reptutor.data import make_half_moons
from reptutor.losses import vicreg_loss
from reptutor.metrics import (
    dirichlet_energy,
    projection_residual,
    ridge_probe_r2,
    spectral_residual_bound,
)
from reptutor.models import MLP
from reptutor.solvers import gaussian_graph, graph_laplacian, laplacian_eigenbasis
from reptutor.train import fit

seed = runtime.seed_everything(0)
dev = runtime.device()
cfg = runtime.pick(
    ci=dict(n=1000, n_test=2000, noise=0.1, width=0.3, bandwidth=0.2, p=4, p_max=24,
            dips=[0.0, 0.25, 0.5, 0.75, 0.9, 1.0],
            ssl_dim=3, hidden=[64, 64], steps=1500, batch=256, lr=3e-3, sigma_aug=0.1),
    full=dict(n=4000, n_test=20000, noise=0.1, width=0.3, bandwidth=0.2, p=4, p_max=40,
              dips=[0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 1.0],
              ssl_dim=3, hidden=[256, 256], steps=6000, batch=1024, lr=2e-3, sigma_aug=0.1),
)
plot.set_theme()
print(f"seed={seed} device={dev} scale={runtime.scale()}")

# %% [markdown]
# ## The assumption, stated
#
# The paper's setting: inputs in a Hilbert space $\mathcal X$ drawn from a distribution
# $\rho_X$, a representation $\phi:\mathcal X\to\mathbb R^p$ learned from unlabeled samples, and
# downstream targets $f^\star:\mathcal X\to\mathbb R$ solved by a linear probe on $\phi$. A
# representation is good for $f^\star$ when $f^\star$ is close to the span of
# $\phi_1,\dots,\phi_p$ in $L^2(\rho_X)$. (In this chapter $f$ is a function of one input, a
# downstream target or a candidate feature, not the two-argument critic of the notation page;
# $\xi$ is Gaussian noise, not a target network.)
#
# ```{prf:definition} Dirichlet energy and minimal-variation functions
# :label: p43-def-energy
#
# The *Dirichlet energy* of a differentiable $f$ under $\rho_X$ is
# $\mathcal E(f)=\mathbb E_{X\sim\rho_X}\lVert\nabla f(X)\rVert^2$. It is a quadratic form
# $\mathcal E(f)=\langle f,\mathcal Lf\rangle_{L^2(\rho_X)}$ of the weighted Laplacian
# $\mathcal Lf=-\Delta f-\nabla\log\rho\cdot\nabla f$ (for a smooth density, integrating by
# parts). When $\mathcal L$ has a discrete spectrum $0=\lambda_1\le\lambda_2\le\dots$ with
# eigenfunctions $u_1=1, u_2,\dots$ orthonormal in $L^2(\rho_X)$, the *minimal-variation
# representation* of size $p$ is $\phi=(u_1,\dots,u_p)$: by the Courant-Fischer theorem it
# minimizes $\sum_{k\le p}\mathcal E(\phi_k)$ among $p$ functions orthonormal in
# $L^2(\rho_X)$.
# ```
#
# Because $\mathcal E$ averages the gradient *under* $\rho_X$, variation is expensive where the
# data are dense and cheap where they are sparse. The eigenfunctions therefore change where the
# density is low and stay flat where it is high. The assumption that unsupervised learning makes
# about a target $f^\star$ is that $\mathcal E(f^\star)$ is small.
#
# ```{prf:theorem} What the first $p$ eigenfunctions leave out
# :label: p43-thm-bound
#
# Let $\Pi_p$ be the $L^2(\rho_X)$ projection onto $u_1,\dots,u_p$. For every $f$ with
# $\mathcal E(f)<\infty$,
# $\lVert f-\Pi_pf\rVert^2_{L^2(\rho_X)}\le\mathcal E(f)/\lambda_{p+1}$.
# The same holds on a graph: with $L=D-W$, its eigenpairs $(\lambda_k,u_k)$ in increasing order
# and $\Pi_p$ the Euclidean projection onto $u_1,\dots,u_p$,
# $\lVert f-\Pi_pf\rVert^2\le f^\top Lf/\lambda_{p+1}$ for every $f\in\mathbb R^N$.
# ```
#
# ```{prf:proof}
# Write $f=\sum_kc_ku_k$. Then $\mathcal E(f)=\sum_k\lambda_kc_k^2\ge\sum_{k>p}\lambda_kc_k^2
# \ge\lambda_{p+1}\sum_{k>p}c_k^2=\lambda_{p+1}\lVert f-\Pi_pf\rVert^2$. Equality holds for
# $f=u_{p+1}$.
# ```
#
# The inequality itself holds for *every* vector: it is a unit test of the library
# (`tests/test_metrics_variations.py`), not something an experiment can confirm. What an
# experiment can measure is whether the bound is *small* for the targets one cares about, which
# depends on the data and on the target: a target is certified to be well represented when its
# energy is small against the spectral gap $\lambda_{p+1}$.
#
# ```{prf:remark} Three estimates of the same variation
# :label: p43-rem-estimates
#
# The paper's official code ({cite:t}`cabannes2023minimal`; package `pssl`, now at
# `facebookresearch/PSSL`, first in the history of `VivienCabannes/laplacian`; `src/pssl/loss.py`) trains a network with a penalty pushing
# $\mathbb E[\phi\phi^\top]$ to the identity plus one of three estimates of the variation:
# the exact gradient $\mathbb E\lVert\nabla\phi\rVert^2$ (`Dirichlet`), finite differences on
# a Gaussian-kernel graph (`graph_Laplacian`), or the difference between a point and a noisy
# copy (`augmentation_diff`). For a Gaussian augmentation $x'=x+\sigma\xi$, a Taylor expansion
# gives $\mathbb E\lVert f(x')-f(x)\rVert^2=\sigma^2\,\mathcal E(f)+O(\sigma^4)$: the
# invariance term of an SSL loss *is* an estimate of the Dirichlet energy, and VICReg's variance
# and covariance terms play the role of the orthonormality constraint. So VICReg with small
# Gaussian views approximately computes the minimal-variation representation
# (with the caveats of the previous chapter: a hinge instead of an equality, a finite covariance
# weight). One difference matters here: the unnormalized graph weights the gradient by
# $\rho^2$ instead of $\rho$ (to first order in the bandwidth,
# $\tfrac{2}{N^2}f^\top Lf\to(2\pi)^{d/2}h^{d+2}\int\lVert\nabla f\rVert^2\rho^2$), so it
# penalizes variation in dense regions even more than $\mathcal E$ does.
# ```
#
# *What was checked against the paper.* The abstract, the introduction and the setting's first
# paragraph of the paper were read, as was its official code (the losses above, the half-moon data
# set, a 4-class downstream task on it). The paper's theory section and its figures could not be
# retrieved: {prf:ref}`p43-def-energy` and {prf:ref}`p43-thm-bound` are the standard
# formalization of the principle it states, written for this book, not quoted statements. The
# official experiment differs from this chapter's: uniform arcs only, 5 learned outputs, a kernel
# bandwidth $\sigma_{\mathrm{rbf}}=0.1$, the plain orthonormality penalty, and the 4-class task
# scored by the accuracy of a least-squares read-out. The density dip, the regression error
# $1-R^2$ and the failure on a dense cut are this chapter's own construction.

# %% [markdown]
# ## Data with a controlled density and controlled targets
#
# The official code's data set: two half-circles of radius 1, the right one raised by 1, plus
# Gaussian noise (`reptutor.data.make_half_moons`). Here the density *along* each arc
# has an adjustable dip at the arc's midpoint: $\theta$ has density proportional to
# $1-\mathrm{dip}\cdot e^{-u^2/(2w^2)}$, $u$ the angle to the midpoint. Two targets, both
# $\pm1$-valued (then centred):
#
# * `moon`: which half-circle; it changes only in the empty gap between the moons;
# * `upper`: the upper or lower half of each arc (the second bit of the official 4-class task);
#   it changes at the midpoints, where the dip is.
#
# With `dip = 0` the `upper` target cuts each arc in its densest part: the assumption fails.
# With `dip = 1` the midpoints are (nearly) empty and the same target changes only where there
# are no data: the assumption holds. Nothing else changes.

# %%
def moons(dip, n, g):
    d = make_half_moons(n, noise=cfg["noise"], dip=dip, width=cfg["width"], generator=g)
    targets = {"moon": 2.0 * d.moon.double() - 1, "upper": 2.0 * d.upper.double() - 1}
    return d.x, targets


def spectrum(x, p):
    lap = graph_laplacian(gaussian_graph(x, cfg["bandwidth"]))  # (N, N), L = D - W
    return lap, laplacian_eigenbasis(lap, p)


data = {dip: moons(dip, cfg["n"], runtime.generator(seed + 10 * k))
        for k, dip in enumerate(cfg["dips"])}
x0, t0 = data[0.0]
x1, t1 = data[1.0]
lap0, (u0, lam0) = spectrum(x0, cfg["p_max"] + 1)
lap1, (u1, lam1) = spectrum(x1, cfg["p_max"] + 1)
print("first eigenvalues, dip=0:", np.round(lam0[:6].numpy(), 3))
print("first eigenvalues, dip=1:", np.round(lam1[:6].numpy(), 3))

# %% [markdown]
# ### Intuition: the eigenvectors follow the density
#
# Without the dip, the graph has two components (two zero eigenvalues) and the next
# eigenvectors vary smoothly along each arc. With the dip, each arc falls into two pieces: four
# eigenvalues are almost zero, and the eigenvectors become almost constant on each piece. The
# `upper` target is then (almost) one of them.

# %%
fig, axes = plot.subplots(3, 2, width=2.6, height=2.6)
for row, (x, u, name) in enumerate([(x0, u0, "dip = 0"), (x1, u1, "dip = 1")]):
    for col, k in enumerate((1, 2, 3)):
        ax = axes[row, col]
        v = u[:, k].numpy()
        ax.scatter(x[:, 0], x[:, 1], c=v, s=4, cmap="coolwarm", vmin=-abs(v).max(), vmax=abs(v).max())
        ax.set_title(f"{name}: $u_{k + 1}$", fontsize=10)
        ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()

# %% [markdown]
# ## From scratch
#
# The Gaussian graph, its Laplacian, the first eigenvectors and the residual in a few lines,
# checked against the library.

# %%
def residual_from_scratch(x, f, h, p):
    d2 = torch.cdist(x, x) ** 2  # (N, N) squared distances
    w = torch.exp(-d2 / (2 * h**2)).fill_diagonal_(0.0)  # Gaussian weights, no self-loops
    lap = torch.diag(w.sum(1)) - w  # L = D - W
    lam, vec = torch.linalg.eigh(lap)  # increasing eigenvalues
    f = f - f.mean()
    left = f - vec[:, :p] @ (vec[:, :p].T @ f)  # f - Pi_p f
    energy = f @ lap @ f  # f^T L f = 1/2 sum_ij W_ij (f_i - f_j)^2
    return left.square().sum() / f.square().sum(), energy / lam[p] / f.square().sum()


mine = residual_from_scratch(x0, t0["upper"], cfg["bandwidth"], cfg["p"])
f_c = t0["upper"] - t0["upper"].mean()
lib = (projection_residual(f_c, u0[:, :cfg["p"]]), spectral_residual_bound(f_c, lap0, cfg["p"]))
torch.testing.assert_close(torch.stack(mine), torch.tensor(lib, dtype=torch.float64), rtol=1e-6, atol=1e-9)
print(f"residual {lib[0]:.4f} <= bound {lib[1]:.3f}")

# %% [markdown]
# ## Experiment 1: the spectrum decides which target is captured
#
# For both targets and both densities, the relative residual
# $\lVert f-\Pi_pf\rVert^2/\lVert f\rVert^2$ as $p$ grows, next to the bound
# $f^\top Lf/(\lambda_{p+1}\lVert f\rVert^2)$ of {prf:ref}`p43-thm-bound`. Then the dip is
# swept from 0 to 1 at $p=4$ (constant, moon, and one function per arc).

# %%
def curves(lap, u, f):
    f = f - f.mean()
    ps = np.arange(1, cfg["p_max"] + 1)
    left = [projection_residual(f, u[:, :p]) for p in ps]
    bound = [min(spectral_residual_bound(f, lap, int(p)), 10.0) for p in ps]
    return ps, np.array(left), np.array(bound)


res = {(dip, name): curves(lap, u, t[name])
       for dip, lap, u, t in [(0.0, lap0, u0, t0), (1.0, lap1, u1, t1)] for name in ("moon", "upper")}
sweep = {}
for dip in cfg["dips"]:
    x, t = data[dip]
    lap, (u, _) = spectrum(x, cfg["p"] + 1)
    f = t["upper"] - t["upper"].mean()
    sweep[dip] = (projection_residual(f, u[:, :cfg["p"]]), spectral_residual_bound(f, lap, cfg["p"]))
for dip, (left, bound) in sweep.items():
    print(f"dip={dip:.2f}: upper residual at p={cfg['p']}: {left:.4f}, bound {bound:.3f}")

# %%
fig, axes = plot.subplots(2, 1, width=4.0, height=3.2)
ax = axes[0, 0]
styles = {(0.0, "upper"): ("#d62728", "upper, dip 0"), (1.0, "upper"): ("#1f77b4", "upper, dip 1"),
          (0.0, "moon"): ("#7f7f7f", "moon, dip 0")}
for key, (color, label) in styles.items():
    ps, left, bound = res[key]
    ax.semilogy(ps, np.maximum(left, 1e-6), "o-", color=color, ms=3, label=f"{label}: measured")
    ax.semilogy(ps, np.maximum(bound, 1e-6), "--", color=color, label=f"{label}: bound")
ax.set_xlabel("eigenvectors kept $p$")
ax.set_ylabel(r"$\|f-\Pi_p f\|^2/\|f\|^2$")
ax.set_ylim(1e-4, 12)
plot.legend_below(ax, ncol=2)
ax = axes[0, 1]
dips = np.array(list(sweep))
ax.semilogy(dips, [v[0] for v in sweep.values()], "o-", color=plot.PALETTE["measured"],
            label=f"residual at p={cfg['p']}")
ax.semilogy(dips, [v[1] for v in sweep.values()], "s--", color=plot.PALETTE["theory"],
            label=r"bound $f^\top Lf/\lambda_{p+1}$")
ax.set_xlabel("depth of the density dip at the cut")
ax.set_ylabel("`upper` target")
plot.legend_below(ax, ncol=1)
fig.tight_layout()

# %% [markdown]
# The `moon` target is captured at $p=2$ whatever the dip: it changes only across the gap. The
# `upper` target is the same function in both data sets; what changes is the density where it
# changes. On uniform arcs its residual falls slowly (a step expanded in smooth modes), and the
# bound is useless (above 1) because cutting a dense arc costs a large energy. With an empty
# midpoint the residual drops to almost zero at $p=4$ and the bound certifies it from the energy
# alone. The sweep shows the transition: the deeper the dip, the cheaper the cut.

# %% [markdown]
# ## Experiment 2: what a self-supervised encoder learns
#
# An MLP $\mathbb R^2\to\mathbb R^{3}$ (two hidden layers) trained with VICReg
# (`reptutor.losses.vicreg_loss`, weights 25/25/1) on two Gaussian views
# $x+\sigma\xi$, $x+\sigma\xi'$ of each point, $\sigma=0.1$: the augmentation that turns the
# invariance term into the Dirichlet energy (the official code's `augmentation_diff`). One encoder
# per density. Three measurements:
#
# * how much of the first three non-constant graph eigenvectors the features leave out
#   (`projection_residual` of $u_2,u_3,u_4$ on the span of $[\mathbf 1, Z]$, the largest of the
#   three): the paper's claim that SSL finds the minimal-variation functions;
# * the test error of a linear (ridge) probe, $1-R^2$, for each target;
# * the same for an untrained encoder of the same architecture.

# %%
def train_vicreg(x, k):
    g = runtime.generator(seed + 100 + k)
    net = MLP(2, cfg["hidden"], cfg["ssl_dim"], generator=runtime.generator(seed + 200 + k)).double()
    untrained = MLP(2, cfg["hidden"], cfg["ssl_dim"], generator=runtime.generator(seed + 200 + k)).double()

    def views(step):  # fresh Gaussian augmentations of a random batch
        idx = torch.randint(0, x.shape[0], (cfg["batch"],), generator=g)
        xb = x[idx]
        noise = torch.randn(2, *xb.shape, generator=g, dtype=xb.dtype)
        return xb + cfg["sigma_aug"] * noise[0], xb + cfg["sigma_aug"] * noise[1]

    hist = fit(net, lambda m, b: vicreg_loss(m(b[0]), m(b[1])), views, steps=cfg["steps"],
               lr=cfg["lr"], log_every=50, desc=f"VICReg dip={k}")
    return net.eval(), untrained.eval(), hist


def measure(net, x, u, x_test, t, t_test):
    with torch.no_grad():
        z, z_test = net(x), net(x_test)
    basis = torch.cat([torch.ones(len(z), 1, dtype=z.dtype), z], 1)  # [1, Z]
    left_out = max(projection_residual(u[:, k], basis) for k in (1, 2, 3))
    probe = {name: 1 - ridge_probe_r2(z, t[name][:, None], z_test, t_test[name][:, None])
             for name in t}
    return left_out, probe


ssl = {}
for k, (dip, x, u, t) in enumerate([(0.0, x0, u0, t0), (1.0, x1, u1, t1)]):
    x_test, t_test = moons(dip, cfg["n_test"], runtime.generator(seed + 300 + k))
    net, untrained, hist = train_vicreg(x, k)
    ssl[dip] = dict(trained=measure(net, x, u, x_test, t, t_test),
                    untrained=measure(untrained, x, u, x_test, t, t_test), hist=hist, net=net, x=x)
    for who in ("trained", "untrained"):
        left_out, probe = ssl[dip][who]
        print(f"dip={dip}, {who}: eigenvectors left out {left_out:.3f}; probe 1-R^2 "
              + ", ".join(f"{n} {v:.3f}" for n, v in probe.items()))

# %%
fig, ax = plot.subplots(1, 1, width=4.6, height=3.2)
labels, pos = [], 0
for dip in (0.0, 1.0):
    for name in ("moon", "upper"):
        theory = res[(dip, name)][1][cfg["ssl_dim"]]  # eigen residual with p = ssl_dim + 1 (constant)
        ax.bar(pos - 0.2, max(ssl[dip]["trained"][1][name], 1e-4), 0.4, color=plot.PALETTE["measured"],
               label="VICReg encoder, test probe" if pos == 0 else None)
        ax.bar(pos + 0.2, max(ssl[dip]["untrained"][1][name], 1e-4), 0.4, color=plot.PALETTE["baseline"],
               label="untrained encoder" if pos == 0 else None)
        ax.plot([pos - 0.4, pos + 0.4], [max(theory, 1e-4)] * 2, color=plot.PALETTE["theory"], lw=2,
                label=f"first {cfg['ssl_dim'] + 1} eigenvectors (theory)" if pos == 0 else None)
        labels.append(f"{name}\ndip {dip:g}")
        pos += 1
ax.set_yscale("log")
ax.set_xticks(range(pos), labels)
ax.set_ylabel("probe error $1-R^2$")
plot.legend_below(ax, ncol=1)
fig.tight_layout()

# %% [markdown]
# The trained encoder behaves as its minimal-variation counterpart predicts: the features span
# the first graph eigenvectors, the `moon` target is linear in them at both densities, and the
# `upper` target is linear in them only when the density is low where it changes. On uniform arcs
# the encoder has spent its three dimensions on the moon indicator and on one smooth mode per arc;
# the step at each midpoint is a large-energy function that it has no reason to keep, and a
# linear probe recovers only the part of it that the smooth modes carry. The untrained encoder
# keeps neither target well. What self-supervision discards is exactly the variation in dense
# regions, whether or not a downstream task needs it.

# %% [markdown]
# ## Claims
#
# Numbers in the prose below come from the calibration record (ten seeds at ci scale). The
# thresholds were set on seeds 0-4 and checked on 5-9. The data constants (dip width 0.3,
# bandwidth 0.2, $\sigma=0.1$, three SSL dimensions) were fixed before any claim was written:
# noise and augmentation are the official code's defaults, while the bandwidth (official 0.1)
# and the three outputs (official 5) were chosen from a first look at the spectrum on seed 0;
# none was changed after looking at claim outcomes. One threshold was (claim 3, below). Claims 2
# and 5 are observations: the failure on a dense cut is this chapter's reading of the principle,
# not a result the paper reports. Each claim about one density has the other density as its
# control.
#
# 1. **`P43.bound-certifies-sparse-cut`** (theorem, {prf:ref}`p43-thm-bound`): when the
#    density vanishes where the `upper` target changes (dip 1), its Dirichlet energy is small
#    against $\lambda_5$ and the bound alone certifies that the first four eigenvectors leave out
#    at most 10% of it. Seeds 0-4: {glue:text}`P43.bound-certifies-sparse-cut.seeds-0-4`; 5-9:
#    {glue:text}`P43.bound-certifies-sparse-cut.seeds-5-9`. The inequality itself cannot fail (it
#    is a unit test); what can fail is its being small, and on uniform arcs (dip 0) the same bound
#    certifies nothing: {glue:text}`P43.bound-certifies-sparse-cut.null-range`.
# 2. **`P43.dense-cut-left-out`** (observation, no training): on uniform
#    arcs the same target keeps at least 10% of its norm outside the first four eigenvectors.
#    Seeds 0-4: {glue:text}`P43.dense-cut-left-out.seeds-0-4`; 5-9:
#    {glue:text}`P43.dense-cut-left-out.seeds-5-9`; with the density hole at the cut (dip 1):
#    {glue:text}`P43.dense-cut-left-out.null-range`.
# 3. **`P43.ssl-finds-eigenvectors`** (reproduction: SSL learns the minimal-variation functions):
#    a VICReg encoder with 3 outputs leaves out at most 10% of any of $u_2,u_3,u_4$ on uniform
#    arcs. Seeds 0-4: {glue:text}`P43.ssl-finds-eigenvectors.seeds-0-4`; 5-9:
#    {glue:text}`P43.ssl-finds-eigenvectors.seeds-5-9`; untrained encoder:
#    {glue:text}`P43.ssl-finds-eigenvectors.null-range`. *This bound was changed after looking
#    at a held-out seed:* it was first 30%, and the first ten-seed calibration failed because on
#    seed 5 the untrained encoder left out less than that (its random ReLU features are nearly
#    linear in the input, and so are the moon indicator and the first arc modes). It was tightened
#    to 10% after seeing all ten seeds, trained and untrained, so seeds 5-9 no longer confirm it
#    independently. A review then ran five fresh seeds (10-14, not in the record) with the
#    unchanged chapter: the trained encoder stayed far below 10% and the untrained one far above
#    it on every seed (on one of them it was again below the original 30%, which would have
#    failed again).
# 4. **`P43.ssl-sparse-cut`** (reproduction): with the dip, a linear probe on the VICReg
#    features predicts the `upper` target with test error $1-R^2\le0.06$. Seeds 0-4:
#    {glue:text}`P43.ssl-sparse-cut.seeds-0-4`; 5-9: {glue:text}`P43.ssl-sparse-cut.seeds-5-9`;
#    untrained encoder: {glue:text}`P43.ssl-sparse-cut.null-range`.
# 5. **`P43.ssl-dense-cut`** (observation: the assumption violated): without the dip, the same
#    probe on the same kind of encoder leaves test error $1-R^2\ge0.1$ on the same target. Seeds
#    0-4: {glue:text}`P43.ssl-dense-cut.seeds-0-4`; 5-9: {glue:text}`P43.ssl-dense-cut.seeds-5-9`.
#    The control is the identical pipeline with the density hole at the cut (claim 4's
#    measurement), which must fail this bound: {glue:text}`P43.ssl-dense-cut.null-range`.

# %%
f_dip1 = t1["upper"] - t1["upper"].mean()
f_dip0 = t0["upper"] - t0["upper"].mean()
claims.check("P43.bound-certifies-sparse-cut", spectral_residual_bound(f_dip1, lap1, cfg["p"]),
             kind="theorem", upper=0.1, null=spectral_residual_bound(f_dip0, lap0, cfg["p"]),
             null_name="same target and graph on uniform arcs (dip 0)",
             statement="when the density vanishes where a target changes (dip 1), "
                       "E(f)/(lambda_5 ||f||^2) <= 0.1: the bound certifies the first 4 "
                       "graph-Laplacian eigenvectors capture it")
claims.check("P43.dense-cut-left-out", projection_residual(f_dip0, u0[:, :cfg["p"]]),
             kind="observation", lower=0.1, null=projection_residual(f_dip1, u1[:, :cfg["p"]]),
             null_name="same target with the density hole at the cut (dip 1)",
             statement="a target that cuts each arc where it is dense keeps >= 10% of its norm "
                       "outside the first 4 graph-Laplacian eigenvectors")
claims.check("P43.ssl-finds-eigenvectors", ssl[0.0]["trained"][0], kind="reproduction", upper=0.1,
             null=ssl[0.0]["untrained"][0], null_name="untrained encoder",
             statement="VICReg with small Gaussian views (3 outputs) learns features that leave "
                       "out <= 10% of each of the first three non-constant graph eigenvectors")
claims.check("P43.ssl-sparse-cut", ssl[1.0]["trained"][1]["upper"], kind="reproduction",
             upper=0.06, null=ssl[1.0]["untrained"][1]["upper"], null_name="untrained encoder",
             statement="when the density is low where the target changes, a linear probe on "
                       "VICReg features predicts it with test 1-R^2 <= 0.06")
claims.check("P43.ssl-dense-cut", ssl[0.0]["trained"][1]["upper"], kind="observation",
             lower=0.1, null=ssl[1.0]["trained"][1]["upper"],
             null_name="same pipeline, density hole at the cut",
             statement="when the target changes where the data are dense, a linear probe on "
                       "VICReg features (3 outputs) leaves test 1-R^2 >= 0.1 on it")
claims.summary("P43")

# %%
for cid in ["P43.bound-certifies-sparse-cut", "P43.dense-cut-left-out", "P43.ssl-finds-eigenvectors",
            "P43.ssl-sparse-cut", "P43.ssl-dense-cut"]:
    claims.glue_calibration(cid, fmt=".3g")

# %% [markdown]
# ## What the toy scale cannot show
#
# * **The paper's own figures.** The paper's experiments are synthetic too, but its text beyond
#   the introduction could not be retrieved, so its figures are not reproduced number for number;
#   the official code's set-up (half-moons, the three variation estimates, an orthonormality
#   penalty) is what this chapter follows, with VICReg in place of the plain penalty
#   $\lVert\mathbb E[\phi\phi^\top]-I\rVert^2$, 3 outputs instead of 5, and the regression error
#   of each bit instead of the accuracy of the official 4-class read-out (see
#   {ref}`the last exercise <p43-exercises>` for why the two differ).
# * **High dimensions.** In two dimensions a graph on a thousand points is an excellent estimate of
#   the operator $\mathcal L$. The point of learning $\phi$ with a network, as SSL does, is that
#   graphs degrade in high dimensions and do not extend to new points; the toy cannot show that
#   advantage.
# * **Real augmentations.** Gaussian noise makes the invariance term an isotropic Dirichlet energy.
#   Crops and colour jitter define an anisotropic, data-dependent variation; the principle is the
#   same, but the density that matters is then the one seen through the augmentations.
# * **What the full scale changes.** The full configuration (a GPU) uses 4000 training points,
#   a width-256 encoder trained for 6000 steps and a finer sweep of the dip. The thresholds were
#   calibrated at ci scale only, and the full configuration has not been run as part of this
#   chapter's checks.
#
# **A claim that can fail.** Making the library's `make_half_moons` ignore its `dip` argument
# (a factor 0 in the acceptance probability) makes `P43.bound-certifies-sparse-cut` (the bound
# rises above 1) and `P43.ssl-sparse-cut` fail, and with them `P43.ssl-dense-cut`, whose control
# no longer differs from it; the change was reverted. A reviewer's break, the dip placed at the
# arcs' ends instead of their midpoints (the angle measured from the wrong axis in
# `make_half_moons`), fails the same three claims on seed 0 and was reverted. An
# off-by-one in `spectral_residual_bound` (dividing by $\lambda_p$ instead of $\lambda_{p+1}$)
# is caught earlier, by the from-scratch check.

# %% [markdown]
# (p43-exercises)=
# ## Exercises
#
# ```{exercise}
# :label: ex-p43-1
#
# Show that the bound of {prf:ref}`p43-thm-bound` is tight: for which $f$ is it an equality?
# For a step $f$ on a graph made of two cliques of $m$ nodes joined by a single edge of weight
# $\varepsilon$, compute $f^\top Lf$, $\lambda_2$ and $\lambda_3$, and say what the bound gives for
# $p=1$ and $p=2$.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p43-1
# :class: dropdown
#
# Equality needs $\lambda_kc_k^2=0$ for $k\le p$ and $\lambda_k=\lambda_{p+1}$ whenever
# $c_k\ne0$, $k>p$: $f$ in the eigenspace of $\lambda_{p+1}$ (plus anything in the null space).
# Two cliques $K_m$ joined by one edge of weight $\varepsilon$: the step $f=\pm1$ on the cliques
# cuts one edge, $f^\top Lf=\varepsilon(1-(-1))^2=4\varepsilon$, and $\lVert f\rVert^2=2m$. To
# first order in $\varepsilon$ the two zero eigenvalues of the disjoint cliques split into $0$
# and $\lambda_2\approx2\varepsilon/m$ (the perturbation $\varepsilon(e_a-e_b)(e_a-e_b)^\top$
# restricted to the two normalized indicators has entries $\pm\varepsilon/m$), with the step as
# eigenvector, and $\lambda_3\approx m$ (the nonzero eigenvalue of $K_m$). With $p=1$ (the
# constant) the bound is $4\varepsilon/\lambda_2\approx2m=\lVert f\rVert^2$: nothing is
# certified, and indeed none of the step is captured, since it is orthogonal to the constant.
# With $p=2$ it is $4\varepsilon/m$, relative $2\varepsilon/m^2$, which vanishes with
# $\varepsilon$: the weak link is what lets
# two eigenvectors capture the step, exactly the role of the density dip in Experiment 1.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p43-2
#
# In {prf:ref}`p43-rem-estimates` the unnormalized graph weights the gradient by $\rho^2$ and
# the augmentation by $\rho$. Which of the two makes a cut through a region of density
# $\rho_{\mathrm{low}}$ relatively cheaper, compared with a cut through density
# $\rho_{\mathrm{high}}$? How would you change the graph so that it estimates $\mathcal E$ itself?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p43-2
# :class: dropdown
#
# The cost of a step across a boundary is proportional to the weight of the density on the
# boundary: $\rho$ for the augmentation form ($\sigma\,\rho$ per unit length, to leading order),
# $\rho^2$ for the unnormalized graph. The ratio of a low-density cut to a high-density cut is
# $\rho_{\mathrm{low}}/\rho_{\mathrm{high}}$ in the first case and its square in the second: the
# graph makes low-density cuts relatively cheaper still, so it separates clusters more eagerly.
# To estimate $\mathcal E$, divide the weights by the density, $W_{ij}/\sqrt{\hat\rho_i\hat\rho_j}$
# with $\hat\rho_i$ the degree (the $\alpha$-normalization of diffusion maps, Coifman and Lafon,
# with $\alpha=1/2$): the energy then weights $\lVert\nabla f\rVert^2$ by
# $\rho^2/\rho=\rho$ to leading order, as $\mathcal E$ does.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p43-3
#
# *Code.* Check the Taylor expansion of {prf:ref}`p43-rem-estimates` on the trained encoder of
# Experiment 2 (uniform arcs): estimate the augmentation energy
# $\mathbb E\lVert\phi(x+\sigma\xi)-\phi(x)\rVert^2/\sigma^2$ for $\sigma\in\{0.01,0.03,0.1\}$
# and compare it with the Dirichlet energy $\mathbb E\lVert\nabla\phi(x)\rVert_F^2$ computed with
# autograd on the training points. Which $\sigma$ is close, and why does a ReLU network make the
# small-$\sigma$ case easy?
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p43-3
# :class: dropdown
# ```
#
# A ReLU network is piecewise linear, so for $\sigma$ small against the distance to the nearest
# kink $\phi(x+\sigma\xi)-\phi(x)=J(x)\sigma\xi$ exactly and the ratio is
# $\mathbb E\lVert J\xi\rVert^2=\lVert J\rVert_F^2$. At $\sigma=0.1$ the noise crosses kinks and
# the function's curvature along the arcs, and the estimate drifts.

# %% tags=["solution"]
def augmentation_energy(net, x, sigma, g, repeats=20):
    """E ||phi(x + sigma xi) - phi(x)||^2 / sigma^2, averaged over points and noise draws."""
    # HINT: draw xi with torch.randn(repeats, *x.shape, generator=g, dtype=x.dtype); compare net(x + sigma xi) with net(x)
    # BEGIN SOLUTION
    xi = torch.randn(repeats, *x.shape, generator=g, dtype=x.dtype)  # (R, N, 2)
    with torch.no_grad():
        diff = net(x.repeat(repeats, 1) + sigma * xi.reshape(-1, 2)) - net(x).repeat(repeats, 1)
    return float(diff.square().sum(1).mean()) / sigma**2
    # END SOLUTION


# first a linear map, where the ratio is ||W||_F^2 for every sigma (E ||W xi||^2 = ||W||_F^2)
lin = torch.nn.Linear(2, 3, dtype=torch.float64)
x_lin = torch.randn(200, 2, generator=runtime.generator(3), dtype=torch.float64)
print(f"linear map: {augmentation_energy(lin, x_lin, 0.1, runtime.generator(5)):.3f} "
      f"vs ||W||_F^2 = {float(lin.weight.detach().square().sum()):.3f}")
net_ex, x_ex = ssl[0.0]["net"], ssl[0.0]["x"]
# each output row depends on its own input row only: the Jacobian of the batch sum is (3, N, 2)
jac = torch.autograd.functional.jacobian(lambda v: net_ex(v).sum(0), x_ex)
dirichlet = float(jac.square().sum()) / len(x_ex)  # E ||J(x)||_F^2
for sigma in (0.01, 0.03, 0.1):
    aug = augmentation_energy(net_ex, x_ex, sigma, runtime.generator(7))
    print(f"sigma={sigma}: augmentation {aug:.2f} vs Dirichlet {dirichlet:.2f}")

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p43-4
#
# The official code's downstream task has four classes: the moon and the upper/lower half of each
# arc. On uniform arcs, why can a *classifier* on the three VICReg features reach high accuracy on
# the `upper` bit even though the regression error of claim 5 is large? What does this say about
# measuring "captured" with accuracy rather than with $L^2$ error?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p43-4
# :class: dropdown
#
# The first mode on each arc is monotone along the arc and changes sign at its midpoint, so its
# *sign* is the `upper` bit: a threshold classifier is almost perfect, although the mode is a
# smooth cosine, far from the step in $L^2$. Accuracy only asks that the target's level sets be
# reachable by thresholding a linear function of $\phi$; the bound of
# {prf:ref}`p43-thm-bound` is about $L^2$ approximation, the regression error. Accuracy is the
# more forgiving measure: a representation can be far from a target in $L^2$ and still separate
# its classes. (A logistic probe, `reptutor.metrics.linear_probe_accuracy`, on the three features
# is the experiment to run.)
# ```

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
