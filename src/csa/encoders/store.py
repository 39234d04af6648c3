"""The per-item embedding store: one SQLite file, one row per (encoder, item).

Why per item: a person encodes a folder of images, then the same files sorted into
class folders, a subset, or the set plus a few new ones. A cache keyed on the whole
item list misses every time; a store keyed on each item's content hits on everything
seen before, whatever the order or layout, and encodes only what is new.

Why SQLite (standard library, nothing to install): it gives what a hand-made index of
``.npy`` files would have to re-invent and get wrong: transactions (a batch is written
whole or not at all, so Ctrl-C keeps every finished batch), locking between processes
(two runs on one cache do not corrupt it; WAL lets readers go on while one writes), one
file to size, inspect and prune. LMDB and zarr would add a dependency for no gain at
the sizes a CPU encodes (millions of rows at most).

What SQLite does not do is notice a damaged value, so each row carries a checksum over
the encoder's identity, the item's key and the vector's bytes: a flipped bit, a row
swapped with another's (key differs) or zeroed is caught on read, dropped and
re-encoded, never served.

Rows are keyed by

- the encoder's identity: its name (which carries its options), width, class and a
  fingerprint of its weights (:func:`encoder_identity`);
- the item's content (:func:`item_keys`): the bytes of a file an item names, the text
  of a caption, the values of an array; or, when the caller vouches for the data with a
  ``key``, that key and the item's position.

The store holds the encoder's raw float32 output; output options (normalisation,
tensors) are applied on the way out, the same on a hit as on a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import stat
import sys
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from csa.errors import EncoderError, InputError, warn
from csa.files import cache_root, content_fingerprint

SUBDIR = "embeddings"
STORE_NAME = "embeddings.sqlite3"
# Written into the file; a store of another format is refused (``csa cache prune --all``).
FORMAT = "csa-embedding-store-1"
_ITEM_NAMESPACE = "csa-item-v1"
# How long a writer waits for another process's transaction before giving up on a batch.
_LOCK_TIMEOUT_S = 10.0
# SQLite caps the number of ``?`` in one statement; look rows up in chunks this size.
_LOOKUP_CHUNK = 500
_SIDE_FILES = ("-wal", "-shm", "-journal")
# Rows live in a rowid table (an index b-tree, as WITHOUT ROWID makes, spills any row over
# ~1 KB into overflow pages: 4.7 KB on disk per 1.5 KB vector). With the largest page, a
# page holds many vectors of common widths and wastes at most part of one: the file
# measured 1.16, 1.11, 1.10 and 1.16 times the vector bytes at 384, 768, 1280 and 2048-d.
_PAGE_SIZE = 65536
# A hit marks its row as used only if the mark is older than this, so reading a cached
# set again writes nothing; pruning by age works in days.
_TOUCH_AFTER_S = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS encoders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    digest BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    dim INTEGER NOT NULL,
    identity TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    id INTEGER PRIMARY KEY,
    encoder INTEGER NOT NULL REFERENCES encoders(id),
    item BLOB NOT NULL,
    used REAL NOT NULL,
    checksum BLOB NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE (encoder, item)
);
"""


class CacheWarning(UserWarning):
    """The embedding cache could not be used or held damaged rows; the work went on."""


def _is_damage(exc: sqlite3.Error) -> bool:
    """SQLite's own word that the file is not a sound database (not a lock or permission)."""
    return type(exc) is sqlite3.DatabaseError


class CacheUnavailable(EncoderError):
    """The store cannot be opened or written (a folder or FIFO in its place, no permission,
    a damaged or foreign file); callers that can encode without it warn and go on."""


# ---- where the store lives -----------------------------------------------------------------
def store_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The store's file: ``<cache_dir or cache root>/embeddings/embeddings.sqlite3``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / SUBDIR / STORE_NAME


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _check_path(path: Path) -> None:
    """Refuse, before SQLite opens anything, what would fail obscurely or block forever.

    Opening a FIFO blocks until a writer appears, so the check must come first.
    """
    for folder in path.parents:  # a file in the folders' place: say so, not "Not a directory"
        if folder.exists():
            if not folder.is_dir():
                raise CacheUnavailable(
                    f"the embedding cache folder {folder} is a file, not a folder; remove it "
                    "or give another cache_dir (--cache-dir) or $CSA_CACHE_DIR"
                )
            break
    for candidate in (path, *(path.with_name(path.name + s) for s in _SIDE_FILES)):
        try:
            mode = os.stat(candidate).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CacheUnavailable(
                f"cannot use the embedding cache {candidate}: {exc.strerror or exc}"
            ) from exc
        if not stat.S_ISREG(mode):
            raise CacheUnavailable(
                f"the embedding cache path {candidate} is {_kind(mode)}, not a file csa can "
                "use; remove it, or give another cache_dir (--cache-dir) or $CSA_CACHE_DIR"
            )
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheUnavailable(
            f"cannot create the embedding cache folder {parent}: {exc.strerror or exc}"
        ) from exc


