"""Tests of the IICnet chapter's experiment functions on tiny configurations (CPU, seconds)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from astrorepro.chapters import iicnet as iic
from astrorepro.models import list_models
from astrorepro.scorecard import Scorecard

TINY = dataclasses.replace(
    iic.CONFIGS["quick"], n_train_per_class=24, n_val_per_class=6, n_test_per_class=20, epochs=1, batch_size=32,
    trained=(("iicnet", 0.5, 1.0), ("vgg16", 0.125, 0.25), ("googlenet", 0.125, 0.2), ("resnet34", 0.125, 0.25),
             ("mobilenetv2", 0.25, 0.2), ("efficientnetv2_s", 0.25, 0.1), ("repvgg_a0", 0.125, 0.2)),
    latency_batches=(1, 4), latency_repeats=1, full_width_batches=(1,), gbt_iter=10, w1_bins=3, progress=False)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return iic.make_data(TINY, seed=3)


def test_configs_are_consistent():
    names = set(list_models())
    for mode, cfg in iic.CONFIGS.items():
        assert [n for n, _, _ in cfg.trained] == list(iic.MODELS), mode
        assert all(n in names for n, _, _ in cfg.trained)
        assert dict((n, w) for n, w, _ in cfg.trained)["iicnet"] == 1.0  # the proxy is always trained at full size
        assert 1 in cfg.latency_batches and 1 in cfg.full_width_batches
    assert all(w == 1.0 and d == 1.0 for _, w, d in iic.CONFIGS["full"].trained)


def test_make_data(data):
    for split, n in (("train", 24), ("val", 6), ("test", 20)):
        d = data[split]
        assert d["x"].shape == (3 * n, 4, 32, 32) and d["x"].dtype == torch.float32
        assert torch.isfinite(d["x"]).all()
        assert np.bincount(d["y"].numpy(), minlength=3).tolist() == [n, n, n]  # balanced
        t = d["table"]
        assert len(t) == 3 * n
        assert (t["class"].to_numpy() == d["y"].numpy()).all()
        for b in iic.BANDS:
            assert {b, f"{b}_true", f"e_{b}", f"flux_{b}", f"ferr_{b}"} <= set(t.columns)
    # bright W1 is always detected; measured magnitudes are close to the truth for bright point sources
    t = data["test"]["table"]
    bright = (t["W1_true"] < 14) & (t["class"] != 0) & (t["n_neighbours"] == 0)
    if bright.any():
        assert np.abs(t["W1"][bright] - t["W1_true"][bright]).max() < 0.15
    assert data["scale"].shape == (4,) and np.all(data["scale"] > 0)
    # deterministic in the seed; different seeds differ
    again = iic.make_data(dataclasses.replace(TINY, n_train_per_class=2, n_val_per_class=1, n_test_per_class=1), 3)
    assert np.array_equal(again["train"]["images"], iic.make_data(
        dataclasses.replace(TINY, n_train_per_class=2, n_val_per_class=1, n_test_per_class=1), 3)["train"]["images"])
    with pytest.raises(ValueError, match="n_train_per_class"):
        iic.make_data(dataclasses.replace(TINY, n_train_per_class=0), 0)


def test_psf_photometry_recovers_flux():
    from astrorepro.data.wise import WISE_FWHM

    yy, xx = np.mgrid[:32, :32]
    r2 = (xx - 15.5) ** 2 + (yy - 15.5) ** 2
    s = WISE_FWHM / 2.75 / (2 * np.sqrt(2 * np.log(2)))
    psf = np.exp(-r2[None] / (2 * s[:, None, None] ** 2))
    psf /= psf.sum(axis=(1, 2), keepdims=True)
    true = np.array([[100.0, 50.0, 10.0, 3.0], [1.0, 2.0, 3.0, 4.0]])
    images = true[:, :, None, None] * psf[None]
    flux, err = iic.psf_photometry(images, np.ones((2, 4)))
    np.testing.assert_allclose(flux, true, rtol=1e-10)
    np.testing.assert_allclose(err[0], 1 / np.sqrt((psf ** 2).sum(axis=(1, 2))))
    mags = iic.catalogue_magnitudes(np.array([[100.0, 1.0]]), np.array([[1.0, 1.0]]))
    assert mags[0, 0] == pytest.approx(22.5 - 5.0) and np.isnan(mags[0, 1])


def test_noise_scale_and_prepare():
    rng = np.random.default_rng(0)
    imgs = rng.normal(0, [1.0, 2.0, 5.0, 10.0], size=(50, 32, 32, 4)).transpose(0, 3, 1, 2)
    s = iic.noise_scale(imgs)
    np.testing.assert_allclose(s, [1, 2, 5, 10], rtol=0.05)
    x = iic.prepare_images(imgs, s)
    assert x.dtype == torch.float32 and abs(float(x.std()) - np.arcsinh(1.0) * 1.1) < 0.3
    with pytest.raises(ValueError):
        iic.noise_scale(imgs[:, :, :4, :4])


def test_classification_report_hand_made():
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.8 + 0.2 / 3
    rep = iic.classification_report(y, proba)
    assert rep["accuracy"] == pytest.approx(4 / 6)
    np.testing.assert_array_equal(rep["confusion"], [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    pc = rep["per_class"]
    assert pc.loc["galaxy", "accuracy"] == pytest.approx(0.5)  # recall
    assert pc.loc["quasar", "precision"] == pytest.approx(2 / 3)
    assert pc.loc["star", "f1"] == pytest.approx(2 / 3)
    perfect = iic.classification_report(y, np.eye(3)[y])
    assert perfect["accuracy"] == 1.0 and perfect["macro_auc"] == 1.0


def test_accuracy_by_magnitude_and_error_overlap():
    y = np.array([0, 1, 2, 0, 1, 2])
    w1 = np.array([10, 11, 12, 13, 14, 15.0])
    a, b = np.array([0, 1, 2, 1, 1, 1]), np.array([0, 1, 0, 0, 0, 2])
    bm = iic.accuracy_by_magnitude(y, {"a": a}, w1, 2)
    assert bm["n"].tolist() == [3, 3] and bm["a"].tolist() == [1.0, pytest.approx(1 / 3)]
    t = pd.DataFrame({"W1": w1, "extended": [True, False, False, True, False, False]})
    eo = iic.error_overlap(y, a, b, t)
    assert eo["n"].sum() == 6
    assert eo.loc["both right", "n"] == 2 and eo.loc["only images right", "n"] == 2
    assert eo.loc["only catalogue right", "n"] == 2 and eo.loc["both wrong", "n"] == 0
    assert eo.loc["only images right", "n_star"] == 1 and eo.loc["only images right", "extended_frac"] == 0.0


def test_train_compare_catalogue_robustness_claims(data):
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="depth"):
        iic.train_cnn("iicnet", data["train"]["x"], data["train"]["y"], TINY, CPU, 0, depth=0.5)
    trained = iic.train_all(data, TINY, CPU, seed=0)
    assert list(trained) == list(iic.MODELS)
    assert all(len(r["history"].train_loss) == 1 for r in trained.values())
    table = iic.comparison_table(trained, data, TINY, CPU, progress=False)
    assert list(table.index) == [iic.DISPLAY[m] for m in iic.MODELS]
    for col in ("accuracy", "params", "MMACs", "params_full", "MMACs_full", "cpu_ms_b1", "cpu_ms_b4", "cpu_ms_full_b1"):
        assert col in table and table[col].notna().all(), col
    assert (table["params"] < table["params_full"]).all()
    assert (table["cpu_ms_b1"] > 0).all()
    # RepVGG is evaluated and counted in its re-parameterised form
    rep_full = table.loc["RepVGG-A0", "params_full"]
    from astrorepro.models import count_parameters, create_model
    assert rep_full == count_parameters(create_model("repvgg_a0", deploy=True)) < count_parameters(create_model("repvgg_a0"))
    err = iic.repvgg_equivalence(trained, data["test"]["x"])
    assert err < 1e-4
    sc = Scorecard("iicnet")
    iic.data_claims(sc, iic.colour_overlap(data))
    iic.iicnet_claims(sc, trained["iicnet"]["report"])
    iic.comparison_claims(sc, table, err, on_gpu=False)
    cat = iic.catalogue_baseline(data, TINY, seed=0)
    assert cat["proba"].shape == (60, 3)
    iic.catalogue_claims(sc, trained["iicnet"]["report"], cat)
    rob = iic.robustness(data, trained, cat, TINY, CPU, seed=0)
    assert set(rob["accuracy"]) >= {"IICnet-proxy", "IICnet-proxy W1+W2", "catalogue GBT W1+W2"}
    assert len(rob["by_mag"]) == 3
    iic.robustness_claims(sc, rob)
    ids = [c.id for c in sc.claims]
    assert len(ids) == len(set(ids)) >= 14
    by_id = {c.id: c for c in sc.claims}
    # structural claims hold even for barely trained networks
    for cid in ("fewer-params", "fewer-macs", "repvgg-reparam"):
        assert by_id[cid].passed and by_id[cid].must_hold
    assert not by_id["faster-cpu-b1"].must_hold  # timing is never must-hold
    # the figures build
    from astrorepro import plots
    for fig in (iic.plot_examples(data, 1), iic.plot_colour_colour(data),
                iic.plot_confusion_roc(trained["iicnet"]["report"]), iic.plot_comparison(table, trained),
                iic.plot_robustness(rob)):
        plots.glue_figure("test", fig)
