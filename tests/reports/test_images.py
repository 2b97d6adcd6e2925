"""Tests for diverfuzz.reports.images: PNG data URIs and difference images."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from diverfuzz.reports import (
    DivergenceImages,
    ReportError,
    array_to_png_data_uri,
    difference_image,
)

PREFIX = "data:image/png;base64,"


def decode(uri: str) -> Image.Image:
    assert uri.startswith(PREFIX)
    image = Image.open(io.BytesIO(base64.b64decode(uri[len(PREFIX):], validate=True)))
    assert image.format == "PNG"
    image.load()
    return image


@pytest.mark.parametrize(
    "shape, mode",
    [((1, 8, 6), "L"), ((3, 8, 6), "RGB"), ((5, 8, 6), "L"), ((2, 8, 6), "L"), ((8, 6), "L")],
)
def test_channel_layouts(shape: tuple[int, ...], mode: str) -> None:
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    image = decode(array_to_png_data_uri(x))
    assert image.mode == mode
    assert image.size == (6, 8)  # PIL size is (W, H)


def test_grayscale_values() -> None:
    x = np.array([[0.0, 0.5, 1.0]])
    pixels = np.asarray(decode(array_to_png_data_uri(x)))
    assert pixels.tolist() == [[0, 128, 255]]


def test_rgb_channel_order() -> None:
    x = np.zeros((3, 1, 3))
    x[0, 0, 0] = x[1, 0, 1] = x[2, 0, 2] = 1.0
    pixels = np.asarray(decode(array_to_png_data_uri(x)))
    assert pixels.tolist() == [[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]


def test_many_channels_shown_as_mean() -> None:
    x = np.zeros((5, 1, 1))
    x[:2] = 1.0  # mean 0.4
    assert np.asarray(decode(array_to_png_data_uri(x))).tolist() == [[102]]


def test_nan_and_out_of_range_values() -> None:
    x = np.array([[[np.nan, -3.0, 7.0, np.inf, -np.inf]]])
    pixels = np.asarray(decode(array_to_png_data_uri(x)))
    assert pixels.tolist() == [[0, 0, 255, 255, 0]]


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((1, 2, 3, 4)), r"x.shape=\(1, 2, 3, 4\)"),
        (np.zeros(4), r"x.shape=\(4,\)"),
        (np.zeros((1, 0, 4)), "no pixels"),
        (np.zeros((1, 4, 4), dtype=np.uint8), "x.dtype=uint8"),
    ],
)
def test_rejects_bad_arrays(x: np.ndarray, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        array_to_png_data_uri(x)


def test_difference_image_scaled_to_max() -> None:
    seed = np.zeros((3, 2, 2), dtype=np.float32)
    mutant = seed.copy()
    mutant[0, 0, 0] = 0.2
    mutant[2, 1, 1] = 0.1
    diff = difference_image(seed, mutant)
    assert diff.shape == (1, 2, 2) and diff.dtype == np.float32
    np.testing.assert_allclose(diff[0], [[1.0, 0.0], [0.0, 0.5]], rtol=1e-6)


def test_difference_image_equal_inputs_and_2d() -> None:
    seed = np.full((4, 5), 0.3)
    diff = difference_image(seed, seed)
    assert diff.shape == (1, 4, 5) and not diff.any()


def test_difference_image_shape_mismatch() -> None:
    with pytest.raises(ReportError, match="mutant.shape"):
        difference_image(np.zeros((1, 4, 4)), np.zeros((1, 4, 5)))


def test_divergence_images_validates_shapes() -> None:
    with pytest.raises(ReportError, match="mutant.shape"):
        DivergenceImages(seed=np.zeros((1, 8, 8)), mutant=np.zeros((3, 8, 8)))
    with pytest.raises(ReportError, match="seed.shape"):
        DivergenceImages(seed=np.zeros(8), mutant=np.zeros(8))


def test_signal_plot_draws_both_traces_per_channel():
    import base64
    import io

    import numpy as np
    from PIL import Image

    from diverfuzz.reports.images import DivergenceImages, signal_plot_data_uri

    t = np.linspace(0, 1, 64)
    seed = np.stack([0.5 + 0.3 * np.sin(6 * t), 0.5 + 0.3 * np.cos(6 * t)]).astype(np.float32)
    mutant = np.clip(seed + 0.1, 0, 1)
    uri = signal_plot_data_uri(seed, mutant)
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))
    assert image.shape == (2 * 56, 384, 3)
    red = (image[..., 0] > 150) & (image[..., 1] < 100)
    grey = (image[..., 0] == 120) & (image[..., 1] == 120)
    for panel in range(2):
        rows = slice(panel * 56, (panel + 1) * 56)
        assert red[rows].sum() > 100 and grey[rows].sum() > 100
    with pytest.raises(ReportError, match="a signal is"):
        DivergenceImages(seed=seed[None], mutant=mutant[None], kind="signal")
    with pytest.raises(ReportError, match="kind="):
        DivergenceImages(seed=seed, mutant=mutant, kind="audio")


def test_html_shows_one_signal_plot_per_divergence(tmp_path):
    import numpy as np

    from diverfuzz.reports import DivergenceImages, write_html

    seed = np.full((3, 32), 0.5, np.float32)
    report = {
        "schema_version": 1,
        "summary": {},
        "divergences": [{"id": 1, "seed_index": 0, "chain": [], "reference_label": 0, "candidate_label": 1, "queries": 3}],
    }
    html = write_html(report, tmp_path / "r.html", {1: DivergenceImages(seed, seed * 0.9, kind="signal")}).read_text()
    assert html.count("data:image/png;base64,") == 1
    assert "seed (grey) and mutant (red)" in html
