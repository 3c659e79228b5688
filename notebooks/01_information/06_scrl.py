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
#     - P08
#     prerequisites:
#     - P07
# ---

# %% [markdown]
# # Spatially consistent representations: matching regions, not crops (SCRL)
#
# **Paper.** Roh, Shin, Kim, Kim, *Spatially Consistent Representation Learning*, CVPR 2021
# {cite}`roh2021spatially`. It changes one thing in BYOL {cite}`grill2020bootstrap`: *what* is
# asked to agree across two augmented views. The views are the random resized crops used by
# SimCLR {cite}`chen2020simple` and BYOL.
#
# Image-level self-supervised learning pools each view into one vector and asks the two vectors
# to agree. On an ImageNet photo of one centred object, two random crops usually show the same
# object, so this is a sensible request. On a scene with several objects, one crop may show a cup
# and the other a keyboard; asking their pooled features to agree is asking for features that do
# not depend on *where* one looks. SCRL keeps BYOL's machinery (online and target networks, a
# predictor, a stop-gradient, an exponential moving average) and applies the loss to boxes
# instead. It draws boxes inside the region both crops share, maps each box into both views,
# pools each view's feature map over its copy of the box (RoIAlign), and asks the two pooled
# features of *the same region* to agree. The paper pretrains on ImageNet and reports better
# object detection and instance segmentation after fine-tuning than image-level methods.
#
# **What you will learn**
#
# * how a random resized crop acts on image coordinates, and how to carry a box from the image
#   into any view (and so from one view to another);
# * RoIAlign as bilinear sampling, written with `grid_sample`;
# * BYOL's normalised regression loss, its stop-gradient and its moving-average target, and
#   SCRL's region-level version of it;
# * why the image-level objective is *spatially inconsistent* on multi-object scenes: a theorem
#   in an idealised model (exact agreement of the pooled backbone features of whole crops forces
#   spatially constant features, while region-level agreement allows any spatially consistent
#   ones), and a measurement on procedural scenes;
# * how to test region-level consistency directly, by retrieving the matching region of another
#   view, and how image-level and region-level training compare on it, measured against the
#   spread between two runs of the same method.
#
# **Prerequisites.** Convolutional feature maps; the idea of two augmented views from the
# contrastive chapters of this part (e.g. {doc}`01_infonce_demi`). BYOL is introduced here from
# scratch; Part II studies why it does not collapse.

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
import copy

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reptutor import claims, plot, runtime
from reptutor.data import (crop_intersection, grid_boxes, make_scenes, map_boxes,
                           random_resized_crop, sample_boxes, visible_fraction)
from reptutor.losses import byol_loss, byol_momentum, ema_update, scrl_loss
from reptutor.metrics import linear_probe_accuracy
from reptutor.models import MLP, ConvEncoder, roi_align
from reptutor.train import fit

seed = runtime.seed_everything(0)
dev = runtime.device()
cfg = runtime.pick(
    ci=dict(image=32, objects=(3, 4), obj_size=(7.0, 12.0), pool=1024,   # scenes
            view=16, crop_scale=(0.2, 1.0), brightness=0.2,               # views
            channels=(16, 32, 32), hidden=64, proj=32,                     # networks
            steps=600, batch=32, lr=1e-3, ema_base=0.97,                   # training
            boxes=8, min_box=6.0,                                          # SCRL's boxes
            eval_scenes=1024, eval_grid=3, eval_min=8.0),                  # evaluation
    full=dict(image=64, objects=(6, 9), obj_size=(10.0, 20.0), pool=50_000,
              view=32, crop_scale=(0.2, 1.0), brightness=0.4,
              channels=(32, 64, 128), hidden=512, proj=128,
              steps=20_000, batch=256, lr=1e-3, ema_base=0.97,
              boxes=10, min_box=12.0,
              eval_scenes=4096, eval_grid=3, eval_min=16.0),
)
S = cfg["view"]
plot.set_theme()
print(f"seed={seed} device={dev} scale={runtime.scale()}")

