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
#     - P11
#     prerequisites:
#     - P07
# ---

# %% [markdown]
# # Self-labelling as optimal transport (SeLa)
#
# **Paper.** Asano, Rupprecht, Vedaldi, *Self-labelling via Simultaneous Clustering and
# Representation Learning*, ICLR 2020 {cite}`asano2020selflabelling`. It answers a weakness of
# DeepCluster {cite}`caron2018deep` with the entropic optimal transport of
# {cite}`cuturi2013sinkhorn`, solved by the matrix scaling of {cite}`sinkhorn1967concerning`; the
# same solver, run for three iterations per batch, is the heart of SwAV
# {cite}`caron2020unsupervised`. {cite}`peyre2019computational` is the reference for the
# transport background.
#
# A network can invent its own classes: cluster the data, use the clusters as labels, train a
# classifier on them, and repeat. If the labels and the classifier are chosen *together* to
# minimise the cross-entropy, the best choice is useless: put every sample in one cluster and
# predict that cluster with certainty, at zero loss. SeLa keeps the cross-entropy and adds one
# constraint: the $N$ samples must be split into $K$ clusters of equal size. The label step then
# becomes an optimal transport problem between samples and clusters, which an entropic
# regularisation makes solvable with a few matrix-vector products per iteration.
#
# **What you will learn**
#
# * why jointly minimising the cross-entropy over labels and network is degenerate, and how the
#   equipartition constraint removes the degenerate solution;
# * how the label step becomes a linear program over the transportation polytope, and why the
#   relaxation is exact;
# * entropic regularisation, the Sinkhorn-Knopp fixed point $Q=\operatorname{diag}(\beta)\,
#   P^{\lambda}\operatorname{diag}(\alpha)$, and a bound $\log K/\lambda$ on what the
#   regularisation costs;
# * the information view: under equipartition the objective is $\log K - I(y; i)$;
# * how to check a transport solver against the exact linear program, and what self-labelling
#   does on real digits compared with DeepCluster's k-means loop and with the same loop stripped
#   of its constraint;
# * how to read a learned representation with k-means against honest controls, and what the
#   number of clusters and of heads changes.
#
# **Prerequisites.** The softmax cross-entropy; entropy and mutual information (Part I); the
# definition of a linear program. No earlier chapter of this part is needed.

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
import warnings

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

from reptutor import claims, metrics, plot, runtime, solvers, train
from reptutor.data import augment_digits, load_digits_tensors
from reptutor.models import MLP

seed = runtime.seed_everything(0)
dev = runtime.device()
cfg = runtime.pick(
    ci=dict(n=200, k=10, logit_scale=2.0, lams=[0.5, 1, 2, 5, 10, 25],  # solver check
            solver_max_iter=20_000,
            copies=1, heads=5, hidden=[256, 128], epochs=40, batch_size=128,  # self-labelling
            lr=0.05, label_tol=1e-2, label_max_iter=10_000,
            pca_dim=32, kmeans_iter=20,                                      # DeepCluster
            over_k=[20, 40], readout_runs=5),                     # K ablation, feature read-out
    full=dict(n=1000, k=20, logit_scale=2.0, lams=[0.5, 1, 2, 5, 10, 25],
              solver_max_iter=200_000,
              copies=10, heads=10, hidden=[1024, 512], epochs=200, batch_size=256,
              lr=0.05, label_tol=1e-3, label_max_iter=100_000,
              pca_dim=64, kmeans_iter=20,
              over_k=[20, 40, 80], readout_runs=10),
)
LAM = 25.0  # SeLa's lambda: the default of the authors' code (--lamb 25)
plot.set_theme()
print(f"seed={seed} device={dev} scale={runtime.scale()}")

