"""Step lines of a running section, so minutes of encoding and fitting are not silent.

The demo prints each section's "start" and "done"; between the two a section can work
for minutes. Each step (encoding a data set, the sweep of fits) says what it starts on
one short line on stderr, in a log as on a terminal: a line per step, not per item, so a
log stays readable. The step's own progress bar (:class:`csa.progress.ProgressBar`)
follows the library's automatic rule: drawn on a terminal only.
"""

from __future__ import annotations

import sys


def status(section: str, message: str) -> None:
    """``"news: encoding 2,225 headlines"`` on stderr, flushed at once (sections run in
    worker processes, whose buffered output would otherwise arrive at the end)."""
    print(f"{section}: {message}", file=sys.stderr, flush=True)


def encoding(section: str, n_items: int, what: str) -> None:
    """The line before a section encodes ``n_items`` of ``what`` (read from the cache
    where they were encoded before)."""
    status(section, f"encoding {n_items:,} {what}")


__all__ = ["encoding", "status"]
