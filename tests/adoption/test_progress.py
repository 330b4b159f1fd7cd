"""Progress output: a bar redrawn in place on a terminal, plain lines elsewhere, a last line always."""
from __future__ import annotations

import io

from ark.adoption.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_that_ends_the_line() -> None:
    stream = Terminal()
    progress = Progress("objects written", 4, stream)
    progress.advance(2)
    progress.advance(2)
    progress.finish()
    last = stream.getvalue().rsplit("\r", 1)[1]
    assert last.startswith("[" + "#" * 30 + "] 4/4 objects written (") and last.endswith("/s)\n")


def test_a_log_gets_whole_lines_only() -> None:
    stream = io.StringIO()
    progress = Progress("objects exported", 0, stream)
    for _ in range(3):
        progress.advance()
    progress.finish()
    assert "\r" not in stream.getvalue()
    assert stream.getvalue().splitlines()[-1].startswith("3 objects exported (")
