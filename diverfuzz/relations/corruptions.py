"""Weather, lens and colour corruptions and smooth geometric distortions.

Fog, vignetting, adaptive histogram equalisation, a colour shift for RGB
images, elastic deformation and a perspective tilt. All but
``channel_shift`` (RGB only) work for any channel count.

Notes
-----
Fog, elastic deformation and colour changes follow ImageNet-C and its
extensions (Hendrycks & Dietterich, ICLR 2019); the elastic field follows
Simard et al. (ICDAR 2003).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import draws
from .adapthist import equalize_adapthist_stack
from .noise import SEED_SPEC
from .relation import ParamSpec, Relation, RelationError
from .sampling import sample_bilinear, warp_batch

__all__ = [
    "fog",
    "vignette",
    "clahe",
    "channel_shift",
    "elastic",
    "perspective",
    "homography",
    "smooth_field",
    "RELATIONS",
]


def smooth_field(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Uniform noise smoothed by a Gaussian of ``sigma`` pixels, rescaled to ``[0, 1]``.

    A constant field (e.g. a 1x1 image) is returned as all ``0.5``.
    (:func:`diverfuzz.relations.draws.smoothed_uniform`.)
    """
    return draws.smoothed_uniform(shape, sigma, rng)


def fog(x: np.ndarray, *, density: float, seed: int) -> np.ndarray:
    """Haze: blend towards white with a smooth, patchy transmission map.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    density : float
        Haze opacity in ``[0, 0.6]``; identity ``0``. The opacity map is
        ``density * (0.5 + 0.5 * field)`` with a smooth random field.
    seed : int
        Seed of the field in ``[0, 2**31 - 1]``; identity ``0`` (irrelevant
        when ``density`` is 0).

    Notes
    -----
    The atmospheric scattering model ``I = J t + A (1 - t)`` with airlight
    ``A = 1`` (Narasimhan & Nayar, 2002), with a patchy map in place of the
    plasma fractal of ImageNet-C "fog" (Hendrycks & Dietterich, 2019).
    The field, ``smooth_field((h, w), max(h, w) / 8,
    np.random.default_rng(seed))``, depends only on ``seed``, ``h`` and
    ``w``; it comes from the memo of :mod:`diverfuzz.relations.draws` (the same
    values, computed once per seed and size). Computed by the batched
    implementation on one row, with the same elementwise float64
    arithmetic as before (the result is unchanged, bit for bit).
    """
    return _fog_batch(x[None], [{"density": density, "seed": seed}])[0]


