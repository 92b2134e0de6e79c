"""``s3pot parse`` and ``s3pot segment`` on good and bad inputs: the batch goes on, errors
name the file on one line, the exit status says whether anything failed, outputs are whole."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_bad_files, needs_segment_backends
from PIL import Image

from s3pot.cli.main import main
from s3pot.export import rle_decode
from s3pot.image_io import load_image

GOOD = ("astronaut.jpg", "rgba.png", "two_faces.png", "rotated.jpg")
FACES = {"astronaut.jpg": 1, "rgba.png": 1, "two_faces.png": 2, "rotated.jpg": 1}


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def _leftovers(outdir: Path) -> list[Path]:
    """Temporary or partial files: anything hidden or ending in .part."""
    return [p for p in outdir.rglob("*") if p.name.startswith(".") or p.suffix == ".part"]


def _error_lines(err: str, path: Path) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(f"s3pot: {path}:")]


@pytest.fixture()
def batch(tmp_path: Path, photo_dir: Path) -> tuple[Path, dict[str, Path]]:
    """Good photos in a folder, plus bad inputs next to it."""
    photos = tmp_path / "photos"
    shutil.copytree(photo_dir, photos)
    bad = make_bad_files(tmp_path / "bad", photos / "astronaut.jpg")
    bad["empty_folder"] = tmp_path / "empty_folder"
    bad["empty_folder"].mkdir()
    bad["missing"] = tmp_path / "missing.png"
    return photos, bad


def test_parse_batch_goes_on_past_bad_files(tmp_path: Path, batch, capsys) -> None:
    photos, bad = batch
    out = tmp_path / "out"
    inputs = [str(bad["truncated"]), str(photos), str(bad["empty"]), str(bad["text"]),
              str(bad["empty_folder"]), str(bad["missing"])]
    code, err = _run(capsys, "parse", *inputs, "-o", str(out), "--quiet")
    assert code != 0
    for kind, path in bad.items():
        lines = _error_lines(err, path)
        assert len(lines) >= 1, f"no error line for {kind}: {err}"
    # Every good photo was processed, at its own size (EXIF-rotated one upright).
    for name in GOOD:
        result = out / Path(name).with_suffix(".parsing.png")
        assert result.is_file(), name
        assert load_image(result).shape == load_image(photos / name).shape
    assert load_image(out / "rotated.parsing.png").shape[:2] == (512, 384)
    produced = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert produced == sorted(str(Path(n).with_suffix(".parsing.png")) for n in GOOD)
    assert _leftovers(out) == []
    summary = err.splitlines()[-(2 + len(bad)):]
    assert summary[0].startswith(f"photos: {len(GOOD)} processed, 0 skipped")
    assert f"{len(bad)} failed" in summary[0]
    assert summary[1].startswith(f"faces found: {sum(FACES.values())}; photos without a face: 0")
    for path in bad.values():
        assert any(line.startswith(f"  failed: {path}: ") for line in summary[2:])


def test_parse_draws_the_parsing_on_the_photo(tmp_path: Path, photo_dir: Path, capsys) -> None:
    out = tmp_path / "out"
    code, _ = _run(capsys, "parse", str(photo_dir / "astronaut.jpg"), "-o", str(out), "--quiet")
    assert code == 0
    photo = load_image(photo_dir / "astronaut.jpg").astype(int)
    parsed = load_image(out / "astronaut.parsing.png").astype(int)
    changed = np.abs(parsed - photo).sum(2) > 30
    ys, xs = np.nonzero(changed)
    assert 0.02 < changed.mean() < 0.3  # the face is coloured, the rest is the photo
    assert 150 < xs.mean() < 300 and 60 < ys.mean() < 220


def test_no_face_photo_is_not_a_failure(tmp_path: Path, capsys) -> None:
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((120, 160, 3), 180, np.uint8)).save(blank)
    code, err = _run(capsys, "parse", str(blank), "-o", str(tmp_path / "out"), "--quiet")
    assert code == 0
    assert "photos without a face: 1" in err and f"  no face: {blank}" in err
    assert load_image(tmp_path / "out" / "wall.parsing.png").shape == (120, 160, 3)


def test_subfolders_keep_their_structure_and_globs_expand(tmp_path: Path, photo_dir: Path,
                                                         capsys) -> None:
    src = tmp_path / "in"
    for rel in ("a/x.jpg", "b/x.jpg", "a/deep/y.jpg"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo_dir / "astronaut.jpg", src / rel)
    globbed = tmp_path / "globbed"
    globbed.mkdir()
    shutil.copy(photo_dir / "rgba.png", globbed / "g1.png")
    shutil.copy(photo_dir / "two_faces.png", globbed / "g2.png")
    (globbed / "skip.jpg").write_bytes(b"")  # not matched by the pattern
    out = tmp_path / "out"
    code, err = _run(capsys, "parse", str(src), str(globbed / "*.png"), "-o", str(out), "--quiet")
    assert code == 0, err
    produced = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert produced == ["a/deep/y.parsing.png", "a/x.parsing.png", "b/x.parsing.png",
                        "g1.parsing.png", "g2.parsing.png"]


def test_same_named_inputs_do_not_overwrite_each_other(tmp_path: Path, photo_dir: Path,
                                                       capsys) -> None:
    """photo.jpg + photo.png in one folder keep their suffix; two x.png given as files from
    different folders get a counter. Each output belongs to its own input."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(photo_dir / "astronaut.jpg", src / "photo.jpg")
    shutil.copy(photo_dir / "two_faces.png", src / "photo.png")
    for sub, name in (("a", "rgba.png"), ("b", "two_faces.png")):
        (tmp_path / sub).mkdir()
        shutil.copy(photo_dir / name, tmp_path / sub / "x.png")
    out = tmp_path / "out"
    code, err = _run(capsys, "parse", str(src), str(tmp_path / "a" / "x.png"),
                     str(tmp_path / "b" / "x.png"), "-o", str(out), "--quiet")
    assert code == 0, err
    produced = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert produced == ["photo.jpg.parsing.png", "photo.png.parsing.png", "x-2.parsing.png",
                        "x.parsing.png"]
    assert "photos: 4 processed" in err
    for result, source in (("photo.jpg", src / "photo.jpg"), ("photo.png", src / "photo.png"),
                           ("x", tmp_path / "a" / "x.png"), ("x-2", tmp_path / "b" / "x.png")):
        assert load_image(out / f"{result}.parsing.png").shape == load_image(source).shape


