"""The one interface every encoder offers, whatever the modality.

CSA only ever sees feature arrays, so an encoder is anything that turns a list of
items (strings, images, waveforms, file paths, rows of a table) into an
``(n, dim)`` float32 array, deterministically.

:class:`BatchedEncoder` holds what every concrete encoder would otherwise repeat:
slicing into batches, the progress bar, and checking what comes out, so that a
model that misbehaves (wrong width, NaN) is caught here and not three layers later
inside a covariance.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from csa.errors import EncoderError, InputError

# Past this many batches an automatic progress bar (on a terminal) appears at once;
# shorter runs get one only if they last long enough (see csa.progress).
AUTO_PROGRESS_MIN_BATCHES = 8


@runtime_checkable
class Encoder(Protocol):
    """A frozen unimodal encoder.

    ``name`` identifies the model and its settings (it keys the embedding cache, so
    two encoders that can give different outputs must have different names). The cache
    adds the width, the class and a fingerprint of the weights it can see (torch modules,
    files held by path); an encoder whose output depends on anything else can say so
    with a ``weights_fingerprint`` string attribute or method
    (:func:`csa.encoders.store.weights_fingerprint`).
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(
        self, items: Sequence[Any], batch_size: int = 32, show_progress: bool | None = None
    ) -> np.ndarray:
        """Return an ``(len(items), dim)`` float32 array."""
        ...


def as_item_sequence(items: Any) -> Sequence[Any]:
    """Accept any finite collection of items, but refuse a lone string.

    A bare ``str`` is a sequence of characters, so ``encode("a cat")`` would
    silently embed five one-letter texts; that is always a mistake.
    """
    if isinstance(items, (str, bytes)):
        raise InputError(
            "encode() takes a sequence of items, got a single string; wrap it in a list: "
            f"encode([{items!r}])"
        )
    if isinstance(items, np.ndarray):
        if items.ndim == 0:
            raise InputError("encode() takes a sequence of items, got a 0-d array")
        return items
    if isinstance(items, Sequence):
        return items
    try:
        return list(items)
    except TypeError as exc:
        raise InputError(f"encode() takes a sequence of items, got {type(items).__name__}") from exc


def check_batch_size(batch_size: int) -> int:
    """Fail early on a batch size that would loop forever or never run."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size}")
    return int(batch_size)


def wants_progress(show_progress: bool | None, n_items: int, batch_size: int) -> bool:
    """Resolve ``show_progress=None`` to 'the run is long enough to wait for'.

    An automatic bar is still drawn only on a terminal (see :class:`csa.progress.ProgressBar`).
    """
    if show_progress is not None:
        return bool(show_progress)
    n_batches = -(-n_items // batch_size)
    return n_batches > AUTO_PROGRESS_MIN_BATCHES


def iter_batches(
    items: Sequence[Any], batch_size: int, *, show_progress: bool | None, desc: str
) -> Iterator[Sequence[Any]]:
    """Yield consecutive slices of ``items``, advancing a progress bar by items, not batches.

    ``show_progress=None`` is automatic: a bar on a terminal only, at once for a long
    run and after a short delay otherwise (see :mod:`csa.progress`).
    """
    from csa.progress import ProgressBar

    n = len(items)
    long = wants_progress(None, n, batch_size)
    with ProgressBar(n, desc, show=show_progress, long=long) as bar:
        for start in range(0, n, batch_size):
            batch = items[start : start + batch_size]
            yield batch
            bar.advance(len(batch))


def resolve_progress(show_progress: bool | None, show_progress_bar: bool | None) -> bool | None:
    """One answer from csa's ``show_progress`` and sentence-transformers' ``show_progress_bar``."""
    if show_progress is None:
        return show_progress_bar
    if show_progress_bar is not None and bool(show_progress_bar) != bool(show_progress):
        raise InputError(
            f"show_progress={show_progress!r} and show_progress_bar={show_progress_bar!r} "
            "disagree; give one of them"
        )
    return show_progress


def finish_output(
    out: np.ndarray,
    *,
    normalize_embeddings: bool = False,
    convert_to_numpy: bool = True,
    convert_to_tensor: bool = False,
) -> Any:
    """Apply sentence-transformers' output options to a checked ``(n, dim)`` float32 array.

    ``normalize_embeddings`` scales rows to unit length with csa's one row normalisation;
    ``convert_to_tensor`` (or ``convert_to_numpy=False``) returns a torch tensor.
    """
    if normalize_embeddings:
        from csa.linalg import unit_rows

        out = np.ascontiguousarray(unit_rows(out), dtype=np.float32)
    if convert_to_tensor or not convert_to_numpy:
        from csa.extras import require

        torch = require("torch", extra="encoders", purpose="convert_to_tensor=True")
        return torch.from_numpy(out)
    return out


def check_output(out: Any, n_items: int, dim: int, name: str) -> np.ndarray:
    """Turn one batch's raw output into a checked ``(n_items, dim)`` float32 array."""
    arr = np.asarray(out, dtype=np.float32)
    if arr.shape != (n_items, dim):
        raise EncoderError(
            f"encoder {name!r} returned shape {arr.shape} for {n_items} items; "
            f"expected ({n_items}, {dim})"
        )
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise EncoderError(f"encoder {name!r} returned NaN or infinite values for {bad} item(s)")
    return arr


class RegistryNamed:
    """Encoders that :func:`csa.encoders.get` may name by their registry name.

    ``get("whisper-base@5s")`` sets ``registry_name`` to the canonical name with its
    options, and ``name`` then returns it, so ``get(encoder.name)`` rebuilds the same
    encoder. An encoder whose output depends on more than its options (one fitted on
    data) does not derive from this class and keeps the name it makes itself.
    """

    registry_name: str | None = None


class BatchedEncoder(RegistryNamed, abc.ABC):
    """Base class: subclasses say how to embed one batch; this class does the rest.

    Subclasses set ``self._name`` and ``self._dim`` when they load, or override the
    properties where either is known only later.
    """

    _name: str
    _dim: int

    @property
    def name(self) -> str:
        return self.registry_name or self._name

    @property
    def dim(self) -> int:
        return self._dim

    @abc.abstractmethod
    def _encode_batch(self, batch: Sequence[Any]) -> np.ndarray:
        """Embed one non-empty batch; the result is checked by :meth:`encode`."""

    def encode(
        self,
        items: Sequence[Any],
        batch_size: int = 32,
        show_progress: bool | None = None,
        *,
        show_progress_bar: bool | None = None,
        normalize_embeddings: bool = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
    ) -> np.ndarray:
        """Embed ``items`` in batches; returns an ``(len(items), dim)`` float32 array.

        The keywords of sentence-transformers' ``encode`` mean what they mean there
        (``show_progress_bar`` is ``show_progress``), so code written for it runs here.
        """
        seq = as_item_sequence(items)
        batch_size = check_batch_size(batch_size)
        show_progress = resolve_progress(show_progress, show_progress_bar)
        n = len(seq)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n:
            start = 0
            for batch in iter_batches(seq, batch_size, show_progress=show_progress, desc=self.name):
                stop = start + len(batch)
                raw = self._encode_batch(batch)
                out[start:stop] = check_output(raw, len(batch), self.dim, self.name)
                start = stop
        return finish_output(
            out,
            normalize_embeddings=normalize_embeddings,
            convert_to_numpy=convert_to_numpy,
            convert_to_tensor=convert_to_tensor,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"
