"""``s3pot demo``: make a sample occluded photo (no download) and segment it.

The face is scikit-image's bundled ``astronaut`` (public domain, NASA); the occluder is a
textured blob placed over the lower face from the landmarks, so the demo always has
something to find.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def demo_photo(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(photo, occluder alpha): the astronaut with a textured occluder over mouth and cheek."""
    import cv2
    from skimage import data

    from s3pot.faces.mediapipe_mesh import MediapipeFaceMesh

    image = data.astronaut()
    det = MediapipeFaceMesh(max_faces=1)
    try:
        faces = det.detect(image)
    finally:
        det.close()
    if not faces:  # pragma: no cover - the bundled photo always has its face
        raise RuntimeError("no face found in the demo photo")
    lm = faces[0].landmarks
    rng = np.random.default_rng(seed)
    centre = lm[291] * 0.6 + lm[152] * 0.4  # over the mouth corner towards the chin
    width = np.linalg.norm(lm[454] - lm[234])
    alpha = np.zeros(image.shape[:2], np.float32)
    axes = (int(width * 0.32), int(width * 0.22))
    cv2.ellipse(alpha, tuple(int(v) for v in centre), axes, -25, 0, 360, 1.0, -1, cv2.LINE_AA)
    # A "microphone" handle down to the bottom of the frame.
    x = int(centre[0])
    cv2.line(alpha, (x, int(centre[1])), (x + 40, image.shape[0]), 1.0, int(width * 0.12), cv2.LINE_AA)
    texture = data.coffee()
    texture = cv2.resize(texture, (image.shape[1], image.shape[0]))
    texture = np.clip(texture.astype(np.float32) * 0.8 + rng.normal(0, 4, texture.shape), 0, 255)
    a = alpha[..., None]
    photo = (image.astype(np.float32) * (1 - a) + texture * a).astype(np.uint8)
    return photo, alpha


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="segment a bundled sample photo (no download needed)")
    p.add_argument("-o", "--output", default="s3pot-demo", metavar="OUTDIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from s3pot.cli.batch import usable_output_folder
    from s3pot.cli.main import main as cli_main
    from s3pot.image_io import save_image

    out = usable_output_folder(args.output, prog="s3pot demo")
    if out is None:
        return 2
    photo, _ = demo_photo()
    src = out / "demo.png"
    try:
        save_image(src, photo)
    except OSError as exc:  # a folder the checks above could not foresee (read-only mount, /proc)
        print(f"s3pot demo: {src}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return 1
    print(f"demo photo: {src}")
    code = cli_main(["segment", str(src), "-o", str(out), "--json", "--save-reference", "--save-visible"])
    if code == 0:
        for suffix in ("occlusion.png", "overlay.jpg", "json", "reference.png", "visible.png"):
            print(f"wrote {out / ('demo.' + suffix)}")
    return code
