"""Load what the user names on the command line: model factories and datasets."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.models.runtimes import is_model_file, load_model_file


def load_factory(spec: str, *, option: str = "--model") -> Any:
    """Call the zero-argument factory named by ``FILE.py:FUNC`` and return its result.

    Parameters
    ----------
    spec : str
        ``path/to/file.py:function_name``.
    option : str
        The CLI option being parsed, for error messages.
    """
    path_text, sep, func_name = spec.rpartition(":")
    if not sep or not path_text or not func_name:
        raise DiverfuzzError(f"{option}={spec!r}: expected FILE.py:FUNC, e.g. models.py:build_model")
    path = Path(path_text)
    if not path.is_file():
        raise DiverfuzzError(f"{option}={spec!r}: file {str(path)!r} does not exist")
    module_name = f"_diverfuzz_user_{abs(hash(str(path.resolve())))}"
    try:
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise DiverfuzzError(f"{option}={spec!r}: {str(path)!r} is not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.path.insert(0, str(path.resolve().parent))
        try:
            module_spec.loader.exec_module(module)
        finally:
            sys.path.pop(0)
    except DiverfuzzError:
        raise
    except Exception as exc:
        raise ModelError(f"{option}={spec!r}: importing {str(path)!r} raised {type(exc).__name__}: {exc}") from exc
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise DiverfuzzError(f"{option}={spec!r}: {str(path)!r} has no function {func_name!r}")
    try:
        model = factory()
    except Exception as exc:
        raise ModelError(f"{option}={spec!r}: {func_name}() raised {type(exc).__name__}: {exc}") from exc
    if model is None or not callable(model):
        raise ModelError(
            f"{option}={spec!r}: {func_name}() returned {type(model).__name__}, "
            "expected a torch.nn.Module or a callable batch -> logits"
        )
    return model


def load_model(spec: str, *, option: str = "--model", device: str = "cpu", threads: int = 1) -> Any:
    """The model ``spec`` names: a model file by extension, else a ``FILE.py:FUNC`` factory.

    Parameters
    ----------
    spec : str
        ``.onnx``, ``.tflite``, ``.pt2``, TorchScript ``.pt`` (see
        :mod:`diverfuzz.models.runtimes`), or ``path/to/file.py:function_name``.
    option : str, optional
        The CLI option being parsed, for error messages.
    device : {"cpu", "cuda"}, optional
        A resolved device for model files (factories' modules are placed by
        :class:`~diverfuzz.models.pair.ModelPair`).
    threads : int, optional
        Intra-op threads of ONNX Runtime and LiteRT (default 1).
    """
    if is_model_file(spec):
        return load_model_file(spec, option=option, device=device, threads=threads)
    return load_factory(spec, option=option)


def load_npz(path: str | Path, *, normalize: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Load ``x`` (float32, ``(N, C, H, W)`` or ``(N, C, T)``, values in [0, 1]) and optional ``y`` from an ``.npz``.

    Arrays are read with ``allow_pickle=False``: an ``.npz`` holding Python
    objects is refused rather than unpickled.
    """
    p = Path(path)
    if not p.is_file():
        raise DiverfuzzError(f"--data={str(p)!r}: file does not exist")
    _check_magic(p, zipfile.is_zipfile(p), "an .npz archive (np.savez)")
    try:
        with np.load(p, allow_pickle=False) as npz:
            if "x" not in npz.files:
                raise DiverfuzzError(f"--data={str(p)!r} has no array 'x' (found: {', '.join(npz.files) or 'none'})")
            x = npz["x"]
            y = npz["y"] if "y" in npz.files else None
    except DiverfuzzError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DiverfuzzError(f"--data={str(p)!r} is not a readable .npz file: {exc}") from exc
    if normalize:
        x = normalize_inputs(x, name=f"--data={str(p)!r}")
    return validate_inputs(x, y, name=f"--data={str(p)!r}")


def _check_magic(path: Path, ok: bool, expected: str) -> None:
    """Say what a data file really is when its first bytes are not ``expected``.

    ``np.load`` takes anything that is neither a zip nor an ``.npy`` for a
    pickle and says so, which misleads for a text file or an empty one.
    """
    if ok:
        return
    head = path.read_bytes()[:256]
    if not head:
        what = "an empty file"
    elif head[:1] == b"\x80":
        what = "pickled Python data, which diverfuzz never loads (save arrays with np.savez)"
    elif head.startswith(b"\x93NUMPY"):
        what = "a single .npy array; name it .npy or save x and y with np.savez"
    elif head.startswith(b"PK"):
        what = "a truncated or damaged zip archive"
    else:
        try:
            head.decode("utf-8")
            what = "a text file (e.g. CSV); load it and save the arrays with np.savez(path, x=x, y=y)"
        except UnicodeDecodeError:
            what = "neither an .npz archive nor an .npy array"
    raise DiverfuzzError(f"--data={str(path)!r} is not {expected}: it is {what}")


def normalize_inputs(x: Any, *, name: str = "x") -> np.ndarray:
    """Min-max scale ``x`` into [0, 1] with one min and max over the whole array.

    One global scale keeps relative intensities between inputs and channels,
    as a fixed sensor range would; per-input scaling would erase them.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number) or x.size == 0:
        raise DiverfuzzError(f"{name}: --normalize needs a non-empty numeric x, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DiverfuzzError(f"{name}: x contains NaN or inf; --normalize cannot scale it, clean the data first")
    lo, hi = float(x.min()), float(x.max())
    if hi == lo:
        raise DiverfuzzError(f"{name}: x is constant ({lo:g}); --normalize cannot scale it")
    return (x - lo) / (hi - lo)


def validate_inputs(
    x: Any, y: Any = None, *, name: str = "x", normalize_hint: str = "pass --normalize to min-max scale them"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Check a seed batch: ``(N, C, H, W)`` images/cubes or ``(N, C, T)`` signals,
    floats, finite, in [0, 1]; labels ``(N,)`` ints.

    ``normalize_hint`` is how the caller's front end spells the fix for
    values outside [0, 1] (``--normalize`` on the command line,
    ``normalize=True`` from Python)."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise DiverfuzzError(
            f"{name}: x has shape {x.shape}; expected (N, C, H, W) images or (N, C, T) signals, channel first"
        )
    if len(x) == 0:
        raise DiverfuzzError(f"{name}: x is empty")
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] > 4:
        raise DiverfuzzError(
            f"{name}: x has shape {x.shape}, which looks channel-last (N, H, W, C); diverfuzz takes channel-first "
            "(N, C, H, W) data: save x.transpose(0, 3, 1, 2) (a model that expects NHWC takes --layout nhwc)"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise DiverfuzzError(f"{name}: x has dtype {x.dtype}; expected float32 in [0, 1] (divide 8-bit images by 255)")
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.argwhere(bad.reshape(len(x), -1).any(axis=1))[0, 0])
        raise DiverfuzzError(f"{name}: x contains NaN or inf (first at input {first}); clean the data first")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise DiverfuzzError(
            f"{name}: x values lie in [{lo:g}, {hi:g}]; expected [0, 1] ({normalize_hint})"
        )
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise DiverfuzzError(
                f"{name}: y has shape {y.shape} and dtype {y.dtype}; expected integer labels of shape ({len(x)},)"
            )
        y = y.astype(np.int64, copy=False)
    return np.ascontiguousarray(x), y
