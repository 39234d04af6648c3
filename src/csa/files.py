"""Files csa writes: where caches live, how a file is replaced atomically, and content hashes.

Model files, embedding caches and data-set caches all need the same three things, and
each had grown its own copy. One owner means one set of guarantees:

- a reader never sees half a file (write into a private temporary folder beside the
  target, fsync, rename);
- a killed writer leaves no full-size debris for long: whatever it or the library it
  called wrote lives in that one folder, which the next write into the same folder
  removes once its process is gone;
- files get the permissions the user's umask asks for (``mkstemp`` would give 0600);
- a failure names the file the user asked for, not the hidden temporary.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import CSAError, DtypeError

CACHE_ENV = "CSA_CACHE_DIR"
# Strings no longer than this are checked for being a path to a file on disk.
_MAX_PATH_CHARS = 4096
#: Every temporary csa writes lives in a private folder named with this prefix, beside
#: the target; a crash leaves that one folder, which the next write in the folder removes.
TEMP_PREFIX = ".csa-tmp-"
#: A temporary folder untouched for this long is debris even if its writer's process id
#: is alive (ids are reused; a folder shared over the network has another host's ids).
STALE_AFTER_SECONDS = 3600.0


def cache_root() -> Path:
    """``$CSA_CACHE_DIR`` if set, else ``~/.cache/csa``: every cache csa keeps lives below it."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "csa"


# ---- atomic replacement ------------------------------------------------------------
def _umask_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file: 0o666 minus the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's live process
        return True
    except OverflowError:  # a name no process of this machine could have written
        return False
    return True


def _host() -> str:
    """This machine's name as it may appear in a file name (no separators, no dots)."""
    name = socket.gethostname() or "host"
    return "".join(c if c.isalnum() else "_" for c in name)[:64]


def _temp_folder(target: Path) -> Path:
    """A new private folder beside ``target``: ``.csa-tmp-<host>-<pid>-<random>``.

    A folder rather than a file because writers make their own temporaries: safetensors
    writes ``.tmpXXXXXX`` beside whatever path it is given, so a file of ours would
    still leave a full-size file of theirs after a kill. Inside our folder, everything a
    writer makes is removed with the folder.
    """
    token = secrets.token_hex(4)
    folder = target.parent / f"{TEMP_PREFIX}{_host()}-{os.getpid()}-{token}"
    folder.mkdir(mode=0o700)
    return folder


def _last_touched(folder: Path) -> float:
    """Newest modification time of the folder and what it holds (a slow writer counts)."""
    times = [folder.lstat().st_mtime]
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):
            times.append(entry.lstat().st_mtime)
    return max(times)


