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
#     - P38
#     prerequisites:
#     - P07
# ---

# %% [markdown]
# # Contrastive Multiview Coding: more views, less nuisance
#
# **Paper.** Tian, Krishnan, Isola, *Contrastive Multiview Coding*, ECCV 2020
# {cite}`tian2020contrastive`. The two-view loss is the InfoNCE loss of contrastive predictive
# coding {cite}`oord2018representation`, the subject of the previous chapter.
#
# A scene can be observed through several channels: the luminance and the colour of an image,
# its depth, its surface normals. Each channel is noisy and has its own nuisances, but the
# content of the scene is in all of them. CMC learns one encoder per view and trains every pair
# of views of the same scene to recognise each other among the other scenes of the batch. With
# more than two views there is a choice of *which* pairs to contrast: one view against all the
# others (the *core view*), or every pair (the *full graph*). The paper reports that the
# representation gets better the more views it learns from. It also reports that the contrastive
# objective beats *cross-view prediction*, which regresses one view from another.
#
# **What you will learn**
#
# * the CMC loss for $V$ views, in its core-view and full-graph forms, and its
#   mutual-information reading;
# * why a factor seen by many views is rewarded by many pairwise terms while a nuisance seen by
#   two views is rewarded by one, and why this matters only when the representation cannot keep
#   everything;
# * why a predictive (regression) loss weighs a factor by how much it *moves* the target, while
#   the contrastive loss weighs it by how much *information* it carries;
# * how to measure all of this on procedural views with a known shared factor: the linear-probe
#   accuracy rises with the number of views, the nuisance leaves the representation, and
#   contrast beats prediction.
#
# **Prerequisites.** The InfoNCE bound and its $\log K$ ceiling (chapter P07); mutual
# information, the data-processing inequality; linear probes.

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
from itertools import combinations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reptutor import claims, plot, runtime
from reptutor.data import make_multiview
from reptutor.losses import cmc_loss, cmc_terms, cross_view_prediction_loss, view_pairs
from reptutor.metrics import linear_probe_accuracy, ridge_probe_r2
from reptutor.models import MLP
from reptutor.train import fit

seed = runtime.seed_everything(0)
dev = runtime.device()
# Every random draw comes from an explicit generator derived from the chapter's seed, one
# stream per use, so that changing one use (e.g. the batch order) leaves the others alone.
STREAMS = ("data", "init", "batches", "shuffle", "demo")


def rng(stream):
    """A fresh CPU generator for one use of randomness, seeded from the chapter's seed."""
    return runtime.generator(len(STREAMS) * seed + STREAMS.index(stream))


cfg = runtime.pick(
    ci=dict(n_train=4096, n_test=2048, n_probe=2048,          # scenes; the probe fits on n_probe
            view_counts=[2, 3, 4],                             # V for the full-graph sweep
            hidden=[64], embed_dim=3,                          # encoders 16 -> 64 -> 3
            steps=400, batch_size=256, lr=3e-3, temperature=0.2,
            ablation_nuisance_scale=1.0),
    full=dict(n_train=65536, n_test=16384, n_probe=16384,
              view_counts=[2, 3, 4, 5, 6],
              hidden=[256, 256], embed_dim=3,
              steps=8000, batch_size=1024, lr=1e-3, temperature=0.2,
              ablation_nuisance_scale=1.0),
)
v_max = max(cfg["view_counts"])
world = dict(num_views=v_max, num_classes=10, nuisance_views=(0, 1))  # the rest: make_multiview defaults
n_classes, log_k = world["num_classes"], math.log(world["num_classes"])
plot.set_theme()
print(f"seed={seed} device={dev} scale={runtime.scale()} views up to V={v_max}")