def test_outputs_in_an_input_folder_are_not_photos(tmp_path: Path, photo_dir: Path, capsys) -> None:
    """``-o`` the photo folder itself, run twice: the second run does not segment the first
    run's outputs; a file named on the command line is processed whatever its name."""
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(photo_dir / "astronaut.jpg", folder / "a.jpg")
    for _ in range(2):
        code, err = _run(capsys, "parse", str(folder), "-o", str(folder), "--quiet")
        assert code == 0, err
        assert "photos: 1 processed" in err
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg", "a.parsing.png"]
    assert "left out 1 file named like s3pot outputs" in err
    code, err = _run(capsys, "parse", str(folder / "a.parsing.png"), "-o", str(tmp_path / "o"),
                     "--quiet")
    assert code == 0 and "photos: 1 processed" in err
    assert (tmp_path / "o" / "a.parsing.parsing.png").is_file()


def test_phone_and_hidden_files_in_a_folder(tmp_path: Path, photo_dir: Path, capsys) -> None:
    """A GIF in a folder is a photo; hidden files (macOS ``._a.jpg`` resource forks, a
    ``.thumbs/`` folder) are passed over; HEIC / RAW photos and videos are reported in one
    line with what to do about each, and named explicitly fail with it instead of
    "unrecognised format"."""
    folder = tmp_path / "phone"
    (folder / ".thumbs").mkdir(parents=True)
    Image.fromarray(load_image(photo_dir / "astronaut.jpg")).save(folder / "a.gif")
    shutil.copy(photo_dir / "astronaut.jpg", folder / ".thumbs" / "t.jpg")
    (folder / "._a.jpg").write_bytes(b"\x00\x05\x16\x07 resource fork")
    for name in ("IMG_1.HEIC", "IMG_2.heic", "raw.cr2"):
        (folder / name).write_bytes(b"\x00\x00\x00\x18ftypheic")
    (folder / "clip.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  ")
    out = tmp_path / "out"
    code, err = _run(capsys, "parse", str(folder), "-o", str(out), "--quiet")
    assert code == 0, err
    assert "photos: 1 processed, 0 skipped (existing), 0 failed" in err
    assert ("  not read: 1 .cr2, 2 .heic (format not supported here: convert to JPEG or PNG); "
            "1 .mov (video, not a photo: segment it with `s3pot video`)") in err
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["a.parsing.png"]
    notice = [line for line in err.splitlines() if line.startswith("s3pot: left out")]
    assert len(notice) == 1 and "1 .cr2, 2 .heic (format" in notice[0] and "convert to JPEG" in notice[0]
    assert "1 .mov (video" in notice[0]
    code, err = _run(capsys, "parse", str(folder / "IMG_1.HEIC"), "-o", str(out), "--quiet")
    assert code == 1
    assert _error_lines(err, folder / "IMG_1.HEIC") == [
        f"s3pot: {folder / 'IMG_1.HEIC'}: HEIC format not supported here: convert to JPEG or PNG"]
    code, err = _run(capsys, "segment", str(folder / "clip.MOV"), "-o", str(out), "--quiet")
    assert code == 1
    assert _error_lines(err, folder / "clip.MOV") == [
        f"s3pot: {folder / 'clip.MOV'}: MOV video, not a photo: segment it with `s3pot video`"]


