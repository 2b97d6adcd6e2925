"""Arrays to inline PNG images for the HTML report.

Images follow the project layout ``(C, H, W)`` with float values in
``[0, 1]``; ``(H, W)`` is accepted as a single channel.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .errors import ReportError

__all__ = ["DivergenceImages", "array_to_png", "array_to_png_data_uri", "difference_image", "signal_plot_png"]


@dataclass(frozen=True)
class DivergenceImages:
    """The seed input, the mutant (and the moved seed) of one divergence, for display.

    Parameters
    ----------
    seed : numpy.ndarray
        Seed input, shape ``(C, H, W)`` (or ``(H, W)``), float in ``[0, 1]``.
    mutant : numpy.ndarray
        Mutated input, same shape as `seed`.
    kind : {"image", "signal"}, optional
        ``"signal"`` draws a ``(C, T)`` seed and mutant as line plots (one
        panel per channel) instead of as a grey image. Default ``"image"``.
    moved : numpy.ndarray, optional
        The seed moved by the chain's geometric steps alone (rotation,
        translation, zoom, ...), same shape as `seed`: what the natural
        validity rule compares the mutant with. Default None: the chain has
        no geometric step, and the mutant is compared with the seed.

    Raises
    ------
    ReportError
        If the shapes differ or are not 2-D / 3-D.
    """

    seed: np.ndarray
    mutant: np.ndarray
    kind: str = "image"
    moved: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("image", "signal"):
            raise ReportError(f"kind={self.kind!r}: expected 'image' or 'signal'")
        if self.kind == "signal" and np.ndim(self.seed) != 2:
            raise ReportError(f"seed.shape={np.shape(self.seed)}: a signal is (C, T)")
        seed_shape = np.shape(self.seed)
        mutant_shape = np.shape(self.mutant)
        if len(seed_shape) not in (2, 3):
            raise ReportError(
                f"seed.shape={seed_shape}: expected (C, H, W) or (H, W)"
            )
        if seed_shape != mutant_shape:
            raise ReportError(
                f"mutant.shape={mutant_shape} differs from seed.shape={seed_shape}; "
                "pass the seed and its mutant at the same resolution"
            )
        if self.moved is not None and np.shape(self.moved) != seed_shape:
            raise ReportError(
                f"moved.shape={np.shape(self.moved)} differs from seed.shape={seed_shape}; "
                "pass the seed moved by the chain's geometric steps at the seed's resolution"
            )

    @property
    def base(self) -> np.ndarray:
        """What the mutant's value changes are measured against: the moved seed, else the seed."""
        return self.seed if self.moved is None else self.moved


def _as_chw(x: np.ndarray, name: str) -> np.ndarray:
    """Validate and return `x` as a finite float64 ``(C, H, W)`` array in [0, 1]."""
    arr = np.asarray(x)
    if not (np.issubdtype(arr.dtype, np.floating)):
        raise ReportError(
            f"{name}.dtype={arr.dtype}: expected floats in [0, 1]; convert "
            "integer images first, e.g. x.astype(np.float32) / 255"
        )
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise ReportError(
            f"{name}.shape={arr.shape}: expected (C, H, W) or (H, W)"
        )
    if min(arr.shape) == 0:
        raise ReportError(f"{name}.shape={arr.shape}: image has no pixels")
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(arr, 0.0, 1.0)