# %% [markdown]
# ## The objective
#
# Let $v^{(1)},\dots,v^{(V)}$ be the $V$ views of a scene, $\phi_k$ the encoder of view $k$ and
# $z^{(k)}=\phi_k(v^{(k)})/\lVert \phi_k(v^{(k)})\rVert$ its unit-norm embedding. A batch holds $N$
# scenes; the $n$-th row of every view comes from scene $n$.
#
# ```{prf:definition} Two-view CMC loss
# :label: p38-def-two-view
#
# With the critic $h(v^{(i)}_n,v^{(j)}_m)=\exp\big(\langle z^{(i)}_n,z^{(j)}_m\rangle/\tau\big)$,
# anchoring view $i$ and choosing the positive among the $N$ candidates of view $j$ costs
#
# $$
# \mathcal L^{V_i,V_j}=-\frac1N\sum_{n=1}^N\log\frac{h(v^{(i)}_n,v^{(j)}_n)}
#   {\sum_{m=1}^N h(v^{(i)}_n,v^{(j)}_m)},
# \qquad
# \mathcal L(V_i,V_j)=\mathcal L^{V_i,V_j}+\mathcal L^{V_j,V_i}.
# $$
#
# The paper draws $k$ negatives from a memory bank; here the negatives are the $N-1$ other
# scenes of the batch. Both directions are *summed*, as in the paper and its code, so
# $\mathcal L(V_i,V_j)$ is twice the symmetric `info_nce_loss`.
# ```
#
# Each direction is an InfoNCE loss, so {cite}`oord2018representation` gives
# $I(z^{(i)};z^{(j)})\ge\log N-\mathbb E\,\mathcal L^{V_i,V_j}$ (chapter P07 proves it, and proves
# the ceiling $\log N$). The paper writes $\log k$ for $k$ negatives; with $N$ candidates the
# constant is $\log N$.
#
# ```{prf:definition} Core view and full graph
# :label: p38-def-graphs
#
# For $V\ge2$ views and a core view $c$,
#
# $$
# \mathcal L_C=\sum_{j\ne c}\mathcal L(V_c,V_j)\qquad(V-1\text{ pairs}),
# \qquad
# \mathcal L_F=\sum_{1\le i<j\le V}\mathcal L(V_i,V_j)\qquad\Big(\tbinom V2\text{ pairs}\Big).
# $$
#
# The paper's core view is $V_1$. Pairs are summed, not averaged (`reptutor.losses.cmc_loss`).
# ```
#
# ## What a pair can reward
#
# Why should more views help? Write the views as functions of independent *factors*, each seen
# by some of the views. In our procedural world (`reptutor.data.make_multiview`) a class
# $y\in\{1..K\}$ is seen by every view. A nuisance $u$ is seen by views 1 and 2 only. Every view
# also has private noise:
#
# $$
# v^{(k)}=\tanh\!\big([\mu_y+\sigma_c\epsilon_k;\ s_u u_k;\ s_n n_k]A_k\big)+\sigma_o\eta_k,
# \qquad u_1=u_2=u,\quad u_3,u_4,\dots\ \text{independent copies}.
# $$
#
# ```{prf:theorem} A pair can only certify what its two views share
# :label: p38-thm-pair-ceiling
#
# Let the factors be independent, and let each view be a function of the factors it sees and of
# its own independent noise. For a pair $(i,j)$ let $F_{ij}$ collect the factors seen by *both*
# views. Then for any encoders
#
# $$
# \log N-\mathbb E\,\mathcal L^{V_i,V_j}\ \le\ I(z^{(i)};z^{(j)})\ \le\ I(v^{(i)};v^{(j)})
#   \ \le\ I(v^{(i)};F_{ij}).
# $$
#
# In our world, a pair that is not $\{1,2\}$ shares only the class, so its certified
# information is at most $H(y)=\log K$ nats.
# ```
#
# ```{prf:proof}
# Given $F_{ij}$, the remaining inputs of $v^{(i)}$ and of $v^{(j)}$ are independent, so
# $v^{(i)}\perp v^{(j)}\mid F_{ij}$. Hence $z^{(i)}\to v^{(i)}\to F_{ij}\to v^{(j)}\to z^{(j)}$ is
# a Markov chain. The data-processing inequality gives the two right-hand inequalities. The
# left one is the InfoNCE bound. For $F_{ij}=y$ uniform on $K$ classes,
# $I(v^{(i)};y)\le H(y)=\log K$.
# ```
#
# ```{prf:corollary} Counting pairs
# :label: p38-cor-counting
#
# A factor seen by $m$ of the $V$ views can raise the ceiling of $\binom m2$ terms of
# $\mathcal L_F$. Under $\mathcal L_C$ it can raise $m-1$ terms when the core view sees it, and
# none otherwise. In our world the class feeds all $\binom V2$ terms of the full graph. The
# nuisance feeds one term whatever $V$ is.
# ```
#
# This is the paper's Venn-diagram argument made countable; the figure below draws it for three
# views. It is an argument about what the objective *can* reward, not a theorem about what SGD
# finds. With unlimited capacity, every pair's optimal critic is the density ratio
# $p(v^{(i)},v^{(j)})/p(v^{(i)})p(v^{(j)})$ and the encoders keep everything the pairs share,
# nuisance included. More views then change little. The counting matters when the embedding
# cannot hold everything: here it has 3 dimensions, a 2-sphere after normalisation. A two-view
# model must then split its capacity between the class and the nuisance. The nuisance is a
# continuous 4-dimensional factor seen through little noise, so it can be worth more nats to
# that pair than the class's $\log K$. With $V$ views, every nat of class information the
# encoders keep counts in $\binom V2$ terms of the full objective, a nat of nuisance in one.
#
# Each region of the diagram below is a place a factor can live: inside the circles of the views
# that see it. Its shade is the number of pair terms that can reward a factor placed there
# ({prf:ref}`p38-cor-counting`), for the core view (view 1) and for the full graph. The labels
# say what our world puts in each region.

# %%
def venn_terms(graph, centres, radius=1.0, n=301):
    """Number of pair terms that can reward a factor at each point of a three-view Venn diagram."""
    u = np.linspace(-2.0, 2.0, n)
    gx, gy = np.meshgrid(u, u)
    inside = np.stack([(gx - cx) ** 2 + (gy - cy) ** 2 <= radius**2 for cx, cy in centres])
    m = inside.sum(0)  # (n, n) how many views see a factor placed here
    if graph == "full":
        terms = m * (m - 1) / 2  # C(m, 2) pairs among the views that see it
    else:
        terms = np.where(inside[0], m - 1, 0)  # core view 1: pairs (1, j), j sees it too
    return np.ma.masked_where(m == 0, terms.astype(float)), inside, gx, gy


centres = [(-0.56, 0.33), (0.56, 0.33), (0.0, -0.65)]  # views 1, 2, 3
contents = {(1, 1, 1): "class y", (1, 1, 0): "nuisance u", (1, 0, 1): "(nothing)",
            (0, 1, 1): "(nothing)", (1, 0, 0): "private", (0, 1, 0): "private",
            (0, 0, 1): "private"}
fig, axes = plot.subplots(2, width=4.2, height=4.2)
for ax, graph, title in zip(axes[0], ("core", "full"), ("core view (view 1)", "full graph")):
    terms, inside, gx, gy = venn_terms(graph, centres)
    ax.imshow(terms, origin="lower", extent=(-2, 2, -2, 2), cmap="Blues", vmin=-0.5, vmax=3.5)
    for k, (cx, cy) in enumerate(centres):
        ax.add_patch(plt.Circle((cx, cy), 1.0, fill=False, linewidth=1.5))
        ax.text(cx * 2.55, cy * 2.55 + 0.1 * (k < 2), f"view {k + 1}", ha="center", fontsize=9)
    for key, text in contents.items():
        region = np.all([inside[k] == bool(b) for k, b in enumerate(key)], axis=0)
        n_terms = int(terms[region].max())
        ax.text(gx[region].mean(), gy[region].mean(), f"{text}\n{n_terms}", ha="center",
                va="center", fontsize=7, color="k" if n_terms < 2 else "w")
    ax.set_title(f"{title}: pair terms per region")
    ax.set_aspect("equal")
    ax.axis("off")

