from __future__ import annotations

import io
import itertools

from ratings.booleans import parse_bool
from ratings.progress import ProgressBar


def test_the_bar_redraws_one_line_and_ends_it_when_done() -> None:
    stream, ticks = io.StringIO(), iter([0.0, 0.5, 1.0])
    bar = ProgressBar(stream, "bootstrap", width=10, clock=lambda: next(ticks))
    bar(5, 10)
    bar(10, 10)
    assert stream.getvalue() == "\rbootstrap [#####.....] 5/10   0.5s\rbootstrap [##########] 10/10   1.0s\n"


def test_a_new_label_starts_a_new_line_and_clock() -> None:
    stream, ticks = io.StringIO(), itertools.count()  # each reading of the clock is one second later
    bar = ProgressBar(stream, width=4, clock=lambda: float(next(ticks)))
    bar(1, 1, label="overall")
    bar(0, 2, label="code")
    bar(2, 2, label="code")
    assert stream.getvalue() == "\roverall [####] 1/1   1.0s\n\rcode [....] 0/2   1.0s\rcode [####] 2/2   2.0s\n"


def test_one_parser_reads_yes_and_no_in_every_spelling_and_nothing_else() -> None:
    assert [parse_bool(v) for v in ("1", "TRUE", " yes ", "on", True)] == [True] * 5
    assert [parse_bool(v) for v in ("0", "false", "No", "off", False)] == [False] * 5
    assert [parse_bool(v) for v in ("", "maybe", "2", None)] == [None] * 4