# %% [markdown]
# ## Views, and where a region goes in each view
#
# A *view* of an image $x$ of size $H\times W$ is made by a crop box
# $c=(c_{x0},c_{y0},c_{x1},c_{y1})$ (in the image's pixel coordinates), an optional left-right
# flip, and a resize to $S\times S$. The crop box is drawn at random: its area is a uniform random
# fraction in $[0.2,1]$ of the image's (SCRL's setting) and its aspect ratio lies in $[3/4,4/3]$.
# Points of the image are written $u=(u_1,u_2)$, horizontal then vertical.
#
# ```{prf:definition} The box map of a view
# :label: p08-def-box-map
#
# For a view with crop $c$ and flip flag $s\in\{0,1\}$ (1 for a mirrored view), the map $T_{c,s}$
# from image coordinates to view coordinates is
#
# $$
# T_{c,s}(u_1,u_2)=\Big((1-s)\,\hat u_1+s\,(S-\hat u_1),\;
#   S\,\frac{u_2-c_{y0}}{c_{y1}-c_{y0}}\Big),\qquad \hat u_1=S\,\frac{u_1-c_{x0}}{c_{x1}-c_{x0}} .
# $$
#
# It is affine, so it maps boxes to boxes (a flip swaps a box's left and right edges). The view
# is rendered by sampling the image at $T_{c,s}^{-1}$ of each view pixel:
# $v(p)=x\big(T_{c,s}^{-1}(p)\big)$.
# ```
#
# ```{prf:proposition} Matched boxes see the same content
# :label: p08-prop-matched
#
# Let $B$ be a box inside $c^{(1)}\cap c^{(2)}$, the region both crops contain, and let
# $b^{(v)}=T^{(v)}(B)$ for $v=1,2$, where $T^{(v)}=T_{c^{(v)},s^{(v)}}$. Then for every point
# $u\in B$, $v_1\big(T^{(1)}(u)\big)=x(u)=v_2\big(T^{(2)}(u)\big)$: the two view boxes show the
# same pixels of $x$, differently scaled and possibly mirrored. For a box $B'$ that is not inside
# $c^{(v)}$, part of $T^{(v)}(B')$ lies outside view $v$.
# ```
#
# ```{prf:proof}
# $v_1(T^{(1)}(u))=x\big((T^{(1)})^{-1}(T^{(1)}(u))\big)=x(u)$ by the definition of the rendered
# view, and the same for view 2. $T^{(v)}$ maps $c^{(v)}$ onto $[0,S]^2$, so a box inside
# $c^{(v)}$ lands inside the view.
# ```
#
# On a pixel grid the identity holds up to interpolation: `crop_resize` samples bilinearly, and
# the unit tests check it exactly on images that are linear in the coordinates, where bilinear
# interpolation makes no error. `reptutor.data` provides the pieces: `random_resized_crop`
# returns each view with its crop and flip flag, `crop_intersection` gives $c^{(1)}\cap c^{(2)}$,
# `sample_boxes` draws $K$ boxes $B_k$ inside it, and `map_boxes` applies $T^{(v)}$. $K$ is the
# paper's letter for the number of boxes of a pair of views. On the
# {doc}`notation page </book/notation>` $K$ counts the alternatives of a choice; in the
# retrieval test below the boxes of a pair are exactly that, the candidates each box is matched
# against.
#
# ## Image-level BYOL and region-level SCRL
#
# Both methods use an *online* network with parameters $\theta$ (a backbone $\phi_\theta$ whose
# output is a feature map, a projector $g_\theta$ and a predictor $q_\theta$) and a *target*
# network with parameters $\xi$ (backbone $\phi_\xi$ and projector $g_\xi$, no predictor). BYOL's
# and SCRL's papers write the backbone $f$; this book keeps $f$ for a critic and writes the
# encoder $\phi$. With $\bar p=p/\lVert p\rVert_2$ for any vector $p$, the loss of one pair is
#
# $$
# \ell(p,z)=\big\lVert\bar p-\operatorname{sg}(\bar z)\big\rVert_2^2=2-2\cos(p,z),
# $$
#
# where sg is the stop-gradient: the target side receives no gradient.
#
# ```{prf:definition} BYOL (image level)
# :label: p08-def-byol
#
# With $\operatorname{GAP}$ the average over all positions of a feature map,
# $p^{(1)}=q_\theta(g_\theta(\operatorname{GAP}\phi_\theta(v_1)))$ and
# $z^{(2)}=g_\xi(\operatorname{GAP}\phi_\xi(v_2))$ (and the same with the views swapped), BYOL
# minimises over $\theta$
#
# $$
# \mathcal L_{\mathrm{BYOL}}=\ell\big(p^{(1)},z^{(2)}\big)+\ell\big(p^{(2)},z^{(1)}\big),
# $$
#
# averaged over a batch of images, and after each step moves the target towards the online
# weights, $\xi\leftarrow m\xi+(1-m)\theta$. The decay rate $m$ follows the cosine schedule
# $m_t=1-(1-m_{\mathrm{base}})(\cos(\pi t/t_{\max})+1)/2$ over the training steps
# $t=0,\dots,t_{\max}$ {cite}`grill2020bootstrap`. (BYOL's paper writes $\tau$ for this rate and
# SCRL's configuration `m`; in this book $\tau$ is a temperature. The library's argument is
# `momentum`.)
# ```
#
# ```{prf:definition} SCRL (region level)
# :label: p08-def-scrl
#
# Draw $K$ boxes $B_1,\dots,B_K$ inside $c^{(1)}\cap c^{(2)}$ and map them into both views,
# $b^{(v)}_k=T^{(v)}(B_k)$. Pool each view's feature map over each box,
# $r^{(1)}_k=\operatorname{RoIAlign}\big(\phi_\theta(v_1),b^{(1)}_k\big)$ (one bin per box) and
# likewise $r^{(2)}_k$ from $v_2$, and set $p^{(1)}_k=q_\theta(g_\theta(r^{(1)}_k))$,
# $z^{(2)}_k=g_\xi(r^{(2)}_k)$, where the target's $r^{(2)}_k$ pools $\phi_\xi(v_2)$ (and the same
# with the views swapped). SCRL minimises
#
# $$
# \mathcal L_{\mathrm{SCRL}}=\frac1K\sum_{k=1}^K\Big[\ell\big(p^{(1)}_k,z^{(2)}_k\big)
#   +\ell\big(p^{(2)}_k,z^{(1)}_k\big)\Big],
# $$
#
# averaged over the images whose crops overlap enough to hold a box, with the same target update.
# ```
#
# RoIAlign, introduced with Mask R-CNN (He, Gkioxari, Dollár and Girshick, 2017), samples the
# feature map bilinearly at evenly spaced points of each box and averages them.
# `reptutor.models.roi_align` uses a fixed grid of $2\times2$ points and the half-pixel offset of
# torchvision's `aligned=True` (a feature cell's centre sits at the middle of the pixels it
# covers). The official code does not: it calls `torchvision.ops.roi_align` with `aligned=False`
# (no offset; its configuration key `detectron_aligned: False`), so its boxes are read half a
# feature cell away from ours, and with an adaptive grid (`sampling_ratio: -1`, about one sample
# per feature cell the box covers). At stride 32 on ImageNet crops both differences are a fraction
# of a cell; they are simplifications of this chapter, not of the method, and at our stride 4 on
# $16\times16$ views half a cell is two view pixels.
#
# ```{prf:remark} What the image-level objective asks for
# :label: p08-rem-inconsistent
#
# GAP of a view is, up to the border, the RoI feature of the whole view, i.e. of the image
# region $c^{(v)}$. So BYOL is SCRL with one box per view, where the box is $c^{(1)}$ in view 1
# and $c^{(2)}$ in view 2: two *different* regions of the image unless the crops coincide. Its
# loss is satisfied by features that are the same wherever one looks in an image, such as its
# background colour or the average of its objects; it does not reward features that tell the
# regions of an image apart (nor does it forbid them: see below). SCRL's boxes are the same
# region by {prf:ref}`p08-prop-matched`, so a feature that differs from region to region can
# still be consistent. Neither objective has negatives. What keeps both from collapsing to a
# constant is BYOL's predictor and moving-average target, studied in Part II; SCRL claims no new
# theory here, and the paper's evidence is empirical.
# ```
#
# The remark can be made exact in an idealised model. Call a backbone *crop-equivariant* if
# there is a continuous feature field $\Phi:\Omega\to\mathbb R^D$ on the image domain
# $\Omega=[0,W]\times[0,H]$ such that the feature map of every view is $\Phi$ seen through the
# view's crop, $\phi(v)=\Phi\circ T_{c,s}^{-1}$ on $[0,S]^2$: the feature at a place depends on
# what is there, not on how the view was cropped, zoomed or flipped. This is what "spatially
# consistent" means, and it says nothing about *which* field $\Phi$ the backbone computes. Pooling
# is then averaging over the image: $\operatorname{GAP}\phi(v)=\frac1{|c|}\int_c \Phi$ and, with
# RoIAlign idealised as the exact average over a box, $r^{(v)}(B)=\frac1{|B|}\int_B \Phi$ for
# $B\subset c$. The following theorem is our formalisation of the paper's motivation, not a
# result stated in the paper.
#
# ```{prf:theorem} Region-level agreement allows any spatially consistent features; exact agreement of pooled whole crops allows only constant ones
# :label: p08-thm-consistency
#
# Let the backbone be crop-equivariant with a continuous field $\Phi$.
#
# 1. For every pair of views and every box $B\subset c^{(1)}\cap c^{(2)}$, the pooled
#    features of the matched boxes coincide: $r^{(1)}(T^{(1)}(B))=r^{(2)}(T^{(2)}(B))$. Hence
#    with identical heads on both branches (e.g. the target equal to the online network and a
#    predictor that is the identity) every term of $\mathcal L_{\mathrm{SCRL}}$ is 0 (as long as
#    the projections are not zero), whatever $\Phi$ is.
# 2. Suppose the family of crops contains every rectangle $[a,a+w]\times[b,b+h]\subset\Omega$
#    with $w_0\le w\le W$ and $h_0\le h\le H$, for some $w_0<W/2$ and $h_0<H/2$. If the pooled
#    backbone features of all these crops are equal (every image-level pair agrees exactly
#    *before* the heads), then $\Phi$ is constant on $\Omega$.
# ```
#
# ```{prf:proof}
# *1.* The view box $T^{(v)}(B)$ pools $\Phi\circ(T^{(v)})^{-1}$ over $T^{(v)}(B)$. The map is
# affine, so its Jacobian is constant and the average over $T^{(v)}(B)$ of
# $\Phi\circ(T^{(v)})^{-1}$ equals the average of $\Phi$ over $B$, for $v=1$ and $v=2$ alike.
#
# *2.* Work componentwise and let $\bar\Phi$ be the common mean. Fix $u_1\in[w_0,W)$ and take
# $R=[u_1-w_0,u_1]\times[b,b+h]$ and $R_\varepsilon=[u_1-w_0,u_1+\varepsilon]\times[b,b+h]$, both
# admissible for small $\varepsilon>0$. Subtracting $\int_R \Phi=\bar\Phi\,w_0h$ from
# $\int_{R_\varepsilon}\Phi=\bar\Phi(w_0+\varepsilon)h$, dividing by $\varepsilon$ and letting
# $\varepsilon\to0$ gives, by continuity, $\int_b^{b+h}\Phi(u_1,u_2)\,du_2=\bar\Phi\,h$ for all
# admissible $b,h$. The derivative in $h$ at $b=0$ gives $\Phi(u_1,u_2)=\bar\Phi$ for
# $u_2\in[h_0,H]$; the derivative in $b$ at $h=h_0$ gives $\Phi(u_1,u_2)=\Phi(u_1,u_2+h_0)$ for
# $u_2\in[0,H-h_0]$, which is $\bar\Phi$ by the first part. As $h_0<H/2$ these cover $[0,H]$.
# Extending crops to the left instead of the right covers $u_1\in(0,W-w_0]$, and $w_0<W/2$ makes
# the two ranges cover $(0,W)$; continuity gives the rest.
# ```
#
# Real backbones are not exactly crop-equivariant, random resized crops are not exactly the family
# of part 2 (their aspect ratio is bounded), and training never reaches exact agreement. There is
# a further gap between part 2 and BYOL itself: part 2 assumes equal *pooled backbone features*,
# while a zero BYOL loss only makes the normalised outputs $\bar p^{(1)}$ and $\bar z^{(2)}$
# equal, after the projector and predictor. Those heads may discard whatever varies from crop to
# crop, so the backbone can keep spatially varying features in directions the heads ignore: a zero
# BYOL loss constrains the projected outputs, not the backbone. Part 2 forces only the part of the
# pooled feature that the heads keep to be constant (all of it when, for example, the target
# equals the online network, the predictor is the identity and $\overline{g(r)}=\overline{g(r')}$
# implies $r=r'$). So the theorem says which way each objective pulls, not what a trained backbone
# must be: SCRL can be satisfied by features that differ from place to place, while BYOL gives no
# incentive for them and, at exact agreement, rules out spatial variation only in what its heads
# pass on. The experiment below measures how much of this survives at toy scale.
#
# ## The scenes
#
# `make_scenes` draws $32\times32$ RGB scenes with 3 or 4 non-overlapping shapes (square, disc,
# triangle, plus) of random colour and size on a smooth random background, and returns every
# object's box and class. A fixed pool of scenes is the training set; fresh scenes are the test
# set. Below, one scene with its object boxes, and two random views of it. Three boxes drawn
# inside the region both views share are shown in both views, in matching colours.