# %% [markdown]
# ## Prediction weighs variance, contrast weighs information
#
# Cross-view prediction encodes $z=f(v^{(1)})$ and decodes $\hat v^{(2)}=g(z)$, with a loss
# measured *in the target's space*: `cross_view_prediction_loss`,
# $\mathbb E\lVert\hat v^{(2)}-v^{(2)}\rVert_2^2$.
#
# ```{prf:proposition} The predictive loss rewards explained variance
# :label: p38-prop-predictive
#
# For any encoder $\phi$, the best decoder is $g^\star(z)=\mathbb E[v^{(2)}\mid z]$ and
#
# $$
# \min_g\ \mathbb E\lVert v^{(2)}-g(z)\rVert^2=\operatorname{tr}\operatorname{Cov}(v^{(2)})
#   -\operatorname{tr}\operatorname{Cov}\big(\mathbb E[v^{(2)}\mid z]\big).
# $$
#
# So $z$ is rewarded by the variance of $v^{(2)}$ it explains. Multiplying a block of
# coordinates of $v^{(2)}$ by $s$ multiplies that block's share of the reward by $s^2$. By
# contrast, $I(z^{(1)};z^{(2)})$ and its ceiling $I(v^{(1)};v^{(2)})$ do not change under any
# invertible map of $v^{(2)}$.
# ```
#
# ```{prf:proof}
# For fixed $z$, $\mathbb E[\lVert v-g(z)\rVert^2\mid z]$ is minimised by the conditional mean.
# The law of total variance $\operatorname{Cov}(v)=\mathbb E\operatorname{Cov}(v\mid z)
# +\operatorname{Cov}(\mathbb E[v\mid z])$, after taking the trace, gives the identity. Mutual
# information is invariant under invertible maps of either argument.
# ```
#
# So the amplitude of a factor in the observations decides what a bottlenecked predictor keeps.
# The contrastive loss instead counts nats and pairs. Our world sets the nuisance amplitude
# ($s_u=3$) at twice the class amplitude ($s_\mu=1.5$): a shared nuisance that moves the
# pixels a lot, like the illumination shared by two cameras. The ablation at the end lowers it.

# %% [markdown]
# ## From scratch
#
# The full-graph and core-view losses in plain torch, checked against the library.

# %%
def cmc_from_scratch(zs, pairs, tau):
    zs = [F.normalize(z, dim=1) for z in zs]
    total = 0.0
    for i, j in pairs:
        logits = zs[i] @ zs[j].T / tau                     # (N, N), positives on the diagonal
        log_p_ij = logits.diag() - logits.logsumexp(dim=1)  # anchor view i, candidates of view j
        log_p_ji = logits.diag() - logits.logsumexp(dim=0)  # anchor view j, candidates of view i
        total = total - log_p_ij.mean() - log_p_ji.mean()   # L(V_i, V_j) = L^{ij} + L^{ji}
    return total


z_demo = torch.randn(4, 32, 5, generator=rng("demo"), dtype=torch.float64)
full_pairs = list(combinations(range(4), 2))
torch.testing.assert_close(cmc_from_scratch(z_demo, full_pairs, 0.2),
                           cmc_loss(z_demo, graph="full", temperature=0.2))
torch.testing.assert_close(cmc_from_scratch(z_demo, [(0, 1), (0, 2), (0, 3)], 0.2),
                           cmc_loss(z_demo, graph="core", temperature=0.2))
print("full graph pairs:", view_pairs(4), "| core view pairs:", view_pairs(4, graph="core"))

# %% [markdown]
# ## The experiment
#
# One world of $N$ scenes with $K=10$ classes and up to $V$ views of dimension 16: the class in
# every view, the nuisance $u\in\mathbb R^4$ shared by views 1 and 2, private noise everywhere
# (`make_multiview`; its docstring gives every constant). Train and test scenes come from one
# call, so they share the class codes and the sensors. Each view gets an MLP encoder
# $16\to64\to3$.
#
# We train CMC on views $1..V$ for each $V$ of the sweep (full graph), the core-view objective
# with all views, and cross-view prediction from view 1 to all other views (encoder
# $16\to64\to3$, one decoder $3\to64\to16$ per target). Two controls train the full-graph and
# the core-view objectives on views 1-2 of each scene beside views $3..V$ of other scenes. Every
# run starts view 1's encoder from the same weights and sees the same batches. Every model is
# judged on **view 1's embedding**, the view that sees the nuisance: a linear probe's test
# accuracy for the class, and a ridge probe's test $R^2$ for the nuisance $u$. In the code views are numbered from 0, so
# view 1 of the text is index 0 and the nuisance views are `nuisance_views=(0, 1)`.

# %%
n_tr, n_probe = cfg["n_train"], cfg["n_probe"]
obs_dim = 16  # make_multiview's default view dimension


def make_world(**overrides):
    data = make_multiview(n_tr + cfg["n_test"], generator=rng("data"), device=dev,
                          **{**world, **overrides})
    return dict(x_tr=data.views[:, :n_tr], x_te=data.views[:, n_tr:],
                y_tr=data.labels[:n_tr], y_te=data.labels[n_tr:],
                u_tr=data.nuisance[:n_tr], u_te=data.nuisance[n_tr:])


def evaluate(encoder, w):
    """Probe view 1's encoder output (before normalisation): class accuracy and nuisance R^2."""
    with torch.no_grad():
        z_tr, z_te = encoder(w["x_tr"][0, :n_probe]), encoder(w["x_te"][0])
    return dict(acc=linear_probe_accuracy(z_tr, w["y_tr"][:n_probe], z_te, w["y_te"]),
                r2_u=ridge_probe_r2(z_tr, w["u_tr"][:n_probe], z_te, w["u_te"]))


def encoder(generator):
    return MLP(obs_dim, cfg["hidden"], cfg["embed_dim"], generator=generator)


def train_cmc(w, n_views, graph, desc, views=None):
    g = rng("init")  # the same initialisation for every configuration: view 1's encoder first
    encoders = nn.ModuleList(encoder(g) for _ in range(n_views)).to(dev)
    views = w["x_tr"][:n_views] if views is None else views

    def objective(model, batch):
        return cmc_loss([f(x) for f, x in zip(model, batch)], graph=graph,
                        temperature=cfg["temperature"])

    fit(encoders, objective, tuple(views), steps=cfg["steps"],
        batch_size=cfg["batch_size"], lr=cfg["lr"], generator=rng("batches"), desc=desc)
    return encoders


