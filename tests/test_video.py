"""``s3pot video``: per-frame masks of clips, bad clips reported, nothing half-written."""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from s3pot.cli.main import main
from s3pot.export import rle_decode
from s3pot.image_io import load_image

N_FRAMES = 5


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 5-frame MPEG-4 clip of the demo photo (an occluder over mouth and cheek), the
    camera panning a few pixels per frame."""
    from s3pot.cli.demo import demo_photo

    photo, _ = demo_photo()
    h, w = photo.shape[:2]
    path = tmp_path_factory.mktemp("clips") / "pan.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (w, h))
    assert writer.isOpened()
    for i in range(N_FRAMES):
        shift = np.float32([[1, 0, 3 * i], [0, 1, -2 * i]])
        frame = cv2.warpAffine(photo, shift, (w, h), borderMode=cv2.BORDER_REFLECT)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_every_frame_gets_the_mask_segment_gives_that_frame(clip: Path, tmp_path: Path, capsys) -> None:
    from s3pot.pipeline import PipelineConfig, S3potPredictor
    from s3pot.video_io import VideoReader

    out = tmp_path / "out"
    code, err = _run(capsys, "video", str(clip), "-o", str(out), "--json", "--quiet")
    assert code == 0, err
    names = [f"pan.occlusion/{i:06d}.png" for i in range(N_FRAMES)]
    assert _files(out) == sorted([*names, "pan.json", "pan.overlay.mp4"])
    assert f"frames: {N_FRAMES} processed, {N_FRAMES} with a face" in err
    # Run again on the output folder itself: its preview is not taken for a clip.
    (out / "pan.mp4").write_bytes(clip.read_bytes())
    code, err = _run(capsys, "video", str(out), "-o", str(out), "--json", "--quiet")
    assert code == 0 and "clips: 1 processed, 0 skipped (existing), 0 failed" in err, err
    (out / "pan.mp4").unlink()
    # Nor does a photo batch over that folder report the preview as a video left out.
    code, err = _run(capsys, "segment", str(out), "-o", str(tmp_path / "photos"), "--quiet")
    assert "left out" not in err and "not read" not in err, err

    predictor = S3potPredictor(PipelineConfig())
    doc = json.loads((out / "pan.json").read_text())
    assert [f["frame"] for f in doc["frames"]] == list(range(N_FRAMES))
    with VideoReader(clip) as reader:
        for index, frame in reader.frames():
            mask = load_image(out / names[index])[..., 0] > 127
            expected = predictor.segment(frame).occlusion
            assert mask.shape == frame.shape[:2]
            assert np.array_equal(mask, expected)
            assert mask.mean() > 0.005  # the occluder is found, not an empty mask
            faces = doc["frames"][index]["faces"]
            assert len(faces) == 1 and "landmarks" not in faces[0]
            assert np.array_equal(rle_decode(faces[0]["occlusion_rle"]), mask)
    preview = cv2.VideoCapture(str(out / "pan.overlay.mp4"))
    shown = 0
    while True:
        ok, bgr = preview.read()
        if not ok:
            break
        assert bgr.shape[:2] == mask.shape
        shown += 1
    assert shown == N_FRAMES


def _declare_rotation(path: Path) -> None:
    """Write a 90-degree clockwise display rotation into an MPEG-4 file's track header
    (what phones do for portrait clips)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0 and data[at + 4] == 0  # version 0 track header
    matrix = at + 4 + 4 + 4 + 4 + 4 + 4 + 4 + 8 + 2 + 2 + 2 + 2
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


def test_portrait_phone_clips_are_segmented_upright(tmp_path: Path, capsys) -> None:
    """A phone stores a portrait clip as sideways frames plus a rotation flag: frames and
    masks come out the way players show them, and the faces (upright there) are found."""
    from s3pot.cli.demo import demo_photo
    from s3pot.video_io import VideoReader

    photo, _ = demo_photo()
    photo = np.ascontiguousarray(photo[:, 40:-80])  # not square: orientation shows in the size
    h, w = photo.shape[:2]
    stored = np.ascontiguousarray(np.rot90(photo, 1))  # the photo's top on the left
    path = tmp_path / "portrait.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (h, w))
    for _ in range(3):
        writer.write(cv2.cvtColor(stored, cv2.COLOR_RGB2BGR))
    writer.release()
    _declare_rotation(path)
    with VideoReader(path) as reader:
        assert (reader.info.width, reader.info.height) == (w, h)
        frame = next(reader.frames())[1]
    assert frame.shape == photo.shape
    assert np.abs(frame.astype(int) - photo).mean() < 6  # upright, not mirrored or turned
    code, err = _run(capsys, "video", str(path), "-o", str(tmp_path / "out"), "--no-overlay", "--quiet")
    assert code == 0 and "frames: 3 processed, 3 with a face" in err, err
    assert load_image(tmp_path / "out" / "portrait.occlusion" / "000000.png").shape[:2] == (h, w)


