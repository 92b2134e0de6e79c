"""FFHQ alignment: exact forward / inverse transforms, masks land within 1 px in the photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from s3pot.faces.align import ALIGN_SIZES, AlignTransform, ffhq_quad, transform_from_quad
from s3pot.faces.base import alignment_points

PHOTO = (700, 900)  # (H, W) of the synthetic photo frame


def _similarity(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random eye / mouth points of a plausible face anywhere in PHOTO, any roll angle."""
    angle = rng.uniform(-np.pi, np.pi)
    scale = rng.uniform(40, 160)  # inter-ocular distance in photo px
    centre = rng.uniform([250, 200], [650, 500])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    canon = np.array([[-0.5, 0.0], [0.5, 0.0], [-0.4, 1.1], [0.4, 1.1]])  # eyes, mouth corners
    pts = centre + scale * canon @ rot.T
    return pts[0], pts[1], pts[2], pts[3]


def _transforms() -> list[tuple[str, AlignTransform]]:
    rng = np.random.default_rng(7)
    out = []
    for size in ALIGN_SIZES:
        for i in range(3):
            out.append((f"{size}-{i}", transform_from_quad(ffhq_quad(*_similarity(rng)), size)))
    return out


TRANSFORMS = _transforms()


@pytest.mark.parametrize(("name", "t"), TRANSFORMS, ids=[n for n, _ in TRANSFORMS])
def test_points_round_trip(name: str, t: AlignTransform) -> None:
    rng = np.random.default_rng(1)
    pts = rng.uniform(-50, 1000, size=(200, 2))
    np.testing.assert_allclose(t.to_photo(t.to_aligned(pts)), pts, atol=1e-9)
    np.testing.assert_allclose(t.to_aligned(t.to_photo(pts)), pts, atol=1e-9)
    # It is a similarity: distances scale by t.scale.
    d_photo = np.linalg.norm(pts[1:] - pts[:-1], axis=1)
    d_al = np.linalg.norm(t.to_aligned(pts[1:]) - t.to_aligned(pts[:-1]), axis=1)
    np.testing.assert_allclose(d_al, d_photo * t.scale, rtol=1e-9)


def test_quad_corners_map_to_crop_edges() -> None:
    rng = np.random.default_rng(3)
    quad = ffhq_quad(*_similarity(rng))
    for size in ALIGN_SIZES:
        t = transform_from_quad(quad, size)
        # Corners of the quad are the outer edges of the corner pixels (centres at integers).
        expected = np.array([[0, 0], [0, size], [size, size], [size, 0]], float) - 0.5
        np.testing.assert_allclose(t.to_aligned(quad), expected, atol=1e-6)


def test_sizes_agree_on_the_same_face() -> None:
    """The same normalised aligned position maps to the same photo point at every size."""
    quad = ffhq_quad(*_similarity(np.random.default_rng(4)))
    ts = [transform_from_quad(quad, s) for s in ALIGN_SIZES]
    q = np.random.default_rng(5).uniform(0, 1, size=(50, 2))
    photo = [t.to_photo(q * t.size - 0.5) for t in ts]
    for p in photo[1:]:
        np.testing.assert_allclose(p, photo[0], atol=1e-6)
    np.testing.assert_allclose([t.scale / t.size for t in ts], ts[0].scale / ts[0].size, rtol=1e-9)