# %%
def scenes(n, gen):
    return make_scenes(n, gen, image_size=cfg["image"], min_objects=cfg["objects"][0],
                       max_objects=cfg["objects"][1], min_size=cfg["obj_size"][0],
                       max_size=cfg["obj_size"][1])


g_data = runtime.generator(seed, dev)
chunks = [min(4096, cfg["pool"] - start) for start in range(0, cfg["pool"], 4096)]
pool = torch.cat([scenes(n, g_data).x for n in chunks])  # the training images, made in chunks


def two_views(images, gen):
    """Two random views of each image, with their crops and flips."""
    kw = dict(output_size=S, scale=cfg["crop_scale"], brightness=cfg["brightness"])
    return random_resized_crop(images, gen, **kw), random_resized_crop(images, gen, **kw)


def matched_boxes(v1, v2, k, gen):
    """SCRL's boxes: K regions of c1 ∩ c2, mapped into both views (Definition p08-def-scrl)."""
    shared = crop_intersection(v1.crop, v2.crop)  # (N, 4) region both views contain
    boxes, valid = sample_boxes(shared, k, gen, min_size=cfg["min_box"])  # (N, K, 4), (N,)
    return map_boxes(boxes, v1.crop, v1.flip, S), map_boxes(boxes, v2.crop, v2.flip, S), valid


g_show = runtime.generator(seed + 10, dev)
show = scenes(1, g_show)
v1, v2 = two_views(show.x, g_show)
b1, b2, _ = matched_boxes(v1, v2, 3, g_show)


def draw_box(ax, box, color, width=2.0, style="-"):
    x0, y0, x1, y1 = (float(t) - 0.5 for t in box)  # imshow puts pixel centres at integers
    ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color=color, lw=width,
                               ls=style))