def test_frame_selection_names_masks_by_frame_index(clip: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, err = _run(capsys, "video", str(clip), "-o", str(out), "--every", "2", "--start", "1",
                     "--max-frames", "2", "--no-overlay", "--quiet")
    assert code == 0, err
    assert _files(out) == ["pan.occlusion/000001.png", "pan.occlusion/000003.png"]
    code, err = _run(capsys, "video", str(clip), "-o", str(tmp_path / "late"), "--start", "9", "--quiet")
    assert code == 1
    assert f"s3pot: {clip}: no frame at or after --start 9 (the clip has {N_FRAMES})" in err.splitlines()
    assert not (tmp_path / "late").exists()
    with pytest.raises(SystemExit) as info:
        main(["video", str(clip), "-o", str(tmp_path / "neg"), "--start", "-1"])
    assert info.value.code == 2 and "must be at least 0, got -1" in capsys.readouterr().err


def test_bad_clips_get_one_line_each_and_the_batch_goes_on(clip: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "text.mp4").write_text("not a video")
    (bad / "empty.mov").write_bytes(b"")
    data = clip.read_bytes()
    (bad / "cut.mp4").write_bytes(data[: len(data) // 2])  # MPEG-4 index at the end: unreadable
    (tmp_path / "no_videos").mkdir()
    out = tmp_path / "out"
    code, err = _run(capsys, "video", str(bad / "text.mp4"), str(bad / "empty.mov"), str(bad / "cut.mp4"),
                     str(tmp_path / "missing.mp4"), str(tmp_path / "no_videos"), str(clip),
                     "-o", str(out), "--no-overlay", "--quiet")
    assert code == 1
    expected = {
        bad / "text.mp4": "not a readable video (FFmpeg could not open it)",
        bad / "empty.mov": "empty file",
        bad / "cut.mp4": "not a readable video (FFmpeg could not open it)",
        tmp_path / "missing.mp4": "file not found",
        tmp_path / "no_videos": "folder holds no videos",
    }
    lines = err.splitlines()
    for path, problem in expected.items():
        assert [line for line in lines if line.startswith(f"s3pot: {path}:")] == [f"s3pot: {path}: {problem}"]
        assert f"  failed: {path}: {problem}" in lines
    assert "clips: 1 processed, 0 skipped (existing), 5 failed" in lines
    assert not any("moov" in line or "mov,mp4" in line for line in lines)  # no FFmpeg chatter
    assert _files(out) == [f"pan.occlusion/{i:06d}.png" for i in range(N_FRAMES)]


def test_interrupted_clip_leaves_earlier_outputs_untouched(clip: Path, tmp_path: Path, capsys,
                                                         monkeypatch) -> None:
    from s3pot.pipeline import S3potPredictor

    out = tmp_path / "out"
    assert _run(capsys, "video", str(clip), "-o", str(out), "--quiet")[0] == 0
    before = {p: (out / p).read_bytes() for p in _files(out)}
    real = S3potPredictor.segment
    calls = {"n": 0}

    def segment_then_stop(self, image):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, image)

    monkeypatch.setattr(S3potPredictor, "segment", segment_then_stop)
    code, err = _run(capsys, "video", str(clip), "-o", str(out), "--json", "--quiet")
    assert code == 130 and "s3pot: interrupted" in err
    assert {p: (out / p).read_bytes() for p in _files(out)} == before  # no pan.json, no temp files


def test_a_clip_shorter_than_its_header_says_is_reported(clip: Path, tmp_path: Path, capsys,
                                                         monkeypatch) -> None:
    from s3pot import video_io

    real_init = video_io.VideoReader.__init__

    def claims_more(self, path):
        real_init(self, path)
        self.info = dataclasses.replace(self.info, frames=self.info.frames + 4)

    monkeypatch.setattr(video_io.VideoReader, "__init__", claims_more)
    code, err = _run(capsys, "video", str(clip), "-o", str(tmp_path / "out"), "--no-overlay", "--quiet")
    assert code == 0
    assert f"  truncated: {clip}: decoded {N_FRAMES} of the {N_FRAMES + 4} frames the file states" in err


def test_a_clip_given_to_segment_points_to_the_video_command(clip: Path, tmp_path: Path, capsys) -> None:
    code, err = _run(capsys, "segment", str(clip), "-o", str(tmp_path / "out"), "--quiet")
    assert code == 1
    assert f"s3pot: {clip}: MP4 video, not a photo: segment it with `s3pot video`" in err.splitlines()


def test_skip_existing_resumes_a_batch_of_clips(clip: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert _run(capsys, "video", str(clip), "-o", str(out), "--quiet")[0] == 0
    stamp = (out / "pan.occlusion" / "000000.png").stat().st_mtime_ns
    code, err = _run(capsys, "video", str(clip), "-o", str(out), "--skip-existing", "--quiet")
    assert code == 0 and "clips: 0 processed, 1 skipped (existing), 0 failed" in err
    assert (out / "pan.occlusion" / "000000.png").stat().st_mtime_ns == stamp
    # Asking for an output the earlier run did not write processes the clip again.
    code, err = _run(capsys, "video", str(clip), "-o", str(out), "--skip-existing", "--json", "--quiet")
    assert code == 0 and "clips: 1 processed, 0 skipped (existing)" in err
    assert (out / "pan.json").is_file()


def test_a_broken_link_to_a_clip_is_reported(tmp_path: Path) -> None:
    from s3pot.errors import VideoLoadError
    from s3pot.video_io import VideoReader, find_videos

    clips = tmp_path / "clips"
    clips.mkdir()
    link = clips / "take1.mp4"
    link.symlink_to(tmp_path / "external-drive" / "take1.mp4")
    paths, problems = find_videos([str(clips)])
    assert paths == [link] and problems == []
    with pytest.raises(VideoLoadError, match="broken symbolic link"):
        VideoReader(link)
