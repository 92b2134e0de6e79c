"""CPU time per face of the paper's own backends (full width, random weights).

No published weights can be downloaded here, and random weights cost the same time as
trained ones (same architecture, same tensor shapes), so each network is built at its
published width with random weights:

- BiSeNet face parser (``79999_iter.pth`` architecture), 512-px input, on the face;
- E4S (``iteration_300000.pt`` architecture): region encoder at 256 px + per-region MLPs,
  then the mask-guided StyleGAN2 generator at 1024 px (reported separately).

The face is the astronaut (``skimage.data``), detected with the mediapipe mesh and
FFHQ-aligned at ``--size`` (1024 as in the paper); its parsing comes from the landmark
parser, so E4S sees a realistic set of regions (the region-wise layers cost one modulated
conv per region present). Each figure is the median of ``--repeats`` runs after one
warm-up run.

    python benchmarks/paper_backends_speed.py [--size 1024] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def _aligned_face(size: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    from s3pot.pipeline import PipelineConfig, S3potPredictor

    (face,) = S3potPredictor(PipelineConfig(align_size=size)).prepare(data.astronaut(), reference=False)
    return face.aligned, face.landmarks_aligned


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up (allocator, oneDNN primitive caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024, help="aligned face size (paper: 1024)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from s3pot.parsing.bisenet import BiSeNet, BiSeNetParser
    from s3pot.parsing.landmarks import LandmarkParser
    from s3pot.reference.e4s import E4SGenerator, E4SNet

    aligned, lm = _aligned_face(args.size)
    parsing = LandmarkParser().parse(aligned, lm)
    print(f"face: astronaut, aligned {args.size}px; regions present: "
          f"{len(np.unique(parsing))}/12; torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")

    torch.manual_seed(0)
    parser = BiSeNetParser(BiSeNet().eval())
    n_par = sum(p.numel() for p in parser.net.parameters())
    t_parse = _median_time(lambda: parser.parse(aligned, lm), args.repeats)
    print(f"BiSeNet (79999_iter.pth arch, {n_par / 1e6:.1f}M params): "
          f"{t_parse:.3f} s per face (512-px input, labels at {args.size}px)")

    net = E4SNet().eval()
    net.latent_avg.normal_()
    gen = E4SGenerator(net)
    n_e4s = sum(p.numel() for p in net.parameters())
    x = torch.from_numpy(aligned).permute(2, 0, 1)[None].float() / 127.5 - 1
    onehot = gen.onehot(parsing)
    gen.generate(aligned, lm, parsing)  # warm-up
    t_enc, t_gen, t_total = [], [], []
    for _ in range(args.repeats):
        with torch.inference_mode():
            t0 = time.perf_counter()
            codes = net.style_codes(net.style_vectors(x, onehot))
            t1 = time.perf_counter()
            net.G(codes, onehot)
            t2 = time.perf_counter()
        gen.generate(aligned, lm, parsing)
        t3 = time.perf_counter()
        t_enc.append(t1 - t0)
        t_gen.append(t2 - t1)
        t_total.append(t3 - t2)
    med = statistics.median
    print(f"E4S (iteration_300000.pt arch, {n_e4s / 1e6:.1f}M params): {med(t_total):.2f} s per face "
          f"(encoder+MLPs {med(t_enc):.2f} s, generator 1024px {med(t_gen):.2f} s)")


if __name__ == "__main__":
    main()
