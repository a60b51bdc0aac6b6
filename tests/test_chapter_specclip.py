"""Tests of the SpecCLIP chapter's experiment functions on a tiny configuration."""

import dataclasses

import numpy as np
import pytest
import torch

from astrorepro.chapters import specclip as chapter
from astrorepro.scorecard import Scorecard

torch.set_num_threads(1)

TINY = dataclasses.replace(
    chapter.CONFIGS["quick"], n_train=160, n_test=80, lrs_epochs=1, xp_epochs=2, batch_size=32, embed_dim=16,
    n_shared=12, clip_epochs=2, clip_batch=40, retrieval_n=50, label_sizes=(40, 160), head_steps=10,
    n_anomalies=5, progress=False)
DEV = torch.device("cpu")


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    train, test = chapter.simulate(TINY, seed=0)
    lrs, h_lrs = chapter.pretrain_lrs(train, test, TINY, DEV, 0)
    xp, h_xp = chapter.pretrain_xp(train, test, TINY, DEV, 0)
    c_tr = chapter.cache_embeddings(lrs, xp, train, DEV)
    c_te = chapter.cache_embeddings(lrs, xp, test, DEV)
    return train, test, lrs, xp, h_lrs, h_xp, c_tr, c_te


def test_configs_and_info():
    assert set(chapter.CONFIGS) == {"quick", "full"}
    assert chapter.INFO.key == "specclip" and chapter.INFO.arxiv == "2507.01939"
    with pytest.raises(dataclasses.FrozenInstanceError):
        chapter.CONFIGS["quick"].n_train = 1
    assert chapter.CONFIGS["full"].n_train > chapter.CONFIGS["quick"].n_train


def test_simulated_pairs(setup):
    train, test = setup[:2]
    assert train.lrs.shape == (160, 1462) and train.xp.shape == (160, 343)
    assert test.labels.shape == (80, len(chapter.HEAD_LABELS)) == (80, len(test.label_names))
    assert np.isfinite(train.lrs).all() and np.isfinite(train.xp).all()
    assert np.allclose(train.xp[:, 107], 1.0)  # normalised at 550 nm
    assert abs(np.median(train.lrs) - 1.0) < 0.1  # continuum-normalised
    assert train.wave_lrs.size == 1462 and abs(train.wave_lrs[0] - 3999.4) < 0.1 and abs(train.wave_lrs[-1] - 5598.9) < 0.1
    # the noise-free spectra differ from the observed ones by the noise of each star's S/N, and by no offset
    resid = test.lrs - test.meta["lrs_clean"]
    assert test.meta["lrs_clean"].shape == test.lrs.shape
    assert np.median(resid.std(1) * test.meta["snr"]) == pytest.approx(1.0, rel=0.15)
    assert abs(np.median(resid)) < 0.005


def test_pretraining_histories_and_baselines(setup):
    train, test, lrs, xp, h_lrs, h_xp = setup[:6]
    assert len(h_lrs.train_loss) == 1 and len(h_xp.val_loss) == 2
    b = chapter.masked_baselines(lrs, test, DEV, n=16)
    assert b["mse_zero"] > 0.3 and np.isfinite(b["mse_interp"])
    assert b["example"]["masked_pix"].sum() > 0
    xb = chapter.xp_baselines(xp, train, test, DEV)
    assert xb["mse_pca"] < xb["mse_mean"]


def test_untokenize_inverts_tokenize():
    from astrorepro.models.specformer import tokenize

    x = torch.rand(2, 1462) + 0.5
    z = (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True)
    back = chapter.untokenize(tokenize(x), 1462)
    ok = ~torch.isnan(back)
    assert ok[:, :1460].all() and not ok[:, 1460:].any()  # the last 2 pixels are in no window
    assert torch.allclose(back[ok], z[ok], atol=1e-5)


def test_cache_shapes(setup):
    lrs, xp, c_tr = setup[2], setup[3], setup[6]
    assert c_tr["lrs_tok"].shape == (160, 146, lrs.cfg.d_model) and c_tr["lrs_tok"].dtype == torch.float16
    assert c_tr["xp_lat"].shape == (160, xp.cfg.latent)
    assert torch.allclose(c_tr["lrs_std"].mean(1), torch.zeros(160), atol=1e-4)


