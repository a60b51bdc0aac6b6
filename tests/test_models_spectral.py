"""Tests of the Spectra-as-Language models: the LLM with LoRA and spectrum tokenizers, and the baselines."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from astrorepro.llm import tiny_llm
from astrorepro.models import count_parameters, create_model
from astrorepro.models.spectral_llm import (
    TOKENS_PER_VALUE, PatchEmbed, SpectralLLM, SpectralLLMConfig, masked_mse, serialize_flux, text_token_ids,
)


def _spectra(n=6, n_pix=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 1.0 + 0.05 * torch.randn(n, n_pix, generator=g)


def test_patch_embed_shapes_and_padding():
    pe = PatchEmbed(n_pix=70, patch=8, dim=16, scale=0.5)
    e = pe(_spectra(3, 70))
    assert e.shape == (3, 9, 16)  # ceil(70 / 8) tokens
    rms = e.pow(2).mean(-1).sqrt()
    assert torch.allclose(rms, torch.full_like(rms, 0.5), atol=1e-3)  # scaled to the LLM's token RMS
    with pytest.raises(ValueError, match="shape"):
        pe(_spectra(3, 64))


def test_only_adapters_tokenizer_and_head_train():
    torch.manual_seed(0)
    m = create_model("test_spectral_llm")
    names = [n for n, p in m.named_parameters() if p.requires_grad]
    assert names and all(("lora_" in n) or n.startswith(("embed.", "head.")) for n in names)
    assert any("lora_A" in n for n in names) and any("lora_B" in n for n in names)
    frozen = {n: p.detach().clone() for n, p in m.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW(m.trainable_parameters(), lr=1e-2)
    x, y = _spectra(), torch.randn(6, 3)
    for _ in range(3):
        loss = masked_mse(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = dict(m.named_parameters())
    assert all(torch.equal(frozen[n], after[n]) for n in frozen)  # the LLM's own weights never move
    assert any(after[n].abs().sum() > 0 for n in names if "lora_B" in n)  # adapters did move


def test_lora_starts_as_identity():
    """LoRA's B is initialised to zero, so before training the adapted body equals the frozen LLM."""
    base = tiny_llm(seed=2)
    ref = copy.deepcopy(base).model
    m = SpectralLLM(base, SpectralLLMConfig(n_pix=64, patch=8, lora_r=4, cpu_bf16=False))
    emb = torch.randn(2, 5, 64)
    with torch.no_grad():
        a = m.body(inputs_embeds=emb).last_hidden_state
        b = ref(inputs_embeds=emb).last_hidden_state
    assert torch.allclose(a, b, atol=1e-6)


def test_forward_deterministic_and_prompt_changes_output():
    torch.manual_seed(0)
    m = create_model("test_spectral_llm", cpu_bf16=False).eval()
    x = _spectra()
    with torch.no_grad():
        y1, y2 = m(x), m(x)
        assert torch.equal(y1, y2) and y1.shape == (6, 3)
        m.prompt_ids = torch.tensor([1, 9, 9, 9])
        y3 = m(x)
    assert not torch.allclose(y1, y3)  # the prompt is really read by the LLM


def test_last_token_pooling_and_new_head():
    torch.manual_seed(0)
    m = create_model("test_spectral_llm", pool="last")
    assert m(_spectra()).shape == (6, 3)
    enc_before = m.embed.proj.weight.detach().clone()
    m.new_head(20, seed=1)
    assert m(_spectra()).shape == (6, 20) and m.cfg.n_out == 20
    assert torch.equal(m.embed.proj.weight, enc_before)  # the tokenizer carries over to stage 2


def test_masked_mse_ignores_missing_labels():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    y = torch.tensor([[0.0, float("nan")], [3.0, 2.0]])
    assert masked_mse(pred, y).item() == pytest.approx((1.0 + 0.0 + 4.0) / 3)
    assert masked_mse(pred, torch.full_like(pred, float("nan"))).item() == 0.0


def test_text_serialisation():
    assert serialize_flux(np.array([0.98, 1.02, 0.5, 12.0, -1])) == ["098,102,050,999,000,"]

    class DigitTokenizer:  # one token per character, as SmolLM2 does for digits and commas
        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [[ord(c) for c in t] for t in texts]}

    ids = text_token_ids(np.ones((2, 5)), DigitTokenizer())
    assert ids.shape == (2, 5 * TOKENS_PER_VALUE) and ids.dtype == torch.long

    class MergingTokenizer(DigitTokenizer):
        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [[1] * (len(t) // 2) for t in texts]}

    with pytest.raises(ValueError, match="tokens per spectrum"):
        text_token_ids(np.ones((2, 5)), MergingTokenizer())


def test_text_tokenizer_model():
    torch.manual_seed(0)
    m = create_model("test_spectral_llm", tokenizer="text", n_pix=8)
    assert m.embed is None and m.cfg.n_tokens == 32
    ids = torch.randint(10, 100, (3, 32))
    assert m(ids).shape == (3, 3)
    with pytest.raises(ValueError, match="int64"):
        m(ids.float())


def test_bad_config():
    with pytest.raises(ValueError, match="tokenizer"):
        SpectralLLMConfig(tokenizer="wavelet")
    with pytest.raises(ValueError, match="pool"):
        SpectralLLMConfig(pool="max")


@pytest.mark.parametrize("name", ["test_spec_resnet1d", "test_spec_gru", "test_spec_cnn"])
def test_baselines_shapes_and_learning(name):
    torch.manual_seed(0)
    m = create_model(name, n_out=2)
    x = _spectra(32, 64, seed=1)
    y = torch.stack([(x - 1).mean(1) * 20, (x[:, :32] - 1).std(1) * 10], 1)
    assert m(x).shape == (32, 2) and count_parameters(m) > 0
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        loss = torch.nn.functional.mse_loss(m(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first  # it can fit a small batch
    with pytest.raises(ValueError, match="shape"):
        m(_spectra(2, 60))


def test_cnn_too_short_input():
    with pytest.raises(ValueError, match="too short"):
        create_model("spec_cnn", n_pix=16, depth=3)
