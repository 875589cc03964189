"""Design-space sweeps: a sweep file (base design, axes over design fields, sampling,
chips, workload) run as Ray tasks, a local cluster by default (inside a private network
namespace, loopback only) or the user's (``--address``); results appended to a table as
they finish, resumable; Pareto reports.

Modules: ``spec`` (the sweep file and its points), ``work`` (what workers compute),
``blobs`` (data, models and Programs as bytes for the object store), ``table`` (the
JSON-lines table), ``netns`` (the private network namespace), ``engine`` (the Ray tasks
and the driver loop), ``report`` (Pareto fronts), ``command`` (the ``sweep`` command).
"""

from .report import pareto, summarize, write_report
from .spec import Point, Sweep, Workload, load_sweep, sweep_from_dict
from .table import Table, read_rows

__all__ = ["Point", "Sweep", "Table", "Workload", "load_sweep", "pareto", "read_rows", "summarize", "sweep_from_dict",
           "write_report"]