# %% [markdown]
# ## The self-labelling objective and its degenerate solution
#
# A network $\Phi$ followed by a linear head $h$ gives label posteriors
# $p(y\mid x_i)=\operatorname{softmax}(h(\Phi(x_i)))_y$ over $K$ labels for the $N$ training
# samples. With ground-truth labels we would minimise the average cross-entropy. Without them
# SeLa introduces label posteriors $q(y\mid x_i)$ to be chosen as well, and minimises
#
# $$
# E(p,q) = -\frac1N\sum_{i=1}^N\sum_{y=1}^K q(y\mid x_i)\,\log p(y\mid x_i).
# $$
#
# The paper writes its matrices $K\times N$ (clusters by samples); this book stores everything
# samples first, so below $P$ and $Q$ are $N\times K$ and `plan[i, y]` is the paper's $Q_{yi}$.
#
# ```{prf:definition} Self-labelling with equipartition
# :label: p11-def-selflabel
#
# $$
# \min_{p,\,q}\ E(p,q)\quad\text{subject to}\quad q(y\mid x_i)\in\{0,1\},\quad
# \sum_{y} q(y\mid x_i)=1,\quad \sum_{i=1}^N q(y\mid x_i)=\frac NK\ \ \text{for every } y .
# $$
#
# The last constraint (*equipartition*) asks every label to be used by the same number of
# samples.
# ```
#
# ```{prf:remark} Without equipartition the minimum is degenerate
# :label: p11-rem-degenerate
#
# Always $E\ge 0$. Drop the last constraint, give every sample the label 1, and let the head's
# bias for label 1 grow to $b$ while the other outputs stay 0: then
# $E=\log\big(1+(K-1)e^{-b}\big)\to 0$. The infimum is reached by a network that ignores its
# input. Alternating "labels = argmax of the network, then train on them" slides towards this
# solution, which is what the experiment below shows.
# ```
#
# ## The label step is an optimal transport problem
#
# Fix the network and optimise over $q$ alone. Write $P_{iy}=p(y\mid x_i)/N$ and
# $Q_{iy}=q(y\mid x_i)/N$: both are joint distributions over (sample, label). Then
#
# $$
# E(p,q)+\log N=\sum_{i,y}Q_{iy}\,(-\log P_{iy})=\langle Q,-\log P\rangle ,
# $$
#
# because $\sum_{i,y}Q_{iy}=1$. The constraints say that $Q$ has row sums $c_i=1/N$ (each sample
# has one label) and column sums $r_y=1/K$ (equipartition). Relaxing $q\in\{0,1\}$ to $q\ge 0$
# gives the transportation polytope
#
# $$
# U(r,c)=\Big\{Q\in\mathbb R_+^{N\times K}:\ \textstyle\sum_y Q_{iy}=c_i,\ \sum_i Q_{iy}=r_y\Big\},
# \qquad \min_{Q\in U(r,c)}\ \langle Q, -\log P\rangle ,
# $$
#
# a linear program (an optimal transport problem with cost $C=-\log P$). When $K$ divides $N$
# the relaxation loses nothing: copy each cluster $N/K$ times and $U(r,c)$ becomes the set of
# doubly stochastic $N\times N$ matrices (divided by $N$), whose vertices are permutations
# (Birkhoff-von Neumann). An optimal vertex is a hard, exactly balanced labelling, and the
# Hungarian algorithm finds it: `reptutor.solvers.exact_equipartition` does this, in
# $O(N^3)$ time. That is exact, but far too slow for a million images.
#
# ## Entropic regularisation and the Sinkhorn-Knopp fixed point
#
# Following {cite}`cuturi2013sinkhorn`, SeLa adds an entropy term, with $H(Q)=-\sum_{i,y}Q_{iy}
# \log Q_{iy}$ and a strength $1/\lambda$:
#
# $$
# \min_{Q\in U(r,c)}\ \langle Q,-\log P\rangle-\frac1\lambda H(Q).
# $$
#
# (The paper writes the term as $\frac1\lambda\operatorname{KL}(Q\,\|\,rc^\top)$, which differs
# from $-\frac1\lambda H(Q)$ by a constant on $U(r,c)$.)
#
# ```{prf:theorem} The entropic plan is a diagonal scaling of P to the power lambda
# :label: p11-thm-sinkhorn
#
# Let $P_{iy}>0$ for all $i,y$, $\lambda>0$, and $r,c$ positive with $\sum_y r_y=\sum_i c_i$.
# The regularised problem has a unique solution, and it has the form
#
# $$
# Q^{\lambda}_{iy}=\beta_i\,p(y\mid x_i)^{\lambda}\,\alpha_y ,
# $$
#
# for vectors $\alpha\in\mathbb R_{+}^{K}$, $\beta\in\mathbb R_+^N$ that are unique up to
# $(t\alpha,\beta/t)$. With $G_{iy}=p(y\mid x_i)^\lambda$, the Sinkhorn-Knopp iterations
#
# $$
# \alpha\leftarrow r\oslash(G^\top\beta)\quad\text{(cluster step)},\qquad
# \beta\leftarrow c\oslash(G\,\alpha)\quad\text{(sample step)}
# $$
#
# ($\oslash$ is element-wise division) converge to these scalings from any positive start, and
# the convergence is linear.
# ```
#
# ```{prf:proof}
# *Existence and uniqueness.* $U(r,c)$ is compact, convex and not empty ($rc^\top/\sum r$ is in
# it), and the objective is continuous and strictly convex because $-H$ is.
#
# *Form.* The derivative of $Q\log Q$ is $-\infty$ at 0, so the minimiser has no zero entry and
# only the equality constraints are active. With multipliers $a_i$ for the rows and $b_y$ for
# the columns, stationarity of the Lagrangian reads
# $-\log p(y\mid x_i)+\frac1\lambda(\log Q_{iy}+1)=a_i+b_y$, that is
# $Q_{iy}=e^{\lambda a_i-1}\,p(y\mid x_i)^\lambda\,e^{\lambda b_y}$: a row factor $\beta_i$ times
# $G_{iy}$ times a column factor $\alpha_y$.
#
# *Iterations.* The two updates are exactly what makes the column sums, then the row sums, of
# $\operatorname{diag}(\beta)G\operatorname{diag}(\alpha)$ right. Each one maximises the concave
# dual function over one block of variables ($b$, then $a$) with the other held fixed: this is
# block coordinate ascent, or alternating KL projections onto the row and column constraints.
# Sinkhorn and Knopp proved convergence for positive matrices
# {cite}`sinkhorn1967concerning`. The linear rate comes from Hilbert's projective metric
# $d_H(u,v)=\log\max_j(u_j/v_j)-\log\min_j(u_j/v_j)$ on positive vectors
# {cite}`franklin1989scaling` ({cite}`peyre2019computational`, Sec. 4.2). Entrywise division
# is an isometry for $d_H$, and by Birkhoff's theorem a positive matrix $G$ contracts it by the
# factor $\kappa(G)=\tanh(\Delta(G)/4)$, where
# $\Delta(G)=\max_{i,i',y,y'}\log\frac{G_{iy}G_{i'y'}}{G_{i'y}G_{iy'}}$ is the largest log
# cross-ratio over pairs of rows and pairs of columns. A full iteration multiplies by $G^\top$
# and by $G$, so it shrinks $d_H(\alpha,\alpha^\star)$ by at least $\kappa^2$. For
# $G=P^{\lambda}$, $\Delta(G)=\lambda\Delta(P)$, and
# $\Delta(P)\le 2\max_i\max_{y,y'}|\log p(y\mid x_i)-\log p(y'\mid x_i)|$, twice the largest
# spread within a row. Since $1-\tanh^2(t)\approx4e^{-2t}$ for large $t$, the guaranteed number
# of iterations for a fixed accuracy grows like $e^{\lambda\Delta(P)/2}$: large $\lambda$ and
# confident networks need many iterations.
# ```
#
# Two practical consequences.
#
# * **Log domain.** $P^{\lambda}$ overflows or underflows for large $\lambda$. Writing
#   $\log\alpha$, $\log\beta$ and replacing the products by log-sum-exps keeps every step finite
#   for any $\lambda$. `sinkhorn_knopp(..., method="log")` does this. `method="scaling"`
#   exponentiates once and then runs only matrix-vector products, which is faster. Once
#   $\lambda$ times the spread of a row of $\log P$ passes about 700 (float64), small entries
#   underflow to 0. One at a time that is harmless. If a whole column underflows, that cluster
#   cannot be rebalanced any more, and the solver raises an error that points to the log domain.
#   The default, `method="auto"`, runs the scaling path where it can certify that the
#   underflowed entries change nothing (it checks their share of every row and column sum) and
#   the log domain otherwise, so it returns the log domain's plan at the scaling path's speed.
# * **Rows and columns are free.** Adding a constant to a row of $\log P$ (a sample-dependent
#   offset such as the log-normaliser of a softmax) or to a column changes only $\beta$ or
#   $\alpha$, not the plan. Logits can be passed instead of log-probabilities.
#
# How much does the regularisation cost? The answer is a bound that depends on $K$ only.
#
# ```{prf:proposition} The entropic plan is within log K / lambda of the linear program
# :label: p11-prop-gap
#
# Let $Q^\star$ solve the linear program and $Q^\lambda$ the regularised problem, with $r=\mathbf
# 1/K$ and $c=\mathbf 1/N$. Then
#
# $$
# 0\ \le\ \langle Q^{\lambda},C\rangle-\langle Q^\star,C\rangle\ \le\ \frac{\log K}{\lambda},
# $$
#
# and $\lambda\mapsto\langle Q^\lambda,C\rangle$ is non-increasing.
# ```
#
# ```{prf:proof}
# The left inequality holds because $Q^\lambda$ is feasible for the linear program. For the right
# one, optimality of $Q^\lambda$ gives
# $\langle Q^\lambda,C\rangle-\frac1\lambda H(Q^\lambda)\le\langle Q^\star,C\rangle-\frac1\lambda
# H(Q^\star)$. Read $Q$ as the joint law of a sample index $i$ and a label $y$. Then
# $H(Q)=H(i)+H(y\mid i)=\log N+H(y\mid i)$ with $0\le H(y\mid i)\le\log K$, so
# $H(Q^\lambda)-H(Q^\star)\le\log K$. For monotonicity, write the optimality of $Q^{\lambda_1}$
# and of $Q^{\lambda_2}$ ($\lambda_1<\lambda_2$) against each other and add the two
# inequalities. This gives $H(Q^{\lambda_1})\ge H(Q^{\lambda_2})$. Put that back into the
# optimality of $Q^{\lambda_2}$ to get
# $\langle Q^{\lambda_2},C\rangle\le\langle Q^{\lambda_1},C\rangle$.
# ```
#
# ## The information view
#
# Why is equipartition the *right* constraint, and not just a trick against collapse? Read the
# plan $Q$ as a joint distribution of a data index $i$ (uniform, $c=\mathbf 1/N$) and a label
# $y$.
#
# ```{prf:proposition} Under equipartition, minimising E maximises I(y; i)
# :label: p11-prop-information
#
# For any $Q\in U(\mathbf 1/K,\mathbf 1/N)$ with label posteriors $q(y\mid x_i)=NQ_{iy}$,
#
# $$
# \min_p E(p,q)=H_Q(y\mid i)=\log K-I_Q(y;i),
# $$
#
# attained at $p=q$. The joint minimum of $E$ under equipartition therefore picks the labelling
# that carries the most information about *which* sample it labels.
# ```
#
# ```{prf:proof}
# $E(p,q)=\frac1N\sum_i\big[H(q_i)+\operatorname{KL}(q_i\,\|\,p_i)\big]\ge\frac1N\sum_i H(q_i)
# =H_Q(y\mid i)$, with equality iff $p_i=q_i$ for every $i$. Equipartition fixes the label
# marginal to uniform, $H_Q(y)=\log K$, and $I_Q(y;i)=H_Q(y)-H_Q(y\mid i)$.
# ```
#
# Without equipartition the same identity reads $\min_p E=H(y)-I(y;i)$, and the collapsed
# solution has $H(y)=I(y;i)=0$: it minimises $E$ by giving up all information. The entropy term
# of the regulariser is $-\frac1\lambda(\log N+H_Q(y\mid i))$. It nudges the labelling towards
# *less* certainty, and it vanishes as $\lambda\to\infty$. At the end of the experiment we estimate
# $I(y;i)$ from the trained network's posteriors as $\hat I=H(\bar p)-\frac1N\sum_i
# H(p(\cdot\mid x_i))$, with $\bar p$ the average posterior.
#
# ## From scratch
#
# The paper's algorithm in plain torch, on a small random problem (the kernel
# $G=P^{\lambda}$ is formed directly, which is fine at small $\lambda$). It starts from
# $\beta=c$ and does the cluster step first, as the authors' code does. Then we check it against
# the library's log-domain solver run for the same number of iterations, and against the general
# entropic transport solver `solvers.sinkhorn(cost, eps)`: SeLa's problem is entropic optimal
# transport with cost $C=-\log P$ and strength $\varepsilon=1/\lambda$.