def train_predictive(w, n_views, desc):
    g = rng("init")  # view 1's encoder starts from the same weights as in the CMC runs
    model = nn.ModuleDict(dict(
        enc=encoder(g),
        dec=nn.ModuleList(MLP(cfg["embed_dim"], cfg["hidden"], w["x_tr"].shape[2], generator=g)
                          for _ in range(n_views - 1)))).to(dev)

    def objective(m, batch):
        z = m["enc"](batch[0])  # (N, 3) the bottleneck of view 1
        return sum(cross_view_prediction_loss(g(z), x) for g, x in zip(m["dec"], batch[1:]))

    fit(model, objective, tuple(w["x_tr"][:n_views]), steps=cfg["steps"],
        batch_size=cfg["batch_size"], lr=cfg["lr"], generator=rng("batches"), desc=desc)
    return model["enc"]


def shuffled_extra_views(w, n_views):
    """Views 1-2 as they are, views 3..V taken from other scenes (one permutation for all)."""
    perm = torch.randperm(n_tr, generator=rng("shuffle")).to(dev)
    views = w["x_tr"][:n_views].clone()
    views[2:] = views[2:, perm]  # views 3..V still share a class among themselves, not with 1-2
    return views


w0 = make_world()
raw_acc = linear_probe_accuracy(w0["x_tr"][0, :n_probe], w0["y_tr"][:n_probe], w0["x_te"][0], w0["y_te"])
runtime.glue("P38.raw-acc", raw_acc)
print(f"linear probe on the raw 16-d view 1: {raw_acc:.3f} (chance {1 / n_classes:.2f})")

# %%
results, models = {}, {}
for v in cfg["view_counts"]:
    models[f"full-{v}"] = train_cmc(w0, v, "full", desc=f"CMC full graph, V={v}")
    results[f"full-{v}"] = evaluate(models[f"full-{v}"][0], w0)
models["core"] = train_cmc(w0, v_max, "core", desc=f"CMC core view, V={v_max}")
results["core"] = evaluate(models["core"][0], w0)
pred_encoder = train_predictive(w0, v_max, desc=f"cross-view prediction, V={v_max}")
results["predictive"] = evaluate(pred_encoder, w0)
# controls: extra views that share nothing with views 1-2 (full graph and core view), and the
# untrained view-1 encoder (the initialisation every run above starts from)
models["shuffled"] = train_cmc(w0, v_max, "full", desc=f"CMC full graph, V={v_max}, shuffled",
                               views=shuffled_extra_views(w0, v_max))
results["shuffled"] = evaluate(models["shuffled"][0], w0)
core_shuffled = train_cmc(w0, v_max, "core", desc=f"CMC core view, V={v_max}, shuffled",
                          views=shuffled_extra_views(w0, v_max))
results["core-shuffled"] = evaluate(core_shuffled[0], w0)
results["untrained"] = evaluate(encoder(rng("init")).to(dev), w0)
for name, r in results.items():
    print(f"{name:>12}: class accuracy {r['acc']:.3f}   nuisance R^2 {r['r2_u']:.3f}")

# %% [markdown]
# ### How much each pair certifies
#
# For the model trained on all views we evaluate every pair's InfoNCE bound
# $\log N-\tfrac12\mathcal L(V_i,V_j)$ on held-out batches of the training size $N$. By
# {prf:ref}`p38-thm-pair-ceiling` a pair other than $\{1,2\}$ can certify at most
# $\log K=$ {glue:text}`P38.log-k:.3f` nats, the class. We do the same for the two-view
# model's only pair.

# %%
def pair_bounds(encoders, w):
    n_b, n_views = cfg["batch_size"], len(encoders)
    with torch.no_grad():
        zs = torch.stack([f(w["x_te"][k]) for k, f in enumerate(encoders)])  # (V, N_test, 3)
        terms = [cmc_terms(zs[:, s:s + n_b], temperature=cfg["temperature"])
                 for s in range(0, zs.shape[1] - n_b + 1, n_b)]
    mean_pair = torch.stack([t.pair_losses for t in terms]).mean(0)  # (P,) L(V_i, V_j)
    bounds = np.full((n_views, n_views), np.nan)
    for (i, j), loss in zip(terms[0].pairs, mean_pair.tolist()):
        bounds[i, j] = bounds[j, i] = math.log(n_b) - loss / 2  # one direction's bound
    return bounds


bounds_all = pair_bounds(models[f"full-{v_max}"], w0)
bounds_two = pair_bounds(models["full-2"], w0)
class_only = [(i, j) for i, j in view_pairs(v_max) if not {i, j} <= set(world["nuisance_views"])]
max_class_pair = np.max([bounds_all[i, j] for i, j in class_only])
runtime.glue("P38.log-k", log_k)
runtime.glue("P38.pair01-two-views", bounds_two[0, 1])
runtime.glue("P38.pair01-all-views", bounds_all[0, 1])
print(np.round(bounds_all, 3))
print(f"two-view model, pair (1,2): {bounds_two[0, 1]:.3f} nats; largest class-only pair "
      f"with V={v_max}: {max_class_pair:.3f} <= log K = {log_k:.3f}")

# %% [markdown]
# ### Ablation: a nuisance as loud as the class
#
# {prf:ref}`p38-prop-predictive` predicts that the predictive baseline suffers because the
# nuisance is loud. We lower its amplitude to $s_u=$ {glue:text}`P38.ablation-scale:.1f` and
# retrain CMC (all views, full graph) and the predictor. We print the result and do not assert
# it.

# %%
w1 = make_world(nuisance_scale=cfg["ablation_nuisance_scale"])
ablation = dict(cmc=evaluate(train_cmc(w1, v_max, "full", desc="ablation: CMC")[0], w1),
                predictive=evaluate(train_predictive(w1, v_max, desc="ablation: prediction"), w1))
runtime.glue("P38.ablation-scale", cfg["ablation_nuisance_scale"])
runtime.glue("P38.ablation-gap", ablation["cmc"]["acc"] - ablation["predictive"]["acc"])
print({k: {m: round(x, 3) for m, x in r.items()} for k, r in ablation.items()})

