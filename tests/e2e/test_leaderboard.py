"""The leaderboard page in Debian's Chromium, against the embedded arena seeded with real votes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from .conftest import Arena

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]
# 150 votes: enough for the style-controlled view with this threshold (default 500); 60 votes a model, all ranked.
ARENA_ENV = {"ARENA_STYLE_MIN_VOTES": "100"}

HOSTILE = "<b>Bold</b> & Co"
# 150 votes among five models of known strength; one is deprecated, one has a name full of markup.
# Only one prompt in ten has code: too few for the "Prompts with code" category to be shown.
SEED_VOTES = f"""
import random
from tests.factories import battle_voted, model
rng = random.Random(3)
models = [model("Alpha", organization="Alpha Org", license="MIT"), model("Beta"), model("Gamma"),
          model("Old Timer", state="deprecated"), model({HOSTILE!r})]
strength = [3.0, 2.0, 1.0, 2.5, 0.0]
for i in range(150):
    a, b = rng.sample(range(5), 2)
    p = 1 / (1 + 10 ** ((strength[b] - strength[a]) / 2))
    battle_voted(models[a], models[b], "a" if rng.random() < p else "b", ip_hash=f"ip-{{i % 30}}", has_code=i % 10 == 0)
"""


@pytest.fixture(scope="module")
def seeded(arena: Arena) -> Iterator[Arena]:
    arena.manage("shell", "-c", SEED_VOTES)
    arena.manage("leaderboard_refresh", "--rounds", "50", "--no-progress")
    yield arena


def column(page: Page, index: int) -> list[str]:
    return page.locator(f"#board tbody tr:visible > :nth-child({index})").all_inner_texts()


def test_before_any_vote_the_leaderboard_says_no_votes_yet(page: Page) -> None:
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Leaderboard").click()
    expect(page.get_by_role("heading", name="No votes yet")).to_be_visible()
    expect(page.get_by_text("The leaderboard appears once people have voted")).to_be_visible()
    expect(page.get_by_role("link", name="Leaderboard")).to_have_attribute("aria-current", "page")


def test_a_visitor_reads_the_ranking_with_intervals_metadata_and_charts(page: Page, seeded: Arena) -> None:
    page.goto("/leaderboard")
    names = [n.split("\n")[0].strip() for n in column(page, 2)]
    assert [n.removesuffix(" provisional").strip() for n in names] == ["Alpha", "Beta", "Gamma", HOSTILE]
    alpha = page.get_by_role("row").filter(has_text="Alpha")
    expect(alpha).to_contain_text("Alpha Org · MIT")
    expect(alpha).to_contain_text("provisional")
    expect(alpha.get_by_role("link", name="Alpha")).to_have_attribute("href", "https://example.org/alpha")
    assert re.fullmatch(r"\d{3,4}–\d{3,4}", page.locator("#board tbody tr:visible td.interval .num").first.inner_text())

    expect(page.get_by_role("img", name=re.compile(r"^Ratings with 95% intervals"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"^Win rate"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"^Battle count"))).to_be_visible()
    page.get_by_text("Battle count — Overall, top 4 models by rating, as a table").click()
    counts = page.get_by_role("table", name=re.compile(r"^Battle count"))
    expect(counts).to_be_visible()
    expect(counts.get_by_role("rowheader", name=HOSTILE, exact=True)).to_be_visible()

    expect(page.get_by_text("150 votes counted in this view")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Bradley–Terry .*95% intervals from 50 bootstrap rounds"))).to_be_visible()


def test_column_headers_sort_the_table_in_place(page: Page, seeded: Arena) -> None:
    page.goto("/leaderboard")
    votes = page.get_by_role("columnheader", name="Votes")
    votes.get_by_role("button", name="Votes").click()
    expect(votes).to_have_attribute("aria-sort", "descending")
    descending = [int(v) for v in column(page, 5)]
    assert descending == sorted(descending, reverse=True)
    votes.get_by_role("button", name="Votes").click()
    expect(votes).to_have_attribute("aria-sort", "ascending")
    assert [int(v) for v in column(page, 5)] == sorted(descending)
    expect(page.get_by_role("columnheader", name="Rank (UB)")).not_to_have_attribute("aria-sort", re.compile(".*"))
    assert page.url.endswith("/leaderboard")  # sorted in place, no reload


def test_deprecated_models_appear_when_the_toggle_is_checked_and_keep_their_rank(page: Page, seeded: Arena) -> None:
    page.goto("/leaderboard")
    retired = page.get_by_role("row").filter(has_text="Old Timer")
    expect(retired).to_be_hidden()
    expect(page.get_by_role("button", name="Apply")).to_be_hidden()
    page.get_by_label("Show deprecated models").check()
    expect(retired).to_be_visible()
    expect(retired).to_contain_text("deprecated")
    assert int(retired.locator("td").first.inner_text()) <= 2  # the second strongest model: its score stands
    assert page.url.endswith("?deprecated=1")


def test_views_are_tabs_with_their_vote_counts_and_a_small_category_is_not_offered(page: Page, seeded: Arena) -> None:
    page.goto("/leaderboard")
    views = page.get_by_role("navigation", name="Leaderboard views")
    expect(views.get_by_role("link")).to_have_count(2)
    expect(views.get_by_role("link", name="Overall")).to_contain_text("150 votes")
    views.get_by_role("link", name="Style-controlled").click()
    expect(page.get_by_role("navigation", name="Leaderboard views").get_by_role("link", name="Style-controlled")
           ).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("table", name=re.compile(r"^Style coefficients"))).to_be_visible()
    missing = httpx.get(seeded.url + "/leaderboard?view=code")  # over HTTP: the browser logs every 404 as an error
    assert missing.status_code == 404 and "No leaderboard view “code”" in missing.text


def test_without_javascript_the_table_still_sorts_and_shows_deprecated_models(browser: Any, seeded: Arena) -> None:
    context = browser.new_context(base_url=seeded.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/leaderboard")
        page.get_by_role("link", name="Votes", exact=True).click()
        expect(page.get_by_role("columnheader", name="Votes")).to_have_attribute("aria-sort", "descending")
        votes = [int(v) for v in column(page, 5)]
        assert votes == sorted(votes, reverse=True)
        page.get_by_label("Show deprecated models").check()
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_role("row").filter(has_text="Old Timer")).to_be_visible()
    finally:
        context.close()


def test_a_snapshot_keeps_a_stable_address(page: Page, seeded: Arena) -> None:
    page.goto("/leaderboard")
    page.get_by_role("link", name="Stable link to this snapshot").click()
    assert re.search(r"/leaderboard/snapshots/\d+$", page.url)
    expect(page.get_by_role("rowheader").first).to_contain_text("Alpha")
    assert httpx.get(seeded.url + "/leaderboard/snapshots/987654").status_code == 404