# %%
def sinkhorn_from_scratch(log_p, lam, n_iter):
    G = torch.exp(lam * log_p)                    # (N, K) the kernel P^lambda
    n, k = G.shape
    beta = torch.full((n,), 1.0 / n, dtype=G.dtype)
    for _ in range(n_iter):
        alpha = (1.0 / k) / (G.T @ beta)          # (K,) cluster step: column sums -> 1/K
        beta = (1.0 / n) / (G @ alpha)            # (N,) sample step: row sums -> 1/N
    return beta[:, None] * G * alpha[None, :]     # (N, K) diag(beta) G diag(alpha)


g_demo = runtime.generator(seed)
log_p_demo = torch.randn(12, 3, generator=g_demo, dtype=torch.float64).log_softmax(1)  # (12, 3)
ours = sinkhorn_from_scratch(log_p_demo, lam=4.0, n_iter=50)
lib = solvers.sinkhorn_knopp(log_p_demo, lam=4.0, tol=None, max_iter=50)
torch.testing.assert_close(ours, lib.plan)
general = solvers.sinkhorn(-log_p_demo, 1 / 4.0, tol=None, max_iter=50)  # cost -log P, eps = 1/lam
torch.testing.assert_close(ours, general.plan)
print("row sums", ours.sum(1)[:3].tolist(), "... column sums", ours.sum(0).tolist())

# %% [markdown]
# ## Experiment 1: the solver against the exact linear program
#
# Random posteriors $P=\operatorname{softmax}(s\,Z)$ with $Z$ standard normal, $N$ samples and $K$
# clusters ($K$ divides $N$). The exact LP optimum comes from the Hungarian algorithm on the
# replicated cost. For each $\lambda$ we solve the regularised problem (default
# `method="auto"`, the log domain's plan) to an L1 marginal error of $10^{-7}$ and record the
# transport cost $\langle Q^\lambda,-\log P\rangle$.
# Both marginals are measured directly on the returned plan, not read from the solver's report.

# %%
gen = runtime.generator(seed)
n, k = cfg["n"], cfg["k"]
log_p = (cfg["logit_scale"] * torch.randn(n, k, generator=gen, dtype=torch.float64)).log_softmax(1)
cost = -log_p                                     # (N, K) transport cost C = -log P
lp = solvers.exact_equipartition(cost)            # exact LP optimum (Hungarian algorithm)

rows, plans = [], {}
for lam in cfg["lams"]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", solvers.ConvergenceWarning)
        res = solvers.sinkhorn_knopp(log_p, lam=lam, tol=1e-7, max_iter=cfg["solver_max_iter"])
    plans[lam] = res.plan
    rows.append(dict(
        lam=lam, cost=float((res.plan * cost).sum()), iterations=res.n_iter,
        converged=res.converged, warned=len(caught) > 0,
        row_error=float((res.plan.sum(1) - 1 / n).abs().sum()),  # sample marginal, L1
        column_error=float((res.plan.sum(0) - 1 / k).abs().sum()),  # cluster marginal, L1
    ))
table = pd.DataFrame(rows)
table["gap"] = table["cost"] - float(lp.value)
table["bound log K / lam"] = math.log(k) / table["lam"]
at = table.set_index("lam").loc[LAM]
runtime.glue("P11.lp-value", float(lp.value))
runtime.glue("P11.iters-25", int(at["iterations"]))
runtime.glue("P11.gap-ratio-25", float(at["gap"] / at["bound log K / lam"]))
table

# %%
fig, axes = plot.subplots(2, width=4.6)
ax = plot.measured_vs_theory(table["lam"], table["cost"],
                             theory=float(lp.value) + table["bound log K / lam"],
                             label="Sinkhorn plan", theory_label="LP + log K / λ (bound)",
                             ax=axes[0][0])
plot.reference_line(ax, float(lp.value), "LP optimum", color=plot.PALETTE["baseline"], style=":")
ax.set_xscale("log")
ax.set_xlabel("λ")
ax.set_ylabel("transport cost ⟨Q, −log P⟩")
ax.legend(frameon=False, fontsize=8)
ax.set_title("Cost approaches the LP")
ax = axes[0][1]
ax.plot(table["lam"], table["iterations"], marker="o", color=plot.PALETTE["measured"])
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("λ")
ax.set_ylabel("iterations to L1 error 1e-7")
ax.set_title("…and costs iterations");

# %% [markdown]
# The measured cost falls towards the LP optimum ({glue:text}`P11.lp-value:.4f`) and stays under
# the bound of {prf:ref}`p11-prop-gap` at every $\lambda$. The bound is loose in practice: at
# $\lambda=25$ the gap uses only {glue:text}`P11.gap-ratio-25:.3f` of it. The price is on the
# right: at $\lambda=25$ the solver needed {glue:text}`P11.iters-25` iterations, and the count
# grows quickly with $\lambda$, as the contraction argument predicts.
#
# What the regularisation does to the plan is easiest to see on a small problem: 30 samples,
# 3 clusters, rows sorted by the LP's labels and drawn as the paper does (clusters by samples).
# At $\lambda=1$ the plan is blurred. At $\lambda=25$ it is nearly the hard LP assignment.

# %%
small = (2.0 * torch.randn(30, 3, generator=gen, dtype=torch.float64)).log_softmax(1)  # (30, 3)
small_lp = solvers.exact_equipartition(-small)
order = torch.argsort(small_lp.labels, stable=True)
panels = [("λ = 1", solvers.sinkhorn_knopp(small, lam=1.0).plan),
          ("λ = 25", solvers.sinkhorn_knopp(small, lam=25.0, tol=1e-4, max_iter=20_000).plan),
          ("exact LP", small_lp.plan)]
fig, axes = plot.subplots(3, width=3.6, height=2.2)
for ax, (title, q) in zip(axes[0], panels):
    plot.heatmap(30 * q[order].T, ax=ax, title=title, xlabel="sample (sorted)", ylabel="cluster")

