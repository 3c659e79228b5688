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
#     - P47
#     prerequisites:
#     - P46
# ---

# %% [markdown]
# # Guillotine regularization: why the projector is cut off
#
# **Paper.** Bordes, Balestriero, Garrido, Bardes, Vincent, *Guillotine Regularization: Why
# Removing Layers Is Needed to Improve Generalization in Self-Supervised Learning*, TMLR 2023
# {cite}`bordes2023guillotine` (arXiv 2206.13378).
#
# Every joint-embedding method of this part (SimCLR, BYOL, VICReg, Barlow Twins) trains a
# *backbone* followed by a small MLP *projector*, computes its loss on the projector's output,
# and then throws the projector away: downstream tasks read the backbone. On ImageNet this
# trick is worth more than 30 points of linear-probe accuracy. It is odd, because the loss
# enforces invariance to the augmentations at the projector's output, so that is the layer one
# would expect to use. The paper names the trick *Guillotine Regularization* (GR), shows that
# the best layer to cut at depends on the training setup, the data and the downstream task, and
# traces the benefit to a *misalignment* between the pretext task (which augmentations define
# positive pairs) and the downstream task. When the positive pairs are aligned with the
# downstream task, the projector is much less of a problem.
#
# **What you will learn**
#
# * the definition of Guillotine Regularization as "read the network at depth $\ell$", and why
#   information about the input can only decrease with depth;
# * why an output that is invariant to an augmentation that resamples an attribute carries no
#   information about that attribute (a proof), and why the layers before it need not be
#   invariant (the projector absorbs the invariance);
# * how to measure it: a linear probe at every depth of a VICReg network trained on data whose
#   augmentation destroys an attribute a downstream task needs, and what happens when the
#   augmentation is aligned with that task.
#
# **Prerequisites.** The VICReg loss ({doc}`../01_information/07_vicreg_information`); linear
# probes (multinomial logistic regression on frozen features).

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
from torch import nn

from reptutor import claims, plot, runtime
from reptutor.data import make_content_style
from reptutor.losses import vicreg_loss
from reptutor.metrics import linear_probe_accuracy
from reptutor.models import MLP
from reptutor.train import fit

seed = runtime.seed_everything(0)
dev = runtime.device()
cfg = runtime.pick(
    ci=dict(num_pairs=8000, num_probe=2000, num_classes=4, num_styles=4, code_dim=8, noise=0.5,
            widths=[128, 64, 128, 128], out_dim=32, backbone_depth=2,
            steps=800, batch=256, lr=1e-3, keep_styles=[0.0, 1.0]),
    full=dict(num_pairs=100000, num_probe=20000, num_classes=4, num_styles=4, code_dim=8,
              noise=0.5, widths=[512, 256, 512, 512], out_dim=128, backbone_depth=2,
              steps=10000, batch=1024, lr=1e-3, keep_styles=[0.0, 0.25, 0.5, 0.75, 1.0]),
)
plot.set_theme()
print(f"seed={seed} device={dev} scale={runtime.scale()}")

