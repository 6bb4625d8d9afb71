"""Identity leaks: an answer that names a model of the arena, its organisation or one of its aliases.

A vote is blind only while neither answer says who wrote it. An answer that names any arena model
(its public name, its organisation, or an alias from the admin: "ChatGPT", "GPT-4o", "Claude") is
an identity leak, whichever model it names: naming a rival reveals as much. The vote on such a
battle is recorded but does not count (reason ``identity_leak``), and the voter is told so before
voting. FastChat drops the same battles offline, by searching answers for a fixed list of names;
here the list is the arena's own models and the check runs while the answer streams.

Matching is case-insensitive, on whole words (a term never matches inside a longer word, so "Meta"
does not match "metadata"), and treats a space, hyphen, underscore, dot or nothing between the
letters and the digits of a term alike ("GPT-4o", "gpt 4o", "GPT4o"). Terms shorter than
:data:`MIN_TERM_CHARS` characters are ignored: they match too much ordinary text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

RULE = "identity_leak"
VERSION = 1
MIN_TERM_CHARS = 3
_SEPARATORS = r"[\s\-_.]?"
_PIECES = re.compile(r"[^\W_]+", re.UNICODE)


def terms_of(name: str, organization: str, aliases: str) -> list[str]:
    """The terms that identify one model: its name, its organisation and each alias (one per line or comma)."""
    found = [name, organization, *re.split(r"[,\n]", aliases or "")]
    return [t.strip() for t in found if len(t.strip()) >= MIN_TERM_CHARS]


def _term_pattern(term: str) -> str:
    pieces = _PIECES.findall(term.casefold())
    # Letters and digits split into pieces too ("gpt4o" -> gpt, 4, o), so every spelling of the term matches.
    atoms = [p for piece in pieces for p in re.findall(r"\d+|\D+", piece)]
    return _SEPARATORS.join(re.escape(a) for a in atoms)


@dataclass(frozen=True)
class LeakDetector:
    """Finds the arena's identifying terms in text."""

    pattern: re.Pattern[str] | None
    longest: int  # characters of the longest term: how far back a match may start across chunks

    def find(self, text: str) -> list[str]:
        """The distinct terms found in ``text`` (as written there, lower-cased), in order of appearance."""
        if self.pattern is None:
            return []
        found = dict.fromkeys(m.group(0).casefold() for m in self.pattern.finditer(text.casefold()))
        return list(found)


def leak_detector(terms: Iterable[str]) -> LeakDetector:
    return _detector(tuple(sorted({t.casefold() for t in terms if len(t) >= MIN_TERM_CHARS})))


@lru_cache(maxsize=8)
def _detector(terms: tuple[str, ...]) -> LeakDetector:
    patterns = [p for p in (_term_pattern(t) for t in sorted(terms, key=len, reverse=True)) if p]
    if not patterns:
        return LeakDetector(None, 0)
    # (?<!\w) and (?!\w): whole words, also for terms that start or end with a digit.
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(patterns) + r")(?!\w)")
    return LeakDetector(pattern, 2 * max(len(t) for t in terms))


class StreamScanner:
    """Scans an answer as it streams: each new piece together with the tail of what came before it."""

    def __init__(self, detector: LeakDetector) -> None:
        self.detector = detector
        self._tail = ""
        self.found: list[str] = []

    def feed(self, text: str) -> list[str]:
        """Add a piece of the answer; return the terms found for the first time."""
        window = self._tail + text
        keep = self.detector.longest + 1
        self._tail = window[-keep:] if keep else ""
        new = [t for t in self.detector.find(window) if t not in self.found]
        self.found.extend(new)
        return new