# %% [markdown]
# The colour is $N\,Q_{iy}=q(y\mid x_i)$, the label posterior each sample receives.
#
# ## Experiment 2: self-labelling handwritten digits
#
# The 1,797 8x8 digits of scikit-learn have ten classes, which the networks never see. A
# BatchNorm MLP with $K=10$ outputs per head is trained by alternating two steps, one per epoch
# (the diagram below):
#
# 1. **labels**: with the network fixed, pass every sample through it and pick its label;
# 2. **network**: with the labels fixed, one epoch of cross-entropy on augmented digits (a random
#    shift of at most one pixel plus Gaussian noise), SGD with momentum.
#
# The runs differ only in step 1 (and in what it implies for step 2). All start from the same
# initial network body and see the same augmentations.
#
# * **SeLa**: $\hat y_i=\arg\max_y Q^\lambda_{iy}$ with $\lambda=25$, one head.
# * **SeLa, $H$ heads**: the paper's multiple heads ($H=$ {glue:text}`P11.heads` here). $H$
#   linear heads share the body, each has its own transport problem (solved together as one
#   batched problem) and its own labels, and the loss averages the heads' cross-entropies. The
#   clusters reported below are head 0's.
# * **DeepCluster** as published {cite}`caron2018deep`: k-means (20 Lloyd iterations) on the
#   body's features, PCA-whitened to 32 dimensions and L2-normalised, with the paper's two fixes
#   against collapse. The features are those of the last hidden layer *before* its ReLU: the
#   official code drops the final ReLU of AlexNet's classifier before it computes the features
#   to cluster, then puts it back to train (`main.py` of facebookresearch/deepcluster), and its
#   `preprocess_features` whitens and normalises them as here. Empty clusters are re-split
#   during k-means (`solvers.kmeans`), and each epoch samples the same number of digits from
#   every cluster (`solvers.uniform_cluster_indices`). The classifier is re-initialised every
#   epoch (the cluster indices change meaning) and trained without momentum, as in the
#   official code.
# * **No constraint**: $\hat y_i=\arg\max_y p(y\mid x_i)$, SeLa's loop with the equipartition
#   removed. No published method runs this loop; it is the ablation that shows what the
#   constraint prevents ({prf:ref}`p11-rem-degenerate`), and the null of the collapse claim.
# * **Shuffled labels**: SeLa's loop, but the labels of each label step are dealt out to the
#   samples in a random order. They stay balanced but say nothing about the sample. This run is
#   a control for the representation (Experiment 3).
# * **SeLa, $K=20$ and $K=40$**: one head with two and four times as many clusters as digit
#   classes, for the paper's ablation over the number of clusters (Experiment 3).
#
# The transport problems use the `"scaling"` path in float64, as the authors' code does, and our
# stopping rule: the L1 error of the cluster marginal is at most $10^{-2}$. The authors' code
# stops differently. Every 10 iterations it computes
# $\mathrm{err}=\sum_i|c_i/c_i^{\mathrm{new}}-1|$, where $c$ is the sample scaling (our $\beta$)
# before and after one iteration, and it stops when $\mathrm{err}<0.1$. After their cluster
# step the plan's row sums are $c_i/(N c^{\mathrm{new}}_i)$, so $\mathrm{err}$ is $N$ times the
# L1 error of the sample marginal: their rule asks for an L1 error below $0.1/N$, far tighter
# than our $10^{-2}$. After training we run their loop on SeLa's final posteriors and count the
# labels on which the two rules disagree. The network is evaluated on the un-augmented digits:
# NMI between its argmax cluster (head 0) and the true digit, and the sizes of its clusters.
# The PCA dimension of the DeepCluster run (32 of the 128 feature dimensions; the official code
# keeps 256 of AlexNet's 4096) and the number of heads (5 rather than the paper's 10) were
# chosen by looking at the NMI of a few seeds: 32 made the baseline stronger, and 10 heads were
# no better than 5 and slower.

# %%
fig, ax = plot.subplots(1, width=9.0, height=2.8)
stages = [(0.08, "digits $x_i$\n(augmented)"),
          (0.33, "network $\\Phi$, head $h$\n$\\log p(y\\mid x_i)$"),
          (0.61, "label step\nSeLa: Sinkhorn, argmax $Q$\nDeepCluster: k-means"),
          (0.89, "labels $\\hat y_i$\n(SeLa: about $N/K$ each)")]
for xc, text in stages:
    ax.text(xc, 0.66, text, ha="center", va="center", fontsize=9,
            bbox=dict(boxstyle="round,pad=0.4", fc="white", ec=plot.PALETTE["measured"]))
for (x0, _), (x1, _) in zip(stages, stages[1:]):  # step 1: data -> network -> labels
    ax.annotate("", xy=(x1 - 0.095, 0.66), xytext=(x0 + 0.095, 0.66),
                arrowprops=dict(arrowstyle="->", color="0.3"))
ax.annotate("", xy=(0.33, 0.42), xytext=(0.89, 0.42),  # step 2: the labels train the network
            arrowprops=dict(arrowstyle="->", color=plot.PALETTE["highlight"],
                            connectionstyle="arc3,rad=-0.25"))
ax.text(0.61, 0.04, "network step: one epoch of cross-entropy on the labels, then repeat",
        ha="center", fontsize=9, color=plot.PALETTE["highlight"])
ax.set(xlim=(0, 1), ylim=(0, 1), title="The alternating loop of self-labelling")
ax.axis("off");

# %%
x, y = load_digits_tensors(device=dev)             # (1797, 64) in [0, 1], (1797,) digits
K = 10
g_copies = runtime.generator(seed + 1, device=dev)
x_train = torch.cat([x] + [augment_digits(x, g_copies)
                          for _ in range(cfg["copies"] - 1)])  # (N, 64); N = 1797 at ci scale


def posteriors(model, inputs, heads):              # (N, 64) -> (H, N, k) log p, float64
    model.eval()
    with torch.no_grad():
        return model(inputs).view(len(inputs), heads, -1).log_softmax(-1).double().transpose(0, 1)


def features(model, inputs):                       # (N, 64) -> (N, 128) last hidden layer
    model.eval()
    with torch.no_grad():                          # before its ReLU, as DeepCluster takes them
        return model.layers[:-2](inputs)           # (drop the head and the last ReLU)


def sela_step(model, heads, gen):                  # SeLa: argmax of the transport plan
    res = solvers.equipartition_labels(posteriors(model, x_train, heads), lam=LAM,
                                       tol=cfg["label_tol"], max_iter=cfg["label_max_iter"],
                                       method="scaling")
    return res.labels, None, res.n_iter            # (H, N) labels, every sample once


def shuffled_step(model, heads, gen):              # a null: SeLa's labels, dealt out at random
    labels, _, n_iter = sela_step(model, heads, gen)
    perm = torch.randperm(labels.shape[-1], generator=gen, device=labels.device)  # (N,)
    return labels[:, perm], None, n_iter           # balanced, but unrelated to the samples


def argmax_step(model, heads, gen):                # no constraint: argmax of the network
    return posteriors(model, x_train, heads).argmax(-1), None, 0


def deepcluster_step(model, heads, gen):           # DeepCluster's label step
    z = solvers.pca_whiten(features(model, x_train), cfg["pca_dim"])  # (N, d) whitened, unit norm
    km = solvers.kmeans(z, K, generator=gen, max_iter=cfg["kmeans_iter"])  # empty ones re-split
    idx = solvers.uniform_cluster_indices(km.labels, len(x_train), generator=gen)  # (N,) balanced
    head = model.layers[-1]                        # a new classifier for the new clusters
    with torch.no_grad():
        head.weight.normal_(0.0, 0.01, generator=gen)
        head.bias.zero_()
    return km.labels[None], idx, km.n_split        # (1, N) labels, the sampled epoch


def new_network(k, heads=1):
    # the same initial body for every run (the head is drawn last, after the body)
    return MLP(64, cfg["hidden"], k * heads, batch_norm=True,
               generator=runtime.generator(seed + 2)).to(dev)