def test_alignment_translation_heads_and_claims(setup):
    train, test, lrs, xp, _, _, c_tr, c_te = setup
    sc = Scorecard("specclip")
    models, rets = {}, {}
    for v in ("base", "pr", "split"):
        models[v], hist, parts = chapter.train_clip(v, c_tr, c_te, TINY, DEV, 0)
        assert len(hist.train_loss) == 2 and "clip" in parts
        rets[v] = chapter.retrieval(models[v], c_te, DEV, TINY.retrieval_n)
        r = rets[v]
        assert r["n"] == 50 and r["chance5"] == pytest.approx(0.1)
        assert 0 <= r["top1_xp2lrs"] <= r["top5_xp2lrs"] <= 1
    chapter.retrieval_claims(sc, rets)
    with pytest.raises(ValueError, match="decoders"):
        chapter.translation(models["base"], c_tr, c_te, train, test, DEV)
    tr = chapter.translation(models["pr"], c_tr, c_te, train, test, DEV)
    assert set(tr["median_mae"]) == {"model", "mean", "nn", "ridge", "noise"}
    assert set(tr["median_mae_clean"]) == {"model", "mean", "nn", "ridge"}
    # the nearest neighbour copies a noisy spectrum: against the noise-free truth it keeps its own noise
    assert tr["median_mae_clean"]["nn"] > tr["median_mae"]["noise"] * 0.5
    assert tr["median_mae_clean"]["mean"] < tr["median_mae"]["mean"]
    assert tr["pred"]["model"].shape == test.lrs.shape
    chapter.translation_claims(sc, tr, "pr")
    m = tr["median_mae_clean"]
    assert {c.id: c.value for c in sc.claims}["translate-vs-nn"] == pytest.approx(m["model"] / m["nn"])
    feats = chapter.embedding_features(models, c_tr, c_te, train, test, DEV)
    assert set(feats) == {"LRS encoder", "XP encoder", "LRS aligned (pr)", "XP aligned (pr)", "LRS aligned (split)",
                          "scratch (raw LRS)"}
    eff = chapter.label_efficiency(feats, train.labels, test.labels, train.label_names, TINY.label_sizes,
                                   TINY.head_steps, DEV, 0, progress=False)
    assert len(eff) == 2 * len(feats) * len(train.label_names)
    assert np.isfinite(eff["sigma"]).all()
    chapter.efficiency_claims(sc, eff)
    el, ex = chapter.embed_aligned(models["pr"], c_te, DEV)
    search = chapter.similarity_search(ex, el, test.labels, test.label_names, k=3)
    assert search["idx"].shape == (80, 3)
    assert not np.any(search["idx"] == np.arange(80)[:, None])  # self excluded
    an = chapter.anomaly_detection(models["pr"], lrs, xp, test, DEV, TINY.n_anomalies, 0)
    assert (an["kind"] == 1).sum() == 5 and (an["kind"] == 2).sum() == 5
    assert all(0 <= v <= 1 for v in an["auc"].values())
    chapter.search_claims(sc, search, an)
    ids = [c.id for c in sc.claims]
    assert len(ids) == len(set(ids)) and "anomaly-wrong-match" in ids
    for fig in (chapter.plot_retrieval(rets), chapter.plot_translation(tr), chapter.plot_label_efficiency(eff),
                chapter.plot_search(search, test), chapter.plot_anomalies(an)):
        assert fig.axes
        chapter.plots.plt.close(fig)


def test_inject_anomalies_changes_only_chosen_stars(setup):
    test = setup[1]
    bad, kind = chapter.inject_anomalies(test, 5, np.random.default_rng(0))
    same_xp = np.all(bad.xp == test.xp, axis=1)
    same_lrs = np.all(bad.lrs == test.lrs, axis=1)
    assert same_xp[kind != 1].all() and not same_xp[kind == 1].any()
    assert same_lrs[kind != 2].all() and not same_lrs[kind == 2].any()
    with pytest.raises(ValueError, match="anomalies"):
        chapter.inject_anomalies(test, 40, np.random.default_rng(0))


def test_score_labels_uses_robust_sigma():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(2000, 1))
    pred = true + rng.normal(0, 0.1, size=true.shape) + 0.05
    pred[:50] += 10  # outliers must not inflate the robust sigma
    df = chapter.score_labels(pred, true, ["x"])
    assert df.loc[0, "sigma"] == pytest.approx(0.1, rel=0.15)
    assert df.loc[0, "bias"] == pytest.approx(0.05, abs=0.02)


@pytest.mark.skipif(not chapter.real_data_available()["lamost"], reason="real LAMOST sample not present")
def test_real_lamost_loader_and_search(setup):
    lrs = setup[2]
    real = chapter.load_real_lamost()
    assert real["lrs"].shape[1] == 1462 and np.isfinite(real["lrs"]).all()
    res = chapter.real_lamost_search(lrs, DEV)
    assert res["n"] > 50 and res["search_emb"]["idx"].shape == (res["n"], 1)


@pytest.mark.skipif(not chapter.real_data_available()["xp"], reason="real Gaia XP file not present")
def test_real_xp_split():
    real = chapter.load_real_xp()
    assert np.all((real["source_id"][real["test"]] % 5) == 0)
    assert 1900 < real["test"].sum() < 2100 and real["flux"].shape[1] == 343
    assert np.all(real["flux"][:, 107] > 0)