# ---- identities and keys ------------------------------------------------------------------
# A model's weight digest, kept while none of its tensors changes in place (torch bumps a
# tensor's version counter on every in-place write: optimiser steps, load_state_dict).
_WEIGHT_DIGESTS: weakref.WeakKeyDictionary[Any, tuple[tuple[int, ...], str]] = (
    weakref.WeakKeyDictionary()
)


def _torch_weights_digest(module: Any) -> str:
    state = module.state_dict()
    versions = tuple(int(getattr(t, "_version", 0)) for t in state.values())
    known = _WEIGHT_DIGESTS.get(module)
    if known is not None and known[0] == versions:
        return known[1]
    h = hashlib.sha256(b"torch-state\0")
    for name, tensor in state.items():
        arr = np.ascontiguousarray(tensor.detach().cpu().float().numpy())
        h.update(f"{name}\0{arr.shape}\0".encode())
        if arr.size:  # a view, not a copy: a model can be gigabytes
            h.update(memoryview(arr.reshape(-1)).cast("B"))
    digest = h.hexdigest()[:32]
    _WEIGHT_DIGESTS[module] = (versions, digest)
    return digest


def weights_fingerprint(encoder: Any) -> str | None:
    """What the encoder's output depends on beyond its name, as a short string.

    An encoder may say it itself with a ``weights_fingerprint`` attribute (a string or
    a method returning one). Otherwise csa looks at what the encoder holds: each torch
    module's weights are hashed (kept while they are unchanged), and each file it holds
    a path to counts by its size and modification time (a re-written feature file is a
    different encoder). None when nothing is found: the name then stands alone.
    """
    own = getattr(encoder, "weights_fingerprint", None)
    if callable(own):
        own = own()
    if own is not None:
        return str(own)
    parts: list[str] = []
    torch = sys.modules.get("torch")  # an encoder holding a torch module has imported it
    for attr, value in sorted(vars(encoder).items()) if hasattr(encoder, "__dict__") else []:
        if torch is not None and isinstance(value, torch.nn.Module):
            parts.append(f"{attr}=torch:{_torch_weights_digest(value)}")
        elif isinstance(value, Path):
            try:
                st = value.stat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                parts.append(f"{attr}=file:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts) or None


def encoder_identity(encoder: Any) -> dict[str, Any]:
    """Everything that decides an encoder's output: name (with options), width, class, weights."""
    cls = type(encoder)
    return {
        "name": str(encoder.name),
        "dim": int(encoder.dim),
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "weights": weights_fingerprint(encoder),
    }


def _identity_digest(identity: dict[str, Any]) -> bytes:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{FORMAT}\0{text}".encode()).digest()


def item_key(item: Any) -> bytes:
    """An item's 32-byte key from its content (a file's bytes for a path to a file)."""
    return bytes.fromhex(content_fingerprint([item], namespace=_ITEM_NAMESPACE))


def item_keys(items: Sequence[Any], *, key: str | None = None) -> list[bytes]:
    """One 32-byte key per item, from its content; or from ``key`` and its position.

    A caller's ``key`` (e.g. "fashion-mnist/train") vouches that the items behind it
    never change; the number of items is part of each row's key, so a list of another
    length under the same key is never read as this one.
    """
    n = len(items)
    if key is not None:
        prefix = f"key\0{key}\0{n}\0".encode()
        return [hashlib.sha256(prefix + str(i).encode()).digest() for i in range(n)]
    return [item_key(items[i]) for i in range(n)]


def _checksum(encoder_digest: bytes, item: bytes, vector: bytes) -> bytes:
    return hashlib.blake2b(encoder_digest + item + vector, digest_size=16).digest()


def _checked(
    encoder_digest: bytes, dim: int, item: bytes, vector: bytes, checksum: bytes
) -> np.ndarray | None:
    """The row's float32 vector if its length, checksum and values hold; else None."""
    if len(vector) != 4 * dim or _checksum(encoder_digest, item, vector) != checksum:
        return None
    arr = np.frombuffer(vector, dtype="<f4").astype(np.float32)
    return arr if np.isfinite(arr).all() else None


# ---- reports ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class EncoderEntries:
    """What the store holds for one encoder."""

    name: str
    dim: int
    entries: int
    vector_bytes: int
    last_used: float | None


@dataclass(frozen=True)
class CacheInfo:
    """The store's size and contents, for ``csa cache info``."""

    path: Path
    exists: bool
    file_bytes: int
    entries: int
    encoders: list[EncoderEntries] = field(default_factory=list)
    legacy_files: int = 0
    legacy_bytes: int = 0


@dataclass(frozen=True)
class PruneReport:
    """What ``prune`` removed."""

    path: Path
    removed_entries: int
    removed_damaged: int
    removed_legacy_files: int
    freed_bytes: int
    removed_store: bool = False


# ---- the store ---------------------------------------------------------------------------------
class EmbeddingStore:
    """The SQLite file of per-item embeddings; use as a context manager, or ``close()``.

    ``EmbeddingStore(cache_dir=...)`` opens (creating if needed) the store below a cache
    root; ``EmbeddingStore(path=...)`` opens a given file. Problems with the path or the
    file raise :class:`CacheUnavailable` naming it.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        timeout: float = _LOCK_TIMEOUT_S,
        repair: bool = True,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else store_path(cache_dir)
        self._timeout = float(timeout)
        self._repair = bool(repair)
        self._open()

    def _open(self) -> None:
        """Connect and check the format; a file SQLite calls damaged is replaced if allowed."""
        _check_path(self.path)
        try:
            self._db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise CacheUnavailable(f"cannot open the embedding cache {self.path}: {exc}") from exc
        try:
            self._setup()
        except CacheUnavailable:
            self._db.close()
            raise
        except sqlite3.Error as exc:
            self._db.close()
            if self._repair and _is_damage(exc):
                self._start_afresh(exc)
                return
            raise CacheUnavailable(
                f"cannot use the embedding cache {self.path}: {exc}; if the file is damaged, "
                "`csa cache prune --all` removes it"
            ) from exc

    def _start_afresh(self, exc: sqlite3.Error) -> None:
        """Replace a store SQLite cannot read (truncated, overwritten) with an empty one.

        It holds only what can be computed again, and a damaged file would otherwise
        fail every call from now on.
        """
        warn(
            f"the embedding cache {self.path} was damaged ({exc}); it was removed and "
            "starts empty, so its items are encoded again",
            CacheWarning,
        )
        for p in (self.path, *(self.path.with_name(self.path.name + s) for s in _SIDE_FILES)):
            try:
                p.unlink(missing_ok=True)
            except OSError as unlink_exc:
                raise CacheUnavailable(
                    f"the embedding cache {self.path} is damaged ({exc}) and cannot be "
                    f"removed: {unlink_exc.strerror or unlink_exc}"
                ) from unlink_exc
        self._repair = False  # once: a second failure is reported, not looped on
        self._open()

    def _setup(self) -> None:
        """Create the tables on first use, and check the format of a file that has them.

        A store already set up is only read here, so opening takes no write lock and a
        read-only store still serves its rows.
        """
        db = self._db
        db.execute(f"PRAGMA page_size={_PAGE_SIZE}")  # takes effect only on a new file
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode=WAL")  # persistent: set once, by the creator
        db.execute("PRAGMA synchronous=NORMAL")
        found = self._format()
        if found is None:
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)", (FORMAT,)
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            found = self._format()
        if found != FORMAT:
            raise CacheUnavailable(
                f"the embedding cache {self.path} has format {found!r}, not {FORMAT!r} "
                "(another csa version); `csa cache prune --all` removes it"
            )

    def _format(self) -> str | None:
        """The format the file says it has; None for a new file (no tables yet)."""
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return None if row is None else str(row[0])

    # -- context management
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- encoders
    def _encoder_id(self, digest: bytes, identity: dict[str, Any], *, create: bool) -> int | None:
        """The encoder's row id (ids are never reused: AUTOINCREMENT), looked up each time so
        that a prune by another process is never mistaken for this encoder's rows."""
        row = self._db.execute("SELECT id FROM encoders WHERE digest = ?", (digest,)).fetchone()
        if row is None and create:
            self._db.execute(
                "INSERT OR IGNORE INTO encoders (digest, name, dim, identity) VALUES (?, ?, ?, ?)",
                (digest, identity["name"], identity["dim"], json.dumps(identity, sort_keys=True)),
            )
            row = self._db.execute("SELECT id FROM encoders WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else int(row[0])

    # -- reading
    def lookup(
        self, identity: dict[str, Any], keys: Iterable[bytes]
    ) -> tuple[dict[bytes, np.ndarray], int]:
        """The stored vectors for ``keys`` that pass their checks, and how many did not.

        A row whose checksum, length or values are wrong is deleted (so it is encoded
        again and rewritten) and counted, never returned.
        """
        digest = _identity_digest(identity)
        dim = int(identity["dim"])
        wanted = list(dict.fromkeys(keys))
        found: dict[bytes, np.ndarray] = {}
        damaged: list[bytes] = []
        enc_id: int | None = None
        try:
            self._db.execute("BEGIN")  # one snapshot: a prune elsewhere cannot interleave
            try:
                enc_id = self._encoder_id(digest, identity, create=False)
                for start in range(0, len(wanted) if enc_id is not None else 0, _LOOKUP_CHUNK):
                    chunk = wanted[start : start + _LOOKUP_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows = self._db.execute(
                        f"SELECT item, vector, checksum FROM vectors "  # only placeholders
                        f"WHERE encoder = ? AND item IN ({marks})",
                        (enc_id, *chunk),
                    ).fetchall()
                    for item, vector, checksum in rows:
                        arr = _checked(digest, dim, bytes(item), bytes(vector), bytes(checksum))
                        if arr is None:
                            damaged.append(bytes(item))
                        else:
                            found[bytes(item)] = arr
            finally:
                if self._db.in_transaction:
                    self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._repair and _is_damage(exc):
                self._db.close()
                self._start_afresh(exc)
                return {}, 0
            raise CacheUnavailable(
                f"cannot read the embedding cache {self.path}: {exc}; if the file is damaged, "
                "`csa cache prune --all` removes it"
            ) from exc
        if enc_id is None:
            return found, 0
        self._touch_and_drop(enc_id, list(found), damaged)
        return found, len(damaged)

    def _touch_and_drop(self, enc_id: int, used: list[bytes], damaged: list[bytes]) -> None:
        """Mark hits as used now (for pruning the least recently used) and drop damaged rows.

        Best effort: a read-only or busy store still serves its checked rows.
        """
        if not used and not damaged:
            return
        now = time.time()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "UPDATE vectors SET used = ? WHERE encoder = ? AND item = ? AND used < ?",
                [(now, enc_id, item, now - _TOUCH_AFTER_S) for item in used],
            )
            self._db.executemany(
                "DELETE FROM vectors WHERE encoder = ? AND item = ?",
                [(enc_id, item) for item in damaged],
            )
            self._db.execute("COMMIT")
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    # -- writing
    def put(self, identity: dict[str, Any], keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store one batch in one transaction: after this returns, the batch survives Ctrl-C."""
        arr = np.ascontiguousarray(vectors, dtype="<f4")
        dim = int(identity["dim"])
        if arr.shape != (len(keys), dim) or not np.isfinite(arr).all():
            raise InputError(
                f"put() takes a finite ({len(keys)}, {dim}) array, got shape {arr.shape}"
            )
        digest = _identity_digest(identity)
        now = time.time()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                enc_id = self._encoder_id(digest, identity, create=True)
                rows = []
                for item, row in zip(keys, arr, strict=True):
                    blob = row.tobytes()
                    rows.append((enc_id, item, blob, _checksum(digest, item, blob), now))
                self._db.executemany(
                    "INSERT INTO vectors (encoder, item, vector, checksum, used) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (encoder, item) DO UPDATE SET "
                    "vector = excluded.vector, checksum = excluded.checksum, used = excluded.used",
                    rows,
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise CacheUnavailable(
                f"cannot write to the embedding cache {self.path}: {exc}"
            ) from exc

    # -- inspecting and pruning
    def info(self) -> CacheInfo:
        """The store's size and, per encoder, its entries and when they were last used."""
        try:
            rows = self._db.execute(
                # Sizes from counts (every row is 4 * dim bytes, checked on write and read):
                # counting walks the small (encoder, item) index, not the vectors.
                "SELECT e.name, e.dim, COUNT(v.id), 4 * e.dim * COUNT(v.id), MAX(v.used) "
                "FROM encoders e LEFT JOIN vectors v ON v.encoder = e.id "
                "GROUP BY e.id ORDER BY e.name, e.id"
            ).fetchall()
        except sqlite3.Error as exc:
            raise CacheUnavailable(f"cannot read the embedding cache {self.path}: {exc}") from exc
        encoders = [
            EncoderEntries(str(n), int(d), int(c), int(b), None if u is None else float(u))
            for n, d, c, b, u in rows
            if c
        ]
        legacy = _legacy_files(self.path.parent)
        return CacheInfo(
            path=self.path,
            exists=True,
            file_bytes=_store_bytes(self.path),
            entries=sum(e.entries for e in encoders),
            encoders=encoders,
            legacy_files=len(legacy),
            legacy_bytes=sum(_size(p) for p in legacy),
        )

    def prune(
        self,
        *,
        older_than_days: float | None = None,
        max_bytes: int | None = None,
        encoder: str | None = None,
    ) -> PruneReport:
        """Remove damaged rows, and the rows the criteria select, then compact the file.

        ``older_than_days`` drops rows not used for that long; ``encoder`` drops every
        row of encoders with that name; ``max_bytes`` then drops the least recently used
        rows until the vectors fit. Old whole-list ``.npy`` entries are removed too:
        this version never reads them.
        """
        if older_than_days is not None and not older_than_days >= 0:
            raise InputError(f"older_than_days must be >= 0, got {older_than_days}")
        if max_bytes is not None and max_bytes < 0:
            raise InputError(f"max_bytes must be >= 0, got {max_bytes}")
        before = _store_bytes(self.path)
        try:
            damaged = self._drop_damaged()
            removed = 0
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if encoder is not None:
                    removed += self._db.execute(
                        "DELETE FROM vectors WHERE encoder IN "
                        "(SELECT id FROM encoders WHERE name = ?)",
                        (encoder,),
                    ).rowcount
                if older_than_days is not None:
                    cutoff = time.time() - older_than_days * 86400.0
                    removed += self._db.execute(
                        "DELETE FROM vectors WHERE used < ?", (cutoff,)
                    ).rowcount
                if max_bytes is not None:
                    removed += self._shrink_to(max_bytes)
                self._db.execute(
                    "DELETE FROM encoders WHERE id NOT IN (SELECT DISTINCT encoder FROM vectors)"
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            if removed or damaged:
                self._compact()
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise CacheUnavailable(f"cannot prune the embedding cache {self.path}: {exc}") from exc
        legacy = _legacy_files(self.path.parent)
        legacy_bytes = sum(_size(p) for p in legacy)
        for p in legacy:
            p.unlink(missing_ok=True)
        return PruneReport(
            path=self.path,
            removed_entries=removed,
            removed_damaged=damaged,
            removed_legacy_files=len(legacy),
            freed_bytes=max(before - _store_bytes(self.path), 0) + legacy_bytes,
        )

    def _compact(self) -> None:
        """VACUUM: give the freed pages back to the file system (a rewrite of the file)."""
        from csa.progress import ProgressBar

        with ProgressBar(1, "compacting the embedding cache", unit="step") as bar:
            self._db.execute("VACUUM")
            bar.advance(1)

    def _shrink_to(self, max_bytes: int) -> int:
        total = self._db.execute(
            "SELECT COALESCE(SUM(4 * e.dim), 0) FROM vectors v JOIN encoders e ON e.id = v.encoder"
        ).fetchone()
        excess = int(total[0]) - max_bytes
        if excess <= 0:
            return 0
        doomed: list[tuple[int]] = []
        for row_id, size in self._db.execute(
            "SELECT v.id, 4 * e.dim FROM vectors v JOIN encoders e ON e.id = v.encoder "
            "ORDER BY v.used, v.id"
        ):
            if excess <= 0:
                break
            doomed.append((row_id,))
            excess -= int(size)
        self._db.executemany("DELETE FROM vectors WHERE id = ?", doomed)
        return len(doomed)

    def _drop_damaged(self) -> int:
        """Check every row (a full read of the file, with progress) and delete the bad ones."""
        from csa.progress import ProgressBar

        digests = {
            int(i): (bytes(d), int(dim))
            for i, d, dim in self._db.execute("SELECT id, digest, dim FROM encoders")
        }
        n_rows = int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        bad: list[tuple[int]] = []
        with ProgressBar(n_rows, "checking the embedding cache", unit="row") as bar:
            rows = self._db.execute("SELECT id, encoder, item, vector, checksum FROM vectors")
            for row_id, enc_id, item, vector, checksum in rows:
                known = digests.get(int(enc_id))
                if (
                    known is None
                    or _checked(known[0], known[1], bytes(item), bytes(vector), bytes(checksum))
                    is None
                ):
                    bad.append((row_id,))
                bar.advance(1)
        if bad:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM vectors WHERE id = ?", bad)
            self._db.execute("COMMIT")
        return len(bad)


_UNITS = {
    "": 1,
    "B": 1,
    "K": 1000,
    "KB": 1000,
    "M": 1000**2,
    "MB": 1000**2,
    "G": 1000**3,
    "GB": 1000**3,
    "T": 1000**4,
    "TB": 1000**4,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
    "TIB": 1024**4,
}


def parse_size(text: str) -> int:
    """Bytes from a size a person types: "500MB", "2 GiB", "1e6" (bytes)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else None
    if match is None or unit not in _UNITS:
        raise InputError(
            f"cannot read {text!r} as a size; give a number with an optional unit "
            "(B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 500MB"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def format_bytes(n: int) -> str:
    """A size for people: 1536 -> "1.5 KiB"."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover - the loop always returns


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _store_bytes(path: Path) -> int:
    return _size(path) + sum(_size(path.with_name(path.name + s)) for s in _SIDE_FILES)


def _legacy_files(folder: Path) -> list[Path]:
    """Whole-list ``.npy`` entries of csa's first cache format: never read by this one."""
    try:
        return sorted(p for p in folder.glob("*.npy") if p.is_file())
    except OSError:
        return []


# ---- the public entry points for ``csa cache`` -----------------------------------------------
def cache_info(cache_dir: str | os.PathLike[str] | None = None) -> CacheInfo:
    """The embedding cache's size and contents (``csa cache info``); creates nothing."""
    path = store_path(cache_dir)
    if not path.exists():
        legacy = _legacy_files(path.parent)
        return CacheInfo(
            path=path,
            exists=False,
            file_bytes=0,
            entries=0,
            legacy_files=len(legacy),
            legacy_bytes=sum(_size(p) for p in legacy),
        )
    with EmbeddingStore(path=path, repair=False) as store:
        return store.info()


def prune_cache(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    older_than_days: float | None = None,
    max_bytes: int | None = None,
    encoder: str | None = None,
    everything: bool = False,
) -> PruneReport:
    """Prune the embedding cache (``csa cache prune``); see :meth:`EmbeddingStore.prune`.

    ``everything=True`` deletes the store file itself (and old ``.npy`` entries): the
    way out when the file is damaged or of another format, since it is never opened.
    """
    path = store_path(cache_dir)
    if everything:
        _check_path(path)  # never unlink a folder or FIFO put where the store belongs
        freed, removed_files = 0, 0
        for p in (path, *(path.with_name(path.name + s) for s in _SIDE_FILES)):
            if p.exists():
                freed += _size(p)
                p.unlink()
        legacy = _legacy_files(path.parent)
        for p in legacy:
            freed += _size(p)
            p.unlink(missing_ok=True)
            removed_files += 1
        return PruneReport(path, 0, 0, removed_files, freed, removed_store=True)
    if not path.exists():
        legacy = _legacy_files(path.parent)
        freed = sum(_size(p) for p in legacy)
        for p in legacy:
            p.unlink(missing_ok=True)
        return PruneReport(path, 0, 0, len(legacy), freed)
    with EmbeddingStore(path=path) as store:
        return store.prune(older_than_days=older_than_days, max_bytes=max_bytes, encoder=encoder)


__all__ = [
    "CacheInfo",
    "CacheUnavailable",
    "CacheWarning",
    "EmbeddingStore",
    "EncoderEntries",
    "PruneReport",
    "cache_info",
    "encoder_identity",
    "format_bytes",
    "item_key",
    "item_keys",
    "parse_size",
    "prune_cache",
    "store_path",
    "weights_fingerprint",
]
