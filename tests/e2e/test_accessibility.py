"""axe-core (vendored in static/vendor/axe-core, injected here) on our own pages: the battle page with a rich
Markdown answer, on a desktop and a 390×844 phone screen, in light and dark, and the leaderboard. No serious or
critical finding."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import ROOT, Arena

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]

AXE = ROOT / "static" / "vendor" / "axe-core" / "axe.min.js"
RICH = """## A table, a list, code and math

| Model | Score |
|---|---:|
| `alpha` | **1** |
| beta | 2 |

- one
  - nested, with [a link](https://example.org/a_(b))

```python
def f(x):
    return x * 2
```

Inline $e^{i\\pi} + 1 = 0$ and display:

$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$
"""
SEED = """
import random
from tests.factories import battle_voted, model
rng = random.Random(4)
models = [model(f"Model {c}") for c in "ABCD"]
for i in range(120):
    a, b = rng.sample(range(4), 2)
    battle_voted(models[a], models[b], "a" if rng.random() < 0.6 else "b", ip_hash=f"ip-{i % 30}")
"""


@pytest.fixture(scope="module")
def seeded(arena: Arena) -> Iterator[Arena]:
    arena.manage("shell", "-c", (
        "from arena.models import ArenaModel\n"
        "for name in ('Echo One', 'Echo Two'):\n"
        "    ArenaModel.objects.update_or_create(name=name, defaults=dict(adapter_kind='demo', provider_model='echo',"
        " options={'delay': 0}, sampling_weight=0, state='active'))\n"))
    arena.manage("shell", "-c", SEED)
    arena.manage("leaderboard_refresh", "--rounds", "20", "--no-progress")
    yield arena


def serious(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page, with the offending elements."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def battle_with_rich_answer(page: Page) -> None:
    page.goto("/")
    page.get_by_label("Side by side").check()
    page.get_by_role("combobox", name="Model A").select_option("Echo One")
    page.get_by_role("combobox", name="Model B").select_option("Echo Two")
    page.get_by_label("Prompt").fill(RICH)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#conversation-a table")).to_be_visible()
    expect(page.locator("#conversation-a math").first).to_be_attached()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_the_battle_page_with_a_rich_answer_has_no_serious_findings(browser: Any, seeded: Arena, scheme: str,
                                                                   viewport: dict[str, int]) -> None:
    # The page's CSP refuses injected scripts; axe is the test's, not the page's.
    context = browser.new_context(base_url=seeded.url, viewport=viewport, color_scheme=scheme, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto("/")
        assert serious(page) == []  # before any battle
        battle_with_rich_answer(page)
        assert serious(page) == []
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_leaderboard_has_no_serious_findings(browser: Any, seeded: Arena, scheme: str) -> None:
    context = browser.new_context(base_url=seeded.url, color_scheme=scheme, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto("/leaderboard")
        expect(page.locator("#board tbody tr").first).to_be_visible()
        assert serious(page) == []
    finally:
        context.close()


def test_the_check_finds_a_violation_when_there_is_one(browser: Any, seeded: Arena) -> None:
    context = browser.new_context(base_url=seeded.url, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto("/")
        page.evaluate("document.querySelector('main').append(document.createElement('button'))")  # no name
        assert "button-name" in {v["id"] for v in serious(page)}
    finally:
        context.close()
