"""The fused kernels' CPU buffer reuse: a block is handed out again only once nothing uses it."""

from __future__ import annotations

import pytest
import torch

from pipesdfa.util.errors import UserError
from pipesdfa.snn.kernels import run_multistep, workspace
from pipesdfa.snn.neurons import NeuronParams

SHAPE = (4, 8, 16)  # 2 KiB of float32


def b_bytes(shape) -> int:
    return torch.empty(shape).numel() * 4


@pytest.fixture
def pool(monkeypatch):
    """Reuse on for small tensors, an empty pool, the limit restored afterwards."""
    monkeypatch.setattr(workspace, "MIN_BYTES", 0)
    old = workspace.limit_bytes()
    workspace.set_limit_bytes(2**30)
    workspace.empty_cache()
    yield workspace
    workspace.set_limit_bytes(old)
    workspace.empty_cache()


def test_like_torch_empty(pool):
    t = pool.empty(SHAPE, torch.float16)
    assert t.shape == SHAPE and t.dtype == torch.float16 and t.is_contiguous() and t.device.type == "cpu"
    assert pool.cached_bytes() == t.numel() * 2


def test_small_requests_are_not_kept(monkeypatch):
    monkeypatch.setattr(workspace, "MIN_BYTES", 2**20)
    workspace.empty_cache()
    before = workspace.cached_bytes()
    workspace.empty((8, 8), torch.float32)
    assert workspace.cached_bytes() == before


def test_block_in_use_is_never_shared(pool):
    a = pool.empty(SHAPE, torch.float32)
    b = pool.empty(SHAPE, torch.float32)
    assert a.data_ptr() != b.data_ptr()
    view = a[1]
    pa = a.data_ptr()
    del a
    c = pool.empty(SHAPE, torch.float32)  # a's block is still used by its view
    assert c.data_ptr() not in (pa, b.data_ptr())
    del view
    d = pool.empty(SHAPE, torch.int32)  # same byte size, any dtype
    assert d.data_ptr() == pa
    assert pool.cached_bytes() == 3 * 4 * 8 * 16 * 4


def test_autograd_saved_tensor_keeps_its_block(pool):
    w = torch.randn(SHAPE, requires_grad=True)
    a = pool.empty(SHAPE, torch.float32).fill_(2.0)
    y = (w * a).sum()  # the product saves a for the backward
    pa = a.data_ptr()
    del a
    b = pool.empty(SHAPE, torch.float32).fill_(-7.0)
    assert b.data_ptr() != pa
    y.backward()
    assert torch.equal(w.grad, torch.full(SHAPE, 2.0))
    pb = b.data_ptr()
    del b, y  # the graph is freed by the backward
    assert pool.empty(SHAPE, torch.float32).data_ptr() in {pa, pb}
    assert pool.cached_bytes() == 2 * b_bytes(SHAPE)


def test_limit_and_empty_cache(pool):
    nbytes = 4 * 8 * 16 * 4
    pool.set_limit_bytes(2 * nbytes)
    a = pool.empty(SHAPE, torch.float32)
    b = pool.empty(SHAPE, torch.float32)
    c = pool.empty(SHAPE, torch.float32)  # over the limit: a plain tensor
    assert pool.cached_bytes() == 2 * nbytes and len({a.data_ptr(), b.data_ptr(), c.data_ptr()}) == 3
    del a
    pool.empty_cache()  # drops the free block, keeps b's
    assert pool.cached_bytes() == nbytes
    del b, c
    pool.set_limit_bytes(0)  # off: nothing kept
    assert pool.cached_bytes() == 0
    pool.empty(SHAPE, torch.float32)
    assert pool.cached_bytes() == 0
    with pytest.raises(ValueError, match=">= 0"):
        pool.set_limit_bytes(-1)


def test_lru_block_is_dropped_for_a_new_size(pool):
    pool.set_limit_bytes(3000)
    pool.empty((256,), torch.float32)  # 1024 B, freed at once
    pool.empty((512,), torch.float32)  # 2048 B, freed at once
    keep = pool.empty((256,), torch.float32)  # reuses the 1024 B block: now the most recent
    pool.empty((300,), torch.float32)  # 1200 B does not fit: the least recently used (2048 B) goes
    assert pool.cached_bytes() == 1024 + 1200
    del keep


def test_environment_limit(monkeypatch):
    monkeypatch.setenv("PIPESDFA_CPU_WORKSPACE_MIB", "12.5")
    assert workspace._default_limit() == int(12.5 * 2**20)
    monkeypatch.setenv("PIPESDFA_CPU_WORKSPACE_MIB", "lots")
    with pytest.raises(UserError, match="PIPESDFA_CPU_WORKSPACE_MIB='lots': expected a number"):
        workspace._default_limit()
    monkeypatch.setenv("PIPESDFA_CPU_WORKSPACE_MIB", "-1")
    with pytest.raises(UserError, match=">= 0"):
        workspace._default_limit()


def test_fused_steps_reuse_blocks_without_corrupting_earlier_outputs(pool):
    """Two training steps on reused blocks: the first step's spikes (kept by the caller) stay
    intact, and the second step's gradients equal the first's."""
    p = NeuronParams()
    x = (torch.randn(12, 4, 32, generator=torch.Generator().manual_seed(0)) + 0.8).requires_grad_(True)
    w = torch.randn(12, 4, 32, generator=torch.Generator().manual_seed(1))

    def one_step():
        s, v = run_multistep(x, p, None, True, "fused")
        (grad,) = torch.autograd.grad((s * w).sum() + v.sum(), [x])
        return s.detach(), grad

    s1, g1 = one_step()
    s1_copy = s1.clone()
    held = pool.cached_bytes()
    s2, g2 = one_step()
    assert torch.equal(s1, s1_copy) and s1.data_ptr() != s2.data_ptr()
    assert torch.equal(s2, s1) and torch.equal(g2, g1)
    assert pool.cached_bytes() > held  # the second step could not reuse the first one's outputs
    del s1, s2, g1, g2
    steady = pool.cached_bytes()
    one_step()
    assert pool.cached_bytes() == steady  # nothing held any longer: every block is reused


def test_threads_never_share_a_block(pool):
    """Blocks taken concurrently by several threads are all distinct while held."""
    import threading

    held: list[list[torch.Tensor]] = [[] for _ in range(4)]

    def worker(i: int) -> None:
        for k in range(30):
            held[i].append(pool.empty(SHAPE, torch.float32))
            if k % 3 == 2:
                held[i].pop(0)  # free one now and then, so that blocks get reused

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ptrs = [t.data_ptr() for ts in held for t in ts]
    assert len(ptrs) == len(set(ptrs)) == 4 * 20


def test_most_recently_used_free_block_is_handed_out_first(pool):
    """(The likeliest to be still in cache.)"""
    a, b = pool.empty(SHAPE, torch.float32), pool.empty(SHAPE, torch.float32)
    pa, pb = a.data_ptr(), b.data_ptr()
    del b, a  # both free; b's block was taken last
    assert pool.empty(SHAPE, torch.float32).data_ptr() == pb  # (freed again at once)
    c = pool.empty(SHAPE, torch.float32)
    assert c.data_ptr() == pb
    assert pool.empty(SHAPE, torch.float32).data_ptr() == pa  # b's block is held by c
