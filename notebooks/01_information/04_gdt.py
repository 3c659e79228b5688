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
#     - P04
#     prerequisites:
#     - P07
# ---

# %% [markdown]
# # Invariant or distinctive: compositions of transformations (GDT)
#
# **Paper.** Patrick, Asano, Kuznetsova, Fong, Henriques, Zweig, Vedaldi, *On Compositions of
# Transformations in Contrastive Self-Supervised Learning*, ICCV 2021
# {cite}`patrick2021compositions` (first circulated as *Multi-modal Self-Supervision from
# Generalized Data Transformations*). It generalizes the instance-discrimination losses of
# contrastive predictive coding {cite}`oord2018representation` and SimCLR {cite}`chen2020simple`.
#
# SimCLR asks a representation to be *invariant* to every augmentation: two augmented views of an
# image are a positive pair. For video, some transformations should not be forgotten. A clip
# played backwards is a different event, and a clip shifted in time may show a different moment.
# GDT describes every view of the data as the result of a composition of transformations, the
# first of which picks the sample. For each transformation it lets you choose: **invariant** (views
# that differ in it may be positives) or **distinctive** (views that differ in it are contrasted
# as negatives). The paper shows that these choices cannot be wired in arbitrarily. It states
# formal requirements that a contrastive formulation must meet, and a construction that meets
# them.
#
# **What you will learn**
#
# * how a batch of *generalized data transformations* (GDTs) and two masks, "which pairs are
#   positives" and "which pairs are compared", define one contrastive loss that contains InfoNCE
#   and NT-Xent as special cases;
# * the two ways to score an anchor with several positives, the paper's equation (one shared
#   denominator) and its released code (one term per positive), and what each one's floor means;
# * the product rule that makes every choice of invariant and distinctive factors consistent, and
#   why a naive extension of SimCLR is not;
# * a proof that an exactly invariant representation cannot reveal the transformation's parameter
#   to *any* decoder, while a distinctive one keeps it;
# * how to see both effects with linear probes on clips whose ground truth is known.
#
# **Prerequisites.** The InfoNCE loss and its softmax form (chapter
# *Why InfoNCE can't see more than log K*), linear probes, the idea of mutual information.

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
import torch.nn.functional as F
from torch import nn

from reptutor import claims, plot, runtime
from reptutor.data import make_clips, observe, random_sensor, time_reverse, time_shift, transform_grid
from reptutor.losses import gdt_loss, gdt_masks, generalized_nce_loss, info_nce_loss, mask_conflicts
from reptutor.metrics import linear_probe_accuracy
from reptutor.models import MLP
from reptutor.train import fit

seed = runtime.seed_everything(0)
dev = runtime.device()
cfg = runtime.pick(
    ci=dict(length=32, n_shifts=4, noise=0.1,                # clips and sensors
            batch=16, steps=1200, lr=3e-3, temperature=0.2,    # training (16 clips = 256 views)
            hidden=[64, 64], dim=32,                          # encoders
            n_probe=200),                                     # held-out clips per probe split
    full=dict(length=32, n_shifts=4, noise=0.1,
              batch=64, steps=5000, lr=1e-3, temperature=0.2,
              hidden=[256, 256], dim=64,
              n_probe=2000),
)
D, NS = cfg["length"], cfg["n_shifts"]
plot.set_theme()
print(f"seed={seed} device={dev} scale={runtime.scale()} cfg={cfg}")

