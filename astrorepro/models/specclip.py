"""SpecCLIP: two frozen spectrum encoders aligned by CLIP, with reconstruction and translation decoders.

Read top to bottom: the config, the two projection towers (cross-attention pooling over LRS token
embeddings; an MLP on the XP auto-encoder latent), the MLP decoders, and the composed model with its
three variants (Zhao et al. 2025, arXiv:2507.01939, Sec. 3):

* ``base``  -- projection heads only, trained with the symmetric InfoNCE loss at a fixed logit scale;
* ``pr``    -- base + in-modal **r**econstruction decoders (each spectrum from its own embedding) +
  cross-modal **p**rediction decoders (each spectrum from the other instrument's embedding);
  ``L = L_clip + w_r L_rec + w_p L_pred`` with L1 reconstruction terms;
* ``split`` -- each head's output is cut into shared + private dimensions (512 + 256 in the paper);
  the CLIP loss and the cross-modal decoders see the shared part only, the in-modal decoders see
  both.

The backbones (:mod:`astrorepro.models.specformer`, :mod:`astrorepro.models.xp_autoencoder`) are
frozen, as in the paper, so this module works on their cached outputs: LRS token embeddings
(B, T, d_lrs) and XP latents (B, d_xp). Towers are composed, not inherited (open_clip style).
Written for this book; no code is copied from the official repository.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from astrorepro.models import register_model
from astrorepro.models.clip_loss import SPECCLIP_LOGIT_SCALE, ClipLoss

__all__ = ["SpecCLIPConfig", "SpecCLIP", "LRSHead", "XPHead", "MLPDecoder", "SplitDecoder", "ParamHead", "VARIANTS"]

VARIANTS = ("base", "pr", "split")


@dataclass(frozen=True)
class SpecCLIPConfig:
    """Configuration of the alignment model. Defaults are the paper's widths."""

    variant: str = "base"  # "base" | "pr" | "split"
    d_lrs: int = 768  # LRS SpecFormer token width
    d_xp: int = 768  # XP auto-encoder latent width
    embed_dim: int = 768  # aligned embedding size (shared + private for split)
    n_shared: int = 512  # split only; private = embed_dim - n_shared
    pool_heads: int = 4  # cross-attention pooling heads
    mlp_ratio: int = 4  # residual MLP width ratio of the heads
    xp_mid: int = 1160  # inner width of the XP head's first block
    dropout: float = 0.1
    n_lrs: int = 1462  # LRS pixels predicted by the decoders
    n_xp: int = 343  # XP points predicted by the decoders
    logit_scale: float = SPECCLIP_LOGIT_SCALE  # fixed, not learned
    w_rec: float = 1.0  # weight of the in-modal reconstruction loss
    w_pred: float = 1.0  # weight of the cross-modal prediction loss

    @property
    def n_private(self) -> int:
        return self.embed_dim - self.n_shared


# ---------------------------------------------------------------------------------------------------
# Towers
# ---------------------------------------------------------------------------------------------------


