"""Bit packing of 0/1 tensors: 8 spikes to a byte (the compact state of SDFA's fast path)."""

from __future__ import annotations

import sys

import torch

__all__ = ["pack_bits", "unpack_bits", "packed_width"]

#: ``sum_j 2^(56 - 7 j)``: multiplying 8 bytes of 0/1 (one little-endian int64, byte ``j`` =
#: element ``j``) by it puts element ``j`` at bit ``56 + j`` with no carries into bits 56..63.
_PACK_MAGIC = 0x0102040810204080
_UNPACK_TABLES: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def packed_width(n: int) -> int:
    """Bytes that hold ``n`` bits: ``ceil(n / 8)``."""
    return (n + 7) // 8


def pack_bits(b: torch.Tensor) -> torch.Tensor:
    """``[..., n]`` of 0/1 (bool or any dtype; nonzero = 1) ``-> uint8 [..., ceil(n / 8)]``,
    bit ``j`` of byte ``i`` = element ``8 i + j``.

    Each group of 8 bytes is read as one int64 and packed by one multiply and one shift.
    """
    n = b.shape[-1]
    pad = (-n) % 8
    u = (b if b.dtype == torch.bool else b.to(torch.bool)).view(torch.uint8)
    if pad:
        u = torch.nn.functional.pad(u, (0, pad))
    if sys.byteorder != "little":  # pragma: no cover - the multiply needs little-endian int64
        u = u.reshape(*u.shape[:-1], -1, 8)
        out = u[..., 0].clone()
        for j in range(1, 8):
            out |= u[..., j] << j
        return out
    w = u.contiguous().view(torch.int64)
    return ((w * _PACK_MAGIC) >> 56).to(torch.uint8)  # low byte of the (wrapped) product


def _unpack_table(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[256, 8]``: row ``v`` = the 8 bits of ``v``, lowest first, in ``dtype``."""
    key = (dtype, device)
    t = _UNPACK_TABLES.get(key)
    if t is None:
        v = torch.arange(256, dtype=torch.int64)
        t = ((v[:, None] >> torch.arange(8)) & 1).to(dtype).to(device)
        _UNPACK_TABLES[key] = t
    return t


def unpack_bits(p: torch.Tensor, n: int, dtype: torch.dtype = torch.bool) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: ``uint8 [..., m] -> [..., n]`` of 0/1 in ``dtype`` (one
    table lookup per byte)."""
    bits = _unpack_table(dtype, p.device).index_select(0, p.reshape(-1).to(torch.int32))
    bits = bits.reshape(*p.shape[:-1], -1)
    return bits if bits.shape[-1] == n else bits[..., :n]