# %% [markdown]
# ## Cutting a network at depth $\ell$
#
# ```{prf:definition} Guillotine Regularization
# :label: p47-def-gr
#
# Let $\psi_J\circ\psi_{J-1}\circ\dots\circ\psi_1$ be a network of $J$ blocks trained on a
# pretext loss computed on its output $h_J$, and write
# $h_\ell=\psi_\ell\circ\dots\circ\psi_1(x)$ for the representation after $\ell$ blocks ($h_0=x$).
# *Guillotine Regularization at depth $\ell$* evaluates a downstream read-out (here a linear
# probe) on $h_\ell$ instead of $h_J$. In self-supervised learning the usual cut is at the end of
# the backbone, $\ell=\ell_b$: the first $\ell_b$ blocks are the encoder $\phi_\theta$ and the
# blocks $\psi_{\ell_b+1},\dots,\psi_J$ form the projector $g$, so $h_J=g(\phi_\theta(x))$.
# ```
#
# (The paper writes the network $f=g_L\circ\dots\circ g_1$; this book keeps $f$ for critics, $g$
# for the projector and $L$ for latent dimensions, see the {doc}`notation page </book/notation>`.)
#
# The paper's point is that this is a choice, not a convention: the depth that transfers best
# moves with the optimiser, the loss's hyper-parameters, the data and the downstream task, and
# the probe accuracies of the backbone and of the projector's output do not predict each other.
# Two elementary facts frame what a cut can and cannot do.
#
# ```{prf:proposition} Depth can only remove information
# :label: p47-prop-dpi
#
# For any label $Y$ and depths $\ell\le m$, $I(h_m;Y)\le I(h_\ell;Y)$, and the Bayes accuracy of
# predicting $Y$ from $h_m$ is at most that from $h_\ell$.
# ```
#
# ```{prf:proof}
# $h_m=G(h_\ell)$ with $G=\psi_m\circ\dots\circ\psi_{\ell+1}$, so $Y\to h_\ell\to h_m$ is a Markov
# chain and the data-processing inequality gives the first claim. For the second, any classifier
# $\kappa$ of $h_m$ gives the classifier $\kappa\circ G$ of $h_\ell$ with the same accuracy.
# ```
#
# A *linear* probe is not bound by this (a nonlinear layer can make a label linearly readable),
# so whether cutting helps a linear read-out is an empirical question; the second fact says
# when the last layer must lose.
#
# ```{prf:theorem} An invariant output forgets what the augmentation resamples
# :label: p47-prop-invariant
#
# Let a sample have a class $c$ and a style $s$, uniform on $S$ values and independent of $c$,
# and let the positive of $x=\mathrm{render}(c,s,\zeta)$ be $x'=\mathrm{render}(c,s',\zeta')$ with
# $s'$ drawn afresh, independent of $(s,\zeta,\zeta')$ given $c$. If an encoder $h$ is perfectly
# invariant on positive pairs, $h(x)=h(x')$ almost surely, then $h(x)$ is independent of $s$,
# and every classifier of $s$ from $h(x)$ has accuracy exactly $1/S$.
# ```
#
# ```{prf:proof}
# $h(x')$ is a function of $(c,s',\zeta')$, which is independent of $s$ (the style is
# independent of the class, and $s',\zeta'$ are fresh). Since $h(x)=h(x')$ almost surely,
# $h(x)$ is independent of $s$ too. A classifier $\kappa$ is then correct with probability
# $\sum_j P(\kappa(h(x))=j)\,P(s=j)=\frac1S\sum_j P(\kappa(h(x))=j)=\frac1S$.
# ```
#
# The invariance loss of VICReg (and the alignment term of every joint-embedding loss) pushes
# the *output* toward this invariance, so a style task read at $h_J$ heads for chance. Nothing
# forces the earlier layers to be invariant: it suffices that the last layers map the styles
# together. Here is the mechanism in the simplest case, a linear projector.
#
# ```{prf:remark} The projector absorbs the invariance (linear case)
# :label: p47-rem-linear
#
# Let $Z=H W$ with backbone features $H=XW_1\in\mathbb R^{N\times k}$ and a linear projector
# $W\in\mathbb R^{k\times D}$, and a loss $\mathcal L(Z)$ with $G=\partial\mathcal L/\partial Z$.
# Then $\partial\mathcal L/\partial W_1=X^\top G\,W^\top$. If $P$ is the orthogonal projector onto
# $\mathrm{col}(W)^\perp\subset\mathbb R^k$, the update of $W_1$ satisfies
# $(\partial\mathcal L/\partial W_1)P=X^\top G\,W^\top P=0$: the part $W_1P$ of the backbone
# that the projector does not look at is never changed by the gradient while $W$ stays put. The
# loss only needs $W$ to map the style directions of $H$ to zero; the backbone keeps whatever
# its initialisation and the class-related updates put there, including the style.
# ```
#
# This remark is this book's illustration (the paper argues empirically, not with this
# derivation). In a trained nonlinear network $W$ moves too, so the remark is a tendency, not a
# theorem; the experiment measures it.
#
# The paper's remedy points the same way. When the positive pairs are built with the downstream
# label in mind (the paper uses class labels to define positives), the pretext task no longer
# asks the output to forget what the downstream task needs, and the gap between the backbone and
# the projector's output shrinks.

