"""A private network namespace for the local Ray cluster, so that it never binds or sends
to any address but loopback.

A plain ``ray.init()`` listens on every interface (the machine's external address
included). The default local mode therefore runs the sweep driver, and with it the whole
local cluster it starts, in a new network namespace that holds only ``lo``: the driver
re-executes itself under ``unshare -n`` (root) or ``unshare -rn`` (a user namespace too,
where unprivileged user namespaces are allowed), with :data:`MARKER` set, and brings
``lo`` up with two ioctls (no iproute2 needed). Whatever Ray binds there is reachable from
nowhere else. ``--address`` (the user's own cluster) never uses a namespace.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from ..core.errors import XbarError

#: set in the re-executed driver: it runs inside its own network namespace
MARKER = "XBAR_SWEEP_NETNS"
#: the local Ray cluster's temporary folder, made (and removed, whatever happened inside)
#: by the process that re-executes the driver
RAY_DIR = "XBAR_SWEEP_RAY_DIR"
#: the driver's own exit statuses: done, a user error, Ctrl-C, SIGTERM
OWN_STATUSES = (0, 2, 130, 128 + signal.SIGTERM)
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PR_SET_PDEATHSIG = 1
HOW_TO = ("allowed: root, or a kernel that allows unprivileged user namespaces "
          "(sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0); "
          "or --address ADDR of a running Ray cluster")


def interfaces() -> list[str]:
    """The network interfaces of this process's namespace (``/sys/class/net`` would show
    those of whoever mounted ``/sys``)."""
    return sorted(name for _, name in socket.if_nameindex())


def inside() -> bool:
    """True in the re-executed driver, in a namespace whose only interface is ``lo``."""
    return os.environ.get(MARKER) == "1" and interfaces() == ["lo"]


def loopback_up() -> None:
    """Bring ``lo`` up (SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP): a new network
    namespace starts with it down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14s", b"lo", 0, bytes(14))
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, bytes(14)))


def unshare_command() -> list[str]:
    """``unshare -n`` as root, ``unshare -rn`` otherwise; refused in one line when the
    namespace cannot be made (checked by making one that runs ``true``)."""
    tool = shutil.which("unshare")
    if tool is None:
        raise XbarError("sweep: cannot make a private network namespace for the local Ray cluster: `unshare` "
                        f"(util-linux) is not installed; {HOW_TO}")
    cmd = [tool, "-n"] if os.geteuid() == 0 else [tool, "-rn"]
    probe = subprocess.run([*cmd, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        raise XbarError(f"sweep: cannot make a private network namespace for the local Ray cluster ({' '.join(cmd)}: "
                        f"{why}); {HOW_TO}")
    return cmd


def package_root() -> str:
    """The folder that holds the ``xbar_hw`` package (put on PYTHONPATH for the child)."""
    return str(Path(__file__).resolve().parent.parent.parent)


def run_inside(argv: list[str], module: str = "xbar_hw.sweep") -> int:
    """Run ``python -m module *argv`` in a new network namespace; its exit status.

    The local cluster's temporary folder is made here and removed here, so that it goes
    even when the driver ends without unwinding. A driver that ends in a status of its own
    has said why; any other status (Ray's core ends the driver with status 1, and no
    Python unwinding, when its node's processes are killed from outside: `ray stop`, the
    OOM killer) gets the one line here."""
    cmd = unshare_command()
    env = dict(os.environ)
    env[MARKER] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root(), env.get("PYTHONPATH")) if p)
    env["XBAR_SWEEP_PARENT"] = str(os.getpid())
    ray_dir = tempfile.mkdtemp(prefix="xbar-ray-")
    env[RAY_DIR] = ray_dir
    try:
        proc = subprocess.Popen([*cmd, sys.executable, "-m", module, *argv], env=env)
        # SIGTERM here goes on to the child, which shuts its Ray down and says so
        previous = signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
        try:
            status = proc.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the child too: let it shut its Ray down and say so
            status = wait_or_kill(proc)
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    if status not in OWN_STATUSES:
        print(f"error: sweep: the local Ray cluster stopped under the sweep (driver exit status {status}; "
              "Ray's processes killed from outside: `ray stop`, the OOM killer?); the rows finished so far are in "
              "the table: finish the sweep with --resume", file=sys.stderr)
    return status


def wait_or_kill(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """The exit status of ``proc``, killed if it has not ended within ``timeout`` seconds."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def enter() -> None:
    """In the re-executed driver: check the namespace and bring loopback up."""
    if interfaces() != ["lo"]:
        raise XbarError(f"sweep: expected a private network namespace with only lo, found {interfaces()}; "
                        "allowed: run the sweep without setting " + MARKER)
    loopback_up()
    follow_parent()


def follow_parent() -> None:
    """Get SIGTERM when the process that re-executed this one dies (so that the local
    cluster shuts down with it); exit at once if it is already gone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != os.environ.get("XBAR_SWEEP_PARENT", str(os.getppid())):
        raise SystemExit(128 + signal.SIGTERM)
