"""One progress bar for every wait a person sits through (encoding, searches, sections).

The rule csa follows: a wait longer than about two seconds shows progress, a short call
stays silent, and a log file or pipe gets no bar unless one was asked for. One helper
holds that rule so each slow loop does not decide it again:

- ``show=True``: the bar is drawn at once, on stderr, even when stderr is not a
  terminal (the caller asked);
- ``show=False``: nothing is drawn;
- ``show=None`` (automatic): drawn only when stderr is a terminal, at once when the
  caller knows the run is long (``long=True``) and otherwise only once the wait has
  lasted :data:`AUTO_DELAY_S` seconds, so a quick query never flashes a bar.

The bar is rich's (rich already comes with the CLI) and is imported only when a bar
may be drawn, so importing csa stays light.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import Any

# How long an automatic bar waits before it appears: well under the ~2 s after which a
# silent wait feels like a hang, long enough that a short call never draws one.
AUTO_DELAY_S = 1.0


def _stderr_is_terminal() -> bool:
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class ProgressBar:
    """A context manager: ``with ProgressBar(n, "encoding") as bar: ... bar.advance(k)``.

    ``total`` counts units of work (items, fits); ``note`` is extra text after the
    description (e.g. "1,200 read from the cache"). The bar disappears when the block
    ends, so the lines a command prints afterwards stay readable.
    """

    def __init__(
        self,
        total: int,
        description: str,
        *,
        show: bool | None = None,
        long: bool = False,
        unit: str = "item",
        note: str = "",
        completed: int = 0,
    ) -> None:
        self.total = max(int(total), 0)
        self.description = description
        self.unit = unit
        self.note = note
        self.completed = int(completed)
        if show is None:
            self._mode = ("now" if long else "later") if _stderr_is_terminal() else "off"
        else:
            self._mode = "now" if show else "off"
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._progress: Any = None
        self._task: Any = None
        self._closed = False

    @property
    def visible(self) -> bool:
        """Whether the bar is drawn right now (for tests and for callers that print)."""
        return self._progress is not None

    def __enter__(self) -> ProgressBar:
        if self._mode == "now":
            self._start()
        elif self._mode == "later":
            self._timer = threading.Timer(AUTO_DELAY_S, self._start)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _start(self) -> None:
        with self._lock:
            if self._closed or self._progress is not None:
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(self.unit + "s"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[note]}"),
                console=Console(stderr=True),
                # On a terminal the bar vanishes when done; a bar asked for in a log
                # leaves its final line, the only one a non-terminal gets.
                transient=_stderr_is_terminal(),
            )
            self._task = self._progress.add_task(
                self.description, total=self.total, completed=self.completed, note=self.note
            )
            self._progress.start()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done."""
        with self._lock:
            self.completed += int(n)
            if self._progress is not None:
                self._progress.update(self._task, completed=self.completed)

    def set_note(self, note: str) -> None:
        """Replace the text shown after the bar (e.g. the best score so far)."""
        with self._lock:
            self.note = note
            if self._progress is not None:
                self._progress.update(self._task, note=note)

    def close(self) -> None:
        """Stop the bar (and a pending automatic start); safe to call twice."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
            progress, self._progress = self._progress, None
        if timer is not None:
            timer.cancel()
        if progress is not None:
            progress.stop()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["AUTO_DELAY_S", "ProgressBar"]
