"""Sweep files: YAML -> a validated :class:`Sweep` and its points.

A sweep names a base design, axes over design fields (dotted paths such as ``adc.bits``,
``nonideal.saf.sa1``, or a whole block such as ``crossbar`` with mappings as values), how
to sample them (the grid, or ``random`` points drawn with a seed), the chips per point and
the workload. Every axis value is checked against the design schema before anything runs:
an unknown field or a value of the wrong type is one line naming the field. A combination
that breaks a cross-field rule (for example ``adc.per_crossbar`` above ``crossbar.cols``) is
a failed point, recorded with its one-line error, and the sweep goes on.

A point's key is a hash of its full configuration (the whole design and the workload);
a row's key adds the chip index. ``--resume`` skips the rows whose key is in the table.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import yaml

from ..core.design import Design, design_from_dict, load_design
from ..core.errors import XbarError, field_error
from ..core.schema import build_block, choice_field, float_field, int_field

#: bump when what a key covers changes: rows of another version are not reused
KEY_VERSION = 1
TOP_KEYS = ("name", "description", "base", "set", "axes", "sampling", "chips", "workload")
METHODS = ("none", "finetune", "classifier", "piggyback", "xbm", "xma", "xma2")


@dataclass(frozen=True)
class Workload:
    """What runs on every point. ``model`` is trained once on ``data`` (shared by all
    points), mapped once per mapping of the design and evaluated on each chip; with a
    ``method``, the mapped model is the backbone and ``method`` adapts it to ``task``
    (once per mapping), and the chips run the task. ``limit``: test samples evaluated (a
    fixed subset, 0 = all); ``images``: the energy workload (test images)."""

    model: str = field(default="mnist_cnn", metadata=choice_field("mnist_cnn", "task_cnn", "resnet20"))
    width: int = field(default=16, metadata=int_field(1, 512))
    data: str = field(default="mnist5k", metadata={"kind": "str"})
    epochs: int = field(default=1, metadata=int_field(0, 1000))
    lr: float = field(default=1e-3, metadata=float_field(0.0))
    seed: int = field(default=0, metadata=int_field(0, 2**31 - 1))
    calibration: int = field(default=512, metadata=int_field(1, 10**7))
    limit: int = field(default=0, metadata=int_field(0, 10**9))
    images: int = field(default=16, metadata=int_field(1, 10**6))
    method: str = field(default="none", metadata=choice_field(*METHODS))
    task: str = field(default="split_mnist_5_9", metadata={"kind": "str"})
    adapt_epochs: int = field(default=1, metadata=int_field(0, 1000))
    budget: float = field(default=0.1, metadata=float_field(0.0, 1.0, lo_open=False))

    @property
    def adapts(self) -> bool:
        return self.method != "none"

    def train_key(self) -> str:
        """Hash of what the trained model depends on."""
        keys = ("model", "width", "data", "epochs", "lr", "seed")
        return digest({k: getattr(self, k) for k in keys})


@dataclass(frozen=True)
class Point:
    """One configuration of the sweep: its axis values, its design (None when the
    combination is invalid; ``error`` says why) and its key."""

    index: int
    axes: dict
    design_dict: dict
    design: Design | None
    error: str | None
    key: str

    def row_key(self, chip: int) -> str:
        return digest({"point": self.key, "chip": chip})


@dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    base: Design
    axes: dict  # path -> list of values, or {"low", "high", "log"} for random sampling
    sampling: dict  # {"mode": "grid"} or {"mode": "random", "points": N, "seed": S}
    chips: int
    workload: Workload
    text: str  # the sweep file as written (kept in the report so the sweep can be rerun)

    def to_dict(self) -> dict:
        """The sweep as a self-contained mapping (its base design written out): what
        :func:`sweep_from_dict` reads back into the same points."""
        mode = self.sampling["mode"]
        sampling = "grid" if mode == "grid" else {"random": self.sampling["points"], "seed": self.sampling["seed"]}
        return {"name": self.name, "description": self.description, "base": self.base.to_dict(), "axes": self.axes,
                "sampling": sampling, "chips": self.chips, "workload": asdict(self.workload)}

    def points(self) -> list[Point]:
        """The points, in a fixed order (grid: the axes' product in file order; random:
        drawn with the sampling seed), without duplicates."""
        combos = grid(self.axes) if self.sampling["mode"] == "grid" else draw(self.axes, self.sampling)
        base, out, seen = self.base.to_dict(), [], set()
        for combo in combos:
            merged = base
            for path, value in combo.items():
                merged = with_value(merged, path, value)
            try:
                design, error = design_from_dict(merged), None
                merged = design.to_dict()
            except XbarError as exc:
                design, error = None, str(exc)
            key = digest({"v": KEY_VERSION, "design": merged, "workload": asdict(self.workload)})
            if key in seen:
                continue
            seen.add(key)
            out.append(Point(len(out), dict(combo), merged, design, error, key))
        return out


def digest(doc) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def with_value(doc: dict, path: str, value) -> dict:
    """A copy of ``doc`` with the dotted ``path`` set to ``value`` (a mapping value is
    merged into the block it names)."""
    head, _, rest = path.partition(".")
    out = dict(doc)
    if rest:
        out[head] = with_value(out.get(head) or {}, rest, value)
    elif isinstance(value, dict) and isinstance(out.get(head), dict):
        out[head] = {**out[head], **value}
    else:
        out[head] = value
    return out


def check_path(path, key: str = "axes") -> None:
    """Refuse a dotted path that names no field (or block) of the design."""
    if not isinstance(path, str) or not path:
        raise field_error(key, path, "dotted paths of design fields, such as adc.bits or nonideal.saf.sa1")
    cls, walked = Design, []
    for part in path.split("."):
        if cls is None or not is_dataclass(cls):
            raise XbarError(f"{key}: {path}: {'.'.join(walked)} is a value, not a block; allowed: a path that ends there")
        known = {f.name: f for f in fields(cls)}
        if part not in known:
            where = ".".join(walked) or "the design"
            raise XbarError(f"{key}: {path}: unknown field {part!r} of {where}; allowed: {', '.join(known)}")
        f = known[part]
        walked.append(part)
        factory = f.default_factory if callable(f.default_factory) else None
        cls = factory if factory is not None and is_dataclass(factory) else None


def check_axis(base: dict, path: str, values) -> list | dict:
    """Each value of an axis against the schema (kind and range; cross-field rules are
    checked per point): one line naming the field on the first bad value."""
    check_path(path)
    if isinstance(values, dict):
        extra = set(values) - {"low", "high", "log"}
        if extra or not {"low", "high"} <= set(values):
            raise field_error(f"axes.{path}", values, "a list of values, or {low: A, high: B[, log: true]} for random sampling")
        lo, hi = values["low"], values["high"]
        for v in (lo, hi):
            check_value_at(base, path, v)
        if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float))) or lo > hi or (values.get("log") and lo <= 0):
            raise field_error(f"axes.{path}", values, "numbers low <= high (both > 0 with log: true)")
        return dict(values)
    if not isinstance(values, list) or not values:
        raise field_error(f"axes.{path}", values, "a non-empty list of values")
    for v in values:
        check_value_at(base, path, v)
    return list(values)


def check_value_at(base: dict, path: str, value) -> None:
    try:
        build_block(Design, with_value(base, path, value), "")
    except XbarError as exc:
        raise XbarError(f"axes: {exc}") from None


def grid(axes: dict) -> list[dict]:
    if any(isinstance(v, dict) for v in axes.values()):
        bad = next(p for p, v in axes.items() if isinstance(v, dict))
        raise field_error(f"axes.{bad}", axes[bad], "a list of values with sampling: grid (ranges need sampling: {random: N})")
    paths = list(axes)
    return [dict(zip(paths, combo)) for combo in itertools.product(*(axes[p] for p in paths))]


def draw(axes: dict, sampling: dict) -> list[dict]:
    """``points`` random points: distinct grid points when every axis is a list, else
    independent draws (uniform, or log-uniform with ``log: true``; integers stay integers)."""
    rng = random.Random(sampling["seed"])
    n = sampling["points"]
    if all(isinstance(v, list) for v in axes.values()):
        full = grid(axes)
        return full if n >= len(full) else [full[i] for i in sorted(rng.sample(range(len(full)), n))]
    out = []
    for _ in range(n):
        combo = {}
        for path, v in axes.items():
            if isinstance(v, list):
                combo[path] = v[rng.randrange(len(v))]
            elif isinstance(v["low"], int) and isinstance(v["high"], int) and not v.get("log"):
                combo[path] = rng.randint(v["low"], v["high"])
            elif v.get("log"):
                combo[path] = math.exp(rng.uniform(math.log(v["low"]), math.log(v["high"])))
            else:
                combo[path] = rng.uniform(v["low"], v["high"])
        out.append(combo)
    return out


def parse_sampling(value) -> dict:
    if value is None or value == "grid":
        return {"mode": "grid"}
    if isinstance(value, dict) and set(value) <= {"random", "seed"} and "random" in value:
        n, seed = value["random"], value.get("seed", 0)
        if isinstance(n, int) and not isinstance(n, bool) and n >= 1 and isinstance(seed, int) and not isinstance(seed, bool):
            return {"mode": "random", "points": n, "seed": seed}
    raise field_error("sampling", value, "grid, or {random: N, seed: S} (N >= 1 points drawn with seed S)")


def base_design(value, root: Path) -> Design:
    """The base design: a path (relative to the sweep file, else to the working folder)
    or a mapping written inline."""
    if isinstance(value, dict):
        return design_from_dict(value)
    if not isinstance(value, str) or not value:
        raise field_error("base", value, "a design file path or a design mapping")
    p = Path(value)
    if not p.is_absolute() and (root / p).is_file():
        p = root / p
    return load_design(p)


def with_settings(base: Design, settings) -> Design:
    """The base design with ``set`` (dotted paths to values, fixed for every point) applied."""
    if settings is None:
        return base
    if not isinstance(settings, dict):
        raise field_error("set", settings, "a mapping of design fields (dotted paths) to values")
    doc = base.to_dict()
    for path, value in settings.items():
        check_path(path, "set")
        doc = with_value(doc, path, value)
    try:
        return design_from_dict(doc)
    except XbarError as exc:
        raise XbarError(f"set: {exc}") from None


def sweep_from_dict(doc, root: Path, text: str = "") -> Sweep:
    """Validate a sweep read from YAML (``root``: the folder relative paths start from)."""
    if not isinstance(doc, dict):
        raise field_error("sweep", doc, "a YAML mapping with keys " + ", ".join(TOP_KEYS))
    for k in doc:
        if k not in TOP_KEYS:
            raise XbarError(f"{k}: unknown key of the sweep; allowed: {', '.join(TOP_KEYS)}")
    for k in ("base", "axes"):
        if k not in doc:
            raise XbarError(f"{k}: missing; a sweep needs base (a design) and axes (design fields and their values)")
    name, desc, chips = doc.get("name", "sweep"), doc.get("description", ""), doc.get("chips", 1)
    if not isinstance(name, str) or not name or not isinstance(desc, str):
        raise field_error("name", name, "a non-empty string (and description, if given, a string)")
    if isinstance(chips, bool) or not isinstance(chips, int) or not 1 <= chips <= 10**6:
        raise field_error("chips", chips, "an integer >= 1 (chip instances per point)")
    base = with_settings(base_design(doc["base"], root), doc.get("set"))
    axes = doc["axes"]
    if not isinstance(axes, dict) or not axes:
        raise field_error("axes", axes, "a mapping of design fields (dotted paths) to lists of values")
    base_dict = base.to_dict()
    axes = {path: check_axis(base_dict, path, values) for path, values in axes.items()}
    workload = build_block(Workload, doc.get("workload"), "workload")
    sampling = parse_sampling(doc.get("sampling"))
    if sampling["mode"] == "grid":
        grid(axes)  # refuses ranges
    return Sweep(name, desc, base, axes, sampling, chips, workload, text)


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (``yaml.safe_load``); bad input raises XbarError."""
    p = Path(path)
    if not p.is_file():
        raise field_error("sweep", str(path), "a path to an existing sweep YAML file")
    try:
        text = p.read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise XbarError(f"sweep: {p} is not a UTF-8 text file; allowed: a YAML sweep file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise XbarError(f"sweep: {p} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return sweep_from_dict(doc, p.resolve().parent, text)
