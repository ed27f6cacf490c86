"""Progress of a long command, one line per stage (``relforge predict``: load, embed, sample, fine-tune,
predict), to stderr.

A stage prints when it ends, with its counts and the elapsed time since the command started::

    [   1.2 s] load: 3 tables, 25,000 rows
    [  41.0 s] embed: 24,991 texts (MiniLM), 61 column names
    [  52.3 s] predict: 834 contexts

Stages that take long also report while they run (``update``), at most every few seconds, so a
slow step is never silent: ``[  20.5 s] embed: 12,288 / 24,991 texts``. ``Progress(enabled=False)``
(the library default) prints nothing.
"""
from __future__ import annotations

import sys
import time


class Progress:
    """Stage lines with elapsed time; ``update`` prints at most every ``every`` seconds."""

    def __init__(self, enabled: bool = True, stream=None, every: float = 5.0):
        self.enabled = enabled
        self.stream = stream
        self.every = float(every)
        self.t0 = time.perf_counter()
        self._last = -1e9
        self._held: list | None = None

    def hold(self) -> None:
        """Queue lines until :meth:`release`: a command checks its input first, and a bad input
        then gives its one ``error:`` line without stage lines before it."""
        if self._held is None:
            self._held = []

    def release(self) -> None:
        """Print the queued lines (the input was accepted) and print directly from now on."""
        held, self._held = self._held, None
        for line in held or []:
            self._emit(line)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def _print(self, msg: str) -> None:
        if not self.enabled:
            return
        line = f"[{self.elapsed():7.1f} s] {msg}"
        if self._held is not None:
            self._held.append(line)
        else:
            self._emit(line)

    def _emit(self, line: str) -> None:
        print(line, file=self.stream or sys.stderr, flush=True)

    def done(self, stage: str, detail: str = "") -> None:
        """A stage ended."""
        self._print(f"{stage}: {detail}" if detail else stage)
        self._last = time.perf_counter()

    def update(self, stage: str, done: int, total: int, unit: str = "") -> None:
        """Work inside a stage: printed when ``every`` seconds passed since the last line."""
        now = time.perf_counter()
        if now - self._last >= self.every and done < total:
            self._print(f"{stage}: {done:,} / {total:,}{' ' + unit if unit else ''}")
            self._last = now

    def callback(self, stage: str, unit: str = ""):
        """``f(done, total)`` calling :meth:`update` for ``stage``."""
        return lambda done, total: self.update(stage, done, total, unit)


#: a silent reporter (the library default)
SILENT = Progress(enabled=False)