# %% [markdown]
# ## The toy world: a class the augmentation keeps, a style it resamples
#
# `reptutor.data.make_content_style` draws pairs of 32-dimensional views. Each sample has a
# class $c\in\{0..3\}$ and a style $s\in\{0..3\}$; a view is a random one-hidden-layer
# rendering of the codes $[E^c_c;E^s_s]$ plus Gaussian jitter. The second view of a pair keeps the
# class, gets fresh jitter, and keeps the style with probability $p$ (`keep_style`):
#
# * $p=0$, **misaligned**: the augmentation resamples the style, as colour jitter destroys colour
#   or cropping destroys position. A downstream task that needs the style is the task the
#   augmentation was not designed for.
# * $p=1$, **aligned**: positives share the style too, as when the paper defines positives from
#   the downstream labels.
#
# The first view of every pair, which is what the probes read, is the same array at every $p$
# (the generator draws the same numbers), so all runs are probed on identical inputs.

# %%
num_train, num_probe = cfg["num_pairs"], cfg["num_probe"]
S = cfg["num_styles"]


def world(keep_style):
    """The same world (codes and renderer) and the same first views, at any keep_style."""
    return make_content_style(num_train + num_probe, runtime.generator(seed),
                              num_classes=cfg["num_classes"], num_styles=S,
                              code_dim=cfg["code_dim"], noise=cfg["noise"], keep_style=keep_style)


data = {p: world(p) for p in cfg["keep_styles"]}
misaligned, aligned = data[cfg["keep_styles"][0]], data[cfg["keep_styles"][-1]]
torch.testing.assert_close(misaligned.views[0], aligned.views[0])  # same probe inputs
x_probe = misaligned.views[0, num_train:]  # (N_probe, 32) first views of held-out samples
x_probe_pair = misaligned.views[1, num_train:]  # their misaligned positives
style_probe, class_probe = misaligned.style[0, num_train:], misaligned.labels[num_train:]
half = num_probe // 2  # the probes fit on the first half, report on the second
print(f"{num_train} training pairs, {num_probe} probe samples, "
      f"style kept in {float((misaligned.style[0] == misaligned.style[1]).double().mean()):.2f} "
      f"of the misaligned pairs (1/S = {1 / S:.2f} by chance)")

# %% [markdown]
# ## The network, and every depth at once
#
# One MLP plays both roles: $32\to128\to64$ is the backbone (two blocks, Linear then ReLU) and
# $64\to128\to128\to32$ the projector, a VICReg-style expander. `reptutor.models.MLP.layer_outputs`
# returns $[h_0,\dots,h_J]$ (input, each hidden block, output). From scratch it is a loop that
# keeps the activations after each nonlinearity:

# %%
def layer_outputs_from_scratch(net, x):
    """[h_0, h_1, ..., h_J]: the input, every hidden block's output (after its activation), the output."""
    outputs, h = [x], x
    for layer in net.layers:
        h = layer(h)
        if isinstance(layer, nn.ReLU):  # a block ends with its activation
            outputs.append(h)
    return outputs + [h]


def make_net(k):
    return MLP(32, cfg["widths"], cfg["out_dim"], generator=runtime.generator(seed + k))


check_net = make_net(1)
for mine, theirs in zip(layer_outputs_from_scratch(check_net, x_probe[:8]),
                        check_net.layer_outputs(x_probe[:8]), strict=True):
    torch.testing.assert_close(mine, theirs)
