"""The shape-free frame: a piecewise-affine warp between an aligned face and a fixed grid.

Why a shape-free frame: a linear (PCA) texture model only works when every pixel of the
model means the same place on every face. Warping each face onto the mean shape of the
mesh (per triangle, an affine map) removes identity and expression geometry, so the
texture basis only has to explain appearance.

Everything that depends on the mean shape alone (triangle id and barycentric weights of
each texel) is computed once. Per face, only the landmark positions change, so the
forward warp (aligned -> shape-free) is a gather of three landmarks per texel and one
``cv2.remap``. The inverse warp (shape-free -> aligned) rasterises triangle ids on a low
resolution grid with a vectorised barycentric test, then upsamples the (continuous,
piecewise-linear) coordinate map bilinearly: exact at the grid nodes, a sub-pixel error
in between, and no Python loop over triangles.

The vertices are the 478 mesh landmarks plus a ring of extra vertices extrapolated
outwards from the face oval (a fixed linear combination of landmarks). The ring extends
the model above the mesh to the hairline, where the face region M of the parsing reaches
(a hat brim covers exactly that band), and a little beyond the jaw.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

N_MESH = 478


def rasterize(
    verts: np.ndarray, tris: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Triangle id (-1 = none) and barycentric weights of every pixel centre.

    ``verts`` (P, 2) are in pixel units of the target grid (pixel centres at integers).
    Triangles are tested over their bounding boxes, grouped by box size so that a few
    numpy passes cover all of them. Where triangles overlap (folds under strong pose),
    the one listed last wins, deterministically.
    """
    tid = np.full((height, width), -1, np.int32)
    bary = np.zeros((height, width, 3), np.float32)
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    lo = np.floor(np.minimum(np.minimum(a, b), c)).astype(np.int64)
    hi = np.ceil(np.maximum(np.maximum(a, b), c)).astype(np.int64)
    v0, v1 = b - a, c - a
    det = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    ok = (np.abs(det) > 1e-9) & (hi[:, 0] >= 0) & (hi[:, 1] >= 0)
    ok &= (lo[:, 0] < width) & (lo[:, 1] < height)
    ext = np.max(hi - lo + 1, axis=1)
    sizes = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]
    prev = 0
    for k in sizes:
        sel = np.nonzero(ok & (ext > prev) & (ext <= k))[0]
        prev = k
        if sel.size == 0:
            continue
        r = np.arange(k)
        px = lo[sel, 0][:, None, None] + r[None, None, :]  # (n, 1, k)
        py = lo[sel, 1][:, None, None] + r[None, :, None]  # (n, k, 1)
        dx = px - a[sel, 0][:, None, None]
        dy = py - a[sel, 1][:, None, None]
        inv = 1.0 / det[sel][:, None, None]
        b1 = (dx * v1[sel, 1][:, None, None] - v1[sel, 0][:, None, None] * dy) * inv
        b2 = (v0[sel, 0][:, None, None] * dy - dx * v0[sel, 1][:, None, None]) * inv
        b0 = 1.0 - b1 - b2
        eps = -1e-6
        inside = (b0 >= eps) & (b1 >= eps) & (b2 >= eps)
        inside &= (px >= 0) & (px < width) & (py >= 0) & (py < height)
        n_i, y_i, x_i = np.nonzero(inside)
        gx = px[n_i, 0, x_i]
        gy = py[n_i, y_i, 0]
        tid[gy, gx] = sel[n_i]
        bary[gy, gx, 0] = b0[n_i, y_i, x_i]
        bary[gy, gx, 1] = b1[n_i, y_i, x_i]
        bary[gy, gx, 2] = b2[n_i, y_i, x_i]
    return tid, bary