# %% [markdown]
# ## Generalized data transformations
#
# Start from a set of samples $x_1,\dots,x_n$. Patrick et al. write every view that enters a
# contrastive batch as the image of the *whole* data set under a composed transformation. Picking
# the sample is itself the first transformation.
#
# Notation: $\theta$ keeps the paper's meaning here, the parameters of the transformations, so
# the encoder is written $\phi$, the book's $\phi_\theta$ without its subscript (see the
# {doc}`notation page </book/notation>`).
#
# ```{prf:definition} Generalized data transformation
# :label: p04-def-gdt
#
# A GDT is a composition $T=t_M\circ\dots\circ t_2\circ t_1$ where $t_1$ selects a sample,
# $t_1(x_1,\dots,x_n)=x_{s}$, and each further $t_m$ belongs to a family $\mathcal T_m$ indexed by a
# parameter $\theta_m\in\Theta_m$. A view is $v=T(x)$; it is described by its *sample index* $s$ and
# its parameters $\theta=(\theta_2,\dots,\theta_M)$.
# ```
#
# In this chapter a sample is a clip (below), and a view is
#
# $$
# T_{s,r,k,\mu}(x)=\mathrm{sensor}_\mu\big(S^{kP}R^{r}\,x_s\big),
# $$
#
# with time reversal $R^{r}$ ($r\in\{0,1\}$), circular time shift $S^{kP}$ by $k\in\{0,\dots,3\}$
# quarter-clips ($P=D/4$ steps), and a *modality* $\mu\in\{\text{video},\text{audio}\}$: two noisy
# sensors read the same latent clip, as the two streams of a video. Time reversal and time shift are
# two of the transformations the paper studies for video, and its released code has one
# configuration for each of their invariant/distinctive combinations.
#
# ```{prf:definition} The GDT contrastive objective, in two forms
# :label: p04-def-loss
#
# Let $u_1,\dots,u_N$ be the unit-normalised embeddings of the $N$ views of a batch,
# $s_{ij}=\langle u_i,u_j\rangle/\tau$. Two boolean masks describe the task: $w_{ij}=1$ if view $j$
# is a *positive* of anchor $i$, and $c_{ij}=1$ if view $j$ is *compared* with $i$. With
# $P_i=\{j:w_{ij}=1\}$, $C_i=\{k:c_{ik}=1\}\supseteq P_i$ and the compared negatives
# $N_i=C_i\setminus P_i$, the **separate** form gives every positive a term of its own,
#
# $$
# \ell_i=\frac1{|P_i|}\sum_{j\in P_i}-\log\frac{e^{s_{ij}}}{e^{s_{ij}}+\sum_{k\in N_i}e^{s_{ik}}},
# \qquad \mathcal L=\frac1N\sum_{i=1}^N\ell_i ,
# $$
#
# and the **shared** form puts all compared views, positives included, in one denominator,
#
# $$
# \ell^{\mathrm{sh}}_i=\frac1{|P_i|}\sum_{j\in P_i}-\log\frac{e^{s_{ij}}}{\sum_{k\in C_i}e^{s_{ik}}}
#      =\operatorname{LSE}_{k\in C_i}s_{ik}-\frac1{|P_i|}\sum_{j\in P_i}s_{ij}.
# $$
# ```
#
# The paper writes its objective with one denominator $\sum_{T''}c(T,T'')\,e^{\dots}$ per anchor:
# the shared form. Its released code computes the separate form. In `gdt_helper.py`, `get_loss`
# is an NCE term with one positive per anchor. For a transformation made invariant, `main_gdt.py`
# adds a *basecase* term, whose positive is the other modality of the same view, $(v,a)$, and an
# *invariant* term, whose positive is the other modality of the transformed view, $(v,a^{T})$.
# Each term has its own denominator, which holds its positive and negatives but never the other
# positive, and the two are averaged with equal weights. The two forms agree when an anchor has
# one positive. With several positives they differ in one respect: in the shared denominator the
# positives of an anchor compete with one another, in the separate one they do not. The released
# code differs from our separate form in three more ways. It decides which negatives a term sees
# by transformation branch and by GPU: the same clip's views that differ in a distinctive factor
# (the hard negatives) enter only the terms whose positive is the other modality of the same
# view, never the invariant terms, and other clips' views of the other branch come only from the
# other GPUs. It pairs only some of the positives (with two invariant factors, views that differ
# in both are never paired), and weights them unequally (the same-view pair appears in more
# terms than the others). And
# it computes the positives and negatives of each term without gradient (`get_pos_neg` runs under
# `torch.no_grad`), so only the anchor side is trained; the two directions of a pair train the
# two encoders. We use every positive and every compared negative of the masks, with gradients
# through all of them: on the same candidates a term has the same value, but not the same
# gradient.
#
# We train with the separate form, the library's default (`denominator="separate"`);
# `denominator="shared"` gives the paper's equation. Both average over each anchor's positives,
# so that $\ell_i$ has the scale of one InfoNCE term. The paper sums over all positive pairs and
# divides by the number of views, which differs by a constant factor in a GDT batch, where every
# anchor has the same number of positives. Like the released code, the library normalises the
# embeddings, and its default temperature is the code's $\tau=0.07$.
# `reptutor.losses.generalized_nce_loss` takes any two masks. `gdt_loss` builds them from the
# views' parameters with the following rule.
#
# ```{prf:definition} Invariant and distinctive factors (product rule)
# :label: p04-def-modes
#
# Split the factors $m\ge2$ into invariant ones and distinctive ones $\mathcal D$. The sample
# index is always distinctive. Define the *key* of a view as its sample index together with its
# distinctive parameters, $\kappa(v)=(s,(\theta_m)_{m\in\mathcal D})$. With a *cross factor* $g$
# (here the modality: the paper contrasts video with audio only),
#
# $$
# c_{ij}=[i\ne j]\,[\theta_{ig}\ne\theta_{jg}],\qquad w_{ij}=[\kappa(v_i)=\kappa(v_j)]\;c_{ij}.
# $$
#
# Invariant factors do not appear in $w$. Two views of one clip that differ only in a distinctive
# parameter are compared but are not positives: they are *hard negatives*.
# ```
#
# With no further factor and no cross factor, the positives of a view are the other views of its
# sample, which is NT-Xent {cite}`chen2020simple`. With a single invariant "view" factor as the
# cross factor, it is the symmetric cross-view InfoNCE {cite}`oord2018representation`. Both
# reductions are checked in the unit tests, and the second one below.
#
# The two masks are easiest to read as a picture. Take two clips, each under the $2\times4$
# combinations of reversal $r$ and shift $k$ in both modalities (32 views), and colour every pair
# by its role for the anchor in its row. The two models of the experiment below make opposite
# choices: **DI** is distinctive to reversal and invariant to shift, **ID** the reverse.


# %%
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

ROLES = {"not compared": "#ffffff", "negative (other clip)": "#d9d9d9",
         "hard negative (same clip)": "#e6550d", "positive (w = 1)": "#3182bd"}
pic_grid = transform_grid(2, [2, NS], device=dev)  # 2 clips x 2 reversals x 4 shifts
pic_sample = pic_grid.sample_index.repeat(2)  # video views, then audio views
pic_params = torch.cat([pic_grid.params.repeat(2, 1),  # columns: r, k, modality
                        torch.arange(2, device=dev).repeat_interleave(16)[:, None]], 1)
same_clip = pic_sample[:, None] == pic_sample[None, :]
fig, axes = plot.subplots(2, width=3.5, height=3.7)
for ax, (name, modes) in zip(axes[0], [("DI", ["distinctive", "invariant", "invariant"]),
                                       ("ID", ["invariant", "distinctive", "invariant"])]):
    m = gdt_masks(pic_sample, pic_params, modes=modes, cross_factor=2)
    role = m.compare.long() * (1 + same_clip.long()) + m.positive.long()  # 0..3, as in ROLES
    ax.imshow(role.cpu(), cmap=ListedColormap(list(ROLES.values())), vmin=-0.5, vmax=3.5,
              interpolation="nearest")
    for b in (8, 16, 24):  # clip and modality blocks; inside a block, views run over (r, k)
        ax.axhline(b - 0.5, color="k", linewidth=0.6)
        ax.axvline(b - 0.5, color="k", linewidth=0.6)
    ticks = [3.5, 11.5, 19.5, 27.5]
    ax.set_xticks(ticks, ["video\nclip 0", "video\nclip 1", "audio\nclip 0", "audio\nclip 1"],
                  fontsize=7)
    ax.set_yticks(ticks, ["video 0", "video 1", "audio 0", "audio 1"], fontsize=7)
    ax.grid(False)
    ax.set_title(f"{name}: {modes[0]} to R, {modes[1]} to S", fontsize=8)
fig.legend(handles=[Patch(facecolor=c, edgecolor="0.5", label=n) for n, c in ROLES.items()],
           loc="lower center", ncol=4, frameon=False, fontsize=7)
fig.subplots_adjust(bottom=0.2)

# %% [markdown]
# Each row is an anchor, each column a candidate. Only cross-modal pairs are compared (the
# off-diagonal blocks). In DI, a video view's positives are the 4 audio views of its clip with
# the same $r$, any $k$, and the 4 with the other $r$ are hard negatives. In ID its positives are
# the 2 audio views with the same $k$, either $r$, and the 6 others of its clip are hard
# negatives. The separate form scores each blue cell of a row in a term of its own, against the
# orange and grey cells of that row. The shared form scores them all against every coloured cell.