def self_label(step, name, heads=1, k=K):
    model = new_network(k, heads)
    head = model.layers[-1]
    opt = torch.optim.SGD([dict(params=list(model.layers[:-1].parameters())),
                           dict(params=list(head.parameters()),
                                momentum=0.0 if step is deepcluster_step else 0.9)],
                          lr=cfg["lr"], momentum=0.9)
    g_batches, g_aug = runtime.generator(seed), runtime.generator(seed, device=dev)
    g_step = runtime.generator(seed + 3, device=dev)

    def cross_entropy(model, batch):               # batch: (B, 64) digits, (B, H) labels
        xb, yb = batch
        logits = model(augment_digits(xb, g_aug)).view(len(xb), heads, k)  # (B, H, k)
        return F.cross_entropy(logits.reshape(-1, k), yb.reshape(-1))  # mean over heads

    log = {"nmi": [], "largest": [], "loss": [], "step": []}
    for _ in train.progress(range(cfg["epochs"]), desc=name):
        labels, idx, info = step(model, heads, g_step)           # step 1: fix p, pick labels
        idx = torch.arange(len(x_train), device=dev) if idx is None else idx
        model.train()
        hist = train.fit(model, cross_entropy, (x_train[idx], labels[:, idx].T.contiguous()),
                         epochs=1, batch_size=cfg["batch_size"], optimizer=opt,
                         generator=g_batches, progress=False)     # step 2: fix q, train p
        pred = posteriors(model, x, heads)[0].argmax(-1)  # head 0 on the original digits
        log["nmi"].append(metrics.nmi(y, pred))
        log["largest"].append(metrics.largest_cluster_fraction(pred, k))
        log["loss"].append(float(np.mean(hist["loss"])))
        log["step"].append(info)                   # Sinkhorn iterations / k-means re-splits
    return dict(model=model, heads=heads, k=k, labels=labels[0], log=log)


H = cfg["heads"]
multi = f"SeLa, {H} heads"
runs = {"SeLa": self_label(sela_step, "SeLa"),
        multi: self_label(sela_step, multi, heads=H),
        "DeepCluster": self_label(deepcluster_step, "DeepCluster"),
        "no constraint": self_label(argmax_step, "no constraint"),
        "shuffled labels": self_label(shuffled_step, "shuffled labels")}
for k_over in cfg["over_k"]:                       # the ablation over K: over-clustering
    runs[f"SeLa, K = {k_over}"] = self_label(sela_step, f"SeLa, K = {k_over}", k=k_over)

# %%
def feature_nmi(feats):                            # the read-out of a representation
    z = solvers.pca_whiten(feats.double(), cfg["pca_dim"]).cpu().numpy()  # (1797, d) unit rows
    return float(np.mean([metrics.nmi(y.cpu(), torch.as_tensor(
        KMeans(K, n_init=10, random_state=100 * seed + j).fit_predict(z)))
        for j in range(cfg["readout_runs"])]))     # mean NMI of k-means over runs


summary = {}
for name, run in runs.items():
    log_p_final = posteriors(run["model"], x, run["heads"])[0]  # (1797, k) head 0
    pred = log_p_final.argmax(-1)
    probs = log_p_final.exp()
    mean_p = probs.mean(0)
    info = float(-(mean_p * mean_p.clamp_min(1e-300).log()).sum()
                 + (probs * log_p_final).sum(1).mean())  # H(mean p) - mean H(p)
    summary[name] = dict(k=run["k"], nmi=metrics.nmi(y, pred),
                         largest=metrics.largest_cluster_fraction(pred, run["k"]),
                         features=feature_nmi(features(run["model"], x)),
                         information=info, final_loss=run["log"]["loss"][-1],
                         label_sizes=torch.bincount(run["labels"], minlength=run["k"]).cpu())
results = pd.DataFrame(summary).T.drop(columns="label_sizes")
untrained = new_network(K)                         # the initial network of every run
controls = {"raw pixels": feature_nmi(x), "untrained network": feature_nmi(features(untrained, x)),
            "shuffled labels": summary["shuffled labels"]["features"]}
kmeans = KMeans(K, n_init=10, random_state=seed).fit_predict(x.cpu().numpy())
kmeans_nmi = metrics.nmi(y.cpu(), torch.as_tensor(kmeans))  # k-means on the raw pixels
runtime.glue("P11.kmeans-nmi", kmeans_nmi)
runtime.glue("P11.sela-info", summary["SeLa"]["information"])
runtime.glue("P11.naive-info", summary["no constraint"]["information"])
runtime.glue("P11.naive-loss", summary["no constraint"]["final_loss"])
runtime.glue("P11.sela-loss", summary["SeLa"]["final_loss"])
runtime.glue("P11.sk-iters-max", max(runs["SeLa"]["log"]["step"]))
runtime.glue("P11.dc-splits", sum(runs["DeepCluster"]["log"]["step"]))
runtime.glue("P11.log-k", math.log(K))
runtime.glue("P11.heads", H)
runtime.glue("P11.sela-one-head-features", summary["SeLa"]["features"])
runtime.glue("P11.seed", seed)
results

# %% [markdown]
# The authors' loop, with their stopping rule, on SeLa's final posteriors. It forms $P^\lambda$
# from the probabilities directly, as their code does (fine in float64 at $\lambda=25$ for
# these posteriors).

# %%
def authors_sinkhorn(log_p, lam):                  # sinkhornknopp.py's loop, samples first
    G = log_p.exp() ** lam                         # (N, K) P^lambda
    n, k = G.shape
    c = torch.full((n,), 1.0 / n, dtype=G.dtype)   # (N,) sample scaling, their `c`
    err, it = math.inf, 0
    while err > 0.1:
        r = (1.0 / k) / (G.T @ c)                  # (K,) cluster step
        c_new = (1.0 / n) / (G @ r)                # (N,) sample step
        if it % 10 == 0:                           # tested every 10 iterations
            err = float((c / c_new - 1).abs().sum())  # = N x L1 error of the sample marginal
        c, it = c_new, it + 1
    return (c[:, None] * G * r[None, :]).argmax(1), it  # labels, iterations


final_log_p = posteriors(runs["SeLa"]["model"], x_train, 1)[0]  # (N, K)
ours = solvers.equipartition_labels(final_log_p, lam=LAM, tol=cfg["label_tol"],
                                    max_iter=cfg["label_max_iter"], method="scaling")
theirs, their_iters = authors_sinkhorn(final_log_p, LAM)
runtime.glue("P11.stop-disagree", float((ours.labels != theirs).float().mean()))
runtime.glue("P11.stop-iters-ours", ours.n_iter)
runtime.glue("P11.stop-iters-authors", their_iters)
print(f"labels that differ: {(ours.labels != theirs).float().mean():.4f}; iterations: ours "
      f"{ours.n_iter}, the authors' rule {their_iters}")

# %%
fig, axes = plot.subplots(3, width=4.2)
epochs = np.arange(1, cfg["epochs"] + 1)
colors = {"SeLa": plot.PALETTE["measured"], multi: plot.PALETTE["theory"],
          "DeepCluster": plot.PALETTE["highlight"], "no constraint": plot.PALETTE["baseline"]}
for name, color in colors.items():               # the four main runs
    axes[0][0].plot(epochs, runs[name]["log"]["nmi"], color=color, label=name)
    axes[0][1].plot(epochs, runs[name]["log"]["largest"], color=color, label=name)
plot.reference_line(axes[0][0], kmeans_nmi, "k-means on pixels", color="k", style=":")
plot.reference_line(axes[0][1], 1 / K, "equipartition 1/K")
axes[0][0].set(xlabel="epoch", ylabel="NMI with the true digits (head 0)",
               title="What the clusters find")
axes[0][1].set(xlabel="epoch", ylabel="largest cluster fraction", title="Collapse")
width = 0.27
for j, name in enumerate(["SeLa", "DeepCluster", "no constraint"]):
    sizes = summary[name]["label_sizes"].sort(descending=True).values.numpy()
    axes[0][2].bar(np.arange(K) + (j - 1) * width, sizes, width, color=colors[name], label=name)
plot.reference_line(axes[0][2], len(x_train) / K, "N / K")
axes[0][2].set(xlabel="cluster, by size", ylabel="samples with this label",
               title="Label sizes, last epoch")
for ax in axes[0]:
    ax.legend(frameon=False, fontsize=7)