def test_face_limit_is_reported(tmp_path: Path, photo_dir: Path, capsys) -> None:
    """Stopping at --max-faces is said in the summary (the photo may hold more faces)."""
    photo = photo_dir / "two_faces.png"
    code, err = _run(capsys, "parse", str(photo), "-o", str(tmp_path / "a"), "--quiet", "--max-faces", "1")
    assert code == 0 and "faces found: 1;" in err
    assert f"  face limit reached (--max-faces 1), more faces may be there: {photo}" in err
    code, err = _run(capsys, "parse", str(photo), "-o", str(tmp_path / "b"), "--quiet", "--max-faces", "3")
    assert code == 0 and "faces found: 2;" in err and "face limit" not in err
    with pytest.raises(SystemExit) as info:
        main(["parse", str(photo), "-o", str(tmp_path / "c"), "--max-faces", "0"])
    assert info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_skip_existing_resumes(tmp_path: Path, photo_dir: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["parse", str(photo_dir / "astronaut.jpg"), str(photo_dir / "rgba.png"), "-o", str(out), "--quiet"]
    assert _run(capsys, *args)[0] == 0
    first = out / "astronaut.parsing.png"
    stamp = first.stat().st_mtime_ns
    (out / "rgba.parsing.png").unlink()  # as if the batch had stopped there
    code, err = _run(capsys, *args, "--skip-existing")
    assert code == 0
    assert "photos: 1 processed, 1 skipped" in err
    assert first.stat().st_mtime_ns == stamp
    assert (out / "rgba.parsing.png").is_file()
    # Without the flag everything is redone.
    code, err = _run(capsys, *args)
    assert "photos: 2 processed, 0 skipped" in err


def test_failed_write_leaves_no_partial_file(tmp_path: Path, photo_dir: Path, capsys,
                                             monkeypatch) -> None:
    out = tmp_path / "out"
    real_save = Image.Image.save

    def disk_full_for_one(self, fp, *args, **kwargs):
        if "two_faces" in str(fp):
            Path(fp).write_bytes(b"\x89PNG\r\n\x1a\n half a file")
            raise OSError(28, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", disk_full_for_one)
    inputs = [str(photo_dir / n) for n in ("astronaut.jpg", "two_faces.png", "rgba.png")]
    code, err = _run(capsys, "parse", *inputs, "-o", str(out), "--quiet")
    assert code != 0
    lines = _error_lines(err, photo_dir / "two_faces.png")
    assert len(lines) == 1 and "No space left on device" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.parsing.png", "rgba.parsing.png"]
    assert _leftovers(out) == []


def test_usage(capsys) -> None:
    assert main([]) == 2
    assert "segment" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["parse", "x.jpg"])  # -o is required
    assert info.value.code == 2


def test_console_script_end_to_end(tmp_path: Path, photo_dir: Path) -> None:
    """The installed entry point, in a fresh process: exit status and stderr as a user sees them."""
    bad = make_bad_files(tmp_path / "bad", photo_dir / "astronaut.jpg")
    out = tmp_path / "out"
    exe = shutil.which("s3pot", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "s3pot.cli.main"]
    proc = subprocess.run(
        [*cmd, "parse", str(photo_dir / "astronaut.jpg"), str(bad["truncated"]), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert len(_error_lines(proc.stderr, bad["truncated"])) == 1
    assert "photos: 1 processed, 0 skipped (existing), 1 failed" in proc.stderr
    assert (out / "astronaut.parsing.png").is_file()
    assert "Traceback" not in proc.stderr
    # mediapipe's native banner and first-landmarks warnings stay out of the user's terminal.
    for noise in ("TensorFlow Lite", "absl", "W0000", "I0000"):
        assert noise not in proc.stderr, proc.stderr


# -- segment (needs the default segmenter, generator and its shipped model) -----------------

SEGMENT_FLAGS = ("--json", "--save-reference", "--save-visible", "--save-parsing")


def _mask(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "L"
        arr = np.asarray(img)
    assert set(np.unique(arr).tolist()) <= {0, 255}
    return arr == 255


@needs_segment_backends
def test_segment_batch_outputs(tmp_path: Path, batch, capsys) -> None:
    photos, bad = batch
    out = tmp_path / "out"
    code, err = _run(capsys, "segment", str(photos), str(bad["truncated"]), str(bad["empty"]),
                     str(bad["text"]), "-o", str(out), "--quiet", *SEGMENT_FLAGS)
    assert code != 0
    for kind in ("truncated", "empty", "text"):
        assert len(_error_lines(err, bad[kind])) == 1, kind
    assert f"photos: {len(GOOD)} processed" in err and "3 failed" in err
    for name in GOOD:
        stem = out / Path(name).stem
        h, w = load_image(photos / name).shape[:2]
        occ = _mask(Path(f"{stem}.occlusion.png"))
        vis = _mask(Path(f"{stem}.visible.png"))
        assert occ.shape == vis.shape == (h, w)
        assert not (occ & vis).any()
        assert vis.any(), f"{name}: no visible face at all"
        for suffix in ("overlay.jpg", "reference.png", "parsing.png"):
            assert load_image(Path(f"{stem}.{suffix}")).shape == (h, w, 3), suffix
        doc = json.loads(Path(f"{stem}.json").read_text())
        assert "occlusion: 1 =" in doc["polarity"]
        assert (doc["width"], doc["height"]) == (w, h)
        assert len(doc["faces"]) == FACES[name]
        union = np.zeros((h, w), bool)
        for face in doc["faces"]:
            assert len(face["box"]) == 4 and len(face["landmarks"]) == 478
            assert 0 <= face["score"] <= 1
            m = rle_decode(face["occlusion_rle"])
            assert m.shape == (h, w)
            union |= m
        assert (union ^ occ).sum() <= 0.01 * max(occ.sum(), 100)
    assert _leftovers(out) == []
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(("truncated", "empty", "notes"))) == []


@needs_segment_backends
def test_segment_skip_existing_counts_every_requested_output(tmp_path: Path, photo_dir: Path,
                                                             capsys) -> None:
    out = tmp_path / "out"
    args = ["segment", str(photo_dir / "astronaut.jpg"), "-o", str(out), "--quiet", "--json"]
    assert _run(capsys, *args)[0] == 0
    code, err = _run(capsys, *args, "--skip-existing")
    assert "photos: 0 processed, 1 skipped" in err
    # Asking for one more output than exists: the photo is redone.
    code, err = _run(capsys, *args, "--skip-existing", "--save-visible")
    assert code == 0 and "photos: 1 processed, 0 skipped" in err
    assert (out / "astronaut.visible.png").is_file()


@needs_segment_backends
def test_segment_with_a_missing_model_fails_once_before_the_batch(tmp_path: Path, photo_dir: Path,
                                                                  capsys) -> None:
    model = tmp_path / "no_such_model.npz"
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["segment", str(photo_dir / "astronaut.jpg"), str(photo_dir / "rgba.png"),
              "-o", str(out), "--quiet", "--reference-model", str(model)])
    message = str(info.value.code)
    assert message.startswith("s3pot: ") and str(model) in message and "\n" not in message
    assert "photos:" not in capsys.readouterr().err  # stopped before any photo
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("command", ["segment", "parse"])
def test_output_that_is_a_file_fails_once_before_the_batch(tmp_path: Path, photo_dir: Path, capsys,
                                                           command: str) -> None:
    """``-o`` naming a file (or a folder under a file): one line naming it, exit 2, no photo
    processed, nothing written."""
    target = tmp_path / "taken.txt"
    target.write_text("not a folder")
    for out in (target, target / "sub"):
        code, err = _run(capsys, command, str(photo_dir / "astronaut.jpg"), "-o", str(out), "--quiet")
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and str(out) in lines[0] and "folder" in lines[0]
        assert "photos:" not in err
    assert target.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.txt"]


def test_demo_and_synth_refuse_a_file_as_output_folder(tmp_path: Path, capsys) -> None:
    from s3pot.cli.main import main

    target = tmp_path / "taken.txt"
    target.write_text("x")
    code, err = _run(capsys, "demo", "-o", str(target))
    assert code == 2 and err.strip().count("\n") == 0 and "not a folder" in err
    faces, occluders = tmp_path / "faces", tmp_path / "occ"
    faces.mkdir()
    occluders.mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["synth", str(faces), str(occluders), "-o", str(target / "sub")])
    assert "is not a folder" in str(exc.value.code) and str(target) in str(exc.value.code)
    assert target.read_text() == "x"


def test_demo_unwritable_folder_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    """A folder that passes the checks but refuses the write (read-only mount, /proc):
    one line naming the file, no traceback."""
    from s3pot import image_io

    def refuse(path, image):
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(image_io, "save_image", refuse)
    code, err = _run(capsys, "demo", "-o", str(tmp_path / "out"))
    assert code == 1
    assert err.strip().splitlines() == [
        f"s3pot demo: {tmp_path / 'out' / 'demo.png'}: cannot write (No such file or directory)"]


@pytest.mark.parametrize("argv, needle", [
    (["segment", "--generator", "e4s"], "--e4s-checkpoint"),
    (["segment", "--parser", "bisenet"], "--parser-checkpoint"),
    (["parse", "--parser", "bisenet"], "--parser-checkpoint"),
])
def test_backend_without_its_weights_is_one_line_before_the_batch(tmp_path: Path, photo_dir: Path,
                                                                  capsys, argv, needle) -> None:
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main([*argv, str(photo_dir / "astronaut.jpg"), "-o", str(out), "--quiet"])
    message = str(info.value.code)
    assert message.startswith("s3pot: ") and needle in message and "weights download" in message
    assert "\n" not in message and "photos:" not in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("command, flag", [("segment", "--generator"), ("segment", "--parser"),
                                           ("parse", "--parser")])
def test_unknown_backend_name_is_a_usage_error(tmp_path: Path, photo_dir: Path, capsys,
                                               command, flag) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, str(photo_dir / "astronaut.jpg"), "-o", str(tmp_path / "out"), flag, "nope"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["segment", "parse"])
