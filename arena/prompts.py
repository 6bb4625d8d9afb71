"""Facts about a battle's first prompt that leaderboard categories are computed from."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

_CODE = re.compile(
    r"```|^\s{4,}\S|\b(def|class|import|return|function|const|let|var|public|static|void|#include|SELECT|FROM|WHERE)\b"
    r"|[{};]\s*$|=>|\w+\([^)]*\)\s*[{:]",
    re.MULTILINE,
)

_SCRIPTS = (
    ("CJK UNIFIED", "zh"), ("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("HANGUL", "ko"), ("CYRILLIC", "ru"),
    ("ARABIC", "ar"), ("HEBREW", "he"), ("DEVANAGARI", "hi"), ("THAI", "th"), ("GREEK", "el"),
)

_STOPWORDS = {
    "en": frozenset("the and is are of to in what how why you i it this that for with can please".split()),
    "es": frozenset("el la los las es son de que y en por para cómo qué una un con".split()),
    "fr": frozenset("le la les est sont de que et en pour comment une un avec je vous".split()),
    "de": frozenset("der die das ist sind und nicht zu ein eine wie was ich sie mit für".split()),
    "pt": frozenset("o a os as é são de que e em para como uma um com não você".split()),
    "it": frozenset("il lo la gli le è sono di che e in per come una un con non".split()),
    "nl": frozenset("de het een is zijn en van dat niet hoe wat ik je met voor".split()),
}


def prompt_has_code(text: str) -> bool:
    return bool(_CODE.search(text))


def prompt_language(text: str) -> str:
    """A best-effort ISO 639-1 code for the prompt's language, or "und" when it cannot tell."""
    scripts: Counter[str] = Counter()
    for char in text:
        if char.isalpha():
            name = unicodedata.name(char, "")
            scripts[next((code for prefix, code in _SCRIPTS if prefix in name), "latin")] += 1
    if not scripts:
        return "und"
    script, _ = scripts.most_common(1)[0]
    if scripts["ja"] and script == "zh":
        return "ja"  # Japanese mixes kanji with kana
    if script != "latin":
        return script
    words = re.findall(r"[^\W\d_]+", text.lower())
    scores = {lang: sum(word in stop for word in words) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] > 0 else "und"


_SPACE = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s.!?。！？…]+$")


def prompt_normal(prompt: str) -> str:
    """The prompt as duplicates are compared: Unicode-normalised (NFKC), case-folded, runs of white space as one
    space, without trailing white space or sentence punctuation ("Hello!" and "  hello " are one prompt)."""
    text = unicodedata.normalize("NFKC", prompt).casefold()
    return _TRAILING.sub("", _SPACE.sub(" ", text).strip())


def prompt_fingerprint(prompt: str, image_hashes: Sequence[str] = ()) -> str:
    """32 hex digits of SHA-256 of :func:`prompt_normal`; "" for a prompt that is empty once normalised.

    A prompt with images is the same prompt only with the same images in the same order: their SHA-256s are part
    of it (a text prompt's fingerprint is unchanged).
    """
    normal = prompt_normal(prompt)
    if not normal:
        return ""
    text = normal if not image_hashes else normal + "\x00" + "\x00".join(image_hashes)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
