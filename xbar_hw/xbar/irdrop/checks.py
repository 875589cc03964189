"""Input checks shared by the IR-drop solvers: resistances, conductances and voltages are
validated once, with one-line errors that name the field."""

from __future__ import annotations

import math

import numpy as np
import torch

from ...core.errors import field_error

RES_FIELDS = ("r_row", "r_col", "r_source", "r_sense")


def to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def check_resistance(name: str, value) -> float:
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise field_error(name, value, "a finite resistance >= 0 ohms (0 = ideal wire)") from None
    if not math.isfinite(r) or r < 0:
        raise field_error(name, value, "a finite resistance >= 0 ohms (0 = ideal wire)")
    return r


def check_resistances(r_row, r_col, r_source, r_sense) -> tuple[float, float, float, float]:
    vals = (r_row, r_col, r_source, r_sense)
    return tuple(check_resistance(n, v) for n, v in zip(RES_FIELDS, vals))  # type: ignore


def check_values(name: str, arr: np.ndarray, allowed: str, nonneg: bool) -> None:
    bad = ~np.isfinite(arr)
    if nonneg:
        bad |= arr < 0
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise field_error(f"{name}[{', '.join(map(str, idx))}]", float(arr[idx]), allowed)


def check_g(G, name: str = "G", ndim: int = 2) -> np.ndarray:
    try:
        g = to_numpy(G)
    except (TypeError, ValueError):
        raise field_error(name, type(G).__name__, "a real array of conductances in siemens") from None
    shape_txt = "[rows, cols]" if ndim == 2 else "[n, rows, cols]"
    if g.ndim != ndim or min(g.shape, default=0) < 1:
        raise field_error(f"{name}.shape", tuple(g.shape), f"{ndim}-D {shape_txt} with every size >= 1")
    check_values(name, g, "finite conductances >= 0 siemens", nonneg=True)
    return np.ascontiguousarray(g)


def check_v(v_rows, R: int) -> tuple[np.ndarray, bool]:
    try:
        v = to_numpy(v_rows)
    except (TypeError, ValueError):
        raise field_error("v_rows", type(v_rows).__name__, "a real array of row voltages") from None
    if v.ndim not in (1, 2) or v.shape[-1] != R:
        raise field_error("v_rows.shape", tuple(v.shape), f"[{R}] or [batch, {R}] (one voltage per row, R = {R})")
    check_values("v_rows", v, "finite voltages", nonneg=False)
    single = v.ndim == 1
    return np.ascontiguousarray(v.reshape(-1, R)), single


def to_torch(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


def one_vector(v_rows, R: int) -> np.ndarray:
    """``v_rows`` checked as exactly one input vector: [1, R]."""
    V, single = check_v(v_rows, R)
    if not single:
        raise field_error("v_rows.shape", tuple(V.shape), f"[{R}] (one input vector)")
    return V
