"""Reading a yes/no value written as text: the one parser for files, query strings and the environment."""

from __future__ import annotations

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def parse_bool(value: object) -> bool | None:
    """``True`` or ``False`` for a boolean or one of the words above (any case, spaces ignored); else ``None``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    return None
