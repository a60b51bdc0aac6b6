"""The symmetric CLIP / InfoNCE loss with a fixed, explicit logit scale (SpecCLIP, Sec. 3).

With L2-normalised embeddings ``a_i`` (XP) and ``b_i`` (LRS) of the same N stars,
``l_ij = s a_i . b_j`` and

    L = 1/2 [ CE(l, I) + CE(l^T, I) ]
      = -1/(2N) sum_i [ log softmax_j(l_ij)|_{j=i} + log softmax_j(l_ji)|_{j=i} ].

SpecCLIP keeps the logit scale fixed at s = 15.5 (temperature 1/15.5), unlike CLIP (Radford et al.
2021), which learns it. ``log N - L`` is the InfoNCE lower bound on the mutual information between
the two views (van den Oord et al. 2018), which is why large batches help.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ClipLoss", "clip_logits", "SPECCLIP_LOGIT_SCALE"]

#: SpecCLIP's fixed logit scale.
SPECCLIP_LOGIT_SCALE = 15.5


def clip_logits(a: torch.Tensor, b: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """Scaled cosine similarities (N, N) between rows of ``a`` (N, D) and ``b`` (N, D)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"clip_logits needs two (N, D) tensors of equal shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    return logit_scale * F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


class ClipLoss(nn.Module):
    """Symmetric InfoNCE loss; the logit scale is a fixed buffer, not a parameter."""

    def __init__(self, logit_scale: float = SPECCLIP_LOGIT_SCALE):
        super().__init__()
        if not logit_scale > 0:
            raise ValueError(f"logit_scale must be positive, got {logit_scale}")
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)), persistent=False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        logits = clip_logits(a.float(), b.float(), float(self.logit_scale))
        target = torch.arange(a.shape[0], device=a.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))

    @staticmethod
    def mi_lower_bound(loss: float, batch_size: int) -> float:
        """InfoNCE bound ``I(A;B) >= log N - L`` in nats."""
        return math.log(batch_size) - float(loss)
