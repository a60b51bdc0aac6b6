"""Unit tests of the SpecCLIP model family: SpecFormer, XP-OAE, the CLIP loss and the composed model."""

import math

import pytest
import torch

from astrorepro.models import count_parameters, create_model
from astrorepro.models.clip_loss import SPECCLIP_LOGIT_SCALE, ClipLoss, clip_logits
from astrorepro.models.specformer import SpecFormerConfig, chunk_mask, masked_mse, n_tokens, tokenize
from astrorepro.models.xp_autoencoder import XP_NORM_INDEX, xp_preprocess

torch.set_num_threads(1)


# -- SpecFormer ---------------------------------------------------------------------------------------


def test_paper_tokenisation_is_146_by_21():
    cfg = SpecFormerConfig()
    assert (cfg.n_tokens, cfg.n_feat) == (146, 21)
    x = torch.rand(3, 1462) + 0.5
    tok = tokenize(x)
    assert tok.shape == (3, 146, 21)
    z = (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True)
    # token k (k >= 1) holds pixels 10(k-1) .. 10(k-1)+19 of the standardised spectrum
    assert torch.allclose(tok[:, 1, 1:], z[:, :20], atol=1e-5)
    assert torch.allclose(tok[:, 5, 1:], z[:, 40:60], atol=1e-5)
    assert torch.allclose(tok[:, 0, 0], torch.log10(x.std(1)), atol=1e-6)
    assert torch.all(tok[:, 0, 1:] == 0) and torch.all(tok[:, 1:, 0] == 0)


def test_tokenize_rejects_bad_shapes():
    with pytest.raises(ValueError, match="B, n_pix"):
        tokenize(torch.zeros(1462))
    with pytest.raises(ValueError, match="shorter"):
        n_tokens(10, 20, 10)


def test_chunk_mask_one_contiguous_chunk_per_section():
    g = torch.Generator().manual_seed(0)
    m = chunk_mask(8, 146, 6, 10, generator=g)
    assert m.shape == (8, 146)
    assert not m[:, 0].any()  # statistics token never masked
    assert torch.all(m.sum(1) == 60)
    sec = 145 // 6
    for c in range(6):
        part = m[:, 1 + c * sec: 1 + (c + 1) * sec]
        assert torch.all(part.sum(1) == 10)
        # contiguous: exactly one rising edge inside the section
        edges = (part[:, 1:].int() - part[:, :-1].int() == 1).sum(1) + part[:, 0].int()
        assert torch.all(edges == 1)


def test_masked_mse_counts_only_masked_tokens():
    pred, target = torch.zeros(2, 5, 3), torch.ones(2, 5, 3)
    target[:, 0] = 100.0  # unmasked error must not count
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[:, 2:4] = True
    assert masked_mse(pred, target, mask).item() == pytest.approx(1.0)


def test_specformer_shapes_and_learns_masked_reconstruction():
    torch.manual_seed(0)
    m = create_model("test_specformer")
    n_pix = m.cfg.n_pix
    lam = torch.linspace(0, 1, n_pix)
    x = 1 + 0.3 * torch.sin(20 * lam + torch.rand(64, 1) * 3)  # smooth family of spectra
    tok = m.tokenize(x)
    assert tok.shape == (64, m.cfg.n_tokens, 21)
    out = m(tok)
    assert out["embedding"].shape == (64, m.cfg.n_tokens, m.cfg.d_model)
    assert out["reconstruction"].shape == tok.shape
    assert m.pool(x).shape == (64, m.cfg.d_model)
    g = torch.Generator().manual_seed(1)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    first = m.masked_loss(tok, generator=g).item()
    for _ in range(60):
        loss = m.masked_loss(tok, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_full_specformer_size_matches_paper():
    m = create_model("specformer_lrs")
    n = count_parameters(m)
    assert 40e6 < n < 46e6  # model card: 43 M
    assert (m.cfg.d_model, m.cfg.n_layers, m.cfg.n_heads) == (768, 6, 6)
    with pytest.raises(ValueError, match="pixels"):
        m.tokenize(torch.rand(1, 1000))


def test_specformer_rejects_bad_config():
    with pytest.raises(ValueError, match="divisible"):
        create_model("test_specformer", d_model=15)


# -- XP auto-encoder ---------------------------------------------------------------------------------


def test_xp_preprocess_normalises_at_550nm():
    wave = torch.arange(336, 1022, 2.0)
    assert wave.numel() == 343 and wave[XP_NORM_INDEX] == 550
    flux = torch.rand(4, 343) + 0.5
    x = xp_preprocess(flux * 7.0)  # overall scale must not matter
    assert x.shape == (4, 345)
    assert torch.allclose(x, xp_preprocess(flux), atol=1e-5)
    assert torch.allclose(x[:, 2:].mean(1), torch.zeros(4), atol=1e-5)
    with pytest.raises(ValueError, match="550"):
        xp_preprocess(torch.zeros(2, 343))


def test_xp_oae_size_and_training():
    n = count_parameters(create_model("xp_oae"))
    assert 41e6 < n < 45e6  # model card: 43 M
    torch.manual_seed(0)
    m = create_model("test_xp_oae")
    x = torch.randn(32, 3) @ torch.randn(3, m.cfg.n_in)  # rank-3 data: compressible
    out = m(x)
    assert out["embedding"].shape == (32, m.cfg.latent) and out["reconstruction"].shape == x.shape
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    first = m.loss(x).item()
    for _ in range(100):
        loss = m.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
    with pytest.raises(ValueError, match="inputs"):
        m.encode(torch.zeros(2, 5))


# -- CLIP loss ---------------------------------------------------------------------------------------


def test_clip_loss_matches_explicit_formula_and_is_symmetric():
    torch.manual_seed(0)
    a, b = torch.randn(6, 4), torch.randn(6, 4)
    loss = ClipLoss()(a, b)
    s = SPECCLIP_LOGIT_SCALE
    an, bn = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    l = s * an @ bn.T
    manual = -0.5 * (torch.log_softmax(l, 1).diag().mean() + torch.log_softmax(l.T, 1).diag().mean())
    assert loss.item() == pytest.approx(manual.item(), rel=1e-5)
    assert ClipLoss()(b, a).item() == pytest.approx(loss.item(), rel=1e-5)


def test_clip_loss_limits_and_fixed_scale():
    n = 8
    e = torch.eye(n)
    perfect = ClipLoss()(e, e).item()
    assert perfect == pytest.approx(math.log(1 + (n - 1) * math.exp(-15.5)), abs=1e-6)  # matched pairs (float32)
    same = ClipLoss()(torch.ones(n, 3), torch.ones(n, 3)).item()
    assert same == pytest.approx(math.log(n), rel=1e-5)  # indistinguishable pairs: log N
    mod = ClipLoss()
    assert len(list(mod.parameters())) == 0 and float(mod.logit_scale) == 15.5
    assert ClipLoss.mi_lower_bound(same, n) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError):
        ClipLoss(0.0)
    with pytest.raises(ValueError, match="equal shape"):
        clip_logits(torch.zeros(3, 2), torch.zeros(4, 2), 1.0)


