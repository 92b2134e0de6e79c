"""Machine-readable results: per-face JSON with COCO RLE masks, polarity stated."""

from __future__ import annotations

import numpy as np

from s3pot.parsing.base import face_region
from s3pot.paste import PHOTO_MASK, occlusion_in_photo
from s3pot.types import PhotoResult

POLARITY = (
    "occlusion: 1 = pixel of the face region covered by something (hand, mask, hair, ...); "
    "0 = visible face or not face. Masks are in the photo frame, COCO RLE (pycocotools)."
)


def rle_encode(mask: np.ndarray) -> dict:
    """Bool (H, W) -> COCO RLE dict with a str ``counts`` (JSON-safe)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def rle_decode(rle: dict) -> np.ndarray:
    from pycocotools import mask as mask_utils

    r = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    return mask_utils.decode(r).astype(bool)


def face_occlusion_in_photo(result: PhotoResult, index: int) -> np.ndarray:
    """One face's occlusion mask in the photo frame: the one the paste stage made for the
    photo's union (refined on the photo) when there is one, so the two always agree."""
    f = result.faces[index]
    shape = result.image_shape
    box, patch = f.extras[PHOTO_MASK] if PHOTO_MASK in f.extras else occlusion_in_photo(f, shape)
    out = np.zeros(shape, bool)
    if box is not None:
        x0, y0, x1, y1 = box
        out[y0:y1, x0:x1] = patch
    return out


def result_to_json(result: PhotoResult, source: str, with_landmarks: bool = True) -> dict:
    """The ``NAME.json`` document."""
    h, w = result.image_shape
    faces = []
    for i, f in enumerate(result.faces):
        occ = face_occlusion_in_photo(result, i)
        region = f.transform.to_photo_mask(face_region(f.parsing), (h, w))
        entry = {
            "box": [round(float(v), 2) for v in f.face.box],
            "score": round(float(f.score), 4),
            "occluded_fraction": round(float(occ.sum() / max(region.sum(), 1)), 4),
            "occlusion_rle": rle_encode(occ),
        }
        if with_landmarks:
            entry["landmarks"] = [[round(float(x), 2), round(float(y), 2)] for x, y in f.face.landmarks]
        faces.append(entry)
    return {"image": source, "width": w, "height": h, "polarity": POLARITY, "faces": faces}
