r"""Synthetic two-modality sequences with a clip-level label and time-local events.

A procedural stand-in for the audio-visual clips of Ma, Zeng, McDuff & Song, *Contrastive
Learning of Global and Local Video Representations*, NeurIPS 2021, arXiv:2104.05418v2. Each clip
has a label that holds for its whole duration (what a clip-level classifier must find) and a few
short events at known time steps (what a temporal-localization model must find); both are seen
by the two modalities, each modality adds content of its own that the other cannot predict.

Taught in the chapter *Global and local contrast* (``notebooks/01_information/05_global_local``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from reptutor import _checks, _precision

__all__ = ["GlobalLocalSequences", "make_global_local_sequences"]


class GlobalLocalSequences(NamedTuple):
    r"""What :func:`make_global_local_sequences` returns.

    Attributes:
        x: the first modality ("audio"), shape (N, T, D_x).
        y: the second modality ("video"), shape (N, T, D_y); clip ``i`` of ``y`` is the positive
            of clip ``i`` of ``x``, and step ``t`` of the one is recorded at the same time as
            step ``t`` of the other.
        labels: the clip-level class :math:`k_i \in [0, K)`, ``torch.long``, shape (N,).
        events: the event type at each step, 0 for "no event" and :math:`1..E` for the event
            types, ``torch.long``, shape (N, T). The positions of the events are known exactly.
        global_latent: the clip-level latent :math:`g_i` shared by both modalities, shape
            (N, global_dim).
    """

    x: torch.Tensor
    y: torch.Tensor
    labels: torch.Tensor
    events: torch.Tensor
    global_latent: torch.Tensor


def make_global_local_sequences(
    n: int,
    generator: torch.Generator,
    *,
    length: int = 16,
    num_classes: int = 8,
    num_event_types: int = 4,
    events_per_clip: tuple[int, int] = (2, 4),
    event_types: str = "random",
    event_length: int = 2,
    global_dim: int = 4,
    event_dim: int = 4,
    private_clip_dim: int = 8,
    private_step_dim: int = 16,
    x_dim: int = 32,
    y_dim: int = 32,
    class_spread: float = 0.4,
    signal_scale: float = 1.5,
    noise: float = 0.15,
    dtype: torch.dtype = torch.float32,
) -> GlobalLocalSequences:
    r"""Draw ``n`` two-modality clips with a clip-level label and time-local events.

    Our toy version of the audio-visual setting of Ma et al., NeurIPS 2021 (arXiv:2104.05418v2):
    one call draws one "world" (class centres, event embeddings, mixing matrices) and ``n``
    clips from it, so draw the training and test clips in the *same* call and split the rows.

    **Clip-level content.** Clip :math:`i` has a class :math:`k_i \sim \mathcal U\{0..K-1\}`
    and a global latent :math:`g_i = \mu_{k_i} + \sigma_g\,\epsilon_i`, with class centres
    :math:`\mu_k \sim \mathcal N(0, I)` and :math:`\epsilon_i \sim \mathcal N(0, I)`
    (``class_spread`` is :math:`\sigma_g`): the class is a coarse function of :math:`g_i`,
    and :math:`g_i` itself tells clips apart.

    **Time-local events.** The :math:`T` steps are cut into :math:`\lfloor T/\ell\rfloor` slots
    of ``event_length`` :math:`\ell`; :math:`n_i \sim \mathcal U\{n_{\min}..n_{\max}\}` slots
    (chosen without replacement) hold an event, the other steps hold no event (:math:`e = 0`).
    With ``event_types="random"`` each event's type is drawn from :math:`\mathcal U\{1..E\}`;
    with ``"distinct"`` the events of a clip have distinct types (the first :math:`n_i` entries
    of a random permutation of :math:`1..E`, in slot order), so with
    :math:`n_{\min} = n_{\max} = E` every clip holds every type exactly once: *what* happens is
    the same in every clip, only *when* differs. Event types have orthogonal embeddings of equal
    norm, :math:`\eta_e = \sqrt{d_e}\,q_e` with :math:`q_1..q_E` orthonormal (a QR of a Gaussian
    matrix, so :math:`E \le d_e`), and :math:`\eta_0 = 0`: no event type is easier to see than
    another. Events are independent of the class, so the two tasks share nothing.

    **Observations.** Each modality :math:`m \in \{x, y\}` adds a private clip-level latent
    :math:`c^m_i \sim \mathcal N(0, I)` (constant in time) and a private step latent
    :math:`u^m_{i,t} \sim \mathcal N(0, I)`; with the stacked latent
    :math:`\ell^m_{i,t} = (s\,g_i,\ s\,\eta_{e_{i,t}},\ c^m_i,\ u^m_{i,t}) \in \mathbb R^{d}`
    (:math:`s` is ``signal_scale``) the observation is

    .. math::

        m_{i,t} = \tanh\!\big(W_m^\top \ell^m_{i,t}\big) + \sigma\,\xi^m_{i,t},
        \qquad (W_m)_{jk} \sim \mathcal N(0, 1/d),\ \xi^m_{i,t} \sim \mathcal N(0, I),

    with :math:`\sigma` = ``noise``. What the two modalities share is exactly
    :math:`g_i` (constant in time) and :math:`\eta_{e_{i,t}}` (local in time); :math:`c^m`
    and :math:`u^m` are invisible to any cross-modal objective.

    Args:
        n: number of clips :math:`N \ge 1`.
        generator: the random generator (everything, the world included, is drawn from it).
        length: time steps :math:`T \ge 2` per clip.
        num_classes: clip classes :math:`K \ge 2`.
        num_event_types: event types :math:`1 \le E \le` ``event_dim`` (0 is reserved for
            "no event").
        events_per_clip: inclusive range :math:`(n_{\min}, n_{\max})` of events per clip, at
            most the number of slots :math:`\lfloor T/\ell \rfloor`.
        event_types: ``"random"`` (independent types) or ``"distinct"`` (no type twice in a
            clip; then :math:`n_{\max} \le E`).
        event_length: steps :math:`\ell \ge 1` per event.
        global_dim: dimension of :math:`g`.
        event_dim: dimension of :math:`\eta`.
        private_clip_dim: dimension of each :math:`c^m` (may be 0).
        private_step_dim: dimension of each :math:`u^m` (may be 0).
        x_dim: observed dimension :math:`D_x` of the first modality.
        y_dim: observed dimension :math:`D_y` of the second modality.
        class_spread: within-class standard deviation :math:`\sigma_g \ge 0` of :math:`g`.
        signal_scale: amplitude :math:`s > 0` of the shared latents relative to the private
            (unit-variance) ones.
        noise: observation noise :math:`\sigma \ge 0`.
        dtype: floating dtype of the returned features.

    Returns:
        :class:`GlobalLocalSequences` ``(x, y, labels, events, global_latent)`` on the
        generator's device.

    Shape:
        ``x``: (N, T, D_x); ``y``: (N, T, D_y); ``labels``: (N,); ``events``: (N, T);
        ``global_latent``: (N, global_dim).

    Raises:
        TypeError: for a non-integer size or a non-generator ``generator``.
        ValueError: for sizes out of range or more events than slots.

    Examples:
        Events come in blocks of ``event_length`` steps, and between ``n_min`` and ``n_max``
        of them per clip:

        >>> g = torch.Generator().manual_seed(0)
        >>> d = make_global_local_sequences(64, g, length=12, events_per_clip=(1, 3))
        >>> d.x.shape, d.y.shape, d.events.shape
        (torch.Size([64, 12, 32]), torch.Size([64, 12, 32]), torch.Size([64, 12]))
        >>> per_clip = (d.events > 0).sum(1) // 2
        >>> bool(((1 <= per_clip) & (per_clip <= 3)).all())
        True

        With ``event_types="distinct"`` and four events of four types, every clip holds each type
        once (two steps each):

        >>> d = make_global_local_sequences(64, g, events_per_clip=(4, 4), event_types="distinct")
        >>> bool((torch.stack([(d.events == e).sum(1) for e in range(1, 5)]) == 2).all())
        True

        The same generator state gives the same world and clips:

        >>> a = make_global_local_sequences(4, torch.Generator().manual_seed(1))
        >>> b = make_global_local_sequences(4, torch.Generator().manual_seed(1))
        >>> bool(torch.equal(a.y, b.y))
        True
    """
    _checks.integer("n", n, minimum=1)
    _checks.generator("generator", generator)
    _checks.integer("length", length, minimum=2)
    _checks.integer("num_classes", num_classes, minimum=2)
    _checks.integer("num_event_types", num_event_types, minimum=1)
    _checks.integer("event_length", event_length, minimum=1, maximum=length)
    num_slots = length // event_length
    if (not isinstance(events_per_clip, (tuple, list)) or len(events_per_clip) != 2):
        raise ValueError(f"events_per_clip must be a pair (n_min, n_max), got {events_per_clip!r}")
    n_min = _checks.integer("events_per_clip[0]", events_per_clip[0], minimum=0)
    n_max = _checks.integer("events_per_clip[1]", events_per_clip[1], minimum=n_min)
    if n_max > num_slots:
        raise ValueError(
            f"events_per_clip[1] must be <= length // event_length = {num_slots} "
            f"(non-overlapping events), got {n_max}"
        )
    for name, value in (("global_dim", global_dim), ("event_dim", event_dim),
                        ("x_dim", x_dim), ("y_dim", y_dim)):
        _checks.integer(name, value, minimum=1)
    _checks.choice("event_types", event_types, ("random", "distinct"))
    if event_types == "distinct" and n_max > num_event_types:
        raise ValueError(
            f"events_per_clip[1] must be <= num_event_types={num_event_types} with "
            f"event_types='distinct', got {n_max}"
        )
    if num_event_types > event_dim:
        raise ValueError(
            f"num_event_types must be <= event_dim={event_dim} (orthogonal event embeddings), "
            f"got {num_event_types}"
        )
    _checks.integer("private_clip_dim", private_clip_dim, minimum=0)
    _checks.integer("private_step_dim", private_step_dim, minimum=0)
    class_spread = _checks.number("class_spread", class_spread, nonnegative=True)
    signal_scale = _checks.number("signal_scale", signal_scale, positive=True)
    noise = _checks.number("noise", noise, nonnegative=True)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")

    dev = generator.device
    kw = dict(generator=generator, device=dev, dtype=dtype)
    latent_dim = global_dim + event_dim + private_clip_dim + private_step_dim

    # The world: class centres mu_k, event embeddings eta_e (eta_0 = 0), mixing matrices W_m.
    centres = torch.randn(num_classes, global_dim, **kw)  # (K, global_dim)
    # Orthogonal event directions of norm sqrt(event_dim): every event as loud as any other.
    # (QR in float32 for a half-precision dtype: LAPACK has no float16 / bfloat16 kernels)
    q, _ = torch.linalg.qr(_precision.upcast(torch.randn(event_dim, num_event_types, **kw)))
    q = q.to(dtype)  # (event_dim, E)
    eta = torch.cat([torch.zeros(1, event_dim, device=dev, dtype=dtype),
                     math.sqrt(event_dim) * q.T])  # (E + 1, event_dim), eta_0 = 0
    w_x = torch.randn(latent_dim, x_dim, **kw) / math.sqrt(latent_dim)  # (d, D_x)
    w_y = torch.randn(latent_dim, y_dim, **kw) / math.sqrt(latent_dim)  # (d, D_y)

    # Clip level: k_i and g_i = mu_{k_i} + sigma_g eps_i.
    labels = torch.randint(num_classes, (n,), generator=generator, device=dev)  # (N,)
    g = centres[labels] + class_spread * torch.randn(n, global_dim, **kw)  # (N, global_dim)

    # Events: n_i random slots (a random permutation's first n_i entries), each with a type.
    count = torch.randint(n_min, n_max + 1, (n, 1), generator=generator, device=dev)  # (N, 1)
    rank = torch.rand(n, num_slots, generator=generator, device=dev).argsort(1)  # (N, S)
    filled = rank < count  # (N, S) the n_i chosen slots
    if event_types == "random":
        kinds = torch.randint(1, num_event_types + 1, (n, num_slots), generator=generator,
                              device=dev)  # (N, S) independent types
    else:
        perm = torch.rand(n, num_event_types, generator=generator, device=dev).argsort(1) + 1
        order = (filled.cumsum(1) - 1).clamp(0, num_event_types - 1)  # (N, S) rank among filled
        kinds = perm.gather(1, order)  # (N, S) the k-th filled slot gets the k-th type of perm
    slot_events = kinds * filled  # (N, S) type, 0 where the slot is empty
    events = torch.zeros(n, length, dtype=torch.long, device=dev)
    events[:, : num_slots * event_length] = slot_events.repeat_interleave(event_length, dim=1)

    def observe(w: torch.Tensor) -> torch.Tensor:
        # Stack (s g_i, s eta_{e_it}, c_i, u_it) per step, mix, squash, add noise.
        parts = [signal_scale * g[:, None, :].expand(n, length, global_dim),
                 signal_scale * eta[events]]
        if private_clip_dim:
            c = torch.randn(n, 1, private_clip_dim, **kw)  # (N, 1, d_c) constant in time
            parts.append(c.expand(n, length, private_clip_dim))
        if private_step_dim:
            parts.append(torch.randn(n, length, private_step_dim, **kw))  # (N, T, d_u)
        latent = torch.cat(parts, dim=-1)  # (N, T, d)
        out = torch.tanh(latent @ w)  # (N, T, D_m)
        return out + noise * torch.randn(out.shape, **kw)

    return GlobalLocalSequences(observe(w_x), observe(w_y), labels, events, g)
