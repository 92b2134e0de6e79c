"""Face detection and landmarks with mediapipe 0.10.21's bundled face mesh.

Why the mesh and not the detector: on occluded faces mediapipe's full-range detector alone
loses about a third of the faces, while the face-mesh graph (short-range detector, then the
478-point landmark model with iris refinement, in static-image mode) finds ~97% of them.
Large photos are detected on a downscaled copy and the landmarks mapped back, so memory
stays bounded whatever the photo size. Faces missed at full view get a second chance on
zoomed-out (padded) copies -- this is where cut-off faces, and frame-filling faces under a
large occluder, are recovered.

The mesh graph's own detector is short-range: it sees the photo at 128 px, so in a group
photo or a wide frame small faces vanish. When the faces found cover little of the photo
(or none were found), mediapipe's full-range detector proposes boxes, on the whole view
and, for photos larger than a few detector inputs, on overlapping tiles (it sees any input
at 192 px: on a whole 6000 px photo it misses every face under ~450 px; see tiles.py). The
mesh then runs again on a full-resolution crop around every box that no found face
explains, so a 100 px face in a 24-Mpx photo gets 100 px worth of landmarks. Photos whose face fills the frame never pay for that
second pass: they cost one mesh call. Last resort, when all of that found nothing: the
mesh graph again with a lower detection threshold, on the view and on the zoomed-out views
(a face mask or a large occluder lowers the graph's detector score), then on zoomed-out
views with a black border; a face found this way must show skin.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable

import cv2
import numpy as np

from s3pot.faces.base import FaceDetector, by_position, face_from_landmarks
from s3pot.faces.tiles import DETECTOR_INPUT, nms, plan_tiles
from s3pot.resample import shrink
from s3pot.types import Face

DETECT_MAX_SIDE = 1280  # photos larger than this are downscaled for detection
SMALL_FACE_FRACTION = 0.08  # below this face coverage, look for more faces with the detector
CROP_CONTEXT = 2.2  # crop side around a detector box, in box sides
CROP_SIDE = 256  # crops are resampled to this side before the mesh runs on them
SMALLER_FACES = 3  # beside found faces, tiles look for faces down to this many times smaller
# When no face is found at all, the mesh again (view, zoomed-out views) at this threshold. A face
# mask or a hand over the lower face drops the mesh graph's detector score below the usual
# 0.5: of flat masks drawn on real faces (benchmarks/mask_occluders.py) 15 of 19 were
# found at 0.5, 19 of 20 with this retry (one unmasked face of that set is also found only
# by it); dev bench 295 -> 298 of 300; held-out composites 56 -> 58 of 60. On 31 photos
# without a whole face (skimage samples, noise, corners of real photos) it found only
# the two half faces that two of the corners really hold.
LOW_CONFIDENCE = 0.2
# Zoomed-out views tried in turn when the view itself shows no face: padding on each side,
# as a fraction of the view's longer side. The half-side view was added for faces that
# fill the frame under a large occluder (aligned crops, close-ups): held-out composites of
# 20 aligned 512-px faces 54 -> 56 of 60 found, dev bench 298 -> 299; on 39 photos without
# a face (scikit-image samples, noise, corners of real photos) it found none.
PAD_FRACTIONS = (0.25, 0.5)
# The last resort also tries the zoomed-out views with a black border instead of
# replicated edges: a frame-filling face under an occluder over half of it (held-out
# composites of 20 aligned 512-px faces) is then found in 58 of 60 composites, not 56; the
# short-range detector sees the black frame as the photo's edge, not as more of the occluder.
LAST_RESORT_BORDERS = ("replicate", "black")
# A face the last resort finds must show some skin: at least this share of the pixels
# inside its landmarks' hull have a skin chromaticity (s3pot.reference.shape_free
# .skin_texels). The low threshold otherwise accepts textures: of 78 photos without a face,
# a cell micrograph, a clock, the moon and a poster corner (skin shares 0.00), which are
# now dropped; a blurred colour noise (0.24) still passes. The faces it recovers show
# 0.66-1.00 on the dev bench, the held-out composites and two cut-off real faces, 0.16
# under a disc over half of the face (tests/test_faces.py). A grey-scale face is never
# recovered by the last resort.
LAST_RESORT_SKIN = 0.1


class MediapipeFaceMesh(FaceDetector):
    """Face mesh (static image mode, iris refinement) as a multi-face detector."""

    def __init__(self, max_faces: int = 16, min_confidence: float = 0.5,
                 detect_max_side: int = DETECT_MAX_SIDE) -> None:
        import mediapipe as mp

        self._mesh = open_graph(lambda: mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=min_confidence,
        ))
        self._lock = threading.Lock()  # the mediapipe graph is not re-entrant
        self.detect_max_side = detect_max_side
        self.min_confidence = min_confidence
        self.max_faces = max_faces
        self._detector = None  # full-range detector, built on first need
        self._low = None  # mesh graph with LOW_CONFIDENCE, built on first need
        # Graphs print a first-landmarks warning the first time they find a face: their
        # runs are quiet until then (see quiet_native_logs).
        self._found_once: set[str] = set()

    def _run(self, image: np.ndarray, low: bool = False) -> list[np.ndarray]:
        with self._lock:
            graph, name = self._mesh, "mesh"
            if low:
                if self._low is None:
                    import mediapipe as mp

                    self._low = open_graph(lambda: mp.solutions.face_mesh.FaceMesh(
                        static_image_mode=True, max_num_faces=self.max_faces,
                        refine_landmarks=True,
                        min_detection_confidence=min(LOW_CONFIDENCE, self.min_confidence)))
                graph, name = self._low, "low"
            with quiet_native_logs(first=name not in self._found_once):
                res = graph.process(np.ascontiguousarray(image))
            if res.multi_face_landmarks:
                self._found_once.add(name)
        if not res.multi_face_landmarks:
            return []
        h, w = image.shape[:2]
        out = []
        for lms in res.multi_face_landmarks:
            pts = np.array([(p.x * w, p.y * h) for p in lms.landmark], dtype=np.float64)
            out.append(pts)
        return out

    def landmarks_once(self, image: np.ndarray) -> list[np.ndarray]:
        """One mesh-graph call on ``image`` (no zoomed-out views, no detector boxes)."""
        return self._run(image)

    def detect(self, image: np.ndarray) -> list[Face]:
        first, rest = self.detect_first(image)
        return first if rest is None else by_position(first + rest())

    def detect_first(self, image: np.ndarray) -> tuple[list[Face], Callable[[], list[Face]] | None]:
        h, w = image.shape[:2]
        scale = min(1.0, self.detect_max_side / max(h, w))
        small = image
        if scale < 1.0:
            # At least a pixel each way: a 10000 x 3 strip must not end up 0 px wide.
            small = shrink(image, (max(1, round(w * scale)), max(1, round(h * scale))))
        found = self._run(small)
        # Second chance: zoomed-out views, padded by a quarter and then half of the side,
        # so that faces cut by the photo border look whole-ish to the short-range detector
        # and a face that fills the frame under a large occluder is seen at a size it
        # detects better.
        views = _ZoomedOut(small, int(1.5 * self.detect_max_side))
        if not found:
            found = views.first_found(self._run)
        found = [pts / scale for pts in found]  # photo pixels from here on
        covered = sum(float(np.prod(p.max(0) - p.min(0))) for p in found)
        if covered < SMALL_FACE_FRACTION * h * w:
            if found:
                # The hunt for more faces (detector boxes, a mesh run per unexplained box)
                # is handed back to the caller, who may run it beside the found faces' stages.
                known = list(found)
                return _as_faces(found, image.shape), lambda: _as_faces(
                    self._faces_from_detector(image, small, known), image.shape)
            found = self._faces_from_detector(image, small, found)
        if not found and self.min_confidence > LOW_CONFIDENCE:
            # Last resort, after the detector's crops (which give better landmarks for
            # small faces): the mesh graph again with a lower detection threshold, on the
            # view and the zoomed-out views, then on black-bordered zoomed-out views; only
            # faces that show skin count (LAST_RESORT_SKIN).
            for border in LAST_RESORT_BORDERS:
                found = self._run(small, low=True) if border == "replicate" else []
                found = found or views.first_found(self._run, low=True, border=border)
                found = [pts for pts in found if skin_share(small, pts) >= LAST_RESORT_SKIN]
                if found:
                    break
            found = [pts / scale for pts in found]
        return _as_faces(found, image.shape), None

    def _faces_from_detector(self, image: np.ndarray, small: np.ndarray,
                             known: list[np.ndarray]) -> list[np.ndarray]:
        """Mesh on full-resolution crops around detector boxes that no known face explains."""
        h, w = image.shape[:2]
        boxes = self._proposals(image, small, known)
        extra: list[np.ndarray] = []
        runs = 0
        for x0, y0, x1, y1 in boxes:
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            side = max(x1 - x0, y1 - y0)
            if (side < 8 or not (0 <= cx < w and 0 <= cy < h)
                    or any(_inside(cx, cy, pts) for pts in known + extra)):
                continue
            if runs == self.max_faces:  # bounds the work on a photo full of false boxes
                break
            runs += 1
            half = side * CROP_CONTEXT / 2
            cx0, cy0 = int(round(cx - half)), int(round(cy - half))
            size = int(round(2 * half))
            zoom = CROP_SIDE / size
            crop = _crop_padded(image, cx0, cy0, size)
            crop = (shrink(crop, (CROP_SIDE, CROP_SIDE)) if zoom < 1
                    else cv2.resize(crop, (CROP_SIDE, CROP_SIDE), interpolation=cv2.INTER_LINEAR))
            for pts in self._run(crop):
                pts = pts / zoom + (cx0, cy0)
                if not any(_inside(*pts.mean(0), other) for other in known + extra):
                    extra.append(pts)
        return extra

    def _proposals(self, image: np.ndarray, small: np.ndarray,
                   known: list[np.ndarray]) -> np.ndarray:
        """Full-range detector boxes (x0, y0, x1, y1 in photo pixels), best first, merged
        over the whole view and the tiles.

        Beside faces already found, tiles only look for faces down to SMALLER_FACES times
        smaller: a large photo with one mid-sized face (a half-length portrait) then costs
        a few tiles, not the full budget spent hunting for faces a tenth of its size.
        """
        if self._detector is None:
            import mediapipe as mp

            self._detector = open_graph(lambda: mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=self.min_confidence
            ))
        h, w = image.shape[:2]
        smallest = min((float((p.max(0) - p.min(0)).max()) for p in known), default=0.0)
        tiles = plan_tiles(w, h, min_face=smallest / SMALLER_FACES)
        scale = small.shape[1] / w
        boxes, scores = [], []
        for i, (x, y, tw, th) in enumerate([(0, 0, w, h)] + tiles):
            # Tiles are cut from the detection view when it holds the detector's input
            # resolution for them (always, unless the photo is very elongated): no pass
            # over the full-resolution photo, and one small array at a time.
            src, k = (small, scale) if i == 0 or max(tw, th) * scale >= DETECTOR_INPUT else (image, 1.0)
            view = src[round(y * k) : round((y + th) * k), round(x * k) : round((x + tw) * k)]
            if view.size == 0:  # a tile thinner than a view pixel (a strip-shaped photo)
                continue
            if max(view.shape[:2]) > DETECTOR_INPUT:
                # The detector sees DETECTOR_INPUT px whatever it is given (letterboxed):
                # shrunk here, it gets an anti-aliased view and skips converting a large
                # one (on a 2-Mpx photo: ~14 ms a call -> ~10, the model's own cost).
                f = DETECTOR_INPUT / max(view.shape[:2])
                view = shrink(view, (max(1, round(view.shape[1] * f)),
                                     max(1, round(view.shape[0] * f))))
            with self._lock, quiet_native_logs(first=True):
                res = self._detector.process(np.ascontiguousarray(view))
            for det in res.detections or []:
                bb = det.location_data.relative_bounding_box
                bx, by = x + bb.xmin * tw, y + bb.ymin * th
                boxes.append((bx, by, bx + bb.width * tw, by + bb.height * th))
                scores.append(det.score[0])
        if not boxes:
            return np.zeros((0, 4))
        return np.asarray(boxes)[nms(np.asarray(boxes), np.asarray(scores))]

    def close(self) -> None:
        self._mesh.close()
        if self._low is not None:
            self._low.close()
        if self._detector is not None:
            self._detector.close()


def open_graph(factory):
    """Build a mediapipe graph and run it once on a blank image, inside the quiet window.

    The graph's calculators open on worker threads after the constructor returns and print
    their TFLite/absl banner then; the blank run waits for them, so the banner falls inside
    the window instead of landing in the user's terminal a moment later.
    """
    with quiet_native_logs(first=True):
        graph = factory()
        graph.process(np.zeros((64, 64, 3), np.uint8))
    return graph


@contextlib.contextmanager
def quiet_native_logs(first: bool):
    """Silence the TFLite/absl banner and first-landmarks warnings mediapipe's C++ prints
    to fd 2 (``GLOG_minloglevel`` does not reach its absl logging).

    Only a graph's first calls are wrapped (until it has found a face once), so a later
    native crash still reaches the user. fd 2 belongs to the whole process, and the hand
    graph runs on its own thread beside the face graphs (s3pot.pipeline): windows are
    counted, fd 2 goes quiet when the first opens and comes back when the last closes.
    """
    if not first or not _quiet_enter():
        yield
        return
    try:
        yield
    finally:
        _quiet_leave()


_QUIET_LOCK = threading.Lock()
_quiet = {"depth": 0, "saved": -1}


def _quiet_enter() -> bool:
    with _QUIET_LOCK:
        if _quiet["depth"] == 0:
            try:
                sys.stderr.flush()
                saved = os.dup(2)
            except (OSError, ValueError):
                return False
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
            _quiet["saved"] = saved
        _quiet["depth"] += 1
        return True


def _quiet_leave() -> None:
    with _QUIET_LOCK:
        _quiet["depth"] -= 1
        if _quiet["depth"] == 0:
            os.dup2(_quiet["saved"], 2)
            os.close(_quiet["saved"])
            _quiet["saved"] = -1


class _ZoomedOut:
    """The view padded by each of PAD_FRACTIONS (edge pixels replicated, or black), built
    on first use and downscaled when it would exceed ``max_side`` (the mesh graph sees 128
    px anyway)."""

    def __init__(self, view: np.ndarray, max_side: int) -> None:
        self.view = view
        self.max_side = max_side
        self._padded: dict[tuple[int, str], tuple[np.ndarray, int, tuple[float, float]]] = {}

    def first_found(self, run, low: bool = False, border: str = "replicate") -> list[np.ndarray]:
        """Landmarks ``run`` finds on the first zoomed-out view that shows a face."""
        for i in range(len(PAD_FRACTIONS)):
            found = self.run(run, i, low, border)
            if found:
                return found
        return []

    def run(self, run, i: int, low: bool = False, border: str = "replicate") -> list[np.ndarray]:
        """Landmarks found by ``run`` on padded view ``i``, in the view's pixels."""
        if (i, border) not in self._padded:
            h, w = self.view.shape[:2]
            pad = int(max(h, w) * PAD_FRACTIONS[i])
            # Shrunk before it is padded: the same view as padding the full one and then
            # shrinking it, for a fraction of the pixels copied.
            f = min(1.0, self.max_side / (max(h, w) + 2 * pad))
            view = self.view if f >= 1.0 else shrink(self.view, (max(1, round(w * f)), max(1, round(h * f))))
            fx, fy = view.shape[1] / w, view.shape[0] / h
            p = round(pad * f)
            if border == "black":
                padded = cv2.copyMakeBorder(view, p, p, p, p, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            else:
                padded = cv2.copyMakeBorder(view, p, p, p, p, cv2.BORDER_REPLICATE)
            self._padded[i, border] = (padded, p, (fx, fy))
        padded, pad, (fx, fy) = self._padded[i, border]
        return [(pts - pad) / (fx, fy) for pts in run(padded, low=low)]


def _as_faces(found: list[np.ndarray], shape: tuple[int, ...]) -> list[Face]:
    """Faces from landmark arrays (photo pixels), ordered left to right, then top to bottom."""
    return by_position([face_from_landmarks(pts, shape) for pts in found])


def skin_share(image: np.ndarray, landmarks: np.ndarray) -> float:
    """Share of the pixels inside the landmarks' convex hull whose colour could be skin."""
    from s3pot.reference.shape_free import skin_texels

    h, w = image.shape[:2]
    hull = cv2.convexHull(np.asarray(landmarks, np.float32)).astype(np.int32)
    x, y, bw, bh = cv2.boundingRect(hull)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(inside, hull - (x0, y0), 1)
    pixels = image[y0:y1, x0:x1][inside > 0]
    return float(skin_texels(pixels.reshape(-1, 3)).mean()) if len(pixels) else 0.0


def _inside(x: float, y: float, pts: np.ndarray) -> bool:
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    return bool(x0 <= x <= x1 and y0 <= y <= y1)


def _crop_padded(image: np.ndarray, x0: int, y0: int, size: int) -> np.ndarray:
    """Square crop that may extend past the border (replicated edge pixels).

    Only the crop is padded, never the photo: on a 96-Mpx photo padding the whole photo
    would be a second full-size copy per crop.
    """
    h, w = image.shape[:2]
    cx0, cy0 = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
    cx1, cy1 = max(min(x0 + size, w), cx0 + 1), max(min(y0 + size, h), cy0 + 1)
    crop = image[cy0:cy1, cx0:cx1]
    pads = (cy0 - y0, y0 + size - cy1, cx0 - x0, x0 + size - cx1)
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    return crop