fig, axes = plot.subplots(3, width=3.0, height=3.0)
colors = ["#e41a1c", "#377eb8", "#ffff33"]
panels = [(show.x[0], "scene and object boxes"), (v1.x[0], "view 1"), (v2.x[0], "view 2")]
for ax, (img, title) in zip(axes[0], panels):
    ax.imshow(img.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
    ax.set_title(title)
    ax.set_xticks([]), ax.set_yticks([])
    ax.grid(False)
for box in show.boxes[0][show.valid[0]]:
    draw_box(axes[0, 0], box, "white", 1.0)
draw_box(axes[0, 0], v1.crop[0], "black", 1.5, "-")  # crop of view 1
draw_box(axes[0, 0], v2.crop[0], "black", 1.5, "--")  # crop of view 2
for j, color in enumerate(colors):
    draw_box(axes[0, 1], b1[0, j], color)
    draw_box(axes[0, 2], b2[0, j], color)

# %% [markdown]
# In the left panel the solid black rectangle is the crop of view 1, the dashed one the crop of
# view 2. How often do two views of a scene
# show different objects? Over many random view pairs we count an object as *shown* by a view
# when at least half of its box lies inside the crop, and measure how often the two views show
# different sets of objects, and the mean intersection-over-union of the two crops in image
# coordinates. Image-level BYOL asks every one of these pairs to agree.

# %%
g_eval = runtime.generator(seed + 1000, dev)  # test scenes and their views, shared by all models
test = scenes(cfg["eval_scenes"], g_eval)
t1, t2 = two_views(test.x, g_eval)
shown1 = (visible_fraction(test.boxes, t1.crop) >= 0.5) & test.valid  # (N, O)
shown2 = (visible_fraction(test.boxes, t2.crop) >= 0.5) & test.valid
different_objects = (shown1 != shown2).any(dim=1).float().mean().item()
shared = crop_intersection(t1.crop, t2.crop)
area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
crop_iou = area(shared) / (area(t1.crop) + area(t2.crop) - area(shared))
runtime.glue("P08.crop-iou", crop_iou.mean().item())
runtime.glue("P08.different-objects", different_objects)
print(f"view pairs showing different object sets: {different_objects:.3f}; "
      f"mean IoU of the two crops: {crop_iou.mean():.3f}")

# %% [markdown]
# A fraction {glue:text}`P08.different-objects:.2f` of the view pairs show different sets of
# objects, and the two crops of a pair overlap with a mean IoU of only
# {glue:text}`P08.crop-iou:.2f`. This is a statistic of the scenes and the crops, not of any
# model: it is the paper's motivation, not a result to reproduce (the unit tests of the scene
# generator check that most pairs differ).
#
# ## From scratch
#
# The heart of SCRL is short: pool each box by averaging bilinear samples of the feature map,
# then compare matched boxes with $2-2\cos$. Below, RoIAlign is written with explicit
# bilinear interpolation at $2\times2$ points per box (cell centres at integer feature
# coordinates, hence the $-\tfrac12$: torchvision's `aligned=True`; the official SCRL code uses
# `aligned=False`, which drops it), and checked against `roi_align` and `scrl_loss`.

# %%
def roi_from_scratch(fmap, boxes, image_size, r=2):
    """RoIAlign with one bin: the mean of r x r bilinear samples per box."""
    n, c, hf, wf = fmap.shape
    t = (torch.arange(r) + 0.5) / r  # sample fractions along each side of the box
    x = (boxes[..., 0:1] + t * (boxes[..., 2:3] - boxes[..., 0:1])) * wf / image_size - 0.5
    y = (boxes[..., 1:2] + t * (boxes[..., 3:4] - boxes[..., 1:2])) * hf / image_size - 0.5
    x = x.clamp(0, wf - 1)[:, :, None, :].expand(-1, -1, r, r)  # (N, K, r, r) feature columns
    y = y.clamp(0, hf - 1)[:, :, :, None].expand(-1, -1, r, r)  # (N, K, r, r) feature rows
    x0, y0 = x.floor().clamp(max=wf - 2), y.floor().clamp(max=hf - 2)  # top-left neighbour
    out = 0
    for dy, dx in [(0, 0), (0, 1), (1, 0), (1, 1)]:  # the four neighbouring cell centres
        weight = (1 - (y - y0 - dy).abs()) * (1 - (x - x0 - dx).abs())  # bilinear weight
        idx = ((y0 + dy) * wf + x0 + dx).long().flatten(1)  # (N, K r r) flat cell index
        values = fmap.flatten(2).gather(2, idx[:, None].expand(-1, c, -1))  # (N, C, K r r)
        out = out + weight.flatten(1)[:, None] * values
    return out.view(n, c, -1, r * r).mean(-1).transpose(1, 2)  # (N, K, C)


g_check = runtime.generator(seed + 5)
fmap = torch.randn(3, 6, 4, 4, generator=g_check)
boxes = torch.sort(16 * torch.rand(3, 5, 2, 2, generator=g_check), dim=2).values  # x0<x1, y0<y1
boxes = boxes.permute(0, 1, 3, 2).reshape(3, 5, 4)[..., [0, 2, 1, 3]]  # (x0, y0, x1, y1)
torch.testing.assert_close(roi_from_scratch(fmap, boxes, 16),
                           roi_align(fmap, boxes, image_size=16).flatten(2))
p, z = torch.randn(3, 5, 8, generator=g_check), torch.randn(3, 5, 8, generator=g_check)
scratch_loss = (2 - 2 * F.cosine_similarity(p, z, dim=-1)).mean()  # mean over boxes
torch.testing.assert_close(scratch_loss, scrl_loss(p, z))
print("from-scratch RoIAlign and SCRL loss match the library")

# %% [markdown]
# ## Training BYOL and SCRL on the same scenes
#
# Both models use the same backbone: the three-convolution trunk of `ConvEncoder` from the Deep
# InfoMax chapter (stride 4, so a $16\times16$ view gives a $4\times4$ feature map, each cell
# seeing a $9\times9$ patch), and the same projector and predictor (MLPs with one hidden
# batch-normalised layer, as in BYOL). They start from the *same* initial weights, see the same
# number of steps, batches and views, and use the same target decay ($m_{\mathrm{base}}=0.97$,
# SCRL's 200-epoch setting, with BYOL's cosine schedule). The only difference is the loss:
# global average pooling and $\mathcal L_{\mathrm{BYOL}}$, or $K$ matched boxes and
# $\mathcal L_{\mathrm{SCRL}}$. The untrained initial weights are kept as a further model.
#
# One comparison of SCRL with one BYOL run cannot tell a method's effect from the luck of a
# run: two trainings of the same method from the same weights end up in different places when
# they see the scenes in another order, with other crops. So BYOL is trained twice. The second
# run, *BYOL rerun*, starts from the same initial weights and differs from the first only in its
# data generator (other batches, crops, flips and brightness changes). The gap between the two
# BYOL runs is the yardstick for the gap between SCRL and BYOL: it is what a difference looks
# like when the method does not change. The rerun is the cost of one more training
# (about a third of the chapter's CPU time); nothing else was cut to make room for it.

# %%
def make_online(gen):
    trunk = ConvEncoder(3, S, channels=cfg["channels"], generator=gen).features  # (N, C, S/4, S/4)
    width = cfg["channels"][-1]
    return nn.ModuleDict(dict(
        trunk=trunk,
        projector=MLP(width, [cfg["hidden"]], cfg["proj"], batch_norm=True, generator=gen),
        predictor=MLP(cfg["proj"], [cfg["hidden"]], cfg["proj"], batch_norm=True, generator=gen)))


def target_part(online):
    """The part of the online network that the target mirrors (no predictor)."""
    return nn.ModuleDict(dict(trunk=online["trunk"], projector=online["projector"]))


initial = make_online(runtime.generator(seed)).to(dev)
models = {name: copy.deepcopy(initial) for name in ("BYOL", "BYOL rerun", "SCRL")}
targets = {name: copy.deepcopy(target_part(net)) for name, net in models.items()}
for t in targets.values():
    t.requires_grad_(False)


def make_batch(gen):
    def batch(step):
        idx = torch.randint(0, pool.shape[0], (cfg["batch"],), generator=gen, device=dev)
        v1, v2 = two_views(pool[idx], gen)
        b1, b2, valid = matched_boxes(v1, v2, cfg["boxes"], gen)
        return v1.x, v2.x, b1, b2, valid
    return batch


def byol_objective(target):
    def objective(online, batch):
        x1, x2 = batch[:2]
        x = torch.cat([x1, x2])  # (2N, 3, S, S)
        p = online["predictor"](online["projector"](online["trunk"](x).mean(dim=(2, 3))))  # GAP
        with torch.no_grad():
            z = target["projector"](target["trunk"](x).mean(dim=(2, 3)))
        (p1, p2), (z1, z2) = p.chunk(2), z.chunk(2)
        return byol_loss(p1, z2) + byol_loss(p2, z1)  # each view predicts the other
    return objective


def region_features(trunk, x, boxes):
    return roi_align(trunk(x), boxes, image_size=S).flatten(2)  # (N, K, C) one bin per box


def scrl_objective(target):
    def objective(online, batch):
        x1, x2, b1, b2, valid = batch
        x, b = torch.cat([x1, x2]), torch.cat([b1, b2])  # (2N, 3, S, S), (2N, K, 4)
        r = region_features(online["trunk"], x, b)  # (2N, K, C)
        p = online["predictor"](online["projector"](r.flatten(0, 1))).view(*r.shape[:2], -1)
        with torch.no_grad():
            rt = region_features(target["trunk"], x, b)
            z = target["projector"](rt.flatten(0, 1)).view(*rt.shape[:2], -1)
        (p1, p2), (z1, z2) = p.chunk(2), z.chunk(2)
        return scrl_loss(p1, z2, valid=valid) + scrl_loss(p2, z1, valid=valid)  # matched boxes
    return objective


def ema(target):
    def callback(step, online, history):
        ema_update(target, target_part(online), byol_momentum(step, cfg["steps"], base=cfg["ema_base"]))
    return callback


objectives = {"BYOL": byol_objective, "BYOL rerun": byol_objective, "SCRL": scrl_objective}
batch_seed = {"BYOL": seed + 1, "SCRL": seed + 1,  # identical batches and views for these two
              "BYOL rerun": seed + 2}  # the control: same initial weights, other batches and views
histories = {}
for name, net in models.items():
    g_train = runtime.generator(batch_seed[name], dev)
    histories[name] = fit(net, objectives[name](targets[name]), make_batch(g_train),
                          steps=cfg["steps"], lr=cfg["lr"], callback=ema(targets[name]),
                          desc=name)
models["random init"] = initial

# %% [markdown]
# ## Measuring region-level consistency
#
# On the test scenes, each with its two fixed views, we split the shared region
# $c^{(1)}\cap c^{(2)}$ into a $3\times3$ grid of disjoint boxes and pool the *backbone* feature
# map (the part that is transferred to a downstream task) over each box in both views. For each
# box of view 1 we ask which of the 9 boxes of view 2 has the most similar feature (cosine), and
# count a success when it is the same region. Chance is $1/9$. A representation that is
# consistent across crop, zoom, flip and brightness changes *and* differs between regions of one
# image scores high; one that is the same everywhere in an image scores at chance. Pairs whose
# shared region is narrower than {glue:text}`P08.eval-min:.0f` pixels are left out.

# %%
runtime.glue("P08.eval-min", cfg["eval_min"])
k_grid = cfg["eval_grid"]
regions = grid_boxes(shared, k_grid)  # (N, k^2, 4) disjoint boxes of the shared region
e1, e2 = map_boxes(regions, t1.crop, t1.flip, S), map_boxes(regions, t2.crop, t2.flip, S)
usable = (shared[:, 2:] - shared[:, :2]).min(dim=1).values >= cfg["eval_min"]  # (N,)
zoom = torch.maximum(area(t1.crop) / area(t2.crop), area(t2.crop) / area(t1.crop))  # >= 1
chance = 1 / k_grid**2


@torch.no_grad()
def retrieval_hits(trunk):
    """Per test image: the fraction of view-1 regions whose nearest view-2 region is their match."""
    trunk.eval()
    r1 = F.normalize(region_features(trunk, t1.x, e1), dim=-1)  # (N, K, C) unit features
    r2 = F.normalize(region_features(trunk, t2.x, e2), dim=-1)
    nearest = (r1 @ r2.transpose(1, 2)).argmax(dim=2)  # (N, K) best match in view 2
    trunk.train()
    return (nearest == torch.arange(k_grid**2, device=dev)).float().mean(dim=1)  # (N,)


hits = {name: retrieval_hits(net["trunk"]) for name, net in models.items()}
accuracy = {name: h[usable].mean().item() for name, h in hits.items()}
edges = torch.quantile(zoom[usable], torch.tensor([1 / 3, 2 / 3], device=dev))
zoom_bin = torch.bucketize(zoom, edges)  # 0, 1, 2: terciles of the zoom ratio
by_zoom = {name: [h[usable & (zoom_bin == b)].mean().item() for b in range(3)]
           for name, h in hits.items()}
for name in models:
    print(f"{name:>12}: region retrieval {accuracy[name]:.3f} (chance {chance:.3f}); "
          f"by zoom tercile {np.round(by_zoom[name], 3)}")
print(f"usable test pairs: {usable.float().mean():.3f}; zoom-ratio tercile edges "
      f"{edges[0]:.2f}, {edges[1]:.2f}")
short = {"BYOL": "byol", "BYOL rerun": "byol-rerun", "SCRL": "scrl", "random init": "random"}
for name in models:
    runtime.glue(f"P08.acc-{short[name]}", accuracy[name])

# %% [markdown]
# A second reading of the same backbones, closer to what a detector needs: the object *class*
# from the RoI feature of each object's box. Each test scene is passed whole through the
# backbone (at $32\times32$, the trunk gives an $8\times8$ map), every object box is pooled,
# and a linear probe is fitted on half of the test scenes' objects and scored on the other half
# (4 classes, chance 0.25). This is a measurement, not a claim: see the last section.

# %%
@torch.no_grad()
def object_features(trunk):
    trunk.eval()
    r = roi_align(trunk(test.x), test.boxes, image_size=cfg["image"]).flatten(2)  # (N, O, C)
    trunk.train()
    return r[test.valid], test.labels[test.valid]  # (M, C) features of the M real objects


half = int(test.valid[: cfg["eval_scenes"] // 2].sum())  # objects of the first half of scenes
probe = {}
for name, net in models.items():
    feats, y = object_features(net["trunk"])
    probe[name] = linear_probe_accuracy(feats[:half], y[:half], feats[half:], y[half:])
    runtime.glue(f"P08.probe-{short[name]}", probe[name])
print("object-class probe on RoI features:", {k: round(v, 3) for k, v in probe.items()})


# %% [markdown]
# ## The picture
#
# Left: the training losses (each on its own objective, so the levels of BYOL and SCRL are not
# comparable; all start a little below 4: two terms of $2-2\cos$, with nearly orthogonal
# predictions and targets at initialisation). Right: region retrieval accuracy by tercile of the
# zoom ratio between the two views (the larger crop area over the smaller), with chance as a
# dotted line. The second BYOL run is dashed, in BYOL's colour: the distance between the two red
# curves is the run-to-run spread that the claims measure SCRL's gap against.

# %%
palette = {"BYOL": plot.PALETTE["theory"], "BYOL rerun": plot.PALETTE["theory"],
           "SCRL": plot.PALETTE["measured"], "random init": plot.PALETTE["baseline"]}
dashes = {"BYOL rerun": "--"}  # the second BYOL run, from the same initial weights
fig, axes = plot.subplots(2, width=5.0, height=3.6)
ax = axes[0, 0]
for name, hist in histories.items():
    ax.plot(hist.step, hist["loss"], color=palette[name], ls=dashes.get(name, "-"), label=name,
            lw=1.0)
ax.set_xlabel("step")
ax.set_ylabel("training loss (symmetrised)")
ax.set_title("Training")
ax.legend(frameon=False)
ax = axes[0, 1]
labels = [f"≤{edges[0]:.1f}x", f"{edges[0]:.1f}-{edges[1]:.1f}x", f">{edges[1]:.1f}x"]
for name in models:
    ax.plot(labels, by_zoom[name], marker="o", color=palette[name], ls=dashes.get(name, "-"),
            label=f"{name} ({accuracy[name]:.2f} overall)")
plot.reference_line(ax, chance, f"chance 1/{k_grid**2}", color="k", style=":")
ax.set_ylim(0, 1)
ax.set_xlabel("zoom ratio between the two views")
ax.set_ylabel("matched-region retrieval accuracy")
ax.set_title("Region-level consistency")
ax.legend(frameon=False, fontsize=8);

# %% [markdown]
# ## Claims
#
# What kind of claims can this toy make? The paper's thesis is that region-level training gives
# local features that stay consistent when a region is shifted or zoomed, where image-level
# training need not. It tests the thesis only through downstream detection and segmentation and
# reports no measurement of consistency itself. The retrieval test, its numbers and its bounds are
# ours, so the three passing claims below are *observations* that bear on the paper's thesis, not
# reproductions of a reported result. The reported result, better localisation transfer, has a
# nearest toy reading, the object-class probe, and it is recorded as not reproduced.
#
# The retrieval test reads exactly what SCRL's loss trains: agreement, across views, of the
# pooled features of the same region. SCRL doing well on it is therefore expected by
# construction; what the claims add is the comparison with controls measured the same way. For the
# two differences between SCRL and BYOL the control is the second BYOL run: the same difference,
# taken between two runs of the same method, in absolute value, must stay below the bound. Each
# bound was chosen by looking at the claim's values on seeds 0-4 at ci scale
# (`tools/run_chapter.py --seeds 0 1 2 3 4`), roughly midway between the largest null and the
# smallest measured value there, and confirmed on seeds 5-9. One caveat: an earlier version of
# this chapter had already recorded the SCRL and BYOL values on seeds 5-9 (only the rerun control
# is new), so those seeds were not entirely unseen when the bounds were set. The ranges below come
# from the committed calibration record.
#
# 1. **`P08.region-retrieval`** (observation): region-level training gives features whose
#    regions are matched across views better than image-level training does, by more than two
#    runs of image-level training differ. Measured: SCRL's retrieval accuracy minus BYOL's, with
#    the same backbone, initial weights, batches, views and steps; at least 0.10. Seeds 0-4:
#    {glue:text}`P08.region-retrieval.seeds-0-4`; seeds 5-9:
#    {glue:text}`P08.region-retrieval.seeds-5-9`. Null, the gap between the two BYOL runs,
#    $\lvert$rerun $-$ first run$\rvert$: {glue:text}`P08.region-retrieval.null-range`.
# 2. **`P08.learned-consistency`** (observation): the consistency is learned from the
#    region-level objective; neither the architecture nor image-level training gives as much.
#    Measured: SCRL's retrieval accuracy (chance $1/9$); at least 0.61. Seeds 0-4:
#    {glue:text}`P08.learned-consistency.seeds-0-4`; seeds 5-9:
#    {glue:text}`P08.learned-consistency.seeds-5-9`. Null, the best of the untrained initial
#    backbone and the two BYOL runs: {glue:text}`P08.learned-consistency.null-range`.
# 3. **`P08.zoom-consistency`** (observation; the paper's words are "according to geometric
#    translations and zooming operations"): the gain persists for the view pairs that differ most
#    in scale. Measured: SCRL minus BYOL in the top tercile of the zoom ratio (in this run, pairs
#    whose crop areas differ by a factor of {glue:text}`P08.zoom-edge:.1f` or more); at least
#    0.07. Seeds 0-4: {glue:text}`P08.zoom-consistency.seeds-0-4`; seeds 5-9:
#    {glue:text}`P08.zoom-consistency.seeds-5-9`. Null, the gap between the two BYOL runs in the
#    same tercile: {glue:text}`P08.zoom-consistency.null-range`.
#
# Against this control the SCRL-minus-BYOL gap is larger than its bound on all ten seeds, and the
# gap between two BYOL runs is smaller than the bound on all ten: at this scale SCRL's advantage
# is not the luck of one BYOL run. The smallest margins to the bounds over the ten seeds,
# {glue:text}`P08.region-retrieval.margin:.3f` for claim 1 and
# {glue:text}`P08.zoom-consistency.margin:.3f` for claim 3, show how close the closest seed comes.
# The evidence has limits. One rerun per seed is a rough estimate
# of how far two runs can drift apart, SCRL's own run-to-run spread is not measured separately,
# and ten seeds of one toy configuration say nothing about other architectures or scales.
#
# One result did not reproduce and is recorded as such:
#
# 4. **`P08.object-probe`**: the paper's headline is better localisation transfer than BYOL;
#    the nearest reading here, a linear probe of the object class on RoI features, goes the
#    other way. Measured: SCRL's probe accuracy minus BYOL's, seeds 0-4
#    {glue:text}`P08.object-probe.seeds-0-4`, seeds 5-9 {glue:text}`P08.object-probe.seeds-5-9`;
#    the untrained backbone minus BYOL: {glue:text}`P08.object-probe.null-range`.

# %%
runtime.glue("P08.zoom-edge", float(edges[1]))
rerun = ("a second BYOL run from the same initial weights with other batches and views: "
         "|rerun - first run|")
claims.check("P08.region-retrieval", accuracy["SCRL"] - accuracy["BYOL"], kind="observation",
             lower=0.10, null=abs(accuracy["BYOL rerun"] - accuracy["BYOL"]), null_name=rerun,
             statement="matching features of the same region across views (SCRL) retrieves "
                       "corresponding regions better than matching whole crops (BYOL): at least "
                       "0.10 more accuracy on 3x3 grids of shared regions, same backbone, "
                       "initial weights, batches and steps; more than two BYOL runs differ")
best_control = max(accuracy["random init"], accuracy["BYOL"], accuracy["BYOL rerun"])
claims.check("P08.learned-consistency", accuracy["SCRL"], kind="observation", lower=0.61,
             null=best_control,
             null_name="the best of the untrained initial backbone and the two BYOL runs",
             statement="SCRL's region-level consistency is learned from its region-level "
                       "objective: its backbone retrieves the matching region among 9 (chance "
                       "1/9) at least 61% of the time, which neither the untrained backbone nor "
                       "image-level BYOL reaches")
claims.check("P08.zoom-consistency", by_zoom["SCRL"][2] - by_zoom["BYOL"][2],
             kind="observation", lower=0.07,
             null=abs(by_zoom["BYOL rerun"][2] - by_zoom["BYOL"][2]), null_name=rerun,
             statement="SCRL's retrieval advantage over BYOL (at least 0.07, more than two BYOL "
                       "runs differ) holds for the third of view pairs that differ most in zoom")
in_scrl = "the untrained initial backbone in SCRL's place"
claims.not_reproduced(
    "P08.object-probe", measured=probe["SCRL"] - probe["BYOL"],
    expected="> 0: SCRL's region features serve object recognition and detection better "
             "than BYOL's (paper: COCO and VOC detection after ImageNet pretraining)",
    null=probe["random init"] - probe["BYOL"], null_name=in_scrl,
    statement="region-level pretraining gives RoI features that tell object classes apart "
              "better than image-level pretraining (linear probe of the object class)",
    why="colour and position already tell the regions of these scenes apart, so neither "
        "objective needs shape; the trained backbones mostly keep less of it than their random "
        "initial convolutions, and SCRL's probe is at best level with BYOL's")
claims.summary("P08")

# %%
for cid in ("P08.region-retrieval", "P08.learned-consistency", "P08.zoom-consistency",
            "P08.object-probe"):
    claims.glue_calibration(cid, fmt=".3g")

# %% [markdown]
# In this run SCRL retrieves the matching region {glue:text}`P08.acc-scrl:.2f` of the time,
# BYOL {glue:text}`P08.acc-byol:.2f`, its rerun {glue:text}`P08.acc-byol-rerun:.2f` and the
# untrained backbone {glue:text}`P08.acc-random:.2f` (chance $1/9$). Image-level BYOL does learn
# *some* local consistency (here both runs beat the untrained backbone), but less than the
# objective that asks for it region by region.
#
# ## What the toy scale cannot show
#
# * **Detection transfer.** The paper's headline results are object detection and instance
#   segmentation after ImageNet pretraining of a ResNet-50 (COCO among other benchmarks), where
#   SCRL beats BYOL and other image-level methods. Nothing here fine-tunes a detector; the chapter
#   checks the property SCRL optimises, region-level consistency, on a retrieval test that
#   reads it directly. The full configuration (64-pixel scenes with 6-9 objects, a wider trunk,
#   20,000 steps of batch 256, meant for a GPU) is the natural place to add a small detection
#   head; it has only been smoke-tested for a few steps on a CPU, so its numbers are unknown.
# * **Image-level accuracy.** The official repository reports a *lower* ImageNet linear-probe
#   accuracy for SCRL than for BYOL after 200 epochs (about 67-68% against 73%), the price of
#   not pooling the whole image. Our scenes have no image-level label, so this trade-off is not
#   measured.
# * **Object semantics (not reproduced).** The linear probe of the object class on RoI features
#   is *not* improved by region-level training at this scale; it is lowered. In this run: SCRL
#   {glue:text}`P08.probe-scrl:.2f`, BYOL {glue:text}`P08.probe-byol:.2f`, untrained backbone
#   {glue:text}`P08.probe-random:.2f` (chance 0.25); the record `P08.object-probe` above gives the
#   ten-seed ranges. Colour and position already tell the regions of a scene apart, so neither
#   objective needs shape here, and the trained backbones keep less of it than the random
#   convolutions they start from; SCRL, which must tell apart the regions of one image, leans on
#   colour most. Colour jitter that hides colour, and the full scale, are where to look (see the
#   next item).
# * **Simplifications.** The box sampler draws boxes independently (the official generator uses
#   a grid and redraws a box whose IoU with an earlier one exceeds 0.5). RoIAlign uses a fixed
#   $2\times2$ sampling grid and the half-pixel offset of `aligned=True`, where the official
#   configuration has an adaptive grid (`sampling_ratio: -1`) and `aligned=False`. The backbone
#   has no batch normalisation. Colour jitter is brightness only: in a few trials with the full colour jitter
#   of BYOL (contrast, saturation, hue, random grayscale), neither objective learned region-level
#   consistency within 600 steps at this size, so the toy isolates the geometric part of the
#   augmentations, crops, zooms and flips.
#
# ## Exercises
#
# ```{exercise}
# :label: ex-p08-1
#
# Break the correspondence on purpose: in `matched_boxes`, map the boxes into view 1 with the
# crop of view 2 (`map_boxes(boxes, v2.crop, v1.flip, S)`), so the two boxes of a pair no longer
# cover the same region. Retrain SCRL. What happens to the training loss, and to region
# retrieval?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p08-1
# :class: dropdown
#
# The loss still goes down (on seed 0 at ci scale from about 3.8 to 0.3-0.5, against about 0.1
# with correct boxes): a BYOL-style loss can be lowered by features that agree on anything the
# two boxes share, here mostly image-wide colour and texture. Region retrieval falls to the
# level of image-level BYOL: 0.54 and 0.52 on seeds 0 and 1, against 0.66 with correct boxes
# and 0.49-0.53 for the two BYOL runs. Nothing asks the features of one region to be consistent
# across views any more. The matching, not the RoI pooling, is what makes SCRL spatially
# consistent.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p08-2
#
# Add the global term to SCRL: train on $\mathcal L_{\mathrm{SCRL}}+\mathcal L_{\mathrm{BYOL}}$
# with the same networks. Does region retrieval stay at SCRL's level? Then raise the weight of
# the global term to 10.
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p08-2
# :class: dropdown
#
# Add the global term inside `scrl_objective` (pool `trunk(x)` with `.mean(dim=(2, 3))` for
# both networks, as in `byol_objective`). Expect retrieval between SCRL alone and BYOL, moving
# towards BYOL as the global weight grows (run several seeds: BYOL's own accuracy varies from
# run to run). The global term rewards features that agree across whole views, which does not
# help tell regions apart.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p08-3
#
# Replace the $3\times3$ evaluation grid by 2x2 and by 4x4 (`cfg["eval_grid"]`). How do chance,
# the three accuracies and the SCRL-BYOL gap change? Why do small grid cells hurt every model?
# ```

# %% [markdown] tags=["solution"]
# ```{solution} ex-p08-3
# :class: dropdown
#
# Chance is $1/4$, $1/9$, $1/16$. All accuracies fall as the cells shrink towards and below the
# size of one feature cell (4 view pixels): neighbouring cells are then pooled from nearly the
# same bilinear samples of the same few feature vectors, and no backbone can tell them apart.
# Check on several seeds whether the order SCRL > BYOL > untrained holds for every grid.
# ```

# %% [markdown]
# ```{exercise}
# :label: ex-p08-4
#
# *Code.* Implement the box map $T_{c,f}$ of {prf:ref}`p08-def-box-map` for a batch of boxes,
# one crop and one flip per image, and check it against `reptutor.data.map_boxes` on flipped and
# unflipped views. Why is the image of a box again a box, and why does a flipped view need the
# two $x$ edges of the box swapped?
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p08-4
# :class: dropdown
# ```
#
# $T_{c,f}$ is affine and acts on each axis separately, with positive scale factors
# $S/(c_{x1}-c_{x0})$ and $S/(c_{y1}-c_{y0})$, so an axis-aligned box maps onto the axis-aligned
# box spanned by its mapped corners. The flip $u\mapsto S-u$ reverses the $x$ axis: the image
# box's left edge becomes the view box's right edge, so the two $x$ edges are swapped to keep
# $x_0\le x_1$. Because the map is invertible, the boxes of a matched pair are the same region
# $B$ of the image seen in two views, and for $B$ inside both crops they show the same pixels
# ({prf:ref}`p08-prop-matched`).

# %% tags=["solution"]
def box_map(boxes, crop, flip, size):
    """T_{c,f} on boxes (N, K, 4) in image pixels, with crops (N, 4) and flips (N,): view pixels."""
    # HINT: subtract the crop's corner and scale by size over the crop's width and height; where flip is set, x becomes size - x and the two x edges swap
    # BEGIN SOLUTION
    x0, y0, x1, y1 = crop[:, None, :].unbind(-1)  # (N, 1) each
    bx0, by0, bx1, by1 = boxes.unbind(-1)  # (N, K) each
    u0, u1 = size * (bx0 - x0) / (x1 - x0), size * (bx1 - x0) / (x1 - x0)
    v0, v1 = size * (by0 - y0) / (y1 - y0), size * (by1 - y0) / (y1 - y0)
    flipped = flip[:, None]
    u0, u1 = torch.where(flipped, size - u1, u0), torch.where(flipped, size - u0, u1)
    return torch.stack([u0, v0, u1, v1], dim=-1)
    # END SOLUTION


g_ex = runtime.generator(0)
corner = 20 * torch.rand(6, 2, generator=g_ex)
crop_ex = torch.cat([corner, corner + 4 + 8 * torch.rand(6, 2, generator=g_ex)], 1)  # (N, 4)
flip_ex = torch.arange(6) % 2 == 1  # every other view flipped
start = 30 * torch.rand(6, 3, 2, generator=g_ex)
boxes_ex = torch.cat([start, start + 1 + 5 * torch.rand(6, 3, 2, generator=g_ex)], -1)  # (N, K, 4)
torch.testing.assert_close(box_map(boxes_ex, crop_ex, flip_ex, S), map_boxes(boxes_ex, crop_ex, flip_ex, S))
print("box_map agrees with map_boxes, flipped and unflipped views")

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