depth_names = ["input"] + [f"h{l}" for l in range(1, len(cfg["widths"]) + 1)] + ["output"]
b = cfg["backbone_depth"]
depth_names[b] += " (backbone)"
print(" -> ".join(depth_names))

# %% [markdown]
# ## Training VICReg on misaligned and aligned pairs
#
# Each run trains the same initial network with the library's `reptutor.losses.vicreg_loss`
# (weights 25/25/1, the official code's normalization) for the same steps on its own pairs. The
# third network is the same initialisation left untrained: the control every claim is measured
# against.

# %%
def train_vicreg(keep_style, pairs):
    net = make_net(1)
    fit(net, lambda m, batch: vicreg_loss(m(batch[0]), m(batch[1])),
        (pairs.views[0, :num_train], pairs.views[1, :num_train]), steps=cfg["steps"],
        batch_size=cfg["batch"], lr=cfg["lr"], generator=runtime.generator(seed + 2),
        desc=f"VICReg keep_style={keep_style:g}")
    return net.eval()


nets = {p: train_vicreg(p, d) for p, d in data.items()}
nets["untrained"] = make_net(1).eval()

# %% [markdown]
# ## A linear probe at every depth
#
# At each depth we fit `reptutor.metrics.linear_probe_accuracy` (a multinomial logistic
# regression, features standardised) for the style and for the class, and we measure how much
# the representation moves between the two views of a misaligned pair, relative to its spread:
#
# $$\delta_\ell=\frac{\mathbb E\lVert h_\ell(x)-h_\ell(x')\rVert^2}{2\operatorname{tr}\mathrm{Cov}\,h_\ell(x)},$$
#
# which is 1 for two independent samples and 0 for a perfectly invariant layer.

# %%
@torch.no_grad()
def profile(net):
    feats, feats_pair = net.layer_outputs(x_probe), net.layer_outputs(x_probe_pair)
    out = {"style": [], "class": [], "sensitivity": []}
    for h, h2 in zip(feats, feats_pair):
        out["style"].append(linear_probe_accuracy(h[:half], style_probe[:half], h[half:],
                                                  style_probe[half:]))
        out["class"].append(linear_probe_accuracy(h[:half], class_probe[:half], h[half:],
                                                  class_probe[half:]))
        out["sensitivity"].append(float(((h - h2) ** 2).sum(1).mean() / (2 * h.var(0).sum())))
    return {k: np.array(v) for k, v in out.items()}


profiles = {name: profile(net) for name, net in nets.items()}
p_mis, p_ali, p_raw = cfg["keep_styles"][0], cfg["keep_styles"][-1], "untrained"


def gap(prof, task):
    """Guillotine gain: probe accuracy at the backbone minus at the projector's output."""
    return float(prof[task][b] - prof[task][-1])


for name, prof in profiles.items():
    label = name if isinstance(name, str) else f"keep_style={name:g}"
    print(f"{label:>16} style " + " ".join(f"{a:.3f}" for a in prof["style"])
          + " | class " + " ".join(f"{a:.3f}" for a in prof["class"]))

# %% [markdown]
# ## What the projector forgets
#
# The figure shows, for the misaligned run, the backbone's and the output's features of the
# probe samples (first two principal components), coloured by style. The backbone keeps the
# styles apart; the output, where the invariance loss acts, mixes them.

# %%
feats_mis = nets[p_mis].layer_outputs(x_probe[:600])
fig, axes = plot.subplots(2, width=3.6, height=3.2)
axes = axes.ravel()
for ax, depth, title in [(axes[0], b, "backbone $h_2$"), (axes[1], -1, "projector output $h_J$")]:
    plot.embedding(feats_mis[depth], style_probe[:600], ax=ax, s=6, cmap="viridis",
                   title=f"{title}, coloured by style")  # first two principal components
    sc = ax.collections[-1]
    ax.set_xticks([]), ax.set_yticks([])