# %% [markdown]
# ## The formal requirements
#
# Why not simply declare "two views that differ by one transformation are positives", as one
# might extend SimCLR? The paper argues that the masks must satisfy requirements that such ad-hoc
# pairings break. We state them in our own formalisation. The paper's notation differs, and this
# is our reading of its argument, not a quotation.
#
# ```{prf:definition} Requirements on the masks
# :label: p04-def-requirements
#
# * **(R1) positives are compared:** $w_{ij}\le c_{ij}$.
# * **(R2) consistency:** let $\sim$ be the equivalence relation generated by the positive pairs.
#   No compared pair may be linked by $\sim$ without being a positive: if $c_{ik}=1$ and $i\sim k$
#   then $w_{ik}=1$. Invariance is transitive ($\phi(a)=\phi(b)$ and $\phi(b)=\phi(c)$ give
#   $\phi(a)=\phi(c)$), so a pair linked by a chain of positives cannot also be pushed apart.
# * **(R3) coverage:** every view has a positive. For each invariant factor, the batch contains
#   positive pairs that differ in it. For each distinctive factor, it contains compared pairs of the
#   same sample that differ only in it.
# ```
#
# ```{prf:proposition} The product rule on a hierarchical batch meets (R1)-(R3)
# :label: p04-prop-consistent
#
# Let the batch contain every sample under every combination of parameters (the complete version
# of the paper's hierarchical sampling, `transform_grid`), and build $w,c$ with
# {prf:ref}`p04-def-modes`. Then (R1), (R2) and (R3) hold.
# ```
#
# ```{prf:proof}
# (R1) holds by construction, since $w=[\kappa_i=\kappa_j]\,c$. (R2): along a chain of positives
# the key never changes, because equality is transitive. So $i\sim k$ implies
# $\kappa_i=\kappa_k$, and then a compared pair has $w_{ik}=[\kappa_i=\kappa_k]\,c_{ik}=1$.
# (R3): take any view and change only the cross factor. The result is in the batch, it is compared,
# and it has the same key, so it is a positive. Change in addition one factor $m$. If $m$ is
# invariant the key is unchanged and the pair is a positive that differs in $m$. If $m$ is
# distinctive the key changes and the pair is a compared hard negative.
# ```
#
# `reptutor.losses.mask_conflicts` returns the pairs that violate (R2). The pairing "positive iff
# the two views differ in exactly one transformation" has conflicts: $(r{=}0,k{=}0)\sim(1,0)\sim(1,1)$,
# yet $(0,0)$ and $(1,1)$ are contrasted.
#
# ## What the loss forces at its optimum
#
# ```{prf:lemma} Floors of the two forms, and the price of an unseparated negative
# :label: p04-lem-floor
#
# For every anchor, $\ell_i\ge0$ in the separate form and $\ell^{\mathrm{sh}}_i\ge\log|P_i|$ in the
# shared form. If the positives of $i$ are perfectly aligned with it ($u_j=u_i$ for $j\in P_i$),
# then with $R_i=\sum_{k\in N_i}e^{-(1-\langle u_i,u_k\rangle)/\tau}$,
#
# $$
# \ell_i=\log\big(1+R_i\big),\qquad \ell^{\mathrm{sh}}_i=\log\big(|P_i|+R_i\big).
# $$
#
# Each compared negative that sits on top of the anchor adds exactly 1 to $R_i$ at every
# temperature, while a separated negative's contribution vanishes as $\tau\to0$.
# ```
#
# ```{prf:proof}
# Separate form: each term is $-\log$ of a ratio at most 1. Shared form: with
# $p_{ij}=e^{s_{ij}}/\sum_{k\in C_i}e^{s_{ik}}$, $\ell^{\mathrm{sh}}_i=-\frac1{|P_i|}\sum_{j\in P_i}\log
# p_{ij}$. By the concavity of $\log$ this is at least $-\log\big(\frac1{|P_i|}\sum_{j\in
# P_i}p_{ij}\big)\ge\log|P_i|$, because the $p_{ij}$ sum to at most 1. If $u_j=u_i$ on $P_i$, every
# positive has $s_{ij}=1/\tau$, and the formulas follow by dividing each numerator and denominator
# by $e^{1/\tau}$.
# ```
#
# The floor $\log|P_i|$ belongs to the shared form only: there the positives share one softmax, so
# they can at best split it evenly. In the separate form nothing stops every term from going to
# 0, and its floor is 0 whatever $|P_i|$ is.
#
# Invariance comes from alignment: both forms want the views that differ only in an invariant
# factor at the anchor's point. Distinctiveness comes from separation. Put one more negative on
# top of an anchor whose positives are aligned, and call $R_i$ the contribution of the other
# negatives. The separate loss rises by $\log\big(1+1/(1+R_i)\big)$ and the shared one by
# $\log\big(1+1/(|P_i|+R_i)\big)$. These prices are $\log2$ and $\log(1+1/|P_i|)$ only as
# $\tau\to0$, when the other negatives are separated and their $R_i$ vanishes. At any finite
# temperature they are smaller.
#
# What does each mechanism do to the information about the transformation? Take the batch of
# {prf:ref}`p04-prop-consistent`, with each parameter $\theta_m$ uniform on $\Theta_m$ and
# independent of the sample and of the other parameters.
#
# ```{prf:theorem} Invariance removes the parameter, distinctiveness keeps it
# :label: p04-thm-info
#
# Let $z=\phi(T_\theta x)$ be the representation of a random view.
#
# 1. If $\phi$ is exactly invariant to factor $m$ ($z$ does not change when only $\theta_m$
#    changes), then $z$ is independent of $\theta_m$: $I(\theta_m;z)=0$, and every decoder $g$ has
#    $\Pr[g(z)=\theta_m]=1/|\Theta_m|$. On the complete grid, every decoder's accuracy is
#    exactly $1/|\Theta_m|$.
# 2. If $\phi$ separates views with different keys ($\phi(T_\theta x)\ne\phi(T_{\theta'}x')$
#    whenever $\kappa\ne\kappa'$), then for every distinctive $m$, $\theta_m$ is a function of $z$ on the
#    data's support: $I(\theta_m;z)=H(\theta_m)=\log|\Theta_m|$, and some decoder is always right.
# ```
#
# ```{prf:proof}
# (1) $z=h(x,\theta_{-m})$ for some $h$, and $(x,\theta_{-m})$ is independent of $\theta_m$. Hence
# $\Pr[g(z)=\theta_m]=\sum_a\Pr[\theta_m=a]\Pr[g(z)=a]=\frac1{|\Theta_m|}$. On the grid, the
# $|\Theta_m|$ views that differ only in $\theta_m$ share one $z$, so they receive one prediction,
# which is right for exactly one of them. (2) On the support, the map from keys to $z$ is
# injective, and $\theta_m$ is a coordinate of the key.
# ```
#
# Part 2 does not promise a *linear* decoder. Whether the kept parameter is linearly readable is
# an empirical question, and it is the one the experiment answers. The premise of part 2 can also
# be met through *any* feature that changes with $\theta_m$, not only the one we have in mind
# ({ref}`exercise 2 <p04-exercises>`).

