"""Shared fixtures: real faces made from scikit-image's astronaut, one detector per session.

Everything is generated in temporary folders; data under ../shared is only read, and tests
that need it skip with a reason when it is absent.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CELEBAMASK_DIR = SHARED / "data" / "real" / "celebamask_hq"

# Where the astronaut's face sits in skimage.data.astronaut() (512 x 512): a crop holding
# the whole head, used to build multi-face photos.
HEAD_CROP = (slice(0, 260), slice(100, 320))

# EXIF orientation -> np.rot90 k that turns the upright picture into the stored pixels.
# (6: the viewer turns the stored pixels 90 deg clockwise, so they are upright turned
# 90 deg counter-clockwise, i.e. rot90 k=1; 8 the opposite; 3 half a turn.)
EXIF_STORED_ROT90 = {3: 2, 6: 1, 8: -1}


def segment_backends_missing() -> str | None:
    """Why ``s3pot segment`` cannot run yet, or None when its default backends exist: the
    offline segmenter, the PCA reference generator and the model it ships with."""
    missing = [m for m in ("s3pot.segmenters.offline", "s3pot.reference.pca")
               if importlib.util.find_spec(m) is None]
    if missing:
        return f"default backend(s) not written yet: {', '.join(missing)}"
    package = importlib.util.find_spec("s3pot.reference").submodule_search_locations[0]
    model = Path(package) / "models" / "pca_default.npz"
    if not model.is_file():
        return f"default reference model not shipped yet: {model}"
    return None


needs_segment_backends = pytest.mark.skipif(
    segment_backends_missing() is not None, reason=str(segment_backends_missing())
)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def detector() -> Iterator:
    from s3pot.faces.mediapipe_mesh import MediapipeFaceMesh

    det = MediapipeFaceMesh()
    yield det
    det.close()


@pytest.fixture(scope="session")
def predictor(detector):
    from s3pot.pipeline import PipelineConfig, S3potPredictor

    return S3potPredictor(PipelineConfig(align_size=256), detector=detector)


@pytest.fixture(scope="session")
def astronaut_landmarks(astronaut, detector) -> np.ndarray:
    """(478, 2) landmarks of the astronaut's face, photo pixels."""
    faces = detector.detect(astronaut)
    assert len(faces) == 1, "mediapipe should find exactly the astronaut's face"
    return faces[0].landmarks


def tile_faces(image: np.ndarray, n: int) -> tuple[np.ndarray, list[int]]:
    """``n`` copies of the astronaut's head side by side; returns the photo and x offsets."""
    head = image[HEAD_CROP]
    w = head.shape[1]
    return np.ascontiguousarray(np.concatenate([head] * n, axis=1)), [i * w for i in range(n)]


def save_with_exif_orientation(path: Path, upright: np.ndarray, orientation: int) -> None:
    """Store ``upright`` turned as a camera would, with EXIF orientation telling viewers
    how to turn it back."""
    stored = np.ascontiguousarray(np.rot90(upright, EXIF_STORED_ROT90[orientation]))
    img = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, quality=95, exif=exif)


def make_bad_files(folder: Path, good_jpeg: Path) -> dict[str, Path]:
    """Unreadable inputs: truncated JPEG, empty file, text named .jpg, a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good_jpeg.read_bytes()
    bad = {
        "truncated": folder / "truncated.jpg",
        "empty": folder / "empty.jpg",
        "text": folder / "notes.jpg",
    }
    bad["truncated"].write_bytes(data[: len(data) // 2])
    bad["empty"].write_bytes(b"")
    bad["text"].write_text("this is not an image\n")
    return bad


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory, astronaut) -> Path:
    """A folder of good photos: JPEG, RGBA PNG, two faces (PNG), EXIF-rotated JPEG."""
    root = tmp_path_factory.mktemp("photos")
    Image.fromarray(astronaut).save(root / "astronaut.jpg", quality=92)
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:40, :40, 3] = 0
    Image.fromarray(rgba, "RGBA").save(root / "rgba.png")
    two, _ = tile_faces(astronaut, 2)
    Image.fromarray(two).save(root / "two_faces.png")
    # Not square, so that a photo left unturned would show in the output's size.
    save_with_exif_orientation(root / "rotated.jpg", np.ascontiguousarray(astronaut[:, 64:448]), 6)
    return root


@pytest.fixture(scope="session")
def celebamask_dir() -> Path:
    if not (CELEBAMASK_DIR / "0.jpg").is_file():
        pytest.skip(f"CelebAMask-HQ samples not present ({CELEBAMASK_DIR}); "
                    "the ../shared data folder is absent on this machine")
    return CELEBAMASK_DIR


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Tiny models: one intra-op thread is fastest and immune to a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised SAM (8 x 8 token grid, SAM's 256-d prompt encoder and
    decoder) saved as a plain state dict, the format Meta publishes."""
    from s3pot.backbone.sam import TINY, build_sam, save_sam_checkpoint

    torch.manual_seed(0)
    sam = build_sam(TINY)
    with torch.no_grad():  # non-zero position tables so that positions matter
        for name, p in sam.named_parameters():
            if "pos" in name:
                p.normal_(0, 0.02)
    path = tmp_path_factory.mktemp("sam") / "sam_tiny.pth"
    save_sam_checkpoint(sam, path)
    return path


@pytest.fixture(scope="session")
def aligned_face() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face, FFHQ-aligned at 256 px, with its aligned mesh landmarks."""
    from skimage import data

    from s3pot.pipeline import PipelineConfig, S3potPredictor

    (face,) = S3potPredictor(PipelineConfig(align_size=256)).prepare(data.astronaut(), reference=False)
    return face.aligned, face.landmarks_aligned


def parse_key_list(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """``name 3x64x7x7`` lines (``-`` for a scalar) -> [(name, shape)]: how the tests write
    out a published checkpoint's keys."""
    out = []
    for line in text.strip().splitlines():
        name, dims = line.split()
        out.append((name, () if dims == "-" else tuple(int(d) for d in dims.split("x"))))
    return out
