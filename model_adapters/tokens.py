"""Token estimates for providers that report no usage.

Providers that report usage are always believed; this estimate only fills the
gap (and :attr:`StreamResult.tokens_counted` says so). It aims to be within a
few tens of per cent of a BPE tokenizer on prose, code and CJK text, not exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .conversation import Message

# One CJK/kana/hangul character, or a run of other word characters, or one punctuation mark.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]", re.UNICODE)
_CHARS_PER_WORD_TOKEN = 6  # long words split into several BPE tokens
MESSAGE_OVERHEAD = 3  # role and separators that chat templates add per message


def count_tokens(text: str) -> int:
    """Estimate how many tokens ``text`` takes: words (long ones count more), CJK characters, punctuation."""
    total = 0
    for match in _TOKEN_RE.finditer(text):
        piece = match.group()
        total += 1 + (len(piece) - 1) // _CHARS_PER_WORD_TOKEN if piece[0].isalnum() or piece[0] == "_" else 1
    return total


def count_message_tokens(messages: Iterable[Message]) -> int:
    """Estimate the prompt tokens of a conversation, counting a small overhead per message."""
    return sum(count_tokens(m.content) + MESSAGE_OVERHEAD for m in messages)