# %% [markdown]
# The right panel shows the labels of the last label step, largest first: SeLa's
# $\arg\max_y Q_{iy}$ stays close to $N/K$ per cluster (rounding the plan is not exactly
# balanced), DeepCluster's k-means clusters are uneven but none is empty (its re-splits fired
# {glue:text}`P11.dc-splits` times over the run), and the loop without a constraint puts
# almost everything in one label. That loop drives its training loss down to
# {glue:text}`P11.naive-loss:.3f`, below SeLa's {glue:text}`P11.sela-loss:.3f`: the degenerate
# minimum of {prf:ref}`p11-rem-degenerate` in action, a lower objective and a useless
# clustering. The information estimate tells the same story: $\hat I(y;i)$ is
# {glue:text}`P11.sela-info:.2f` nats for SeLa (at most $\log K=$ {glue:text}`P11.log-k:.2f`)
# against {glue:text}`P11.naive-info:.2f` without the constraint.
#
# As the network grows confident, the label step needs more iterations, up to
# {glue:text}`P11.sk-iters-max` in one epoch: the slow convergence of
# {prf:ref}`p11-thm-sinkhorn` at large $\lambda$ times spread. On SeLa's final posteriors our
# rule stopped after {glue:text}`P11.stop-iters-ours` iterations and the authors' rule after
# {glue:text}`P11.stop-iters-authors`; the two label sets differ on a fraction
# {glue:text}`P11.stop-disagree:.4f` of the samples.

# %% [markdown]
# ## Experiment 3: what the representation learned
#
# SeLa is a method for learning the representation $\Phi$; its clusters are a means. The
# paper measures $\Phi$ with linear probes on ImageNet. Here we use the clustering version of a
# probe, which needs no labels to train: k-means with $K=10$ on the body's features, prepared
# as DeepCluster prepares them (the last hidden layer before its ReLU, PCA-whitened to
# {glue:text}`P11.pca-dim` dimensions, each row L2-normalised), scored by the NMI of its
# clusters with the true digits. One k-means run is a noisy read-out on these features: runs
# that end in different local optima differ in NMI by a few hundredths. The read-out is
# therefore the mean NMI of {glue:text}`P11.readout-runs` k-means runs, each the best of 10
# restarts. We chose this averaging after seeing single runs swing from seed to seed.
#
# A trained network must beat three controls under the same read-out: the raw pixels; the
# untrained network (the initial network of every run); and a network trained exactly like
# SeLa, except that its labels are shuffled over the samples at every epoch. The shuffled
# labels are balanced but carry no information about the sample.
#
# Two questions of the paper use this read-out.
#
# * **The number of clusters.** The paper's ablation varies $K$ on ImageNet, from the number
#   of classes (1,000) to several times more, and finds only moderate differences: more
#   clusters than classes (*over-clustering*) does not hurt. Here SeLa is run with one head and
#   $K=20$ and $K=40$, two and four times the ten digit classes, everything else unchanged. The
#   read-out still runs k-means with 10 clusters, so the runs are compared on their
#   representations, not on their $K$-way labels.
# * **Which label step.** On the same trained network (SeLa with $H$ heads), compare SeLa's own
#   labels (head 0, argmax of the plan, on the un-augmented digits) with the labels DeepCluster's
#   label step would give (one k-means run with re-splits on the whitened features). Then do the
#   same on the untrained network.

# %%
def label_steps(model, heads):                     # NMI of SeLa's and DeepCluster's label steps
    sk = solvers.equipartition_labels(posteriors(model, x, heads)[0], lam=LAM,
                                      tol=cfg["label_tol"], max_iter=cfg["label_max_iter"],
                                      method="scaling").labels  # (1797,) head 0
    z = solvers.pca_whiten(features(model, x), cfg["pca_dim"])  # (1797, d)
    km = solvers.kmeans(z, K, generator=runtime.generator(seed + 4, device=dev),
                        max_iter=cfg["kmeans_iter"]).labels     # (1797,)
    return {"SeLa's labels (Sinkhorn)": metrics.nmi(y, sk),
            "DeepCluster's labels (k-means)": metrics.nmi(y, km)}


label_table = pd.DataFrame({f"trained ({multi})": label_steps(runs[multi]["model"], H),
                            "untrained network": label_steps(untrained, 1)})
label_gap = label_table.iloc[0] - label_table.iloc[1]  # SeLa's minus DeepCluster's, per network
runtime.glue("P11.pca-dim", cfg["pca_dim"])
runtime.glue("P11.readout-runs", cfg["readout_runs"])
runtime.glue("P11.label-gap-trained", float(label_gap.iloc[0]))
runtime.glue("P11.label-gap-untrained", float(label_gap.iloc[1]))
label_table

# %%
FEATURE_BAR = 0.80  # the bar of the two representation claims below, chosen on seeds 0-4
bars = {**{f"control: {name}": value for name, value in controls.items()},
        **{name: summary[name]["features"] for name in runs if name != "shuffled labels"}}
fig, ax = plot.subplots(1, width=8.0, height=3.0)
ax.barh(list(bars), list(bars.values()),
        color=[plot.PALETTE["baseline"] if name.startswith("control") else plot.PALETTE["measured"]
               for name in bars])
ax.axvline(FEATURE_BAR, color=plot.PALETTE["highlight"], ls="--", label="the claims' bar")
ax.set(xlim=(0.5, 0.95), xlabel="NMI of k-means (K = 10) on the features, mean of runs",
       title="What k-means finds in each representation")
ax.invert_yaxis()
ax.legend(frameon=False, fontsize=8);

