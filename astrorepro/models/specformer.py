"""SpecFormer: the masked-transformer encoder of LAMOST low-resolution spectra (SpecCLIP, Sec. 3).

Read top to bottom: tokenisation of a 1462-pixel spectrum into 146 tokens of 21 features, the
pre-LN transformer, contiguous-chunk masking and the masked-reconstruction loss.

The SpecCLIP LRS encoder (Zhao et al. 2025, arXiv:2507.01939) is a SpecFormer in the style of
AstroCLIP (Parker et al. 2024):

* the 1462-pixel spectrum on the LAMOST log-lambda grid (3999-5599 A) is standardised per spectrum,
  ``z = (x - mean) / std``;
* a 20-pixel window with stride 10 slides over ``z`` -> 145 tokens of 20 pixels;
* one extra token (token 0) and one extra feature (feature 0) are padded in front -> 146 x 21;
  token 0 carries ``log10(std)`` in feature 0 so that the flux scale is not lost;
* linear embedding 21 -> d, learned positional embedding, pre-LN blocks (d=768, 6 layers, 6 heads in
  the paper), final LayerNorm and a linear head d -> 21 that reconstructs every token;
* pretraining zeroes 6 contiguous chunks of 10 tokens (one chunk inside each sixth of the sequence)
  and minimises the mean squared error on the masked tokens only,
  ``L_MT = mean((y_hat - y)^2 m) / mean(m)``.

Everything here is written for this book; no code is copied from the official repository.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from astrorepro.models import register_model

__all__ = [
    "SpecFormerConfig",
    "SpecFormer",
    "tokenize",
    "n_tokens",
    "chunk_mask",
    "masked_mse",
]


@dataclass(frozen=True)
class SpecFormerConfig:
    """Configuration of a SpecFormer. Defaults are the paper's LRS encoder (about 43 M parameters)."""

    n_pix: int = 1462  # LRS pixels, log10(lambda) = 3.602 + 1e-4 i  (3999.4-5598.9 A)
    window: int = 20  # pixels per token
    stride: int = 10  # window stride (overlap 10)
    d_model: int = 768
    n_layers: int = 6
    n_heads: int = 6
    mlp_ratio: int = 4
    dropout: float = 0.0
    max_len: int = 150  # positional-embedding table length (>= number of tokens)
    mask_chunks: int = 6  # contiguous chunks masked during pretraining, one per 1/6 of the sequence
    mask_len: int = 10  # tokens per masked chunk

    @property
    def n_tokens(self) -> int:
        """Tokens per spectrum including the statistics token (146 for the paper's grid)."""
        return n_tokens(self.n_pix, self.window, self.stride)

    @property
    def n_feat(self) -> int:
        """Features per token: the window plus one statistics feature (21)."""
        return self.window + 1


def n_tokens(n_pix: int, window: int, stride: int) -> int:
    """Number of tokens (windows + 1 statistics token) for a spectrum of ``n_pix`` pixels."""
    if n_pix < window:
        raise ValueError(f"n_pix={n_pix} is shorter than the window={window}")
    return (n_pix - window) // stride + 1 + 1


def tokenize(x: torch.Tensor, window: int = 20, stride: int = 10, eps: float = 1e-8) -> torch.Tensor:
    """Standardise spectra and cut them into overlapping windows plus a statistics token.

    Args:
        x: spectra, shape (B, n_pix), e.g. continuum-normalised LRS flux on the 1462-px grid.
        window, stride: window length and stride in pixels (20 and 10 in the paper).

    Returns:
        tokens, shape (B, T, window + 1) with T = (n_pix - window) // stride + 2. Token 0 holds
        ``log10(std)`` in feature 0 and zeros elsewhere; tokens 1.. hold the standardised windows in
        features 1.. and a zero in feature 0.
    """
    if x.ndim != 2:
        raise ValueError(f"tokenize expects spectra of shape (B, n_pix), got {tuple(x.shape)}")
    mean = x.mean(dim=1, keepdim=True)
    std = x.std(dim=1, keepdim=True).clamp_min(eps)
    z = (x - mean) / std  # (B, n_pix)
    win = z.unfold(1, window, stride)  # (B, T-1, window)
    tok = F.pad(win, (1, 0, 1, 0))  # (B, T, window + 1): token 0 and feature 0 are zero
    tok[:, 0, 0] = torch.log10(std.squeeze(1))
    return tok


