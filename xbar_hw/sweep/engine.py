"""Running a sweep on Ray: a local cluster (inside the driver's private network
namespace, see :mod:`.netns`) or the user's cluster (``--address``).

The work is a small graph of Ray tasks. The model is trained once (or read back from
``DIR/model.safetensors`` on resume); each mapping of the design (points that differ only
in the device, non-ideal or cost blocks share one) is mapped once by a task that also
evaluates it and costs its points; each chip of each point is a task of its own that gets
the Program's bytes from the object store. The data set travels as bytes through the
object store too, so no worker reads a path of the driver's disk. A worker that dies
mid-task is retried by Ray (``max_retries``); a task that raises makes a failed row with
its one-line error, and the sweep goes on. Rows are appended to the table as chips finish.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from ..core.design import MAPPING_KEYS
from ..core.errors import XbarError
from ..core.io import atomic_path
from ..workload.resolve import resolve_data
from . import work
from .blobs import dataset_to_bytes, metadata
from .netns import RAY_DIR
from .spec import Point, Sweep, digest
from .table import Table

#: retries of a task whose worker process died (Ray's system failures); errors raised by
#: the task itself are not retried: they are the point's result
RETRIES = 3
MODEL_FILE = "model.safetensors"


@dataclass
class Options:
    out: Path
    address: str | None = None
    workers: int | None = None
    resume: bool = False
    quiet: bool = False
    connect_timeout: float = 10.0


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check_reachable(address: str, timeout: float) -> None:
    """Refuse, in one line and within ``timeout`` seconds, an address nothing answers on."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    allowed = ("allowed: HOST:PORT of a running Ray cluster's head (as `ray start --head` prints it), "
               "ray://HOST:PORT (Ray client) or auto")
    if not host or not port.isdigit():
        raise XbarError(f"--address: got {address!r}; {allowed}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise XbarError(f"--address: cannot reach {hostport} within {timeout:g} s ({why}); {allowed}") from None


@contextlib.contextmanager
def ray_session(opts: Options):
    """Ray, started locally (``opts.workers`` CPUs, loopback, a temporary folder removed
    afterwards) or connected to ``opts.address``; shut down (or disconnected) at the end."""
    try:
        import ray
    except ImportError:
        raise XbarError("sweep: Ray is not installed; allowed: pip install 'ray==2.60.0' (scripts/setup.sh does)") from None

    tmp = None
    on_sigterm = signal.getsignal(signal.SIGTERM)  # the sweep's (see .command)
    try:
        if opts.address is None:
            given = os.environ.get(RAY_DIR)  # made by the process that re-executed this one, removed there
            tmp = given if given and os.path.isdir(given) else tempfile.mkdtemp(prefix="xbar-ray-")
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # nothing outside the namespace can connect
            os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
            ray.init(num_cpus=opts.workers or default_workers(), include_dashboard=False, _temp_dir=tmp,
                     _node_ip_address="127.0.0.1", logging_level=logging.WARNING, log_to_driver=True)
        else:
            check_reachable(opts.address, opts.connect_timeout)
            try:
                ray.init(address=opts.address, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise XbarError(f"--address: could not join the Ray cluster at {opts.address} "
                                f"({first_line(exc)}); allowed: a running Ray cluster") from None
        if threading.current_thread() is threading.main_thread():
            # a head node's ray.init takes SIGTERM over (it kills the node and exits with
            # status 1, no unwinding); the sweep's own handler unwinds through the finally
            # below, which shuts Ray down as Ctrl-C does
            signal.signal(signal.SIGTERM, on_sigterm if on_sigterm is not None else signal.SIG_DFL)
        yield ray
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def first_line(exc: BaseException, limit: int = 400) -> str:
    cause = getattr(exc, "cause", None)
    if cause is not None and cause is not exc:
        return first_line(cause, limit)
    text = str(exc) if isinstance(exc, XbarError) else f"{type(exc).__name__}: {exc}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]


def mapping_group(p: Point, workload: dict) -> str:
    return digest({"mapping": {k: p.design_dict.get(k) for k in MAPPING_KEYS}, "workload": workload})


def base_row(sweep: Sweep, p: Point, chip: int) -> dict:
    d = p.design_dict
    return {"key": p.row_key(chip), "point_key": p.key, "point": p.index, "chip": chip, "chips": sweep.chips,
            "sweep": sweep.name, "axes": p.axes, "design": d, "workload": asdict(sweep.workload),
            "fingerprint": p.design.mapping_fingerprint() if p.design is not None else None,
            "adc_bits": (d.get("adc") or {}).get("bits"), "status": "ok", "error": None}


def failed_row(sweep: Sweep, p: Point, chip: int, error: str) -> dict:
    return {**base_row(sweep, p, chip), "status": "failed", "error": error, "finished": time.time()}


def load_data(sweep: Sweep) -> tuple[bytes, bytes | None]:
    """The workload's data (and the task's, with a method) as bytes, read on the driver."""
    w = sweep.workload
    data = dataset_to_bytes(resolve_data(w.data, seed=w.seed))
    task = dataset_to_bytes(resolve_data(w.task, seed=w.seed)) if w.adapts else None
    return data, task


def cached_model(out: Path, sweep: Sweep) -> bytes | None:
    """The model a run of this sweep already trained (resume), if its training key matches."""
    path = out / MODEL_FILE
    if not path.is_file():
        return None
    blob = path.read_bytes()
    try:
        doc = json.loads(metadata(blob)["xbar_hw.model"])
    except (KeyError, ValueError):
        return None
    return blob if doc.get("meta", {}).get("sweep_train_key") == sweep.workload.train_key() else None


class Runner:
    """One run of a sweep on an initialized Ray: submit, collect, append rows."""

    def __init__(self, ray, sweep: Sweep, points: list[Point], table: Table, opts: Options):
        self.ray, self.sweep, self.points, self.table, self.opts = ray, sweep, points, table, opts
        self.workload = asdict(sweep.workload)
        opt = {"max_retries": RETRIES, "num_cpus": 1}
        self.train = ray.remote(**opt)(work.train_model)
        self.map = ray.remote(num_returns=2, **opt)(work.map_design)
        self.chip = ray.remote(**opt)(work.eval_chip)
        self.metrics: dict[str, dict | BaseException] = {}
        self.nodes: set[str] = set()

    def model(self, data_ref) -> object:
        """The trained model's object ref; trains it (and writes DIR/model.safetensors) unless a
        matching model is there."""
        blob = cached_model(self.opts.out, self.sweep)
        if blob is None:
            try:
                blob = self.ray.get(self.train.remote(self.workload, data_ref, 1))
            except self.ray.exceptions.RayError as exc:
                raise XbarError(f"sweep: training the workload's model failed: {first_line(exc)}") from None
            with atomic_path(self.opts.out / MODEL_FILE) as tmp:
                tmp.write_bytes(blob)
        return self.ray.put(blob)

    def submit(self, todo: list[tuple[Point, int]], data: bytes, task: bytes | None) -> dict:
        """Submit the mapping and chip tasks of ``todo``: {chip ref: (point, chip, group)}."""
        data_ref = self.ray.put(data)
        task_ref = self.ray.put(task) if task is not None else None
        model_ref = self.model(data_ref)
        groups: dict[str, dict[str, Point]] = {}
        for p, _ in todo:
            groups.setdefault(mapping_group(p, self.workload), {})[p.key] = p
        programs, self.metric_refs = {}, {}
        for g, pts in groups.items():
            costs = {k: p.design_dict for k, p in pts.items()}
            first = next(iter(pts.values())).design_dict
            programs[g], self.metric_refs[g] = self.map.remote(model_ref, data_ref, task_ref, first, self.workload,
                                                               costs, 1)
        chip_data = task_ref if task_ref is not None else data_ref
        pending = {}
        for p, c in todo:
            g = mapping_group(p, self.workload)
            ref = self.chip.remote(programs[g], chip_data, p.design_dict, self.workload, c, g, 1)
            pending[ref] = (p, c, g)
        return pending

    def group_metrics(self, g: str) -> dict | BaseException:
        if g not in self.metrics:
            try:
                self.metrics[g] = self.ray.get(self.metric_refs[g])
            except self.ray.exceptions.RayError as exc:
                self.metrics[g] = exc
        return self.metrics[g]

    def row(self, ref, p: Point, c: int, g: str) -> dict:
        m = self.group_metrics(g)
        if isinstance(m, BaseException):
            return failed_row(self.sweep, p, c, f"mapping: {first_line(m)}")
        try:
            chip = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            return failed_row(self.sweep, p, c, f"chip {c}: {first_line(exc)}")
        self.nodes.add(chip.get("node"))
        row = base_row(self.sweep, p, c)
        row.update({k: v for k, v in m.items() if k != "costs"})
        row.update(m["costs"][p.key])
        row.update(chip)
        row["finished"] = time.time()
        return row

    def collect(self, pending: dict, bar) -> int:
        """Append a row per finished chip task, as they finish; the number appended."""
        n = 0
        while pending:
            ready, _ = self.ray.wait(list(pending), num_returns=len(pending), timeout=0.5, fetch_local=False)
            for ref in ready:
                p, c, g = pending.pop(ref)
                self.table.append(self.row(ref, p, c, g))
                n += 1
                bar.update(1)
            bar.set_postfix_str(points_done(self.points, self.sweep.chips, self.table), refresh=True)
        return n


def points_done(points: list[Point], chips: int, table: Table) -> str:
    keys = table.keys
    done = sum(all(p.row_key(c) in keys for c in range(chips)) for p in points)
    return f"points {done}/{len(points)}"


def run_sweep(sweep: Sweep, opts: Options) -> dict:
    """Run (or finish, with ``opts.resume``) ``sweep`` into ``opts.out``; a summary dict."""
    t0 = time.perf_counter()
    points = sweep.points()
    table = Table(opts.out, opts.resume)
    try:
        done = table.keys
        rows = [(p, c) for p in points for c in range(sweep.chips)]
        skipped = sum(p.row_key(c) in done for p, c in rows)
        for p, c in rows:  # combinations the design rules refuse: failed rows, no Ray
            if p.error is not None and p.row_key(c) not in done:
                table.append(failed_row(sweep, p, c, p.error))
        todo = [(p, c) for p, c in rows if p.error is None and p.row_key(c) not in table.keys]
        summary = {"points": len(points), "rows": len(rows), "skipped": skipped, "computed": 0,
                   "dropped_torn_bytes": table.dropped, "workers": None, "nodes": [], "table": str(table.path)}
        if todo:
            summary.update(execute(sweep, points, opts, table, todo))
        keys = {p.row_key(c) for p, c in rows}
        mine = [r for r in table.rows if r["key"] in keys]
        summary["failed"] = sum(r["status"] != "ok" for r in mine)
        summary["complete"] = len({r["key"] for r in mine}) == len(keys)
        summary["total_seconds"] = round(time.perf_counter() - t0, 3)
        return summary
    finally:
        table.close()


def execute(sweep: Sweep, points: list[Point], opts: Options, table: Table, todo: list) -> dict:
    """Start or join Ray, run ``todo``, and time it."""
    total = len(points) * sweep.chips
    data, task = load_data(sweep)
    t0 = time.perf_counter()
    with ray_session(opts) as ray:
        t1 = time.perf_counter()
        runner = Runner(ray, sweep, points, table, opts)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        with tqdm(total=total, initial=total - len(todo), desc=f"sweep {sweep.name}", unit="chip", disable=opts.quiet,
                  smoothing=0.1) as bar:
            bar.set_postfix_str(points_done(points, sweep.chips, table))
            pending = runner.submit(todo, data, task)
            computed = runner.collect(pending, bar)
        t2 = time.perf_counter()
    return {"computed": computed, "workers": cpus, "nodes": sorted(n for n in runner.nodes if n),
            "ray_start_seconds": round(t1 - t0, 3), "sweep_seconds": round(t2 - t1, 3)}
