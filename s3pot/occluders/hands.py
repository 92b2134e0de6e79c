"""Hands, the occluder users meet most, from mediapipe 0.10.21's bundled hand model.

A hand over a face is the hardest case for the reference contrast: skin on skin, which a
face model explains. mediapipe's hand graph (palm detector, then 21 hand landmarks) finds
hands in front of faces in ordinary photos, so its landmarks are drawn as a hand
silhouette (palm polygon, fingers as strokes a third of the palm wide) and handed to the
segmenter as an occluder hint; the decoder snaps the mask onto the photo's edges.

Two guards keep a face from being taken for a hand, which the palm detector alone does
on occluded faces (the lower face under a bar or sunglasses reads as a palm):

- presence: the landmark model's own hand-presence score must reach ``presence`` (0.9).
  mediapipe applies its ``min_tracking_confidence`` to it in static-image mode too. On
  the dev faces, of the detections that overlap a face, this dropped every false one we
  labelled (9 of 9) and kept 8 of 9 real hands (at the default 0.5 all 9 false ones stay).
  Lower is a trade, not a gain: on benchmarks/hand_occluders.py's composites 0.7 / 0.5
  find more hands (IoU 0.41 -> 0.43 / 0.45), and on the dev bench draw false ones on faces
  (sunglasses 0.89 -> 0.87, occluder IoU 0.596 -> 0.592 / 0.590). The false ones show as
  much skin as real hands (0.36-0.97 inside their silhouettes), so a skin test cannot
  tell them apart.
- the wrist: an arm reaches a face from outside it, so a "hand" whose wrist lies inside
  the face region it covers is that face seen as a hand, and is not drawn on it.

Measured: no hand drawn on any of the dev bench's 300 composites except the one real
hand in it (d0106, a chin on a hand); cost about 1.7 face-mesh calls per photo, which
the pipeline runs beside the face stage (see :mod:`s3pot.pipeline`). In a large photo the
graph's 192-px input makes a hand over a face of ordinary size a few pixels wide, so the
pipeline looks again on a crop around each small face (:mod:`s3pot.occluders.base`,
``NEAR_*``).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from s3pot.faces.mediapipe_mesh import open_graph, quiet_native_logs
from s3pot.occluders.base import Occluder, OccluderDetector
from s3pot.parsing.base import face_region
from s3pot.types import FaceResult

WRIST = 0
PALM = (0, 1, 2, 5, 9, 13, 17)  # wrist, thumb base, the four knuckles
FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
FINGER_WIDTH = 1 / 3  # of the knuckle span (index to little finger)


def hand_silhouette(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Soft (H, W) float32 silhouette of a hand from its 21 landmarks (pixels of ``shape``):
    the palm polygon, the wrist, and each finger as a stroke through its joints."""
    p = np.asarray(points, np.float64)[:, :2]
    canvas = np.zeros(shape, np.uint8)
    span = np.linalg.norm(p[5] - p[17])
    width = max(1.0, span * FINGER_WIDTH)
    cv2.fillPoly(canvas, [cv2.convexHull(np.round(p[list(PALM)]).astype(np.int32))], 1)
    # The wrist: the palm continues past landmark 0 (away from the middle knuckle) by a
    # third of the palm's length, about as wide as the knuckle span.
    back = p[WRIST] + (p[WRIST] - p[9]) / 3
    cv2.line(canvas, tuple(np.round(p[WRIST]).astype(int)), tuple(np.round(back).astype(int)), 1,
             thickness=max(1, int(round(0.8 * span))))
    for finger in FINGERS:
        w = width * (1.15 if finger[0] == 1 else 1.0)  # the thumb is wider
        pts = np.round(p[list(finger)]).astype(np.int32)
        cv2.polylines(canvas, [pts], False, 1, thickness=max(1, int(round(w))))
        for x, y in pts:  # rounded joints and tips
            cv2.circle(canvas, (int(x), int(y)), max(1, int(round(w / 2))), 1, -1)
    return cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), max(0.5, width / 4))


class MediapipeHands(OccluderDetector):
    """mediapipe's hand graph (static images, lite models) as an occluder detector."""

    def __init__(self, presence: float = 0.9, min_confidence: float = 0.5,
                 max_hands: int = 4) -> None:
        import mediapipe as mp

        self._graph = open_graph(lambda: mp.solutions.hands.Hands(
            static_image_mode=True, max_num_hands=max_hands, model_complexity=0,
            min_detection_confidence=min_confidence, min_tracking_confidence=presence))
        self._lock = threading.Lock()  # the graph is not re-entrant
        self._found_once = False

    def detect(self, image: np.ndarray) -> list[Occluder]:
        with self._lock, quiet_native_logs(first=not self._found_once):
            res = self._graph.process(np.ascontiguousarray(image))
        if not res.multi_hand_landmarks:
            return []
        self._found_once = True
        h, w = image.shape[:2]
        out = []
        for lms, side in zip(res.multi_hand_landmarks, res.multi_handedness, strict=True):
            pts = np.array([(q.x * w, q.y * h) for q in lms.landmark], np.float64)
            out.append(Occluder("hand", pts, float(side.classification[0].score)))
        return out

    def draw(self, occluder: Occluder, face: FaceResult) -> np.ndarray | None:
        size = face.aligned.shape[0]
        p = face.transform.to_aligned(occluder.points)
        region = face_region(face.parsing)
        x, y = np.round(p[WRIST]).astype(int)
        if 0 <= x < size and 0 <= y < size and region[y, x]:
            return None  # the wrist inside the face: this face seen as a hand
        m = hand_silhouette(p, (size, size))
        return m if (m[region] > 0.5).any() else None

    def close(self) -> None:
        self._graph.close()
