"""Tests of the CNN families of the IICnet chapter and of the MAC/FLOP counter (CPU, seconds)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from astrorepro.flops import benchmark_latency, count_flops, count_macs
from astrorepro.models import count_parameters, create_model

CNNS = ["iicnet", "vgg16", "googlenet", "resnet18", "resnet34", "mobilenetv2", "efficientnetv2_s", "repvgg_a0"]
TINY = ["test_iicnet", "test_vgg", "test_googlenet", "test_resnet", "test_mobilenetv2", "test_efficientnetv2",
        "test_repvgg"]
# reduced versions of every full network, cheap enough to run forward/backward in a unit test
REDUCED = {name: dict(width=0.125, depth=0.25) for name in CNNS if name != "iicnet"} | {"iicnet": dict(width=0.5)}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("name", TINY + CNNS)
def test_forward_shape_finite_backward(name):
    torch.manual_seed(0)
    model = create_model(name, **REDUCED.get(name, {}))
    x = torch.randn(3, 4, 32, 32)
    y = model(x)
    assert y.shape == (3, 3)
    assert torch.isfinite(y).all()
    feats = model.forward_features(x)
    assert feats.shape == (3, model.num_features)
    y.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model(x[:1])).all()


@pytest.mark.parametrize("name", CNNS)
def test_in_chans_num_classes_overrides(name):
    model = create_model(name, in_chans=3, num_classes=5, **REDUCED[name])
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)


def test_full_width_parameter_counts():
    """Parameter counts at full width (4 bands, 3 classes). Reported, and bounded by the known
    ImageNet counts: removing the 1000-class head and stem changes them by a known small amount."""
    counts = {n: count_parameters(create_model(n)) for n in CNNS}
    print({n: f"{c / 1e6:.3f}M" for n, c in counts.items()})
    assert 0.05e6 < counts["iicnet"] < 0.2e6
    assert 33.0e6 < counts["vgg16"] < 34.5e6  # 14.7M conv + 2.1M + 16.8M fc
    assert 5.5e6 < counts["googlenet"] < 6.5e6  # 6.6M ImageNet incl. 1M fc
    assert 11.0e6 < counts["resnet18"] < 11.3e6  # 11.7M ImageNet incl. 0.5M fc
    assert 21.1e6 < counts["resnet34"] < 21.4e6  # 21.8M ImageNet incl. 0.5M fc
    assert 2.1e6 < counts["mobilenetv2"] < 2.35e6  # 3.5M ImageNet incl. 1.28M fc
    assert 19.5e6 < counts["efficientnetv2_s"] < 20.6e6  # 21.5M ImageNet incl. 1.28M fc
    assert 7.6e6 < counts["repvgg_a0"] < 8.0e6  # 8.3M ImageNet train form incl. 1.28M fc
    # structural: the compact network is smaller than every baseline
    assert all(counts["iicnet"] < c for n, c in counts.items() if n != "iicnet")


def test_width_multiplier_shrinks():
    for name in CNNS:
        assert count_parameters(create_model(name, **REDUCED[name])) < count_parameters(create_model(name))


def test_resnet_imagenet_stem_and_features_alias():
    model = create_model("resnet18", in_chans=3, num_classes=2, stem="imagenet", width=0.25)
    x = torch.randn(2, 3, 64, 64)
    assert model(x).shape == (2, 2)
    assert torch.equal(model.features(x), model.forward_features(x))
    with pytest.raises(ValueError, match="stem"):
        create_model("resnet18", stem="bogus")


@pytest.mark.parametrize("name,kw", [("test_repvgg", {}), ("repvgg_a0", dict(width=0.125, depth=0.25))])
def test_repvgg_reparameterisation_is_exact(name, kw):
    torch.manual_seed(0)
    model = create_model(name, **kw)
    # give the BNs non-trivial statistics and affine parameters, as after training
    model.train()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
        for _ in range(3):
            model(torch.randn(8, 4, 32, 32) * 2 + 0.3)
    model.eval()
    x = torch.randn(5, 4, 32, 32)
    with torch.no_grad():
        before = model(x)
        n_before = count_parameters(model)
        model.reparameterize()
        after = model(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert count_parameters(model) < n_before
    err = (after - before).abs().max().item() / before.abs().max().item()
    assert err < 1e-5, err
    # a model built directly in deploy form has the same structure
    deploy = create_model(name, deploy=True, **kw)
    assert [p.shape for p in deploy.parameters()] == [p.shape for p in model.parameters()]


def test_count_macs_hand_computed():
    # conv 3->5, k3, stride 1, pad 1 on 7x7: 5*7*7 outputs * (3*9 + 1 bias) = 245 * 28 = 6860
    # depthwise conv 5->5, groups 5, k3, stride 2, pad 1, no bias on 7x7 -> 4x4: 5*16*(1*9) = 720
    # linear 80 -> 4 with bias: 80*4 + 4 = 324
    net = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 5, 3, 2, 1, groups=5, bias=False),
                        nn.Flatten(), nn.Linear(80, 4))
    assert count_macs(net, (3, 7, 7)) == 6860 + 720 + 324
    assert count_macs(net, (3, 7, 7), include_bias=False) == 245 * 27 + 720 + 320
    assert count_flops(net, (3, 7, 7)) == 2 * (6860 + 720 + 324)
    # per-sample: the count does not depend on a batch; the model's train mode is restored
    net.train()
    count_macs(net, (3, 7, 7))
    assert net.training
    with pytest.raises(ValueError):
        count_macs(net, (3, 0, 7))


def test_count_macs_known_network():
    # ResNet basic block arithmetic: the 1x1 projection + two 3x3 convs, checked against the formula
    model = create_model("test_resnet", in_chans=4, num_classes=3)
    macs = count_macs(model, (4, 32, 32))
    hw1, hw2 = 32 * 32, 16 * 16
    expected = (8 * hw1 * 4 * 9  # stem
                + 2 * 8 * hw1 * 8 * 9  # block 1
                + 16 * hw2 * 8 * 9 + 16 * hw2 * 16 * 9 + 16 * hw2 * 8  # block 2 + projection
                + 16 * 3 + 3)  # fc with bias
    assert macs == expected


def test_benchmark_latency():
    net = create_model("test_iicnet")
    t = benchmark_latency(net, (4, 32, 32), batch_sizes=(1, 8), warmup=1, repeats=2)
    assert set(t) == {1, 8} and all(v > 0 for v in t.values())
    with pytest.raises(ValueError):
        benchmark_latency(net, (4, 32, 32), batch_sizes=(0,))
