import pytest

from arena.prompts import prompt_has_code, prompt_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("What is the capital of France and why is it there?", "en"),
        ("¿Cuál es la capital de Francia y por qué?", "es"),
        ("Quelle est la capitale de la France et pourquoi est-elle là ?", "fr"),
        ("Was ist die Hauptstadt von Deutschland und wie groß ist sie?", "de"),
        ("Как дела? Расскажи про реки.", "ru"),
        ("请解释一下递归。", "zh"),
        ("再帰について説明してください。", "ja"),
        ("재귀에 대해 설명해 주세요", "ko"),
        ("12345 !!!", "und"),
    ],
)
def test_it_recognises_the_language_of_a_prompt(text: str, language: str) -> None:
    assert prompt_language(text) == language


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Why does this fail?\n```python\nprint(x)\n```", True),
        ("def add(a, b):\n    return a + b", True),
        ("SELECT name FROM users WHERE id = 1", True),
        ("Write a haiku about autumn leaves.", False),
        ("What is the best way to learn French?", False),
    ],
)
def test_it_recognises_prompts_that_contain_code(text: str, code: bool) -> None:
    assert prompt_has_code(text) is code


def test_duplicated_prompts_are_recognised_whatever_their_case_spacing_and_final_punctuation() -> None:
    from arena.prompts import prompt_fingerprint, prompt_normal

    assert prompt_normal("  Hello,   WORLD!! ") == "hello, world"
    assert prompt_fingerprint("Hello world!") == prompt_fingerprint("hello   world") == prompt_fingerprint("HELLO WORLD.")
    assert prompt_fingerprint("Ｈｅｌｌｏ world") == prompt_fingerprint("hello world")  # full-width letters (NFKC)
    assert prompt_fingerprint("hello world?") == prompt_fingerprint("hello world")
    assert prompt_fingerprint("hello, world") != prompt_fingerprint("hello world")
    assert len(prompt_fingerprint("x")) == 32 and prompt_fingerprint(" !? ") == ""