# -- Composed SpecCLIP -------------------------------------------------------------------------------


def _batch(model, n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = model.cfg
    lat = torch.randn(n, 4, generator=g)  # a shared latent "star" drives both views
    lrs_tok = (lat @ torch.randn(4, c.d_lrs, generator=g)).unsqueeze(1).repeat(1, 7, 1)
    lrs_tok = lrs_tok + 0.1 * torch.randn(n, 7, c.d_lrs, generator=g)
    xp_lat = lat @ torch.randn(4, c.d_xp, generator=g)
    lrs = lat @ torch.randn(4, c.n_lrs, generator=g)
    xp = lat @ torch.randn(4, c.n_xp, generator=g)
    return (lrs_tok, xp_lat, (lrs - lrs.mean(1, keepdim=True)) / lrs.std(1, keepdim=True), lrs, xp)


@pytest.mark.parametrize("variant", ["base", "pr", "split"])
def test_specclip_variants_shapes_and_alignment(variant):
    torch.manual_seed(0)
    m = create_model("test_specclip", variant=variant)
    batch = _batch(m)
    e_l, e_x = m.encode_lrs(batch[0]), m.encode_xp(batch[1])
    assert e_l.shape == e_x.shape == (16, m.cfg.embed_dim)
    assert m.shared(e_l).shape[1] == (m.cfg.n_shared if variant == "split" else m.cfg.embed_dim)
    loss, parts = m.loss(batch)
    assert set(parts) == ({"clip"} if variant == "base" else {"clip", "rec", "pred"})
    if variant != "base":
        assert m.predict(e_x, "lrs").shape == (16, m.cfg.n_lrs)
        assert m.reconstruct(e_x, "xp").shape == (16, m.cfg.n_xp)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    first = parts["clip"]
    for _ in range(40):
        loss, parts = m.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert parts["clip"] < 0.5 * first


def test_split_cross_decoder_ignores_private_dims():
    torch.manual_seed(0)
    m = create_model("test_specclip", variant="split").eval()
    e = torch.randn(4, m.cfg.embed_dim)
    e2 = e.clone()
    e2[:, m.cfg.n_shared:] = torch.randn(4, m.cfg.n_private)
    assert torch.allclose(m.predict(e, "lrs"), m.predict(e2, "lrs"))
    assert not torch.allclose(m.reconstruct(e, "lrs"), m.reconstruct(e2, "lrs"))


def test_specclip_full_sizes_and_errors():
    assert 13e6 < count_parameters(create_model("specclip_base")) < 15e6  # 7.08 M + 7.1 M heads
    pr_dec = count_parameters(create_model("specclip_pr")) - count_parameters(create_model("specclip_base"))
    assert 67e6 < pr_dec < 70e6  # 2 x (8.5 M + 25.7 M) decoders
    with pytest.raises(ValueError, match="variant"):
        create_model("test_specclip", variant="clip-r")
    with pytest.raises(ValueError, match="n_shared"):
        create_model("test_specclip", variant="split", n_shared=16)


@pytest.mark.parametrize("d_in", [32, 48])
def test_lrs_head_pooling_equals_multihead_attention(d_in):
    """The folded single-query pooling is nn.MultiheadAttention(query, tokens, tokens), values and gradients."""
    from astrorepro.models.specclip import LRSHead

    torch.manual_seed(0)
    head = LRSHead(d_in, 32, n_heads=4, ratio=2, dropout=0.0)
    with torch.no_grad():  # non-zero biases and a query of ordinary size, so that every term is exercised
        head.attn.in_proj_bias.normal_()
        head.query.normal_()
    tokens = torch.randn(5, 17, d_in, dtype=torch.float64, requires_grad=True)
    head = head.double()
    ours = head.pool(tokens)
    ref = head.attn(head.query.expand(5, -1, -1), tokens, tokens, need_weights=False)[0].squeeze(1)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    g_ours = torch.autograd.grad(ours.square().sum(), [tokens, head.query, *head.attn.parameters()])
    g_ref = torch.autograd.grad(ref.square().sum(), [tokens, head.query, *head.attn.parameters()])
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
