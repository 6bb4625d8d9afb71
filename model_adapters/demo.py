"""Offline demo models: believable streamed answers with no network and no key.

They exist so that a fresh checkout shows a working arena, and they go through
exactly the streaming path of real models (chunks, pacing, usage, finish
reason). The model id picks a persona (``echo`` answers with the prompt verbatim, for tests of how
answers are shown); ``options`` may set ``delay`` (seconds
between chunks, default 0.03) and, for testing failure handling, ``failure``:
``"before_first"`` (fail before any text) or ``"mid_stream"`` (fail after some).

They take images. When the latest user message has some, every persona (``echo``
too) starts its answer with one sentence per image, then a blank line and its
usual answer::

    Image 1 is 64×48 pixels, mostly red (#ff0000) and blue (#0000ff).

(the sign is U+00D7). The colours are the image's dominant ones, at most three,
most pixels first: each pixel is given the nearest name (by RGB distance) of
:data:`PALETTE`, and a name is listed when at least :data:`MIN_SHARE` of the
pixels have it (the first always is), followed by the average colour of those
pixels as lower-case hex. One colour reads ``mostly red (#ff0000)``, three
``mostly red (#ff0000), blue (#0000ff) and white (#ffffff)``. Images over
:data:`SAMPLE_SIDE` pixels a side are sampled (nearest neighbour, so no colour
is blended) before counting. Deterministic: the same image, the same sentence.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

from .base import GenerationSettings, Image, Message, ModelAdapter, StreamMeta, count_message_tokens, count_tokens
from .errors import ConfigurationError, ProviderError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

_CODE_WORDS = re.compile(r"\b(code|python|function|script|program|bug|javascript|sql|regex)\b", re.I)


def _topic(prompt: str) -> str:
    words = re.findall(r"[\w'-]+", prompt)
    topic = " ".join(words[:8]) or "your question"
    return topic if len(words) <= 8 else topic + "…"


def _pelican(prompt: str, turn: int) -> str:
    topic = _topic(prompt)
    if turn > 1:
        return (
            f"Following up on \"{topic}\": the short version is that the earlier point still holds, "
            "with one caveat — check the edge cases before relying on it."
        )
    return (
        f"Short answer on \"{topic}\": start from the simplest explanation that fits the facts, "
        "test it against one concrete example, and only then generalise. "
        "If you tell me more about the context, I can be more specific."
    )


def _heron(prompt: str, turn: int) -> str:
    topic = _topic(prompt)
    parts = [f"## {topic[:1].upper() + topic[1:]}\n", "Here is a structured take:\n",
             "1. **Define the goal** — what would a good outcome look like?",
             "2. **List the constraints** — time, budget, and what cannot change.",
             "3. **Compare options** — weigh each against the goal, not against each other.\n"]
    if _CODE_WORDS.search(prompt):
        parts += ["A minimal example:\n", "```python", "def solve(items):",
                  "    \"\"\"Return the items sorted, without duplicates.\"\"\"",
                  "    return sorted(set(items))", "```\n"]
    parts.append("- *Tip:* write the answer down in one sentence before expanding it." if turn == 1
                 else "- *Follow-up:* this builds on the previous answer; the steps are unchanged.")
    return "\n".join(parts)


def _ibis(prompt: str, turn: int) -> str:
    topic = _topic(prompt)
    opener = "Great question!" if turn == 1 else "Happy to expand on that."
    return (
        f"{opener} When people ask about \"{topic}\", they usually want two things: a clear "
        "explanation and something practical to do next.\n\n"
        "On the explanation side, it helps to separate what is well established from what is still "
        "debated. The established part is usually smaller than it looks, but it is solid ground to "
        "stand on.\n\n"
        "On the practical side, pick one small step you can take today. Small steps compound, and "
        "they tell you quickly whether you are heading in the right direction.\n\n"
        "I hope this helps — feel free to ask a follow-up!"
    )


def _echo(prompt: str, turn: int) -> str:
    """The prompt itself, verbatim: for testing how answers are shown (Markdown, long answers, hostile text)."""
    return prompt


PERSONAS: dict[str, Callable[[str, int], str]] = {"pelican": _pelican, "heron": _heron, "ibis": _ibis, "echo": _echo}


#: The colour names an image description uses, with the RGB values each is matched against (grey has three, so
#: that light and dark greys are not taken for pink or black).
PALETTE: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("black", (0, 0, 0)),
    ("white", (255, 255, 255)),
    ("grey", (128, 128, 128)),
    ("grey", (192, 192, 192)),
    ("grey", (64, 64, 64)),
    ("red", (255, 0, 0)),
    ("orange", (255, 165, 0)),
    ("yellow", (255, 255, 0)),
    ("green", (0, 128, 0)),
    ("cyan", (0, 255, 255)),
    ("blue", (0, 0, 255)),
    ("purple", (128, 0, 128)),
    ("pink", (255, 192, 203)),
    ("brown", (139, 69, 19)),
)
COLOUR_NAMES: tuple[str, ...] = tuple(dict.fromkeys(name for name, _ in PALETTE))  # ties in count go in this order
MIN_SHARE = 0.05  # of the pixels, for a colour after the first to be named
MAX_COLOURS = 3
SAMPLE_SIDE = 256  # larger images are sampled down to this many pixels a side before counting


def dominant_colours(picture: PILImage) -> list[tuple[str, str]]:
    """``(palette name, average hex)`` of a picture's dominant colours, most pixels first (at most three)."""
    import numpy as np
    import PIL.Image

    picture = picture.convert("RGB")
    if picture.width > SAMPLE_SIDE or picture.height > SAMPLE_SIDE:
        picture.thumbnail((SAMPLE_SIDE, SAMPLE_SIDE), PIL.Image.Resampling.NEAREST)
    pixels = np.asarray(picture, dtype=np.int32).reshape(-1, 3)
    anchors = np.array([rgb for _, rgb in PALETTE], dtype=np.int32)
    # the nearest anchor of each pixel by squared RGB distance; argmin gives a tie to the earlier anchor
    nearest = ((pixels[:, None, :] - anchors[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    names = np.array([COLOUR_NAMES.index(name) for name, _ in PALETTE])[nearest]
    counts = np.bincount(names, minlength=len(COLOUR_NAMES))
    sums = np.stack([np.bincount(names, weights=pixels[:, c], minlength=len(COLOUR_NAMES)) for c in range(3)], 1)
    ranked = sorted((i for i in range(len(COLOUR_NAMES)) if counts[i]), key=lambda i: (-counts[i], i))
    total = int(counts.sum())
    named = [i for rank, i in enumerate(ranked[:MAX_COLOURS]) if rank == 0 or counts[i] >= MIN_SHARE * total]
    result = []
    for i in named:
        count = int(counts[i])
        average = ((round(float(sums[i, c])) + count // 2) // count for c in range(3))
        result.append((COLOUR_NAMES[i], "#" + "".join(f"{value:02x}" for value in average)))
    return result


def describe_image(image: Image, number: int) -> str:
    """``Image 1 is 64×48 pixels, mostly red (#ff0000) and blue (#0000ff).`` (its decoded size and colours)."""
    picture = image.decoded()
    named = [f"{name} ({hex_})" for name, hex_ in dominant_colours(picture)]
    colours = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return f"Image {number} is {picture.width}\u00d7{picture.height} pixels, mostly {colours}."


def describe_images(images: Sequence[Image]) -> str:
    """One sentence per image, in order, separated by spaces; empty for no images."""
    return " ".join(describe_image(image, number) for number, image in enumerate(images, start=1))


def _chunks(text: str, seed: int) -> list[str]:
    """Split text into 1–3-word pieces the way a tokenizer-driven stream arrives."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    out: list[str] = []
    i = 0
    while i < len(pieces):
        step = 1 + (seed + i) % 3
        out.append("".join(pieces[i : i + step]))
        i += step
    return out


class DemoAdapter(ModelAdapter):
    """A built-in persona that answers any prompt offline."""

    kind = "demo"
    label = "Offline demo model"
    requires_key = False
    supports_images = True

    async def _generate(
        self, messages: Sequence[Message], settings: GenerationSettings, meta: StreamMeta
    ) -> AsyncIterator[str]:
        persona = PERSONAS.get(self.config.model)
        if persona is None:
            raise ConfigurationError(f"unknown demo persona {self.config.model!r}; choose one of {', '.join(PERSONAS)}")
        options = self.config.options
        delay = float(options.get("delay", 0.03))
        failure = options.get("failure", "")
        if failure == "before_first":
            raise ProviderError("demo model configured to fail before answering", retryable=False)
        latest = next((m for m in reversed(messages) if m.role == "user"), None)
        prompt = latest.content if latest else ""
        turn = sum(1 for m in messages if m.role == "user")
        text = persona(prompt, turn)
        if latest is not None and latest.images:
            description = await asyncio.to_thread(describe_images, latest.images)  # decoding: off the event loop
            text = f"{description}\n\n{text}" if text else description
        seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
        pieces = _chunks(text, seed)
        meta.input_tokens = count_message_tokens(messages)
        emitted = ""
        for index, piece in enumerate(pieces):
            if failure == "mid_stream" and index == len(pieces) // 2:
                raise ProviderError("demo model configured to fail mid-stream", retryable=False)
            if count_tokens(emitted + piece) > settings.max_tokens:
                meta.finish_reason = "length"
                break
            stop_at = min((i for s in settings.stop if (i := (emitted + piece).find(s)) >= 0), default=-1)
            if stop_at >= 0:
                piece = (emitted + piece)[len(emitted) : stop_at]
                if piece:
                    emitted += piece
                    yield piece
                break
            if delay:
                await self.sleep(delay)
            emitted += piece
            yield piece
        meta.output_tokens = count_tokens(emitted)
        if meta.finish_reason is None:
            meta.finish_reason = "stop"
