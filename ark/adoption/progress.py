"""Progress of a long run on stderr: a bar redrawn in place on a terminal, a line every few
seconds otherwise (logs, CI), and always a last line with the count and the rate."""
from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30
LINE_INTERVAL = 5.0  # seconds between lines when stderr is not a terminal
REDRAW_INTERVAL = 0.1


class Progress:
    def __init__(self, what: str, total: int, stream: TextIO | None = None) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.started = self.shown = time.monotonic()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.shown >= (REDRAW_INTERVAL if self.tty else LINE_INTERVAL):
            self.shown = now
            self._show(final=False)

    def finish(self) -> None:
        self._show(final=True)

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def _show(self, final: bool) -> None:
        count = f"{self.done}/{self.total} {self.what}" if self.total else f"{self.done} {self.what}"
        text = f"{count} ({self.rate():.0f}/s)"
        if self.tty:
            filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.stream.write(f"\r[{bar}] {text}" + ("\n" if final else ""))
        elif final or self.done:
            self.stream.write(f"{text}\n")
        self.stream.flush()
