"""S³POT's inference overhead over plain SAM, and one training step (vit_b, random weights).

Random weights cost the same time as the real ones (same architecture, same shapes), so
the vit_b model is built by ``segment_anything``'s own builder without a checkpoint.

- baseline: ``SamPredictor.set_image`` + ``predict`` (one point) on the aligned face;
- S³POT: ``SamSegmenter.segment`` on the same face: raw + reference in one batched encoder
  call, two decoder passes for the enhanced features, matching, screening, final decoder.
  Two encoder passes make 2.0 the floor of the ratio; the target is at most 2.15.
- training step: batch of 3 cached faces, screening + decoder forward, backward, AdamW
  step; time and peak memory, measured in a fresh process that never runs the encoder.

The face is the astronaut (``skimage.data``), detected with the mediapipe mesh, aligned at
1024 px as in the paper and parsed by the landmark parser (a realistic face region M, so a
realistic number of prompts). The reference is the aligned face itself and the raw image
gets a flat grey occluder over the mouth: the content changes the prompts, not the cost.

    python benchmarks/sam_overhead.py [--repeats 1] [--size 1024] [--threads N] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
import warnings

import numpy as np
import torch


def _face(size: int):
    from skimage import data

    from s3pot.faces.align import ffhq_quad, transform_from_quad
    from s3pot.faces.base import alignment_points
    from s3pot.faces.mediapipe_mesh import MediapipeFaceMesh
    from s3pot.parsing.base import build_parser
    from s3pot.types import FaceResult

    image = data.astronaut()
    (face,) = MediapipeFaceMesh(max_faces=1).detect(image)
    t = transform_from_quad(ffhq_quad(*alignment_points(face.landmarks)), size)
    ref = t.warp_image(image)
    lm = t.to_aligned(face.landmarks)
    parsing = build_parser("landmarks").parse(ref, lm)
    raw = ref.copy()
    raw[int(0.62 * size) : int(0.85 * size), int(0.3 * size) : int(0.7 * size)] = 128
    return FaceResult(face, t, raw, lm, parsing, reference=ref)


def _status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process from /proc, in MB.

    Not ``ru_maxrss``: Linux carries a parent's peak into a child across fork + exec, so a
    spawned worker would report the encoder's peak of the parent.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _train_step_worker(path: str, threads: int, clock_name: str, queue) -> None:
    """Fresh process: vit_b built (never run), 3 cached faces, one optimiser step."""
    torch.set_num_threads(threads)
    clock = time.perf_counter if clock_name == "wall" else time.process_time
    from segment_anything import sam_model_registry

    from s3pot.backbone.sam import SamBackbone
    from s3pot.prompts.selection import pad_prompts
    from s3pot.screening import fresh_screening
    from s3pot.segmenters.sam import batch_loss

    rec = torch.load(path, weights_only=True)
    bb = SamBackbone(sam_model_registry["vit_b"](), "vit_b")
    net = fresh_screening()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=1e-6)
    e_i = torch.stack([rec["e_i"]] * 3)
    coords, labels = pad_prompts([(rec["coords"], rec["labels"])] * 3)
    rss0 = _status_mb("VmRSS")
    _reset_peak()
    times = []
    for _ in range(3):
        t0 = clock()
        loss = batch_loss(bb, net, e_i, coords, labels).total
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(clock() - t0)
    peak = _status_mb("VmHWM")
    queue.put({"step_s": statistics.median(times), "rss_before_mb": rss0, "peak_rss_mb": peak})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1, help="timed runs of each side (20 s per encoder pass on 2 CPU cores)")
    ap.add_argument("--size", type=int, default=1024, help="aligned crop size")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process CPU time, steadier than wall time on a shared machine "
                    "(use with --threads 1, where no thread waits on another)")
    args = ap.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    torch.set_num_threads(args.threads)
    from segment_anything import SamPredictor, sam_model_registry

    from s3pot.backbone.sam import SamBackbone
    from s3pot.prompts.matching import greedy_match, similarity_matrix
    from s3pot.segmenters.sam import SamSegmenter, pair_prompts

    face = _face(args.size)
    torch.manual_seed(0)
    sam = sam_model_registry["vit_b"]()
    backbone = SamBackbone(sam, "vit_b")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # untrained screening network: irrelevant for timing
        seg = SamSegmenter(backbone)
    predictor = SamPredictor(sam)
    point = np.array([[args.size / 2, args.size / 2]])

    def baseline() -> float:
        t0 = clock()
        predictor.set_image(face.aligned)
        predictor.predict(point_coords=point, point_labels=np.array([1]))
        return clock() - t0

    encode_times: list[float] = []
    plain_encode = backbone.encode

    def timed_encode(images):  # instance attribute: records the batched encoder call
        t0 = clock()
        out = plain_encode(images)
        encode_times.append(clock() - t0)
        return out

    backbone.encode = timed_encode

    def s3pot() -> float:
        t0 = clock()
        seg.segment(face)
        return clock() - t0

    print(f"vit_b random weights, aligned {args.size} px, {args.threads} thread(s), {args.clock} clock, "
          f"load average {os.getloadavg()[0]:.1f}")
    with torch.no_grad():
        backbone.sam.image_encoder(backbone.preprocess([face.aligned]))  # warm-up pass
    base, ours = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both sides
        base.append(baseline())
        ours.append(s3pot())
    b, o = statistics.median(base), statistics.median(ours)
    print(f"SamPredictor set_image+predict: {b:.2f} s   (runs: {', '.join(f'{x:.2f}' for x in base)})")
    print(f"S3POT segment (fresh screening): {o:.2f} s   (runs: {', '.join(f'{x:.2f}' for x in ours)})")
    print(f"ratio S3POT / SAM: {o / b:.3f}   (floor 2.0, target <= 2.15)")
    enc2 = statistics.median(encode_times)
    rest = o - enc2
    print(f"  S3POT = batched encoder (raw + reference) {enc2:.2f} s + everything else {rest:.2f} s; "
          f"everything else = {100 * rest / b:.1f}% of one SAM predict, "
          f"so ratio with the encoder pair at exactly 2 passes = {2 + rest / b:.3f}")

    # Where the overhead goes, on this face: everything after the encoder.
    pair = pair_prompts(backbone, face.aligned, face.reference, face.parsing)
    n_m = int(pair.token_mask.sum())
    n_pos = int(pair.labels.sum())
    f = torch.randn(2, 256, *backbone.grid_hw)
    rows = pair.token_mask.reshape(-1).nonzero()[:, 0]
    t0 = clock()
    greedy_match(similarity_matrix(f[1], f[0], rows))
    t_match = clock() - t0
    full = torch.arange(f.shape[-1] * f.shape[-2])
    t0 = clock()
    greedy_match(similarity_matrix(f[1], f[0], full))
    t_full = clock() - t0
    print(f"face tokens |M| = {n_m} of {full.numel()}; prompts {n_pos} positive, {n_m - n_pos} negative")
    print(f"similarity + greedy matching: {t_match:.3f} s at {n_m} x {full.numel()}, "
          f"{t_full:.3f} s at {full.numel()} x {full.numel()} ({100 * t_full / b:.2f}% of one SAM predict)")

    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"s3pot_bench_{os.getpid()}.pt")
    torch.save({"e_i": pair.e_i, "coords": pair.coords, "labels": pair.labels}, path)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_train_step_worker, args=(path, args.threads, args.clock, q))
    p.start()
    r = q.get()
    p.join()
    os.unlink(path)
    print(f"training step (batch 3, {len(pair.labels)} prompts each): {r['step_s']:.2f} s; "
          f"peak RSS {r['peak_rss_mb']:.0f} MB ({r['peak_rss_mb'] - r['rss_before_mb']:.0f} MB above the "
          f"{r['rss_before_mb']:.0f} MB of the loaded model)")


if __name__ == "__main__":
    main()
