"""Batched augmentation on the device: random crop with zero padding and horizontal flip,
as torchvision's ``RandomCrop(H, padding=4)`` then ``RandomHorizontalFlip()``, done for a
whole batch at once: every crop window is a strided view of the padded batch
(``unfold``), one indexed copy picks each image's window."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_flip_at(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Crop each image of ``x`` (B, C, H, W) at offset (dy, dx) in [0, 2 pad] of its
    zero-padded copy, then mirror it left-right where ``flip``::

        out[b, c, i, j] = padded[b, c, dy_b + i, dx_b + (W - 1 - j if flip_b else j)]
    """
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    windows = padded.unfold(2, h, 1).unfold(3, w, 1)  # (B, C, 2p+1, 2p+1, H, W), a view
    out = windows[torch.arange(b, device=x.device), :, dy, dx]  # (B, C, H, W)
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def random_crop_flip(
    x: torch.Tensor, *, crop: bool, flip: bool, pad: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random offsets uniform in [0, 2 pad] (when ``crop``) and flips with probability 1/2
    (when ``flip``), drawn on ``x``'s device."""
    if not (crop or flip):
        return x
    b, dev = x.shape[0], x.device
    if crop:
        dy = torch.randint(0, 2 * pad + 1, (b,), device=dev, generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (b,), device=dev, generator=generator)
    else:
        dy = dx = torch.full((b,), pad, device=dev, dtype=torch.long)
    f = (torch.rand(b, device=dev, generator=generator) < 0.5) if flip else torch.zeros(b, dtype=torch.bool, device=dev)
    return crop_flip_at(x, dy, dx, f, pad)
