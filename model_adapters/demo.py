"""Offline demo models: believable streamed answers with no network and no key.

They exist so that a fresh checkout shows a working arena, and they go through
exactly the streaming path of real models (chunks, pacing, usage, finish
reason). The model id picks a persona (``echo`` answers with the prompt verbatim, for tests of how
answers are shown); ``options`` may set ``delay`` (seconds
between chunks, default 0.03) and, for testing failure handling, ``failure``:
``"before_first"`` (fail before any text) or ``"mid_stream"`` (fail after some).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable, Sequence

from .base import GenerationSettings, Message, ModelAdapter, StreamMeta, count_message_tokens, count_tokens
from .errors import ConfigurationError, ProviderError

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
        prompt = next((m.content for m in reversed(messages) if m.role == "user"), "")
        turn = sum(1 for m in messages if m.role == "user")
        text = persona(prompt, turn)
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
