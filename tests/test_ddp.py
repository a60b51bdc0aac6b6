"""The training loop under torchrun with distributed data parallel (two CPU processes, gloo) gives the
same result as the single-process run, within floating-point tolerance."""

import subprocess
import sys
import textwrap

import torch
from torch import nn

from astrorepro.train import TrainConfig, fit

CFG = TrainConfig(epochs=4, batch_size=30, lr=5e-3, seed=2, progress=False)


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(250, 5, generator=g)  # 250 = 8 full batches of 30 and one of 10
    y = x[:, :1] * x[:, 1:2] + torch.cos(x[:, 2:3])
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 24), nn.Tanh(), nn.Linear(24, 1)), (x, y)


def _loss(model, batch):
    return nn.functional.mse_loss(model(batch[0]), batch[1])


SCRIPT = textwrap.dedent("""
    import sys, torch, torch.distributed as dist
    sys.path.insert(0, {tests!r})
    from test_ddp import CFG, _problem, _loss
    from astrorepro.train import fit
    dist.init_process_group("gloo")
    model, data = _problem()
    hist = fit(model, data, _loss, CFG, device="cpu")
    if dist.get_rank() == 0:
        torch.save({{"state": model.state_dict(), "loss": hist.train_loss}}, {out!r})
    dist.destroy_process_group()
""")


def test_two_process_ddp_matches_single_process(tmp_path):
    from pathlib import Path

    script = tmp_path / "ddp_run.py"
    out = tmp_path / "ddp.pt"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent), out=str(out)))
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = torch.load(out)

    model, data = _problem()
    fit(model, data, _loss, CFG, device="cpu")
    for name, p in model.state_dict().items():
        torch.testing.assert_close(ddp["state"][name], p, rtol=1e-4, atol=1e-5, msg=f"parameter {name} differs")
    assert ddp["loss"][-1] < ddp["loss"][0]
