"""Default reference generator: a robust fit of a PCA face model in the shape-free frame.

Why this design: an occluder is, by construction, something a low-dimensional model of
clean faces cannot explain. We warp the face onto the mean shape (piecewise affine on the
mesh, see :mod:`s3pot.reference.shape_free`), fit the texture basis with iteratively
reweighted least squares whose weights come from per-block residuals (so a hand or a hat
brim is rejected as a whole region, not pixel by pixel), and warp the fitted face back.
The fit can only ever produce a face, so occluded pixels come back as face.

Output, in the aligned frame of the input:

- ``confidence`` in [0, 1]: how well the input agrees with the fitted face at each pixel,
  measured against the residual a held-out *clean* face leaves at that texel (fitted with
  the model, see :mod:`s3pot.reference.fit`). ~0 on an occluder, ~1 on visible face.
- ``image``: ``confidence * input + (1 - confidence) * model``. Where the input agrees
  with the model, its own detail is kept (the model is a low-resolution, smooth face);
  where it does not, the model's face replaces it. The model face is corrected by the
  low-frequency residual of the *confident* pixels around it (normalised convolution), so
  a restored patch matches the lighting and colour of the visible face around it.

Outside the model's support (beyond the ring that extends the mesh to the hairline and a
little past the jaw) there is no model: ``image`` equals the input and ``confidence`` is
1 (the reference claims nothing there). The support covers the face region M of the
landmark parsing with a margin. The parsing is not needed by this backend; it is accepted
for the common interface (E4S uses it).

Speed: everything that depends only on the model is precomputed at load (texel
barycentrics, per-block Gram matrices of the basis). Per face the IRLS loop works on
per-block sufficient statistics (K x K systems), so an iteration costs microseconds to
a few hundred of them; one ``generate`` at aligned size 256 takes a few milliseconds.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from s3pot.errors import CheckpointError
from s3pot.reference.base import Reference, ReferenceGenerator
from s3pot.reference.shape_free import ShapeFreeFrame

DEFAULT_MODEL = "pca_default.npz"


def default_model_path() -> Path:
    """The model shipped inside the package (fitted on the developers' face frames)."""
    return Path(str(resources.files("s3pot.reference") / "models" / DEFAULT_MODEL))


def _gauss_norm(values: np.ndarray, weight: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised convolution: blur(values*weight)/blur(weight), and blur(weight)."""
    k = int(2 * round(3 * sigma) + 1)
    num = cv2.GaussianBlur(values * (weight[..., None] if values.ndim == 3 else weight),
                           (k, k), sigma, borderType=cv2.BORDER_CONSTANT)
    den = cv2.GaussianBlur(weight, (k, k), sigma, borderType=cv2.BORDER_CONSTANT)
    safe = np.maximum(den, 1e-6)
    return num / (safe[..., None] if values.ndim == 3 else safe), den


class PCAReferenceGenerator(ReferenceGenerator):
    """Robust PCA face-model fit in the shape-free frame (see the module docstring)."""

    def __init__(self, model: str | os.PathLike[str] | None = None, components: int | None = None,
                 block: int = 4, iterations: int = 6, prior: float = 1.0,
                 confidence_k: float = 2.5, block_k: float = 2.0) -> None:
        path = Path(model) if model is not None else default_model_path()
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise CheckpointError(path, "reference model not found (fit one with "
                                  "`s3pot fit-reference FACES_DIR -o MODEL`)") from None
        except (OSError, ValueError) as exc:
            raise CheckpointError(path, f"not a readable .npz model ({exc})") from None
        need = ("mean_shape", "ring_weights", "triangles", "origin", "texel", "grid_hw",
                "work_size", "mean", "basis", "variance", "noise", "texel_rms")
        missing = [k for k in need if k not in arrays]
        if missing:
            raise CheckpointError(path, f"not an s3pot PCA reference model (missing {missing[0]})")
        self.path = path
        self.meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
        h, w = (int(v) for v in arrays["grid_hw"])
        self.frame = ShapeFreeFrame(arrays["mean_shape"], arrays["ring_weights"],
                                    arrays["triangles"], arrays["origin"],
                                    float(arrays["texel"]), h, w)
        n = self.frame.n_texels
        if arrays["mean"].shape[0] != 3 * n:
            raise CheckpointError(path, "model texture size does not match its frame")
        k = arrays["basis"].shape[1] if components is None else min(components, arrays["basis"].shape[1])
        self.work_size = int(arrays["work_size"])
        self.mean = arrays["mean"].astype(np.float32).reshape(n, 3)
        self.basis = np.ascontiguousarray(arrays["basis"][:, :k].astype(np.float32))  # (3N, K)
        var = arrays["variance"][:k].astype(np.float64)
        noise = float(arrays["noise"])
        self.ridge = (prior * noise / var).astype(np.float64)  # MAP prior on coefficients
        self.iterations = iterations
        self.confidence_k = confidence_k
        self.block_k = block_k
        # Residual scale of a held-out clean face at each texel (smoothed, floored).
        rms = self.frame.to_grid(arrays["texel_rms"].astype(np.float32))
        rms, _ = _gauss_norm(rms, self.frame.support.astype(np.float32), 1.0)
        self.texel_rms = np.maximum(rms[self.frame.support], 2.0).astype(np.float32)
        self._setup_blocks(block)
        # Taper: the model's say fades to zero over the last texels of its support, so the
        # reference meets the input without a seam there.
        sup = self.frame.support.astype(np.float32)
        self.taper = np.clip(cv2.GaussianBlur(sup, (7, 7), 1.5, borderType=cv2.BORDER_CONSTANT)
                             * 2.0 - 1.0, 0.0, 1.0) * sup

    def _setup_blocks(self, block: int) -> None:
        """Group texels into ``block`` x ``block`` cells and precompute each cell's Gram
        matrix of the basis: the IRLS normal equations are then sums over cells."""
        ij = self.frame.texel_ij
        bw = (self.frame.width + block - 1) // block
        bh = (self.frame.height + block - 1) // block
        cell = (ij[:, 0] // block) * bw + ij[:, 1] // block
        ids, inv, counts = np.unique(cell, return_inverse=True, return_counts=True)
        nb, p = len(ids), int(counts.max())
        order = np.argsort(inv, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot = np.empty(len(inv), np.int64)
        slot[order] = np.arange(len(inv)) - np.repeat(starts, counts)
        idx = np.full((nb, p), -1, np.int64)
        idx[inv, slot] = np.arange(len(inv))
        self.block_of = inv  # texel -> block
        self.block_count = counts.astype(np.float64)
        self.block_index = idx  # (B, P) texel ids, -1 = pad
        kdim = self.basis.shape[1]
        u = self.basis.reshape(-1, 3, kdim)
        ub = np.zeros((nb, p, 3, kdim), np.float32)
        m = idx >= 0
        ub[m] = u[idx[m]]
        self.block_basis = ub.reshape(nb, p * 3, kdim)  # (B, 3P, K)
        g = np.einsum("bpk,bpl->bkl", self.block_basis, self.block_basis, optimize=True)
        self.block_gram = g.reshape(nb, kdim * kdim).astype(np.float64)
        self.block_rms = np.sqrt(np.bincount(inv, self.texel_rms**2) / counts)
        # Block neighbourhoods on the cell grid, for spatial smoothing of residuals.
        grid = np.full((bh + 2, bw + 2), -1, np.int64)
        grid[ids // bw + 1, ids % bw + 1] = np.arange(nb)
        r, c = ids // bw + 1, ids % bw + 1
        nbrs = [grid[r + dr, c + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
        self.block_nbrs = np.stack(nbrs, 1)  # (B, 8), -1 = none

    # -- the fit ---------------------------------------------------------------------
    def fit_texture(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Robust fit of texel texture ``x`` (N, 3). Returns (model texture (N, 3), block
        weights (B,), global residual factor)."""
        r = x - self.mean  # (N, 3)
        rp = np.zeros((self.block_index.shape[0], self.block_index.shape[1], 3), np.float32)
        m = self.block_index >= 0
        rp[m] = r[self.block_index[m]]
        rp = rp.reshape(len(rp), -1)
        h = np.einsum("bp,bpk->bk", rp, self.block_basis, optimize=True).astype(np.float64)
        s = (rp.astype(np.float64) ** 2).sum(1)
        kdim = h.shape[1]
        w = np.ones(len(h))
        scale = 3.0 * self.block_count
        ks = np.linspace(2.0 * self.block_k, self.block_k, max(self.iterations - 1, 1)).tolist()
        ks = ks + [self.block_k]
        g = 1.0
        c = np.zeros(kdim)
        for it in range(self.iterations):
            a = (w @ self.block_gram).reshape(kdim, kdim)
            a[np.diag_indices(kdim)] += self.ridge
            c = np.linalg.solve(a, w @ h)
            gc = (self.block_gram.reshape(-1, kdim) @ c).reshape(-1, kdim)
            e = np.maximum(s - 2.0 * (h @ c) + gc @ c, 0.0)
            z = np.sqrt(e / scale) / self.block_rms
            # A global factor for faces that are noisier than the calibration faces
            # (compression, light); the low percentile stays on the visible part.
            g = float(np.clip(np.percentile(z, 30), 1.0, 4.0))
            z = z / g
            zn = np.where(self.block_nbrs >= 0, z[self.block_nbrs], np.nan)
            z = np.maximum(z, 0.5 * np.nanmean(zn, axis=1))
            k = ks[min(it, len(ks) - 1)]
            w = 1.0 / (1.0 + (z / k) ** 2) ** 2
        y = self.mean + (self.basis @ c.astype(np.float32)).reshape(-1, 3)
        return y, w, g

    def generate(self, aligned: np.ndarray, landmarks_aligned: np.ndarray,
                 parsing: np.ndarray | None = None) -> Reference:
        size = aligned.shape[0]
        fr = self.frame
        work = cv2.resize(aligned, (self.work_size, self.work_size),
                          interpolation=cv2.INTER_AREA if size > self.work_size else cv2.INTER_LINEAR)
        verts = fr.vertices(landmarks_aligned)
        f = self.work_size / size
        x = fr.sample(work, (verts + 0.5) * f - 0.5)  # (N, 3)
        y, _, g = self.fit_texture(x)
        # Per-texel confidence from the residual against the clean-face scale.
        d = np.sqrt(((x - y) ** 2).mean(1)) / (self.texel_rms * g)
        sup = fr.support.astype(np.float32)
        zg, _ = _gauss_norm(fr.to_grid(d), sup, 0.7)
        conf = 1.0 / (1.0 + (zg / self.confidence_k) ** 4)
        conf *= sup
        # Low-frequency correction of the model from the confident texels around it.
        yg = fr.to_grid(y)
        wc = conf**2
        corr, den = _gauss_norm(fr.to_grid(x) - yg, wc, 4.0)
        corr *= np.clip(den / 0.3, 0.0, 1.0)[..., None]
        yg = yg + corr
        # Extend the model texture past the support (bilinear remap reads neighbours).
        yg, _ = _ext(yg, sup)
        conf_eff = 1.0 - (1.0 - conf) * self.taper
        stack = np.concatenate([yg, conf_eff[..., None]], axis=2)
        mx, my = fr.inverse_maps(verts, size)
        back = cv2.remap(stack, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(0.0, 0.0, 0.0, 1.0))
        cf = np.clip(back[..., 3], 0.0, 1.0)
        ref = cf[..., None] * aligned.astype(np.float32) + (1.0 - cf[..., None]) * back[..., :3]
        image = np.clip(ref + 0.5, 0, 255).astype(np.uint8)
        return Reference(image=image, confidence=cf.astype(np.float32))


def _ext(img: np.ndarray, sup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill texels outside the support from their supported neighbours (2 rings)."""
    w = sup.copy()
    out = img.copy()
    for _ in range(2):
        num = cv2.blur(out * w[..., None], (3, 3), borderType=cv2.BORDER_CONSTANT)
        den = cv2.blur(w, (3, 3), borderType=cv2.BORDER_CONSTANT)
        new = (den > 1e-6) & (w == 0)
        out[new] = num[new] / den[new][:, None]
        w = np.where(new, 1.0, w).astype(np.float32)
    return out, w


def build_pca_generator(model: str | None = None, **kw) -> PCAReferenceGenerator:
    """Registry builder for ``pca``: the shipped default model unless ``model`` names one."""
    return PCAReferenceGenerator(model, **kw)