# %% [markdown]
# ## The picture
#
# Left: view 1's class accuracy against the number of views (full graph), with the core-view
# model, the predictor, the two controls whose views $3..V$ come from other scenes, and the
# raw-input and untrained-encoder probes. Middle: the nuisance $R^2$ of the same
# representations. The corollary counts pair terms; it does not predict an $R^2$, so no theory
# curve is drawn here.
# Right: the certified nats of every pair of the $V$-view model. By
# {prf:ref}`p38-thm-pair-ceiling` a pair other than $(1,2)$ cannot exceed $\log K$ in
# expectation; the heatmap shows how far below it the trained pairs stay.
#
# Compare the two-view model: its only pair, $(1,2)$, certifies
# {glue:text}`P38.pair01-two-views:.2f` nats, while the same pair of the $V$-view model
# certifies {glue:text}`P38.pair01-all-views:.2f`. Yet the two-view model has the lower class
# accuracy. More nats shared between two views do not make a better representation when they
# are the nuisance's.
#
# One baseline deserves a sentence: a linear probe on the raw 16-dimensional view 1 reads the
# class about as well as the best CMC embedding ({glue:text}`P38.raw-acc:.2f` in this run). The
# claims are about what a *three*-dimensional representation keeps when it must choose; the raw
# view does not have to choose, and nothing here says CMC beats it.

# %%
vs = np.array(cfg["view_counts"])
acc_curve = np.array([results[f"full-{v}"]["acc"] for v in vs])
r2_curve = np.array([results[f"full-{v}"]["r2_u"] for v in vs])
fig, axes = plot.subplots(3, width=4.4, height=3.6)
ax = axes[0, 0]
plot.measured_vs_theory(vs, acc_curve, label="CMC full graph", ax=ax)
ax.scatter([v_max], [results["core"]["acc"]], marker="s", s=60, color=plot.PALETTE["highlight"],
           label="CMC core view", zorder=5)
ax.scatter([v_max], [results["predictive"]["acc"]], marker="X", s=80, color=plot.PALETTE["theory"],
           label="cross-view prediction", zorder=5)
ax.scatter([v_max], [results["shuffled"]["acc"]], marker="v", s=60, color=plot.PALETTE["baseline"],
           label="views 3..V shuffled", zorder=5)
ax.scatter([v_max], [results["core-shuffled"]["acc"]], marker="^", s=60,
           color=plot.PALETTE["baseline"], label="core view, views 3..V shuffled", zorder=5)
plot.reference_line(ax, raw_acc, "raw view 1 (16-d)", color=plot.PALETTE["baseline"], style=":")
plot.reference_line(ax, results["untrained"]["acc"], "untrained encoder",
                    color=plot.PALETTE["baseline"], style="--")
plot.reference_line(ax, 1 / n_classes, "chance", color=plot.PALETTE["baseline"], style="-.")
ax.set_ylim(0, 1.02)
ax.set_xticks(vs)
ax.set_xlabel("number of views V")
ax.set_ylabel("class accuracy from view 1 (test)")
ax.set_title("More views, better class")
plot.legend_below(ax)
ax = axes[0, 1]
plot.measured_vs_theory(vs, r2_curve, label="CMC full graph", ax=ax)
ax.scatter([v_max], [results["predictive"]["r2_u"]], marker="X", s=80, color=plot.PALETTE["theory"],
           label="cross-view prediction", zorder=5)
ax.scatter([v_max], [results["shuffled"]["r2_u"]], marker="v", s=60,
           color=plot.PALETTE["baseline"], label="views 3..V shuffled", zorder=5)
plot.reference_line(ax, results["untrained"]["r2_u"], "untrained encoder",
                    color=plot.PALETTE["baseline"], style="--")
ax.set_ylim(-0.05, 1.05)
ax.set_xticks(vs)
ax.set_xlabel("number of views V")
ax.set_ylabel("R² of the nuisance u from view 1")
ax.set_title("Less nuisance")
plot.legend_below(ax)
ax = axes[0, 2]
plot.heatmap(bounds_all, ax=ax, title=f"Certified nats per pair (log K = {log_k:.2f})",
             xlabel="view", ylabel="view")
ax.set_xticks(range(v_max), [str(k + 1) for k in range(v_max)])
ax.set_yticks(range(v_max), [str(k + 1) for k in range(v_max)])
for i, j in view_pairs(v_max):
    for a, b in ((i, j), (j, i)):
        ax.text(b, a, f"{bounds_all[a, b]:.2f}", ha="center", va="center", color="w", fontsize=8)

# %% [markdown]
# The two-view embedding (left) and the $V$-view embedding (right) of view 1, coloured by
# class: the first spends its three dimensions on the nuisance, the second on the class.

# %%
fig, axes = plot.subplots(2, width=4.0, height=3.6)
with torch.no_grad():
    for ax, key in zip(axes[0], ["full-2", f"full-{v_max}"]):
        z = F.normalize(models[key][0](w0["x_te"][0, :1000]), dim=1).cpu()
        plot.embedding(z, w0["y_te"][:1000].cpu(), ax=ax,
                       title=f"{key.replace('full-', 'V = ')}: acc {results[key]['acc']:.2f}")

