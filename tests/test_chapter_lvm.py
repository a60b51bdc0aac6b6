"""Galaxy-LVM chapter: tiny end-to-end runs of every experiment function, and its helpers."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from astrorepro.chapters import lvm as L
from astrorepro.metrics_image import average_precision, box_iou, detection_accuracy, psnr, ssim

TINY = dataclasses.replace(
    L.CONFIGS["quick"], sim_size=32, img_size=32, n_pretrain=24, n_pool_per_class=6, n_test_per_class=4,
    lvm="test_swin_unet", lvm_embed=8, lvm_heads=(1, 1, 2, 2), pretrain_epochs=1, pretrain_batch=12,
    shots=(2, 4), scratch_shots=(2,), n_seeds=1, head_steps=5, ft_steps=1, resnet_width=0.125, resnet_steps=1,
    batch=8, al_init=4, al_query=2, al_rounds=1, mt_steps=3, mt_update_every=2, unet_base=4,
    det_fields_train=4, det_fields_test=2, det_sim_size=64, det_steps=1, det_batch=4, param_steps=1,
    real_pretrain_epochs=1, real_shots=(2,), real_scratch_shots=(2,))
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    data = L.make_data(TINY, seed=0)
    lvm, info = L.pretrain(TINY, data, 0, CPU)
    return data, lvm, info


def test_configs_are_frozen_and_full_uses_the_paper_model():
    assert L.CONFIGS["full"].lvm == "swin_unet_paper" and L.CONFIGS["full"].img_size == 128
    assert L.CONFIGS["full"].det_fields_train == 1000  # the paper's 1000 training points
    with pytest.raises(dataclasses.FrozenInstanceError):
        L.CONFIGS["quick"].n_seeds = 1
    assert L.CONFIGS["quick"].n_seeds >= 3 and L.CONFIGS["full"].n_seeds >= 3


def test_make_data_shapes_balance_and_degradation(setup):
    data, _, _ = setup
    assert data["pre"].shape == (24, 3, 32, 32)
    assert data["pool"].shape == (24, 3, 32, 32) and np.bincount(data["y_pool"]).tolist() == [6, 6, 6, 6]
    assert float(data["pool"].min()) >= 0 and float(data["pool"].max()) <= 1
    # degraded copies are worse than identical, but of the same galaxies
    p = psnr(data["test_deg"].numpy(), data["test"].numpy())
    assert np.all(np.isfinite(p)) and np.all(p < 60)
    assert len(data["truth_test"]) == 16


def test_pretrain_info(setup):
    _, lvm, info = setup
    assert len(info["train_loss"]) == 1 and len(info["val_loss"]) == 1
    assert info["val_before"] > 0 and info["mean_image_l1"] > 0
    assert info["n_params"] == sum(p.numel() for p in lvm.parameters())


def test_resample_and_dihedral():
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(L.resample(x, 4), x.view(2, 3, 4, 2, 4, 2).mean((3, 5)))
    assert L.resample(x, 16).shape == (2, 3, 16, 16)
    torch.manual_seed(0)
    y = L.dihedral(x)
    assert torch.allclose(y.sum((-1, -2)), x.sum((-1, -2)))


def test_nested_subsets_are_nested_and_balanced():
    y = np.repeat(np.arange(3), 10)
    s = L.nested_subsets(y, (2, 5), np.random.default_rng(0))
    assert set(s[2]) <= set(s[5])
    assert np.bincount(y[s[5]]).tolist() == [5, 5, 5]


def test_labels_to_reach_interpolates_in_log():
    df = pd.DataFrame({"method": ["a"] * 4 + ["b"] * 2, "shots": [10, 100, 10, 100, 10, 100],
                       "seed": [0, 0, 1, 1, 0, 0], "auc": [0.8, 1.0, 0.8, 1.0, 0.5, 0.6]})
    r = L.labels_to_reach(df, 0.9)
    assert r["a"] == pytest.approx(math.sqrt(10 * 100))
    assert r["b"] == math.inf


def test_few_shot_and_active_rows(setup):
    data, lvm, _ = setup
    df = L.few_shot(lvm, data["pool"], data["y_pool"], data["test"], data["y_test"], TINY, 0, CPU)
    assert set(df.method) == {"LVM frozen + head", "LVM fine-tuned", "ResNet18 scratch"}
    assert df.auc.between(0, 1).all() and len(df) == 2 + 1 + 1
    zp, zt = L.embed(lvm, data["pool"], CPU), L.embed(lvm, data["test"], CPU)
    al = L.active_labelling(zp, data["y_pool"], zt, data["y_test"], TINY, 0)
    assert sorted(al.n_labels.unique()) == [4, 6]
    assert set(al.strategy) == set(TINY.al_strategies) and set(al.noise) == {0.0, TINY.al_noise}


def test_multitask_restoration_parameters(setup):
    data, lvm, _ = setup
    mt, info = L.multitask(lvm, data, TINY, 0, CPU)
    P = info["proportions"]
    assert np.allclose(P.sum(1), 1) and P.shape[1] == 3 and len(info["steps"]) == len(P)
    table, outs = L.restoration(mt, data, TINY, 0, CPU)
    assert list(table.index) == ["degraded input", "LVM (multitask)", "U-Net scratch"]
    assert np.isfinite(table.values).all()
    pr = L.parameters(lvm, data, TINY, 0, CPU)
    assert len(pr) == 8 and set(pr.parameter) == set(L.PARAMS)


def test_detection_runs_and_reports(setup):
    _, lvm, _ = setup
    table, info = L.detection(lvm, TINY, 0, CPU)
    assert {"accuracy", "AP50", "recall", "precision"} <= set(table.columns)
    assert table["accuracy"].between(0, 1).all()
    assert info["test"]["x"].shape[-1] == 64


def test_real_rings_or_skip(setup):
    _, lvm, _ = setup
    real = L.load_rings(TINY)
    if real is None:
        pytest.skip("real DECaLS ring images not found in the data directory")
    assert real["pool"].shape == (340, 3, 32, 32) and real["test"].shape == (100, 3, 32, 32)
    assert int(real["y_test"].sum()) == 50
    sub = {k: v[:24] if k in ("pool", "y_pool") else v for k, v in real.items()}  # keep the test fast
    sub["pool"], sub["y_pool"] = real["pool"][::14][:24], real["y_pool"][::14][:24]
    assert set(sub["y_pool"]) == {0, 1}
    df, _, _ = L.real_rings(lvm, sub, TINY, 0, CPU)
    assert "ResNet18 scratch" in set(df.method) and "LVM (sim only) frozen + head" in set(df.method)


# ----------------------------------------------------------------------------- image / detection metrics
def test_psnr_ssim_known_values():
    x = np.zeros((1, 1, 16, 16))
    y = x + 0.1
    assert psnr(y, x)[0] == pytest.approx(20.0)
    assert ssim(x + 0.3, x + 0.3)[0] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    a = rng.random((2, 3, 16, 16))
    assert np.all(ssim(a + rng.normal(0, 0.2, a.shape), a) < ssim(a + rng.normal(0, 0.05, a.shape), a))


def test_box_metrics():
    assert box_iou([[0, 0, 2, 2]], [[1, 0, 3, 2]])[0, 0] == pytest.approx(1 / 3)
    boxes, labels = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]])], [np.array([0, 1])]
    perfect = [{"boxes": boxes[0].astype(float), "scores": np.array([0.9, 0.8]), "labels": np.array([0, 1])}]
    assert detection_accuracy(perfect, boxes, labels)["accuracy"] == 1.0
    assert average_precision(perfect, boxes, labels, 2)["mAP"] == pytest.approx(1.0)
    wrong = [{"boxes": boxes[0].astype(float), "scores": np.array([0.9, 0.8]), "labels": np.array([1, 0])}]
    acc = detection_accuracy(wrong, boxes, labels)
    assert acc["accuracy"] == 0.0 and acc["fp"] == 2 and acc["fn"] == 2
    assert average_precision(wrong, boxes, labels, 2)["mAP"] == 0.0


# ----------------------------------------------------------------------------- fine-tuning and pretraining details
def test_finetune_starts_at_the_frozen_solution(setup):
    """The fine-tuned classifier before any step gives the frozen head's probabilities exactly, with
    fixed standardisation and with tracked statistics (eval mode)."""
    data, lvm, _ = setup
    zp, zt = L.embed(lvm, data["pool"], CPU), L.embed(lvm, data["test"], CPU)
    p, head = L.train_head(L.standardise(zp, zp), data["y_pool"], L.standardise(zt, zp), TINY, 0, 4, CPU,
                           return_head=True)
    for track in (False, True):
        clf = L.LVMClassifier(lvm, TINY.head_hidden, 4, *L.feature_scale(zp), head=head, track_stats=track)
        q = L._probs(clf, data["test"], CPU)
        np.testing.assert_allclose(q, p, atol=1e-4 if track else 1e-6)
    clf.train()
    assert clf(data["test"][:1]).shape == (1, 4)  # a batch of one falls back to the running statistics


def test_recon_loss_skip_drop_only_in_training(setup):
    data, lvm, _ = setup
    x = data["test"][:4]
    lvm.eval()
    torch.manual_seed(0)
    full = L._recon_loss(lvm, (x,), skip_drop=1.0)
    torch.manual_seed(0)
    assert torch.allclose(full, L._recon_loss(lvm, (x,), skip_drop=0.0))
    lvm.train()
    torch.manual_seed(0)
    dropped = L._recon_loss(lvm, (x,), skip_drop=1.0)
    torch.manual_seed(0)
    xa = L.dihedral(x)
    sk = lvm.encoder_stages(xa)
    ref = torch.nn.functional.l1_loss(lvm.decode([torch.zeros_like(s) for s in sk[:-1]] + [sk[-1]]), xa)
    assert torch.allclose(dropped, ref)
    lvm.eval()


def test_label_ratio_and_lower_bound():
    df = pd.DataFrame({"method": ["ResNet18 scratch"] * 2, "shots": [5, 100], "auc": [0.5, 0.6]})
    r, note = L.label_ratio({"LVM frozen + head": 10.0, "ResNet18 scratch": 50.0}, df)
    assert r == pytest.approx(5.0) and note == ""
    r, note = L.label_ratio({"LVM frozen + head": 10.0, "ResNet18 scratch": math.inf}, df)
    assert r == pytest.approx(10.0) and "lower bound" in note
    assert math.isnan(L.label_ratio({"LVM frozen + head": math.inf, "ResNet18 scratch": 5.0}, df)[0])
