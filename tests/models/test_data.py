"""Data as users hold it (.npz, .npy, image folders) and the preprocessing wrapper."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.data import load_data, load_image_folder
from diverfuzz.models.inference import batched_logits
from diverfuzz.models.loading import load_npz
from diverfuzz.models.preprocess import Preprocess, parse_size, preprocess_from_text
from diverfuzz.models.preprocessed import with_preprocess


def _one_line(info, *words):
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_channel_last_npz_is_refused_in_one_line_naming_the_fix(tmp_path):
    """Issue 14 (a)."""
    x = np.random.default_rng(0).random((4, 8, 8, 3), dtype=np.float32)
    np.savez(tmp_path / "nhwc.npz", x=x)
    with pytest.raises(DiverfuzzError) as info:
        load_npz(tmp_path / "nhwc.npz")
    _one_line(info, "channel-last", "transpose(0, 3, 1, 2)", "--layout nhwc")
    np.savez(tmp_path / "nchw.npz", x=x.transpose(0, 3, 1, 2))
    assert load_npz(tmp_path / "nchw.npz")[0].shape == (4, 3, 8, 8)


def test_plain_text_npz_says_it_is_text_not_pickled(tmp_path):
    """Issue 14 (d)."""
    (tmp_path / "x.npz").write_text("0.1,0.2,0.3\n0.4,0.5,0.6\n")
    with pytest.raises(DiverfuzzError) as info:
        load_npz(tmp_path / "x.npz")
    _one_line(info, "text file")
    assert "pickled" not in str(info.value)


def test_truly_pickled_and_empty_npz(tmp_path):
    with open(tmp_path / "p.npz", "wb") as fh:
        pickle.dump({"x": [1, 2]}, fh)
    with pytest.raises(DiverfuzzError) as info:
        load_npz(tmp_path / "p.npz")
    _one_line(info, "pickled")
    (tmp_path / "e.npz").write_bytes(b"")
    with pytest.raises(DiverfuzzError) as info:
        load_npz(tmp_path / "e.npz")
    _one_line(info, "empty file")


def test_npy_round_trip_and_bad_npy(tmp_path):
    x = np.random.default_rng(1).random((3, 1, 4, 4), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    got, y = load_data(tmp_path / "x.npy")
    np.testing.assert_array_equal(got, x)
    assert y is None
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DiverfuzzError) as info:
        load_data(tmp_path / "obj.npy")
    _one_line(info, "obj.npy")
    np.save(tmp_path / "big.npy", x * 255)
    with pytest.raises(DiverfuzzError) as info:
        load_data(tmp_path / "big.npy")
    _one_line(info, "[0, 1]")
    np.testing.assert_allclose(load_data(tmp_path / "big.npy", normalize=True)[0].max(), 1.0)


def _write_images(root, size=(6, 5), mode="RGB"):
    rng = np.random.default_rng(2)
    arrays = {}
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            shape = (size[0], size[1], 3) if mode == "RGB" else size
            a = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(a, mode=mode).save(root / label / f"{i}.png")
            arrays[(label, i)] = a
    return arrays


def test_image_folder_labels_from_subfolders_like_imagefolder(tmp_path):
    arrays = _write_images(tmp_path / "imgs")
    x, y = load_data(tmp_path / "imgs")
    assert x.shape == (4, 3, 6, 5) and x.dtype == np.float32
    assert y.tolist() == [0, 0, 1, 1]  # cat=0, dog=1: sorted sub-folder names
    np.testing.assert_allclose(x[2], arrays[("dog", 0)].transpose(2, 0, 1) / 255.0)


def test_image_folder_resize_grayscale_and_errors(tmp_path):
    _write_images(tmp_path / "g", size=(7, 7), mode="L")
    x, _ = load_image_folder(tmp_path / "g", size=(4, 4))
    assert x.shape == (4, 1, 4, 4)
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "g" / "cat" / "odd.png")
    with pytest.raises(DiverfuzzError) as info:
        load_data(tmp_path / "g")
    _one_line(info, "--size H,W")
    (tmp_path / "g" / "dog" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DiverfuzzError) as info:
        load_data(tmp_path / "g", size=(4, 4))
    _one_line(info, "broken.jpg", "not a readable image")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DiverfuzzError) as info:
        load_data(tmp_path / "empty")
    _one_line(info, "no .png")


def test_parse_size_and_floats():
    assert parse_size("224,224") == (224, 224)
    with pytest.raises(DiverfuzzError, match="--size"):
        parse_size("224")
    with pytest.raises(DiverfuzzError, match="--mean"):
        preprocess_from_text(mean="a,b", std="1,1")
    with pytest.raises(DiverfuzzError, match="go together"):
        preprocess_from_text(mean="0.5")
    with pytest.raises(DiverfuzzError, match="> 0"):
        preprocess_from_text(mean="0.5", std="0")
    with pytest.raises(DiverfuzzError, match="upper bound"):
        preprocess_from_text(input_range="1,0")


def test_preprocessing_inside_the_wrapper_matches_doing_it_by_hand():
    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 3, 5))
    with torch.no_grad():
        net[1].weight.copy_(torch.randn(net[1].weight.shape, generator=gen))
    pre = preprocess_from_text(input_range="0,255", mean="120,110,100", std="60,50,40", layout="nhwc")
    wrapped = with_preprocess(net, pre)
    x = np.random.default_rng(3).random((2, 3, 4, 4), dtype=np.float32)
    by_hand = (x * 255 - np.array([120, 110, 100], np.float32)[None, :, None, None]) / np.array([60, 50, 40], np.float32)[None, :, None, None]
    expected = net(torch.from_numpy(by_hand.transpose(0, 2, 3, 1).copy())).detach().double().numpy()
    np.testing.assert_allclose(batched_logits(wrapped, x), expected, rtol=1e-5, atol=1e-5)
    assert with_preprocess(net, Preprocess()) is net