# %% [markdown]
# ## Claims
#
# Three claims, each measured above and asserted below, each beside a null: the same measurement
# on a control that should fail it. Two kinds of control are used. *Views $3..V$ shuffled across
# scenes* is CMC trained with the same graph on the same number of views, except that the added
# views come from other scenes: they add as many loss terms but share nothing with views 1-2.
# *The untrained encoder* is the initialisation every run starts view 1's encoder from. (A
# difference between two runs that share this initialisation is exactly zero before training, so
# it would be no control at all; every null below is a measurement that could have passed.) In
# this run the untrained encoder reads the class at {glue:text}`P38.untrained-acc:.2f` and the
# nuisance at $R^2=$ {glue:text}`P38.untrained-r2:.2f`. The ceiling of
# {prf:ref}`p38-thm-pair-ceiling` is not among the claims: it holds for every encoder, so what it
# can check is the arithmetic of the bound, and that is a unit test (`tests/test_losses_cmc.py`:
# an encoder that outputs the exact class certifies the batch's class entropy, at most $\log K$).
#
# 1. **`P38.more-views`** (reproduction of the paper's "more views, better representation"):
#    view 1's class accuracy with $V$ views (full graph) exceeds the two-view one by at least
#    0.35. Seeds 0-4: {glue:text}`P38.more-views.seeds-0-4` (5-9:
#    {glue:text}`P38.more-views.seeds-5-9`); with views $3..V$ shuffled:
#    {glue:text}`P38.more-views.null-range`.
# 2. **`P38.nuisance-dropped`** (observation, the mechanism of {prf:ref}`p38-cor-counting`):
#    added views that share the class push the nuisance out of view 1's representation: a ridge
#    probe recovers at most $R^2=0.05$ of $u$ from the $V$-view embedding. Seeds 0-4:
#    {glue:text}`P38.nuisance-dropped.seeds-0-4` (5-9: {glue:text}`P38.nuisance-dropped.seeds-5-9`).
#    Adding loss terms alone is not enough: the shuffled control keeps
#    {glue:text}`P38.nuisance-dropped.null-range` over the ten seeds (in this run
#    {glue:text}`P38.shuffled-r2:.2f`, against {glue:text}`P38.two-view-r2:.2f` for the two-view
#    model: the extra terms alone lower it only somewhat). An untrained encoder keeps
#    more than the bound too, so the nuisance is pushed out by training, not merely never
#    picked up. (An earlier version asked only that the $V$-view model keep 0.1 less than the
#    shuffled control; an untrained encoder passed that on some seeds.)
# 3. **`P38.contrastive-beats-predictive`** (reproduction, under its condition): when the nuisance
#    moves the observations more than the class does ($s_u=3$ against $s_\mu=1.5$), CMC beats
#    cross-view prediction with the same views, encoder and bottleneck by at least 0.15 in class
#    accuracy. Seeds 0-4: {glue:text}`P38.contrastive-beats-predictive.seeds-0-4` (5-9:
#    {glue:text}`P38.contrastive-beats-predictive.seeds-5-9`). The null puts the untrained
#    encoder in place of CMC: {glue:text}`P38.contrastive-beats-predictive.null-range`, so the
#    predictor (class accuracy {glue:text}`P38.predictive-acc:.2f` in this run) is not a
#    strawman: it reads the class better than the encoder it started from. Without the
#    condition the claim is not made: the ablation above lowers $s_u$ to the class's amplitude
#    and the lead shrinks.
#
# **Not reproduced: `P38.core-view-more-views`.** The paper reports that the core-view
# objective, too, gets better with more views. On most seeds it does here, by about as much as
# the full graph, and the control with views $3..V$ shuffled gains nothing
# ({glue:text}`P38.core-view-more-views.null-range`). But on one of the ten seeds (seed 1) the
# core-view model ends the ci training still near the two-view solution, keeping the nuisance:
# the gain was {glue:text}`P38.core-view-more-views.seeds-0-4` on seeds 0-4 and
# {glue:text}`P38.core-view-more-views.seeds-5-9` on seeds 5-9. The counting of
# {prf:ref}`p38-cor-counting` says why the core view is the weaker pull: it rewards the class in
# $V-1=3$ pair terms against the nuisance's one, the full graph in 6. On that seed, training
# twice as long (a run outside the chapter) let it pick up the class; we did not lengthen the
# run to make the claim pass. An earlier version of this chapter, with other random streams,
# held a gain of 0.25 on all ten seeds; with the present streams one seed fails, so the claim
# "on every seed" is recorded as not reproduced.
#
# **Not reproduced: `P38.curve-rises`.** The paper's curve rises with every view added. Here
# the first added view brings almost all of the gain and the curve then flattens near the best
# accuracy view 1 allows. An earlier version of this chapter asserted a gain of at least 0.005
# per step (about one standard error of a test accuracy near the top of the curve); it held on
# seeds 0-4 and failed on a held-out seed, where the last step was zero. So "every view helps" is
# recorded as not reproduced at this scale. With the current random streams the smallest step
# is {glue:text}`P38.curve-rises.seeds-0-4` on seeds 0-4 and {glue:text}`P38.curve-rises.seeds-5-9`
# on seeds 5-9: small against the first step, and sometimes within the probe's noise.
#
# The thresholds were chosen on seeds 0-4 and confirmed on seeds 5-9. So was one
# hyper-parameter: the temperature $\tau=0.2$ (the official code uses 0.07) was picked because,
# with it, the claims were stable across seeds 0-4. In a run outside the chapter at
# $\tau=0.07$ on seeds 0-4, the $V$-view model gained less over two views, kept a little more
# of the nuisance (enough to break the 0.05 bound of `P38.nuisance-dropped` on one seed), and
# on that seed its lead over the predictor fell below 0.15; the core-view model, in turn, had
# no seed stuck near the two-view solution there. The bounds are therefore statements at
# $\tau=0.2$.

# %%
v2, vm = results["full-2"], results[f"full-{v_max}"]
shuffled, untrained_r = results["shuffled"], results["untrained"]
runtime.glue("P38.shuffled-r2", shuffled["r2_u"])
runtime.glue("P38.two-view-r2", v2["r2_u"])
runtime.glue("P38.untrained-r2", untrained_r["r2_u"])
runtime.glue("P38.untrained-acc", untrained_r["acc"])
claims.check("P38.more-views", vm["acc"] - v2["acc"], kind="reproduction", lower=0.35,
             null=shuffled["acc"] - v2["acc"], null_name="views 3..V shuffled across scenes",
             statement="learning from more views improves the representation: view 1's class "
                       f"accuracy with V = {v_max} views (full graph) exceeds the two-view one, "
                       "when the added views share the class with views 1-2")
claims.not_reproduced("P38.curve-rises", measured=np.diff(acc_curve).min(),
                      expected="> 0 at every step (the paper's accuracy rises with each view)",
                      statement="the representation improves with every view added: each step of "
                                "view 1's class-accuracy curve (full graph, V = 2, 3, ...) is a "
                                "gain",
                      why="the first added view brings almost all of the gain; from V = 3 on the "
                          "curve is near the best accuracy view 1 allows and a step can be zero")
claims.not_reproduced("P38.core-view-more-views", measured=results["core"]["acc"] - v2["acc"],
                      expected="a gain on every seed (the paper: the core-view accuracy also "
                               "rises with the number of views)",
                      null=results["core-shuffled"]["acc"] - v2["acc"],
                      null_name="core view with views 3..V shuffled across scenes",
                      statement="the core-view objective also improves with more views: view 1's "
                                f"class accuracy with V = {v_max} views (core view 1) exceeds the "
                                "two-view one on every seed, when the added views share the class "
                                "with views 1-2",
                      why="the core view rewards the class in V - 1 pair terms against the "
                          "nuisance's one (the full graph in C(V, 2)); on some seeds its view-1 "
                          "encoder is still near the two-view, nuisance-keeping solution at the "
                          "end of the ci training, while on most seeds its gain is about the full "
                          "graph's")
