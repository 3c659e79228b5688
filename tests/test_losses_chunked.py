"""Streamed (chunk_size=...) contrastive losses: equal to the dense path, O(N x chunk) memory."""
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from reptutor.losses import (
    class_conditional_info_nce_loss,
    info_nce_loss,
    nt_xent_loss,
    supcon_loss,
)

from _helpers import views

N, D = 11, 5  # odd N so that most chunk sizes leave a ragged last block


LABELS = torch.tensor([0, 1, 0, 2, 1, 0, 0, 2, 2, 1, 0])
LOSSES = {
    "info_nce": lambda a, b, **kw: info_nce_loss(a, b, temperature=0.2, **kw),
    "info_nce_one_way": lambda a, b, **kw: info_nce_loss(a, b, temperature=0.2, symmetric=False, **kw),
    "info_nce_raw": lambda a, b, **kw: info_nce_loss(a, b, temperature=0.7, normalize=False, **kw),
    "nt_xent": lambda a, b, **kw: nt_xent_loss(a, b, temperature=0.2, **kw),
    "supcon_views": lambda a, b, **kw: supcon_loss(torch.stack([a, b]), LABELS[: a.shape[0]],
                                                    temperature=0.2, **kw),
    "supcon_single": lambda a, b, **kw: supcon_loss(a, LABELS[: a.shape[0]], temperature=0.2, **kw),
    "cond_info_nce": lambda a, b, **kw: class_conditional_info_nce_loss(
        a, b, LABELS[: a.shape[0]], temperature=0.2, **kw),
}


def _value_and_grads(fn, a, b, **kw):
    a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
    loss = fn(a, b, **kw)
    ga, gb = torch.autograd.grad(loss, (a, b), allow_unused=True)
    return loss.detach(), ga, gb


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("chunk", [1, 3, 4, N - 1, N, 2 * N, 10 * N])
def test_chunked_equals_dense_value_and_gradient(name, chunk):
    a, b = views(n=N, d=D)
    dense = _value_and_grads(LOSSES[name], a, b)
    streamed = _value_and_grads(LOSSES[name], a, b, chunk_size=chunk)
    # float64: the two paths sum the same terms in a different order; 1e-12 is ~1e4 ulps.
    for x, y in zip(dense, streamed):
        if x is None:
            assert y is None
        else:
            torch.testing.assert_close(y, x, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_chunked_per_sample_losses(name):
    a, b = views(n=N, d=D)
    torch.testing.assert_close(LOSSES[name](a, b, chunk_size=4, reduction="none"),
                               LOSSES[name](a, b, reduction="none"), rtol=1e-12, atol=1e-12)


def test_chunked_float32_large_batch():
    # float32 at N = 300, D = 32: blockwise and dense sums differ by rounding only; the
    # tolerance is ~100 float32 ulps of the loss (about 6), loose enough for any BLAS order.
    a, b = views(300, 32, seed=3, dtype=torch.float32)
    for name in ("info_nce", "nt_xent"):
        dense = _value_and_grads(LOSSES[name], a, b)
        streamed = _value_and_grads(LOSSES[name], a, b, chunk_size=64)
        for x, y in zip(dense, streamed):
            torch.testing.assert_close(y, x, rtol=1e-5, atol=1e-7)


def test_low_temperature_is_stable_when_streamed():
    # tau = 1e-3 makes logits of +-1000: only a max-shifted log-sum-exp survives this in float32.
    a, b = views(8, 3, dtype=torch.float32)
    a = a.requires_grad_()
    for fn in (info_nce_loss, nt_xent_loss):
        val = fn(a, b, temperature=1e-3, chunk_size=3)
        (grad,) = torch.autograd.grad(val, a)
        assert torch.isfinite(val) and torch.isfinite(grad).all()
        assert val.item() == pytest.approx(fn(a, b, temperature=1e-3).item(), rel=1e-5)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("chunk", [None, 1, 4])
def test_gradcheck(name, chunk):
    a, b = views(6, 3, seed=1)
    a.requires_grad_(), b.requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: LOSSES[name](x, y, chunk_size=chunk), (a, b))


def test_saved_for_backward_is_linear_in_n():
    # What autograd keeps between forward and backward: the dense path keeps the (2N, 2N)
    # logits, the streamed path only O(N D) tensors (embeddings and log-sum-exps).
    a, b = views(64, 8)
    a.requires_grad_()
    for chunk, expect_square in ((None, True), (16, False)):
        sizes = []

        def pack(t):
            sizes.append(t.numel())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            nt_xent_loss(a, b, chunk_size=chunk)
        assert (max(sizes) >= 128 * 128) is expect_square, (chunk, max(sizes))


def test_largest_allocation_is_a_block_not_the_matrix():
    # The largest single tensor allocated in forward + backward, read from the profiler.
    # Dense: the (2N, 2N) logits. Streamed with chunk c: (c, 2N) blocks.
    n, chunk = 512, 32
    a, b = views(n, 16, dtype=torch.float32)
    a.requires_grad_()

    def largest(**kw):
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            nt_xent_loss(a, b, **kw).backward()
        leaf = [e.cpu_memory_usage for e in prof.events()
                if e.name in ("aten::empty", "aten::empty_strided", "aten::mm")]
        return max(leaf)

    full_bytes = (2 * n) ** 2 * 4
    assert largest() >= full_bytes
    assert largest(chunk_size=chunk) <= chunk * 2 * n * 4