# %% [markdown]
# ## Clips with a known ground truth
#
# `make_clips` draws a clip $x\in\mathbb R^{D}$, $D=32$ time steps, as a sum of two parts. The
# *content* is four harmonics whose amplitudes carry one of four classes. The harmonics are even
# about the clip's centre and have a period that divides $D/4$, so the content is *exactly*
# unchanged by time reversal and by shifts of a quarter clip. The *transient*
# $1.5\,e^{-t/4}$ is an onset that decays: reversal turns it into a swell that ends abruptly, and a
# shift moves it. The transformation parameters are therefore known, visible, and the only thing the
# transformations change. Two random `Sensor`s (3 and 2 channels per step, $\tanh$ plus noise of
# standard deviation 0.1) play video and audio.

# %%
g_data = runtime.generator(seed, dev)
video_sensor = random_sensor(3, g_data)
audio_sensor = random_sensor(2, g_data)


def transformed_views(x, grid):
    """T x = S^{k P} R^r x for each row (sample, r, k) of a transform grid."""
    v = time_reverse(x[grid.sample_index], grid.params[:, 0])  # (N P, D) reversed where r = 1
    return time_shift(v, grid.params[:, 1] * (D // NS))  # then shifted by k quarter-clips


demo = make_clips(1, runtime.generator(seed + 10, dev), length=D, num_shifts=NS)
demo_grid = transform_grid(1, [2, NS], device=dev)
demo_views = transformed_views(demo.x, demo_grid).cpu()
fig, axes = plot.subplots(2, width=4.6, height=2.6)
for r, ax in enumerate(axes[0]):
    for k in range(NS):
        ax.plot(demo_views[r * NS + k], label=f"k={k}", linewidth=1.2)
    ax.set_title(["$S^{kP}x$ (onset decays)", "$S^{kP}Rx$ (reversed: swell)"][r])
    ax.set_xlabel("time step")
axes[0, 0].legend(frameon=False, fontsize=7, ncol=2);

# %% [markdown]
# ## From scratch
#
# The whole loss is one similarity matmul, two masks and masked log-sum-exps. We rebuild the
# separate form from the views' parameters and check it against the library, and the shared form
# too. Then we check that with a single invariant factor used as the cross factor (one positive
# per anchor, where the two forms agree) it reduces to the symmetric InfoNCE of chapter P07.

# %%
def gdt_from_scratch(z, sample, params, distinctive, cross, tau, shared=False):
    u = F.normalize(z, dim=1)
    s = u @ u.T / tau                                             # (N, N) similarities
    key = torch.cat([sample[:, None], params[:, distinctive]], 1)  # what positives must share
    compare = params[:, None, cross] != params[None, :, cross]     # c_ij: cross-modal pairs only
    positive = (key[:, None] == key[None, :]).all(2) & compare     # w_ij: same key, compared
    if shared:                                                     # one softmax over C_i
        lse = torch.logsumexp(s.masked_fill(~compare, -math.inf), 1, keepdim=True)
    else:                                                          # s_ij against N_i alone
        negatives = torch.logsumexp(s.masked_fill(~compare | positive, -math.inf), 1, keepdim=True)
        lse = torch.logaddexp(s, negatives)
    per_pair = (lse - s) * positive                                # -log ratio, positives only
    return (per_pair.sum(1) / positive.sum(1)).mean()


grid = transform_grid(4, [2, NS], device=dev)  # 4 clips x 2 reversals x 4 shifts
sample = grid.sample_index.repeat(2)            # video views, then audio views
params = torch.cat([grid.params.repeat(2, 1),   # columns: r, k, modality
                    torch.arange(2, device=dev).repeat_interleave(len(grid.sample_index))[:, None]], 1)
z_check = torch.randn(len(sample), 8, generator=runtime.generator(seed + 1, dev), device=dev)
for distinctive, modes in [([0], ["distinctive", "invariant", "invariant"]),
                           ([1], ["invariant", "distinctive", "invariant"])]:
    for shared in (False, True):
        torch.testing.assert_close(
            gdt_from_scratch(z_check, sample, params, distinctive, 2, 0.2, shared=shared),
            gdt_loss(z_check, sample, params, modes=modes, cross_factor=2, temperature=0.2,
                     denominator="shared" if shared else "separate"))
# One invariant "view" factor as the cross factor: the symmetric InfoNCE of two views.
a, b = z_check[:16], z_check[16:32]
pair = torch.arange(2, device=dev).repeat_interleave(16)[:, None]
torch.testing.assert_close(
    gdt_loss(torch.cat([a, b]), torch.arange(16, device=dev).repeat(2), pair,
             modes=["invariant"], cross_factor=0, temperature=0.2),
    info_nce_loss(a, b, temperature=0.2))
print("from-scratch GDT loss and the InfoNCE reduction match the library")

# %% [markdown]
# ## Experiment: two choices, two transformations
#
# We train two pairs of encoders (one MLP per modality, 32-d output) with the GDT loss on the
# hierarchical batch: 16 fresh clips per step, each under the $2\times4$ combinations of reversal
# and shift, in both modalities, for 256 views. The two models make opposite choices:
#
# * **DI**: *distinctive* to time reversal $R$, *invariant* to time shift $S$;
# * **ID**: *invariant* to $R$, *distinctive* to $S$.
#
# Both are invariant to the modality (the cross factor) and distinctive to the sample. Both
# train with the separate form, the released code's. The temperature is $\tau=0.2$, and it was
# chosen by looking at the claims below on seeds 0-4, in trials with the shared form: $\tau=0.5$
# made the hard negatives too weak for distinctiveness to emerge, and $\tau=0.1$ left the
# invariant factor more decodable. We kept it when we moved to the separate form.
# Before training we count the pairs that violate (R2) on the masks both models use, and on the
# naive pairing (the unit tests check that the product rule never has any).

# %%
MODELS = {"DI": ["distinctive", "invariant", "invariant"],
          "ID": ["invariant", "distinctive", "invariant"]}
FACTORS = {"R": 0, "S": 1}  # column of params for each transformation
SIZES = {"R": 2, "S": NS}

train_grid = transform_grid(cfg["batch"], [2, NS], device=dev)
n_view = len(train_grid.sample_index)
train_sample = train_grid.sample_index.repeat(2)
train_params = torch.cat([train_grid.params.repeat(2, 1),
                          torch.arange(2, device=dev).repeat_interleave(n_view)[:, None]], 1)

conflicts = {}
for name, modes in MODELS.items():
    masks = gdt_masks(train_sample, train_params, modes=modes, cross_factor=2)
    conflicts[name] = int(mask_conflicts(masks.positive, masks.compare).sum())
# Naive pairing: positives are cross-modal views of one clip that differ in at most one of (r, k).
n_diff = (train_params[:, None, :2] != train_params[None, :, :2]).sum(2)
naive_compare = train_params[:, None, 2] != train_params[None, :, 2]
naive_positive = (train_sample[:, None] == train_sample[None, :]) & (n_diff <= 1) & naive_compare
conflicts["naive"] = int(mask_conflicts(naive_positive, naive_compare).sum())
runtime.glue("P04.naive-conflicts", conflicts["naive"])
print("pairs violating (R2):", conflicts)


# %%
class AVEncoder(nn.Module):
    """One MLP per modality; both map to the same D-dimensional space."""

    def __init__(self, gen):
        super().__init__()
        self.video = MLP(D * 3, cfg["hidden"], cfg["dim"], generator=gen)
        self.audio = MLP(D * 2, cfg["hidden"], cfg["dim"], generator=gen)

    def forward(self, video, audio):
        return torch.cat([self.video(video), self.audio(audio)])  # (2 N P, dim), video first


def make_batch_fn(gen):
    def batch(step):
        clips = make_clips(cfg["batch"], gen, length=D, num_shifts=NS)
        x = transformed_views(clips.x, train_grid)  # (N P, D) latent views
        return observe(x, video_sensor, gen, noise=cfg["noise"]), observe(x, audio_sensor, gen,
                                                                          noise=cfg["noise"])
    return batch


models, untrained, histories = {}, {}, {}
for i, (name, modes) in enumerate(MODELS.items()):
    # The null: the same network at its initial weights, never trained.
    untrained[name] = AVEncoder(runtime.generator(seed + 100 + i)).to(dev).eval()
    model = AVEncoder(runtime.generator(seed + 100 + i)).to(dev)
    # The batch design never changes, so the masks are built once (gdt_loss would rebuild them).
    masks = gdt_masks(train_sample, train_params, modes=modes, cross_factor=2)

    def objective(m, batch, masks=masks):  # the separate form (library default)
        return generalized_nce_loss(m(*batch), masks.positive, masks.compare,
                                    temperature=cfg["temperature"], denominator="separate")

    histories[name] = fit(model, objective, make_batch_fn(runtime.generator(seed + 20 + i, dev)),
                          steps=cfg["steps"], lr=cfg["lr"], log_every=10, desc=name)
    models[name] = model.eval()

# %% [markdown]
# The floor of the separate form is 0 ({prf:ref}`p04-lem-floor`), and it is reached only as
# $\tau\to0$. At $\tau=0.2$ a more useful reference is the value of the lemma for an encoder
# whose positives are aligned and whose negatives are all orthogonal to the anchor,
# $\log\big(1+|N_i|e^{-1/\tau}\big)$. A video view has $|N_i|=124$ negatives in DI (the 128
# audio views of the batch, less its 4 positives: same clip, same $r$, any $k$) and 126 in ID (2
# positives: same $k$, either $r$). Thirty-two dimensions leave room for negatives more than
# orthogonal, so the curves may end below it.

# %%
fig, ax = plot.subplots(width=5.0, height=3.2)
for (name, hist), color in zip(histories.items(), [plot.PALETTE["measured"], "#2ca02c"]):
    ax.plot(hist.step, hist["loss"], color=color, label=f"{name} (measured)")
    masks = gdt_masks(train_sample, train_params, modes=MODELS[name], cross_factor=2)
    n_neg = int((masks.compare & ~masks.positive)[0].sum())  # |N_i| of a video anchor
    ax.axhline(math.log1p(n_neg * math.exp(-1 / cfg["temperature"])), color=color,
               linestyle="--", linewidth=1, label=f"{name}: aligned, negatives orthogonal")
plot.reference_line(ax, 0.0, "floor of the separate form", color=plot.PALETTE["baseline"],
                    style=":")
ax.set_xlabel("step")
ax.set_ylabel("GDT loss, separate form (nats)")
ax.legend(frameon=False, fontsize=8);

# %% [markdown]
# ## Measuring what each representation kept
#
# On held-out clips, each under all 8 combinations of $(r,k)$, we embed the *video* views and fit
# linear probes on 200 clips, testing on 200 others. The probes predict three targets: the reversal $r$,
# the shift $k$, and the content class. To compare a 2-way and a 4-way parameter on one
# scale, we report the normalised decodability $\kappa=(\text{acc}-1/|\Theta|)/(1-1/|\Theta|)$:
# 0 is chance and 1 is perfect. We also report the mean cosine between the embeddings of two views
# that differ only in one transformation. {prf:ref}`p04-thm-info` predicts $\kappa=0$ and a
# cosine of 1 for an exactly invariant factor. Every measurement is repeated on the *untrained*
# encoders, the same networks at their initial weights: that is the null each claim must beat.

# %%
g_eval = runtime.generator(seed + 3, dev)
n_probe = cfg["n_probe"]
test_clips = make_clips(2 * n_probe, g_eval, length=D, num_shifts=NS)
eval_grid = transform_grid(2 * n_probe, [2, NS], device=dev)
video_eval = observe(transformed_views(test_clips.x, eval_grid), video_sensor, g_eval,
                     noise=cfg["noise"])
train_rows = eval_grid.sample_index < n_probe
targets = {"R": eval_grid.params[:, 0], "S": eval_grid.params[:, 1],
           "class": test_clips.label[eval_grid.sample_index]}


def probe(z, y):
    return linear_probe_accuracy(z[train_rows], y[train_rows], z[~train_rows], y[~train_rows])


def kappa(acc, n_values):
    return (acc - 1 / n_values) / (1 - 1 / n_values)


def measure(model):
    with torch.no_grad():
        z = F.normalize(model.video(video_eval), dim=1)  # (2 n_probe * 8, dim)
    zg = z.view(2 * n_probe, 2, NS, -1)  # (clip, r, k, dim)
    res = {f"acc_{t}": probe(z, y) for t, y in targets.items()}
    res["cos_R"] = (zg[:, 0] * zg[:, 1]).sum(-1).mean().item()  # views differing only in r
    res["cos_S"] = torch.einsum("nrkd,nrld->nrkl", zg, zg)[..., ~torch.eye(NS, dtype=torch.bool,
                                                           device=dev)].mean().item()
    for t in FACTORS:
        res[f"kappa_{t}"] = kappa(res[f"acc_{t}"], SIZES[t])
    return res


results = {name: measure(model) for name, model in models.items()}
results_untrained = {name: measure(model) for name, model in untrained.items()}
for name in MODELS:
    print(f"{name} trained:  ", {k: round(v, 3) for k, v in results[name].items()})
    print(f"{name} untrained:", {k: round(v, 3) for k, v in results_untrained[name].items()})

# %% [markdown]
# Finally, the mechanism of {prf:ref}`p04-thm-info` (1) at work. Take the DI model, which keeps
# $r$, and make it *exactly* invariant to $R$ by averaging each embedding over the reversal orbit,
# $\bar z(x)=\frac12\big(z(T_{0,k}x)+z(T_{1,k}x)\big)$. Do the same to the ID model over the shift
# orbit. The theorem says that no probe can then beat chance, *exactly*, whatever the encoder
# (a unit test checks it on random features).

# %%
with torch.no_grad():
    z_di = F.normalize(models["DI"].video(video_eval), dim=1).view(2 * n_probe, 2, NS, -1)
    z_id = F.normalize(models["ID"].video(video_eval), dim=1).view(2 * n_probe, 2, NS, -1)
avg_r = z_di.mean(1, keepdim=True).expand_as(z_di).reshape(len(eval_grid.sample_index), -1)
avg_s = z_id.mean(2, keepdim=True).expand_as(z_id).reshape(len(eval_grid.sample_index), -1)
averaged = {"R": probe(avg_r, targets["R"]), "S": probe(avg_s, targets["S"]),
            "class_R": probe(avg_r, targets["class"]), "class_S": probe(avg_s, targets["class"])}
print("orbit-averaged probes:", {k: round(v, 4) for k, v in averaged.items()})

# %% [markdown]
# ## The picture
#
# Each bar is a measured normalised decodability. The black markers show what
# {prf:ref}`p04-thm-info` says for an exactly invariant factor ($\kappa=0$) and for the ideal
# distinctive one ($\kappa=1$, the most a probe can reach); the open circles are the untrained
# encoders. The pattern is a cross: each model keeps the transformation it was asked to be
# distinctive to and loses the other, while before training both are read part of the way.

# %%
fig, axes = plot.subplots(2, width=4.4, height=3.2)
ax = axes[0, 0]
names = list(MODELS)
xpos = np.arange(len(names))
for j, (t, color) in enumerate(zip(FACTORS, [plot.PALETTE["measured"], "#2ca02c"])):
    vals = [results[n][f"kappa_{t}"] for n in names]
    ax.bar(xpos + (j - 0.5) * 0.35, vals, width=0.35, color=color, label=f"{t} (measured)")
    theory = [1.0 if MODELS[n][FACTORS[t]] == "distinctive" else 0.0 for n in names]
    ax.scatter(xpos + (j - 0.5) * 0.35, theory, marker="_", s=400, color="k", zorder=5,
               label="theory" if j == 0 else None)
    ax.scatter(xpos + (j - 0.5) * 0.35, [results_untrained[n][f"kappa_{t}"] for n in names],
               marker="o", s=30, facecolor="none", edgecolor="k", zorder=6,
               label="untrained" if j == 0 else None)
ax.set_xticks(xpos, [f"{n}\nR {MODELS[n][0]}\nS {MODELS[n][1]}" for n in names], fontsize=8)
ax.set_ylabel("normalised decodability $\\kappa$")
ax.set_ylim(-0.1, 1.1)
ax.legend(frameon=False, fontsize=8)
ax.set_title("Linear probe on the transformation")
ax = axes[0, 1]
for j, (t, color) in enumerate(zip(FACTORS, [plot.PALETTE["measured"], "#2ca02c"])):
    vals = [results[n][f"cos_{t}"] for n in names]
    ax.bar(xpos + (j - 0.5) * 0.35, vals, width=0.35, color=color, label=f"{t} (measured)")
    ax.scatter(xpos + (j - 0.5) * 0.35, [results_untrained[n][f"cos_{t}"] for n in names],
               marker="o", s=30, facecolor="none", edgecolor="k", zorder=6,
               label="untrained" if j == 0 else None)
plot.reference_line(ax, 1.0, "exact invariance")
ax.set_xticks(xpos, names)
ax.set_ylabel("mean cosine between views")
ax.set_title("Views differing in one transformation")
ax.legend(frameon=False, fontsize=8, loc="lower right");

# %% [markdown]
# ## Claims
#
# Each claim is measured on the trained encoders and, as its null, on the same encoders at their
# initial weights; the null must fail the bound. The thresholds were chosen on seeds 0-4 and
# confirmed on seeds 5-9 at ci scale, and so was the temperature (see the experiment). The
# ranges below come from the committed calibration record.
#
# The first two claims are the paper's design claim, that the objective makes the representation
# invariant or distinctive to each transformation as chosen (reproductions: the trained models
# meet neither premise of {prf:ref}`p04-thm-info` exactly, so the theorem motivates them but does
# not predict these numbers); the third is our own observation.
#
# 1. **`P04.distinctive-kept`** (reproduction, motivated by {prf:ref}`p04-thm-info` part 2): the factor a model is
#    distinctive to stays linearly decodable. The smaller $\kappa$ of (DI, $R$) and (ID, $S$) must
#    be at least 0.75. Seeds 0-4 gave {glue:text}`P04.distinctive-kept.seeds-0-4`, seeds 5-9
#    {glue:text}`P04.distinctive-kept.seeds-5-9`; the untrained encoders gave
#    {glue:text}`P04.distinctive-kept.null-range`. An untrained encoder reads the transformations
#    part of the way, because the transient they move is visible in the input. Training to be
#    distinctive makes the read-out clean.
# 2. **`P04.invariant-removed`** (reproduction, motivated by part 1): the factor a model is invariant to is nearly
#    removed. The larger $\kappa$ of (DI, $S$) and (ID, $R$) must be at most 0.25; exact
#    invariance would give 0. Seeds 0-4 gave {glue:text}`P04.invariant-removed.seeds-0-4`, seeds
#    5-9 {glue:text}`P04.invariant-removed.seeds-5-9`, and the untrained encoders, which read
#    these same factors, {glue:text}`P04.invariant-removed.null-range`. The invariance is learned,
#    and it is approximate: a linear probe still finds a little.
# 3. **`P04.alignment-gap`** (observation, after {prf:ref}`p04-lem-floor`): alignment and separation at
#    once. For each model, take the mean cosine between views that differ only in its invariant
#    factor, minus the mean cosine between views that differ only in its distinctive factor; the
#    smaller of the two models' gaps must be at least 0.15. Seeds 0-4 gave
#    {glue:text}`P04.alignment-gap.seeds-0-4`, seeds 5-9 {glue:text}`P04.alignment-gap.seeds-5-9`.
#    The untrained encoders, {glue:text}`P04.alignment-gap.null-range`, map all views of a clip to
#    nearly one direction whatever the transformation, so a high cosine alone would prove nothing.
#    This bound was not set on seeds 0-4 alone. Our first one, 0.4, came from them and failed on
#    a held-out seed, where both models kept their distinctive factor almost perfectly with its
#    views still at a cosine well above 0. The lemma explains why: at a finite $\tau$ a hard
#    negative only has to be far enough, in units of $\tau$, for its weight
#    $e^{-(1-\cos)/\tau}$ to be small; it fixes the sign of the gap, not its size. We lowered the
#    bound to 0.15, so seeds 5-9 do not confirm this claim independently.
#
# Three things we measure but do not claim. That the masks meet (R2) holds for any correct
# implementation of the product rule, so it is a unit test; the naive pairing has
# {glue:text}`P04.naive-conflicts:d` conflicting pairs. That an orbit-averaged representation
# gives a probe exactly chance accuracy holds for any encoder, so it is a unit test too. And the
# content: the trained models read the class with at least {glue:text}`P04.content-trained:.2f`,
# but the untrained encoders already read it with {glue:text}`P04.content-untrained:.2f`. The
# content is exactly invariant by construction and easy to read, so keeping it says nothing about
# training.

# %%
def invariant_minus_distinctive_cosine(res, name):
    """Mean cosine over views differing only in the invariant factor, minus the distinctive."""
    inv, dis = ("S", "R") if MODELS[name][0] == "distinctive" else ("R", "S")
    return res[f"cos_{inv}"] - res[f"cos_{dis}"]


def kept(res):  # kappa of the factor each model is distinctive to; the smaller one
    return min(res["DI"]["kappa_R"], res["ID"]["kappa_S"])


def removed(res):  # kappa of the factor each model is invariant to; the larger one
    return max(res["DI"]["kappa_S"], res["ID"]["kappa_R"])


def gap(res):
    return min(invariant_minus_distinctive_cosine(res[n], n) for n in MODELS)


UNTRAINED = "untrained encoder (the same networks at their initial weights)"
claims.check("P04.distinctive-kept", kept(results), kind="reproduction", lower=0.75,
             null=kept(results_untrained), null_name=UNTRAINED,
             statement="after training with the GDT loss (separate form, tau = 0.2), a "
                       "transformation the representation is distinctive to is linearly decodable "
                       "from it: normalised probe accuracy kappa >= 0.75 for both models")
claims.check("P04.invariant-removed", removed(results), kind="reproduction", upper=0.25,
             null=removed(results_untrained), null_name=UNTRAINED,
             statement="after training with the GDT loss (separate form, tau = 0.2, transformations "
                       "visible only through the clip's transient), a transformation the "
                       "representation is invariant to is nearly removed: a linear probe reads it "
                       "with kappa <= 0.25 in both models, where the untrained encoder reads it well")
claims.check("P04.alignment-gap", gap(results), kind="observation", lower=0.15,
             null=gap(results_untrained), null_name=UNTRAINED,
             statement="after training with the GDT loss (separate form, tau = 0.2), views that "
                       "differ only in an invariant transformation are aligned and views that "
                       "differ only in a distinctive one are separated: their mean cosines differ "
                       "by at least 0.15 in both models")
claims.summary("P04")

# %%
for claim_id in ("P04.distinctive-kept", "P04.invariant-removed", "P04.alignment-gap"):
    claims.glue_calibration(claim_id, fmt=".2f")
runtime.glue("P04.content-trained", min(results[n]["acc_class"] for n in MODELS))
runtime.glue("P04.content-untrained", min(results_untrained[n]["acc_class"] for n in MODELS))

# %% [markdown]
# In numbers: DI reads the reversal with $\kappa=$ {glue:text}`P04.di-kappa-r:.2f` and the shift with
# {glue:text}`P04.di-kappa-s:.2f`. ID reads them with {glue:text}`P04.id-kappa-r:.2f` and
# {glue:text}`P04.id-kappa-s:.2f`. After orbit averaging, the class probes stay at
# {glue:text}`P04.avg-class-r:.2f` (DI averaged over $R$) and {glue:text}`P04.avg-class-s:.2f` (ID
# averaged over $S$). Exact invariance costs the transformation, not the content.

# %%
runtime.glue("P04.di-kappa-r", results["DI"]["kappa_R"])
runtime.glue("P04.di-kappa-s", results["DI"]["kappa_S"])
runtime.glue("P04.id-kappa-r", results["ID"]["kappa_R"])
runtime.glue("P04.id-kappa-s", results["ID"]["kappa_S"])
runtime.glue("P04.avg-class-r", averaged["class_R"])
runtime.glue("P04.avg-class-s", averaged["class_S"])
runtime.glue("P04.invariant-cos", min(results["DI"]["cos_S"], results["ID"]["cos_R"]))

# %% [markdown]
# ## What the toy scale cannot show
#
# * **The paper's headline numbers.** GDT pre-trains R(2+1)D video and audio networks on Kinetics,
#   AudioSet and HowTo100M, and reports fine-tuning accuracy on UCF-101 and HMDB-51. It finds that
#   the choice of invariance or distinctiveness per transformation changes that accuracy. Nothing
#   here reproduces those numbers, and we do not assert which combination is best for action
#   recognition: our "downstream task" is a probe we defined ourselves.
# * **The released code's exact batches.** We train the separate form on the complete grid of
#   transformations, with every positive and every compared negative of the masks. The released
#   code samples its pairs by branch, splits its negatives by GPU, and averages a fixed list of
#   terms; we have not reproduced those choices one by one.
# * **Approximate invariance.** Training aligns views that differ in an invariant factor to a mean
#   cosine of {glue:text}`P04.invariant-cos:.2f` in this run, not 1. A linear probe still finds a
#   little of the invariant factor (claim 2 allows $\kappa\le0.25$). Only the orbit average
#   makes part 1 of {prf:ref}`p04-thm-info` hold exactly.
# * **Designed data.** Our content is exactly invariant to both transformations, and each
#   parameter is visible in exactly one part of the clip. Real videos are not like that, and there
#   distinctiveness can latch onto whatever else the transformation changes (exercise 2).
# * **Scale.** 16 clips per step (256 views), MLP encoders, 1,200 steps, two of the four
#   combinations. The full configuration (a GPU) uses 64 clips per step (1,024 views), wider
#   encoders, 5,000 steps and 2,000 probe clips per split. It has not been run; its thresholds
#   are the ci scale's.
#
# (p04-exercises)=
# ## Exercises
#
# ```{exercise}
# :label: ex-p04-1
#
# Add the other two combinations of the paper's table: **II** (invariant to both) and **DD**
# (distinctive to both). Extend `MODELS`, rerun, and compare $\kappa$, the cosines and the class
# probe. Which transformations does each model keep, and does any of them lose the content?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p04-1
# :class: dropdown
#
# {prf:ref}`p04-thm-info` predicts the table: a factor should be linearly decodable when the model
# is distinctive to it, and close to chance when it is invariant. So II should keep neither
# transformation, with high cosines for both, and DD should keep both, with low cosines for
# both. The content should survive in all four, since it is exactly invariant and an untrained
# encoder already reads it. That is what seed 0 gives at ci scale: II reads $r$ and $k$ at
# $\kappa\approx0.07$ and $0.05$ with both cosines near 0.97; DD reads them at $\kappa\approx0.66$
# and $0.91$ with cosines near 0.08 and 0.19; the class probe is 0.94-0.95 in all four models.
# DD is the hardest model: it must separate all 8 versions of every clip, and its $R$ read-out
# is the weakest of the distinctive ones (DI reads $r$ at about 0.89 on the same seed), although
# its reversed views are the best separated. Separation (a low cosine) does not guarantee a clean
# *linear* code. Check the pattern on a few more seeds before you trust the size of each number.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p04-2
#
# Break the design. Draw the clips with `make_clips(..., num_shifts=1)`, both for training and for
# the probes, keep the quarter-clip shifts, and retrain. The content harmonics now have 1, 2 and
# 3 cycles per clip, so a quarter shift changes their phase. What happens to ID's shift probe,
# and to the cosine between views that differ in the shift?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p04-2
# :class: dropdown
#
# ID can now be distinctive to the shift through the content's phase as well as through the
# transient, and it uses both. The cosine between views that differ in the shift falls (from
# about 0.3-0.4 to 0.05 or less on seeds 0 and 1 at ci scale: the views are *more*
# separated than with the designed clips), and yet the linear shift probe gets worse, from
# $\kappa_S\approx0.92$-$1.0$ to about 0.68-0.75, enough for `P04.distinctive-kept` (at least 0.75)
# to fail on both seeds. Part 2 of {prf:ref}`p04-thm-info` only says that the shift can be
# recovered together with the clip. It does not say which feature carries it, or that one linear
# read-out works for every clip, and here the separation comes partly from the phase of random
# content. DI's invariance to the shift also gets harder: its $\kappa_S$ rises (from about 0.05
# to 0.17) and its class probe drops (from about 0.95-0.97 to 0.91-0.93), because the content
# itself now changes with the shift. A distinctive choice guarantees separation, not a clean,
# reusable code for the parameter.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p04-3
#
# Show that (R1) and "every view has a positive" do not imply (R2). Build the smallest batch (one
# sample, two binary factors, no cross factor) on which the naive pairing "positives differ in
# exactly one factor" satisfies both but violates (R2). Check your answer with `mask_conflicts`.
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p04-3
# :class: dropdown
# ```
#
# Take the four views $(0,0),(0,1),(1,0),(1,1)$ of one sample, compare every pair, and make
# the pairs at Hamming distance 1 the positives. (R1) holds and every view has two positives. The
# chain $(0,0)\sim(0,1)\sim(1,1)$ links the compared pair $\big((0,0),(1,1)\big)$, which is a
# negative. That is a conflict, and so is $\big((0,1),(1,0)\big)$: `mask_conflicts` returns
# these 2 pairs in both directions. In the loss, the optimum would need
# $\phi(0,0)=\phi(0,1)=\phi(1,1)$ and $\phi(0,0)\ne\phi(1,1)$ at once. The product rule has no
# such pairing: a factor is either in the key or not.

# %% tags=["solution"]
views_ex = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])  # (r, k) of the four views
positive_ex = (views_ex[:, None] != views_ex[None, :]).sum(2) == 1  # Hamming distance 1
compare_ex = ~torch.eye(4, dtype=torch.bool)  # every pair compared
conflicts_ex = mask_conflicts(positive_ex, compare_ex)
print("(R1):", bool((positive_ex <= compare_ex).all()), "| conflicting pairs:",
      conflicts_ex.nonzero().tolist())

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p04-4
#
# (a) Use {prf:ref}`p04-lem-floor` to predict the loss of ID if its encoder were perfectly
# invariant to $R$ but *not* distinctive to $S$ at all (all eight views of a clip at one point),
# with every other clip far away, as $\tau\to0$, in both forms. Compare each with its floor.
#
# (b) *Code.* Build such an embedding for a batch of clips under every $(r,k)$ in both
# modalities (the hierarchical batch of the experiment), evaluate `gdt_loss` with ID's modes at
# $\tau=0.01$ in both forms, and check your predictions.
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p04-4
# :class: dropdown
# ```
#
# (a) A video anchor has $|P_i|=2$ positives (the audio views with its shift, both reversals)
# and $6$ compared hard negatives (the audio views with the other three shifts), all at the
# anchor's point, so they contribute 6 to $R_i$ at any $\tau$, while the far clips' terms
# vanish as $\tau\to0$. The separate form gives $\ell_i\to\log(1+6)=\log7\approx1.95$ nats
# against its floor 0; the shared form gives $\log(2+6)=\log8\approx2.08$ against its floor
# $\log2\approx0.69$. The shared form's gap is $\log4=\log|\Theta_S|$, exactly the information
# part 2 of {prf:ref}`p04-thm-info` says the representation must then carry. The separate
# form's gap, $\log\big(1+|P_i|(|\Theta_S|-1)\big)$, also grows with $|\Theta_S|$, but it
# counts the hard negatives against each positive alone, so it also grows with the number of
# positives. At a finite temperature the far clips add their $R_i$ to both forms, to this
# encoder's loss and to the loss of an encoder that also separates the shifts, and the
# difference between the two shrinks.
#
# (b) One-hot vectors of the clip index are such an embedding: every view of a clip at one unit
# vector, the clips orthogonal, so a far negative weighs $e^{-1/\tau}=e^{-100}$.