claims.check("P38.nuisance-dropped", vm["r2_u"], kind="observation", upper=0.05,
             null=shuffled["r2_u"], null_name="views 3..V shuffled across scenes",
             statement="information shared by only two views (the nuisance) leaves view 1's "
                       "representation when views that share the class are added: with V = "
                       f"{v_max} views (full graph) a ridge probe recovers at most R^2 = 0.05 of "
                       "the nuisance from it, while the same model trained with views 3..V "
                       "shuffled across scenes keeps more")
pred_acc = results["predictive"]["acc"]
claims.check("P38.contrastive-beats-predictive", vm["acc"] - pred_acc, kind="reproduction",
             lower=0.15, null=untrained_r["acc"] - pred_acc,
             null_name="untrained encoder in place of CMC",
             statement="when the nuisance shared by views 1-2 moves the observations more than "
                       "the class does (s_u = 3 against s_mu = 1.5), the contrastive objective "
                       "outperforms cross-view prediction with the same views, encoder and "
                       "bottleneck (view 1's class accuracy)")
runtime.glue("P38.predictive-acc", pred_acc)
claims.summary("P38")

# %%
for cid in ["P38.more-views", "P38.curve-rises", "P38.core-view-more-views",
            "P38.nuisance-dropped", "P38.contrastive-beats-predictive"]:
    claims.glue_calibration(cid, fmt=".3f")

# %% [markdown]
# ## What the toy scale cannot show
#
# * **The paper's benchmarks.** ImageNet, STL-10, NYU-Depth-v2 and the video results need
#   convolutional encoders, real modalities and GPU-days. Here the views are 16-dimensional
#   procedural sensors, and the "more views" curve is on a world built so that the
#   shared-by-all factor is known. We reproduce the mechanism, not the numbers.
# * **Memory bank and NCE.** The official code (`HobbitLong/CMC`, `NCE/NCEAverage.py`) keeps one
#   memory bank per view: for an anchor of view $i$ the positive *and* the $k$ negatives
#   (4,096 to 16,384, drawn uniformly from the dataset) are entries of view $j$'s bank, each a
#   detached, renormalised moving average (momentum 0.5) of that scene's past embeddings, so the
#   gradient reaches only the anchor's encoder. Its default loss is NCE with a normalising
#   constant fixed on the first batch (`NCECriterion`); `--softmax` switches to the exact softmax
#   over the $k+1$ candidates. The two directions are summed, at $\tau=0.07$, with
#   L2-normalised 128-d features (ours are L2-normalised too, in `cmc_loss`). We use the current embeddings of both views, the $N-1=255$ in-batch negatives and
#   the exact softmax, with gradients through both encoders, at $\tau=0.2$ (chosen on seeds 0-4,
#   see the claims). How the results depend on the number of negatives was not measured here.
#   The official code also has only the two-view (L, ab) objective; the core-view and full-graph
#   sums follow the paper's equations.
# * **Summing pairs and the optimiser.** $\mathcal L_F$ sums $\binom V2$ terms, so its gradient
#   grows with $V$; averaging them ($1/\binom V2$) would change nothing but that scale. Adam,
#   used here, is nearly invariant to a constant factor on the loss, so the comparison across
#   $V$ is not a hidden change of learning rate. (With SGD, as in the official code, it would be.)
# * **Capacity is the lever.** The gains above need an embedding too small to keep everything
#   the pairs share (3 dimensions). With a wide embedding the two-view model could keep the
#   class *and* the nuisance, and we expect the gap to close (exercise 2; not run here). The
#   paper's encoders are large, their heads 128-dimensional, and its linear probes read an
#   intermediate layer, not the head; ours read the 3-d output itself. Whether the paper's gains
#   from more views come from a capacity limit of this kind is a question this toy cannot
#   answer.
# * **Prediction loses by design here.** {prf:ref}`p38-prop-predictive` says the predictor
#   follows amplitude. In our ablation, with the nuisance as loud as the class
#   ($s_u=$ {glue:text}`P38.ablation-scale:.1f`), CMC's lead is
#   {glue:text}`P38.ablation-gap:.3f` in this run, against
#   {glue:text}`P38.contrastive-beats-predictive:.3f` with the loud nuisance. The paper's
#   explanation of why its predictive baselines lose on images is of the same family: a loss
#   measured in the output space treats every output dimension alike and so weighs low-level
#   detail. Our toy makes one such mechanism
#   explicit; it does not show how large the effect is on images.
# * **Full scale** (`REPTUTOR_SCALE=full`, for a GPU): 16 times more scenes, up to 6 views,
#   wider encoders with the same 3-dimensional embedding, batch 1,024 and 8,000 steps, and the
#   accuracy curve extends to $V=6$. The full configuration has not been run, so nothing is
#   known about whether the claims hold there; the thresholds were calibrated at ci scale only.

