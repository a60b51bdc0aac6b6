"""Swin-UNet: the "large vision model" (LVM) of Fu, Song, Lv et al. 2024 (arXiv:2405.10890), in plain torch.

The LVM is an encoder-decoder of Swin Transformer blocks (Liu et al. 2021) with U-Net skip connections
and SUNet's "dual up-sample" (Fan, Liu & Liu 2022), pretrained by reconstructing g,r,z galaxy stamps.
Topology (paper config, 128x128 input, patch 4, embedding 96, depths [8,8,8,8], 8 heads, window 8):

    image (B,3,128,128) -> 3x3 conv -> patch embed (4x4, stride 4) -> tokens (B,32,32,96)
    encoder: 4 stages of Swin blocks (W-MSA / shifted W-MSA alternating), patch merging between stages
             32^2 x 96 -> 16^2 x 192 -> 8^2 x 384 -> 4^2 x 768   (at 4^2 the window shrinks to 4, no shift)
    bottleneck F = LayerNorm(last stage)   (B, 16, 768)
    decoder: dual up-sample x2, then 3 stages of [concat skip, Linear(2C->C), Swin blocks], dual up-sample x2
             between them, a final dual up-sample x4 and a 3x3 conv back to 3 bands.

``forward`` returns ``(reconstruction, F)``; ``encode`` returns the global-average-pooled F (768 numbers
at the paper config; the official code keeps an oddly sliced 768 of 3072 pooled values instead, see the
chapter). Tensors inside are channel-last ``(B, H, W, C)``; the encoder accepts any input whose side is
a multiple of ``patch_size * 2**(stages-1)`` (windows are zero-padded as in Swin's detection code), so the
same encoder runs on stamps and on larger detection fields.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from astrorepro.models import register_model


@dataclass(frozen=True)
class SwinUNetConfig:
    img_size: int = 128
    in_chans: int = 3
    out_chans: int = 3
    patch_size: int = 4
    embed_dim: int = 96
    depths: tuple[int, ...] = (8, 8, 8, 8)
    num_heads: tuple[int, ...] = (8, 8, 8, 8)
    window_size: int = 8
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.1  # official training.yaml
    drop_path_rate: float = 0.1
    # The official yaml sets QK_SCALE 8; we use the standard head_dim**-0.5 (no parameters involved).


# ----------------------------------------------------------------------------- windows and attention
def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/ws * W/ws, ws*ws, C)."""
    B, H, W, C = x.shape
    x = x.view(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, C)