def _fog_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    # Per row: haze = density * (0.5 + 0.5 * field), float64, elementwise; the
    # fields are memoised draws (one per seed and size), stacked (N, 1, H, W).
    _, _, h, w = xs.shape
    out = np.empty(xs.shape, dtype=np.float32)
    step = max(1, 2**16 // xs[0].size)  # large inputs: a few rows at a time (float64 temporaries stay in cache)
    for i in range(0, len(xs), step):
        rows = params[i : i + step]
        fields = np.stack([draws.smooth_field(p["seed"], h, w) for p in rows])[:, None]
        density = np.array([p["density"] for p in rows], dtype=np.float64)[:, None, None, None]
        haze = density * (0.5 + 0.5 * fields)
        out[i : i + step] = xs[i : i + step] * (1.0 - haze) + haze  # float64 rounded to float32, as astype
    return out


def _vignette_mask(h: int, w: int, strength: float) -> np.ndarray:
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.mgrid[0:h, 0:w]
    norm = cy**2 + cx**2
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / norm if norm > 0 else np.zeros((h, w))
    return (1.0 - strength * r2).astype(np.float32)


def vignette(x: np.ndarray, *, strength: float) -> np.ndarray:
    """Darken towards the corners: ``x * (1 - strength * r^2)``.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    strength : float
        Darkening at the corners in ``[0, 0.8]``; identity ``0``. ``r`` is
        the distance to the centre divided by the centre-to-corner distance.

    Notes
    -----
    Natural (cos^4-like) lens vignetting, one of the camera effects of
    Hendrycks & Dietterich (2019)'s extended corruptions, as a quadratic
    fall-off.
    """
    _, h, w = x.shape
    return x * _vignette_mask(h, w, strength)


def _vignette_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    _, _, h, w = xs.shape
    masks = np.stack([_vignette_mask(h, w, p["strength"]) for p in params])
    return xs * masks[:, None]


def clahe(x: np.ndarray, *, clip_limit: float, mix: float) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation, blended with the input.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    clip_limit : float
        CLAHE clip limit in ``[0.005, 0.1]``; identity ``0.01`` (irrelevant
        when ``mix`` is 0). Larger values give more contrast.
    mix : float
        Weight of the equalised image in ``[0, 1]``; identity ``0``.

    Notes
    -----
    ``skimage.exposure.equalize_adapthist`` (Zuiderveld, 1994) on each
    channel separately, tiles of ``max(2, min(H, W) // 4)`` pixels; constant
    channels are left as they are. Computed by
    :func:`diverfuzz.relations.adapthist.equalize_adapthist_stack`, bit for
    bit scikit-image's result with all tiles (and, batched, all channels of
    all rows) at once; the result is unchanged, bit for bit. Histogram
    equalisation is a DeepTest-era photometric relation (Tian et al., 2018).
    """
    return _clahe_batch(x[None], [{"clip_limit": clip_limit, "mix": mix}])[0]


def _clahe_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    # No per-row loop: every non-constant channel of every row is equalised in
    # one stack (per-image histograms, minima and maxima: row-independent).
    _, _, h, w = xs.shape
    kernel = max(2, min(h, w) // 4)
    flat = xs.max(axis=(2, 3)) - xs.min(axis=(2, 3)) < 1e-6  # (N, C) constant channels, left as they are
    out = xs.astype(np.float32, copy=True)
    todo = ~flat
    if not todo.any():
        return out
    rows, chans = np.nonzero(todo)
    clips = [params[i]["clip_limit"] for i in rows]
    eq = equalize_adapthist_stack(xs[rows, chans].astype(np.float64), kernel, clips)
    keep = np.array([1.0 - params[i]["mix"] for i in rows], dtype=np.float32)[:, None, None]
    mix = np.array([params[i]["mix"] for i in rows], dtype=np.float64)[:, None, None]
    # float32 (1 - mix) * x plus float64 mix * eq, as the per-channel version computed.
    out[rows, chans] = keep * xs[rows, chans] + mix * eq
    return out


def channel_shift(x: np.ndarray, *, red: float, green: float, blue: float) -> np.ndarray:
    """Colour shift of an RGB image: add one offset per channel.

    Parameters
    ----------
    x : np.ndarray
        RGB image ``(3, H, W)``, float32 in ``[0, 1]``.
    red, green, blue : float
        Offsets in ``[-0.1, 0.1]``; identity ``0``.

    Raises
    ------
    RelationError
        If ``x`` does not have exactly 3 channels.

    Notes
    -----
    A white-balance error (colour cast), as in the colour transformations
    of DeepHunter (Xie et al., 2019) and the ImageNet-C "saturate" family.
    """
    if x.ndim != 3 or x.shape[0] != 3:
        raise RelationError(
            f"x.shape={x.shape}: channel_shift needs an RGB image (3, H, W); "
            "use brightness for other channel counts"
        )
    offsets = np.array([red, green, blue], dtype=np.float32).reshape(3, 1, 1)
    return x + offsets


def _channel_shift_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    offsets = np.array([[p["red"], p["green"], p["blue"]] for p in params], dtype=np.float32)
    return xs + offsets[:, :, None, None]


def elastic(x: np.ndarray, *, alpha: float, sigma: float, seed: int) -> np.ndarray:
    """Elastic deformation by a smooth random displacement field.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    alpha : float
        Largest displacement in pixels, in ``[0, 2]``; identity ``0``.
    sigma : float
        Smoothness of the field (Gaussian sigma, pixels), in ``[1, 4]``;
        identity ``2`` (irrelevant when ``alpha`` is 0).
    seed : int
        Seed of the field in ``[0, 2**31 - 1]``; identity ``0``.

    Notes
    -----
    Simard, Steinkraus & Platt (ICDAR 2003), ImageNet-C "elastic transform"
    (Hendrycks & Dietterich, 2019): uniform noise in ``[-1, 1]`` smoothed by
    a Gaussian, scaled so its largest component is ``alpha``; every channel
    is resampled with bilinear interpolation (``order=1``,
    ``mode="nearest"``), within ``5e-7`` of ``scipy.ndimage.map_coordinates``
    (the test oracle), not bit for bit; the batched implementation is
    :func:`diverfuzz.relations.sampling.sample_bilinear`.
    """
    return _elastic_batch(x[None], [{"alpha": alpha, "sigma": sigma, "seed": seed}])[0]


def _elastic_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    # One displacement field per row (its own seed and sigma), one resampling for all rows.
    n, _, h, w = xs.shape
    grid_rows, grid_cols = np.mgrid[0:h, 0:w].astype(np.float64)
    rows, cols = np.empty((n, h, w)), np.empty((n, h, w))
    flat = []  # rows whose field is constant (e.g. 1x1 images): returned as they are
    for i, p in enumerate(params):
        dy, dx, peak_array = draws.elastic_field(p["seed"], p["sigma"], h, w)
        peak = float(peak_array[0])
        if peak < 1e-12:
            flat.append(i)
            rows[i], cols[i] = grid_rows, grid_cols
        else:
            rows[i] = grid_rows + p["alpha"] * dy / peak
            cols[i] = grid_cols + p["alpha"] * dx / peak
    out = sample_bilinear(xs, rows, cols)
    out[flat] = xs[flat]
    return out


def _normalise(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``points`` at the origin with unit RMS coordinate: ``(matrix, moved points)``.

    scikit-image 0.26's ``_center_and_normalize_points`` (``scaling="rms"``),
    operation for operation; all-NaN results for coincident points.
    """
    matrix = np.eye(3)
    centroid = np.mean(points, axis=0)
    divisor = np.sqrt(np.mean((points - centroid) ** 2))
    if divisor == 0:
        return matrix + np.nan, np.full_like(points, np.nan)
    matrix[:2, 2] = -centroid
    matrix[:2, :] /= divisor
    if not np.all(np.isfinite(matrix)):
        return matrix + np.nan, np.full_like(points, np.nan)
    moved = np.hstack((points, np.ones((len(points), 1)))) @ matrix.T
    divs = moved[:, -1]
    divs = np.where(divs == 0, np.finfo(float).eps, divs)
    return matrix, moved[:, :-1] / divs[:, None]


@lru_cache(maxsize=16)
def _normalised_target(data: bytes, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`_normalise` of the target points (given as bytes: perspective's are the image corners,
    the same for every call on one image size) and the inverse of its matrix."""
    matrix, points = _normalise(np.frombuffer(data, dtype=np.float64).reshape(shape))
    inverse = np.linalg.inv(matrix) if np.all(np.isfinite(matrix)) else None
    for array in (matrix, points, inverse):
        if array is not None:
            array.flags.writeable = False  # shared by every call
    return matrix, points, inverse


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """The 3x3 projective matrix mapping ``src`` points onto ``dst`` (``(N, 2)`` float64, (col, row)).

    Bit for bit ``skimage.transform.ProjectiveTransform.from_estimate(src,
    dst).params`` of scikit-image 0.26 (normalised direct linear transform,
    total least squares by SVD; Hartley, PAMI 1997), without its object
    overhead (tested against it). None where that estimation fails.
    """
    src, dst = (np.ascontiguousarray(p, dtype=np.float64) for p in (src, dst))
    n = len(src)
    src_matrix, src = _normalise(src)
    dst_matrix, dst, dst_inverse = _normalised_target(dst.tobytes(), dst.shape)
    if not np.all(np.isfinite(src_matrix + dst_matrix)):
        return None
    a = np.zeros((2 * n, 9))
    for dim in range(2):
        rows = slice(dim * n, (dim + 1) * n)
        a[rows, dim * 3 : dim * 3 + 2] = src
        a[rows, dim * 3 + 2] = 1
        a[rows, -3:-1] = src
        a[rows, -1] = -1
        a[rows, -3:] *= -dst[:, dim : dim + 1]
    _, _, v = np.linalg.svd(a)
    if abs(v[-1, -1]) <= 1e-8:  # np.isclose(v[-1, -1], 0)
        return None
    h = np.zeros((3, 3))
    h.flat[list(range(8)) + [-1]] = -v[-1, :-1] / v[-1, -1]
    h[2, 2] = 1
    h = dst_inverse @ h @ src_matrix
    h /= h[-1, -1]
    return h


def perspective(x: np.ndarray, *, tilt_x: float, tilt_y: float) -> np.ndarray:
    """Perspective tilt: the camera turns about the vertical and/or horizontal axis.

    Parameters
    ----------
    x : np.ndarray
        ``(C, H, W)``, float32 in ``[0, 1]``.
    tilt_x : float
        Tilt about the vertical axis in ``[-0.3, 0.3]``; identity ``0``.
        The right edge is stretched by ``1 + tilt_x`` and the left edge by
        ``1 - tilt_x`` (vertically, about the centre).
    tilt_y : float
        Tilt about the horizontal axis in ``[-0.3, 0.3]``; identity ``0``
        (bottom edge ``1 + tilt_y``, top edge ``1 - tilt_y``, horizontally).

    Notes
    -----
    A projective transform through the four moved corners (estimated as
    ``skimage.transform.ProjectiveTransform.from_estimate`` does, see
    :func:`homography`), bilinear (``order=1``), borders ``mode="edge"`` as for the
    affine relations; within ``5e-7`` of ``skimage.transform.warp`` of that
    matrix (the test oracle), not bit for bit. Viewpoint changes are a natural transformation in
    DeepXplore/DeepTest-style testing and in ImageNet-P (Hendrycks &
    Dietterich, 2019). Images with a side of 1 pixel are returned as is.
    """
    return _perspective_batch(x[None], [{"tilt_x": tilt_x, "tilt_y": tilt_y}])[0]


@lru_cache(maxsize=4096)
def _perspective_inverse(h: int, w: int, tilt_x: float, tilt_y: float) -> np.ndarray:
    """The inverse map of the tilt (read-only), memoised: a pure function of the size and the tilts,
    whose estimation costs more than the warp itself on small images."""
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)
    dx, dy = src[:, 0] - cx, src[:, 1] - cy
    fx = 1.0 + tilt_x * np.sign(dx)  # scales the vertical extent of left/right edges
    fy = 1.0 + tilt_y * np.sign(dy)  # scales the horizontal extent of top/bottom edges
    dst = np.stack([cx + dx * fy, cy + dy * fx], axis=1)
    inverse = homography(dst, src)
    if inverse is None:
        raise RelationError(f"tilt_x={tilt_x}, tilt_y={tilt_y}: degenerate perspective transform")
    inverse.flags.writeable = False
    return inverse


def _perspective_batch(xs: np.ndarray, params: list[dict]) -> np.ndarray:
    _, _, h, w = xs.shape
    if h < 2 or w < 2:
        return xs.copy()
    return warp_batch(xs, np.stack([_perspective_inverse(h, w, float(p["tilt_x"]), float(p["tilt_y"])) for p in params]))


_ANY = frozenset({"image", "spectral"})

RELATIONS: tuple[Relation, ...] = (
    Relation(
        "fog",
        _ANY,
        {"density": ParamSpec(0.0, 0.6, 0.0, doc="haze opacity"), "seed": SEED_SPEC},
        fog,
        identity_params=("density",),
        batch_func=_fog_batch,
    ),
    Relation(
        "vignette",
        _ANY,
        {"strength": ParamSpec(0.0, 0.8, 0.0, doc="darkening at the corners")},
        vignette,
        batch_func=_vignette_batch,
    ),
    Relation(
        "clahe",
        frozenset({"image"}),
        {
            "clip_limit": ParamSpec(0.005, 0.1, 0.01, doc="CLAHE clip limit"),
            "mix": ParamSpec(0.0, 1.0, 0.0, doc="weight of the equalised image"),
        },
        clahe,
        identity_params=("mix",),
        batch_func=_clahe_batch,
    ),
    Relation(
        "channel_shift",
        frozenset({"image"}),
        {
            "red": ParamSpec(-0.1, 0.1, 0.0, doc="red offset"),
            "green": ParamSpec(-0.1, 0.1, 0.0, doc="green offset"),
            "blue": ParamSpec(-0.1, 0.1, 0.0, doc="blue offset"),
        },
        channel_shift,
        batch_func=_channel_shift_batch,
        channels=(3,),
    ),
    Relation(
        "elastic",
        _ANY,
        {
            "alpha": ParamSpec(0.0, 2.0, 0.0, doc="largest displacement in pixels"),
            "sigma": ParamSpec(1.0, 4.0, 2.0, doc="field smoothness in pixels"),
            "seed": SEED_SPEC,
        },
        elastic,
        identity_params=("alpha",),
        batch_func=_elastic_batch,
    ),
    Relation(
        "perspective",
        _ANY,
        {
            "tilt_x": ParamSpec(-0.3, 0.3, 0.0, doc="tilt about the vertical axis"),
            "tilt_y": ParamSpec(-0.3, 0.3, 0.0, doc="tilt about the horizontal axis"),
        },
        perspective,
        batch_func=_perspective_batch,
    ),
)
