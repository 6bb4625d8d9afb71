"""The admin login resists guessing (django-axes): a few wrong passwords lock that username out for that address."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-admin-password-for-tests"


def attempt(client: Client, password: str) -> int:
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": password})
    return response.status_code


@pytest.fixture
def admin_user() -> User:
    return User.objects.create_superuser("admin", "", PASSWORD)


def test_guessing_the_admin_password_is_locked_out_after_a_few_tries(admin_user) -> None:
    guesser = Client(REMOTE_ADDR="198.51.100.23")
    wrong = [attempt(guesser, f"guess-{i}") for i in range(settings.AXES_FAILURE_LIMIT)]
    assert wrong[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)  # the form again, with an error
    assert wrong[-1] == 429
    assert attempt(guesser, PASSWORD) == 429  # even the right password, until the cool-off ends
    assert [attempt(guesser, f"more-{i}") for i in range(25)] == [429] * 25


def test_the_lockout_is_for_that_address_only_and_the_right_password_works_elsewhere(admin_user) -> None:
    guesser = Client(REMOTE_ADDR="198.51.100.23")
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt(guesser, f"guess-{i}")
    owner = Client(REMOTE_ADDR="203.0.113.8")
    assert attempt(owner, PASSWORD) == 302  # logged in
    assert owner.get("/admin/").status_code == 200


def test_a_successful_login_clears_earlier_mistakes(admin_user) -> None:
    owner = Client(REMOTE_ADDR="203.0.113.8")
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(owner, f"typo-{i}") == 200
    assert attempt(owner, PASSWORD) == 302
    owner.logout()
    assert attempt(owner, "one-more-typo") == 200  # counting starts again