def _is_stale(folder: Path, now: float) -> bool:
    parts = folder.name[len(TEMP_PREFIX) :].split("-")
    if len(parts) == 3 and parts[0] == _host() and parts[1].isdigit():
        pid = int(parts[1])
        if pid != os.getpid() and not _pid_alive(pid):
            return True
    try:
        return now - _last_touched(folder) > STALE_AFTER_SECONDS
    except OSError:
        return False


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete what killed writers left in ``folder``; returns what was removed.

    A temporary folder is debris once its writer's process is gone (same machine) or
    nothing in it has changed for :data:`STALE_AFTER_SECONDS`. Live writers' folders,
    this process's own and anything not named by csa are left alone.
    """
    removed = []
    try:
        entries = [e for e in Path(folder).iterdir() if e.name.startswith(TEMP_PREFIX)]
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink() and _is_stale(entry, now):
            shutil.rmtree(entry, ignore_errors=True)
            if not entry.exists():
                removed.append(entry)
    return removed


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - some file systems refuse to open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[Path], None],
    *,
    error: type[CSAError] = CSAError,
    what: str = "file",
) -> Path:
    """Create or replace ``path`` with what ``write(temporary_path)`` writes, atomically.

    ``write`` receives a path with the target's own name inside a private temporary
    folder beside the target (so the final rename cannot cross file systems, and a
    writer that appends the suffix, as ``np.save`` does, finds it already there). The
    data is fsynced before the rename and the folder after it, so a crash leaves either
    the old file or the new one, plus at most one temporary folder, which the next
    write into the same folder removes. OS-level failures become ``error`` with a
    message naming ``path``.
    """
    target = Path(os.fspath(path))
    if target.is_dir():
        raise error(f"cannot write the {what} to {target}: it is a folder; give a file path")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"cannot create the folder for {target}: {exc.strerror or exc}") from exc
    remove_stale_temporaries(target.parent)
    folder: Path | None = None
    try:
        folder = _temp_folder(target)
        tmp = folder / target.name
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, target)
    except OSError as exc:
        raise error(f"cannot write the {what} {target}: {exc.strerror or exc}") from exc
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    _fsync_dir(target.parent)
    return target


# ---- content fingerprints -----------------------------------------------------------
def _is_file(text: str) -> bool:
    if len(text) > _MAX_PATH_CHARS or "\0" in text:
        return False
    try:
        return os.path.isfile(text)
    except (OSError, ValueError):
        return False


def _hash_file(h: Any, path: Path) -> None:
    h.update(b"file\0" + str(path.stat().st_size).encode() + b"\0")
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)


def _is_pil_image(item: Any) -> bool:
    module = type(item).__module__
    return module.startswith("PIL.") and hasattr(item, "tobytes") and hasattr(item, "mode")


def _hash_item(h: Any, item: Any) -> None:
    """Feed one item's content into ``h``, tagged by kind so that '1' and 1 differ."""
    if isinstance(item, os.PathLike):
        path = Path(item)
        if path.is_file():
            _hash_file(h, path)
        else:
            h.update(b"path\0" + os.fsencode(path))
    elif isinstance(item, str):
        # An image path's content matters, not its name; a caption is its own content.
        if _is_file(item):
            _hash_file(h, Path(item))
        else:
            data = item.encode("utf-8", "surrogatepass")
            h.update(b"str\0" + str(len(data)).encode() + b"\0" + data)
    elif isinstance(item, bytes):
        h.update(b"bytes\0" + str(len(item)).encode() + b"\0" + item)
    elif isinstance(item, bool | int | float | np.integer | np.floating):
        h.update(b"num\0" + repr(item.item() if isinstance(item, np.generic) else item).encode())
    elif isinstance(item, np.ndarray):
        if item.dtype == object:
            _hash_sequence(h, list(item))
            return
        arr = np.ascontiguousarray(item)
        h.update(b"ndarray\0" + arr.dtype.str.encode() + repr(arr.shape).encode() + b"\0")
        h.update(arr.tobytes())
    elif _is_pil_image(item):
        h.update(b"pil\0" + item.mode.encode() + repr(item.size).encode() + b"\0")
        h.update(item.tobytes())
    elif isinstance(item, list | tuple):
        _hash_sequence(h, item)
    elif item is None:
        h.update(b"none\0")
    else:
        raise DtypeError(
            f"cannot fingerprint items of type {type(item).__name__}; give a cache key instead"
        )


def _hash_sequence(h: Any, items: Iterable[Any]) -> None:
    seq = list(items)
    h.update(b"seq\0" + str(len(seq)).encode() + b"\0")
    for item in seq:
        _hash_item(h, item)


def content_fingerprint(items: Sequence[Any] | np.ndarray, *, namespace: str = "") -> str:
    """SHA-256 (hex) of the items' content, in order: the one content hash of csa.

    Strings that name files hash the file's bytes (an image's content matters, not its
    name); a numeric array of items is hashed as one buffer, which is fast. The same
    items given as a list and as an array hash differently: at worst a cache miss,
    never a wrong hit. ``namespace`` separates users of the hash (cache formats).
    """
    h = hashlib.sha256(namespace.encode() + b"\0")
    if isinstance(items, np.ndarray) and items.dtype != object:
        h.update(b"n\0" + str(items.shape[0] if items.ndim else 1).encode() + b"\0")
        _hash_item(h, items)
    else:
        _hash_sequence(h, items)
    return h.hexdigest()


__all__ = [
    "CACHE_ENV",
    "TEMP_PREFIX",
    "atomic_write",
    "cache_root",
    "content_fingerprint",
    "remove_stale_temporaries",
]