# %% [markdown]
# (p38-exercises)=
# ## Exercises
#
# ```{exercise}
# :label: ex-p38-1
#
# A factor is seen by a set $S$ of $m$ views out of $V$. How many terms of $\mathcal L_F$ and of
# $\mathcal L_C$ (core view $c$) can reward it? In our world, which core view would make the
# core-view objective ignore the nuisance entirely, and what does `view_pairs(4, graph="core",
# core_view=2)` contrast?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p38-1
# :class: dropdown
#
# Full graph: $\binom m2$ pairs lie inside $S$. Core view: $m-1$ if $c\in S$ (the pairs
# $(c,j)$, $j\in S\setminus\{c\}$), and $0$ if $c\notin S$, because every contrasted pair then
# contains a view that does not see the factor. The nuisance is seen by views 1 and 2
# (indices 0 and 1). Any core view outside them, e.g. index 2, gives the pairs
# $(0,2),(1,2),(2,3)$, none of which shares $u$. The core-view objective then rewards only the
# class, even though views 1 and 2 both see $u$. The choice of graph is a choice of what counts
# as signal.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p38-2
#
# Retrain the two-view and the $V$-view models with `embed_dim=16`. What happens to the class
# accuracy of the two-view model, to the gain asserted in `P38.more-views`, and to the nuisance
# $R^2$? Explain with the capacity remark after {prf:ref}`p38-cor-counting`.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p38-2
# :class: dropdown
#
# With 16 dimensions nothing has to be given up: the two-view model can keep the class *and* the
# nuisance. On seeds 0 and 1 at ci scale its class accuracy rises from about 0.15-0.3 (3
# dimensions) to 0.72-0.78, close to the $V$-view model's 0.79-0.88, so the gain asserted in
# `P38.more-views` falls from about 0.58 to 0.07-0.10; and the nuisance $R^2$ is about 0.86-0.88
# in every representation, with or without the added views (against about 0.01 for the
# 3-dimensional $V$-view model). Keeping $u$ is still rewarded by one pair, but with room to
# spare it no longer costs the class anything. The more-views effect is a statement about what
# a *compact* representation keeps, the "otherwise compact" of the paper's abstract. (Two seeds
# are not a calibration: run a few more before you quote the numbers.)
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p38-3
#
# Take independent standard Gaussian factors $y, u$, both recoverable from $v^{(1)}$, and a
# two-coordinate target $v^{(2)}=\big(a\,(y+\epsilon_1),\ b\,(u+\epsilon_2)\big)$ with
# independent noise $\epsilon_1,\epsilon_2$ of variance $\sigma^2$.
#
# (a) Using {prf:ref}`p38-prop-predictive`, show that a predictor with a one-dimensional
# bottleneck prefers $u$ to $y$ as soon as $|b|>|a|$. Does the information
# $I(v^{(1)};v^{(2)})$ that each factor contributes depend on $a$ and $b$?
#
# (b) *Code.* Check (a) by simulation: implement the best affine decoder (least squares) from a
# bottleneck $z$ to $v^{(2)}$, and compare its predictive loss (`cross_view_prediction_loss`)
# for $z=y$ and $z=u$ with the proposition's
# $\operatorname{tr}\operatorname{Cov}(v^{(2)})-\operatorname{tr}\operatorname{Cov}(\mathbb
# E[v^{(2)}\mid z])$, for $a=1$ and $b\in\{0.5, 2\}$.
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p38-3
# :class: dropdown
# ```
#
# (a) $\mathbb E[v^{(2)}\mid y,u]=(a\,y,\ b\,u)$. A bottleneck that carries $y$ explains the
# variance $a^2$ (then $\mathbb E[v^{(2)}\mid y]=(a\,y,0)$), one that carries $u$ explains
# $b^2$, and a one-dimensional summary cannot carry both exactly. The loss left is
# $\operatorname{tr}\operatorname{Cov}(v^{(2)})=(a^2+b^2)(1+\sigma^2)$ minus what is explained,
# so among the two the predictor keeps $u$ when $|b|>|a|$. Multiplying a coordinate of $v^{(2)}$
# by $a\ne0$ is an invertible map, so the information is that of the unscaled target:
# $I(y;y+\epsilon_1)=\tfrac12\log(1+1/\sigma^2)$ for each factor, whatever $a$ and $b$. The
# contrastive preference is set by information, and by how many pairs share the factor, not by
# the amplitudes.
#
# (b) Here $\mathbb E[v^{(2)}\mid z]$ is affine in $z$, so the least-squares decoder estimates
# the best decoder $g^\star$ of the proposition.

# %% tags=["solution"]
def best_decoder(z, target):
    """The least-squares affine prediction of target (N, D) from the bottleneck z (N, d)."""
    # HINT: append a column of ones to z, solve the least-squares problem with torch.linalg.lstsq, and return the fitted values
    # BEGIN SOLUTION
    design = torch.cat([z, torch.ones_like(z[:, :1])], dim=1)  # (N, d + 1)
    weights = torch.linalg.lstsq(design, target).solution  # (d + 1, D)
    return design @ weights
    # END SOLUTION


g_ex = runtime.generator(0)
n_ex, sigma = 20_000, 0.5
y_ex, u_ex, eps1, eps2 = torch.randn(4, n_ex, 1, generator=g_ex, dtype=torch.float64)
info = 0.5 * math.log(1 + 1 / sigma**2)  # I(y; y + eps1) = I(u; u + eps2), whatever a and b
for a, b in [(1.0, 0.5), (1.0, 2.0)]:
    target = torch.cat([a * (y_ex + sigma * eps1), b * (u_ex + sigma * eps2)], dim=1)
    total = (a**2 + b**2) * (1 + sigma**2)  # tr Cov(v2)
    losses = {}
    for name, z, explained in [("y", y_ex, a**2), ("u", u_ex, b**2)]:
        losses[name] = cross_view_prediction_loss(best_decoder(z, target), target).item()
        torch.testing.assert_close(losses[name], total - explained, rtol=0.03, atol=0.0)
    print(f"a = {a}, b = {b}: predictive loss {losses['y']:.3f} keeping y, {losses['u']:.3f} "
          f"keeping u -> keeps {min(losses, key=losses.get)}; each factor carries {info:.3f} nats")

# %% [markdown] tags=["solution"]
# The measured losses match the proposition to sampling error, and the factor kept flips with
# $|b|>|a|$ while the information each factor carries stays the same.
#
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p38-4
#
# Break the library on purpose: in `reptutor/losses/cmc.py` make `cmc_terms` keep only the
# first pair of the graph. Which claims fail?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p38-4
# :class: dropdown
#
# The from-scratch cell fails first: `assert_close` sees the library sum one pair where the
# plain-torch version sums six. The unit tests against the loop reference fail too. With that
# cell skipped, every "$V$-view" model is a two-view model trained on the pair $(1,2)$ only, from
# the same weights and on the same batches. The full-graph, core-view and shuffled models are
# then one and the same model, so `P38.more-views` measures exactly 0 and fails,
# `P38.nuisance-dropped` reads the two-view model's nuisance $R^2$ (0.45 on seed 0), far above
# its bound, and the not-reproduced records `P38.core-view-more-views` and `P38.curve-rises`
# read 0 and a flat curve. CMC is now a two-view model against a predictor that still uses all
# views, and `P38.contrastive-beats-predictive` fails too. The evaluation of the pair bounds
# also goes through `cmc_terms`, so the heatmap is left with missing pairs.
# ```

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