def array_to_png_data_uri(x: np.ndarray) -> str:
    """Encode an image array as a ``data:image/png;base64,...`` URI.

    Parameters
    ----------
    x : numpy.ndarray
        Float image, shape ``(C, H, W)`` or ``(H, W)``, values in ``[0, 1]``.
        Values outside are clipped, ``NaN`` becomes 0 (``+inf`` 1, ``-inf`` 0).

    Returns
    -------
    str
        A data URI holding an 8-bit PNG of size ``W x H``.

    Raises
    ------
    ReportError
        If `x` is not floating point, or not 2-D / 3-D, or empty.

    Notes
    -----
    Channels: ``C == 1`` gives a grayscale PNG, ``C == 3`` an RGB PNG.  Any
    other channel count (``C == 2``, or ``C > 3`` such as a spectral cube or
    RGBA) is shown as grayscale: the mean over channels.  Values map to
    ``round(255 * v)``.

    Examples
    --------
    >>> import numpy as np
    >>> array_to_png_data_uri(np.zeros((1, 8, 8))).startswith("data:image/png;base64,")
    True
    """
    encoded = base64.b64encode(array_to_png(x)).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def array_to_png(x: np.ndarray) -> bytes:
    """The bytes of an 8-bit PNG of an image array (as :func:`array_to_png_data_uri`, without the URI).

    Parameters
    ----------
    x : numpy.ndarray
        Float image, shape ``(C, H, W)`` or ``(H, W)``, values in ``[0, 1]``
        (clipped; ``NaN`` as 0). One channel gives a grayscale PNG, three an
        RGB PNG, any other count the grayscale mean over channels.

    Examples
    --------
    >>> import numpy as np
    >>> array_to_png(np.zeros((1, 8, 8)))[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    arr = _as_chw(x, "x")
    if arr.shape[0] == 3:
        pixels = np.moveaxis(arr, 0, -1)
    else:
        pixels = arr[0] if arr.shape[0] == 1 else arr.mean(axis=0)
    # uint8 (H, W) -> mode "L"; uint8 (H, W, 3) -> mode "RGB".
    data = np.ascontiguousarray(np.rint(pixels * 255.0).astype(np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def max_abs_difference(seed: np.ndarray, mutant: np.ndarray) -> np.ndarray:
    """Per-pixel ``max`` over channels of ``|mutant - seed|``, shape ``(H, W)``.

    Inputs are clipped to ``[0, 1]`` with ``NaN`` as 0, as in
    :func:`array_to_png_data_uri`; the result is not rescaled.
    """
    a = _as_chw(seed, "seed")
    b = _as_chw(mutant, "mutant")
    if a.shape != b.shape:
        raise ReportError(
            f"mutant.shape={np.shape(mutant)} differs from seed.shape="
            f"{np.shape(seed)}; pass images of the same shape"
        )
    return np.abs(b - a).max(axis=0)


def difference_image(seed: np.ndarray, mutant: np.ndarray) -> np.ndarray:
    """Where the mutant differs from the seed, scaled so the largest change is 1.

    Parameters
    ----------
    seed, mutant : numpy.ndarray
        Float images of the same shape, ``(C, H, W)`` or ``(H, W)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(1, H, W)``, float32 in ``[0, 1]``: the per-pixel maximum over
        channels of ``|mutant - seed|`` divided by its overall maximum.  All
        zeros if the images are equal.

    Notes
    -----
    The scaling is for display only: it makes faint perturbations visible.
    The HTML report states the unscaled maximum in the caption.

    Examples
    --------
    >>> import numpy as np
    >>> d = difference_image(np.zeros((3, 2, 2)), np.full((3, 2, 2), 0.1))
    >>> d.shape, float(d.max())
    ((1, 2, 2), 1.0)
    """
    diff = max_abs_difference(seed, mutant)
    peak = float(diff.max())
    scaled = diff / peak if peak > 0 else np.zeros_like(diff)
    return scaled[np.newaxis].astype(np.float32)


#: Colours of the seed, moved seed and mutant traces in signal plots.
_SEED_RGB = (120, 120, 120)
_MOVED_RGB = (40, 90, 200)
_MUTANT_RGB = (200, 60, 30)


def signal_plot_data_uri(
    seed: np.ndarray, mutant: np.ndarray, *, moved: np.ndarray | None = None, width: int = 384, panel: int = 56,
) -> str:
    """A PNG data URI drawing a ``(C, T)`` seed (grey) and mutant (red), one panel per channel.

    See :func:`signal_plot_png`, which gives the PNG's bytes.
    """
    png = signal_plot_png(seed, mutant, moved=moved, width=width, panel=panel)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def signal_plot_png(
    seed: np.ndarray, mutant: np.ndarray, *, moved: np.ndarray | None = None, width: int = 384, panel: int = 56,
) -> bytes:
    """The bytes of a PNG drawing a ``(C, T)`` seed (grey) and mutant (red), one panel per channel.

    With `moved` (the seed moved by the chain's geometric steps), it is drawn
    in blue between the two.

    Values are plotted on the fixed range [0, 1] (NaN drawn as 0), so panels
    of different divergences compare directly. Drawn with PIL, which the
    report already uses for images: no plotting library is needed at report
    time.
    """
    seed = np.nan_to_num(np.clip(np.asarray(seed, dtype=np.float64), 0.0, 1.0))
    mutant = np.nan_to_num(np.clip(np.asarray(mutant, dtype=np.float64), 0.0, 1.0))
    traces = [(seed, _SEED_RGB)]
    if moved is not None:
        traces.append((np.nan_to_num(np.clip(np.asarray(moved, dtype=np.float64), 0.0, 1.0)), _MOVED_RGB))
    traces.append((mutant, _MUTANT_RGB))
    channels, length = seed.shape
    image = Image.new("RGB", (width, panel * channels), "white")
    draw = ImageDraw.Draw(image)
    xs = np.linspace(2, width - 3, max(length, 2)) if length > 1 else np.array([width / 2])
    for c in range(channels):
        top = c * panel
        draw.rectangle([0, top, width - 1, top + panel - 1], outline=(210, 210, 210))
        for trace, rgb in traces:
            values = trace[c]
            ys = top + 2 + (1.0 - values) * (panel - 5)
            points = list(zip(xs.tolist(), ys.tolist()))
            if len(points) > 1:
                draw.line(points, fill=rgb, width=1)
            else:
                draw.point(points, fill=rgb)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