def test_unreadable_parser_checkpoint_fails_once_naming_it(tmp_path: Path, photo_dir: Path, capsys,
                                                           command) -> None:
    """A corrupt checkpoint is the checkpoint's fault, said once: not every photo failing."""
    bad = tmp_path / "79999_iter.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(SystemExit) as info:
        main([command, str(photo_dir / "astronaut.jpg"), str(photo_dir / "rgba.png"),
              "-o", str(tmp_path / "out"), "--quiet", "--parser", "bisenet",
              "--parser-checkpoint", str(bad)])
    message = str(info.value.code)
    assert message.startswith(f"s3pot: {bad}: ") and "\n" not in message
    assert "photos:" not in capsys.readouterr().err


@pytest.mark.parametrize("argv, needle", [
    (["segment", "--parser-checkpoint", "79999_iter.pth"], "--parser-checkpoint is for --parser bisenet"),
    (["parse", "--parser-checkpoint", "79999_iter.pth"], "--parser-checkpoint is for --parser bisenet"),
    (["segment", "--parser", "bisenet", "--parser-checkpoint", "79999_iter.pth",
      "--outline-model", "wide.npz"], "--outline-model is for --parser landmarks"),
])
def test_model_flag_of_the_other_parser_is_one_line(tmp_path: Path, photo_dir: Path, capsys,
                                                    argv, needle) -> None:
    """A parser's model flag given to the other parser says so, before any photo (it was a
    TypeError traceback from the landmark parser's constructor)."""
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main([*argv, str(photo_dir / "astronaut.jpg"), "-o", str(out), "--quiet"])
    message = str(info.value.code)
    assert message.startswith("s3pot: ") and needle in message and "\n" not in message
    assert "photos:" not in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("command", ["segment", "parse"])