fig.colorbar(sc, ax=axes[1], label="style $s$", ticks=range(S));  # one bar, beside the right panel

# %% [markdown]
# ## The per-depth curves, against the theory
#
# The red line is the accuracy {prf:ref}`p47-prop-invariant` assigns to a perfectly invariant
# layer, $1/S$. {prf:ref}`p47-prop-dpi` bounds the *Bayes* accuracy at every depth by that of the
# input; the grey line is the linear probe on the input.

# %%
x_axis = np.arange(len(depth_names))
fig, axes = plot.subplots(3, width=3.6, height=3.2)
axes = axes.ravel()
styles = {p_mis: ("misaligned ($p=0$)", "o-"), p_ali: ("aligned ($p=1$)", "s-"),
          p_raw: ("untrained", "^:")}
for task, ax in zip(["style", "class"], axes[:2]):
    for name, (label, fmt) in styles.items():
        ax.plot(x_axis, profiles[name][task], fmt, label=label)
    if task == "style":
        plot.reference_line(ax, 1 / S, "invariant layer: $1/S$")
    plot.reference_line(ax, profiles[p_raw][task][0], "probe on the input",
                        color=plot.PALETTE["baseline"], style=":")
    ax.axvline(b, color="k", linewidth=0.8)
    ax.set_xticks(x_axis, [n.split(" ")[0] for n in depth_names], rotation=45)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{task} probe at each depth")
    ax.set_ylabel("test accuracy")
axes[0].legend(fontsize=9, loc="lower left")
for name, (label, fmt) in styles.items():
    axes[2].plot(x_axis, profiles[name]["sensitivity"], fmt, label=label)
plot.reference_line(axes[2], 0.0, "perfect invariance")
axes[2].axvline(b, color="k", linewidth=0.8)
axes[2].set_xticks(x_axis, [n.split(" ")[0] for n in depth_names], rotation=45)
axes[2].set_title(r"sensitivity $\delta_\ell$ to the augmentation");

# %% [markdown]
# The vertical line marks the backbone. Read the left panel from right to left, the way the
# guillotine moves: for the misaligned run the style accuracy climbs back as blocks are removed,
# most of it at the first cut. The class, which every positive pair shares, is read equally well
# at every depth (middle panel): for the aligned task there is nothing to gain by cutting. The
# aligned run keeps the style everywhere, and the untrained network is flat.

# %%
gain_mis, gain_ali, gain_raw = gap(profiles[p_mis], "style"), gap(profiles[p_ali], "style"), \
    gap(profiles[p_raw], "style")
first_cut = {k: float(profiles[k]["style"][-2] - profiles[k]["style"][-1]) for k in profiles}
task_dep = {k: gap(profiles[k], "style") - gap(profiles[k], "class") for k in profiles}
sens_ratio = {k: float(profiles[k]["sensitivity"][b] / profiles[k]["sensitivity"][-1])
              for k in profiles}
runtime.glue("P47.gain-mis", gain_mis)
runtime.glue("P47.gain-ali", gain_ali)
runtime.glue("P47.gain-raw", gain_raw)
runtime.glue("P47.style-out-mis", float(profiles[p_mis]["style"][-1]))
runtime.glue("P47.style-bb-mis", float(profiles[p_mis]["style"][b]))
runtime.glue("P47.chance", 1 / S)
print(f"guillotine gain on the style: misaligned {gain_mis:.3f}, aligned {gain_ali:.3f}, "
      f"untrained {gain_raw:.3f}; sensitivity ratio backbone/output "
      + ", ".join(f"{k}: {v:.2f}" for k, v in sens_ratio.items()))

