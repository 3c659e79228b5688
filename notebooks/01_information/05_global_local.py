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
#     - P03
#     prerequisites:
#     - P07
#     - P38
# ---

# %% [markdown]
# # Global and local contrast across modalities
#
# **Paper.** Ma, Zeng, McDuff, Song, *Contrastive Learning of Global and Local Video
# Representations*, NeurIPS 2021 {cite}`ma2021contrastive` (arXiv:2104.05418). It trains a video
# network with audio as the second view and two contrastive objectives built on InfoNCE
# {cite}`oord2018representation`. The *global* one contrasts whole clips across the two
# modalities. The *local* one contrasts single moments across the two modalities, so it must keep
# track of time.
#
# A contrastive objective keeps what its two views share and discards the rest
# {cite}`tian2020contrastive`. The views of this paper are two modalities, and the objectives
# differ in what "the same sample" means: the same clip (global) or the same instant of the same
# clip (local). The paper argues that a representation trained for one kind of downstream task
# (clip classification, or localization in time and space) does badly on the other kind, and
# that training with both objectives gives one network that does well on both. It shows this on
# action and sound classification, lip reading, deepfake detection, and event and sound
# localization. There is no theorem. The argument is about what each objective rewards, and that
# is what this chapter makes exact on a toy.
#
# **What you will learn**
#
# * the global and the local cross-modal contrastive objectives, written with their exact
#   normalization, and how they differ from the official code;
# * what each objective can and cannot see, as a small theorem: the global term is blind to
#   the order of time steps, and the local term with negatives from the same clip is blind to
#   anything constant within the clip;
# * how the official code groups audio frames into the local term's positive bags, read off its
#   index arithmetic;
# * an experiment on two-modality sequences with a clip-level label and events at known time
#   steps: the joint objective, as the paper trains it, serves a clip-level task and a
#   temporal-localization task, and the global objective alone misses the events, each measured
#   against an untrained encoder and the raw input;
# * what the choice of negatives decides: with the official code's batch-wide negatives, the
#   "local" term also learns clip-level content; with negatives from the same clip it does not.
#
# **Prerequisites.** {doc}`01_infonce_demi` (InfoNCE as a softmax cross-entropy, its $\log K$
# ceiling); {doc}`02_cmc` (cross-view contrast keeps the information the views share); 1-D
# convolutions over time; linear probes.

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
from reptutor.data import make_global_local_sequences
from reptutor.losses import global_contrastive_loss, global_local_loss, local_contrastive_loss
from reptutor.metrics import linear_probe_accuracy
from reptutor.models import GlobalLocalEncoder
from reptutor.train import fit

seed = runtime.seed_everything(0)
dev = runtime.device()
cfg = runtime.pick(
    ci=dict(n_train=2000, n_test=1000, length=16,            # clips of T = 16 steps
            hidden=64, out_dim=12, proj_dim=16,              # per-modality encoder
            steps=400, batch_size=32, lr=1e-2),
    full=dict(n_train=20000, n_test=5000, length=16,
              hidden=128, out_dim=12, proj_dim=32,
              steps=3000, batch_size=128, lr=3e-3),
)
T = cfg["length"]
plot.set_theme()
print(f"seed={seed} device={dev} scale={runtime.scale()} T={T}")

# %% [markdown]
# ## Two objectives
#
# Each clip $i$ of a batch of $N$ clips comes as two time-aligned sequences, one per modality (in
# the paper: audio and video). Each modality has its own encoder, and we write
# $z^a_{i,t},\,z^b_{i,t}\in\mathbb R^D$ for the embeddings of step $t=1..T$. In code, the
# sequences are stored samples first, `(N, T, D)`. A score is a scaled dot product,
# $s(u,v)=\langle u,v\rangle/\tau$. Following the paper's official code, the defaults are raw dot
# products and $\tau=1$; cosine similarity is one flag away (`normalize=True`).
#
# ```{prf:definition} Global cross-modal objective
# :label: p03-def-global
#
# With the time averages $\bar a_i=\frac1T\sum_t z^a_{i,t}$ and $\bar b_j=\frac1T\sum_t z^b_{j,t}$
# and $s_{ij}=s(\bar a_i,\bar b_j)$,
#
# $$
# \mathcal L_{\mathrm{glob}}=\frac1N\sum_{i=1}^N\tfrac12\Big[\big(\operatorname{LSE}_j s_{ij}-s_{ii}\big)
#   +\big(\operatorname{LSE}_j s_{ji}-s_{ii}\big)\Big],
# $$
#
# the symmetric InfoNCE loss between pooled embeddings: clip $i$ of one modality must pick clip
# $i$ of the other among the $N$ clips of the batch.
# ```
#
# ```{prf:definition} Local cross-modal objective
# :label: p03-def-local
#
# With step scores $s_{(i,t),(j,u)}=s(z^a_{i,t},z^b_{j,u})$ and a candidate set $C(i)$,
#
# $$
# \mathcal L_{\mathrm{loc}}=\frac1{NT}\sum_{i,t}\tfrac12\Big[
#  \big(\operatorname{LSE}_{(j,u)\in C(i)}s_{(i,t),(j,u)}-s_{(i,t),(i,t)}\big)
# +\big(\operatorname{LSE}_{(j,u)\in C(i)}s_{(j,u),(i,t)}-s_{(i,t),(i,t)}\big)\Big].
# $$
#
# The positive of step $t$ is step $t$ of the same clip in the other modality. With *batch
# negatives* $C(i)$ holds all $NT$ steps of the batch; this is what the official code does. With
# *clip negatives* $C(i)=\{(i,u)\}_{u=1}^T$ holds only the steps of the same clip, so the
# contrast is purely in time.
# ```
#
# The paper minimizes $\mathcal L_{\mathrm{glob}}+\mathcal L_{\mathrm{loc}}$ with equal weights
# (the official `pretrain.py` adds the two terms), and its local term uses batch negatives. Its
# networks have more structure than ours. The global term uses a slow video pathway and a
# multiple-instance (MIL-NCE) score: the positive of an audio clip is a log-sum-exp over the
# spatial positions of the matching video feature map. The local term uses a fast pathway and an
# audio-guided spatial attention, and the positive of a video step is again a log-sum-exp, over
# a *bag* of audio frames.
#
# In the official `model.py` the bags come from index arithmetic, not from timestamps. The audio
# features of the batch are flattened clip by clip into one (clip, audio frame) axis of $NT_a$
# rows, all rows after the first $\lfloor T_a/T_v\rfloor NT_v$ are dropped, and the rest is cut
# into consecutive groups of $\lfloor T_a/T_v\rfloor$ frames. The $k$-th group is the bag of the
# $k$-th (clip, video step), flattened the same way. With the shapes the released code produces
# (96 audio frames from its 96x80 spectrogram, 32 steps in the fast pathway, no temporal
# stride), every group is exactly the three audio frames that fall into its video step, in the
# same clip. The comments in `model.py` quote other shapes, 98 audio frames and 31 video steps.
# With those, the same arithmetic would move the bags by 5 frames per clip, and most video steps
# of a batch of 32 clips (the default per-GPU batch of `pretrain.py`) would get a bag from
# another clip. The grouping is aligned only when $T_a$ is a multiple of $T_v$. The cell below
# counts both cases.
#
# Our clips have no spatial map and one embedding per step in each modality, so all bags have
# size one. One more convention differs: the official code puts both directions of each anchor
# in one log-sum-exp, while we average the two directions' cross-entropies, as
# `reptutor.losses.info_nce_loss` does. The library functions are `global_contrastive_loss`,
# `local_contrastive_loss` and their weighted sum `global_local_loss`.