def test_outline_model_flag(tmp_path: Path, photo_dir: Path, capsys, command) -> None:
    """``--outline-model``: a broken file fails once, naming it; a good one is used."""
    bad = tmp_path / "outline.npz"
    bad.write_text("not a model")
    with pytest.raises(SystemExit) as info:
        main([command, str(photo_dir / "astronaut.jpg"), str(photo_dir / "rgba.png"),
              "-o", str(tmp_path / "out"), "--quiet", "--outline-model", str(bad)])
    message = str(info.value.code)
    assert message.startswith(f"s3pot: {bad}: ") and "\n" not in message
    assert "photos:" not in capsys.readouterr().err
    from s3pot.cli.main import build_parser
    from s3pot.cli.segment import parser_kwargs_from

    args = build_parser().parse_args([command, "x.jpg", "-o", "out", "--outline-model", "m.npz"])
    assert parser_kwargs_from(args) == {"outline_model": "m.npz"}


def test_device_is_checked_before_any_work(capsys) -> None:
    """``--device`` must name a device this machine has; a typo or a missing GPU is one
    argparse line (exit 2), not a slow CPU run or a traceback inside a model load."""
    import torch

    from s3pot.cli.main import build_parser
    from s3pot.cli.segment import config_from_args

    bad = ["banana", "cuda:x", "tpu"]
    if not torch.cuda.is_available():
        bad += ["cuda", "cuda:0"]
    for device in bad:
        with pytest.raises(SystemExit) as info:
            main(["segment", "x.jpg", "-o", "out", "--device", device])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "argument --device:" in err and device in err
    # The device reaches every backend that runs on torch (not the offline default).
    args = build_parser().parse_args(["segment", "x.jpg", "-o", "out", "--device", "cpu"])
    args.device = "cuda:1"  # as if validated on a machine with two GPUs
    args.generator, args.e4s_checkpoint = "e4s", "e4s.pt"
    args.parser, args.parser_checkpoint = "bisenet", "bisenet.pth"
    args.sam_checkpoint = "sam.pth"
    cfg = config_from_args(args)
    assert cfg.generator_kwargs == {"checkpoint": "e4s.pt", "device": "cuda:1"}
    assert cfg.parser_kwargs == {"checkpoint": "bisenet.pth", "device": "cuda:1"}
    assert cfg.backbone == "sam" and cfg.backbone_kwargs["device"] == "cuda:1"