# %% [markdown]
# ## Claims
#
# 1. **Cutting the projector recovers what the augmentation destroyed** (the paper's headline:
#    removing the projector gains accuracy on a downstream task the pretext task is misaligned
#    with). With the misaligned augmentation, the style probe is at least 0.2 more accurate on
#    the backbone than on the projector's output. Seeds 0-4:
#    {glue:text}`P47.guillotine-gain.seeds-0-4`; 5-9: {glue:text}`P47.guillotine-gain.seeds-5-9`;
#    the same gap in the untrained network: {glue:text}`P47.guillotine-gain.null-range`.
# 2. **The curve rises from the first cut** (an observation of ours: the paper probes the
#    layers of the projector, but that the first cut already recovers most of what the
#    augmentation destroyed is a finding of this toy, not a result we found in the paper).
#    Removing only the last Linear layer raises the style accuracy by at least 0.15. Seeds 0-4:
#    {glue:text}`P47.first-cut.seeds-0-4`; 5-9: {glue:text}`P47.first-cut.seeds-5-9`; untrained:
#    {glue:text}`P47.first-cut.null-range`.
# 3. **Invariance is enforced at the output, not at the backbone** (an observation of ours: the
#    paper starts from the fact that the SSL criterion enforces invariance at the last projector
#    layer, but does not measure how invariant each layer is). The sensitivity $\delta_\ell$ to
#    the augmentation is at least 3 times larger at the backbone than at the output. Seeds 0-4:
#    {glue:text}`P47.invariance-at-output.seeds-0-4`; 5-9:
#    {glue:text}`P47.invariance-at-output.seeds-5-9`; untrained:
#    {glue:text}`P47.invariance-at-output.null-range`.
# 4. **Aligning the positive pairs with the downstream task removes the need to cut** (the
#    paper's remedy). The style gain of claim 1 drops by at least 0.2 when the positives keep the
#    style ($p=1$) instead of resampling it ($p=0$). Seeds 0-4:
#    {glue:text}`P47.alignment-closes-gap.seeds-0-4`; 5-9:
#    {glue:text}`P47.alignment-closes-gap.seeds-5-9`. The control is the same comparison of the
#    same two trained networks on the class task, which both augmentations keep, so aligning the
#    style should not change its gain: {glue:text}`P47.alignment-closes-gap.null-range`. The
#    aligned run's style gain stays near zero (it is printed above), so this measurement is claim
#    1's gain minus a small number. The misaligned gain itself moves between training runs on
#    the same data (on one of two seeds we tried, another batch order changed it by most of the
#    bound), so claims 1 and 4 describe a run, not a fixed property of the world.
# 5. **The best depth depends on the downstream task** (the paper: the optimal cut changes with
#    the task). In the misaligned run, the style's gain exceeds the class's gain (the task the
#    augmentation is aligned with) by at least 0.2. Seeds 0-4:
#    {glue:text}`P47.task-dependent.seeds-0-4`; 5-9: {glue:text}`P47.task-dependent.seeds-5-9`;
#    untrained: {glue:text}`P47.task-dependent.null-range`. The class's own gain is close to zero,
#    so these values are close to claim 1's: what this claim adds is that the same cut that
#    recovers the style changes nothing for the class.
#
# Claims 1, 4 and 5 are the paper's qualitative results measured on the toy (kind
# "reproduction"); claims 2 and 3 are our observations of the mechanism.
#
# The data constants (four classes and styles, code dimension 8, jitter 0.5) and the training
# length were chosen on seeds 0-2 by looking at these measurements, after a first setting (code
# dimension 4, jitter 0.6) gave worlds where the style was barely visible in the input on some
# seeds; the thresholds were then set on seeds 0-4 and confirmed on 5-9 without change. One
# held-out seed (9) came within a few hundredths of the bounds of claims 1, 4 and 5 (the
# low ends of their seeds 5-9 ranges above): the size of the gain depends on the random world.

# %%
untrained_name = "untrained network (same initialisation, no training)"
claims.check("P47.guillotine-gain", gain_mis, kind="reproduction", lower=0.2,
             null=gain_raw, null_name=untrained_name,
             statement="when the augmentation resamples an attribute (style) that a downstream "
                       "task needs, a linear probe of that attribute is >= 0.2 more accurate on "
                       "the backbone than on the projector's output (VICReg, toy MLP)")
