"""Progress on a terminal: one line on standard error, overall and monotonic.

Only when standard error is a terminal; when it is a pipe or a file nothing is written,
so logs and scripts see only the output and the one-line messages. A long step reports
its own fraction through `part()`, which maps it into the step's share of the whole.
"""
from __future__ import annotations

import sys
from typing import Callable, Optional, TextIO

WIDTH = 79


class Progress:
    def __init__(self, label: str, stream: Optional[TextIO] = None):
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        try:
            self.enabled = self.stream.isatty()
        except (AttributeError, ValueError):
            self.enabled = False
        self.fraction = 0.0
        self.shown: tuple = ()
        self.drawn = False

    def update(self, fraction: float, what: str = "") -> None:
        """Move to `fraction` (0..1) of the whole; never backwards."""
        if not self.enabled:
            return
        self.fraction = min(1.0, max(self.fraction, fraction))
        percent = int(self.fraction * 100)
        if (percent, what) == self.shown:
            return  # a tarball reports each of its 80,000 members: draw only what changed
        self.shown = (percent, what)
        line = f"{self.label} {percent:3d}% {what}"[:WIDTH]
        self.stream.write("\r" + line.ljust(WIDTH))
        self.stream.flush()
        self.drawn = True

    def part(self, start: float, end: float) -> Callable[[int, int, str], None]:
        """A (done, total, what) callback for a step that covers start..end of the whole."""
        def report(done: int, total: int, what: str = "") -> None:
            share = done / total if total else 1.0
            self.update(start + (end - start) * min(1.0, max(0.0, share)), what)
        return report

    def finish(self) -> None:
        """Clear the line, so that what follows starts at the left margin."""
        if self.enabled and self.drawn:
            self.stream.write("\r" + " " * WIDTH + "\r")
            self.stream.flush()
            self.drawn = False
