"""The battle page as a voter expects it (issue 12): scrolling, the prompt's limit, focus, per-side progress, the
reveal after a reload, vote shortcuts and the notice of a vote that would come too fast to count."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import Arena

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]

# Long enough to watch the countdown; the server's too_fast rule uses the same figure.
ARENA_ENV = {"ARENA_MIN_VOTE_SECONDS": "4", "ARENA_MAX_PROMPT_CHARS": "4000"}
LONG = "\n\n".join(f"Paragraph {i}: a line of the long answer that streams slowly." for i in range(1, 61))


def add_demo(arena: Arena, name: str, persona: str, delay: float) -> None:
    arena.manage("shell", "-c", (
        "from arena.models import ArenaModel; ArenaModel.objects.update_or_create("
        f"name={name!r}, defaults=dict(adapter_kind='demo', provider_model={persona!r}, "
        f"options={{'delay': {delay}}}, sampling_weight=0, state='active'))"))


def side_by_side(page: Page, a: str, b: str, prompt: str) -> None:
    page.goto("/")
    page.get_by_label("Side by side").check()
    page.get_by_role("combobox", name="Model A").select_option(a)
    page.get_by_role("combobox", name="Model B").select_option(b)
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_role("button", name="Send").click()


def distance_from_bottom(page: Page, side: str) -> float:
    return page.eval_on_selector(f"#conversation-{side}", "b => b.scrollHeight - b.scrollTop - b.clientHeight")


def test_a_reader_scrolled_up_stays_put_while_the_other_pane_follows_the_stream(page: Page, arena: Arena) -> None:
    add_demo(arena, "Echo Slow", "echo", 0.03)
    add_demo(arena, "Echo Slow Too", "echo", 0.03)
    page.set_viewport_size({"width": 1200, "height": 700})
    side_by_side(page, "Echo Slow", "Echo Slow Too", LONG)
    expect(page.locator("#conversation-a .msg.model")).to_contain_text("Paragraph 20", timeout=20_000)
    page.eval_on_selector("#conversation-a", "b => { b.scrollTop = 0; }")  # back to the start of the answer
    expect(page.locator("#conversation-a .msg.model")).to_contain_text("Paragraph 40", timeout=20_000)
    assert page.eval_on_selector("#conversation-a", "b => b.scrollTop") == 0  # not pulled down by new chunks
    assert distance_from_bottom(page, "b") <= 24  # B's reader never scrolled: B follows the stream
    page.eval_on_selector("#conversation-a", "b => { b.scrollTop = b.scrollHeight; }")  # back at the bottom: follow
    expect(page.locator("#status-a")).to_have_text("Done", timeout=30_000)
    assert distance_from_bottom(page, "a") <= 24


def test_a_prompt_over_the_limit_is_kept_whole_counted_and_not_sent(page: Page) -> None:
    page.goto("/")
    prompt = page.get_by_label("Prompt")
    count = page.locator("#prompt-count")
    expect(count).to_have_text("0 / 4000")
    prompt.fill("x" * 4005)  # as a paste would: nothing cut silently
    assert len(prompt.input_value()) == 4005
    expect(count).to_have_text("4005 / 4000 characters: 5 too many, shorten the prompt to send it.")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    prompt.press("End")
    for _ in range(5):
        prompt.press("Backspace")
    expect(count).to_have_text("4000 / 4000")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_progress_is_told_per_side_and_the_prompt_box_gets_the_focus_back(page: Page, arena: Arena) -> None:
    add_demo(arena, "Echo Fast", "echo", 0.0)
    add_demo(arena, "Echo Slow", "echo", 0.03)
    side_by_side(page, "Echo Fast", "Echo Slow", LONG)
    expect(page.locator("#prompt-help")).to_have_text("Model A has finished; Model B is still answering…",
                                                      timeout=20_000)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=30_000)
    expect(page.get_by_label("Prompt")).to_be_focused()


def test_the_vote_keys_work_outside_the_prompt_box_and_the_reveal_survives_a_reload(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#vote-keys")).to_contain_text("1 A is better")
    prompt = page.get_by_label("Prompt")
    prompt.fill("Hello there")
    prompt.press("Enter")
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    expect(prompt).to_be_focused()
    prompt.press("2")  # typing: a character in the box, not a vote
    expect(prompt).to_have_value("2")
    expect(page.locator("#name-a")).to_have_text("")
    prompt.fill("")
    prompt.evaluate("box => box.blur()")  # focus leaves the box
    page.keyboard.press("2")
    expect(page.get_by_role("button", name="B is better")).to_have_attribute("aria-pressed", "true")
    reveal = re.compile(r"Model A was .+; Model B was .+\.")
    expect(page.locator("#notice")).to_contain_text(reveal)
    page.reload()
    expect(page.locator("#notice")).to_contain_text(reveal)
    expect(page.locator("#name-a")).not_to_be_empty()
    expect(page.get_by_role("button", name="B is better")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="New round").click()
    page.reload()
    expect(page.locator("#notice")).to_be_hidden()
    expect(page.locator("#name-a")).to_have_text("")


def test_the_voter_is_told_before_and_after_that_a_vote_too_fast_does_not_count(page: Page) -> None:
    page.goto("/")
    page.get_by_label("Prompt").fill("Tell me about rivers")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    notice = page.locator("#vote-notice")
    expect(notice).to_contain_text(re.compile(r"a vote in the next [1-4] s will be recorded but not counted"))
    page.get_by_role("button", name="Tie").click()
    expect(page.locator("#notice")).to_contain_text("less than 4 s after the answers finished, so it does not count")
    page.reload()
    expect(page.locator("#notice")).to_contain_text("so it does not count")

    page.get_by_role("button", name="New round").click()
    page.get_by_label("Prompt").fill("Tell me about lakes")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    expect(notice).to_be_visible()
    expect(notice).to_be_hidden(timeout=8_000)  # the countdown ends: now a vote counts
    page.get_by_role("button", name="Tie").click()
    expect(page.locator("#notice")).to_contain_text(re.compile(r"Model B was .+\.$"))
    expect(page.locator("#notice")).not_to_contain_text("does not count")


def test_stop_ends_both_answers_where_they_are_and_the_vote_will_not_count(page: Page, arena: Arena) -> None:
    add_demo(arena, "Echo Slow", "echo", 0.03)
    add_demo(arena, "Echo Slow Too", "echo", 0.03)
    side_by_side(page, "Echo Slow", "Echo Slow Too", LONG)
    stop = page.get_by_role("button", name="Stop")
    expect(page.locator("#conversation-a .msg.model")).to_contain_text("Paragraph 3", timeout=20_000)
    stop.click()
    expect(page.locator("#status-a")).to_have_text("Done", timeout=10_000)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=10_000)
    expect(stop).to_be_hidden()
    for side in "ab":
        assert "Paragraph 60" not in page.locator(f"#conversation-{side} .msg.model").inner_text()
    expect(page.get_by_role("button", name="A is better")).to_be_enabled()


def test_a_side_is_regenerated_before_the_vote(page: Page, arena: Arena) -> None:
    add_demo(arena, "Echo Fast", "echo", 0.0)
    add_demo(arena, "Echo Fast Too", "echo", 0.0)
    side_by_side(page, "Echo Fast", "Echo Fast Too", "Say this back")
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    regenerate = page.get_by_role("button", name="Regenerate Model B")
    expect(regenerate).to_be_visible()
    regenerate.click()
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#conversation-b .msg.model")).to_have_text("Say this back")
    page.get_by_role("button", name="B is better").click()
    expect(page.locator("#notice")).to_contain_text("Model A was Echo Fast; Model B was Echo Fast Too.")
    expect(regenerate).to_be_hidden()


def test_a_finished_answer_can_be_copied_whole_and_right_to_left_text_reads_right_to_left(browser, arena: Arena
                                                                                           ) -> None:
    add_demo(arena, "Echo Fast", "echo", 0.0)
    add_demo(arena, "Echo Fast Too", "echo", 0.0)
    context = browser.new_context(base_url=arena.url, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        hebrew = "שלום עולם, **מה שלומך**?"
        side_by_side(page, "Echo Fast", "Echo Fast Too", hebrew)
        expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
        expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)  # no re-render after the click
        answer = page.locator("#conversation-a .msg.model").last
        assert answer.evaluate("node => getComputedStyle(node).direction") == "rtl"
        assert page.locator("#conversation-a .msg.user").last.evaluate("node => getComputedStyle(node).direction") == "rtl"
        page.locator("#conversation-a").get_by_role("button", name="Copy answer").click()
        expect(page.locator("#conversation-a").get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == hebrew  # the Markdown source, whole
    finally:
        context.close()