def _disc(shape: tuple[int, int], centre: np.ndarray, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(xx - centre[0], yy - centre[1]) <= radius


def _rect_mask(shape: tuple[int, int], t: AlignTransform | None, rect: tuple[float, float, float, float]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres inside an axis-aligned rectangle (x0, y0, x1, y1) of the aligned frame,
    on a grid of ``shape`` in the photo frame (``t`` given) or the aligned frame (``t`` None),
    with their distance to the rectangle's boundary in that grid's pixels."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    pts = np.stack([xx.ravel(), yy.ravel()], 1).astype(float)
    scale = 1.0
    if t is not None:
        pts, scale = t.to_aligned(pts), t.scale
    x0, y0, x1, y1 = rect
    inside = (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
    dx = np.maximum(x0 - pts[:, 0], pts[:, 0] - x1)
    dy = np.maximum(y0 - pts[:, 1], pts[:, 1] - y1)
    outside = np.hypot(np.maximum(dx, 0), np.maximum(dy, 0))
    dist = np.where(inside, np.minimum(-dx, -dy), outside) / scale
    return inside.reshape(shape), dist.reshape(shape)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize(("name", "t"), TRANSFORMS, ids=[n for n, _ in TRANSFORMS])
def test_aligned_disc_lands_within_one_pixel(name: str, t: AlignTransform) -> None:
    s = t.size
    centre, radius = np.array([0.55 * s, 0.45 * s]), 0.22 * s
    aligned = _disc((s, s), centre, radius)
    got = t.to_photo_mask(aligned, PHOTO)
    assert got.dtype == bool and got.shape == PHOTO
    c_photo, r_photo = t.to_photo(centre), radius / t.scale
    expected = _disc(PHOTO, c_photo, r_photo)
    assert expected.sum() > 500
    assert _iou(got, expected) > 0.95
    yy, xx = np.nonzero(got ^ expected)
    off = np.abs(np.hypot(xx - c_photo[0], yy - c_photo[1]) - r_photo)
    assert off.size == 0 or off.max() <= 1.0, f"{off.max():.2f} px from the true edge"


@pytest.mark.parametrize(("name", "t"), TRANSFORMS, ids=[n for n, _ in TRANSFORMS])
def test_aligned_rectangle_lands_within_one_pixel(name: str, t: AlignTransform) -> None:
    s = t.size
    # Edges half-way between pixel centres: the aligned mask is this exact rectangle, so
    # what is measured is the mapping, not the rasterisation of the aligned frame.
    rect = (round(0.3 * s) - 0.5, round(0.55 * s) - 0.5, round(0.75 * s) + 0.5, round(0.8 * s) + 0.5)
    aligned, _ = _rect_mask((s, s), None, rect)
    got = t.to_photo_mask(aligned, PHOTO)
    expected, dist = _rect_mask(PHOTO, t, rect)  # the rotated rectangle, in the photo
    assert expected.sum() > 300
    assert _iou(got, expected) > 0.9
    wrong = got ^ expected
    assert not wrong.any() or np.abs(dist[wrong]).max() <= 1.0


def test_soft_mask_and_image_follow_the_same_geometry() -> None:
    t = TRANSFORMS[4][1]
    s = t.size
    aligned = _disc((s, s), np.array([s / 2, s / 2]), 0.3 * s).astype(np.float32)
    soft = t.to_photo_mask(aligned, PHOTO, soft=True)
    assert soft.dtype == np.float32 and 0 <= soft.min() and soft.max() <= 1
    np.testing.assert_array_equal(soft >= 0.5, t.to_photo_mask(aligned > 0.5, PHOTO))
    img = (np.dstack([aligned] * 3) * 200).astype(np.uint8)
    back = t.to_photo_image(img, PHOTO)
    assert back.shape == (*PHOTO, 3)
    assert _iou(back[..., 0] >= 100, soft >= 0.5) > 0.99


def test_warp_image_samples_the_photo_at_to_photo() -> None:
    """warp_image and to_photo use the same pixel convention (no half-pixel shift)."""
    h, w = PHOTO
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    ramp = np.dstack([xx * 0.25, yy * 0.3, (xx + yy) * 0.1]).astype(np.float32)
    for _, t in TRANSFORMS[::3]:
        s = t.size
        warped = t.warp_image(ramp)
        uv = np.random.default_rng(0).uniform(0.3 * s, 0.7 * s, size=(100, 2))
        src = t.to_photo(uv)
        inside = (src[:, 0] > 1) & (src[:, 0] < w - 2) & (src[:, 1] > 1) & (src[:, 1] < h - 2)
        ui, vi = np.rint(uv[inside]).astype(int).T
        src = t.to_photo(np.stack([ui, vi], 1).astype(float))
        exp = np.stack([src[:, 0] * 0.25, src[:, 1] * 0.3, (src[:, 0] + src[:, 1]) * 0.1], 1)
        np.testing.assert_allclose(warped[vi, ui], exp, atol=0.05)


def test_valid_mask_marks_pixels_from_inside_the_photo() -> None:
    # A face near the top-left corner: part of its crop lies outside the photo.
    eyes_mouth = (np.array([40.0, 60.0]), np.array([100.0, 60.0]),
                  np.array([50.0, 125.0]), np.array([90.0, 125.0]))
    t = transform_from_quad(ffhq_quad(*eyes_mouth), 256)
    valid = t.valid_mask(PHOTO)
    assert 0 < valid.mean() < 1
    yy, xx = np.mgrid[:256, :256]
    src = t.to_photo(np.stack([xx.ravel(), yy.ravel()], 1)).reshape(256, 256, 2)
    inside = (src[..., 0] >= 0.5) & (src[..., 1] >= 0.5)
    clearly_out = (src[..., 0] < -0.5) | (src[..., 1] < -0.5)
    assert valid[inside & (src[..., 0] < PHOTO[1] - 1)].all()
    assert not valid[clearly_out].any()


@pytest.mark.parametrize("shift", [0.0, 30.0, 75.0, 76.0, 140.0])
@pytest.mark.parametrize("angle", [0.0, 17.0, -40.0])
def test_valid_mask_agrees_with_every_pixels_own_test(shift: float, angle: float) -> None:
    """The all-inside shortcut (corners only) gives the per-pixel answer, crop inside the
    photo, crossing its edge, or a pixel either side of it."""
    h, w = 400, 360
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    rot = np.array([[c, -s], [s, c]])
    centre = np.array([w / 2 + shift, h / 2 - 0.6 * shift])
    pts = [centre + rot @ np.array(d) for d in ((-30, -20), (30, -20), (-20, 45), (20, 45))]
    t = transform_from_quad(ffhq_quad(*pts), 256)
    yy, xx = np.mgrid[:256, :256]
    src = t.to_photo(np.stack([xx.ravel(), yy.ravel()], 1)).reshape(256, 256, 2)
    expected = ((src[..., 0] > -0.5) & (src[..., 0] < w - 0.5)
                & (src[..., 1] > -0.5) & (src[..., 1] < h - 0.5))
    np.testing.assert_array_equal(t.valid_mask((h, w)), expected)


@pytest.mark.parametrize("angle", [-35.0, 20.0, 40.0])
def test_rotated_face_aligns_like_the_upright_one(astronaut, detector, astronaut_landmarks,
                                                  angle: float) -> None:
    """Rolling the photo rolls the transform: the aligned crops of both agree."""
    h, w = astronaut.shape[:2]
    pad = 150
    photo = cv2.copyMakeBorder(astronaut, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128,) * 3)
    rot = cv2.getRotationMatrix2D((w / 2 + pad, h / 2 + pad), angle, 1.0)
    turned = cv2.warpAffine(photo, rot, photo.shape[1::-1], flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(128,) * 3)
    faces = detector.detect(turned)
    assert len(faces) == 1
    t_up = transform_from_quad(ffhq_quad(*alignment_points(astronaut_landmarks)), 256)
    t_rot = transform_from_quad(ffhq_quad(*alignment_points(faces[0].landmarks)), 256)
    # The roll angle of the transform follows the photo's rotation.
    roll = np.degrees(np.arctan2(t_rot.matrix[1, 0], t_rot.matrix[0, 0])
                      - np.arctan2(t_up.matrix[1, 0], t_up.matrix[0, 0]))
    roll = (roll + 180) % 360 - 180
    assert abs(roll - angle) < 3.0
    a_up = t_up.warp_image(astronaut).astype(float)
    a_rot = t_rot.warp_image(turned).astype(float)
    inner = (slice(64, 192), slice(64, 192))  # the face itself
    assert np.abs(a_up[inner] - a_rot[inner]).mean() < 12.0
    # And a mask drawn on the rotated face's crop maps onto the same face in the photo:
    # mapped through the known rotation it overlaps the upright face's mask.
    disc = _disc((256, 256), np.array([128.0, 128.0]), 50.0)
    m_rot = t_rot.to_photo_mask(disc, turned.shape)
    inv = cv2.invertAffineTransform(rot)
    m_back = cv2.warpAffine(m_rot.astype(np.uint8), inv, photo.shape[1::-1],
                            flags=cv2.INTER_NEAREST)[pad:-pad, pad:-pad] > 0
    assert _iou(m_back, t_up.to_photo_mask(disc, astronaut.shape)) > 0.85


@pytest.mark.parametrize(("name", "t"), TRANSFORMS[::2], ids=[n for n, _ in TRANSFORMS[::2]])
def test_photo_frame_maps_equal_a_full_frame_warp(name: str, t: AlignTransform) -> None:
    """Whatever shortcut maps the aligned frame back (e.g. warping only the face's region),
    the result is the full-photo inverse warp, also for crops cut by the photo border.

    OpenCV's bilinear warp places samples on a 1/32 px grid that depends on the origin, so
    a unit step may differ by up to ~1/32 between the two; a pixel's shift or a lost row
    differs by up to 1.
    """
    s = t.size
    sharp = _disc((s, s), np.array([0.5 * s, 0.5 * s]), 0.3 * s).astype(np.float32)
    sharp[: s // 8] = 1.0  # also reaches the crop's own border
    img = np.dstack([sharp * 250, sharp[::-1] * 250, np.full((s, s), 120.0)]).astype(np.uint8)
    tol = 0.05
    for shape in (PHOTO, (PHOTO[0] // 2, PHOTO[1] // 3)):  # the second cuts most crops
        h, w = shape

        def full(src: np.ndarray, h: int = h, w: int = w) -> np.ndarray:
            return cv2.warpAffine(src, t.matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)

        ref = full(sharp)
        got = t.to_photo_mask(sharp, shape, soft=True)
        assert got.shape == ref.shape and np.abs(got - ref).max() <= tol
        hard = t.to_photo_mask(sharp > 0.5, shape)
        assert not (hard ^ (ref >= 0.5))[np.abs(ref - 0.5) > tol].any()
        got_img = t.to_photo_image(img, shape).astype(float)
        assert np.abs(got_img - full(img)).max() <= tol * 255
