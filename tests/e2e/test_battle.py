from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import Arena

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]


def pane_text(page: Page, side: str) -> str:
    return page.locator(f"#conversation-{side} .msg.model").last.inner_text()


def test_a_voter_plays_a_full_anonymous_battle(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("combobox", name="Model A")).to_be_hidden()  # anonymous: nothing to pick
    page.get_by_label("Prompt").fill("Write some python code to sort a list")
    page.get_by_role("button", name="Send").click()

    # Both answers stream at the same time: each grows while the other is still growing.
    lengths = {"a": [], "b": []}
    for _ in range(40):
        for side in "ab":
            lengths[side].append(len(pane_text(page, side)) if page.locator(f"#conversation-{side} .msg.model").count() else 0)
        if all(lengths[s][-1] > 0 for s in "ab"):
            break
        page.wait_for_timeout(50)
    vote_a = page.get_by_role("button", name="A is better")
    expect(vote_a).to_be_disabled()
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    final = {side: pane_text(page, side) for side in "ab"}
    for side in "ab":
        partial = [n for n in lengths[side] if 0 < n < len(final[side])]
        assert partial, f"side {side} never showed a partial answer: {lengths[side]}"
    assert not any("**" in text or "```" in text for text in final.values())  # Markdown is rendered, not shown raw
    expect(page.locator("#name-a")).to_have_text("")  # still anonymous

    expect(vote_a).to_be_enabled()
    vote_a.click()
    expect(page.locator("#name-a")).to_contain_text("Demo")
    expect(page.locator("#name-b")).to_contain_text("Demo")
    expect(page.locator("#notice")).to_contain_text(re.compile(r"Model A was Demo .+; Model B was Demo .+\."))
    expect(page.get_by_role("button", name="B is better")).to_be_disabled()
    expect(vote_a).to_have_attribute("aria-pressed", "true")

    page.get_by_role("button", name="New round").click()
    expect(page.locator("#conversation-a .msg")).to_have_count(0)
    expect(page.get_by_label("Prompt")).to_be_enabled()
    expect(page.get_by_label("Prompt")).to_be_focused()


def test_answers_are_rendered_as_markdown_with_code_blocks(page: Page) -> None:
    page.goto("/")
    page.get_by_label("Side by side").check()
    page.get_by_role("combobox", name="Model A").select_option("Demo Heron (offline)")
    page.get_by_role("combobox", name="Model B").select_option("Demo Ibis (offline)")
    page.get_by_label("Prompt").fill("Show me python code for sorting")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    answer = page.locator("#conversation-a .msg.model")
    expect(answer.locator("h4")).to_have_text("Show me python code for sorting")
    expect(answer.locator("ol > li")).to_have_count(3)
    expect(answer.locator("strong").first).to_have_text("Define the goal")
    expect(answer.locator("pre > code")).to_contain_text("def solve(items):")
    expect(answer.locator("em")).to_have_count(1)


def test_model_text_is_shown_as_text_never_run_as_html(page: Page) -> None:
    page.goto("/")
    page.get_by_label("Prompt").fill('<img src=x onerror="window.pwned=1"> **bold** `code`')
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    assert page.evaluate("window.pwned") is None
    assert page.locator("#arena img").count() == 0
    expect(page.locator("#conversation-a .msg.user").first).to_contain_text("<img src=x")