# %% [markdown]
# The chart shows one run (seed {glue:text}`P11.seed`); the claims below give the ranges over
# ten seeds. The controls sit together, and so does the loop without a constraint: its
# collapsed labels taught the network little about the digits. SeLa with $H$ heads, SeLa with
# over-clustering, and DeepCluster sit above them in this run. With one head, SeLa sits closer
# to the bar ({glue:text}`P11.sela-one-head-features:.3f` here). We state the representation
# claim for $H$ heads, the paper's configuration, after seeing the one-head run fall below the
# bar on two of seeds 0-4; the record `P11.multi-head` below measures the difference.
#
# The label steps tell a second story. On the untrained network, SeLa's labels are far worse
# than k-means on its features (NMI difference {glue:text}`P11.label-gap-untrained:.2f`): a
# random linear head has no reason to separate the digits, while its random features still
# resemble the pixels, which k-means clusters well. Training closes most of that gap, to
# {glue:text}`P11.label-gap-trained:.2f` in this run. It does not put SeLa's labels reliably
# ahead of k-means on the same features, as the paper's argument would predict (the record
# `P11.labels-vs-kmeans` below).
#
# ## Claims
#
# Each claim is measured above and asserted below. Thresholds were chosen on seeds 0-4 at ci
# scale (`tools/run_chapter.py --seeds 0 1 2 3 4`) and confirmed on seeds 5-9; the ranges
# quoted come from the committed calibration record. What the solver guarantees for any input
# is checked by the library's unit tests, not here: both marginals of the plan, the identity
# $E+\log N=\langle Q,-\log P\rangle$, the $2\times2$ closed form, the Birkhoff contraction
# per iteration, and the two statements of {prf:ref}`p11-prop-gap` on the problem of
# Experiment 1 (`tests/test_solvers_equipartition.py`).
#
# 1. **`P11.no-collapse`** (reproduction): with the equipartition constraint the network's own
#    clusters stay balanced, the largest holding at most 20 % of the digits (an equipartition
#    gives 10 %). Seeds 0-4: {glue:text}`P11.no-collapse.seeds-0-4`; seeds 5-9:
#    {glue:text}`P11.no-collapse.seeds-5-9`. Null, the same loop without the constraint:
#    {glue:text}`P11.no-collapse.null-range`.
# 2. **`P11.nmi-above-controls`** (reproduction): self-labelling learns a representation. The
#    read-out of Experiment 3 on SeLa's features ($H$ heads) is at least 0.80. Seeds 0-4:
#    {glue:text}`P11.nmi-above-controls.seeds-0-4`; seeds 5-9:
#    {glue:text}`P11.nmi-above-controls.seeds-5-9`. Null, the best of the three controls in each
#    run (raw pixels, untrained network, shuffled labels):
#    {glue:text}`P11.nmi-above-controls.null-range`. The bar, 0.80, was placed between the two
#    ranges of seeds 0-4. The claim holds on the held-out seeds, narrowly: its smallest margin
#    over the ten seeds is {glue:text}`P11.nmi-above-controls.margin:.3f`.
#
# DeepCluster's loop does not collapse either: its largest cluster holds
# {glue:text}`P11.dc-largest:.2f` of the digits in this run. This is not a claim: DeepCluster
# without its two fixes (plain k-means, no uniform sampling) does not collapse here either (we
# checked on seeds 0-4 while writing the chapter; that run is not part of it), and
# with $K=10$ on these features k-means leaves no cluster empty by itself (the re-splits fired
# {glue:text}`P11.dc-splits` times in this run), so the measurement cannot tell the fixes apart
# from their absence.
#
# Four results of the paper did not reproduce at this scale and are recorded as such:
#
# 3. **`P11.over-clustering`**: with $K=20$ and $K=40$ clusters (two and four times the
#    classes), SeLa's features should still pass the bar of claim 2; the record takes the lower
#    of the two runs. Seeds 0-4: {glue:text}`P11.over-clustering.seeds-0-4`; seeds 5-9:
#    {glue:text}`P11.over-clustering.seeds-5-9`; the best control:
#    {glue:text}`P11.over-clustering.null-range`. It was stated as a claim with the bar chosen on
#    seeds 0-4 and failed on one held-out seed, so it is recorded as not reproduced. The
#    over-clustered features stayed above that seed's controls, but by less than the bar asks.
# 4. **`P11.labels-vs-kmeans`**: SeLa's label step should give better labels than k-means on
#    the features, DeepCluster's label step. Measured on the trained network with $H$ heads,
#    the NMI of SeLa's labels minus that of k-means's: {glue:text}`P11.labels-vs-kmeans.seeds-0-4`
#    (seeds 0-4), {glue:text}`P11.labels-vs-kmeans.seeds-5-9` (seeds 5-9). On the untrained
#    network: {glue:text}`P11.labels-vs-kmeans.null-range`. Training closes most of the gap but
#    k-means is level or ahead on most seeds.
# 5. **`P11.multi-head`**: the paper reports that several heads give a better representation
#    than one. Measured, the read-out with $H$ heads minus the read-out with one head:
#    {glue:text}`P11.multi-head.seeds-0-4` (seeds 0-4), {glue:text}`P11.multi-head.seeds-5-9`
#    (seeds 5-9). Usually positive, but not on every seed.
# 6. **`P11.beats-deepcluster`**: the paper reports better features than DeepCluster. Measured,
#    the read-out of SeLa with $H$ heads minus DeepCluster's:
#    {glue:text}`P11.beats-deepcluster.seeds-0-4` (seeds 0-4),
#    {glue:text}`P11.beats-deepcluster.seeds-5-9` (seeds 5-9): the two are level within the
#    noise of the read-out.

# %%
no_constraint = "the same loop without equipartition (labels = argmax p)"
claims.check("P11.no-collapse", summary["SeLa"]["largest"], kind="reproduction", upper=0.2,
             null=summary["no constraint"]["largest"], null_name=no_constraint,
             statement="self-labelling with the equipartition constraint does not collapse: on "
                       "the digits, the trained network's largest cluster holds at most 20% of "
                       "the samples (K=10, 40 epochs)")
runtime.glue("P11.dc-largest", summary["DeepCluster"]["largest"])
best_control = max(controls.values())
controls_name = ("the best of three controls under the same read-out: the raw pixels, the "
                 "untrained network, a network trained on shuffled self-labels")
claims.check("P11.nmi-above-controls", summary[multi]["features"], kind="reproduction",
             lower=FEATURE_BAR, null=best_control, null_name=controls_name,
             statement=f"self-labelling ({H} heads, K=10, 40 epochs) learns features on which "
                       "k-means recovers the digit classes with NMI >= 0.80 (mean of k-means "
                       "runs on the pre-ReLU features, PCA-whitened and L2-normalised)")
claims.not_reproduced(
    "P11.over-clustering",
    measured=min(summary[f"SeLa, K = {k_over}"]["features"] for k_over in cfg["over_k"]),
    expected=">= 0.80 on every seed, the bar of P11.nmi-above-controls",
    null=best_control, null_name=controls_name,
    statement="over-clustering does not hurt: SeLa with one head and K = "
              f"{' and '.join(map(str, cfg['over_k']))} clusters for 10 digit classes learns "
              "features on which k-means (10 clusters) recovers the classes with NMI >= 0.80 "
              "(the lower of the runs)",
    why="it held on seeds 0-4, where the bar was chosen, but on one held-out seed the lower of "
        "the two runs fell just below the bar (still above that seed's controls): the margin, "
        "like the noise of the read-out, is a few hundredths at this scale")
claims.not_reproduced(
    "P11.labels-vs-kmeans", measured=float(label_gap.iloc[0]),
    expected="> 0: SeLa's label step beats k-means on the same features",
    null=float(label_gap.iloc[1]), null_name="the same comparison on the untrained network",
    statement=f"on a trained SeLa network ({H} heads), SeLa's self-labels (argmax of the plan) "
              "match the digit classes better (NMI) than DeepCluster's label step, k-means on "
              "the whitened features",
    why="training brings SeLa's labels from far below k-means to about its level, not above "
        "it: on 1,797 digits the features of the last hidden layer separate the classes at "
        "least as well as the head trained on the network's own labels")
claims.not_reproduced(
    "P11.multi-head", measured=summary[multi]["features"] - summary["SeLa"]["features"],
    expected="> 0: more heads, better features (paper, ablation of the number of heads)",
    statement=f"training {H} heads, each with its own equipartitioned labels, gives a better "
              "representation than one head (the k-means read-out of the features)",
    why="at this scale the difference is positive on most seeds and negative on some; the "
        "read-out's noise is of the same order as the effect")
claims.not_reproduced(
    "P11.beats-deepcluster",
    measured=summary[multi]["features"] - summary["DeepCluster"]["features"],
    expected="> 0: SeLa's features beat DeepCluster's (paper, ImageNet linear probes)",
    statement="self-labelling with equipartition learns a better representation than "
              "DeepCluster's k-means loop (the k-means read-out of the features, same network "
              "and epochs)",
    why="on 1,797 digits the two representations are level within the read-out's noise, each "
        "ahead on some seeds")
claims.summary("P11")

# %%
for cid in ("P11.no-collapse", "P11.nmi-above-controls", "P11.over-clustering",
            "P11.labels-vs-kmeans", "P11.multi-head", "P11.beats-deepcluster"):
    claims.glue_calibration(cid, fmt=".3g")