# %%
def bag_clips(n_clips, audio_frames, video_steps):
    """(clip, frame) of every audio row in each positive bag, grouped as the official model.py."""
    size = audio_frames // video_steps  # frames per bag
    rows = torch.arange(n_clips * video_steps * size)  # flattened (clip, frame); the rest dropped
    return (rows // audio_frames).view(-1, size), (rows % audio_frames).view(-1, size)


def aligned_share(n_clips, audio_frames, video_steps):
    """Share of bags made of the audio frames of their own video step, in their own clip."""
    clip, frame = bag_clips(n_clips, audio_frames, video_steps)
    size = clip.shape[1]
    step = torch.arange(n_clips * video_steps)  # flattened (clip, video step)
    own = (clip == (step // video_steps)[:, None]).all(1)
    in_step = (frame // size == (step % video_steps)[:, None]).all(1)
    return float((own & in_step).float().mean()), float(own.float().mean())


released = aligned_share(32, 96, 32)  # batch 32, the released shapes
commented = aligned_share(32, 98, 31)  # the shapes in the code's comments
runtime.glue("P03.bags-released-aligned", released[0])
runtime.glue("P03.bags-commented-aligned", commented[0])
runtime.glue("P03.bags-commented-own-clip", commented[1])
print(f"released shapes: {released[0]:.3f} of the bags aligned; "
      f"commented shapes: {commented[0]:.3f} aligned, {commented[1]:.3f} in their own clip")

# %% [markdown]
# With the released shapes a share of {glue:text}`P03.bags-released-aligned:.2f` of the bags are
# the audio frames of their own video step. With the commented shapes only
# {glue:text}`P03.bags-commented-aligned:.2f` are (the first clip's), and only
# {glue:text}`P03.bags-commented-own-clip:.2f` even come from their own clip.
#
# ## What each objective can see
#
# The paper's argument is informal: the global term asks for clip-level agreement, the local term
# asks for agreement that is specific to a moment. The following statement is ours, not the
# paper's. It makes the argument exact for embeddings that split into a part constant within
# the clip and a part that changes over time.
#
# ```{prf:theorem} Blind spots of the two objectives
# :label: p03-thm-blind
#
# Use raw dot products (the paper's choice) and suppose each embedding is a concatenation
# $z^a_{i,t}=(p^a_i,\,q^a_{i,t})$, $z^b_{i,t}=(p^b_i,\,q^b_{i,t})$ of a block $p$ that is constant
# within clip $i$ and a block $q$ that varies with $t$. Then:
#
# 1. $\mathcal L_{\mathrm{glob}}$ depends on the $q$'s only through their time averages
#    $\bar q_i$. In particular, it does not change when the time steps of one modality are
#    re-ordered, clip by clip.
# 2. $\mathcal L_{\mathrm{loc}}$ with clip negatives does not depend on the $p$'s at all.
# 3. $\mathcal L_{\mathrm{loc}}$ with batch negatives does depend on the $p$'s, through the
#    cross-clip products $\langle p^a_i,p^b_j\rangle$, $j\ne i$.
# ```
#
# ```{prf:proof}
# (1) $\bar a_i=(p^a_i,\bar q^a_i)$, and an average does not depend on the order of its terms.
# (2) Within clip $i$,
# $\tau\,s_{(i,t),(i,u)}=\langle p^a_i,p^b_i\rangle+\langle q^a_{i,t},q^b_{i,u}\rangle$. The first
# term is the same for every $t$ and $u$. It is added to the positive and to every candidate of
# each log-sum-exp, and $\operatorname{LSE}_u(c+x_u)-(c+x_t)=\operatorname{LSE}_u x_u-x_t$. (3)
# Across clips the added term $\langle p^a_i,p^b_j\rangle/\tau$ changes with $j$, so it no longer
# cancels. A large $\langle p^a_i,p^b_i\rangle$ relative to $\langle p^a_i,p^b_j\rangle$ lowers
# the loss.
# ```
#
# The theorem is about what an objective *rewards*, not about what gradient descent will
# find. An encoder may keep information that no term rewards, if nothing pushes it out. It does
# give three predictions, which the experiment tests:
#
# * the global term alone gives no reason to encode *when* something happens, only which clip
#   it is (and what happens in it overall);
# * the local term with clip negatives gives no reason to encode what is constant within a clip,
#   such as its class;
# * the sum rewards both, and the local term with batch negatives rewards some of both.
#
# With cosine similarity the clip-constant block still changes the norms, so part 2 holds only
# approximately; that is one reason we keep the paper's raw dot products.
#
# ```{prf:remark} Blind to the order of embeddings, not to what they contain
# :label: p03-rem-what-vs-when
#
# Part 1 says the global term ignores the order of the *embeddings*. It does not say the global
# term ignores events. First, it sees the time average $\bar q_i$, so *what* happens in a clip
# (its mix of events) helps to tell clips apart and is rewarded. An encoder that is local in time
# gets that average most easily by encoding the event at every step, and then a per-step probe
# can read *when* as well. Second, each embedding is computed from a window of input steps (3 for
# our encoder), so it can carry the order of neighbouring events, and the global term can reward
# that too. The data below therefore give every clip the same mix of events, so that only their
# timing differs. {ref}`Exercise 4 <ex-p03-4>` shows what happens without that precaution.
# ```
#
# ## Data with a known answer
#
# `make_global_local_sequences` draws clips whose ground truth is known. Clip $i$ has a class
# $k_i$ out of $K=8$ and a clip-level latent $g_i=\mu_{k_i}+0.4\,\epsilon_i$. There are four
# event types with orthogonal embeddings $\eta_e$. Each clip holds each type exactly once, for 2
# steps, in a random order and at random non-overlapping positions among the $T=16$ steps
# (`events_per_clip=(4, 4), event_types="distinct"`). The other steps hold "no event"
# ($\eta_0=0$). So all clips contain the same events; only *when* they happen differs
# ({prf:ref}`p03-rem-what-vs-when`). Each modality mixes the shared content
# $(g_i,\eta_{e_{i,t}})$ with content of its own: a private clip-level latent and a private
# latent per step. The mix is a fixed random matrix followed by $\tanh$ and a little noise.
# Events are independent of the class, so the two downstream tasks share nothing. As in the
# paper, we call the first modality (`x`) the audio and the second (`y`) the video, and the
# probes read the video side:
#
# * **clip-level task**: predict the class $k_i$ from the time-averaged representation of the
#   video modality (a linear probe);
# * **temporal localization**: predict the event type at every step, "no event" included, from the
#   per-step representation (a linear probe). This is the per-segment protocol of audio-visual
#   event localization, one of the paper's downstream tasks. Always answering "no event" already
#   scores the fraction of empty steps (one half), so that is the baseline to beat.
#
# Only $g_i$ and $\eta_{e_{i,t}}$ are shared across modalities. The private latents act as
# distractors that a cross-modal objective should ignore.

# %%
data = make_global_local_sequences(cfg["n_train"] + cfg["n_test"], runtime.generator(seed),
                                   length=T, events_per_clip=(4, 4), event_types="distinct")
n_train = cfg["n_train"]
num_classes = int(data.labels.max()) + 1
background = float((data.events[n_train:] == 0).float().mean())  # always "no event"
oracle_clip = linear_probe_accuracy(data.global_latent[:n_train], data.labels[:n_train],
                                    data.global_latent[n_train:], data.labels[n_train:])
runtime.glue("P03.background", background)
runtime.glue("P03.oracle-clip", oracle_clip)
print(f"x: {tuple(data.x.shape)}  y: {tuple(data.y.shape)}  empty steps: {background:.3f}  "
      f"class probe on the true g: {oracle_clip:.3f}")

fig, axes = plot.subplots(2, width=5.0, height=2.6)
clip = n_train  # the first test clip
for ax, seq, name in zip(axes[0], (data.x, data.y), ("modality a (x)", "modality b (y)")):
    ax.imshow(seq[clip].T.numpy(), aspect="auto", cmap="RdBu_r", vmin=-1.5, vmax=1.5)
    ev = data.events[clip].numpy()
    for t in np.flatnonzero(ev):  # outline each event step and write its type on it
        ax.axvspan(t - 0.5, t + 0.5, facecolor="none", edgecolor="k", linewidth=1.5)
        ax.text(t, 2, str(ev[t]), ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"))
    ax.grid(False)
    ax.set_xlabel("time step t")
    ax.set_ylabel("feature")
    ax.set_title(f"{name}, class {int(data.labels[clip])}")

# %% [markdown]
# The outlined steps hold events (the number is the event type). They are hard to see by eye,
# because the shared content is mixed with the private content of each modality.
#
# ## From scratch
#
# Both objectives take a few lines of plain torch: pool and take a symmetric cross-entropy over
# clips, or take it over the steps of each clip. We check them against the library on random
# embeddings, together with the invariances of {prf:ref}`p03-thm-blind`.

# %%
def global_from_scratch(za, zb):
    s = za.mean(1) @ zb.mean(1).T  # (N, N) pooled scores, tau = 1
    diag = s.diagonal()
    return 0.5 * ((s.logsumexp(1) - diag) + (s.logsumexp(0) - diag)).mean()


def local_clip_from_scratch(za, zb):
    s = za @ zb.transpose(1, 2)  # (N, T, T) step scores within each clip
    diag = s.diagonal(dim1=1, dim2=2)  # (N, T) positives: same clip, same step
    return 0.5 * ((s.logsumexp(2) - diag) + (s.logsumexp(1) - diag)).mean()


g_check = runtime.generator(seed + 10)
za, zb = torch.randn(6, T, 5, generator=g_check), torch.randn(6, T, 5, generator=g_check)
torch.testing.assert_close(global_from_scratch(za, zb), global_contrastive_loss(za, zb))
torch.testing.assert_close(local_clip_from_scratch(za, zb),
                           local_contrastive_loss(za, zb, negatives="clip"))
# Theorem, part 1: re-ordering the steps of one modality leaves the global term unchanged.
order = torch.randperm(T, generator=g_check)
torch.testing.assert_close(global_contrastive_loss(za, zb[:, order]), global_contrastive_loss(za, zb))
# Part 2: a clip-constant block p does not change the local term with clip negatives...
p = torch.randn(6, 1, 3, generator=g_check).expand(6, T, 3)
with_p = dict(z_a=torch.cat([za, p], -1), z_b=torch.cat([zb, p], -1))
torch.testing.assert_close(local_contrastive_loss(**with_p, negatives="clip"),
                           local_contrastive_loss(za, zb, negatives="clip"))
# ... part 3: but it does change the local term with batch negatives.
print("batch negatives, without / with p:",
      f"{local_contrastive_loss(za, zb):.3f} / {local_contrastive_loss(**with_p):.3f}")

# %% [markdown]
# ## Experiment: four ways to train the same network
#
# Each modality gets a `GlobalLocalEncoder`. A temporal convolution (3 steps wide), a ReLU and a
# per-step linear layer give the representation $z_t\in\mathbb R^{12}$. On top of it sit two
# linear projectors, one for each objective, as in the official code (one trunk, two 1x1
# projections). Twelve dimensions are enough for the shared content (4 for $g$, 4 for $\eta$) but
# not for everything in the input. What the representation keeps is therefore decided by the
# objective. We train four variants from the same initialization, with the same batches, steps
# and learning rate:
#
# | variant | objective |
# |---|---|
# | global only | $\mathcal L_{\mathrm{glob}}$ |
# | local only | $\mathcal L_{\mathrm{loc}}$, batch negatives |
# | global + local | $\mathcal L_{\mathrm{glob}}+\mathcal L_{\mathrm{loc}}$, batch negatives: the paper's model |
# | local only, clip negatives | $\mathcal L_{\mathrm{loc}}$, negatives from the same clip (our ablation) |
#
# The first three are the paper's objective and its two ablations, with the official code's
# batch negatives. The fourth tests part 2 of {prf:ref}`p03-thm-blind`. Two controls get the
# same probes: the **untrained encoder** (the same network at its initial weights) and the **raw
# input** (the video modality's 32 input features per step, time-averaged for the clip task).
# A fifth run is a *trained* control for the time-alignment claim below, **shuffled steps**: the
# paper's objective on the same batches, but before the local term sees them the video steps of
# every clip are put in a random order, drawn afresh at every training step. Its local positives
# are the right clip at a random moment, so its local term still rewards telling clips apart
# but no longer rewards matching moments.
#
# The dashed lines of the training curves are the loss of an encoder that carries no shared
# information (all candidates tie): $\log N$ for the global term with a batch of $N$ clips,
# $\log(NT)$ for the local term with batch negatives, $\log T$ with clip negatives.

# %%
variants = {
    "global only": dict(local_weight=0.0),
    "local only": dict(global_weight=0.0, negatives="batch"),
    "global + local": dict(negatives="batch"),  # the paper's model
    "local only, clip negatives": dict(global_weight=0.0, negatives="clip"),
}
B = cfg["batch_size"]
chance_loss = {"global only": math.log(B), "local only": math.log(B * T),
               "global + local": math.log(B) + math.log(B * T),
               "local only, clip negatives": math.log(T)}
train_pair = (data.x[:n_train].to(dev), data.y[:n_train].to(dev))


def make_model():
    gen = runtime.generator(seed)  # every variant starts from the same weights
    enc = lambda d: GlobalLocalEncoder(d, cfg["hidden"], cfg["out_dim"], cfg["proj_dim"],
                                       generator=gen)
    return nn.ModuleDict({"a": enc(data.x.shape[-1]), "b": enc(data.y.shape[-1])}).to(dev)


def train_variant(name, shuffle_steps=False):
    weights = variants[name]
    g_shuffle = runtime.generator(seed + 2, dev)  # used only with shuffle_steps

    def objective(model, batch):
        out_a, out_b = model["a"](batch[0]), model["b"](batch[1])
        local_b = out_b.z_local  # (N, T, D) video steps for the local term
        if shuffle_steps:  # a fresh random order of the steps of each clip: misaligned positives
            order = torch.rand(local_b.shape[:2], generator=g_shuffle, device=dev).argsort(dim=1)
            local_b = local_b.gather(1, order[..., None].expand_as(local_b))
        return global_local_loss(out_a.z_global, out_b.z_global, out_a.z_local, local_b,
                                 **weights)

    model = make_model()
    hist = fit(model, objective, train_pair, steps=cfg["steps"], batch_size=B, lr=cfg["lr"],
               generator=runtime.generator(seed + 1), desc=name)
    return model.eval(), hist


models, histories = {}, {}
for name in variants:
    models[name], histories[name] = train_variant(name)
shuffled_model, _ = train_variant("global + local", shuffle_steps=True)  # the trained control

# %% [markdown]
# Now the two probes, on the video modality's representation $z$ (the trunk's output, shared by
# both projectors), fitted on the training clips and scored on the test clips, and the same
# probes on the two controls.

# %%
def probes(model):
    if model is None:  # the raw input
        z = data.y
    else:
        with torch.no_grad():
            z = model["b"](data.y.to(dev)).z.cpu()  # (N, T, D) video representation
    pooled = z.mean(1)  # (N, D) clip-level representation
    clip_acc = linear_probe_accuracy(pooled[:n_train], data.labels[:n_train],
                                     pooled[n_train:], data.labels[n_train:])
    steps = z.reshape(-1, z.shape[-1])  # (N*T, D) one row per step
    events = data.events.reshape(-1)
    cut = n_train * T
    event_acc = linear_probe_accuracy(steps[:cut], events[:cut], steps[cut:], events[cut:])
    return clip_acc, event_acc


scores = {name: probes(model) for name, model in models.items()}
untrained_model = make_model().eval()  # the variants' common initial weights, never trained
controls = {"untrained encoder": probes(untrained_model), "raw input": probes(None)}
for name, (clip_acc, event_acc) in {**scores, **controls}.items():
    print(f"{name:>28}: clip class {clip_acc:.3f}   event per step {event_acc:.3f}")

# %%
fig, axes = plot.subplots(3, width=4.4, height=3.4)
colors = dict(zip(variants, ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]))
control_colors = {"untrained encoder": "#8c564b", "raw input": "#17becf"}
ax = axes[0, 0]
for name, hist in histories.items():
    ax.plot(hist.step, hist["loss"], color=colors[name], label=name, linewidth=1)
    ax.axhline(chance_loss[name], color=colors[name], linestyle="--", linewidth=0.8)
ax.set_xlabel("step")
ax.set_ylabel("training loss (nats)")
ax.set_title("Training (dashed: no shared info)")
ax.legend(frameon=False, fontsize=7)
names = list(variants)
xs = np.arange(len(names))
for ax, k, title, base, base_label, top, top_label in (
        (axes[0, 1], 0, "Clip-level task", 1 / num_classes, "chance 1/K", oracle_clip,
         "probe on the true g"),
        (axes[0, 2], 1, "Temporal localization", background, "always 'no event'", 1.0,
         "perfect")):
    ax.bar(xs, [scores[n][k] for n in names], color=[colors[n] for n in names])
    plot.reference_line(ax, base, base_label, color=plot.PALETTE["baseline"])
    plot.reference_line(ax, top, top_label)
    for c, acc in controls.items():
        plot.reference_line(ax, acc[k], c, color=control_colors[c], style=":")
    ax.set_xticks(xs, [n.replace(", ", ",\n") for n in names], rotation=30, ha="right",
                  fontsize=7)
    ax.set_ylim(0, 1.45)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=7, loc="upper center", ncol=2)

# %% [markdown]
# ## The blind spot, measured
#
# Part 1 of {prf:ref}`p03-thm-blind` says that the global term cannot tell aligned time steps
# from misaligned ones. We take the trained *global + local* model and shift the video steps of
# every test clip by $\delta$ (a circular roll). Then we evaluate both terms on the test clips,
# with clip negatives for the local term. The theory predicts that the global term stays flat
# at its $\delta=0$ value. The local term should be lowest at $\delta=0$. Away from $\delta=0$ it
# should rise to about $\log T$, the value for an encoder that knows nothing about time, or above
# it, because a wrong positive is now favoured. Two controls: the untrained encoder, whose two
# modalities are embedded by unrelated random maps, and the *shuffled steps* model, trained like
# the paper's model except that its local positives were never aligned in time. For both,
# shifting should change little.

# %%
shifts = np.arange(T)


def shifted_test_losses(model):
    """Both terms on the test clips, with the video steps rolled by each shift delta."""
    with torch.no_grad():
        out_a = model["a"](data.x[n_train:].to(dev))
        out_b = model["b"](data.y[n_train:].to(dev))
        glob = [global_contrastive_loss(out_a.z_global, out_b.z_global.roll(int(d), 1)).item()
                for d in shifts]
        loc = [local_contrastive_loss(out_a.z_local, out_b.z_local.roll(int(d), 1),
                                      negatives="clip").item() for d in shifts]
    return np.array(glob), np.array(loc)


glob_shift, loc_shift = shifted_test_losses(models["global + local"])
_, loc_shift_untrained = shifted_test_losses(untrained_model)
_, loc_shift_shuffled = shifted_test_losses(shuffled_model)
# Part 1 holds exactly: the spread of the global term over all shifts is round-off.
assert np.ptp(glob_shift) < 1e-4 * abs(glob_shift[0]) + 1e-5, np.ptp(glob_shift)
runtime.glue("P03.loc-aligned", loc_shift[0])
runtime.glue("P03.loc-shifted", loc_shift[1:].min())
runtime.glue("P03.log-t", math.log(T))
print("global term by shift:", glob_shift.round(4))
print("local term by shift: ", loc_shift.round(2))

fig, axes = plot.subplots(1, width=5.2, height=3.4)
ax = axes
plot.measured_vs_theory(shifts, glob_shift, theory=np.full(T, glob_shift[0]),
                        label="global term (measured)", theory_label="global: flat (theorem, part 1)",
                        ax=ax)
ax.plot(shifts, loc_shift, marker="s", color=colors["local only"], label="local term (measured)")
ax.plot(shifts, loc_shift_untrained, marker=".", color=control_colors["untrained encoder"],
        label="local term, untrained encoder")
ax.plot(shifts, loc_shift_shuffled, marker="x", color="#e377c2",
        label="local term, trained with shuffled steps")
plot.reference_line(ax, math.log(T), "log T: no time information",
                    color=plot.PALETTE["baseline"], style=":")
ax.set_xlabel("shift of the video steps, delta")
ax.set_ylabel("test loss (nats)")
ax.set_title("Misaligning time")
ax.legend(frameon=False, fontsize=7);

# %% [markdown]
# With aligned steps the local term is {glue:text}`P03.loc-aligned:.2f` nats. Every
# misalignment raises it to at least {glue:text}`P03.loc-shifted:.2f` nats; an encoder with no
# time information would score $\log T=${glue:text}`P03.log-t:.2f`. The global term does not move
# at all. Shifts of one step rise less than the others, because an event lasts two steps.
#
# ## Claims
#
# The claims are about the paper's model, *global + local* with batch negatives, and its two
# ablations. Below, "clip accuracy" is the clip-class probe on the time-averaged representation,
# "event accuracy" is the per-step event probe, and "background" is the event accuracy of always
# answering "no event" ({glue:text}`P03.background:.3f` here). Each claim also measures a null,
# the same measurement on a control that would pass the claim if the claimed mechanism were
# absent (a model trained without aligned positives, or the untrained encoder), and the null
# must fail the bound. The thresholds were chosen on seeds 0-4 and confirmed on seeds 5-9 at ci
# scale, except claim 2's (see there); the ranges come from the committed calibration record. In this run the
# untrained encoder reads the class with {glue:text}`P03.clip-untrained:.3f` and the events with
# {glue:text}`P03.event-untrained:.3f`, and the raw input (32 features per step, not 12) with
# {glue:text}`P03.clip-raw:.3f` and {glue:text}`P03.event-raw:.3f`.
#
# 1. **`P03.joint-sees-alignment`** (reproduction): the paper's model learns time-specific
#    features. On the test clips its local term (clip negatives) must rise by at least 1 nat
#    from aligned steps to the best misaligned shift (the figure above). Seeds 0-4 gave
#    {glue:text}`P03.joint-sees-alignment.seeds-0-4` nats, seeds 5-9
#    {glue:text}`P03.joint-sees-alignment.seeds-5-9`. The null is the trained control, the
#    same model trained with its video steps shuffled in time, so that its local positives were
#    never aligned: {glue:text}`P03.joint-sees-alignment.null-range`. It shows that the rise
#    comes from the alignment of the positives, not from training with the two terms as such
#    (the untrained encoder gives {glue:text}`P03.rise-untrained:.3f` in this run).
# 2. **`P03.joint-finds-events`** (reproduction): the paper's model localizes events. Its event
#    accuracy must beat the background by at least 0.25. Seeds 0-4:
#    {glue:text}`P03.joint-finds-events.seeds-0-4`, seeds 5-9
#    {glue:text}`P03.joint-finds-events.seeds-5-9`, untrained encoder
#    {glue:text}`P03.joint-finds-events.null-range`. Again the raw input already exposes the events
#    linearly; a random 12-d code loses most of them, and training keeps them. This bound was
#    not set on seeds 0-4 alone: the bound first chosen on them was 0.3, and a held-out seed then
#    passed it with a margin of almost zero, a sign that seeds 0-4 understated the spread across
#    random worlds. We lowered it to 0.25, so seeds 5-9 do not confirm this claim independently.
#    Seeds 10-19, never looked at when the bound was set, were run afterwards as the independent
#    check: all ten passed, the lowest by a few hundredths. The claim holds across these twenty
#    worlds, with a thin margin, because the event probe's accuracy varies from world to world by
#    more than seeds 0-4 showed.
# 3. **`P03.global-misses-events`** (reproduction, on data where every clip holds the same mix
#    of events): the global objective alone does not bring *where* events are into the 12-d code,
#    and the local objective does. On the same network, data and batches, the local-only model's
#    per-step event probe must beat the global-only model's by at least
#    {glue:text}`P03.event-gap:.2f`, a bound chosen on seeds 0-4. Seeds 0-4:
#    {glue:text}`P03.global-misses-events.seeds-0-4`, seeds 5-9
#    {glue:text}`P03.global-misses-events.seeds-5-9`. The null puts the untrained encoder in the
#    local-only model's place: {glue:text}`P03.global-misses-events.null-range`. An earlier form
#    of this claim, "the global-only model recovers at most a quarter of the joint model's gain",
#    was vacuous: the untrained encoder's share, {glue:text}`P03.share-untrained:.2f` in this run,
#    is as low, because a random 12-d code loses the events too. Without the same-mix condition
#    the claim can fail ({ref}`exercise 4 <ex-p03-4>`).
#
# What the negatives decide is measured but not claimed. With batch negatives the local
# objective alone reads the class with {glue:text}`P03.clip-local:.3f` in this run, as part 3 of
# the theorem allows; with clip negatives (part 2) it reads it with only
# {glue:text}`P03.clip-local-clip:.3f`, below the untrained encoder: nothing rewards it, and the
# bottleneck lets it go. We do not assert the first number, for the reason given next.
#
# The clip-level task is not a claim. The paper's model reads the class with
# {glue:text}`P03.clip-joint:.3f` in this run, but the class is easy at this scale: the raw input
# reads it with {glue:text}`P03.clip-raw:.3f`, and the untrained encoder with
# {glue:text}`P03.clip-untrained:.3f`. A bound of 0.8 chosen on seeds 0-4 was also met by the
# untrained encoder on some of the held-out seeds 5-9 (their random class centres are easier to
# tell apart), so a clip-level claim would say nothing about training, for the joint model as
# for the local-only model with batch negatives.
#
# Two results of the paper did not reproduce, and are recorded as such:
#
# * **`P03.mutual-improvement`**: the paper reports that the two objectives mutually improve,
#   so that the joint model beats the separately trained models. Here the joint model's clip
#   accuracy differs from the global-only model's by {glue:text}`P03.gain-clip:+.3f` and its event
#   accuracy from the local-only model's by {glue:text}`P03.gain-event:+.3f` (this run).
# * **`P03.local-misses-clips`**: the paper's premise that a local objective alone serves
#   classification poorly. With the paper's batch negatives, the local-only model reads the class
#   ({glue:text}`P03.clip-local:.3f`) as well as the global-only model
#   ({glue:text}`P03.clip-global:.3f`). It holds only with clip negatives, which the paper does
#   not use.

# %%
JOINT = "global + local"
clip_acc = {n: s[0] for n, s in {**scores, **controls}.items()}
event_acc = {n: s[1] for n, s in {**scores, **controls}.items()}


def event_share(acc):
    """Share of the joint model's event-probe gain over always answering 'no event'."""
    return (acc - background) / (event_acc[JOINT] - background)


UNTRAINED = "untrained encoder"
EVENT_GAP = 0.25  # chosen on seeds 0-4 (see the claims' text)


def misalignment_rise(loc):
    """How much the local term (clip negatives) rises from aligned steps to the best shift."""
    return loc[1:].min() - loc[0]


SHUFFLED = "the paper's model trained with the video steps shuffled in time (misaligned positives)"
runtime.glue("P03.rise-untrained", misalignment_rise(loc_shift_untrained))
claims.check("P03.joint-sees-alignment", misalignment_rise(loc_shift), kind="reproduction",
             lower=1.0, null=misalignment_rise(loc_shift_shuffled), null_name=SHUFFLED,
             statement="the paper's model (global + local, batch negatives) learns time-specific "
                       "features: on test clips its local term, with negatives from the same clip, "
                       "rises by at least 1 nat when the video steps are shifted by any delta != 0")
claims.check("P03.joint-finds-events", event_acc[JOINT] - background, kind="reproduction",
             lower=0.25, null=event_acc[UNTRAINED] - background, null_name=UNTRAINED,
             statement="the paper's model localizes events in time: a linear probe on its per-step "
                       "12-d representation beats always answering 'no event' by at least 0.25")
claims.check("P03.global-misses-events", event_acc["local only"] - event_acc["global only"],
             kind="reproduction", lower=EVENT_GAP,
             null=event_acc[UNTRAINED] - event_acc["global only"],
             null_name="untrained encoder in place of the local-only model",
             statement="when every clip holds the same mix of events (only their timing differs), "
                       "the global objective alone does not bring where events happen into the "
                       "12-d code while the local objective does: on the same network, data and "
                       "batches, the local-only model's per-step event probe beats the global-only "
                       f"model's by at least {EVENT_GAP}")
claims.not_reproduced(
    "P03.mutual-improvement",
    measured=min(clip_acc[JOINT] - clip_acc["global only"],
                 event_acc[JOINT] - event_acc["local only"]),
    expected="> 0 on both tasks, by a clear margin",
    statement="the two objectives mutually improve: the jointly trained model beats the "
              "global-only model on the clip-level task and the local-only model on "
              "localization (measured: the smaller of the two accuracy gains)",
    why="the toy's two tasks share nothing by construction (events are independent of the "
        "class), so neither objective has anything to teach the other; and with batch "
        "negatives the local-only model already learns the class")
claims.not_reproduced(
    "P03.local-misses-clips",
    measured=clip_acc["global only"] - clip_acc["local only"],
    expected="> 0: local representations generalize poorly to classification",
    statement="a representation trained with the local objective alone (batch negatives) does "
              "worse on the clip-level task than one trained with the global objective "
              "(measured: global-only minus local-only clip accuracy)",
    why="with batch negatives the local term must tell clips apart and so rewards clip-level "
        "content (theorem, part 3); the toy's clip identity is cheap to keep in 12 dimensions. "
        "With negatives from the same clip the local-only model does miss the class")
claims.summary("P03")

# %%
for claim_id in ("P03.joint-sees-alignment", "P03.joint-finds-events",
                 "P03.global-misses-events"):
    claims.glue_calibration(claim_id, fmt=".2f")
for name, key in ((UNTRAINED, "untrained"), ("raw input", "raw"), ("global only", "global"),
                  ("local only", "local"), ("local only, clip negatives", "local-clip"),
                  (JOINT, "joint")):
    runtime.glue(f"P03.clip-{key}", clip_acc[name])
    runtime.glue(f"P03.event-{key}", event_acc[name])
runtime.glue("P03.share-untrained", event_share(event_acc[UNTRAINED]))
runtime.glue("P03.event-gap", EVENT_GAP)
runtime.glue("P03.share-raw", event_share(event_acc["raw input"]))
runtime.glue("P03.gain-clip", clip_acc[JOINT] - clip_acc["global only"])
runtime.glue("P03.gain-event", event_acc[JOINT] - event_acc["local only"])

# %% [markdown]
# ## What the toy scale cannot show
#
# * **The paper's headline results.** Pre-training on Kinetics-400 and AudioSet, then action
#   and sound classification, lip reading, deepfake detection, and event and sound localization:
#   none of it is reproduced here. The toy shows the mechanism, namely which objective rewards
#   which kind of information. It does not show the benchmark numbers.
# * **"Mutually improve".** The paper reports that the joint model *beats* the separately trained
#   models on both kinds of task. Here it does not (`P03.mutual-improvement` above): the two tasks
#   of the toy share nothing by construction, so there is nothing for one objective to teach the
#   other. Whether they help each other on real video is a claim at scale that we do not test.
# * **The architecture.** There are no slow and fast pathways, no spatial maps, no MIL-NCE bags
#   over positions or audio frames, and no audio-guided attention, and both directions of an
#   anchor are averaged rather than put in one log-sum-exp. The negatives are the official
#   code's, batch-wide; negatives from the same clip are run as an ablation only.
# * **Scale.** At ci scale: 2,000 training clips, $T=16$, batches of 32 clips, 400 steps. The
#   full configuration (a GPU) trains on 20,000 clips for 3,000 steps with wider encoders and
#   batches of 128 clips. It keeps the 12-dimensional representation, because the bottleneck is
#   what makes the comparison informative. It has not been run for this version of the chapter;
#   its thresholds are the ci scale's. Larger batches make the global term's task harder, and
#   {prf:ref}`p03-rem-what-vs-when` suggests that `P03.global-misses-events` is the claim most at
#   risk there.
#
# ## Exercises
#
# ```{exercise}
# :label: ex-p03-1
#
# Let every embedding be a scaled one-hot vector of its time step, the same in both modalities
# and in every clip: $z^a_{i,t}=z^b_{i,t}=c\,e_t$ with $c>0$ and $e_t\in\mathbb R^T$.
#
# (a) Compute $\mathcal L_{\mathrm{loc}}$ with clip negatives and with batch negatives in closed
# form. What does the difference say about what batch negatives ask for?
#
# (b) *Code.* Write your closed forms as a function and check them against
# `local_contrastive_loss` for a few values of $c$.
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p03-1
# :class: dropdown
# ```
#
# (a) With clip negatives the positive scores $c^2$ and the $T-1$ other steps of the clip score
# 0, in both directions, so $\mathcal L_{\mathrm{loc}}=\log\big(1+(T-1)e^{-c^2}\big)$, which
# tends to 0 as $c$ grows. With batch negatives the same step of each of the $N-1$ other clips
# also scores $c^2$, and their $N(T-1)$ other steps score 0, so
# $\mathcal L_{\mathrm{loc}}=\log\big(Ne^{c^2}+N(T-1)\big)-c^2
# =\log N+\log\big(1+(T-1)e^{-c^2}\big)\ge\log N$. These embeddings know *when* but not
# *which clip*, and batch negatives charge exactly $\log N$ for the missing clip identity. To
# pay less, an encoder must also encode what tells clips apart, and that includes clip-level
# content.

# %% tags=["solution"]
def one_hot_local_loss(c, n_clips, steps, negatives):
    """L_loc in closed form when z^a_{i,t} = z^b_{i,t} = c e_t in every clip i."""
    # HINT: count the candidates that score c^2 (the positive and, with batch negatives, the same step of each other clip) and those that score 0
    # BEGIN SOLUTION
    clip_term = math.log(1 + (steps - 1) * math.exp(-c**2))  # one positive, T - 1 zeros
    return clip_term + (math.log(n_clips) if negatives == "batch" else 0.0)
    # END SOLUTION


n_ex, t_ex = 6, 8
for c in (0.5, 1.0, 3.0):
    z_ex = c * torch.eye(t_ex, dtype=torch.float64).expand(n_ex, t_ex, t_ex)  # (N, T, D = T)
    for negatives in ("clip", "batch"):
        torch.testing.assert_close(local_contrastive_loss(z_ex, z_ex, negatives=negatives).item(),
                                   one_hot_local_loss(c, n_ex, t_ex, negatives))
    print(f"c = {c}: clip negatives {one_hot_local_loss(c, n_ex, t_ex, 'clip'):.3f}, batch "
          f"negatives {one_hot_local_loss(c, n_ex, t_ex, 'batch'):.3f} (log N = {math.log(n_ex):.3f})")

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p03-2
#
# Retrain the four variants with cosine similarity and a temperature,
# `global_local_loss(..., normalize=True, temperature=0.1)` (add both to every entry of
# `variants`). Which claims still hold? Relate what you see to the sentence on cosine similarity
# after {prf:ref}`p03-thm-blind`.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p03-2
# :class: dropdown
#
# Most of the picture should survive, because the objectives reward the same things; rerun the
# claims cell on a few seeds and compare the values, not only pass or fail. The claim to watch
# is `P03.global-misses-events`. Part 2 of the theorem is only approximate under
# normalization, because a clip-constant block changes the norms that are divided out, and more
# event information can survive in the global-only model. A plausible mechanism, not a proof:
# with raw dot products the global term keeps paying off as the clip-level directions grow, and
# they crowd out the rest of the 12 dimensions; with cosine scores the loss saturates once the
# pooled directions separate, and part of what the random initialization kept about events is
# left in place.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p03-3
#
# Break the local objective on purpose. Compute it with the video steps rolled by $T/2$ inside the
# objective, so that each audio step's "positive" is a video step half a clip away:
# `out_b.z_local.roll(T // 2, 1)`. Train *local only* and *global + local* again. Predict the
# event accuracies before you run it, then explain what you see.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p03-3
# :class: dropdown
#
# A step and the step $T/2$ away share no event. With batch negatives they do share the clip,
# so the broken local term still rewards clip-level content, and it also keeps one weak link to
# the events: the events of a clip have distinct types, so the type at one step rules that type
# out half a clip away. That link is not constant within the clip, so the broken term rewards
# encoding event types a little, and the event accuracy should fall a long way towards the
# background without reaching it. On seed 0 at ci scale it falls from 0.95 to 0.53 (local only)
# and from 0.96 to 0.55 (global + local), against 0.50 for always answering "no event" and 0.59
# for the untrained encoder, while the clip-level accuracy stays near 0.9. The joint model then
# beats the background by 0.05, and `P03.joint-finds-events`, the claim built to catch this
# (at least 0.25), fails.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p03-4
#
# Let the mix of events differ from clip to clip: draw the data with the generator's defaults,
# `events_per_clip=(2, 4), event_types="random"`, and train the four variants again. Use the ci
# configuration, then the full one if you have a GPU. Which claim is at risk, and why
# ({prf:ref}`p03-rem-what-vs-when`)?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p03-4
# :class: dropdown
#
# `P03.global-misses-events` is at risk. Now *what* happens in a clip helps to tell it apart from
# the other clips, so the global term rewards the event mix. An encoder that is local in time
# supplies the mix by encoding the event at every step, and a per-step probe then reads *when*
# too. How much this matters depends on how hard the global task is: with small batches the
# clip-level latent $g$ alone already tells most clips apart, and the event mix adds little;
# with larger batches and longer training (the full configuration) the mix becomes worth
# encoding, and the global-only model's event share can exceed the threshold. The global term is
# blind to the order of embeddings, not to their content: the time average of per-step event
# codes is the event mix. With every clip holding the same mix, this channel is closed, which is
# why the chapter's data are built that way and why the claim states that condition.
# ```

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