def test_follow_ups_continue_both_conversations_by_keyboard_alone(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")  # skip link
    prompt = page.get_by_label("Prompt")
    prompt.focus()
    page.keyboard.type("First question")
    page.keyboard.press("Enter")
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    prompt.focus()
    page.keyboard.type("A follow-up")
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-a .msg.user")).to_have_count(2)
    expect(page.locator("#conversation-b .msg.user")).to_have_count(2)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#prompt-help")).to_contain_text("2 of 6 turns")
    tie = page.get_by_role("button", name="Tie")
    tie.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#name-a")).not_to_be_empty()


def battle_against_a_failing_model(page: Page, arena: Arena, name: str, persona: str, failure: str) -> None:
    """Register a demo model that fails (demo ``failure`` option) and send a prompt to it as Model B."""
    arena.manage("shell", "-c", (
        f"from arena.models import ArenaModel; ArenaModel.objects.update_or_create(name={name!r}, "
        f"defaults=dict(adapter_kind='demo', provider_model={persona!r}, "
        f"options={{'delay': 0.01, 'failure': {failure!r}}}, sampling_weight=0, state='active'))"
    ))
    page.goto("/")
    page.get_by_label("Side by side").check()
    page.get_by_role("combobox", name="Model A").select_option("Demo Pelican (offline)")
    page.get_by_role("combobox", name="Model B").select_option(name)
    page.get_by_label("Prompt").fill("Hello")
    page.get_by_role("button", name="Send").click()


def test_a_failing_model_is_reported_and_the_battle_cannot_be_voted(page: Page, arena: Arena) -> None:
    battle_against_a_failing_model(page, arena, "Demo Broken (offline)", "ibis", "mid_stream")
    expect(page.locator("#notice")).to_have_text("Model B failed to answer. Retry it, or start a new round.",
                                                 timeout=20_000)
    expect(page.get_by_role("button", name="Retry Model B")).to_be_visible()
    expect(page.get_by_role("button", name="Retry Model A")).to_be_hidden()
    expect(page.locator("#name-b")).to_contain_text("Demo Broken")  # side by side: names shown from the start
    for name in ("A is better", "B is better", "Tie", "Both are bad"):
        expect(page.get_by_role("button", name=name)).to_be_disabled()
    expect(page.get_by_label("Prompt")).to_be_disabled()
    page.get_by_role("button", name="New round").click()
    expect(page.get_by_label("Prompt")).to_be_enabled()
    expect(page.locator("#notice")).to_be_hidden()


def test_the_page_fits_a_phone_screen(browser, arena: Arena) -> None:
    context = browser.new_context(base_url=arena.url, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto("/")
    page.get_by_label("Prompt").fill("Hi")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    # Both boxes in one frame and in page coordinates: moving focus to the vote buttons may scroll the window
    # between two separate measurements.
    (a_top, a_height), (b_top, _) = page.evaluate(
        """() => ["pane-a", "pane-b"].map((id) => {
            const box = document.getElementById(id).getBoundingClientRect();
            return [box.top + window.scrollY, box.height];
        })"""
    )
    assert b_top >= a_top + a_height  # stacked, not squeezed side by side
    page.screenshot(path=str(arena.env["ARENA_DATA_DIR"]) + "/phone.png", full_page=True)
    context.close()


def test_a_reload_mid_battle_picks_the_battle_back_up(page: Page) -> None:
    page.goto("/")
    page.get_by_label("Prompt").fill("Tell me a long story about rivers")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#conversation-a .msg.user")).to_have_text("Tell me a long story about rivers")
    page.reload()
    expect(page.locator("#conversation-a .msg.user")).to_have_text("Tell me a long story about rivers")
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    page.get_by_role("button", name="Both are bad").click()
    expect(page.locator("#name-a")).to_contain_text("Demo")
    page.reload()
    expect(page.locator("#name-a")).to_contain_text("Demo")  # a voted battle comes back with its reveal
    expect(page.get_by_role("button", name="Both are bad")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="New round").click()
    page.reload()
    expect(page.locator("#conversation-a .msg")).to_have_count(0)  # until a new round


def test_a_failed_side_can_be_retried_and_the_battle_then_voted(page: Page, arena: Arena) -> None:
    battle_against_a_failing_model(page, arena, "Demo Flaky (offline)", "heron", "before_first")
    retry = page.get_by_role("button", name="Retry Model B")
    expect(retry).to_be_visible(timeout=20_000)
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    answer_a = page.locator("#conversation-a .msg.model").inner_text()
    arena.manage("shell", "-c", (  # the provider recovers
        "from arena.models import ArenaModel; ArenaModel.objects.filter(name='Demo Flaky (offline)')"
        ".update(options={'delay': 0.01})"
    ))
    retry.click()
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    expect(retry).to_be_hidden()
    assert page.locator("#conversation-a .msg.model").inner_text() == answer_a  # A's answer was kept
    page.get_by_role("button", name="Tie").click()
    expect(page.locator("#notice")).to_contain_text("Model B was Demo Flaky (offline)")


def test_a_voter_is_told_before_voting_that_an_answer_naming_a_model_will_not_count(page: Page, arena: Arena) -> None:
    set_alias = ("from arena.models import ArenaModel; "
                 "ArenaModel.objects.filter(name='Demo Pelican (offline)').update(aliases={!r})")
    arena.manage("shell", "-c", set_alias.format("Pelican"))
    try:
        page.goto("/")
        # Every demo persona repeats the start of the prompt, so both answers name the alias.
        page.get_by_label("Prompt").fill("Is Pelican a good name for a bird?")
        page.get_by_role("button", name="Send").click()
        notice = page.locator("#vote-notice")
        expect(notice).to_have_text("This vote will be recorded but not counted toward the leaderboard: an answer "
                                    "named a model, so the battle is no longer blind.", timeout=20_000)
        vote_a = page.get_by_role("button", name="A is better")
        expect(vote_a).to_be_enabled(timeout=20_000)
        expect(notice).to_be_visible()  # still there when the vote is possible
        vote_a.click()
        expect(page.locator("#notice")).to_contain_text("This vote does not count toward the leaderboard: an answer "
                                                        "named a model")
        expect(notice).to_be_hidden()
    finally:
        arena.manage("shell", "-c", set_alias.format(""))