# %% [markdown]
# ## What the toy scale cannot show
#
# * **Representation quality.** The paper's results are about the *features*: linear probes
#   and transfer of AlexNet and ResNet-50 trained on ImageNet with thousands of clusters and
#   several heads. An MLP on 1,797 digits says nothing about those numbers. Here the mechanism
#   reproduces (equipartition prevents collapse), and the trained features beat honest controls.
#   Over-clustering comes close to doing as well, but not on every seed. The finer comparisons
#   (one head against several, SeLa against DeepCluster, SeLa's labels against k-means's) are
#   differences of a few hundredths, the size of the read-out's own noise, and are recorded as
#   not reproduced. Linear probes, the
#   paper's measure, are not computed here; the k-means read-out is a different reading of the
#   representation.
# * **The range of $K$.** The ablation covers two and four times the number of classes, one head
#   each; the paper goes from 1,000 to 10,000 clusters and also combines many clusters with
#   many heads.
# * **The schedule.** The authors' code re-solves the labels a fixed number of times over the
#   run (its `--nopts` option), more often early on. We re-solve every epoch, which is cheap
#   here.
# * **Scale of the label step.** With $N$ in the millions and $K=3000$, the cost per iteration
#   ($O(NK)$) and the number of iterations both matter. The `"scaling"` path and `check_every`
#   (fewer GPU synchronisations) are there for that, but they are not benchmarked in this
#   chapter.
# * **The full configuration** (a GPU) uses 10 augmented copies of the digits (about 18,000
#   samples), a wider MLP, 10 heads solved as one batched transport problem, 200 epochs, an
#   ablation up to $K=80$, and a solver check with $N=1000$, $K=20$. The claims' thresholds
#   were calibrated at ci scale only. The full configuration has not been run.
#
# (p11-exercises)=
# ## Exercises
#
# ```{exercise}
# :label: ex-p11-1
#
# (a) Derive the $2\times2$ case by hand. With $N=K=2$ and $r=c=(\frac12,\frac12)$, show that
# every plan in $U(r,c)$ has the form
# $\begin{pmatrix}t&\frac12-t\\ \frac12-t&t\end{pmatrix}$. Then show that the entropic optimum
# satisfies $t/(\frac12-t)=\rho^{1/2}$ with
# $\rho=\big(\frac{p_{11}p_{22}}{p_{12}p_{21}}\big)^{\lambda}$.
#
# (b) *Code.* Write the optimal plan in closed form and check it against
# `solvers.sinkhorn_knopp` for a few random $2\times2$ posteriors and values of $\lambda$.
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p11-1
# :class: dropdown
# ```
#
# (a) Row and column sums fix three of the four entries once $Q_{11}=t$ is chosen:
# $Q_{12}=\frac12-t$, $Q_{21}=\frac12-t$, $Q_{22}=t$. By {prf:ref}`p11-thm-sinkhorn` the optimum
# is a diagonal scaling of $G=P^\lambda$, and diagonal scalings multiply $Q_{11}Q_{22}$ and
# $Q_{12}Q_{21}$ by the same factor $\alpha_1\alpha_2\beta_1\beta_2$, so their ratio equals that
# of $G$, which is $\rho$. Then $t^2/(\frac12-t)^2=\rho$ gives
# $t=\sqrt\rho/\big(2(1+\sqrt\rho)\big)$. As $\lambda\to\infty$, $t\to\frac12$ when
# $p_{11}p_{22}>p_{12}p_{21}$, the LP's diagonal assignment (and $t\to0$ in the opposite case).

# %% tags=["solution"]
def two_by_two_plan(p, lam):
    """SeLa's entropic label plan in closed form for N = K = 2 and r = c = (1/2, 1/2)."""
    # HINT: rho = (p11 p22 / (p12 p21))^lam; solve t^2 / (1/2 - t)^2 = rho for t in (0, 1/2) and return [[t, 1/2 - t], [1/2 - t, t]]
    # BEGIN SOLUTION
    rho = (p[0, 0] * p[1, 1] / (p[0, 1] * p[1, 0])) ** lam
    t = rho.sqrt() / (2 * (1 + rho.sqrt()))
    return torch.stack([torch.stack([t, 0.5 - t]), torch.stack([0.5 - t, t])])
    # END SOLUTION


g_ex = runtime.generator(0)
for lam in (0.5, 2.0, 10.0):
    p_ex = torch.softmax(torch.randn(2, 2, generator=g_ex, dtype=torch.float64), dim=1)  # p(y | x_i)
    plan = solvers.sinkhorn_knopp(p_ex.log(), lam=lam, tol=1e-10, max_iter=100_000).plan
    torch.testing.assert_close(two_by_two_plan(p_ex, lam), plan)
    print(f"lambda = {lam:>4}: t = {plan[0, 0]:.4f} (closed form {two_by_two_plan(p_ex, lam)[0, 0]:.4f})")

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p11-2
#
# SwAV computes its codes with $\varepsilon=0.05$ and three Sinkhorn iterations per batch. Show
# that this is `solvers.sinkhorn_knopp(scores, lam=1 / 0.05, tol=None, max_iter=3)` (times the
# batch size). On a batch of 256 random unit-norm scores against 30 prototypes, how far from
# equipartition is that plan (`marginal_error`)? Does it matter?
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p11-2
# :class: dropdown
# ```
#
# SwAV exponentiates scores divided by $\varepsilon$ (so $\lambda=1/\varepsilon=20$), then
# alternately normalises prototypes and samples, ending with the samples. That is our start
# $\beta=c$ followed by three (cluster step, sample step) pairs. The cell below runs SwAV's loop
# and the library side by side. After three iterations each sample's code is an exact
# distribution, while the cluster marginal is only roughly uniform: `marginal_error` is about
# 0.1 here, ten times the tolerance this chapter uses for the label step, with cluster masses
# from about $0.6/K$ to $1.2/K$. SwAV accepts this on purpose. The codes are recomputed for
# every batch, so only a soft pressure towards balance is needed, and three iterations are
# cheap.

# %% tags=["solution"]
g_ex = runtime.generator(0)
z_ex = F.normalize(torch.randn(256, 16, generator=g_ex, dtype=torch.float64), dim=1)
prototypes_ex = F.normalize(torch.randn(30, 16, generator=g_ex, dtype=torch.float64), dim=1)
scores_ex = z_ex @ prototypes_ex.T  # (B, K) cosine scores
q = torch.exp(scores_ex / 0.05).T  # SwAV's distributed_sinkhorn, on one process: (K, B)
q /= q.sum()
for _ in range(3):
    q /= q.sum(dim=1, keepdim=True) * q.shape[0]  # every prototype gets mass 1/K
    q /= q.sum(dim=0, keepdim=True) * q.shape[1]  # every sample gets mass 1/B
swav_codes = (q * q.shape[1]).T  # (B, K): each row sums to 1
result = solvers.sinkhorn_knopp(scores_ex, lam=1 / 0.05, tol=None, max_iter=3)
torch.testing.assert_close(swav_codes, len(scores_ex) * result.plan)
masses = prototypes_ex.shape[0] * result.plan.sum(dim=0)  # K times each cluster's mass
print(f"marginal_error after three iterations: {result.marginal_error:.3f}; cluster masses "
      f"times K from {masses.min():.2f} to {masses.max():.2f}")

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p11-3
#
# Rerun the self-labelling experiment with $\lambda\in\{1, 5, 100\}$ for the label step (keep
# `method="log"` for $\lambda=100$; why?). Track the NMI, the largest cluster and the number of
# Sinkhorn iterations per epoch.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p11-3
# :class: dropdown
#
# Once a row of $\log P$ spreads over more than about 7 nats (a confident network's rows do),
# the exponent range at $\lambda=100$ passes 700, beyond float64. Many kernel entries underflow, and if a whole
# column does, the scaling path raises a `FloatingPointError` that asks for the log domain; the
# log domain is safe at any $\lambda$. The largest cluster should stay near $1/K$ at every
# $\lambda$, because the columns of the plan are balanced at every $\lambda$; compare the change
# in NMI with its spread over seeds before reading anything into it. The cost is what changes:
# the largest number of Sinkhorn iterations in one epoch grows quickly with $\lambda$ (the
# $e^{\lambda\Delta/2}$ of the contraction argument), and the log domain is slower per iteration
# than the scaling path.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p11-4
#
# `exact_equipartition` needs $K$ to divide $N$. What is the LP optimum like when it does not?
# Solve `scipy.optimize.linprog` on $U(\mathbf 1/K,\mathbf 1/N)$ for $N=7$, $K=3$ and look at the
# solution.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p11-4
# :class: dropdown
#
# The polytope is not empty ($rc^\top$ is in it), but no hard labelling satisfies it: $7/3$ is
# not an integer. The optimal vertex has a few fractional rows, with one or two samples split
# between clusters (on random posteriors, typically two rows split $\frac23,\frac13$). Its
# support is a forest, so it has at most $N+K-1=9$ non-zero entries. The
# entropic solver does not care about divisibility. SeLa rounds each row to its argmax, so the
# cluster sizes come out near $N/K$, though nothing forces them to be within one of it.
# ```

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
