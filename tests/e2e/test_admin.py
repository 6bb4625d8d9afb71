from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import ADMIN_PASSWORD, Arena

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]


def test_an_admin_registers_an_openai_compatible_model_and_tests_it(page: Page, arena: Arena, openai_server) -> None:
    port = openai_server.server_address[1]
    page.goto("/admin/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/admin/arena/arenamodel/add/")
    page.get_by_label(re.compile(r"^Name:?$")).fill("Local Llama")
    page.get_by_label(re.compile(r"^Organization:?$")).fill("Our lab")
    page.get_by_label(re.compile(r"^Adapter:?$")).select_option("openai")
    page.get_by_label(re.compile(r"^Provider model id:?$")).fill("llama-local")
    page.get_by_label(re.compile(r"^Base URL:?$")).fill(f"http://127.0.0.1:{port}/v1")
    page.get_by_label(re.compile(r"^Generation settings:?$")).fill('{"max_tokens": 64, "temperature": 0.2}')
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.get_by_role("row").filter(has_text="Local Llama")).to_contain_text("Paused")  # a new model waits

    run_action(page, "activate_models")  # not before a passing test
    expect(page.locator(".messagelist li").first).to_contain_text("Local Llama: it has never been tested")

    run_action(page, "test_models")
    message = page.locator(".messagelist li").first
    expect(message).to_contain_text("Local Llama: OK in", timeout=30_000)
    expect(message).to_contain_text("Hello from the local server.")
    request = openai_server.requests[-1]
    assert request["model"] == "llama-local" and request["stream"] is True
    assert request["temperature"] == 0.2

    page.goto("/admin/arena/arenamodel/")
    run_action(page, "activate_models")
    expect(page.locator(".messagelist li").first).to_contain_text("Activated 1 model(s).")
    expect(page.get_by_role("row").filter(has_text="Local Llama")).to_contain_text("Active")


def run_action(page: Page, action: str) -> None:
    """Select the Local Llama row of the model list and run ``action`` on it."""
    page.get_by_role("checkbox", name="Select this object for an action - Local Llama").check()
    page.locator('select[name="action"]').select_option(action)
    page.get_by_role("button", name="Go").click()
