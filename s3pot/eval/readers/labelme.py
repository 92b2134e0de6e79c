"""labelme JSON polygons (the format the S³POT authors annotated their real set in).

One ``NAME.json`` per image (labelme's default, next to the image or anywhere below the
root), with ``imagePath`` relative to the JSON and ``shapes`` of type polygon, rectangle or
circle. Shapes whose label is in ``face_labels`` build the face region; the others count as
occluders (or only those in ``occluder_labels`` when given). Shapes are drawn like labelme's
own ``shape_to_mask`` (outline included), so masks match labelme's exports.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from s3pot.eval.dataset import Dataset, DatasetError, GroundTruth, Sample, image_size
from s3pot.image_io import decode_image

DEFAULT_FACE_LABELS = ("face",)


def draw_shapes(shapes: list[dict], shape_hw: tuple[int, int], json_path: Path) -> np.ndarray:
    """Union of ``shapes`` rasterised at ``shape_hw`` as a bool mask."""
    h, w = shape_hw
    canvas = Image.new("1", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for shape in shapes:
        kind = shape.get("shape_type") or "polygon"
        pts = [tuple(map(float, p)) for p in shape.get("points", [])]
        if kind == "polygon" and len(pts) >= 3:
            draw.polygon(pts, outline=1, fill=1)
        elif kind == "rectangle" and len(pts) == 2:
            (x0, y0), (x1, y1) = pts
            draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=1, fill=1)
        elif kind == "circle" and len(pts) == 2:
            (cx, cy), (px, py) = pts
            r = float(np.hypot(px - cx, py - cy))
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=1, fill=1)
        elif kind in ("polygon", "rectangle", "circle"):
            raise DatasetError(json_path, f"{kind} shape '{shape.get('label')}' has {len(pts)} points")
        # lines, points and other non-area shapes cover no pixels: ignored
    return np.asarray(canvas, dtype=bool)


def _embedded_image(data: str, json_path: Path) -> np.ndarray:
    try:
        return decode_image(base64.b64decode(data), name=json_path)
    except (ValueError, TypeError) as exc:
        raise DatasetError(json_path, f"bad imageData ({exc})") from None


def _load_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(path, f"not a readable labelme JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise DatasetError(path, "not a labelme JSON (no 'shapes' list)")
    return doc


def read_labelme(
    root: Path,
    occluder_labels: Iterable[str] | None = None,
    face_labels: Iterable[str] = DEFAULT_FACE_LABELS,
) -> Dataset:
    """Read every labelme JSON below ``root``."""
    jsons = sorted(p for p in root.rglob("*.json") if not p.name.startswith("."))
    if not jsons:
        raise DatasetError(root, "no labelme .json files found")
    face_set = set(face_labels)
    occ_set = None if occluder_labels is None else set(occluder_labels)
    samples: list[Sample] = []
    seen: dict[str, Path] = {}
    labels: set[str] = set()
    for jp in jsons:
        doc = _load_json(jp)
        labels.update(str(sh.get("label", "")) for sh in doc["shapes"])
        if jp.stem in seen:
            raise DatasetError(jp, f"name '{jp.stem}' also used by {seen[jp.stem]}")
        seen[jp.stem] = jp
        rel = (doc.get("imagePath") or "").replace("\\", "/")
        img_path = (jp.parent / rel) if rel else jp.with_suffix(".jpg")
        if rel and not img_path.exists():  # annotated elsewhere: look next to the JSON
            img_path = jp.parent / Path(rel).name
        embedded = doc.get("imageData")
        if not img_path.exists() and not embedded:
            raise DatasetError(jp, f"image {img_path} not found and no imageData embedded")
        samples.append(_sample(jp, doc, img_path, face_set, occ_set))
    notes = [f"labelme labels found: {', '.join(sorted(labels)) or '(none)'}",
             f"face labels: {', '.join(sorted(face_set)) or '(none)'}; occluder labels: "
             + ("every other label" if occ_set is None else ", ".join(sorted(occ_set)))]
    return Dataset(root, "labelme", samples, notes)


def _sample(jp: Path, doc: dict, img_path: Path, face_set: set[str],
            occ_set: set[str] | None) -> Sample:
    use_embedded = not img_path.exists()

    def image() -> np.ndarray:
        if use_embedded:
            return _embedded_image(doc["imageData"], jp)
        from s3pot.image_io import load_image

        return load_image(img_path)

    def load() -> GroundTruth:
        if use_embedded:
            shape = image().shape[:2]
        else:
            shape = image_size(img_path)
        declared = (doc.get("imageHeight"), doc.get("imageWidth"))
        if None not in declared and tuple(declared) != tuple(shape):
            raise DatasetError(
                jp, f"annotated for {declared[1]}x{declared[0]} but the image is "
                f"{shape[1]}x{shape[0]} (never resized; fix the file)")
        shapes = doc["shapes"]
        face_shapes = [s for s in shapes if s.get("label") in face_set]
        occ_shapes = [s for s in shapes if s.get("label") not in face_set
                      and (occ_set is None or s.get("label") in occ_set)]
        occ = draw_shapes(occ_shapes, shape, jp)
        face = draw_shapes(face_shapes, shape, jp) if face_shapes else None
        return GroundTruth(occlusion=occ, face=face)

    return Sample(jp.stem, img_path if not use_embedded else jp, load, image)


def encode_image_data(image: np.ndarray) -> str:
    """PNG+base64 of an RGB array, as labelme embeds it (used by tests and tools)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")
