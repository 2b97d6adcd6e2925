"""Seed data as users hold it: ``.npz``, ``.npy`` or a folder of images.

Whatever the source, the result is float32 ``(N, C, H, W)`` (or
``(N, C, T)``) in [0, 1] with optional integer labels, checked by
:func:`diverfuzz.models.loading.validate_inputs`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.loading import (
    _check_magic,
    load_npz,
    normalize_inputs,
    validate_inputs,
)

#: Image files a data folder may hold.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_data(
    path: str | Path, *, normalize: bool = False, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Load ``--data``: an ``.npz`` (``x``, optional ``y``), an ``.npy`` (``x``) or an image folder.

    Parameters
    ----------
    path : path-like
    normalize : bool, optional
        Min-max scale ``x`` into [0, 1] (``.npz``/``.npy``; default False).
    size : tuple of int, optional
        ``(H, W)`` every image is resized to (image folders only; default:
        keep the images' size, which must then be the same for all).

    Returns
    -------
    (x, y) : float32 ``(N, C, ...)`` in [0, 1], int64 ``(N,)`` labels or None
    """
    p = Path(path)
    if p.is_dir():
        return load_image_folder(p, size=size)
    if size is not None:
        raise DiverfuzzError(f"--size applies to image folders; --data={str(p)!r} is a file")
    if p.suffix.lower() == ".npy":
        return load_npy(p, normalize=normalize)
    if p.suffix.lower() == ".npz":
        return load_npz(p, normalize=normalize)
    if not p.exists():
        raise DiverfuzzError(f"--data={str(p)!r}: no such file or folder")
    raise DiverfuzzError(f"--data={str(p)!r}: expected an .npz or .npy file or a folder of PNG/JPEG images")


def load_npy(path: str | Path, *, normalize: bool = False) -> tuple[np.ndarray, None]:
    """Load ``x`` from an ``.npy`` file (no labels), never unpickling it."""
    p = Path(path)
    if not p.is_file():
        raise DiverfuzzError(f"--data={str(p)!r}: file does not exist")
    _check_magic(p, p.read_bytes()[:6] == b"\x93NUMPY", "an .npy array (np.save)")
    try:
        x = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DiverfuzzError(f"--data={str(p)!r} is not a readable .npy file: {' '.join(str(exc).split())}") from exc
    if normalize:
        x = normalize_inputs(x, name=f"--data={str(p)!r}")
    return validate_inputs(x, None, name=f"--data={str(p)!r}")


def load_image_folder(root: str | Path, *, size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Load PNG/JPEG images, labelled by sub-folder as torchvision's ``ImageFolder`` does.

    ``root/cat/1.png, root/dog/2.jpg`` give labels 0 (cat) and 1 (dog):
    class indices follow the sorted sub-folder names. Images directly in
    ``root`` (no sub-folders) are loaded without labels. Files are read in
    sorted order; grayscale images give one channel, colour images three
    (alpha is dropped); a folder mixing the two is converted to RGB.

    Parameters
    ----------
    root : path-like
    size : tuple of int, optional
        ``(H, W)`` to resize every image to (bilinear, Pillow); without it
        all images must share one size.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes:
        files = [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES]
    else:
        files = [(f, -1) for f in sorted(root.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DiverfuzzError(f"--data={str(root)!r}: no .png/.jpg/.jpeg images found (in sub-folders named by class)")
    images = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                im.load()
                mode = "L" if im.mode in ("L", "I", "I;16", "1", "LA") else "RGB"
                im = im.convert(mode)
                if size is not None:
                    im = im.resize((size[1], size[0]), Image.BILINEAR)
                images.append(np.asarray(im))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DiverfuzzError(f"--data: {str(f)!r} is not a readable image: {' '.join(str(exc).split())}") from exc
    shapes = {a.shape[:2] for a in images}
    if len(shapes) > 1:
        raise DiverfuzzError(
            f"--data={str(root)!r}: images have {len(shapes)} different sizes (e.g. {sorted(shapes)[:2]}); "
            "pass --size H,W to resize them"
        )
    if len({a.ndim for a in images}) > 1:
        images = [np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a for a in images]
    x = np.stack(images).astype(np.float32) / 255.0
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    y = np.array([label for _, label in files], dtype=np.int64) if classes else None
    return validate_inputs(x, y, name=f"--data={str(root)!r}")
