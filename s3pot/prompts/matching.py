"""Greedy one-to-one matching of reference tokens to raw tokens, vectorised.

Greedy matching in descending similarity (accept the best remaining pair, discard its row
and column, repeat) is what the method prescribes. The authors sorted all 16M similarities
of a 64 x 64 grid and looped in Python. We use the equivalent *locally dominant pair*
formulation: a pair that is the best of its row and of its column among the remaining rows
and columns is accepted by greedy, whatever happens elsewhere; so each round accepts every
such mutual-best pair at once (two argmax passes), then drops the matched rows and columns.
Under the strict order (similarity desc, row asc, column asc), which is the tie-break of
:func:`greedy_match_bruteforce`, both produce the same matching. On feature similarities
a round removes a large share of the rows, so a handful of rounds over a shrinking matrix
suffices.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def similarity_matrix(
    f_r: torch.Tensor, f_i: torch.Tensor, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """Cosine similarity ``[R, h*w]`` of reference tokens ``rows`` against every raw token.

    ``f_r``, ``f_i``: ``[C, h, w]`` feature maps of one image (any grid size). ``rows``:
    flat indices of the reference tokens to match (those inside M); all when None.
    """
    a = F.normalize(f_r.flatten(1).t().float(), dim=1)
    if rows is not None:
        a = a.index_select(0, rows.long())
    b = F.normalize(f_i.flatten(1).float(), dim=0)
    return a @ b


def _sorted(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor):
    """Order matches as greedy accepts them: similarity desc, then row asc."""
    order = torch.argsort(rows, stable=True)
    rows, cols, vals = rows[order], cols[order], vals[order]
    order = torch.argsort(-vals, stable=True)
    return rows[order], cols[order], vals[order]


@torch.no_grad()
def greedy_match(
    sim: torch.Tensor, threshold: float | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Greedy one-to-one matching of ``sim [R, C]`` (rows to columns).

    Returns ``(rows, cols, values)`` of the accepted pairs in acceptance order. Pairs below
    ``threshold`` (when given) are never matched; NaN counts as unmatchable.
    """
    neg_inf = float("-inf")
    # nan_to_num returns a fresh tensor: the caller's matrix is never modified.
    s = torch.nan_to_num(sim.detach().float(), nan=neg_inf, posinf=torch.finfo(torch.float32).max)
    if threshold is not None:
        s = s.masked_fill(s < threshold, neg_inf)
    if s.device.type == "cpu":
        # The same rounds in numpy: on the offline path's token grids (a few hundred
        # rows) each round is a dozen small ops, and numpy's per-op cost is a fraction of
        # torch's: 0.83 -> 0.34 ms a face over the first 30 dev bench faces' matrices
        # (90 x 256), the same pairs (tests/test_prompts.py).
        return _sorted(*(torch.from_numpy(a) for a in _rounds_numpy(s.numpy())))
    return _sorted(*_rounds_torch(s))


def _rounds_torch(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`greedy_match`'s mutual-best rounds on the matrix's own device (-inf =
    unmatchable): the accepted pairs in round order, rows ascending within a round."""
    neg_inf = float("-inf")
    row_ids = torch.arange(s.shape[0], device=s.device)
    col_ids = torch.arange(s.shape[1], device=s.device)
    out_r, out_c, out_v = [], [], []
    while s.shape[0] > 0 and s.shape[1] > 0:
        best_col = s.argmax(dim=1)  # first max = smallest column among ties
        best_row = s.argmax(dim=0)  # first max = smallest row among ties
        best_val = s.gather(1, best_col[:, None])[:, 0]
        local = torch.arange(s.shape[0], device=s.device)
        alive = best_val > neg_inf
        mutual = alive & (best_row[best_col] == local)
        if not mutual.any():
            break  # only unmatchable entries left
        acc = mutual.nonzero()[:, 0]
        out_r.append(row_ids[acc])
        out_c.append(col_ids[best_col[acc]])
        out_v.append(best_val[acc])
        keep_r = (alive & ~mutual).nonzero()[:, 0]
        keep_c_mask = torch.ones(s.shape[1], dtype=torch.bool, device=s.device)
        keep_c_mask[best_col[acc]] = False
        keep_c = keep_c_mask.nonzero()[:, 0]
        s = s.index_select(0, keep_r).index_select(1, keep_c)
        row_ids, col_ids = row_ids[keep_r], col_ids[keep_c]
    if not out_r:
        empty = torch.zeros(0, dtype=torch.long, device=s.device)
        return empty, empty.clone(), torch.zeros(0, device=s.device)
    return torch.cat(out_r), torch.cat(out_c), torch.cat(out_v)


def _rounds_numpy(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_rounds_torch` in numpy, on a float32 array: the same pairs in the same
    order (``np.argmax`` and ``torch.argmax`` both return the first maximum)."""
    row_ids = np.arange(s.shape[0])
    col_ids = np.arange(s.shape[1])
    out_r, out_c, out_v = [], [], []
    while s.shape[0] > 0 and s.shape[1] > 0:
        best_col = s.argmax(1)  # first max = smallest column among ties, as torch's
        best_row = s.argmax(0)
        best_val = s[np.arange(s.shape[0]), best_col]
        alive = best_val > -np.inf
        mutual = alive & (best_row[best_col] == np.arange(s.shape[0]))
        if not mutual.any():
            break
        acc = np.flatnonzero(mutual)
        out_r.append(row_ids[acc])
        out_c.append(col_ids[best_col[acc]])
        out_v.append(best_val[acc])
        keep_r = np.flatnonzero(alive & ~mutual)
        keep_c = np.ones(s.shape[1], bool)
        keep_c[best_col[acc]] = False
        keep_c = np.flatnonzero(keep_c)
        s = s[np.ix_(keep_r, keep_c)]
        row_ids, col_ids = row_ids[keep_r], col_ids[keep_c]
    if not out_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return (np.concatenate(out_r).astype(np.int64), np.concatenate(out_c).astype(np.int64),
            np.concatenate(out_v).astype(np.float32))


def greedy_match_bruteforce(
    sim: torch.Tensor, threshold: float | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reference implementation: sort every pair, accept if row and column are free.

    Quadratic memory and a Python loop: for tests on small grids only.
    """
    s = sim.detach().float().cpu()
    n_r, n_c = s.shape
    pairs = sorted(
        ((-float(s[i, j]), i, j) for i in range(n_r) for j in range(n_c)),
    )
    used_r, used_c = set(), set()
    rows, cols, vals = [], [], []
    for neg, i, j in pairs:
        v = -neg
        if v != v or v == float("-inf") or (threshold is not None and v < threshold):
            continue
        if i in used_r or j in used_c:
            continue
        used_r.add(i)
        used_c.add(j)
        rows.append(i)
        cols.append(j)
        vals.append(v)
    return (
        torch.tensor(rows, dtype=torch.long),
        torch.tensor(cols, dtype=torch.long),
        torch.tensor(vals, dtype=torch.float32),
    )
