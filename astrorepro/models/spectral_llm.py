"""Spectra as language: a pretrained LLM reads a stellar spectrum as a sequence of tokens.

Lu, Li, Li et al. 2026 (arXiv:2605.22162, Sec. 2–3) fine-tune LLaMA-3.1-8B-Instruct with QLoRA to
map a LAMOST low-resolution spectrum (3800–8700 Å) to Teff, log g, [Fe/H] (stage 1) and then ~20
abundances (stage 2). How the flux enters the LLM is not stated in the text we could read, so this
module implements the two usual ways and the chapter compares them:

- ``tokenizer="patch"`` (default): the flux vector is cut into patches of ``patch`` pixels and each
  patch is projected linearly into the LLM's embedding space (``e_j = W x_j + b + pos_j``), as
  vision-language models do with image patches. A 1024-pixel spectrum with 32-pixel patches is 32
  tokens.
- ``tokenizer="text"``: every flux value is written as text, three digits in units of 0.01 and a
  comma (``"098,102,"``), and tokenised by the LLM's own tokenizer (SmolLM2 splits digits one per
  token), so each pixel costs 4 tokens: only short spectra fit (:func:`text_token_ids`).

The token sequence is ``[prompt] [spectrum tokens] [suffix]``, where the prompt names the task in
words (embedded by the LLM's frozen token table). The LLM's weights are frozen; LoRA adapters
(Hu et al. 2022, ``W + (alpha/r) B A`` with ``B`` initialised to zero) are injected into the
attention (and optionally MLP) projections with ``peft``. The hidden states of the spectrum tokens
are mean-pooled (or the last token's state is taken) and a linear head predicts standardised labels.
Stage 2 keeps the tokenizer and adapters and swaps the head (:meth:`SpectralLLM.new_head`).

On a CPU with bf16 matrix units the frozen body runs under bf16 autocast (``cpu_bf16=True``),
~2× faster than float32 on this project's machines; the head and the loss stay float32.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn as nn

from . import register_model

#: The default task prompts (stage 1 and stage 2).
PROMPT_STAGE1 = "Read this stellar spectrum and estimate the effective temperature, surface gravity and metallicity:"
PROMPT_STAGE2 = "Read this stellar spectrum and estimate the abundance of each chemical element:"
SUFFIX = " Answer:"


@dataclass(frozen=True)
class SpectralLLMConfig:
    """Configuration of :class:`SpectralLLM`.

    Attributes:
        n_pix: pixels of the input spectrum (patch tokenizer) or flux values (text tokenizer).
        patch: pixels per token of the patch tokenizer (the spectrum is zero-padded to a multiple).
        n_out: number of labels the head predicts.
        tokenizer: ``"patch"`` or ``"text"``.
        lora_r: LoRA rank r.
        lora_alpha: LoRA scale alpha (the update is ``(alpha / r) B A``).
        lora_dropout: dropout on the LoRA branch.
        lora_targets: names of the LLaMA linear layers that receive adapters.
        pool: ``"mean"`` over the spectrum tokens' last hidden states, or ``"last"`` (final token).
        cpu_bf16: run the frozen body under bf16 autocast on CPU.
    """

    n_pix: int = 1024
    patch: int = 32
    n_out: int = 3
    tokenizer: str = "patch"
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    pool: str = "mean"
    cpu_bf16: bool = True

    def __post_init__(self):
        if self.tokenizer not in ("patch", "text"):
            raise ValueError(f"tokenizer must be 'patch' or 'text', got {self.tokenizer!r}")
        if self.pool not in ("mean", "last"):
            raise ValueError(f"pool must be 'mean' or 'last', got {self.pool!r}")
        if self.n_pix < 1 or self.patch < 1 or self.n_out < 1 or self.lora_r < 1:
            raise ValueError(f"n_pix, patch, n_out and lora_r must be positive, got {self}")

    @property
    def n_tokens(self) -> int:
        """Spectrum tokens per star."""
        if self.tokenizer == "text":
            return TOKENS_PER_VALUE * self.n_pix
        return -(-self.n_pix // self.patch)


# ----------------------------------------------------------------------------------------------
# tokenizers of the spectrum


class PatchEmbed(nn.Module):
    """Cut a spectrum into patches and project each into the LLM's embedding space.

    ``(B, n_pix) -> (B, T, d)`` with ``T = ceil(n_pix / patch)``. Input flux is continuum-normalised
    (≈1); we feed ``flux - 1``. A learned position embedding per patch tells the LLM the wavelength
    (RoPE inside the LLM only gives relative order). The output is scaled to the RMS of the LLM's
    own token embeddings so that the frozen layers see inputs of the size they were trained on.
    """

    def __init__(self, n_pix: int, patch: int, dim: int, scale: float = 1.0):
        super().__init__()
        self.n_pix, self.patch = n_pix, patch
        self.n_tokens = -(-n_pix // patch)
        self.proj = nn.Linear(patch, dim)
        self.pos = nn.Parameter(torch.zeros(self.n_tokens, dim))
        nn.init.normal_(self.pos, std=0.02)
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.n_pix:
            raise ValueError(f"expected spectra of shape (B, {self.n_pix}), got {tuple(x.shape)}")
        pad = self.n_tokens * self.patch - self.n_pix
        x = nn.functional.pad(x.float() - 1.0, (0, pad))  # (B, T*p)
        x = x.view(x.shape[0], self.n_tokens, self.patch)  # (B, T, p)
        e = self.proj(x) + self.pos  # (B, T, d)
        return self.scale * e / e.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()


#: Tokens per flux value in the text serialisation: three digits and a comma.
TOKENS_PER_VALUE = 4


def serialize_flux(flux: np.ndarray) -> list[str]:
    """Write each spectrum as text: flux in units of 0.01, three digits, comma-separated.

    ``[0.98, 1.02, 0.5] -> "098,102,050,"``. Values are clipped to [0, 9.99].
    """
    flux = np.atleast_2d(np.asarray(flux, dtype=float))
    q = np.clip(np.rint(np.nan_to_num(flux, nan=1.0) * 100), 0, 999).astype(int)
    return ["".join(f"{v:03d}," for v in row) for row in q]


def text_token_ids(flux: np.ndarray, tokenizer) -> torch.Tensor:
    """Token ids of :func:`serialize_flux` by the LLM's tokenizer, ``(B, 4 * n_pix)`` int64.

    Raises:
        ValueError: if the tokenizer does not give exactly 4 tokens per value (it must split digits).
    """
    texts = serialize_flux(flux)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    n = TOKENS_PER_VALUE * np.atleast_2d(flux).shape[1]
    if any(len(i) != n for i in ids):
        raise ValueError(f"tokenizer gave {sorted({len(i) for i in ids})} tokens per spectrum, expected {n}: "
                         "it must write each digit and comma as one token (SmolLM2 does)")
    return torch.tensor(ids, dtype=torch.long)


# ----------------------------------------------------------------------------------------------
# the model


def _inject_lora(body: nn.Module, cfg: SpectralLLMConfig) -> None:
    from peft import LoraConfig, inject_adapter_in_model

    for p in body.parameters():
        p.requires_grad_(False)
    lc = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                    target_modules=list(cfg.lora_targets), bias="none")
    inject_adapter_in_model(lc, body)  # adds lora_A/lora_B (trainable, B = 0) next to each frozen W


class SpectralLLM(nn.Module):
    """A frozen LLaMA body with LoRA adapters, a spectrum tokenizer, a task prompt and a regression head.

    Args:
        llm: a ``transformers`` ``LlamaForCausalLM`` (or ``LlamaModel``); its decoder is used, the
            language-model head is dropped. It is modified in place (adapters injected): pass a copy.
        cfg: the :class:`SpectralLLMConfig`.
        prompt_ids: token ids of the task prompt (1-D); ``None`` for no prompt.
        suffix_ids: token ids placed after the spectrum (e.g. ``" Answer:"``); ``None`` for none.
    """

    def __init__(self, llm: nn.Module, cfg: SpectralLLMConfig, prompt_ids=None, suffix_ids=None):
        super().__init__()
        self.cfg = cfg
        self.body = getattr(llm, "model", llm)  # LlamaModel: embed_tokens, layers, norm
        d = self.body.config.hidden_size
        _inject_lora(self.body, cfg)
        tok_rms = float(self.body.embed_tokens.weight.detach().pow(2).mean().sqrt())
        self.embed = PatchEmbed(cfg.n_pix, cfg.patch, d, scale=tok_rms) if cfg.tokenizer == "patch" else None
        as_ids = lambda t: torch.as_tensor([] if t is None else list(t), dtype=torch.long)  # noqa: E731
        self.register_buffer("prompt_ids", as_ids(prompt_ids), persistent=False)
        self.register_buffer("suffix_ids", as_ids(suffix_ids), persistent=False)
        self.head = nn.Linear(d, cfg.n_out)

    # -- parts ---------------------------------------------------------------------------------
    def new_head(self, n_out: int, seed: int | None = None) -> "SpectralLLM":
        """Replace the head by a fresh one with ``n_out`` outputs (stage 2); returns self."""
        if seed is not None:
            state = torch.random.get_rng_state()
            torch.manual_seed(seed)
        head = nn.Linear(self.head.in_features, n_out).to(self.head.weight.device)
        if seed is not None:
            torch.random.set_rng_state(state)
        self.head = head
        self.cfg = replace(self.cfg, n_out=n_out)
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def lora_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if "lora_" in n]

    def _autocast(self, device: torch.device):
        if device.type == "cpu" and self.cfg.cpu_bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- forward -------------------------------------------------------------------------------
    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Embedded spectrum tokens ``(B, T, d)``: patches (float flux) or text (int64 token ids)."""
        if self.cfg.tokenizer == "patch":
            return self.embed(x)
        if x.dtype != torch.long:
            raise ValueError("the text tokenizer expects int64 token ids (see text_token_ids)")
        return self.body.embed_tokens(x)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled last hidden state of the spectrum tokens, ``(B, d)`` float32."""
        b = x.shape[0]
        spec = self.tokens(x)  # (B, T, d)
        parts = []
        if self.prompt_ids.numel():
            parts.append(self.body.embed_tokens(self.prompt_ids).unsqueeze(0).expand(b, -1, -1))
        parts.append(spec)
        if self.suffix_ids.numel():
            parts.append(self.body.embed_tokens(self.suffix_ids).unsqueeze(0).expand(b, -1, -1))
        seq = torch.cat([p.to(spec.dtype) for p in parts], dim=1)  # (B, P + T + S, d)
        with self._autocast(seq.device):
            h = self.body(inputs_embeds=seq, use_cache=False).last_hidden_state  # (B, L, d)
        h = h.float()
        if self.cfg.pool == "last":
            return h[:, -1]
        p0 = self.prompt_ids.numel()
        return h[:, p0 : p0 + spec.shape[1]].mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_pix)`` flux (or ``(B, 4 n_pix)`` token ids) -> ``(B, n_out)`` standardised labels."""
        return self.head(self.hidden(x))