claims.check("P47.first-cut", first_cut[p_mis], kind="observation", lower=0.15,
             null=first_cut[p_raw], null_name=untrained_name,
             statement="under the misaligned augmentation, cutting only the projector's last "
                       "Linear layer raises the style probe's accuracy by >= 0.15")
claims.check("P47.invariance-at-output", sens_ratio[p_mis], kind="observation", lower=3.0,
             null=sens_ratio[p_raw], null_name=untrained_name,
             statement="the invariance is enforced at the output: the augmentation moves the "
                       "backbone's features >= 3 times more (relative to their spread) than the "
                       "projector's output")
claims.check("P47.alignment-closes-gap", gain_mis - gain_ali, kind="reproduction", lower=0.2,
             null=gap(profiles[p_mis], "class") - gap(profiles[p_ali], "class"),
             null_name="the same comparison on the class task, which both augmentations keep",
             statement="when the positive pairs keep the style (aligned with the style task) "
                       "instead of resampling it, the backbone-minus-output style gain drops "
                       "by >= 0.2")
claims.check("P47.task-dependent", task_dep[p_mis], kind="reproduction", lower=0.2,
             null=task_dep[p_raw], null_name=untrained_name,
             statement="under the misaligned augmentation, the guillotine gain on the style "
                       "task exceeds the gain on the class task (which the augmentation keeps) "
                       "by >= 0.2")
claims.summary("P47")

# %%
for cid in ["P47.guillotine-gain", "P47.first-cut", "P47.invariance-at-output",
            "P47.alignment-closes-gap", "P47.task-dependent"]:
    claims.glue_calibration(cid, fmt=".3g")

# %% [markdown]
# In this run the style probe reads {glue:text}`P47.style-bb-mis:.3f` on the backbone and
# {glue:text}`P47.style-out-mis:.3f` on the output, against $1/S=$ {glue:text}`P47.chance:.2f`
# for an invariant layer: the output is far from perfectly invariant, but what the loss removed
# it removed in the projector. With aligned positives the gain is
# {glue:text}`P47.gain-ali:.3f`, and {glue:text}`P47.gain-raw:.3f` before training.
#
# ## Where the toy differs from the paper
#
# * **Scale and architecture.** The paper trains ResNets on ImageNet with SimCLR, Barlow Twins,
#   VICReg and others, and probes ImageNet and transfer datasets; here one MLP on 32-dimensional
#   procedural vectors, trained with VICReg only.
# * **The misalignment is built in.** In the paper the downstream labels are natural classes and
#   the misalignment between augmentations and labels is implicit; here the downstream task is
#   the very attribute the augmentation resamples, so the effect is larger and cleaner. The class
#   task plays the part of a downstream task the augmentation is aligned with.
# * **Alignment.** The paper aligns the pretext task by defining positives from class labels;
#   here the aligned positives keep the style (the downstream label), the same idea.
# * **Code.** We found no official code for the paper; the protocol (probe every depth, compare
#   misaligned and label-aligned positives) follows its text.
#
# ## What the toy scale cannot show
#
# * **The size of the effect on real data.** The 30-point ImageNet gain, and the paper's finding
#   that the best depth moves with the optimiser and the loss's hyper-parameters, need real
#   augmentations and real networks.
# * **A partially aligned augmentation.** At ci scale only $p=0$ and $p=1$ are trained. The full
#   configuration sweeps $p\in\{0,0.25,0.5,0.75,1\}$ with a wider network. At ci scale, on
#   seeds 0 and 1, half-aligned positives ($p=0.5$, exercise 1) left a gain above the midpoint
#   between the misaligned and the aligned runs: the gain does not fall linearly with $p$. That is
#   an uncalibrated look, not a claim. The full configuration has not been run as part of this
#   chapter's checks.
# * **Transfer to other data.** The paper also cuts supervised networks and studies shifts in
#   the data distribution; nothing here changes the data between pre-training and probing.
#
# **A claim that can fail.** Breaking VICReg's invariance term in the library so that it paired
# each embedding with its neighbour's positive (`z_b.roll(1, 0)` inside
# `reptutor.losses.vicreg_terms`) made claim 1 fail on seed 0: the style gain fell to a few
# hundredths, the other four measurements fell below their bounds too, and the output kept the
# style. Replacing the body of `reptutor.models.MLP.layer_outputs` so that it returned the
# output at every depth was caught earlier, by the from-scratch check. Both were reverted.
#
# (p47-exercises)=
# ## Exercises
#
# ```{exercise}
# :label: ex-p47-1
#
# *Code.* Train a third network with half-aligned positives ($p=0.5$, `world(0.5)`) and add its
# style curve to the figure. Is the guillotine gain halfway between the misaligned and the
# aligned runs?
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p47-1
# :class: dropdown
# ```