@dataclass
class ShapeFreeFrame:
    """Mean shape, triangulation and texel grid of the model.

    Coordinates: ``mean_shape`` is in *normalised aligned* units, u = (p + 0.5) / S for an
    aligned pixel p of a crop of size S. Texel (i, j) has its centre at
    ``origin + (j + 0.5, i + 0.5) * texel``.
    """

    mean_shape: np.ndarray  # (P, 2) float64, 478 mesh vertices then the ring
    ring_weights: np.ndarray  # (R, 478) float64: ring = ring_weights @ landmarks
    triangles: np.ndarray  # (T, 3) int32 into the P vertices
    origin: np.ndarray  # (2,) float64 normalised coords of the grid's top-left corner
    texel: float  # normalised size of one texel
    height: int
    width: int

    def __post_init__(self) -> None:
        self.mean_shape = np.asarray(self.mean_shape, np.float64)
        self.triangles = np.asarray(self.triangles, np.int32)
        verts = self.to_texel(self.mean_shape)
        tid, bary = rasterize(verts, self.triangles, self.height, self.width)
        self.support = tid >= 0  # (H, W) texels covered by the mesh
        self.texel_ij = np.argwhere(self.support)  # (N, 2) row-major order
        t = tid[self.support]
        self.texel_vertices = self.triangles[t]  # (N, 3) vertex ids
        self.texel_bary = bary[self.support].astype(np.float64)  # (N, 3)
        self.verts_texel = verts  # (P, 2) mean shape in texel coords

    @property
    def n_texels(self) -> int:
        return int(self.support.sum())

    def to_texel(self, normalised: np.ndarray) -> np.ndarray:
        """Normalised coords -> texel pixel coords (centres at integers)."""
        return (np.asarray(normalised, np.float64) - self.origin) / self.texel - 0.5

    def vertices(self, landmarks: np.ndarray) -> np.ndarray:
        """(P, 2) warp vertices of a face: its 478 landmarks then the extrapolated ring."""
        lm = np.asarray(landmarks, np.float64)[:N_MESH, :2]
        return np.vstack([lm, self.ring_weights @ lm])

    def sample_points(self, verts: np.ndarray) -> np.ndarray:
        """(N, 2) positions, in the frame of ``verts``, of the texel centres."""
        v = verts[self.texel_vertices]  # (N, 3, 2)
        return np.einsum("nk,nkd->nd", self.texel_bary, v)

    def sample(self, image: np.ndarray, verts: np.ndarray) -> np.ndarray:
        """Texture (N, C) float32 of ``image`` under the face whose vertices are ``verts``
        (pixel coords of ``image``). The caller low-passes ``image`` to the texel spacing."""
        pts = self.sample_points(verts).astype(np.float32)
        out = cv2.remap(
            image, pts[None, :, 0], pts[None, :, 1], cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return out.reshape(len(pts), -1).astype(np.float32)

    def to_grid(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(N, C) texel values -> (H, W, C) image (``fill`` outside the support)."""
        values = np.asarray(values)
        c = 1 if values.ndim == 1 else values.shape[1]
        out = np.full((self.height, self.width, c), fill, np.float32)
        out[self.support] = values.reshape(len(values), c)
        return out if values.ndim > 1 else out[..., 0]

    def inverse_maps(
        self, verts: np.ndarray, size: int, grid: int = 48, grow: int = 2
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int] | None]:
        """Texel coordinates (map_x, map_y) of the pixels of an aligned crop whose warp
        vertices are ``verts`` (aligned px), over the box ``(x0, y0, x1, y1)`` of the crop
        that the model covers (``None`` if it covers nothing).

        Computed exactly on a ``grid`` x ``grid`` lattice (the map is piecewise affine,
        hence continuous), extended ``grow`` cells past the mesh by neighbour averaging
        (so that bilinear upsampling does not pull the support edge inwards), then
        upsampled bilinearly. Pixels outside the mesh map outside the texel grid.
        """
        s = grid / size
        g = (np.asarray(verts, np.float64) + 0.5) * s - 0.5
        tid, bary = rasterize(g, self.triangles, grid, grid)
        valid = tid >= 0
        if not valid.any():
            return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), None
        tv = self.verts_texel[self.triangles[np.maximum(tid, 0)]]  # (g, g, 3, 2)
        coords = np.einsum("ijk,ijkd->ijd", bary, tv).astype(np.float32)
        coords[~valid] = 0
        w = valid.astype(np.float32)
        for _ in range(grow):
            num = cv2.blur(coords * w[..., None], (3, 3), borderType=cv2.BORDER_CONSTANT)
            den = cv2.blur(w, (3, 3), borderType=cv2.BORDER_CONSTANT)
            new = (den > 1e-6) & (w == 0)
            coords[new] = num[new] / den[new][:, None]
            w = np.where(new, 1.0, w).astype(np.float32)
        coords[w == 0] = -1e4
        up = cv2.resize(coords, (size, size), interpolation=cv2.INTER_LINEAR)
        rows = np.nonzero(valid.any(1))[0]
        cols = np.nonzero(valid.any(0))[0]
        cell = size / grid
        x0 = max(int((cols[0] - 1) * cell), 0)
        x1 = min(int(np.ceil((cols[-1] + 2) * cell)), size)
        y0 = max(int((rows[0] - 1) * cell), 0)
        y1 = min(int(np.ceil((rows[-1] + 2) * cell)), size)
        box = (x0, y0, x1, y1)
        return up[y0:y1, x0:x1, 0], up[y0:y1, x0:x1, 1], box


def order_loop(loop: list[int], points: np.ndarray) -> list[int]:
    """Loop of vertex ids starting at its topmost point, running clockwise on screen."""
    pts = points[loop]
    start = int(np.argmin(pts[:, 1]))
    loop = loop[start:] + loop[:start]
    pts = points[loop]
    area = np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1])
    return loop if area > 0 else [loop[0]] + loop[1:][::-1]


def make_ring(
    mean_lm: np.ndarray, oval: list[int], outline: np.ndarray, margin: float = 0.12,
    minimum: float = 0.10,
) -> np.ndarray:
    """Ring weights (R, 478): each oval vertex pushed outwards from the oval's centre.

    The push factor of each vertex is set on the mean shape so that the ring passes
    ``margin`` beyond ``outline`` (the face region M's outline on the mean shape: the
    forehead curve up top), and at least ``minimum`` of the centre distance elsewhere.
    Being linear in the landmarks, the ring follows pose and scale of every face.
    """
    mean_lm = np.asarray(mean_lm, np.float64)
    centre_w = np.zeros(N_MESH)
    centre_w[oval] = 1.0 / len(oval)
    centre = centre_w @ mean_lm
    out = np.asarray(outline, np.float64)
    rows = []
    for v in oval:
        d = mean_lm[v] - centre
        r = np.linalg.norm(d)
        u = d / r
        # Distance from the centre to the outline along u (max over polygon-edge hits).
        reach = r
        for p, q in zip(out, np.roll(out, -1, axis=0), strict=True):
            e = q - p
            m = np.array([[u[0], -e[0]], [u[1], -e[1]]])
            if abs(np.linalg.det(m)) < 1e-12:
                continue
            t, s = np.linalg.solve(m, p - centre)
            if t > 0 and 0 <= s <= 1:
                reach = max(reach, t)
        alpha = max(minimum, reach * (1 + margin) / r - 1)
        w = -alpha * centre_w
        w[v] += 1 + alpha
        rows.append(w)
    return np.array(rows)


LUMA = np.array([0.299, 0.587, 0.114], np.float32)
NORM_LEVEL = 128.0


def normalise_gain(texture: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale a texel texture (N, 3) so that its median luminance is ``NORM_LEVEL``.

    Why: the same face filmed darker is the same face times a gain; dividing it out lets
    the model spend its components on faces rather than on exposure, and makes residuals
    (hence the confidence) comparable between a dim and a bright video. The median is
    robust to an occluder covering less than half of the face. (Per-channel gains were
    tried and rejected: a large coloured occluder shifts one channel's median and turns
    the whole face's colour, which the model then cannot fit.)
    """
    lum = float(np.median(texture @ LUMA))
    gain = NORM_LEVEL / max(lum, 8.0)
    return texture * gain, gain


# Chromaticity box of skin, r = R/(R+G+B), g = G/(R+G+B): every skin tone under roughly
# white light falls inside it; grey, white, black, blue or green things do not. Exposure
# does not move chromaticity, so the test holds for a dim or a bright face alike.
SKIN_R = (0.36, 0.62)
SKIN_G = (0.25, 0.37)


def skin_texels(texture: np.ndarray, min_luminance: float = 15.0) -> np.ndarray:
    """Texels (N,) whose colour could be skin (chromaticity in the skin box, not black)."""
    t = np.asarray(texture, np.float64)
    total = np.maximum(t.sum(1), 1e-6)
    r, g = t[:, 0] / total, t[:, 1] / total
    return ((r > SKIN_R[0]) & (r < SKIN_R[1]) & (g > SKIN_G[0]) & (g < SKIN_G[1])
            & (t @ LUMA > min_luminance))


def skin_gain(texture: np.ndarray, mean_luminance: np.ndarray, skin: np.ndarray) -> float:
    """The gain that brings the ``skin`` texels to the mean face's luminance (the median of
    their ratios). Multiply a :func:`normalise_gain`-ed texture by it.

    Why: the median over all texels follows an occluder that covers more than half of
    the face (a dark or white mask then sets the exposure and the visible face looks
    wrongly lit, so the fit rejects the face and keeps the mask); texels that cannot be
    skin have no say here.
    """
    lum = np.maximum(np.asarray(texture, np.float64)[skin] @ LUMA, 1.0)
    return float(np.median(np.maximum(mean_luminance[skin], 1.0) / lum))


# A photo is monochrome (grey-scale, or one tint throughout) when its face texels'
# chromaticity strays no further than this from their median (90th percentile of the
# deviation): colour faces show 0.016 or more (the 300 dev bench faces, smallest 0.0163; the
# real photos' 15 faces 0.0155; 21 aligned real faces 0.021), grey ones 0 (JPEG included).
# A sepia print whose tint changes with luminance (clipped highlights, JPEG chroma; 0.011 or
# more on the bench's face pixels made sepia) is left to the colour path.
MONO_CHROMA = 0.005


def monochrome_tint(texture: np.ndarray, min_luminance: float = 20.0) -> np.ndarray | None:
    """The tint (3,) of a one-hue texel texture (N, 3), scaled so that ``tint @ LUMA`` is
    1 ((1, 1, 1) for grey-scale); None for a colour texture (the 90th percentile of its
    texels' chromaticity deviation from their median is ``MONO_CHROMA`` or more)."""
    t = np.asarray(texture, np.float64)
    t = t[t @ LUMA > min_luminance]
    if len(t) < 10:
        return None
    c = t / np.maximum(t.sum(1, keepdims=True), 1e-6)
    med = np.median(c, 0)
    if float(np.percentile(np.abs(c[:, :2] - med[:2]), 90)) >= MONO_CHROMA:
        return None
    return (med / max(float(med @ LUMA), 1e-6)).astype(np.float32)


def colourise(texture: np.ndarray, mean_rgb: np.ndarray) -> np.ndarray:
    """A monochrome texel texture (N, 3) given the mean face's colour at its own luminance.

    Why: the face model is a colour model, and a grey face is, for it, a face whose chroma
    is wrong everywhere, so an occluder no longer stands out against it. With the mean
    face's chroma the fit is decided by luminance alone, which is all a grey photo holds
    (measured in :mod:`s3pot.reference.pca`).
    """
    lum = np.asarray(texture, np.float64) @ LUMA
    ref = np.maximum(np.asarray(mean_rgb, np.float64) @ LUMA, 1.0)
    return (np.asarray(mean_rgb, np.float64) * (lum / ref)[:, None]).astype(np.float32)


# White balance: per-channel gains beyond this (in log units, about +-16 %) are a colour cast;
# within it, the skin tones of people differ (dev bench faces: median 0.10, 90th percentile
# 0.26 of the largest channel's log gain), and the model knows them. At most WB_LIMIT per
# channel; WB_ITERATIONS re-estimates, since the skin texels of a strongly cast face are
# first chosen among its least cast ones (a cool cast drops a third of the bench's faces
# below the skin share that enables it).
WB_DEAD_ZONE = 0.15
WB_LIMIT = 1.6
WB_ITERATIONS = 3
WB_KEEP_SKIN = 0.95  # a balance must keep this share of the skin texels (see white_balance)


def white_balance(texture: np.ndarray, mean_rgb: np.ndarray, skin: np.ndarray,
                  min_skin: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel gains (3,) that bring the median chromaticity of the ``skin`` texels of
    ``texture`` (N, 3) to the mean face's on the same texels, less the dead zone; and the
    skin texels of the balanced texture. Gains of 1 when the cast is within the dead zone.

    Why: the face model's chroma is what tells an occluder from skin, and a whole face
    under a cast has the wrong chroma everywhere. Only skin texels vote, so a coloured
    occluder does not set the balance (it would need to pass for skin and cover more than
    half of the skin texels); when fewer than ``min_skin`` of the texels are skin-coloured
    (a strong cool cast), every texel votes once, and the balance stands only if it makes
    at least ``min_skin`` of them skin.
    """
    def chromaticity(t: np.ndarray) -> np.ndarray:
        return t / np.maximum(t @ LUMA, 1.0)[:, None]

    x0 = np.asarray(texture, np.float32)
    mean_c = chromaticity(np.asarray(mean_rgb))  # the mean face's, once (it never changes)
    cast = np.ones(3)  # the full correction, re-estimated on the skin it reveals
    # Too few skin-coloured texels (a strong cool cast moves skin out of the box): the first
    # estimate takes every texel, and is kept only if it turns enough of the face into skin.
    sk = skin if skin.mean() >= min_skin else np.ones(len(skin), bool)
    for _ in range(WB_ITERATIONS):
        if sk.mean() < min_skin:
            break
        target = np.median(mean_c[sk], 0)
        cast = np.clip(cast * target / np.maximum(np.median(chromaticity(x0[sk] * cast), 0), 1e-3),
                       1.0 / WB_LIMIT, WB_LIMIT)
        sk = skin_texels(x0 * cast)
    lw = np.log(cast)
    wb = np.exp(np.sign(lw) * np.maximum(np.abs(lw) - WB_DEAD_ZONE, 0.0)).astype(np.float32)
    if (wb == 1).all():
        return wb, skin
    balanced = skin_texels(x0 * wb)
    if balanced.mean() < max(WB_KEEP_SKIN * skin.mean(), min_skin if skin.mean() < min_skin else 0.0):
        # (Or, started from every texel, a balance that still leaves the face without skin.)
        # Undoing a cast reveals skin; a balance that leaves clearly less of the face
        # skin-coloured was set by something else (a warm-coloured occluder passing for
        # skin under a cool cast, while the cast skin itself fell out of the box): refused.
        return np.ones(3, np.float32), skin
    return wb, balanced


# Opponent colour axes (luminance, red-green, yellow-blue) as columns: faces vary mostly
# in luminance (shading, skin tone), much less in chroma, so a chroma deviation is far
# more telling of an occluder. The fit scales each axis by how much faces vary along it.
OPPONENT = np.array([[0.299, 0.587, 0.114], [0.5, -0.5, 0.0], [0.25, 0.25, -0.5]], np.float32).T


# Terms of the illumination basis (see :func:`shading_basis`).
SHADING_TERMS = ("gain", "cast", "x", "y", "xx", "xy", "yy", "sx", "cx", "cy")


def shading_basis(frame: ShapeFreeFrame, mean: np.ndarray, colour: np.ndarray,
                  terms: tuple[str, ...] | list[str]) -> np.ndarray:
    """(N*3, J) unit-norm columns that a light field turns the mean texture along.

    Why: the PCA basis is fitted on faces that are mostly evenly lit, so a face in side
    light (a gradient across it, half of it in shadow) leaves a large, smooth residual that
    the robust fit reads as an occluder. Light multiplies the reflectance: a face under a
    smooth light field L(u, v) is approximately ``L * mean``, which is linear in the
    coefficients of L on a few smooth functions of the shape-free coordinates. Since the
    model colour space is linear in RGB, a grey light field multiplies every model channel
    alike; a colour cast scales the RGB channels separately.

    ``mean`` (N, 3) is the mean texture in model space, ``colour`` the RGB -> model map.
    Terms: ``gain`` (grey light level), ``cast`` (3 columns: per-RGB-channel gain, which includes a global gain), ``x``,
    ``y``, ``xx``, ``xy``, ``yy`` (grey light times monomials of the centred coordinates,
    x across the face, each axis scaled to [-1, 1] over the support), ``sx`` (grey light
    times tanh(2.5 x): the soft terminator of a one-sided light), ``cx``/``cy`` (3 columns
    each: per-channel gain times x / y, coloured light from one side). A low-order field
    varies over the whole face; it cannot make a hand or a brim, whose edges are sharp.
    """
    unknown = [t for t in terms if t not in SHADING_TERMS]
    if unknown:
        raise ValueError(f"unknown shading term {unknown[0]!r} (known: {', '.join(SHADING_TERMS)})")
    ij = frame.texel_ij.astype(np.float64)
    lo, hi = ij.min(0), ij.max(0)
    centre, half = (lo + hi) / 2.0, np.maximum((hi - lo) / 2.0, 1.0)
    v, u = ((ij - centre) / half).T  # rows -> v (down), columns -> u (across)
    mean = np.asarray(mean, np.float64)
    rgb = mean @ np.linalg.inv(np.asarray(colour, np.float64))
    colour = np.asarray(colour, np.float64)
    per_channel = [np.outer(rgb[:, c], colour[c]) for c in range(3)]  # (N, 3) each
    grey = {"gain": np.ones_like(u), "x": u, "y": v, "xx": u * u, "xy": u * v, "yy": v * v, "sx": np.tanh(2.5 * u)}
    cols: list[np.ndarray] = []
    for t in terms:
        if t == "cast":
            cols += per_channel
        elif t in ("cx", "cy"):
            f = u if t == "cx" else v
            cols += [p * f[:, None] for p in per_channel]
        else:
            cols.append(mean * grey[t][:, None])
    if not cols:
        return np.zeros((3 * len(ij), 0), np.float32)
    s = np.stack([c.reshape(-1) for c in cols], 1)
    return (s / np.maximum(np.linalg.norm(s, axis=0), 1e-9)).astype(np.float32)