def test_jobs_give_the_same_outputs_and_summary(tmp_path: Path, photo_dir: Path, capsys) -> None:
    """``--jobs 2``: worker processes write the same files as one process, bad files are
    still one line each and in the summary, and the exit status says a file failed."""
    src = tmp_path / "in"
    shutil.copytree(photo_dir, src)
    make_bad_files(src / "bad", photo_dir / "astronaut.jpg")
    runs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        code, err = _run(capsys, "segment", str(src), "-o", str(out), "--quiet", "--json",
                         "--jobs", jobs)
        lines = err.splitlines()
        runs[jobs] = (code, sorted(lines[lines.index(next(x for x in lines if x.startswith("photos:"))):]),
                      sorted(line for line in lines if line.startswith("s3pot: ")), out)
    (code1, summary1, errors1, out1), (code2, summary2, errors2, out2) = runs["1"], runs["2"]
    assert code1 == code2 == 1
    assert summary1 == summary2 and "photos: 4 processed, 0 skipped (existing), 3 failed" in summary1
    assert errors1 == errors2 and len(errors2) == 3
    files = sorted(p.relative_to(out1).as_posix() for p in out1.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out2).as_posix() for p in out2.rglob("*") if p.is_file())
    assert len(files) == 4 * 3 and not _leftovers(out2)
    for rel in files:
        if rel.endswith(".occlusion.png"):
            np.testing.assert_array_equal(load_image(out1 / rel), load_image(out2 / rel))
        if rel.endswith(".json"):
            faces = lambda p: [(f["box"], f["occlusion_rle"]) for f in json.loads(p.read_text())["faces"]]  # noqa: E731
            assert faces(out1 / rel) == faces(out2 / rel)


