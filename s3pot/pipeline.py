"""The S³POT pipeline as a predictor: build once, call on many photos.

Stages, each a module or a folder of named backends:

    faces (s3pot.faces) -> parsing (s3pot.parsing) -> reference (s3pot.reference)
    -> segmenter: backbone + contrast/prompts + decode (s3pot.segmenters) -> paste back

and back once, for a face whose mask the segmenter found the wrong way round (the
reference explained the occluder and rejected the face): the reference is refitted without
that mask and the face segmented again (``ReferenceGenerator.refit``); and back to the
face stage once, for a face whose mask covers much of M's outline (an occluder across the
outline pulls the face mesh in): the landmarks are found again with the occlusion painted
out, and the face's stages run again on them where they give a larger M
(s3pot.faces.remesh, ``PipelineConfig.remesh``).

Beside them, on the whole photo: occluder hints (s3pot.occluders: detected hands), run on
a second thread while the face stages run, and handed to the segmenter per face.

In the spirit of segment-anything's ``SamPredictor``::

    predictor = S3potPredictor(PipelineConfig())
    predictor.set_image(rgb)          # faces, parsing, references
    result = predictor.predict()      # masks per face and for the photo
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from s3pot.faces.align import ALIGN_SIZES, ffhq_quad, transform_from_quad
from s3pot.faces.base import FaceDetector, alignment_points, position_key
from s3pot.faces.remesh import remesh
from s3pot.parsing.base import face_region
from s3pot.paste import face_patches, photo_masks
from s3pot.segmenters.base import INVERTED, REFITTED
from s3pot.threads import single_blas_thread
from s3pot.types import Face, FaceResult, PhotoResult

OCCLUDERS = "occluders"  # FaceResult.extras: the photo's occluder detections, for a remesh
REMESHED = "remeshed"  # FaceResult.extras: the landmarks were found again (s3pot.faces.remesh)


@dataclass
class PipelineConfig:
    """Which backend runs each stage, by name, with its keyword arguments."""

    align_size: int = 256  # aligned crop side: 256, 512 or 1024
    parser: str = "landmarks"
    parser_kwargs: dict[str, Any] = field(default_factory=dict)
    generator: str = "pca"
    generator_kwargs: dict[str, Any] = field(default_factory=dict)
    backbone: str = "offline"
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    occluders: str = "hands"  # occluder detector giving the segmenter hints ("none": none)
    max_faces: int = 16
    min_detection_confidence: float = 0.5
    # Look for a face's landmarks again, with its occlusion painted out, when the mask
    # covers much of M's outline, and keep them where they give a larger M
    # (s3pot.faces.remesh: an occluder across the outline pulls the mesh in).
    remesh: bool = True

    def __post_init__(self) -> None:
        if self.align_size not in ALIGN_SIZES:
            raise ValueError(f"align_size must be one of {ALIGN_SIZES}, not {self.align_size}")


class S3potPredictor:
    """Finds every face in a photo and segments what covers it.

    Backends are built lazily: ``prepare`` with ``reference=False`` never loads a
    generator, and nothing loads a segmenter until ``predict``.
    """

    def __init__(self, config: PipelineConfig | None = None, detector: FaceDetector | None = None) -> None:
        self.config = config or PipelineConfig()
        self._detector = detector
        self._parser = None
        self._generator = None
        self._segmenter = None
        self._occluders = None
        self._threads: dict[str, ThreadPoolExecutor] = {}
        self._image: np.ndarray | None = None
        self._faces: list[FaceResult] = []

    # -- stage backends -------------------------------------------------------------
    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            from s3pot.faces.mediapipe_mesh import MediapipeFaceMesh

            self._detector = MediapipeFaceMesh(
                max_faces=self.config.max_faces, min_confidence=self.config.min_detection_confidence
            )
        return self._detector

    @property
    def parser(self):
        if self._parser is None:
            from s3pot.parsing.base import build_parser

            self._parser = build_parser(self.config.parser, **self.config.parser_kwargs)
        return self._parser

    @property
    def generator(self):
        if self._generator is None:
            from s3pot.reference.base import build_generator

            self._generator = build_generator(self.config.generator, **self.config.generator_kwargs)
        return self._generator

    @property
    def segmenter(self):
        if self._segmenter is None:
            from s3pot.segmenters.base import build_segmenter

            self._segmenter = build_segmenter(self.config.backbone, **self.config.backbone_kwargs)
        return self._segmenter

    @property
    def occluder_detector(self):
        """The occluder detector of ``config.occluders``, or None for ``"none"``."""
        from s3pot.occluders.base import NONE, build_occluder_detector

        if self._occluders is None and self.config.occluders != NONE:
            self._occluders = build_occluder_detector(self.config.occluders)
        return self._occluders

    def _start_occluders(self, image: np.ndarray) -> Future | None:
        """Run the occluder detector on a second thread: its native graph releases the GIL
        and overlaps the face stages. Measured on the dev bench: the offline pipeline at
        4.2x a face-mesh call becomes 6.2x with the hand graph run in turn, 5.0x beside it.
        Starting it only once the face mesh has found faces (the mesh then runs alone)
        measured worse: ratio 5.76 / 5.88 / 5.98 -> 6.44 / 6.01 / 6.11 (alternating runs of
        ``benchmarks/offline_quality.py --limit 2``)."""
        detector = self.occluder_detector
        if detector is None:
            return None
        return self._thread("occluders").submit(detector.detect, image)

    def _start_near_occluders(self, image: np.ndarray, faces: list[Face], started: int) -> list[Future]:
        """Second looks of the occluder detector on crops around faces that are small in
        the photo (:func:`s3pot.occluders.base.needs_near_pass`), on the occluder thread
        after the whole-photo pass: the largest faces first, at most NEAR_MAX_FACES a photo
        (``started`` of them already)."""
        from s3pot.occluders.base import NEAR_MAX_FACES, box_side, needs_near_pass

        detector = self.occluder_detector
        small = [f for f in faces if needs_near_pass(f.box, image.shape)]
        small.sort(key=lambda f: (-box_side(f.box), position_key(f)))
        room = max(NEAR_MAX_FACES - started, 0)
        return [self._thread("occluders").submit(detector.detect_near, image, f.box)
                for f in small[:room]]

    def _thread(self, name: str) -> ThreadPoolExecutor:
        """A worker thread of this predictor (one per kind of work), started on first use."""
        if name not in self._threads:
            self._threads[name] = ThreadPoolExecutor(1, thread_name_prefix=f"s3pot-{name}")
        return self._threads[name]

    # -- stages -----------------------------------------------------------------------
    def prepare(self, image: np.ndarray, reference: bool = True,
                ready: Callable[[list[FaceResult]], None] | None = None) -> list[FaceResult]:
        """Faces -> alignment -> parsing (-> reference, occluder hints) for every face of
        ``image``. ``ready``, if given, is called with faces whose stages (hints included)
        are done, each face once, possibly while the search for more faces still runs."""
        from s3pot.occluders.base import NEAR_PHOTO_SIDE, occluder_hint

        image = _check_rgb(image)
        hints = reference and self.occluder_detector is not None
        # The occluder passes, in submission order: the whole photo at once (beside the
        # face mesh), except in a large photo, where the detector's small input makes it
        # blind to a hand over a face of ordinary size: there the passes wait for the
        # faces and look around the small ones (the whole photo when none is small).
        big = max(image.shape[:2]) > NEAR_PHOTO_SIDE
        passes: list[Future] = []
        if hints and not big:
            passes.append(self._start_occluders(image))
        looked_whole = bool(passes)
        near_count = 0
        finished: set[int] = set()

        def found(faces: list[Face]) -> None:
            nonlocal looked_whole, near_count
            if not hints:
                return
            near = self._start_near_occluders(image, faces, near_count)
            near_count += len(near)
            passes.extend(near)
            if not near and not looked_whole and faces:
                passes.append(self._start_occluders(image))
                looked_whole = True

        def finish(frs: list[FaceResult]) -> None:
            if hints:
                occluders = [o for f in list(passes) for o in f.result()]
                for fr in frs:
                    fr.occluder_hint = occluder_hint(self.occluder_detector, occluders, fr)
                    fr.extras[OCCLUDERS] = occluders  # drawn again if the face is remeshed
            finished.update(id(fr) for fr in frs)
            if ready is not None:
                ready(frs)

        with single_blas_thread():  # small solves beside the hand graph (s3pot.threads)
            results = self._face_stages(image, reference, finish, found)
            finish([fr for fr in results if id(fr) not in finished])
        return results

    def _face_stages(self, image: np.ndarray, reference: bool,
                     early: Callable[[list[FaceResult]], None] | None = None,
                     found: Callable[[list[Face]], None] | None = None) -> list[FaceResult]:
        """Every face's stages. ``early`` receives the first faces while the search for
        more still runs (and is not called when there is no search); ``found`` receives
        faces as soon as they are detected, before their stages."""
        first, rest = self.detector.detect_first(image)
        if found is not None:
            found(first)
        # The search for more faces runs on a thread of its own beside the first faces'
        # stages (mediapipe's graphs release the GIL). benchmarks/compare_trees.py, two
        # runs: B/A 0.83-0.85 on biden.jpg (2.1 Mpx, one face, two detector tiles),
        # 0.78-0.87 on two_people.jpg, 0.89 on johnsnow_test1.jpg; photos whose faces
        # fill enough of the frame never search (B/A 1.0 within noise).
        more = self._thread("faces").submit(rest) if rest is not None else None
        results = [self._face_stage(image, face, reference) for face in first]
        if more is not None:
            if early is not None and results:
                early(list(results))
            extra = more.result()
            if found is not None:
                found(extra)
            results += [self._face_stage(image, face, reference) for face in extra]
            results.sort(key=lambda fr: position_key(fr.face))  # as detect() orders them
        return results

    def _face_stage(self, image: np.ndarray, face: Face, reference: bool) -> FaceResult:
        quad = ffhq_quad(*alignment_points(face.landmarks))
        t = transform_from_quad(quad, self.config.align_size)
        aligned = t.warp_image(image)
        lm = t.to_aligned(face.landmarks)
        parsing = self.parser.parse(aligned, lm)
        fr = FaceResult(face=face, transform=t, aligned=aligned, landmarks_aligned=lm, parsing=parsing)
        fr.extras["valid"] = t.valid_mask(image.shape)
        if reference:
            self._add_reference(fr)
        return fr

    def _add_reference(self, fr: FaceResult) -> None:
        ref = self.generator.generate(fr.aligned, fr.landmarks_aligned, fr.parsing)
        fr.reference, fr.confidence = ref.image, ref.confidence

    def set_image(self, image: np.ndarray) -> None:
        """Run every stage up to the reference on an RGB uint8 photo (H, W, 3)."""
        self._image = _check_rgb(image)
        self._faces = self.prepare(self._image)

    def predict(self) -> PhotoResult:
        """Segment every face of the image given to :meth:`set_image`."""
        if self._image is None:
            raise RuntimeError("call set_image() before predict()")
        with single_blas_thread():
            return self._predict()

    def _predict(self) -> PhotoResult:
        for fr in self._faces:
            self._segment_face(fr)
        return self._photo_result()

    def _segment_face(self, fr: FaceResult) -> None:
        self._segment_once(fr)
        # Not under a detected hand: its hint already places the occluder, and remeshed
        # faces with a hint lost more than they gained (benchmarks/hand_occluders.py, 150
        # composites: occluder IoU 0.425 without the remesh, 0.417 with it everywhere,
        # 0.424 with it skipped under a hint).
        if (self.config.remesh and fr.reference is not None and fr.occluder_hint is None
                and not fr.extras.get(REMESHED)):
            self._remesh(fr)

    def _remesh(self, fr: FaceResult) -> None:
        """Landmarks again with the occlusion painted out (s3pot.faces.remesh); the face's
        stages run again on them, and replace ``fr``'s results in place, only where they
        give a larger face region M: the painted-out occluder no longer holds the outline
        in, and a mesh that merely moved does not replace one that fitted."""
        from s3pot.occluders.base import occluder_hint

        face = remesh(self.detector, self._image, fr)
        if face is None:
            return
        new = self._face_stage(self._image, face, reference=False)
        if (_photo_area(new, face_region(new.parsing) & new.extras["valid"])
                <= _photo_area(fr, fr.visible | fr.occlusion)):
            return
        self._add_reference(new)
        occluders = fr.extras.get(OCCLUDERS)
        if occluders:
            new.occluder_hint = occluder_hint(self.occluder_detector, occluders, new)
            new.extras[OCCLUDERS] = occluders
        new.extras[REMESHED] = True
        self._segment_once(new)
        for f in fields(FaceResult):  # in place: callers hold ``fr`` (lists, patch keys)
            setattr(fr, f.name, getattr(new, f.name))

    def _segment_once(self, fr: FaceResult) -> None:
        out = self.segmenter.segment(fr)
        if out.extras.get(INVERTED):
            # The reference explained the occluder and rejected the face: fit it again
            # without the pixels now called occluded, and segment on that reference.
            ref = self.generator.refit(fr.aligned, fr.landmarks_aligned, fr.parsing,
                                       out.occlusion.astype(np.float32))
            if ref is not None:
                fr.reference, fr.confidence = ref.image, ref.confidence
                fr.extras[REFITTED] = True
                out = self.segmenter.segment(fr)
        valid = fr.extras.get("valid")
        region = out.face_region if valid is None else out.face_region & valid
        fr.visible = out.visible & region
        fr.occlusion = out.occlusion & region
        fr.occlusion_prob = np.where(region, out.occlusion_prob, 0).astype(np.float32)
        fr.extras.update(out.extras)

    def _photo_result(self, patches: dict[int, Any] | None = None) -> PhotoResult:
        """The faces' masks pasted into the photo (``patches``: face id -> its
        :func:`s3pot.paste.face_patches`, where already computed)."""
        known = None if patches is None else [patches.get(id(fr)) for fr in self._faces]
        masks = photo_masks(self._faces, self._image.shape, self._image, known)
        return PhotoResult(image_shape=self._image.shape[:2], faces=self._faces, **masks)

    def restore_references(self, result: PhotoResult) -> None:
        """Regenerate each face's reference knowing its occlusion mask (in place): the
        generator no longer has to guess what covers the face, so the de-occluded photo
        (:func:`s3pot.paste.paste_references`) replaces exactly the occluded pixels. One
        more generator call per face; the masks are unchanged. The masks are grown by a
        small margin first (:func:`s3pot.reference.base.restoration_mask`)."""
        from s3pot.reference.base import restoration_mask

        for fr in result.faces:
            if fr.occlusion is None:
                continue
            ref = self.generator.restore(fr.aligned, fr.landmarks_aligned, fr.parsing,
                                         restoration_mask(fr.occlusion))
            fr.reference, fr.confidence = ref.image, ref.confidence

    def segment(self, image: np.ndarray) -> PhotoResult:
        """``set_image`` then ``predict``, in one pass: each face is segmented and pasted
        back as soon as its stages are done, so the first faces' masks are made while the
        search for more faces (a thread of its own) still runs. Same masks as
        ``set_image`` + ``predict`` (bit-identical on 76 photos). Measured with
        ``benchmarks/compare_trees.py`` (21 repeats): 0.72 of the time before on biden.jpg,
        0.82 on obama-1080p.jpg (one face, a search of three detector calls that outlasts
        the face's stages); photos whose stages outlast the search, or with no search,
        within noise (0.91-1.07)."""
        self._image = _check_rgb(image)
        self._faces = []
        patches: dict[int, Any] = {}

        def ready(frs: list[FaceResult]) -> None:
            for fr in frs:
                self._segment_face(fr)
                patches[id(fr)] = face_patches(fr, self._image.shape, self._image)

        self._faces = self.prepare(self._image, ready=ready)
        return self._photo_result(patches)  # every face's patches are known: unions only


def _photo_area(fr: FaceResult, region: np.ndarray) -> float:
    """Area of an aligned-frame mask of ``fr`` in photo pixels (faces' frames differ in scale)."""
    return float(np.count_nonzero(region)) / fr.transform.scale ** 2


def _check_rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 array (H, W, 3), got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)