def chunk_mask(batch: int, n_tok: int, n_chunks: int, chunk_len: int,
               generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Boolean mask of contiguous chunks, one chunk placed at random inside each 1/n_chunks section.

    Token 0 (the statistics token) is never masked. Returns shape (B, n_tok), True = masked.
    """
    body = n_tok - 1
    sec = body // n_chunks
    if sec < chunk_len:
        raise ValueError(f"{n_chunks} chunks of {chunk_len} tokens do not fit in {body} tokens")
    mask = torch.zeros(batch, n_tok, dtype=torch.bool)
    starts = torch.randint(0, sec - chunk_len + 1, (batch, n_chunks), generator=generator)
    ar = torch.arange(chunk_len)
    for c in range(n_chunks):
        idx = 1 + c * sec + starts[:, c:c + 1] + ar  # (B, chunk_len)
        mask.scatter_(1, idx, True)
    return mask.to(device) if device is not None else mask


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean((pred - target)^2 * m) / mean(m)`` with the token mask ``m`` (B, T) broadcast over features."""
    m = mask.unsqueeze(-1).to(pred.dtype).expand_as(pred)
    return ((pred - target) ** 2 * m).sum() / m.sum().clamp_min(1.0)


class Block(nn.Module):
    """Pre-LN transformer block: x + MHA(LN(x)); x + MLP(LN(x))."""

    def __init__(self, cfg: SpecFormerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = nn.MultiheadAttention(cfg.d_model, cfg.n_heads, dropout=cfg.dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model),
            nn.GELU(),
            nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, T, d)
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class SpecFormer(nn.Module):
    """Masked transformer over spectrum tokens (SpecCLIP LRS encoder).

    ``forward(tokens)`` returns ``{"embedding": (B, T, d), "reconstruction": (B, T, n_feat)}``;
    ``embed(spectra)`` tokenises raw spectra and returns the token embeddings;
    ``pool(spectra)`` returns the mean over tokens (B, d), the single-instrument embedding.
    """

    def __init__(self, cfg: SpecFormerConfig):
        super().__init__()
        if cfg.d_model % cfg.n_heads:
            raise ValueError(f"d_model={cfg.d_model} is not divisible by n_heads={cfg.n_heads}")
        if cfg.n_tokens > cfg.max_len:
            raise ValueError(f"{cfg.n_tokens} tokens exceed max_len={cfg.max_len}")
        self.cfg = cfg
        self.embed_in = nn.Linear(cfg.n_feat, cfg.d_model)  # (B, T, 21) -> (B, T, d)
        self.pos = nn.Parameter(torch.zeros(1, cfg.max_len, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.n_feat)  # (B, T, d) -> (B, T, 21)
        self.apply(self._init)
        nn.init.normal_(self.pos, std=0.02)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """Spectra (B, n_pix) -> tokens (B, T, n_feat)."""
        if x.shape[-1] != self.cfg.n_pix:
            raise ValueError(f"expected spectra with {self.cfg.n_pix} pixels, got {x.shape[-1]}")
        return tokenize(x, self.cfg.window, self.cfg.stride)

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        T = tokens.shape[1]
        h = self.drop(self.embed_in(tokens) + self.pos[:, :T])  # (B, T, d)
        for blk in self.blocks:
            h = blk(h)
        h = self.ln_f(h)
        return {"embedding": h, "reconstruction": self.head(h)}

    def masked_loss(self, tokens: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Masked-chunk reconstruction loss on a batch of tokens (the pretraining objective)."""
        mask = chunk_mask(tokens.shape[0], tokens.shape[1], self.cfg.mask_chunks, self.cfg.mask_len,
                          generator=generator, device=tokens.device)
        inp = tokens.masked_fill(mask.unsqueeze(-1), 0.0)
        return masked_mse(self(inp)["reconstruction"], tokens, mask)

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Token embeddings (B, T, d) of raw spectra (B, n_pix), no masking."""
        return self(self.tokenize(x))["embedding"]

    @torch.no_grad()
    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Mean-pooled embedding (B, d) of raw spectra."""
        return self.embed(x).mean(dim=1)


# ---------------------------------------------------------------------------------------------------
# Registered configurations
# ---------------------------------------------------------------------------------------------------

FULL = SpecFormerConfig()  # paper size: d=768, 6 layers, 6 heads (~43 M parameters)
SMALL = replace(FULL, d_model=128, n_layers=4, n_heads=4)  # GPU full mode of the chapter
QUICK = replace(FULL, d_model=64, n_layers=2, n_heads=4)  # CPU quick mode
TEST = replace(FULL, n_pix=240, d_model=16, n_layers=1, n_heads=2, max_len=30, mask_chunks=2, mask_len=3)


def _build(base: SpecFormerConfig, **overrides) -> SpecFormer:
    return SpecFormer(replace(base, **overrides))


@register_model("specformer_lrs")
def specformer_lrs(**overrides) -> SpecFormer:
    """The paper's LRS SpecFormer (d=768, 6 layers, 6 heads, 146 x 21 tokens)."""
    return _build(FULL, **overrides)


@register_model("specformer_lrs_small")
def specformer_lrs_small(**overrides) -> SpecFormer:
    """Reduced width (d=128, 4 layers) for the chapter's GPU mode."""
    return _build(SMALL, **overrides)


@register_model("specformer_lrs_quick")
def specformer_lrs_quick(**overrides) -> SpecFormer:
    """Reduced width (d=64, 2 layers) for the chapter's CPU quick mode."""
    return _build(QUICK, **overrides)


@register_model("test_specformer")
def test_specformer(**overrides) -> SpecFormer:
    """Tiny configuration for unit tests (240 pixels, d=16, one layer)."""
    return _build(TEST, **overrides)
