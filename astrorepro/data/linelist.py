"""Line list of the stellar simulator: real atomic lines, hydrogen series and molecular bands.

What is real and what is not (read before trusting a line):

* **Atomic lines** (``ATOMIC_LINES``): real rest wavelengths (air, converted to vacuum with
  :func:`astrorepro.data.grids.air_to_vacuum`), lower excitation potentials chi [eV] and oscillator
  strengths log gf. The wavelengths are the standard laboratory values to 0.01-0.1 A; chi and
  log gf are *rounded* literature values (NIST / VALD-like, typed from memory and checked only for
  order of magnitude), so the simulator's line *strengths* are approximate: it is built for realistic
  responses to Teff, log g and abundances, not for precise spectral synthesis.
* **Hydrogen** (``HYDROGEN_LINES``): Balmer H-alpha ... H12 and Paschen P9 ... P16, real wavelengths;
  their strengths follow the empirical-physical law in :mod:`astrorepro.data.stars`.
* **Molecular bands** (``MOLECULAR_BANDS``): real band-head wavelengths of TiO, CaH, MgH, CH (G band),
  CN and C2; each band is modelled as one smooth absorption shape (head + exponential tail degraded
  to the red or the violet), not as its thousands of rotational lines.
* **Pseudo-lines** (:func:`pseudo_lines`): NOT real. A fixed, seeded set of weak lines with random
  wavelengths (denser in the blue, as real line density is), tagged by element, ionisation stage,
  chi and log gf. They stand for the unresolved forest of weak metal lines (line blanketing), which
  sets the blue continuum level and the metallicity sensitivity of low-resolution spectra (Gaia XP).

Elemental constants: first ionisation energies [eV] (NIST), solar photospheric abundances
A(X) = log eps (Asplund et al. 2009) and atomic masses [u].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from astrorepro.data.grids import air_to_vacuum

#: The ~20 elements whose [X/Fe] the simulator draws (APOGEE-like set, Spectra-as-Language stage 2).
ELEMENTS = ("C", "N", "O", "Na", "Mg", "Al", "Si", "S", "K", "Ca", "Ti", "V", "Cr", "Mn", "Co",
            "Ni", "Cu", "Zn", "Sr", "Ba")

#: element -> (first ionisation energy [eV], solar A(X), atomic mass [u])
ELEMENT_DATA: dict[str, tuple[float, float, float]] = {
    "C": (11.26, 8.43, 12.01), "N": (14.53, 7.83, 14.01), "O": (13.62, 8.69, 16.00),
    "Na": (5.14, 6.24, 22.99), "Mg": (7.65, 7.60, 24.31), "Al": (5.99, 6.45, 26.98),
    "Si": (8.15, 7.51, 28.09), "S": (10.36, 7.12, 32.06), "K": (4.34, 5.03, 39.10),
    "Ca": (6.11, 6.34, 40.08), "Ti": (6.83, 4.95, 47.87), "V": (6.75, 3.93, 50.94),
    "Cr": (6.77, 5.64, 52.00), "Mn": (7.43, 5.43, 54.94), "Fe": (7.90, 7.50, 55.85),
    "Co": (7.88, 4.99, 58.93), "Ni": (7.64, 6.22, 58.69), "Cu": (7.73, 4.19, 63.55),
    "Zn": (9.39, 4.56, 65.38), "Sr": (5.69, 2.87, 87.62), "Ba": (5.21, 2.18, 137.33),
}

# element, ion stage (1 = neutral, 2 = singly ionised), lambda_air [A], chi [eV], log gf, damping a0
_ATOMIC = """
Ca 2 3933.66 0.00  0.13 0.160
Ca 2 3968.47 0.00 -0.17 0.160
Ca 2 8498.02 1.69 -1.31 0.050
Ca 2 8542.09 1.70 -0.36 0.050
Ca 2 8662.14 1.69 -0.62 0.050
Ca 1 4226.73 0.00  0.24 0.250
Ca 1 4454.78 1.90  0.26 0.010
Ca 1 5588.75 2.53  0.36 0.010
Ca 1 6102.72 1.88 -0.79 0.010
Ca 1 6122.22 1.89 -0.32 0.010
Ca 1 6162.17 1.90 -0.09 0.010
Ca 1 6439.08 2.53  0.39 0.010
Ca 1 6493.78 2.52 -0.11 0.010
Mg 1 5167.32 2.71 -0.87 0.300
Mg 1 5172.68 2.71 -0.39 0.300
Mg 1 5183.60 2.72 -0.17 0.300
Mg 1 4702.99 4.35 -0.38 0.010
Mg 1 5528.41 4.35 -0.50 0.010
Mg 1 8806.76 4.35 -0.14 0.010
Mg 1 4571.10 0.00 -5.62 0.010
Mg 1 8736.02 5.95 -0.34 0.010
Mg 2 4481.13 8.86  0.74 0.010
Na 1 5889.95 0.00  0.11 0.300
Na 1 5895.92 0.00 -0.19 0.300
Na 1 8183.26 2.10  0.24 0.010
Na 1 8194.82 2.10  0.49 0.010
Na 1 5682.63 2.10 -0.71 0.010
Na 1 5688.21 2.10 -0.45 0.010
Na 1 6154.23 2.10 -1.55 0.010
Na 1 6160.75 2.10 -1.25 0.010
K 1 7664.90 0.00  0.13 0.050
K 1 7698.96 0.00 -0.17 0.050
O 1 7771.94 9.15  0.37 0.005
O 1 7774.17 9.15  0.22 0.005
O 1 7775.39 9.15  0.00 0.005
O 1 8446.36 9.52  0.17 0.005
O 1 6300.30 0.00 -9.72 0.005
C 1 9094.83 7.49  0.15 0.005
C 1 9111.80 7.49 -0.30 0.005
C 1 8335.15 7.69 -0.44 0.005
C 1 5380.34 7.68 -1.62 0.005
C 1 4932.05 7.68 -1.66 0.005
N 1 8680.28 10.34 0.35 0.005
N 1 8683.40 10.33 0.09 0.005
N 1 8686.15 10.33 -0.31 0.005
N 1 8703.25 10.33 -0.32 0.005
N 1 8711.70 10.33 -0.23 0.005
N 1 7468.31 10.34 -0.19 0.005
Al 1 3944.01 0.00 -0.64 0.010
Al 1 3961.52 0.01 -0.34 0.010
Al 1 6696.02 3.14 -1.35 0.010
Al 1 6698.67 3.14 -1.65 0.010
Al 1 7835.31 4.02 -0.69 0.010
Al 1 7836.13 4.02 -0.53 0.010
Al 1 8772.87 4.02 -0.38 0.010
Al 1 8773.90 4.02 -0.16 0.010
Si 1 3905.52 1.91 -1.09 0.010
Si 1 5708.40 4.95 -1.47 0.010
Si 1 5772.15 5.08 -1.75 0.010
Si 1 5948.54 5.08 -1.23 0.010
Si 1 6155.13 5.62 -0.75 0.010
Si 1 7405.77 5.61 -0.82 0.010
Si 1 7415.95 5.61 -0.73 0.010
Si 1 7423.50 5.62 -0.58 0.010
Si 2 6347.11 8.12  0.17 0.005
Si 2 6371.37 8.12 -0.08 0.005
Si 2 4128.05 9.84  0.36 0.005
Si 2 4130.89 9.84  0.55 0.005
S 1 6757.15 7.87 -0.31 0.005
S 1 6743.54 7.87 -0.60 0.005
S 1 8694.63 7.87  0.08 0.005
S 1 9212.86 6.52  0.42 0.005
S 1 9228.09 6.52  0.26 0.005
S 1 9237.54 6.52  0.04 0.005
Ti 1 4981.73 0.85  0.50 0.010
Ti 1 4991.07 0.84  0.38 0.010
Ti 1 4999.50 0.83  0.25 0.010
Ti 1 5064.65 0.05 -0.94 0.010
Ti 1 5173.74 0.00 -1.06 0.010
Ti 1 5192.97 0.02 -0.95 0.010
Ti 1 5210.39 0.05 -0.82 0.010
Ti 1 6258.10 1.44 -0.39 0.010
Ti 1 8426.51 0.83 -1.20 0.010
Ti 2 4395.03 1.08 -0.54 0.010
Ti 2 4443.80 1.08 -0.72 0.010
Ti 2 4468.51 1.13 -0.60 0.010
Ti 2 4501.27 1.12 -0.77 0.010
Ti 2 4533.97 1.24 -0.53 0.010
Ti 2 4563.76 1.22 -0.69 0.010
Ti 2 4571.97 1.57 -0.31 0.010
V 1 4379.24 0.30  0.58 0.010
V 1 4384.72 0.29  0.51 0.010
V 1 4389.97 0.28  0.20 0.010
V 1 4111.78 0.30  0.41 0.010
V 1 6039.73 1.06 -0.65 0.010
V 1 6081.44 1.05 -0.58 0.010
V 1 6090.21 1.08 -0.06 0.010
V 1 6251.83 0.29 -1.34 0.010
Cr 1 4254.33 0.00 -0.11 0.010
Cr 1 4274.80 0.00 -0.23 0.010
Cr 1 4289.72 0.00 -0.36 0.010
Cr 1 5204.51 0.94 -0.21 0.010
Cr 1 5206.04 0.94  0.02 0.010
Cr 1 5208.42 0.94  0.16 0.010
Cr 1 5409.78 1.03 -0.67 0.010
Cr 1 4646.17 1.03 -0.74 0.010
Mn 1 4030.75 0.00 -0.47 0.010
Mn 1 4033.06 0.00 -0.62 0.010
Mn 1 4034.48 0.00 -0.81 0.010
Mn 1 4783.42 2.30  0.04 0.010
Mn 1 4823.52 2.32  0.14 0.010
Mn 1 6013.51 3.07 -0.25 0.010
Mn 1 6016.64 3.07 -0.10 0.010
Mn 1 6021.82 3.08  0.03 0.010
Mn 1 4754.04 2.28 -0.09 0.010
Fe 1 3820.43 0.86  0.12 0.010
Fe 1 3859.91 0.00 -0.71 0.010
Fe 1 3886.28 0.05 -1.08 0.010
Fe 1 4045.81 1.49  0.28 0.010
Fe 1 4063.59 1.56  0.06 0.010
Fe 1 4071.74 1.61 -0.02 0.010
Fe 1 4202.03 1.49 -0.71 0.010
Fe 1 4260.47 2.40  0.08 0.010
Fe 1 4271.76 1.49 -0.16 0.010
Fe 1 4307.90 1.56 -0.07 0.010
Fe 1 4325.76 1.61  0.01 0.010
Fe 1 4383.55 1.49  0.20 0.010
Fe 1 4404.75 1.56 -0.14 0.010
Fe 1 4415.12 1.61 -0.62 0.010
Fe 1 4528.61 2.18 -0.82 0.010
Fe 1 4890.76 2.88 -0.39 0.010
Fe 1 4891.49 2.85 -0.11 0.010
Fe 1 4920.50 2.83  0.07 0.010
Fe 1 4957.60 2.81  0.23 0.010
Fe 1 5006.12 2.83 -0.62 0.010
Fe 1 5012.07 0.86 -2.64 0.010
Fe 1 5041.07 0.96 -3.09 0.010
Fe 1 5049.82 2.28 -1.36 0.010
Fe 1 5110.41 0.00 -3.76 0.010
Fe 1 5123.72 1.01 -3.06 0.010
Fe 1 5127.36 0.92 -3.31 0.010
Fe 1 5167.49 1.48 -1.12 0.010
Fe 1 5171.60 1.48 -1.79 0.010
Fe 1 5194.94 1.56 -2.09 0.010
Fe 1 5227.19 1.56 -1.23 0.010
Fe 1 5232.94 2.94 -0.06 0.010
Fe 1 5269.54 0.86 -1.32 0.010
Fe 1 5328.04 0.92 -1.47 0.010
Fe 1 5371.49 0.96 -1.65 0.010
Fe 1 5397.13 0.92 -1.99 0.010
Fe 1 5405.77 0.99 -1.84 0.010
Fe 1 5429.70 0.96 -1.88 0.010
Fe 1 5434.52 1.01 -2.12 0.010
Fe 1 5446.92 0.99 -1.91 0.010
Fe 1 5455.61 1.01 -2.09 0.010
Fe 1 5497.52 1.01 -2.85 0.010
Fe 1 5501.46 0.96 -3.05 0.010
Fe 1 5506.78 0.99 -2.80 0.010
Fe 1 5586.76 3.37 -0.14 0.010
Fe 1 5615.64 3.33  0.05 0.010
Fe 1 6136.61 2.45 -1.40 0.010
Fe 1 6137.69 2.59 -1.40 0.010
Fe 1 6191.56 2.43 -1.42 0.010
Fe 1 6230.72 2.56 -1.28 0.010
Fe 1 6252.56 2.40 -1.69 0.010
Fe 1 6393.60 2.43 -1.43 0.010
Fe 1 6400.00 3.60 -0.29 0.010
Fe 1 6494.98 2.40 -1.27 0.010
Fe 1 6546.24 2.76 -1.54 0.010
Fe 1 6592.91 2.73 -1.47 0.010
Fe 1 6677.99 2.69 -1.42 0.010
Fe 1 7445.75 4.26  0.03 0.010
Fe 1 7495.07 4.22 -0.10 0.010
Fe 1 8327.05 2.20 -1.53 0.010
Fe 1 8387.77 2.18 -1.49 0.010
Fe 1 8468.41 2.22 -2.07 0.010
Fe 1 8514.07 2.20 -2.23 0.010
Fe 1 8688.62 2.18 -1.21 0.010
Fe 1 8824.22 2.20 -1.54 0.010
Fe 2 4233.17 2.58 -1.81 0.005
Fe 2 4351.77 2.70 -2.10 0.005
Fe 2 4508.28 2.86 -2.31 0.005
Fe 2 4515.34 2.84 -2.45 0.005
Fe 2 4522.63 2.84 -2.03 0.005
Fe 2 4549.47 2.83 -1.75 0.005
Fe 2 4583.84 2.81 -1.86 0.005
Fe 2 4923.93 2.89 -1.32 0.005
Fe 2 5018.44 2.89 -1.22 0.005
Fe 2 5169.03 2.89 -1.30 0.005
Fe 2 5197.58 3.23 -2.10 0.005
Fe 2 5234.62 3.22 -2.15 0.005
Fe 2 5276.00 3.20 -1.94 0.005
Fe 2 5316.61 3.15 -1.85 0.005
Fe 2 6147.74 3.89 -2.72 0.005
Fe 2 6238.39 3.89 -2.75 0.005
Fe 2 6247.56 3.89 -2.31 0.005
Fe 2 6456.38 3.90 -2.08 0.005
Co 1 3845.47 0.92  0.01 0.010
Co 1 3995.31 0.92 -0.22 0.010
Co 1 4118.77 1.05 -0.49 0.010
Co 1 4121.32 0.92 -0.32 0.010
Co 1 5352.05 3.58  0.06 0.010
Co 1 5280.63 3.63 -0.03 0.010
Ni 1 3807.14 0.42 -1.22 0.010
Ni 1 3858.30 0.42 -0.95 0.010
Ni 1 4401.55 3.19  0.08 0.010
Ni 1 4714.42 3.38  0.23 0.010
Ni 1 5035.36 3.63  0.29 0.010
Ni 1 5080.53 3.65  0.33 0.010
Ni 1 5476.90 1.83 -0.89 0.010
Ni 1 6108.11 1.68 -2.44 0.010
Ni 1 6643.63 1.68 -2.30 0.010
Ni 1 6767.77 1.83 -2.17 0.010
Ni 1 7788.93 1.95 -2.42 0.010
Cu 1 5105.54 1.39 -1.52 0.010
Cu 1 5218.20 3.82  0.48 0.010
Cu 1 5782.13 1.64 -1.72 0.010
Cu 1 5700.24 1.64 -2.31 0.010
Zn 1 4722.15 4.03 -0.34 0.010
Zn 1 4810.53 4.08 -0.14 0.010
Zn 1 6362.34 5.80  0.15 0.010
Sr 2 4077.71 0.00  0.15 0.010
Sr 2 4215.52 0.00 -0.17 0.010
Sr 1 4607.33 0.00  0.28 0.010
Ba 2 4554.03 0.00  0.17 0.010
Ba 2 4934.08 0.00 -0.15 0.010
Ba 2 5853.67 0.60 -1.01 0.010
Ba 2 6141.71 0.70 -0.08 0.010
Ba 2 6496.90 0.60 -0.38 0.010
"""

# name, lambda_air [A], relative strength, series
_HYDROGEN = """
Halpha 6562.80 1.00 balmer
Hbeta 4861.33 0.85 balmer
Hgamma 4340.47 0.75 balmer
Hdelta 4101.74 0.70 balmer
Hepsilon 3970.07 0.55 balmer
H8 3889.05 0.50 balmer
H9 3835.38 0.45 balmer
H10 3797.90 0.40 balmer
H11 3770.63 0.30 balmer
H12 3750.15 0.25 balmer
P9 9229.01 0.30 paschen
P10 9014.91 0.28 paschen
P11 8862.78 0.26 paschen
P12 8750.47 0.24 paschen
P13 8665.02 0.22 paschen
P14 8598.39 0.20 paschen
P15 8545.38 0.18 paschen
P16 8502.48 0.16 paschen
"""

# molecule, head lambda_air [A], tail length [A] (>0 degraded to the red, <0 to the violet),
# element A, element B (or -), dissociation-like energy D [eV], gravity exponent p,
# reference Teff [K], reference log g, peak pseudo-optical depth at the reference (solar abundances)
_MOLECULES = """
TiO 4954.6  120 Ti O 6.87 0.0 3600 4.7 0.25
TiO 5166.7  120 Ti O 6.87 0.0 3600 4.7 0.35
TiO 5448.0  100 Ti O 6.87 0.0 3600 4.7 0.30
TiO 5847.0  100 Ti O 6.87 0.0 3600 4.7 0.30
TiO 6158.8  150 Ti O 6.87 0.0 3600 4.7 0.45
TiO 6651.3  150 Ti O 6.87 0.0 3600 4.7 0.40
TiO 7053.6  180 Ti O 6.87 0.0 3600 4.7 0.70
TiO 7589.3  150 Ti O 6.87 0.0 3600 4.7 0.35
TiO 8432.5  120 Ti O 6.87 0.0 3600 4.7 0.25
TiO 8859.6  120 Ti O 6.87 0.0 3600 4.7 0.25
CaH 6382.0   60 Ca - 4.0 0.8 3600 4.8 0.25
CaH 6750.0  100 Ca - 4.0 0.8 3600 4.8 0.30
MgH 5211.0 -300 Mg - 3.0 0.5 4200 4.7 0.20
CH 4314.0  -25 C - 2.00 0.0 5777 4.44 0.30
CN 3883.0  -40 C N 7.72 -0.2 4500 2.0 0.80
CN 4216.0  -60 C N 7.72 -0.2 4500 2.0 0.35
C2 5165.0  -50 C C 6.2 0.0 4500 2.0 0.03
C2 4737.0  -40 C C 6.2 0.0 4500 2.0 0.02
"""


@dataclass(frozen=True)
class LineList:
    """Columns of a line list as numpy arrays (one entry per line).

    Attributes:
        element: element symbol per line ("H" for hydrogen).
        ion: ionisation stage (1 neutral, 2 singly ionised).
        wave: rest wavelength in vacuum Angstrom.
        chi: lower excitation potential [eV].
        loggf: log10 of the oscillator strength times statistical weight.
        damping: damping parameter a0 at the solar photosphere.
        real: True for laboratory lines, False for the pseudo-line forest.
    """

    element: np.ndarray
    ion: np.ndarray
    wave: np.ndarray
    chi: np.ndarray
    loggf: np.ndarray
    damping: np.ndarray
    real: np.ndarray

    def __len__(self) -> int:
        return int(self.wave.size)


@dataclass(frozen=True)
class HydrogenLines:
    name: np.ndarray
    wave: np.ndarray
    strength: np.ndarray
    series: np.ndarray


@dataclass(frozen=True)
class MolecularBands:
    molecule: np.ndarray
    head: np.ndarray
    tail: np.ndarray
    elem_a: np.ndarray
    elem_b: np.ndarray
    energy: np.ndarray
    gravity_exp: np.ndarray
    teff_ref: np.ndarray
    logg_ref: np.ndarray
    tau_ref: np.ndarray


@lru_cache(maxsize=None)
def atomic_lines() -> LineList:
    """The real atomic lines (vacuum wavelengths)."""
    rows = [r.split() for r in _ATOMIC.strip().splitlines()]
    return LineList(
        element=np.array([r[0] for r in rows]), ion=np.array([int(r[1]) for r in rows]),
        wave=air_to_vacuum(np.array([float(r[2]) for r in rows])),
        chi=np.array([float(r[3]) for r in rows]), loggf=np.array([float(r[4]) for r in rows]),
        damping=np.array([float(r[5]) for r in rows]), real=np.ones(len(rows), bool))


@lru_cache(maxsize=None)
def hydrogen_lines() -> HydrogenLines:
    """Balmer and Paschen lines (vacuum wavelengths)."""
    rows = [r.split() for r in _HYDROGEN.strip().splitlines()]
    return HydrogenLines(np.array([r[0] for r in rows]), air_to_vacuum(np.array([float(r[1]) for r in rows])),
                         np.array([float(r[2]) for r in rows]), np.array([r[3] for r in rows]))


@lru_cache(maxsize=None)
def molecular_bands() -> MolecularBands:
    """Molecular band heads (vacuum wavelengths) and their strength-law parameters."""
    rows = [r.split() for r in _MOLECULES.strip().splitlines()]
    f = lambda i: np.array([float(r[i]) for r in rows])  # noqa: E731
    return MolecularBands(np.array([r[0] for r in rows]), air_to_vacuum(f(1)), f(2),
                          np.array([r[3] for r in rows]), np.array([r[4] for r in rows]), f(5), f(6),
                          f(7), f(8), f(9))


#: elements of the pseudo-line forest and their share of it (iron-peak dominated, as in real spectra)
_PSEUDO_SHARE = {"Fe": 0.40, "Ti": 0.08, "Cr": 0.07, "Ni": 0.07, "Ca": 0.05, "V": 0.04, "Mn": 0.04,
                 "Co": 0.04, "Si": 0.04, "Mg": 0.03, "Al": 0.02, "Na": 0.02, "Cu": 0.02, "Sr": 0.01,
                 "Ba": 0.01, "Zn": 0.01, "C": 0.03, "N": 0.02}
#: the (chi, log gf) classes the forest's lines take (pseudo-lines share few distinct strengths, so
#: the simulator treats each class as one column of the profile matrix)
PSEUDO_CHI = (0.5, 2.0, 3.5)
PSEUDO_LOGGF = (-2.6, -1.6)


@lru_cache(maxsize=None)
def pseudo_lines(n: int = 3000, wmin: float = 3200.0, wmax: float = 10600.0, seed: int = 12345) -> LineList:
    """The seeded pseudo-line forest (NOT real lines; see the module docstring).

    Wavelength density ~ lambda**-3 between ``wmin`` and ``wmax`` (the blue is crowded). Neutral for
    most elements; iron-peak elements get 25% singly ionised lines. Damping 0.01.
    """
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    a, b = wmin ** -2, wmax ** -2                      # inverse CDF of p(lambda) ~ lambda^-3
    wave = (a + u * (b - a)) ** -0.5
    els = np.array(list(_PSEUDO_SHARE))
    p = np.array(list(_PSEUDO_SHARE.values()))
    element = rng.choice(els, size=n, p=p / p.sum())
    ion = np.where(np.isin(element, ["Fe", "Ti", "Cr", "Sc", "V"]) & (rng.random(n) < 0.25), 2, 1)
    chi = rng.choice(PSEUDO_CHI, size=n)
    loggf = rng.choice(PSEUDO_LOGGF, size=n)
    cno = np.isin(element, ["C", "N"])           # C, N lines in the optical are high-excitation
    chi = np.where(cno, 7.5, chi)
    order = np.argsort(wave)
    return LineList(element[order], ion[order], wave[order], chi[order], loggf[order],
                    np.full(n, 0.01), np.zeros(n, bool))