class ResidualMLP(nn.Module):
    """x + MLP(x), MLP = d -> ratio*d -> d with GELU and dropout."""

    def __init__(self, d: int, ratio: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, ratio * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(ratio * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class LRSHead(nn.Module):
    """Learned-query cross-attention pooling of LRS tokens, LayerNorm, residual MLP: (B, T, d_in) -> (B, d)."""

    def __init__(self, d_in: int, d: int, n_heads: int, ratio: int, dropout: float):
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.attn = nn.MultiheadAttention(d, n_heads, kdim=d_in, vdim=d_in, batch_first=True)
        self.ln = nn.LayerNorm(d)
        self.mlp = ResidualMLP(d, ratio, dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.ln(self.pool(tokens)))

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """``self.attn(query, tokens, tokens)`` for the one learned query, computed in an equivalent order.

        With a single query, head h's score of token x_t is q_h . (Wk_h x_t + bk_h), so the query can be
        folded into the key projection (d_in -> n_heads instead of d_in -> d), and the value projection
        can follow the attention-weighted sum of the raw tokens instead of preceding it. Same function,
        same parameters, but no projection of every token: 4-8 times less arithmetic (tests check it
        against ``nn.MultiheadAttention``). (B, T, d_in) -> (B, d).
        """
        a = self.attn
        H, d = a.num_heads, a.embed_dim
        dh = d // H
        if a.in_proj_weight is not None:  # keys and values as wide as the queries: one packed weight
            w_q, w_k, w_v = a.in_proj_weight.chunk(3)
        else:
            w_q, w_k, w_v = a.q_proj_weight, a.k_proj_weight, a.v_proj_weight
        b_q, b_k, b_v = a.in_proj_bias.chunk(3)
        q = F.linear(self.query.reshape(1, d), w_q, b_q).view(H, dh) / dh ** 0.5  # scaled projected query
        w_score = torch.einsum("he,hed->dh", q, w_k.view(H, dh, -1))  # (d_in, H)
        scores = tokens @ w_score + (q * b_k.view(H, dh)).sum(-1)  # (B, T, H)
        pooled = torch.einsum("bth,btd->bhd", scores.softmax(dim=1), tokens)  # (B, H, d_in)
        heads = torch.einsum("bhd,hed->bhe", pooled, w_v.view(H, dh, -1)) + b_v.view(H, dh)  # (B, H, dh)
        return a.out_proj(heads.reshape(tokens.shape[0], d))


class XPHead(nn.Module):
    """Linear, a LayerNorm'd bottleneck block, residual MLP: (B, d_in) -> (B, d)."""

    def __init__(self, d_in: int, d: int, mid: int, ratio: int, dropout: float):
        super().__init__()
        self.proj = nn.Linear(d_in, d)
        self.block = nn.Sequential(nn.Linear(d, mid), nn.LayerNorm(mid), nn.GELU(),
                                   nn.Linear(mid, d), nn.LayerNorm(d), nn.Dropout(dropout))
        self.mlp = ResidualMLP(d, ratio, dropout)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.block(self.proj(z)))


# ---------------------------------------------------------------------------------------------------
# Decoders
# ---------------------------------------------------------------------------------------------------


class MLPDecoder(nn.Module):
    """Embedding -> spectrum: [Linear, BatchNorm, GELU, Dropout] per hidden width, then Linear."""

    def __init__(self, d_in: int, hidden: tuple[int, ...], n_out: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(d_in, h), nn.BatchNorm1d(h), nn.GELU(), nn.Dropout(dropout)]
            d_in = h
        layers.append(nn.Linear(d_in, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, e: torch.Tensor) -> torch.Tensor:  # (B, d_in) -> (B, n_out)
        return self.net(e)


class SplitDecoder(nn.Module):
    """In-modal decoder of the split variant: shared and private each projected to the spectrum
    length, concatenated, then a two-layer MLP: (B, s), (B, p) -> (B, n_out)."""

    def __init__(self, n_shared: int, n_private: int, hidden: int, n_out: int):
        super().__init__()
        self.from_shared = nn.Linear(n_shared, n_out)
        self.from_private = nn.Linear(n_private, n_out)
        self.mlp = nn.Sequential(nn.Linear(2 * n_out, hidden), nn.GELU(), nn.Linear(hidden, n_out))

    def forward(self, shared: torch.Tensor, private: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([self.from_shared(shared), self.from_private(private)], dim=-1))


# ---------------------------------------------------------------------------------------------------
# The composed model
# ---------------------------------------------------------------------------------------------------


class SpecCLIP(nn.Module):
    """Two projection towers on frozen-encoder outputs, a CLIP loss, and (pr/split) decoders.

    Batches for :meth:`loss` are dicts (or the tuple order of :data:`BATCH_KEYS`) with
    ``lrs_tok`` (B, T, d_lrs) frozen LRS token embeddings, ``xp_lat`` (B, d_xp) frozen XP latents,
    ``lrs_std`` (B, n_lrs) standardised LRS spectra (in-modal LRS target), ``lrs`` (B, n_lrs)
    continuum-normalised LRS spectra (cross-modal LRS target) and ``xp`` (B, n_xp) 550-nm-normalised
    XP spectra (both XP targets).
    """

    BATCH_KEYS = ("lrs_tok", "xp_lat", "lrs_std", "lrs", "xp")

    def __init__(self, cfg: SpecCLIPConfig):
        super().__init__()
        if cfg.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {cfg.variant!r}")
        if cfg.variant == "split" and not 0 < cfg.n_shared < cfg.embed_dim:
            raise ValueError(f"split needs 0 < n_shared < embed_dim, got {cfg.n_shared}, {cfg.embed_dim}")
        self.cfg = cfg
        d = cfg.embed_dim
        self.lrs_head = LRSHead(cfg.d_lrs, d, cfg.pool_heads, cfg.mlp_ratio, cfg.dropout)
        self.xp_head = XPHead(cfg.d_xp, d, cfg.xp_mid, cfg.mlp_ratio, cfg.dropout)
        self.clip_loss = ClipLoss(cfg.logit_scale)
        self.decoders = nn.ModuleDict()
        if cfg.variant == "pr":  # widths of the paper at d=768: XP 3072-1536-768, LRS 3072 x 3
            xp_h, lrs_h = (4 * d, 2 * d, d), (4 * d, 4 * d, 4 * d)
            self.decoders["rec_xp"] = MLPDecoder(d, xp_h, cfg.n_xp, cfg.dropout)
            self.decoders["rec_lrs"] = MLPDecoder(d, lrs_h, cfg.n_lrs, cfg.dropout)
            self.decoders["pred_xp"] = MLPDecoder(d, xp_h, cfg.n_xp, cfg.dropout)  # from the LRS embedding
            self.decoders["pred_lrs"] = MLPDecoder(d, lrs_h, cfg.n_lrs, cfg.dropout)  # from the XP embedding
        elif cfg.variant == "split":  # cross-modal decoders see the shared part only
            s, p = cfg.n_shared, cfg.n_private
            self.decoders["rec_xp"] = SplitDecoder(s, p, 4 * s, cfg.n_xp)
            self.decoders["rec_lrs"] = SplitDecoder(s, p, 4 * s, cfg.n_lrs)
            self.decoders["pred_xp"] = MLPDecoder(s, (4 * s,), cfg.n_xp, cfg.dropout)
            self.decoders["pred_lrs"] = MLPDecoder(s, (4 * s,), cfg.n_lrs, cfg.dropout)

    # -- embeddings ------------------------------------------------------------------------------
    def encode_lrs(self, lrs_tok: torch.Tensor) -> torch.Tensor:
        """Aligned LRS embedding (B, embed_dim), not normalised."""
        return self.lrs_head(lrs_tok)

    def encode_xp(self, xp_lat: torch.Tensor) -> torch.Tensor:
        """Aligned XP embedding (B, embed_dim), not normalised."""
        return self.xp_head(xp_lat)

    def shared(self, e: torch.Tensor) -> torch.Tensor:
        """The part of an embedding that is aligned across instruments (all of it unless split)."""
        return e[:, : self.cfg.n_shared] if self.cfg.variant == "split" else e

    # -- decoders --------------------------------------------------------------------------------
    @property
    def has_decoders(self) -> bool:
        return len(self.decoders) > 0

    def reconstruct(self, e: torch.Tensor, modality: str) -> torch.Tensor:
        """In-modal reconstruction of a spectrum from its own embedding (pr/split)."""
        dec = self.decoders[f"rec_{modality}"]
        if self.cfg.variant == "split":
            return dec(e[:, : self.cfg.n_shared], e[:, self.cfg.n_shared:])
        return dec(e)

    def predict(self, e_other: torch.Tensor, target: str) -> torch.Tensor:
        """Cross-modal prediction of the ``target`` spectrum ("lrs"|"xp") from the other instrument's embedding."""
        return self.decoders[f"pred_{target}"](self.shared(e_other))

    # -- objective -------------------------------------------------------------------------------
    def loss(self, batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its parts: CLIP (on shared dims) [+ w_r L1 reconstruction + w_p L1 prediction]."""
        b = batch if isinstance(batch, dict) else dict(zip(self.BATCH_KEYS, batch))
        e_lrs, e_xp = self.encode_lrs(b["lrs_tok"]), self.encode_xp(b["xp_lat"])
        l_clip = self.clip_loss(self.shared(e_xp), self.shared(e_lrs))
        parts = {"clip": float(l_clip.detach())}
        if not self.has_decoders:
            return l_clip, parts
        l_rec = F.l1_loss(self.reconstruct(e_xp, "xp"), b["xp"]) + F.l1_loss(self.reconstruct(e_lrs, "lrs"), b["lrs_std"])
        l_pred = F.l1_loss(self.predict(e_lrs, "xp"), b["xp"]) + F.l1_loss(self.predict(e_xp, "lrs"), b["lrs"])
        parts.update(rec=float(l_rec.detach()), pred=float(l_pred.detach()))
        return l_clip + self.cfg.w_rec * l_rec + self.cfg.w_pred * l_pred, parts


# ---------------------------------------------------------------------------------------------------
# Downstream parameter head
# ---------------------------------------------------------------------------------------------------


class ParamHead(nn.Module):
    """The paper's ``ParamRegressor``: d_in -> hidden -> 128 -> 32 -> n_out with Linear, BatchNorm,
    ReLU and dropout 0.1 (the paper trains one per parameter with hidden = d_in = 768; we predict
    several standardised labels at once): (B, d_in) -> (B, n_out)."""

    def __init__(self, d_in: int, n_out: int = 1, hidden: int | None = None, dropout: float = 0.1):
        super().__init__()
        widths = [d_in, hidden or d_in, 128, 32]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(widths[-1], n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ---------------------------------------------------------------------------------------------------
# Registered configurations (paper widths; the chapter overrides d_lrs/d_xp/embed_dim/n_shared)
# ---------------------------------------------------------------------------------------------------

FULL = SpecCLIPConfig()
TEST = SpecCLIPConfig(d_lrs=16, d_xp=8, embed_dim=16, n_shared=12, pool_heads=2, xp_mid=24, n_lrs=240, n_xp=40)


def _build(base: SpecCLIPConfig, variant: str, overrides: dict) -> SpecCLIP:
    return SpecCLIP(replace(base, **{"variant": variant, **overrides}))


@register_model("specclip_base")
def specclip_base(**overrides) -> SpecCLIP:
    """CLIP heads only (paper widths: ~14 M trainable parameters on top of two ~43 M encoders)."""
    return _build(FULL, "base", overrides)


@register_model("specclip_pr")
def specclip_pr(**overrides) -> SpecCLIP:
    """CLIP + in-modal reconstruction + cross-modal prediction decoders."""
    return _build(FULL, "pr", overrides)


@register_model("specclip_split")
def specclip_split(**overrides) -> SpecCLIP:
    """CLIP on shared dims (512) + private dims (256) + decoders."""
    return _build(FULL, "split", {"n_shared": 512, **overrides})


@register_model("specclip_param_head")
def specclip_param_head(d_in: int = 768, n_out: int = 1, hidden: int | None = None, dropout: float = 0.1) -> ParamHead:
    """MLP regressor of stellar parameters from an embedding (768 -> 768 -> 128 -> 32 -> 1 in the paper)."""
    return ParamHead(d_in, n_out, hidden, dropout)


@register_model("test_specclip")
def test_specclip(**overrides) -> SpecCLIP:
    """Tiny configuration for unit tests (variant via ``variant=``)."""
    return SpecCLIP(replace(TEST, **overrides))