def window_reverse(w: torch.Tensor, ws: int, B: int, H: int, W: int) -> torch.Tensor:
    """(B * nW, ws*ws, C) -> (B, H, W, C); inverse of :func:`window_partition`."""
    x = w.view(B, H // ws, W // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, H, W, -1)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a ws x ws window with a learned relative position bias
    (Liu et al. 2021, Eq. 4: softmax(Q K^T / sqrt(d) + B) V, B gathered from a (2ws-1)^2 x heads table)."""

    def __init__(self, dim: int, ws: int, heads: int, qkv_bias: bool, attn_drop: float, proj_drop: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {heads}")
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        cpu = torch.device("cpu")
        coords = torch.stack(torch.meshgrid(torch.arange(ws, device=cpu), torch.arange(ws, device=cpu),
                                            indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)  # (N, N, 2) in [0, 2ws-2]
        self.register_buffer("bias_index", rel[..., 0] * (2 * ws - 1) + rel[..., 1], persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        Bw, N, C = x.shape  # Bw = B * nW windows, N = ws*ws tokens
        q, k, v = self.qkv(x).view(Bw, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)  # (Bw, h, N, N)
        attn = attn + self.bias_table[self.bias_index].permute(2, 0, 1)[None]
        if mask is not None:  # (nW, N, N) with 0 / -100: forbid attention across shifted-window seams
            nW = mask.shape[0]
            attn = attn.view(Bw // nW, nW, self.heads, N, N) + mask[None, :, None]
            attn = attn.view(Bw, self.heads, N, N)
        attn = self.attn_drop(attn.softmax(-1))
        x = (attn @ v).transpose(1, 2).reshape(Bw, N, C)
        return self.proj_drop(self.proj(x))


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample with probability p (training only)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class SwinBlock(nn.Module):
    """LN -> (shifted) window attention -> residual; LN -> MLP -> residual. Input/output (B, H, W, C)."""

    def __init__(self, dim: int, heads: int, ws: int, shift: int, cfg: SwinUNetConfig, drop_path: float):
        super().__init__()
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, heads, cfg.qkv_bias, cfg.attn_drop_rate, cfg.drop_rate)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(cfg.drop_rate),
                                 nn.Linear(hidden, dim), nn.Dropout(cfg.drop_rate))
        self._masks: dict[tuple, torch.Tensor] = {}

    def shift_mask(self, Hp: int, Wp: int, device: torch.device) -> torch.Tensor:
        """(nW, ws^2, ws^2) additive mask: after the cyclic roll, tokens from different image regions that
        land in one window must not attend to each other (Liu et al. 2021, Sec. 3.2, Fig. 4)."""
        key = (Hp, Wp, str(device))
        if key not in self._masks:
            ws, s = self.ws, self.shift
            region = torch.zeros(1, Hp, Wp, 1, device=device)
            cnt = 0
            for hs in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
                for wsl in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
                    region[:, hs, wsl] = cnt
                    cnt += 1
            r = window_partition(region, ws).squeeze(-1)  # (nW, N)
            self._masks[key] = (r[:, None, :] != r[:, :, None]).float() * -100.0
        return self._masks[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        ws = self.ws
        h = self.norm1(x)
        ph, pw = (-H) % ws, (-W) % ws
        if ph or pw:
            h = F.pad(h, (0, 0, 0, pw, 0, ph))
        Hp, Wp = H + ph, W + pw
        mask = None
        if self.shift:
            h = torch.roll(h, (-self.shift, -self.shift), dims=(1, 2))
            mask = self.shift_mask(Hp, Wp, x.device)
        h = window_reverse(self.attn(window_partition(h, ws), mask), ws, B, Hp, Wp)
        if self.shift:
            h = torch.roll(h, (self.shift, self.shift), dims=(1, 2))
        x = x + self.drop_path(h[:, :H, :W])
        return x + self.drop_path(self.mlp(self.norm2(x)))


def make_stage(dim: int, depth: int, heads: int, res: int, cfg: SwinUNetConfig, dpr: list[float]) -> nn.Sequential:
    """``depth`` Swin blocks alternating W-MSA and SW-MSA (shift ws/2); the window shrinks to the
    resolution, and the shift is switched off, once the (nominal) resolution is no larger than it."""
    ws = min(cfg.window_size, res)
    shift = 0 if res <= cfg.window_size else ws // 2
    return nn.Sequential(*[SwinBlock(dim, heads, ws, shift if i % 2 else 0, cfg, dpr[i]) for i in range(depth)])


class PatchMerging(nn.Module):
    """(B, H, W, C) -> (B, H/2, W/2, 2C): concatenate each 2x2 neighbourhood, LayerNorm, Linear(4C -> 2C)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class DualUpsample(nn.Module):
    """SUNet's dual up-sample (Fan et al. 2022): a pixel-shuffle branch and a bilinear branch, fused by a
    1x1 conv. (B, H, W, Cin) -> (B, sH, sW, Cout), channel-last in and out."""

    def __init__(self, cin: int, cout: int, scale: int):
        super().__init__()
        self.pixel = nn.Sequential(nn.Conv2d(cin, cout * scale**2, 1, bias=False), nn.PReLU(),
                                   nn.PixelShuffle(scale), nn.Conv2d(cout, cout, 1, bias=False))
        self.bilinear = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.PReLU(),
                                      nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=False),
                                      nn.Conv2d(cout, cout, 1, bias=False))
        self.fuse = nn.Conv2d(2 * cout, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        x = self.fuse(torch.cat([self.pixel(x), self.bilinear(x)], dim=1))
        return x.permute(0, 2, 3, 1)


# ----------------------------------------------------------------------------- the model
class SwinUNet(nn.Module):
    """Swin-UNet LVM. ``forward(x)`` -> ``(reconstruction (B,out,H,W), F (B, tokens, C_bottleneck))``."""

    def __init__(self, cfg: SwinUNetConfig):
        super().__init__()
        n = len(cfg.depths)
        if len(cfg.num_heads) != n or n < 1:
            raise ValueError(f"depths {cfg.depths} and num_heads {cfg.num_heads} must have the same length >= 1")
        if cfg.img_size % (cfg.patch_size * 2 ** (n - 1)):
            raise ValueError(f"img_size {cfg.img_size} must be a multiple of patch_size*2**(stages-1)"
                             f" = {cfg.patch_size * 2 ** (n - 1)}")
        self.cfg = cfg
        E, T = cfg.embed_dim, cfg.img_size // cfg.patch_size
        dims = [E * 2**i for i in range(n)]
        self.num_features = dims[-1]
        self.stage_dims = dims
        nb = sum(cfg.depths)
        dpr = [cfg.drop_path_rate * i / max(nb - 1, 1) for i in range(nb)]  # stochastic depth, linear in depth
        cut = [sum(cfg.depths[:i]) for i in range(n + 1)]

        self.conv_first = nn.Conv2d(cfg.in_chans, E, 3, padding=1)
        self.patch_embed = nn.Conv2d(E, E, cfg.patch_size, stride=cfg.patch_size)
        self.patch_norm = nn.LayerNorm(E)
        self.pos_drop = nn.Dropout(cfg.drop_rate)
        self.enc = nn.ModuleList(make_stage(dims[i], cfg.depths[i], cfg.num_heads[i], T // 2**i, cfg,
                                            dpr[cut[i]:cut[i + 1]]) for i in range(n))
        self.merge = nn.ModuleList(PatchMerging(dims[i]) for i in range(n - 1))
        self.norm = nn.LayerNorm(dims[-1])

        # decoder: stage i (for i = n-2 .. 0) works at the resolution and width of encoder stage i
        self.up_first = DualUpsample(dims[-1], dims[-2], 2) if n > 1 else None
        self.concat = nn.ModuleDict({str(i): nn.Linear(2 * dims[i], dims[i]) for i in range(n - 1)})
        self.dec = nn.ModuleDict({str(i): make_stage(dims[i], cfg.depths[i], cfg.num_heads[i], T // 2**i, cfg,
                                                     dpr[cut[i]:cut[i + 1]]) for i in range(n - 1)})
        self.up = nn.ModuleDict({str(i): DualUpsample(dims[i], dims[i - 1], 2) for i in range(1, n - 1)})
        self.norm_up = nn.LayerNorm(E)
        self.up_final = DualUpsample(E, E, cfg.patch_size)
        self.out_conv = nn.Conv2d(E, cfg.out_chans, 3, padding=1)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def _check(self, x: torch.Tensor) -> None:
        m = self.cfg.patch_size * 2 ** (len(self.cfg.depths) - 1)
        if x.ndim != 4 or x.shape[1] != self.cfg.in_chans or x.shape[2] % m or x.shape[3] % m:
            raise ValueError(f"expected input (B, {self.cfg.in_chans}, H, W) with H, W multiples of {m};"
                             f" got {tuple(x.shape)}")

    def encoder_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every encoder stage (before merging), channel-last; the last one is normalised (= F)."""
        self._check(x)
        h = self.patch_embed(self.conv_first(x)).permute(0, 2, 3, 1)  # (B, H/p, W/p, E)
        h = self.pos_drop(self.patch_norm(h))
        outs = []
        for i, stage in enumerate(self.enc):
            h = stage(h)
            outs.append(h)
            if i < len(self.merge):
                h = self.merge[i](h)
        outs[-1] = self.norm(outs[-1])
        return outs

    def decode(self, skips: list[torch.Tensor]) -> torch.Tensor:
        """Decoder: from the encoder stage outputs back to an image (B, out_chans, H, W)."""
        n = len(skips)
        h = skips[-1]
        if n > 1:
            h = self.up_first(h)  # (B, 2x, 2x, dims[-2])
            for i in range(n - 2, -1, -1):
                h = self.concat[str(i)](torch.cat([h, skips[i]], dim=-1))
                h = self.dec[str(i)](h)
                if i > 0:
                    h = self.up[str(i)](h)
        h = self.up_final(self.norm_up(h))  # (B, H, W, E)
        return self.out_conv(h.permute(0, 3, 1, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = self.encoder_stages(x)
        return self.decode(skips), skips[-1].flatten(1, 2)  # (B,out,H,W), F (B, L, C)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled bottleneck features (B, num_features)."""
        return self.encoder_stages(x)[-1].mean(dim=(1, 2))

    def encoder_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder stage outputs as channel-first maps [(B, C_i, H_i, W_i)], e.g. for a detection head."""
        return [s.permute(0, 3, 1, 2) for s in self.encoder_stages(x)]

    def encoder_parameters(self) -> list[nn.Parameter]:
        mods = [self.conv_first, self.patch_embed, self.patch_norm, self.enc, self.merge, self.norm]
        return [p for m in mods for p in m.parameters()]


# ----------------------------------------------------------------------------- registered configs
CONFIGS: dict[str, SwinUNetConfig] = {
    # the paper's model (official training.yaml): ~100M parameters; needs a GPU to train
    "swin_unet_paper": SwinUNetConfig(),
    # the CPU-tier configuration suggested in the reproduction spec (64x64, ~4M parameters)
    "swin_unet_small": SwinUNetConfig(img_size=64, embed_dim=32, depths=(2, 2, 2, 2), num_heads=(2, 2, 4, 4),
                                      window_size=4, attn_drop_rate=0.0, drop_path_rate=0.0),
    # quick-mode model: 32x32 stamps, same topology (4 stages, shifted windows, dual up-sample)
    "swin_unet_tiny": SwinUNetConfig(img_size=32, embed_dim=24, depths=(2, 2, 2, 2), num_heads=(2, 2, 4, 4),
                                     window_size=4, attn_drop_rate=0.0, drop_path_rate=0.0),
    "test_swin_unet": SwinUNetConfig(img_size=32, embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 1, 2, 2),
                                     window_size=4, attn_drop_rate=0.0, drop_path_rate=0.0),
}


def _builder(name: str):
    def build(**overrides) -> SwinUNet:
        for k in ("depths", "num_heads"):
            if k in overrides:
                overrides[k] = tuple(overrides[k])
        return SwinUNet(replace(CONFIGS[name], **overrides))

    build.__name__ = f"build_{name}"
    build.__doc__ = f"Build a :class:`SwinUNet` from the ``{name}`` config, with keyword overrides."
    return build


for _name in CONFIGS:
    register_model(_name)(_builder(_name))
