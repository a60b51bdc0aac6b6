"""Swin-UNet LVM, U-Net and CenterNet detector: shapes, masks, parameter count, determinism."""

import numpy as np
import pytest
import torch

from astrorepro.models import count_parameters, create_model
from astrorepro.models import detector as det
from astrorepro.models.swin_unet import SwinBlock, SwinUNetConfig, window_partition, window_reverse


def test_paper_config_has_about_100M_parameters():
    # built on the meta device: counted, never run (the official model has 100.46M incl. an unused head)
    with torch.device("meta"):
        m = create_model("swin_unet_paper")
    cfg = m.cfg
    assert (cfg.img_size, cfg.patch_size, cfg.embed_dim, cfg.window_size) == (128, 4, 96, 8)
    assert cfg.depths == (8, 8, 8, 8) and cfg.num_heads == (8, 8, 8, 8)
    n = count_parameters(m)
    assert 95e6 < n < 105e6, n
    assert m.num_features == 768


def test_forward_shapes_and_encode():
    torch.manual_seed(0)
    m = create_model("test_swin_unet").eval()
    x = torch.rand(2, 3, 32, 32)
    rec, feat = m(x)
    assert rec.shape == x.shape
    assert feat.shape == (2, 1, m.num_features)  # 32/4 = 8 tokens -> 4 -> 2 -> 1
    assert m.encode(x).shape == (2, m.num_features)
    maps = m.encoder_maps(torch.rand(1, 3, 64, 64))  # larger input than the config: windows padded
    assert [t.shape[-1] for t in maps] == [16, 8, 4, 2]


def test_bad_input_raises():
    m = create_model("test_swin_unet")
    with pytest.raises(ValueError, match="multiples"):
        m(torch.rand(1, 3, 30, 30))
    with pytest.raises(ValueError, match="img_size"):
        create_model("test_swin_unet", img_size=36)


def test_window_partition_roundtrip():
    x = torch.randn(2, 8, 12, 5)
    assert torch.equal(window_reverse(window_partition(x, 4), 4, 2, 8, 12), x)


def test_shift_mask_blocks_cross_region_attention():
    cfg = SwinUNetConfig(embed_dim=8, num_heads=(1,), depths=(2,))
    blk = SwinBlock(8, 1, ws=4, shift=2, cfg=cfg, drop_path=0.0)
    mask = blk.shift_mask(8, 8, torch.device("cpu"))
    assert mask.shape == (4, 16, 16)
    assert torch.all(mask[0] == 0)  # the top-left window holds one region only
    assert torch.any(mask[-1] < 0)  # the corner window mixes four regions
    assert torch.equal(mask[-1], mask[-1].T)


def test_shifted_block_keeps_shape_and_is_deterministic_in_eval():
    torch.manual_seed(0)
    cfg = SwinUNetConfig(embed_dim=8, num_heads=(2,), depths=(2,), attn_drop_rate=0.0, drop_path_rate=0.0)
    blk = SwinBlock(8, 2, ws=4, shift=2, cfg=cfg, drop_path=0.0).eval()
    x = torch.randn(1, 8, 8, 8)
    assert torch.equal(blk(x), blk(x))
    assert blk(x).shape == x.shape


def test_reconstruction_training_reduces_loss():
    torch.manual_seed(0)
    m = create_model("test_swin_unet")
    x = torch.rand(4, 3, 32, 32)
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    losses = []
    for _ in range(20):
        loss = (m(x)[0] - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_unet_identity_at_init_and_shapes():
    m = create_model("test_unet").eval()
    x = torch.rand(2, 3, 16, 16)
    assert torch.allclose(m(x), x)
    assert create_model("test_unet", residual=False)(x).shape == x.shape


def test_detector_targets_loss_decode_roundtrip():
    boxes = [np.array([[8.0, 8.0, 24.0, 20.0]]), np.array([[30.0, 4.0, 38.0, 12.0], [4, 40, 12, 48]])]
    labels = [np.array([0]), np.array([1, 0])]
    heat, ind, size, off, mask = det.make_targets(boxes, labels, 2, (64, 64))
    assert heat.shape == (2, 2, 16, 16) and mask.sum() == 3
    assert heat.max() == 1.0
    # a perfect prediction built from the targets decodes back to the boxes
    big = torch.logit(heat.clamp(1e-4, 1 - 1e-4))
    sz = torch.zeros(2, 2, 16 * 16)
    of = torch.zeros(2, 2, 16 * 16)
    for i in range(2):
        for j in range(int(mask[i].sum())):
            sz[i, :, ind[i, j]] = size[i, j]
            of[i, :, ind[i, j]] = off[i, j]
    out = {"heatmap": big, "size": sz.view(2, 2, 16, 16), "offset": of.view(2, 2, 16, 16)}
    res = det.decode(out, k=5, min_score=0.5)
    assert len(res[1]["boxes"]) == 2
    np.testing.assert_allclose(np.sort(res[1]["boxes"], 0), np.sort(boxes[1], 0), atol=1e-4)
    m = create_model("test_centernet")
    loss = det.centernet_loss(m(torch.rand(2, 3, 64, 64)), heat, ind, size, off, mask)
    assert torch.isfinite(loss) and loss > 0


def test_lvm_detector_freezes_encoder():
    lvm = create_model("test_swin_unet")
    d = det.lvm_detector(lvm, num_classes=2, head_ch=8, freeze=True)
    out = d(torch.rand(1, 3, 64, 64))
    assert out["heatmap"].shape == (1, 2, 16, 16)
    assert all(not p.requires_grad for p in lvm.parameters())
    assert count_parameters(d, trainable_only=True) < count_parameters(d)
