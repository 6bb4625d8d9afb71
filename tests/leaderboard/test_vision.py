"""The vision view, image facts in the exports and the admin's release of a snapshot's images (issue 13)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from PIL import Image as PILImage

from arena import images
from arena.models import Battle, StoredImage, Turn, TurnImage
from leaderboard.models import ImageRelease, Snapshot
from leaderboard.retention import snapshot_images_release
from leaderboard.snapshots import snapshot_refresh
from tests.factories import battle_voted, model

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def image_store(tmp_path: Any) -> Iterator[None]:
    stores = {**settings.STORAGES, "arena_images": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                    "OPTIONS": {"location": str(tmp_path / "images")}}}
    with override_settings(STORAGES=stores):
        yield


def attach(battle: Battle, colour: tuple[int, int, int], size: tuple[int, int] = (16, 8)) -> StoredImage:
    """Give the battle's first turn an image, as a voter's upload would (cleaned and stored)."""
    out = io.BytesIO()
    PILImage.new("RGB", size, colour).save(out, format="PNG")
    stored = images.image_store(images.image_clean(out.getvalue(), 1))
    turn = Turn.objects.get(battle=battle, index=1)
    TurnImage.objects.create(turn=turn, position=turn.images.count() + 1, image=stored, source_type="image/png",
                             source_size=len(out.getvalue()))
    Battle.objects.filter(pk=battle.pk).update(has_images=True)
    return stored


def arena_with_vision_battles() -> tuple[list[Battle], list[Battle]]:
    """Twelve text battles where Sharp wins, and six with an image where Blurry wins."""
    sharp, blurry = model("Sharp"), model("Blurry")
    text = [battle_voted(sharp, blurry, "a", ip_hash=f"ip-{i}") for i in range(12)]
    vision = [battle_voted(sharp, blurry, "b", ip_hash=f"ip-v{i}") for i in range(6)]
    for i, battle in enumerate(vision):
        attach(battle, (40 * i, 0, 0))
    return text, vision


def run_of(snapshots: list[Snapshot]) -> dict[str, Snapshot]:
    return {snapshot.view: snapshot for snapshot in snapshots}


@override_settings(ARENA_VISION_MIN_VOTES=5)
def test_the_vision_view_counts_only_battles_with_images() -> None:
    arena_with_vision_battles()
    views = run_of(snapshot_refresh(rounds=20))
    assert views["overall"].votes == 18 and views["vision"].votes == 6
    assert views["vision"].title == "Vision"
    leader = max(views["vision"].result["rows"], key=lambda row: row["rating"])["model"]
    assert leader == "Blurry"  # the image battles alone, where Blurry won every vote
    assert views["vision"].filters["vision_min_votes"] == 5


@override_settings(ARENA_VISION_MIN_VOTES=7)
def test_the_vision_view_waits_for_its_own_minimum() -> None:
    arena_with_vision_battles()
    views = run_of(snapshot_refresh(rounds=20))
    assert "vision" not in views and "overall" in views


@override_settings(ARENA_VISION_MIN_VOTES=5)
def test_the_page_offers_the_vision_tab(client: Client) -> None:
    arena_with_vision_battles()
    snapshot_refresh(rounds=20)
    page = client.get("/leaderboard?view=vision")
    assert page.status_code == 200 and "Vision" in page.content.decode()
    assert client.get("/leaderboard/latest/vision.json").json()["snapshot"]["view"] == "vision"


def battle_lines(client: Client, snapshot: Snapshot, conversations: bool = False) -> list[dict[str, Any]]:
    url = f"/leaderboard/snapshots/{snapshot.pk}/battles.jsonl" + ("?conversations=1" if conversations else "")
    response = client.get(url)
    assert response.status_code == 200
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


@override_settings(ARENA_VISION_MIN_VOTES=5)
def test_battle_lines_carry_image_hashes_and_sizes_but_no_links_until_an_admin_releases_them(client) -> None:
    arena_with_vision_battles()
    snapshot = run_of(snapshot_refresh(rounds=20))["vision"]
    lines = battle_lines(client, snapshot, conversations=True)
    assert len(lines) == 6
    first = lines[0]["images"][0]
    stored = StoredImage.objects.get(sha256=first["sha256"])
    assert first == {"turn": 1, "position": 1, "sha256": stored.sha256, "width": 16, "height": 8,
                     "bytes": stored.size, "media_type": "image/png"}
    assert lines[0]["conversation_a"][0]["images"] == [stored.sha256]
    assert Client().get(f"/images/{stored.sha256}").status_code == 404  # private until released
    overall = run_of(snapshot_refresh(rounds=20, force=True))["overall"]
    plain = [line for line in battle_lines(client, overall) if "images" not in line]
    assert len(plain) == 12  # text battles' lines are as before: no images key


@override_settings(ARENA_VISION_MIN_VOTES=5)
def test_a_release_makes_the_snapshots_images_public_and_links_them_in_its_conversations_export(client) -> None:
    arena_with_vision_battles()
    views = run_of(snapshot_refresh(rounds=20))
    snapshot = views["vision"]
    outside = model("Other")
    unreleased_battle = battle_voted(outside, model("Sharp"), "a", ip_hash="ip-late")  # after the snapshot
    secret = attach(unreleased_battle, (0, 200, 0))
    assert snapshot_images_release(snapshot, "admin") == 6
    assert snapshot_images_release(snapshot, "admin") == 0  # once
    release = ImageRelease.objects.get(snapshot=snapshot)
    assert release.images == 6 and Snapshot.objects.get(pk=snapshot.pk).published
    lines = battle_lines(client, snapshot, conversations=True)
    url = lines[0]["images"][0]["url"]
    assert url == f"http://testserver/images/{lines[0]['images'][0]['sha256']}"
    anyone = Client().get(url.removeprefix("http://testserver"))
    assert anyone.status_code == 200 and "public" in anyone["Cache-Control"]
    assert "url" not in battle_lines(client, snapshot)[0]["images"][0]  # only the conversations export links
    assert Client().get(f"/images/{secret.sha256}").status_code == 404  # not in the released snapshot


@override_settings(ARENA_VISION_MIN_VOTES=5)
def test_the_admin_action_releases_images(admin_client) -> None:
    arena_with_vision_battles()
    snapshot = run_of(snapshot_refresh(rounds=20))["vision"]
    response = admin_client.post("/admin/leaderboard/snapshot/", {"action": "release_images",
                                                                  "_selected_action": [snapshot.pk]}, follow=True)
    assert response.status_code == 200
    assert "6 image(s) are public now" in response.content.decode()
    assert StoredImage.objects.filter(public_since__isnull=False).count() == 6