def test_warnings_are_one_line_for_the_user(capsys, monkeypatch) -> None:
    """A warning during a command (an untrained screening network, ...) reads as one
    ``s3pot: warning:`` line, not a source location and code; the caller's own warning
    display is back after ``main`` returns."""
    import warnings

    from s3pot.cli import demo
    from s3pot.screening import untrained_warning

    def warn_and_finish(args) -> int:
        untrained_warning(seed=0)
        return 0

    monkeypatch.setattr(demo, "run", warn_and_finish)
    before = warnings.showwarning
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, err = _run(capsys, "demo", "-o", "unused")
    assert code == 0
    assert err.splitlines() == [err.strip()] and err.startswith(
        "s3pot: warning: no --screening checkpoint: using a freshly initialised screening network")
    assert warnings.showwarning is before


def test_an_unforeseen_error_on_one_photo_is_one_line_and_the_batch_goes_on() -> None:
    """A bug met on one photo (here a ValueError with a line break in its message) becomes
    that photo's failure, one line naming it; the next photo is processed; Ctrl-C still
    stops the batch."""
    from s3pot.cli.workers import attempt

    def process(path: Path, stem: Path) -> int:
        if path.name == "strip.png":
            raise ValueError("target size must be\npositive, got (0, 1280)")
        return 2

    n, failure = attempt(process, Path("in/strip.png"), Path("out/strip"))
    assert n is None and failure is not None and failure[0] == "in/strip.png"
    assert failure[2].startswith("s3pot: in/strip.png: internal error")
    assert "ValueError: target size must be positive, got (0, 1280)" in failure[2]
    assert "\n" not in failure[2]
    assert attempt(process, Path("in/good.png"), Path("out/good")) == (2, None)

    def interrupted(path: Path, stem: Path) -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        attempt(interrupted, Path("in/good.png"), Path("out/good"))


def test_an_output_that_cannot_be_written_names_the_file(tmp_path) -> None:
    """A write that fails (a folder removed under the batch, permissions, a full disk) is
    that photo's one-line failure naming the photo and the output file that failed."""
    import errno

    from s3pot.cli.workers import attempt

    target = tmp_path / "gone" / "a.occlusion.png"

    def process(path: Path, stem: Path) -> int:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(target))

    n, failure = attempt(process, Path("in/a.png"), tmp_path / "gone" / "a")
    assert n is None and failure is not None
    assert failure[2] == f"s3pot: in/a.png: cannot write outputs ({target}: No such file or directory)"
