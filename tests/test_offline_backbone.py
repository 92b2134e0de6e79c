"""The offline backbone's token features: what each channel measures, at any grid."""

import cv2
import numpy as np
import pytest

from s3pot.backbone.offline import OfflineEncoder, _cell_features


def _photo(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (5, 5), 1.0)


@pytest.mark.parametrize("size,grid", [(128, 16), (128, 20), (128, 7), (100, 16), (64, 32)])
def test_cells_are_box_means_of_lab_and_spread(size, grid):
    # Grids that do not divide the crop (20 or 7 cells over 128 px) used to fail inside
    # OpenCV (an 8-channel area resize at a non-integer scale).
    image = _photo(size)
    cells = _cell_features(image, grid)
    assert cells.shape == (grid, grid, 8) and cells.dtype == np.float32
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    mean = cv2.resize(lab, (grid, grid), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(cells[..., :3], mean, atol=1e-3)
    sq = cv2.resize(lab[..., 0] ** 2, (grid, grid), interpolation=cv2.INTER_AREA)
    spread = np.sqrt(np.maximum(sq - mean[..., 0] ** 2, 0))
    np.testing.assert_allclose(cells[..., 3], spread, atol=1e-2)
    assert (cells[..., 4:] >= 0).all()


def test_gradient_channels_follow_edge_orientation():
    # A vertical edge has a horizontal gradient (angle 0 or pi: bin 0); a horizontal edge
    # a vertical one (pi / 2: bin 2). Flat cells have no gradient energy at all.
    image = np.full((128, 128, 3), 60, np.uint8)
    image[:, 64:] = 200
    cells = _cell_features(image, 16)
    col = cells[:, 7:9, 4:]  # the two columns of cells the edge runs between
    assert (col[..., 0] > 1).all() and np.allclose(col[..., 1:], 0, atol=1e-3)
    assert np.allclose(cells[:, :6, 4:], 0) and np.allclose(cells[:, 10:, 4:], 0)
    turned = _cell_features(np.ascontiguousarray(image.transpose(1, 0, 2)), 16)
    row = turned[7:9, :, 4:]
    assert (row[..., 2] > 1).all() and np.allclose(row[..., [0, 1, 3]], 0, atol=1e-3)


def test_encode_pair_standardises_jointly_inside_the_region():
    raw, ref = _photo(128, 1), _photo(128, 2)
    region = np.zeros((128, 128), bool)
    region[16:112, 24:104] = True
    e, f = OfflineEncoder(16).encode_pair(raw, ref, region)
    assert tuple(e.shape) == (2, 8, 16, 16) and tuple(f.shape) == (2, 16, 16, 16)
    cells = cv2.resize(region.astype(np.uint8), (16, 16), interpolation=cv2.INTER_NEAREST) > 0
    inside = e.numpy()[:, :, cells]  # (2, 8, n): both images' tokens inside the region
    pooled = inside.transpose(1, 0, 2).reshape(8, -1)
    np.testing.assert_allclose(pooled.mean(1), 0, atol=1e-4)
    np.testing.assert_allclose(pooled.std(1), 1, atol=1e-2)
    assert np.array_equal(f.numpy()[:, :8], e.numpy())  # enhanced = tokens + context
