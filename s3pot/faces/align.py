"""FFHQ-style alignment with exact forward and inverse transforms.

The crop is the FFHQ recipe (Karras et al.): an oriented square built from the eye centres
and mouth corners. That square is a similarity transform of the photo, so we keep it as one
2x3 affine matrix; the inverse is exact, and any mask drawn in the aligned frame maps back
onto the photo with sub-pixel accuracy (no crop/pad/resize chain to get wrong).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AlignTransform:
    """Photo -> aligned frame similarity transform for one face."""

    matrix: np.ndarray  # (2, 3) float64: aligned = matrix @ [x, y, 1]
    size: int  # aligned crop is size x size

    @property
    def inverse(self) -> np.ndarray:
        """(2, 3) aligned -> photo."""
        return cv2.invertAffineTransform(self.matrix)

    @property
    def scale(self) -> float:
        """Aligned pixels per photo pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def to_aligned(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)[..., :2]
        return pts @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        inv = self.inverse
        pts = np.asarray(points, dtype=np.float64)[..., :2]
        return pts @ inv[:, :2].T + inv[:, 2]

    def warp_image(self, image: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """Photo -> aligned crop. Outside the photo, edge pixels are replicated."""
        return cv2.warpAffine(
            image,
            self.matrix,
            (self.size, self.size),
            flags=interpolation,
            borderMode=cv2.BORDER_REPLICATE,
        )

    def valid_mask(self, photo_shape: tuple[int, int]) -> np.ndarray:
        """Aligned-frame bool mask of pixels that come from inside the photo.

        Computed from the aligned pixels' photo coordinates (nearest photo pixel in
        bounds), so a 24-Mpx photo costs no photo-sized buffer per face.
        """
        h, w = photo_shape[:2]
        inv = self.inverse

        def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return (x > -0.5) & (x < w - 0.5) & (y > -0.5) & (y < h - 0.5)

        # The map is affine, so its extremes over the crop are at the corner pixels: a crop
        # whose four corners come from inside the photo (most faces) is valid throughout.
        last = self.size - 1
        corners = np.array([[0, 0], [last, 0], [0, last], [last, last]], np.float64)
        if inside(*(corners @ inv[:, :2].T + inv[:, 2]).T).all():
            return np.ones((self.size, self.size), bool)
        idx = np.arange(self.size, dtype=np.float64)
        x = inv[0, 0] * idx[None, :] + inv[0, 1] * idx[:, None] + inv[0, 2]
        y = inv[1, 0] * idx[None, :] + inv[1, 1] * idx[:, None] + inv[1, 2]
        return inside(x, y)

    def photo_roi(self, photo_shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1): the photo pixels the aligned square can reach, clipped."""
        h, w = photo_shape[:2]
        s = self.size
        corners = self.to_photo(np.array([[-1, -1], [s, -1], [s, s], [-1, s]], np.float64))
        x0, y0 = np.floor(corners.min(0)).astype(int) - 1
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)

    def roi_warp(self, src: np.ndarray, photo_shape: tuple[int, int],
                 flags: int = cv2.INTER_LINEAR) -> tuple[tuple[int, int, int, int] | None, np.ndarray]:
        """Aligned-frame ``src`` warped into the photo, only over :meth:`photo_roi`:
        ``(box, patch)`` with ``patch`` the photo's ``box`` region (zeros outside the crop),
        or ``(None, empty)`` when the crop reaches no photo pixel."""
        x0, y0, x1, y1 = self.photo_roi(photo_shape)
        if x1 <= x0 or y1 <= y0:
            return None, np.zeros((0, 0) + src.shape[2:], src.dtype)
        m = self.matrix.copy()
        m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)  # ROI pixel -> photo pixel
        patch = cv2.warpAffine(
            src, m, (x1 - x0, y1 - y0), flags=flags | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        ).reshape((y1 - y0, x1 - x0) + src.shape[2:])
        return (x0, y0, x1, y1), patch

    def _to_photo(self, src: np.ndarray, photo_shape: tuple[int, int], flags: int) -> np.ndarray:
        """Inverse warp into the photo frame, computed only inside :meth:`photo_roi`.

        A 12-Mpx photo with one small face costs a face-sized warp, not a photo-sized one.
        """
        h, w = photo_shape[:2]
        out = np.zeros((h, w) + src.shape[2:], src.dtype)
        box, patch = self.roi_warp(src, (h, w), flags)
        if box is not None:
            x0, y0, x1, y1 = box
            out[y0:y1, x0:x1] = patch
        return out

    def to_photo_mask(
        self, mask: np.ndarray, photo_shape: tuple[int, int], soft: bool = False
    ) -> np.ndarray:
        """Aligned-frame mask -> photo frame (bool, or float in [0,1] with ``soft``).

        Bilinear resampling of the mask as float then a 0.5 threshold: the boundary lands
        where it was drawn, without the half-pixel bias of nearest-neighbour sampling.
        """
        out = self._to_photo(mask.astype(np.float32), photo_shape, cv2.INTER_LINEAR)
        return out if soft else out >= 0.5

    def to_photo_image(self, image: np.ndarray, photo_shape: tuple[int, int]) -> np.ndarray:
        """Aligned-frame image -> photo frame (zeros outside the crop)."""
        return self._to_photo(image, photo_shape, cv2.INTER_LINEAR)


def ffhq_quad(eye_left: np.ndarray, eye_right: np.ndarray, mouth_left: np.ndarray,
              mouth_right: np.ndarray) -> np.ndarray:
    """The FFHQ crop square (4 corners, photo coordinates: top-left, bottom-left,
    bottom-right, top-right). ``eye_left`` is the eye on the image's left side."""
    eye_left, eye_right = np.asarray(eye_left, float), np.asarray(eye_right, float)
    mouth_left, mouth_right = np.asarray(mouth_left, float), np.asarray(mouth_right, float)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def transform_from_quad(quad: np.ndarray, size: int) -> AlignTransform:
    """Similarity transform sending the quad's corners onto the size x size square."""
    src = np.asarray(quad[:3], np.float64)
    dst = np.array([[0, 0], [0, size], [size, size]], np.float64)
    # Pixel centres: corner (0,0) of the square is the outer edge of pixel 0, so shift by
    # half a pixel to keep the convention of cv2.warpAffine (pixel centres at integers).
    dst -= 0.5
    a = np.hstack([src, np.ones((3, 1))])  # exact float64 solve (cv2 works in float32)
    m = np.linalg.solve(a, dst).T
    return AlignTransform(matrix=m, size=int(size))


ALIGN_SIZES = (256, 512, 1024)
