"""Fast anti-aliased shrinking (s3pot.resample) and the zoomed-out views built with it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from s3pot.resample import shrink


@pytest.mark.parametrize("size", [(500, 388), (300, 233), (131, 100), (77, 60)])
def test_shrink_keeps_cv2_resize_pixel_grid(size: tuple[int, int]) -> None:
    """On a linear ramp (one grey level per photo pixel or less) every output pixel equals
    the ramp at the photo point cv2.resize's grid maps it to, within a tenth of a photo
    pixel (OpenCV's fixed-point bilinear weights), whatever the halving steps dropped."""
    h, w = 777, 1001
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = 0.7 * xx + 0.3 * yy
    out = shrink(ramp, size)
    assert out.shape == (size[1], size[0])
    x = (np.arange(size[0]) + 0.5) * w / size[0] - 0.5
    y = (np.arange(size[1]) + 0.5) * h / size[1] - 0.5
    want = 0.7 * x[None, :] + 0.3 * y[:, None]
    np.testing.assert_allclose(out[2:-2, 2:-2], want[2:-2, 2:-2], atol=0.1)


def test_shrink_anti_aliases_where_bilinear_does_not() -> None:
    """A 1-px checkerboard shrunk 3.3x is flat grey; plain bilinear sampling aliases it."""
    board = ((np.indices((990, 990)).sum(0) % 2) * 255).astype(np.uint8)
    board = np.dstack([board] * 3)
    size = (300, 300)
    ours = shrink(board, size).astype(np.float32)
    plain = cv2.resize(board, size, interpolation=cv2.INTER_LINEAR).astype(np.float32)
    assert ours.dtype == np.float32 and ours.shape == (300, 300, 3)
    assert abs(ours.mean() - 127.5) < 3 and ours.std() < 20
    assert plain.std() > 40  # what the test would see without the block averaging


def test_shrink_rejects_enlarging_and_empty_sizes() -> None:
    img = np.zeros((10, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="enlarge"):
        shrink(img, (40, 10))
    with pytest.raises(ValueError, match="positive"):
        shrink(img, (0, 5))
    same = shrink(img, (20, 10))
    assert same.shape == img.shape and same is not img


def test_zoomed_out_views_map_back_to_the_view() -> None:
    """The padded views are shrunk before padding: a point found in one maps back to the
    view pixel it came from."""
    from s3pot.faces.mediapipe_mesh import PAD_FRACTIONS, _ZoomedOut

    view = np.zeros((600, 1000, 3), np.uint8)
    view[296:305, 696:705] = 255  # a marker centred on (700, 300)
    zoomed = _ZoomedOut(view, max_side=900)
    seen = []

    def run(image: np.ndarray, low: bool = False) -> list[np.ndarray]:
        seen.append(image.shape)
        grey = image[..., 0].astype(np.float64)
        ys, xs = np.nonzero(grey > grey.max() / 2)
        return [np.array([[xs.mean(), ys.mean()]])]

    for i in range(len(PAD_FRACTIONS)):
        (pts,) = zoomed.run(run, i)
        np.testing.assert_allclose(pts[0], (700, 300), atol=1.5)
    assert all(max(s[:2]) <= 900 for s in seen)
