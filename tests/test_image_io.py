"""Reading every kind of input as RGB uint8, failing with one-line errors, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import EXIF_STORED_ROT90, make_bad_files, save_with_exif_orientation
from PIL import Image

from s3pot import image_io
from s3pot.errors import ImageLoadError
from s3pot.image_io import decode_image, find_images, load_image, save_image, save_json


def _check_rgb(arr: np.ndarray, shape: tuple[int, int]) -> None:
    assert arr.dtype == np.uint8
    assert arr.shape == (*shape, 3)
    assert arr.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize(
    ("suffix", "kwargs", "tol"),
    [(".png", {}, 0), (".bmp", {}, 0), (".webp", {"lossless": True}, 0), (".jpg", {"quality": 95}, 6.0)],
)
def test_formats_load_as_rgb(tmp_path: Path, astronaut: np.ndarray, suffix: str, kwargs: dict,
                             tol: float) -> None:
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(astronaut).save(path, **kwargs)
    arr = load_image(path)
    _check_rgb(arr, astronaut.shape[:2])
    assert np.abs(arr.astype(float) - astronaut).mean() <= tol


@pytest.mark.parametrize("orientation", sorted(EXIF_STORED_ROT90))
def test_exif_orientation_is_applied(tmp_path: Path, astronaut: np.ndarray, orientation: int) -> None:
    upright = np.ascontiguousarray(astronaut[:, 64:448])  # not square: a wrong turn shows in the shape
    path = tmp_path / f"exif{orientation}.jpg"
    save_with_exif_orientation(path, upright, orientation)
    with Image.open(path) as raw:
        stored_shape = (raw.height, raw.width)
    arr = load_image(path)
    _check_rgb(arr, upright.shape[:2])
    if orientation in (6, 8):
        assert stored_shape == upright.shape[1::-1]
    # The loaded picture is the upright one, and clearly not any other turn of it.
    errors = {k: np.abs(arr.astype(float) - np.rot90(upright, k)).mean()
              for k in range(4) if np.rot90(upright, k).shape == arr.shape}
    assert min(errors, key=errors.get) == 0
    assert errors[0] < 4.0


def test_rgba_is_composited_on_white(tmp_path: Path, astronaut: np.ndarray) -> None:
    alpha = np.full(astronaut.shape[:2], 255, np.uint8)
    alpha[:50, :80] = 0
    alpha[100:150, :] = 128
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([astronaut, alpha]), "RGBA").save(path)
    arr = load_image(path)
    _check_rgb(arr, astronaut.shape[:2])
    assert (arr[:50, :80] == 255).all()
    np.testing.assert_array_equal(arr[200:], astronaut[200:])
    half = (astronaut[100:150].astype(float) * 128 + 255 * 127) / 255
    assert np.abs(arr[100:150] - half).max() <= 1.0


def test_grayscale_la_and_palette(tmp_path: Path, astronaut: np.ndarray) -> None:
    gray = np.asarray(Image.fromarray(astronaut).convert("L"))
    Image.fromarray(gray).save(tmp_path / "gray.png")
    arr = load_image(tmp_path / "gray.png")
    _check_rgb(arr, gray.shape)
    for c in range(3):
        np.testing.assert_array_equal(arr[..., c], gray)

    la = Image.fromarray(gray).convert("LA")
    la.save(tmp_path / "la.png")
    np.testing.assert_array_equal(load_image(tmp_path / "la.png")[..., 0], gray)

    pal = Image.fromarray(astronaut).quantize(64)
    pal.save(tmp_path / "palette.png")
    arr = load_image(tmp_path / "palette.png")
    _check_rgb(arr, astronaut.shape[:2])
    np.testing.assert_array_equal(arr, np.asarray(pal.convert("RGB")))

    # Palette with a transparent index: that index shows as white.
    pal.info["transparency"] = 0
    pal.save(tmp_path / "palette_t.png", transparency=0)
    arr = load_image(tmp_path / "palette_t.png")
    idx = np.asarray(pal)
    assert (arr[idx == 0] == 255).all()
    np.testing.assert_array_equal(arr[idx != 0], np.asarray(pal.convert("RGB"))[idx != 0])


def test_sixteen_bit_grayscale_is_rescaled(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 300).astype(np.uint16), (40, 1))
    img = Image.fromarray(ramp)
    assert img.mode.startswith("I;16")
    path = tmp_path / "deep.png"
    img.save(path)
    with Image.open(path) as check:
        assert check.mode in ("I;16", "I", "I;16B")
    arr = load_image(path)
    _check_rgb(arr, ramp.shape)
    expected = np.rint(ramp / 257.0)
    assert np.abs(arr[..., 0].astype(float) - expected).max() <= 1
    assert arr[:, 0].max() == 0 and arr[:, -1].min() == 255


def test_bad_files_fail_with_one_line_naming_the_file(tmp_path: Path, astronaut: np.ndarray) -> None:
    good = tmp_path / "good.jpg"
    Image.fromarray(astronaut).save(good)
    bad = make_bad_files(tmp_path / "bad", good)
    bad["folder"] = tmp_path / "a_folder.jpg"
    bad["folder"].mkdir()
    bad["missing"] = tmp_path / "missing.png"
    for kind, path in bad.items():
        with pytest.raises(ImageLoadError) as info:
            load_image(path)
        msg = str(info.value)
        assert "\n" not in msg, kind
        assert str(path) in msg, kind
        assert info.value.problem, kind
    with pytest.raises(ImageLoadError, match="truncated|corrupt"):
        load_image(bad["truncated"])
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(bad["empty"])
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(bad["text"])
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(bad["folder"])
    with pytest.raises(ImageLoadError):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, name="x.png")


def test_save_image_is_atomic(tmp_path: Path, astronaut: np.ndarray, monkeypatch) -> None:
    out = tmp_path / "out" / "sub" / "mask.png"
    save_image(out, astronaut)
    np.testing.assert_array_equal(load_image(out), astronaut)
    before = out.read_bytes()

    def failing_save(self, fp, *args, **kwargs):  # writes half a file, then the disk is full
        Path(fp).write_bytes(before[: len(before) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError):
        save_image(out, np.zeros_like(astronaut))
    with pytest.raises(OSError):
        save_image(tmp_path / "out" / "new.jpg", astronaut)
    assert out.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["mask.png"]


def test_save_json_is_atomic(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "r.json"
    save_json(path, {"a": 1})
    assert path.read_text(encoding="utf-8").strip().startswith("{")

    def boom(obj, **kwargs):
        raise TypeError("not serialisable")

    monkeypatch.setattr(image_io.json, "dumps", boom)
    with pytest.raises(TypeError):
        save_json(tmp_path / "s.json", {"a": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_find_images_files_folders_globs(tmp_path: Path, astronaut: np.ndarray) -> None:
    root = tmp_path / "in"
    (root / "a" / "deep").mkdir(parents=True)
    (root / "b").mkdir()
    (root / ".cache").mkdir()
    for rel in ("top.png", "a/x.jpg", "a/deep/y.webp", "b/x.jpg", "b/readme.txt", "b/z.gif",
                ".cache/c.png", "a/._x.jpg"):
        p = root / rel
        if p.suffix == ".txt":
            p.write_text("no")
        else:
            Image.fromarray(astronaut[:32, :32]).save(p)
    paths, problems = find_images([str(root)])
    assert problems == []
    assert sorted(p.relative_to(root).as_posix() for p in paths) == [
        "a/deep/y.webp", "a/x.jpg", "b/x.jpg", "b/z.gif", "top.png"]

    paths, problems = find_images([str(root / "a" / "*.jpg"), str(root / "**" / "*.webp")])
    assert [p.name for p in paths] == ["x.jpg", "y.webp"] and problems == []

    # Duplicates collapse; an explicit file is kept whatever its suffix.
    paths, problems = find_images([str(root / "top.png"), str(root), str(root / "b" / "readme.txt")])
    assert len(paths) == 6 and paths[0].name == "top.png"

    empty = tmp_path / "empty_dir"
    empty.mkdir()
    paths, problems = find_images([str(empty), str(tmp_path / "nope.jpg"), str(tmp_path / "*.gif")])
    assert paths == []
    assert [name for name, _ in problems] == [str(empty), str(tmp_path / "nope.jpg"), str(tmp_path / "*.gif")]
    assert all(why for _, why in problems)


def test_float_tiffs_pillow_cannot_read_load_through_opencv(tmp_path: Path, astronaut: np.ndarray) -> None:
    import cv2

    small = np.ascontiguousarray(astronaut[:64, :80])
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    unit = tmp_path / "hdr.tif"  # 32-bit float RGB on [0, 1] (OpenCV stores it LogLuv-compressed)
    assert cv2.imwrite(str(unit), bgr.astype(np.float32) / 255.0)
    arr = load_image(unit)
    _check_rgb(arr, small.shape[:2])
    assert np.abs(arr.astype(int) - small.astype(int)).max() <= 8

    scaled = tmp_path / "scaled.tif"  # floats written on the 0..255 scale stay there
    assert cv2.imwrite(str(scaled), bgr.astype(np.float32))
    assert np.abs(load_image(scaled).astype(int) - small.astype(int)).max() <= 8

    alpha = np.ones(small.shape[:2], np.float32)
    alpha[:, :40] = 0.0  # the left half transparent: white, as viewers show it
    rgba = tmp_path / "cutout.tif"
    assert cv2.imwrite(str(rgba), np.dstack([bgr.astype(np.float32) / 255.0, alpha]))
    arr = load_image(rgba)
    _check_rgb(arr, small.shape[:2])
    assert arr[:, :40].min() == 255
    assert np.abs(arr[:, 40:].astype(int) - small[:, 40:].astype(int)).max() <= 1


def test_float_pixels_are_read_on_the_unit_scale_with_hdr_highlights() -> None:
    from s3pot.image_io import _float_to_255

    hdr = np.array([0.0, 0.5, 1.0, 2.5, np.nan, np.inf])  # highlights above 1: still [0, 1]
    assert np.allclose(_float_to_255(hdr), [0.0, 127.5, 255.0, 637.5, 0.0, 255.0])
    eight_bit = np.array([0.0, 10.0, 200.0, np.inf])
    assert np.allclose(_float_to_255(eight_bit), [0.0, 10.0, 200.0, 255.0])


def test_broken_links_are_reported_not_passed_over(tmp_path: Path, astronaut: np.ndarray) -> None:
    root = tmp_path / "library"
    root.mkdir()
    Image.fromarray(astronaut[:32, :32]).save(root / "kept.png")
    link = root / "moved.jpg"
    link.symlink_to(tmp_path / "gone" / "moved.jpg")
    paths, problems = find_images([str(root)])
    assert problems == []
    assert sorted(p.name for p in paths) == ["kept.png", "moved.jpg"]
    with pytest.raises(ImageLoadError, match="broken symbolic link") as info:
        load_image(link)
    assert str(link) in str(info.value) and "\n" not in str(info.value)
    _, problems = find_images([str(link)])
    assert problems and "broken symbolic link" in problems[0][1]


def test_a_tiff_only_opencv_reads_still_meets_the_pixel_guard(tmp_path: Path) -> None:
    """The size is read from the TIFF's header before OpenCV decodes anything: a small file
    that declares a huge float image is refused like Pillow refuses the others."""
    import struct

    import cv2

    ok, buf = cv2.imencode(".tif", np.zeros((40, 50, 3), np.float32))
    assert ok
    data = bytearray(buf.tobytes())
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from(order + "HH", data, at)
        if tag in (256, 257):  # width and height: 60000 x 60000
            struct.pack_into(order + ("H" if kind == 3 else "I"), data, at + 8, 60000)
    path = tmp_path / "bomb.tif"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match="too large") as info:
        load_image(path)
    assert str(path) in str(info.value)