# %% tags=["solution"]
n_clips = 8
grid_ex = transform_grid(n_clips, [2, NS])  # every clip under every (r, k)
sample_ex = grid_ex.sample_index.repeat(2)  # video views, then audio views
params_ex = torch.cat([grid_ex.params.repeat(2, 1),  # columns: r, k, modality
                       torch.arange(2).repeat_interleave(len(grid_ex.sample_index))[:, None]], 1)
# HINT: z_ex puts every view of clip s at one unit vector of its own (F.one_hot); predicted holds log(|P_i| + R_i) or log(1 + R_i), R_i counting the compared views at the anchor's point
# BEGIN SOLUTION
z_ex = F.one_hot(sample_ex, n_clips).double()  # invariant to R and to S: one point per clip
predicted = {"separate": math.log(1 + 6),  # log(1 + R_i), R_i = the 6 hard negatives
             "shared": math.log(2 + 6)}    # log(|P_i| + R_i), |P_i| = 2
# END SOLUTION
floors = {"separate": 0.0, "shared": math.log(2)}
for form, value in predicted.items():
    loss = gdt_loss(z_ex, sample_ex, params_ex, modes=["invariant", "distinctive", "invariant"],
                    cross_factor=2, temperature=0.01, denominator=form)
    torch.testing.assert_close(loss.item(), value, rtol=0.0, atol=1e-6)
    print(f"{form:>8} form: loss {loss:.4f}, predicted {value:.4f}, floor {floors[form]:.4f}")

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