def masked_mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the finite entries of ``y`` (missing labels are NaN), per Sec. 2 stage 2."""
    mask = torch.isfinite(y)
    diff = torch.where(mask, pred.float() - torch.nan_to_num(y), torch.zeros_like(pred, dtype=torch.float32))
    return diff.pow(2).sum() / mask.sum().clamp(min=1)


def prompt_token_ids(tokenizer, prompt: str = PROMPT_STAGE1, suffix: str = SUFFIX) -> tuple[list[int], list[int]]:
    """Token ids of the task prompt (with the BOS-like ``<|im_start|>`` if the tokenizer has one) and the suffix."""
    pre = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    return pre + tokenizer(prompt, add_special_tokens=False)["input_ids"], tokenizer(suffix, add_special_tokens=False)["input_ids"]


# ----------------------------------------------------------------------------------------------
# registry


@register_model("spectral_llm")
def spectral_llm(llm: nn.Module | None = None, prompt_ids=None, suffix_ids=None, **overrides) -> SpectralLLM:
    """A :class:`SpectralLLM` around ``llm`` (default: SmolLM2-135M-Instruct, first 2 layers).

    ``llm`` is modified in place; pass ``copy.deepcopy(base)`` to keep a clean base model.
    """
    if llm is None:
        from ..llm import load_llm

        llm = load_llm(n_layers=2)
    return SpectralLLM(llm, SpectralLLMConfig(**overrides), prompt_ids=prompt_ids, suffix_ids=suffix_ids)


@register_model("test_spectral_llm")
def test_spectral_llm(**overrides) -> SpectralLLM:
    """A tiny random LLaMA (hidden 64, 2 layers) with the same code path, for unit tests."""
    from ..llm import tiny_llm

    kw = dict(n_pix=64, patch=8, n_out=3, lora_r=4)
    kw.update(overrides)
    return SpectralLLM(tiny_llm(), SpectralLLMConfig(**kw), prompt_ids=[1, 5, 6, 7], suffix_ids=[8, 9])
