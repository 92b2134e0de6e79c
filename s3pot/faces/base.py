"""Face detector interface and the mesh landmark indices every later stage relies on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from s3pot.types import Face

# Mediapipe face-mesh indices (478 points with iris refinement). "left"/"right" are the
# image's left and right (the subject's right eye is on the image's left).
EYE_LEFT = (33, 133, 159, 145, 160, 144, 158, 153)
EYE_RIGHT = (362, 263, 386, 374, 385, 380, 387, 373)
MOUTH_LEFT = 61
MOUTH_RIGHT = 291
NOSE_TIP = 1
FOREHEAD_TOP = 10
CHIN = 152
CHEEK_LEFT = 234  # the face outline at cheek height, image-left
CHEEK_RIGHT = 454


def alignment_points(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eye centres and mouth corners (image-left first) from 478 mesh landmarks."""
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return (
        lm[list(EYE_LEFT)].mean(0),
        lm[list(EYE_RIGHT)].mean(0),
        lm[MOUTH_LEFT],
        lm[MOUTH_RIGHT],
    )


def yaw_ratio(landmarks: np.ndarray) -> float:
    """How far the face is turned, from 478 mesh landmarks: (dl - dr) / (dl + dr), with dl,
    dr the distances from the nose tip to the face outline on the image's left and right at
    cheek height. 0 for a frontal face, towards +1 as the face turns to the image's right
    (its left cheek widens), towards -1 to the left; a mirrored face gives the negative."""
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    dl = float(np.linalg.norm(lm[NOSE_TIP] - lm[CHEEK_LEFT]))
    dr = float(np.linalg.norm(lm[NOSE_TIP] - lm[CHEEK_RIGHT]))
    return (dl - dr) / max(dl + dr, 1e-6)


def face_from_landmarks(pts: np.ndarray, shape: tuple[int, ...]) -> Face:
    """A face from its landmarks (photo pixels) in a photo of ``shape``: the box is their
    bounding box clipped to the photo; the score, the share of them inside the photo (the
    mesh graph reports no per-face score: 1.0 for a whole face)."""
    h, w = shape[:2]
    pts = np.asarray(pts, np.float64)
    x0, y0 = pts[:, :2].min(0)
    x1, y1 = pts[:, :2].max(0)
    box = np.array([max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)])
    inside = np.mean((pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h))
    return Face(box=box, landmarks=pts, score=float(inside))


def position_key(face: Face) -> tuple[float, float]:
    """Where a face comes in a photo's list: left to right, then top to bottom (box corner)."""
    return float(face.box[0]), float(face.box[1])


def by_position(faces: list[Face]) -> list[Face]:
    """Faces ordered by :func:`position_key` (a stable sort)."""
    return sorted(faces, key=position_key)


class FaceDetector(ABC):
    """Finds faces and their 478 mesh landmarks in an RGB photo."""

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces in ``image`` (H, W, 3 uint8 RGB), landmarks in photo pixels, ordered
        by :func:`by_position`."""

    def detect_first(self, image: np.ndarray) -> tuple[list[Face], Callable[[], list[Face]] | None]:
        """The faces found first, and a function that looks for more (None when the search
        is over), so that ``detect`` is ``by_position(first + rest())``. The pipeline runs
        ``rest`` on another thread beside the first faces' stages: in a large photo with one
        face, the hunt for smaller ones (detector tiles, a mesh run per box) costs as much as
        that face's stages. By default, every face at once."""
        return self.detect(image), None

    def landmarks_once(self, image: np.ndarray) -> list[np.ndarray]:
        """Landmarks of the faces in ``image`` (a crop around a face already found), from
        one look: none of ``detect``'s second chances, which a face already found does not
        need (s3pot.faces.remesh). By default, ``detect``'s faces."""
        return [f.landmarks for f in self.detect(image)]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release native resources."""