# %% tags=["solution"]
def half_aligned_gain():
    """The style guillotine gain of VICReg trained on half-aligned pairs (keep_style = 0.5)."""
    # HINT: train_vicreg(0.5, world(0.5)), then profile(...) and gap(..., "style")
    # BEGIN SOLUTION
    return gap(profile(train_vicreg(0.5, world(0.5))), "style")
    # END SOLUTION


gain_half = half_aligned_gain()
print(f"style gain: p=0 {gain_mis:.3f}, p=0.5 {gain_half:.3f}, p=1 {gain_ali:.3f}")

# %% [markdown] tags=["solution"]
# Not at the seeds we tried (0 and 1): the half-aligned gain lies above the midpoint, closer to
# the misaligned run. With half the pairs still resampling the style, the invariance term still
# penalises every direction that separates styles (exercise 2 makes this exact for a perfectly
# invariant output), so the output loses much of the style. Alignment has to be (nearly)
# complete to remove the need for the cut.
#
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p47-2
#
# In {prf:ref}`p47-prop-invariant`, suppose instead that the style is kept with probability $p$
# (the generator's `keep_style`). Show that a perfectly invariant $h$ still carries no
# information about the style when $p<1$. What does this say about the half-aligned run of
# exercise 1?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p47-2
# :class: dropdown
#
# With probability $1-p>0$ the pair is a misaligned one. Condition on that event $A$ (which is
# independent of $c,s,\zeta,\zeta'$): on $A$, $h(x)=h(x')$ and $h(x')$ is independent of $s$, so
# the conditional law of $h(x)$ given $s$ on $A$ does not depend on $s$. But $h(x)$ itself is
# independent of $A$ (the event only concerns the second view), so its law given $s$ is the same
# on and off $A$, and does not depend on $s$: $h(x)$ is independent of $s$. Perfect invariance on a positive fraction of misaligned pairs is enough to erase the
# style. So the invariance term, whose optimum is this perfect invariance, pushes the output to
# forget the style at any $p<1$; only the finite training and the variance term keep some of it.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p47-3
#
# {prf:ref}`p47-prop-dpi` says the Bayes accuracy cannot increase with depth, yet a linear probe
# on $h_1$ can beat one on the input. Give a two-dimensional example where a label is not
# linearly separable in $x$ but is after one ReLU layer, and explain why this does not contradict
# the proposition.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p47-3
# :class: dropdown
#
# Take $y=1$ when $|x_1|>1$ (two outer strips) and $y=0$ otherwise. No line separates the classes
# in $x$. With the layer $h=(\mathrm{ReLU}(x_1-1),\mathrm{ReLU}(-x_1-1))$, $y=1$ iff
# $h_1+h_2>0$: linearly separable. The proposition bounds what *any* classifier can do, and the
# Bayes classifier of $x$ is nonlinear; a linear probe uses a restricted class, and a layer can
# move information into the part of the space a linear probe can use. That is why the per-depth
# curves of this chapter are measured, not deduced.
# ```

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
