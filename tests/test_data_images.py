"""Tests of the image simulators (DECaLS-like galaxies, fields, WISE) and the real-image loaders."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammainc
from scipy.stats import spearmanr

from astrorepro.data import decals, fields, galaxies, sdss, sersic, wise
from astrorepro.paths import data_dir

RING_DIR = data_dir() / decals.RING_DIR
SDSS_PATH = sdss.sdss_table_path()
needs_rings = pytest.mark.skipif(not (RING_DIR / decals.RING_CATALOG).is_file(),
                                 reason=f"real DECaLS ring sample not found in {RING_DIR}")
needs_sdss = pytest.mark.skipif(not SDSS_PATH.is_file(),
                                reason=f"real SDSS class table not found at {SDSS_PATH}")


# ----------------------------------------------------------------------------- profile maths

def test_sersic_bn_and_normalisation():
    n = np.array([0.5, 1.0, 4.0])
    bn = sersic.sersic_bn(n)
    assert np.allclose(gammainc(2 * n, bn), 0.5)
    assert abs(bn[2] - 7.669) < 1e-3 and abs(bn[1] - 1.678) < 1e-3
    assert np.allclose(sersic.sersic_flux_fraction(1.0, n), 0.5)
    # rendered flux on a big grid equals the requested flux (to the truncation fraction, 1 %)
    re, q = np.array([3.0, 4.0, 4.0]), np.array([1.0, 0.6, 0.8])
    ie = sersic.sersic_norm(np.ones(3), n, re, q)
    img = sersic.render_profiles((160, 160), np.full(3, 80.2), np.full(3, 79.7), q, np.array([0, 1, 2.0]),
                                 sersic.sersic_fn(ie, n, re))
    expect = sersic.sersic_flux_fraction(80 / re, n)
    assert np.allclose(img.sum((1, 2)), expect, rtol=0.012)
    with pytest.raises(ValueError):
        sersic.sersic_bn(-1.0)


def _fwhm_of(img: np.ndarray) -> float:
    """FWHM in pixels of a profile peaked on a pixel: half-maximum crossing along its row."""
    i, j = np.unravel_index(np.argmax(img), img.shape)
    row = img[i, j:] / img[i, j]
    k = int(np.argmax(row < 0.5))
    return 2 * ((k - 1) + (row[k - 1] - 0.5) / (row[k - 1] - row[k]))


def _gauss_fwhm_by_moments(img: np.ndarray) -> float:
    """FWHM of a pixel-integrated Gaussian from the second moment of its marginal."""
    m = img.sum(0)
    x = np.arange(len(m))
    mu = (m * x).sum() / m.sum()
    var = (m * (x - mu) ** 2).sum() / m.sum() - 1.0 / 12.0
    return 2.3548 * np.sqrt(var)


@pytest.mark.parametrize("kind", ["moffat", "gaussian"])
def test_psf_fwhm_in_pixels(kind):
    x = np.zeros((2, 1, 96, 96), np.float32)
    x[:, 0, 48, 48] = 1.0
    fw = np.array([[4.0], [6.0]])
    out = sersic.convolve_psf(x, fw, kind=kind)
    assert np.allclose(out.sum((2, 3)), 1.0, atol=1e-4)
    for k in range(2):
        assert abs(_fwhm_of(out[k, 0]) - fw[k, 0]) / fw[k, 0] < 0.03


# ----------------------------------------------------------------------------- galaxies

def test_four_class_mapping_covers_all_ten():
    assert set(galaxies.GALAXY10_TO_LVM4) == set(range(10))
    assert set(galaxies.GALAXY10_TO_LVM4.values()) == set(range(4))
    m = galaxies.to_lvm4(np.arange(10))
    names = [galaxies.LVM4_CLASSES[i] for i in m]
    assert names[2] == names[3] == names[4] == "elliptical"
    assert names[8] == names[9] == "edge-on" and names[0] == names[1] == "other"
    assert names[5] == names[6] == names[7] == "spiral"
    with pytest.raises(ValueError):
        galaxies.to_lvm4([3, 10])


def test_galaxy_shapes_truth_and_determinism():
    a = galaxies.simulate_galaxies(24, seed=5, scheme="galaxy10", labels=np.arange(24) % 10)
    b = galaxies.simulate_galaxies(24, seed=5, scheme="galaxy10", labels=np.arange(24) % 10)
    c = galaxies.simulate_galaxies(24, seed=6, scheme="galaxy10", labels=np.arange(24) % 10)
    assert a.images.shape == (24, 3, 64, 64) and a.images.dtype == np.float32
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)
    t = a.truth
    for col in ("galaxy10", "lvm4", "mag_r", "n", "re_px", "q", "pa_deg", "x0", "y0",
                "psf_fwhm_r", "sigma_r", "snr_r"):
        assert col in t and np.isfinite(t[col]).all()
    assert (t["lvm4"] == galaxies.to_lvm4(t["galaxy10"])).all()
    assert t["psf_fwhm_g"].between(1.0, 1.6).all() and t["psf_fwhm_z"].between(1.0, 1.6).all()
    assert (a.truth["mag_g"] > a.truth["mag_r"]).all()  # galaxies are redder than g-r = 0
    rgb = a.to_rgb()
    assert rgb.images.shape == (24, 3, 64, 64) and rgb.units == "rgb"
    assert rgb.images.min() >= 0 and rgb.images.max() <= 1
    d = galaxies.simulate_galaxies(40, seed=1)  # lvm4 scheme: labels and truth agree
    assert (d.truth["lvm4"].to_numpy() == d.labels).all() and d.class_names == galaxies.LVM4_CLASSES


def test_total_flux_matches_magnitude_within_noise():
    # discs with bulges and arms (R_e <~ 10 px) in a 160-pixel stamp that truncates < 0.5 %
    g = galaxies.simulate_galaxies(16, seed=2, scheme="galaxy10", labels=np.full(16, 6),
                                   size=160, size_scale=0.5, mag_range=(17.0, 18.0))
    f_true = 10 ** (-0.4 * (g.truth["mag_r"].to_numpy() - 22.5))
    f_meas = g.images[:, 1].sum((1, 2))
    noise = g.truth["sigma_r"].to_numpy() * 160  # sqrt(160*160) pixels
    assert np.all(np.abs(f_meas - f_true) < 5 * noise + 0.03 * f_true)
    # the noise-free flux in the stamp (truth column) agrees with the noisy sum within noise
    assert np.all(np.abs(g.truth["flux_stamp_r"] - f_meas) < 5 * noise)


def test_edge_on_discs_are_thin_and_round_smooth_are_round():
    e = galaxies.simulate_galaxies(12, seed=3, scheme="galaxy10", labels=np.full(12, 8), noise_scale=0.0)
    r = galaxies.simulate_galaxies(12, seed=3, scheme="galaxy10", labels=np.full(12, 2), noise_scale=0.0)
    qe = galaxies.measure_morphology(e.images[:, 1])["q"]
    qr = galaxies.measure_morphology(r.images[:, 1])["q"]
    assert (qe < 0.5).all() and (qr > 0.6).all()


def test_larger_re_gives_larger_half_light_radius():
    g = galaxies.simulate_galaxies(40, seed=4, scheme="galaxy10", labels=np.full(40, 3), noise_scale=0.0)
    m = galaxies.measure_morphology(g.images[:, 1])
    rho = spearmanr(g.truth["re_px"], m["r50"]).statistic
    assert rho > 0.8
    big = galaxies.simulate_galaxies(20, seed=4, scheme="galaxy10", labels=np.full(20, 3),
                                     noise_scale=0.0, size_scale=1.6)
    assert galaxies.measure_morphology(big.images[:, 1])["r50"].median() > m["r50"].median()


def test_bad_simulator_inputs():
    with pytest.raises(ValueError, match="n must be"):
        galaxies.simulate_galaxies(0)
    with pytest.raises(ValueError, match="scheme"):
        galaxies.simulate_galaxies(4, scheme="hubble")
    with pytest.raises(ValueError, match="classes"):
        galaxies.simulate_galaxies(4, classes=[7])
    with pytest.raises(ValueError, match="labels"):
        galaxies.simulate_galaxies(3, scheme="galaxy10", labels=[0, 11, 2])
    with pytest.raises(ValueError):
        wise.simulate_wise(5, class_fractions="most", sdss=None)
    with pytest.raises(ValueError):
        decals.dr2_rgb(np.zeros((2, 4, 8, 8)))


def test_rgb_mappings_are_monotonic():
    x = np.linspace(0, 2, 20, dtype=np.float32)[:, None, None, None] * np.ones((1, 3, 4, 4), np.float32)
    for fn in (decals.dr2_rgb, decals.gz_rgb):
        y = fn(x)
        assert y.shape == (20, 3, 4, 4) and y.min() >= 0 and y.max() <= 1
        grey = y.mean((1, 2, 3))
        assert np.all(np.diff(grey) >= 0) and grey[-1] > grey[0]
    assert decals.resize_images(np.ones((2, 3, 64, 64)), 32).shape == (2, 3, 32, 32)


# ----------------------------------------------------------------------------- fields

def test_field_boxes_contain_their_objects():
    f = fields.simulate_fields(6, seed=0, size=96, n_galaxies=(1, 1), n_stars=(0, 0),
                               config=galaxies.GalaxySimConfig(size_scale=0.5, noise_scale=0.0))
    assert f.images.shape == (6, 3, 96, 96)
    for k in range(6):
        (x0, y0, x1, y1), = f.boxes[k]
        o = f.objects[f.objects.field == k].iloc[0]
        assert x0 <= o.x <= x1 and y0 <= o.y <= y1
        img = f.images[k, 1]
        inside = img[int(np.ceil(y0)):int(np.floor(y1)) + 1, int(np.ceil(x0)):int(np.floor(x1)) + 1].sum()
        assert inside / img.sum() > 0.6
    g = fields.simulate_fields(4, seed=1, size=128)
    assert all(len(b) == len(lab) and len(b) >= 1 for b, lab in zip(g.boxes, g.labels))
    ob = g.objects
    assert ((ob.box_x0 <= ob.x.clip(-0.5, 127.5)) & (ob.x.clip(-0.5, 127.5) <= ob.box_x1)).all()
    assert set(np.concatenate(g.labels)) <= {0, 1}


# ----------------------------------------------------------------------------- WISE

def _deep(n, seed, **kw):
    return wise.simulate_wise(n, seed=seed, sdss=None, neighbour_rate=0.0,
                              depth_offset=(20.0, 20.0, 20.0, 20.0), depth_scatter=0.0, **kw)


def test_wise_shapes_determinism_and_truth():
    a = wise.simulate_wise(30, seed=1, sdss=None)
    b = wise.simulate_wise(30, seed=1, sdss=None)
    assert a.images.shape == (30, 4, 32, 32) and a.images.dtype == np.float32
    assert np.array_equal(a.images, b.images)
    for col in ("class", "W1", "W2", "W3", "W4", "w1_w2", "w2_w3", "extended", "re_arcsec",
                "snr_W1", "snr_W4"):
        assert col in a.truth
    assert a.bands_subset(["W1", "W2", "W3"]).images.shape == (30, 3, 32, 32)


def test_wise_psf_fwhm_and_flux():
    s = _deep(4, 0, class_fractions=(0, 0, 1), centre_jitter=0.0)
    fwhm_px = wise.WISE_FWHM / wise.WISE_PIXEL_SCALE
    for b in range(4):
        assert abs(_gauss_fwhm_by_moments(s.images[0, b]) - fwhm_px[b]) / fwhm_px[b] < 0.03
    f = 10 ** (-0.4 * (s.truth[["W1", "W2", "W3", "W4"]].to_numpy() - 22.5))
    assert np.allclose(s.images.sum((2, 3))[:, :3], f[:, :3], rtol=0.01)
    # galaxies: flux in the stamp within 10 % (wide Sérsic wings leave the 88" stamp)
    g = _deep(10, 1, class_fractions=(1, 0, 0))
    fg = 10 ** (-0.4 * (g.truth["W1"].to_numpy() - 22.5))
    meas = g.images[:, 0].sum((1, 2))
    assert np.all(meas <= fg * 1.01) and np.all(meas > 0.85 * fg)


def test_quasars_redder_than_stars_in_w1_w2_measured_from_images():
    s = _deep(60, 2, class_fractions=(0, 1, 1))
    flux = s.images[:, :2, 8:24, 8:24].sum((2, 3))
    col = -2.5 * np.log10(flux[:, 0] / flux[:, 1])
    q, st = s.labels == 1, s.labels == 2
    assert q.sum() > 10 and st.sum() > 10
    assert np.median(col[q]) > np.median(col[st]) + 0.6
    assert s.truth["w1_w2"][q].mean() > s.truth["w1_w2"][st].mean() + 0.6


def test_w3_w4_noisier_than_w1():
    w = wise.simulate_wise(300, seed=3, sdss=None)
    t = w.truth
    assert (t["snr_W3"] < t["snr_W1"]).mean() > 0.9 and (t["snr_W4"] < t["snr_W1"]).mean() > 0.9
    assert (t["snr_W4"] < 3).mean() > 0.5 and (t["snr_W1"] < 3).mean() < 0.2
    # extended flag only for galaxies
    assert not t["extended"][t["class_name"] != "galaxy"].any()


# ----------------------------------------------------------------------------- loaders, bad files

def test_ring_split_rule():
    ids = np.array([f"J{i:03d}" for i in range(440)])[::-1]
    rings = np.zeros(440, int)
    srt = np.argsort(ids)
    rings[srt[0:400:8]] = 1  # half of the every-4th positions
    rings[srt[1:400:4][:170]] = 1
    tr, te = decals.ring_split(ids, rings)
    assert len(te) == 100 and len(tr) == 340 and not set(tr) & set(te)
    assert sorted(ids[te]) == sorted(ids)[0:400:4]
    rings[srt[0]] = 0
    with pytest.raises(ValueError, match="50/50"):
        decals.ring_split(ids, rings)


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="ring_catalog.csv"):
        decals.load_ring_catalog(tmp_path)
    (tmp_path / "ring_catalog.csv").write_text("id_str,file_loc\nJ1,a.jpg\n")
    with pytest.raises(ValueError, match=r"ring_catalog.csv.*missing required columns \['ring'\]"):
        decals.load_ring_catalog(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        decals.read_rgb_image(tmp_path / "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(ValueError, match="bad.jpg"):
        decals.read_rgb_image(bad)
    with pytest.raises(FileNotFoundError, match="sdss_dr14_10k.csv"):
        sdss.load_sdss_classes(tmp_path)
    (tmp_path / "sdss_dr14_10k.csv").write_text("ra,dec,u,g,r,class\n1,2,3,4,5,STAR\n")
    with pytest.raises(ValueError, match="missing required columns"):
        sdss.load_sdss_classes(tmp_path)
    (tmp_path / "sdss_dr14_10k.csv").write_text(
        "ra,dec,u,g,r,i,z,class,redshift\n1,2,3,4,5,6,7,PLANET,0\n")
    with pytest.raises(ValueError, match="PLANET"):
        sdss.load_sdss_classes(tmp_path)


def test_wise_falls_back_with_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("ASTROREPRO_DATA_DIR", str(tmp_path))
    with pytest.warns(UserWarning, match="default class fractions"):
        w = wise.simulate_wise(20, seed=0)
    assert len(w) == 20


@needs_rings
def test_real_rings_loader_and_fixed_split(tmp_path):
    test = decals.load_decals_rings(size=32, split="test")
    train = decals.load_decals_rings(size=32, split="train")
    assert test.images.shape == (100, 3, 32, 32) and len(train) == 340
    assert test.labels.sum() == 50 and train.labels.sum() == 170
    assert not set(test.ids) & set(train.ids)
    assert sorted(test.ids) == sorted(np.concatenate([test.ids, train.ids]))[0:400:4]
    assert 0 <= test.images.min() and test.images.max() <= 1 and test.units == "rgb"
    # a truncated copy of a real JPEG gives a clear error naming the file
    src = RING_DIR / test.truth["file_loc"].iloc[0]
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(src.read_bytes()[:2000])
    with pytest.raises(ValueError, match="cut.jpg"):
        decals.read_rgb_image(cut)


@needs_sdss
def test_real_sdss_table_and_wise_class_mix():
    t = sdss.load_sdss_classes()
    assert len(t) == 10000
    assert t["class"].value_counts().to_dict() == {"GALAXY": 4998, "STAR": 4152, "QSO": 850}
    w = wise.simulate_wise(2000, seed=0)
    frac = np.bincount(w.labels, minlength=3) / 2000
    assert np.allclose(frac, [0.4998, 0.085, 0.4152], atol=0.04)
    # r-band magnitudes come from the table: medians agree per class
    for c, name in enumerate(("GALAXY", "QSO", "STAR")):
        med = t.loc[t["class"] == name, "r"].median()
        assert abs(w.truth.loc[w.labels == c, "r"].median() - med) < 0.15


def test_image_containers_share_one_base_and_check_their_shapes():
    import numpy as np
    import pandas as pd

    from astrorepro.data.galaxies import GalaxyImages
    from astrorepro.data.images import LabelledImages
    from astrorepro.data.wise import WiseImages

    truth = pd.DataFrame({"z": np.arange(5)})
    w = WiseImages(np.zeros((5, 4, 8, 8), np.float32), np.arange(5) % 3, ("galaxy", "quasar", "star"), truth)
    assert isinstance(w, LabelledImages) and w.bands == ("W1", "W2", "W3", "W4")
    sub = w.subset(np.array([True, False, True, False, False]))
    assert isinstance(sub, WiseImages) and list(sub.ids) == [0, 2] and list(sub.truth.z) == [0, 2]
    assert w.bands_subset(["W1", "W2"]).images.shape == (5, 2, 8, 8)
    with pytest.raises(ValueError, match="unknown band"):
        w.bands_subset(["W5"])
    with pytest.raises(ValueError, match="band names"):
        GalaxyImages(np.zeros((5, 4, 8, 8), np.float32), np.zeros(5, int), ("a",), truth)
    with pytest.raises(ValueError, match="same length"):
        GalaxyImages(np.zeros((4, 3, 8, 8), np.float32), np.zeros(5, int), ("a",), truth)
