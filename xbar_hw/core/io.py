"""Files users receive: safetensors + JSON, written to a temporary file and renamed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .errors import XbarError


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A half-written result never appears under ``path``; the file gets the permissions that
    the user's umask gives a new file.
    """
    path = Path(path)
    if path.is_dir():
        raise XbarError(f"output: got {str(path)!r}, a folder; allowed: a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise XbarError(f"output: cannot write {str(path)!r} ({exc.strerror}); allowed: a path in a writable folder") from None
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | Path):
    """Yield a temporary folder beside ``path`` to write a result of several files into.

    On success a new ``path`` is the renamed temporary folder; into an existing ``path``
    each entry is moved by one rename (a sub-folder of the same name is swapped whole), so
    files the result does not name are kept. On failure or interruption the temporary
    folder is removed: nothing half-written appears under ``path``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise XbarError(f"output: got {str(path)!r}, a file; allowed: a folder path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise XbarError(f"output: cannot write {str(path)!r} ({exc.strerror}); allowed: a path in a writable folder") from None
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        if not path.exists():
            os.replace(tmp, path)
            return
        for entry in sorted(tmp.iterdir()):
            target = path / entry.name
            if entry.is_dir() and target.is_dir():
                old = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".old", dir=path))
                os.replace(target, old / entry.name)
                os.replace(entry, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(entry, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def fresh_folder(path: str | Path):
    """A working folder that a run may create (a cache of builds, say): if ``path`` did not
    exist on entry and the block fails or is interrupted, the folder is removed, so a run
    that did not finish leaves nothing behind; an existing folder is left as it is."""
    path = Path(path)
    existed = path.exists()
    try:
        yield path
    except BaseException:
        if not existed:
            shutil.rmtree(path, ignore_errors=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], key: str, meta: dict) -> None:
    """Write tensors with a JSON document under metadata ``key``; atomic."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={key: json.dumps(meta, sort_keys=True)})


def load_tensors(path: str | Path, key: str, what: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a file written by :func:`save_tensors`; bad files raise a one-line XbarError."""
    p = Path(path)
    if not p.is_file():
        raise XbarError(f"{what}: got {str(path)!r}; allowed: a path to an existing {what} file (.safetensors)")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise XbarError(f"{what}: {p} is not a safetensors file ({exc})") from None
    if key not in meta:
        raise XbarError(f"{what}: {p} is a safetensors file but not an xbar-hw {what} (no '{key}' metadata)")
    try:
        doc = json.loads(meta[key])
    except json.JSONDecodeError as exc:
        raise XbarError(f"{what}: {p} has unreadable metadata ({exc})") from None
    return tensors, doc
