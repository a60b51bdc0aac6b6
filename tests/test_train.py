"""The training loop: determinism, resume after a kill, validation, errors."""

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from astrorepro.train import History, TrainConfig, epoch_permutation, fit, predict


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(300, 6, generator=g)
    y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:2]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Dropout(0.1), nn.Linear(32, 1))
    return model, (x, y)


def _loss(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


CFG = TrainConfig(epochs=6, batch_size=32, lr=5e-3, seed=1, progress=False)


def test_same_seed_gives_identical_weights_and_losses():
    runs = []
    for _ in range(2):
        model, data = _problem()
        hist = fit(model, data, _loss, CFG, device="cpu")
        runs.append((hist.train_loss, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_training_reduces_the_loss_and_records_validation():
    model, data = _problem()
    hist = fit(model, data, _loss, CFG, device="cpu", val=data)
    assert isinstance(hist, History) and hist.epochs == 6 and len(hist.val_loss) == 6
    assert hist.train_loss[-1] < 0.5 * hist.train_loss[0]
    assert hist.steps == 6 * 10 and hist.samples == 6 * 300


def test_shuffling_depends_on_seed_and_epoch_only():
    assert torch.equal(epoch_permutation(50, 3, 2), epoch_permutation(50, 3, 2))
    assert not torch.equal(epoch_permutation(50, 3, 2), epoch_permutation(50, 3, 1))
    assert sorted(epoch_permutation(50, 3, 2).tolist()) == list(range(50))


KILLED_RUN = textwrap.dedent("""
    import os, sys, torch
    sys.path.insert(0, {tests!r})
    from test_train import _problem, _loss, CFG
    from astrorepro.train import fit
    model, data = _problem()
    def die(epoch, hist):
        if epoch == 2:           # killed abruptly after the third epoch's checkpoint
            os._exit(9)
    fit(model, data, _loss, CFG, device="cpu", checkpoint_dir={ckpt!r}, on_epoch_end=die)
""")


def test_a_killed_run_resumed_ends_like_an_uninterrupted_one(tmp_path):
    ckpt = tmp_path / "ckpt"
    script = KILLED_RUN.format(tests=str(__import__("pathlib").Path(__file__).parent), ckpt=str(ckpt))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert (ckpt / "checkpoint.pt").is_file()

    model, data = _problem()
    resumed = fit(model, data, _loss, CFG, device="cpu", checkpoint_dir=ckpt)
    assert resumed.resumed_from_epoch == 3 and resumed.epochs == 6

    ref_model, data = _problem()
    ref = fit(ref_model, data, _loss, CFG, device="cpu")
    assert resumed.train_loss == ref.train_loss
    for a, b in zip(model.parameters(), ref_model.parameters()):
        assert torch.equal(a, b)


def test_resume_refuses_a_checkpoint_of_another_configuration(tmp_path):
    model, data = _problem()
    fit(model, data, _loss, TrainConfig(epochs=1, batch_size=32, progress=False), device="cpu", checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="another configuration"):
        fit(model, data, _loss, TrainConfig(epochs=2, batch_size=16, progress=False), device="cpu", checkpoint_dir=tmp_path)


def test_bad_inputs_get_clear_errors():
    model, (x, y) = _problem()
    with pytest.raises(ValueError, match="first dimension"):
        fit(model, (x, y[:10]), _loss, CFG, device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="frozen"):
        fit(model, (x, y), _loss, CFG, device="cpu")
    with pytest.raises(ValueError, match="no CUDA GPU|unknown device"):
        fit(model, (x, y), _loss, CFG, device="tpu")


def test_diverging_loss_is_reported():
    model, data = _problem()
    bad = TrainConfig(epochs=1, batch_size=32, progress=False)
    with pytest.raises(FloatingPointError, match="loss became"):
        fit(model, data, lambda m, b: _loss(m, b) * float("nan"), bad, device="cpu")


def test_predict_batches_and_restores_mode():
    model, (x, _) = _problem()
    model.train()
    out = predict(model, x, batch_size=64, device="cpu")
    assert out.shape == (300, 1) and model.training
    model.eval()
    with torch.no_grad():
        assert torch.allclose(out, model(x))


def test_flops_of_a_training_step_are_counted_exactly():
    # Linear 10 -> 7 -> 5: forward 2*(70 + 35) FLOPs per sample; backward 2*35 (weight) + 2*35 (input
    # of the second layer) + 2*70 (weight of the first; its input needs no gradient) = 280.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 7), nn.ReLU(), nn.Linear(7, 5))
    x, y = torch.randn(64, 10), torch.randn(64, 5)
    hist = fit(model, (x, y), _loss, TrainConfig(epochs=2, batch_size=16, progress=False, desc="mlp"))
    assert hist.flops_per_sample == 210 + 280
    assert hist.desc == "mlp"
    assert 0 < hist.train_time_s <= sum(hist.epoch_time_s)
    assert hist.flops_per_s() == pytest.approx(490 * hist.samples_per_s())


def test_counting_flops_does_not_change_the_numbers(monkeypatch):
    # the first step runs under FlopCounterMode; the same run without the counter must match bit for bit
    import astrorepro.train as train

    m1, data = _problem()
    torch.manual_seed(5)
    h1 = fit(m1, data, _loss, CFG)

    class NoCounter:  # what fit sees instead of FlopCounterMode: counts nothing, changes nothing
        def __init__(self, display=False):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def get_total_flops(self):
            return 0

    monkeypatch.setattr(train, "FlopCounterMode", NoCounter)
    m2, _ = _problem()
    torch.manual_seed(5)
    h2 = fit(m2, data, _loss, CFG)
    assert h1.flops_per_sample > 0 and h2.flops_per_sample == 0
    assert h1.train_loss == h2.train_loss
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


def test_a_chapter_run_records_every_fit_as_throughput(tmp_path, monkeypatch):
    from astrorepro import chapters

    monkeypatch.setenv("ASTROREPRO_RUN_DIR", str(tmp_path))
    run = chapters.start("lmd", mode="quick", seed=0, device="cpu")
    model, data = _problem()
    fit(model, data, _loss, TrainConfig(epochs=1, batch_size=32, progress=False, desc="step A"))
    fit(model, data, _loss, TrainConfig(epochs=2, batch_size=32, progress=False, desc="step A"))
    fit(model, data, _loss, TrainConfig(epochs=1, batch_size=32, progress=False, desc="step B"))
    tp = run.throughput_table()
    assert set(tp) == {"step A", "step B"}
    assert tp["step A"]["samples"] == 3 * 300 and tp["step B"]["samples"] == 300
    assert tp["step A"]["tflops"] > 0
    assert tp["step A"]["peak_fraction"] is None  # no peak figure for a CPU
    run.finish(display=False)
    card = __import__("json").loads((tmp_path / "lmd.scorecard.json").read_text())
    assert card["provenance"]["throughput"]["step B"]["samples"] == 300
    from astrorepro.provenance import throughput_table

    table = throughput_table(tmp_path, ["lmd"], top=1)  # the longest step only
    longest = max(tp, key=lambda k: tp[k]["seconds"])
    assert list(table.index) == [("lmd", longest)] and table["samples"].iloc[0] == tp[longest]["samples"]
    # finish() uninstalls the recorder: later fits are not charged to the finished run
    fit(model, data, _loss, TrainConfig(epochs=1, batch_size=32, progress=False, desc="step C"))
    assert "step C" not in run.throughput


def test_peak_flops_is_known_for_gpus_only():
    from astrorepro.device import PEAK_BF16_TFLOPS, peak_flops

    assert peak_flops(torch.device("cpu")) is None
    assert PEAK_BF16_TFLOPS["H200"] == pytest.approx(989.4)
