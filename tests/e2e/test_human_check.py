"""The proof-of-work human check in a real browser: the page solves it before the vote, the server checks it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]
ARENA_ENV = {"ARENA_HUMAN_CHECK": "pow", "ARENA_POW_BITS": "12"}


def test_a_vote_passes_the_proof_of_work_check_the_page_solves(page: Page) -> None:
    challenges: list[str] = []
    page.on("request", lambda request: challenges.append(request.url) if "/api/human-check" in request.url else None)
    page.goto("/")
    expect(page.locator("#human-check-status")).to_contain_text("check that you are not a bot")
    page.get_by_label("Prompt").fill("Say something nice about rivers")
    page.get_by_role("button", name="Send").click()
    vote_b = page.get_by_role("button", name="B is better")
    expect(vote_b).to_be_enabled(timeout=20_000)
    with page.expect_response(re.compile(r"/api/battles/.+/vote$")) as answer:
        vote_b.click()
    assert answer.value.status == 201
    body = answer.value.request.post_data_json
    assert set(body["human_check"]) == {"token", "nonce"}
    assert len(challenges) == 1
    expect(page.locator("#notice")).to_contain_text(re.compile(r"Model A was Demo .+; Model B was Demo .+\."))
