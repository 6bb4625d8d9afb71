"""Images in prompts (issue 13): validation and cleaning, storage by content, who may see an image, pair sampling
and side-by-side refusals, the moderation hook, what the workers send, and the request-size guard."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from PIL import Image as PILImage

from arena import images, services
from arena.errors import InvalidInput, Unavailable
from arena.generation import conversation
from arena.models import ArenaModel, Battle, StoredImage, Turn, TurnImage
from arena.probes import probe_run

from .conftest import post_json, run_turn

MODERATION_CALLS: list[dict[str, Any]] = []


def refuse_blue(**image: Any) -> str | None:
    """A moderation hook for the tests: records each call, refuses any image with blue in it."""
    MODERATION_CALLS.append(image)
    picture = PILImage.open(io.BytesIO(image["data"])).convert("RGB")
    pixels = picture.tobytes()
    blue = any(pixels[i + 2] > 200 and pixels[i] < 50 for i in range(0, len(pixels), 3))
    return "it shows something blue" if blue else None


def broken_hook(**image: Any) -> None:
    raise RuntimeError("the moderation service is down")


@pytest.fixture(autouse=True)
def image_store(tmp_path: Any) -> Iterator[Any]:
    """Each test stores its images in its own folder."""
    stores = {**settings.STORAGES, "arena_images": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                    "OPTIONS": {"location": str(tmp_path / "images")}}}
    MODERATION_CALLS.clear()
    with override_settings(STORAGES=stores):
        yield tmp_path / "images"


def encoded(picture: PILImage.Image, format: str, **options: Any) -> bytes:
    out = io.BytesIO()
    picture.save(out, format=format, **options)
    return out.getvalue()


def red_blue(width: int = 64, height: int = 48) -> PILImage.Image:
    picture = PILImage.new("RGB", (width, height), (255, 0, 0))
    picture.paste((0, 0, 255), (width * 3 // 4, 0, width, height))
    return picture


def png(width: int = 64, height: int = 48) -> bytes:
    return encoded(red_blue(width, height), "PNG")


@pytest.fixture
def vision_pair(make_model: Callable[..., ArenaModel]) -> tuple[ArenaModel, ArenaModel]:
    return (make_model(name="Seer", provider_model="pelican", accepts_images=True),
            make_model(name="Viewer", provider_model="heron", accepts_images=True))


def post_images(client: Client, url: str, fields: dict[str, str], files: list[tuple[str, bytes, str]]) -> Any:
    data: dict[str, Any] = dict(fields)
    data["images"] = [SimpleUploadedFile(name, content, content_type=kind) for name, content, kind in files]
    return client.post(url, data=data, HTTP_X_CSRFTOKEN=getattr(client, "csrf", ""))


def side_by_side(client: Client, files: list[tuple[str, bytes, str]], a: str = "Seer", b: str = "Viewer") -> Any:
    return post_images(client, "/api/battles", {"prompt": "What is this?", "mode": "side_by_side", "model_a": a,
                                                "model_b": b}, files)


# ---- cleaning ------------------------------------------------------------------------------------------------------


def decoded(cleaned: images.Cleaned) -> PILImage.Image:
    return PILImage.open(io.BytesIO(cleaned.data))


def test_a_png_is_kept_lossless_and_named_by_the_hash_of_what_is_stored() -> None:
    cleaned = images.image_clean(png(), 1)
    assert (cleaned.media_type, cleaned.width, cleaned.height, cleaned.source_type) == ("image/png", 64, 48, "image/png")
    assert cleaned.sha256 == hashlib.sha256(cleaned.data).hexdigest()
    assert decoded(cleaned).convert("RGB").tobytes() == red_blue().tobytes()


def test_the_type_is_judged_by_content_not_by_name_or_declared_type(session_client, vision_pair) -> None:
    response = side_by_side(session_client, [("photo.jpg", png(), "image/jpeg")])  # a PNG that says it is a JPEG
    assert response.status_code == 201
    assert response.json()["turns"][0]["images"][0]["media_type"] == "image/png"
    assert TurnImage.objects.get().source_type == "image/png"


def test_jpeg_stays_jpeg_webp_becomes_png_and_a_gif_gives_its_first_frame() -> None:
    jpeg = images.image_clean(encoded(red_blue(), "JPEG", quality=95), 1)
    assert jpeg.media_type == "image/jpeg" and decoded(jpeg).format == "JPEG"
    webp = images.image_clean(encoded(red_blue(), "WEBP", lossless=True), 1)
    assert (webp.media_type, webp.source_type) == ("image/png", "image/webp")
    frames = [PILImage.new("RGB", (20, 10), colour) for colour in ((0, 255, 0), (255, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    gif = images.image_clean(out.getvalue(), 1)
    assert (gif.media_type, gif.source_type, gif.width, gif.height) == ("image/png", "image/gif", 20, 10)
    assert decoded(gif).convert("RGB").getpixel((5, 5)) == (0, 255, 0)  # the first frame, not the second


def test_transparency_is_kept_and_a_large_image_is_scaled_down_to_the_longest_side_allowed() -> None:
    clear = PILImage.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert decoded(images.image_clean(encoded(clear, "PNG"), 1)).mode == "RGBA"
    with override_settings(ARENA_IMAGE_MAX_SIDE=100):
        cleaned = images.image_clean(png(400, 300), 1)
    assert (cleaned.width, cleaned.height) == (100, 75) and decoded(cleaned).size == (100, 75)


def test_exif_gps_and_text_metadata_are_stripped_and_the_orientation_applied() -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x8825] = {2: (48.0, 51.0, 30.0), 1: "N"}  # GPSInfo
    exif[0x010F] = "Camera maker"
    source = encoded(red_blue(), "JPEG", exif=exif.tobytes(), quality=95)
    assert PILImage.open(io.BytesIO(source)).getexif()  # the upload carries it
    cleaned = images.image_clean(source, 1)
    picture = decoded(cleaned)
    assert not picture.getexif() and "exif" not in picture.info
    assert b"Camera maker" not in cleaned.data
    assert (cleaned.width, cleaned.height) == (48, 64)  # turned upright
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Jane Voter, 12 Main Street")
    cleaned_png = images.image_clean(encoded(red_blue(), "PNG", pnginfo=text, icc_profile=b"fake-profile"), 1)
    assert b"Jane Voter" not in cleaned_png.data and b"fake-profile" not in cleaned_png.data
    assert decoded(cleaned_png).info == {} or set(decoded(cleaned_png).info) <= {"dpi"}


BAD_FILES = {
    "empty": (b"", "is an empty file"),
    "not an image": (b"just some text, not a picture\n" * 10, "is not a PNG, JPEG, WebP or GIF image"),
    "a BMP (not taken)": (encoded(red_blue(), "BMP"), "is not a PNG, JPEG, WebP or GIF image"),
    "a TIFF (not taken)": (encoded(red_blue(), "TIFF"), "is not a PNG, JPEG, WebP or GIF image"),
    "an SVG": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>',
               "is not a PNG, JPEG, WebP or GIF image"),
    "a truncated PNG": (png(200, 200)[:300], "damaged or cut short"),
    "a truncated JPEG": (encoded(red_blue(300, 300), "JPEG")[:400], "damaged or cut short"),
    # 30,000 x 30,000 bilevel pixels compress to a few hundred kilobytes: a decompression bomb.
    "a decompression bomb": (encoded(PILImage.new("1", (30_000, 30_000)), "PNG"), "has more than"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_each_bad_file_is_refused_with_a_clean_400_and_nothing_is_written(session_client, vision_pair, kind) -> None:
    content, message = BAD_FILES[kind]
    response = side_by_side(session_client, [("picture.png", content, "image/png")])
    assert response.status_code == 400, response.content
    assert message in response.json()["error"] and response.json()["error"].startswith("Image 1 ")
    assert Battle.objects.count() == 0 and Turn.objects.count() == 0 and StoredImage.objects.count() == 0


def test_too_many_pixels_too_many_bytes_and_too_many_images_are_refused(session_client, vision_pair) -> None:
    with override_settings(ARENA_IMAGE_MAX_PIXELS=1000):
        response = side_by_side(session_client, [("a.png", png(), "image/png")])
    assert response.status_code == 400 and "has more than 1,000 pixels" in response.json()["error"]
    with override_settings(ARENA_IMAGE_MAX_BYTES=2048):
        response = side_by_side(session_client, [("a.png", png(), "image/png"), ("b.png", b"x" * 4096, "image/png")])
    assert response.status_code == 400 and response.json()["error"] == "Image 2 is 4.0 KB; the limit is 2.0 KB."
    with override_settings(ARENA_MAX_IMAGES=2):
        response = side_by_side(session_client, [(f"{i}.png", png(), "image/png") for i in range(3)])
    assert response.status_code == 400 and "at most 2 images" in response.json()["error"]
    with override_settings(ARENA_MAX_IMAGES=0):
        response = side_by_side(session_client, [("a.png", png(), "image/png")])
    assert response.status_code == 400 and "does not take images" in response.json()["error"]
    assert Battle.objects.count() == 0 and StoredImage.objects.count() == 0


# ---- battles with images -------------------------------------------------------------------------------------------


def test_a_side_by_side_vision_battle_stores_the_images_once_and_shows_them_to_its_session_only(
        session_client, vision_pair, image_store) -> None:
    response = side_by_side(session_client, [("a.png", png(), "image/png"), ("b.png", png(), "image/png")])
    assert response.status_code == 201
    shown = response.json()["turns"][0]["images"]
    assert [(i["width"], i["height"], i["media_type"]) for i in shown] == [(64, 48, "image/png")] * 2
    assert shown[0]["sha256"] == shown[1]["sha256"]  # the same picture twice: one file, one row, two uses
    assert StoredImage.objects.count() == 1 and TurnImage.objects.count() == 2
    battle = Battle.objects.get()
    assert battle.has_images
    files = [path for path in image_store.rglob("*") if path.is_file()]
    assert len(files) == 1 and files[0].name == f"{shown[0]['sha256']}.png"
    fetched = session_client.get(shown[0]["url"])
    assert fetched.status_code == 200 and fetched["Content-Type"] == "image/png"
    assert hashlib.sha256(fetched.content).hexdigest() == shown[0]["sha256"]
    assert "private" in fetched["Cache-Control"]
    assert Client().get(shown[0]["url"]).status_code == 404  # another browser cannot see it
    assert session_client.get("/images/" + "0" * 64).status_code == 404
    assert session_client.get("/images/not-a-hash").status_code == 404


def test_staff_may_see_any_image(session_client, vision_pair, admin_client) -> None:
    url = side_by_side(session_client, [("a.png", png(), "image/png")]).json()["turns"][0]["images"][0]["url"]
    assert admin_client.get(url).status_code == 200


def test_side_by_side_refuses_a_text_only_model_with_images(session_client, vision_pair, make_model) -> None:
    make_model(name="Words Only")
    response = side_by_side(session_client, [("a.png", png(), "image/png")], a="Seer", b="Words Only")
    assert response.status_code == 400
    assert response.json()["error"] == "Words Only does not take images; choose a model that does, or remove the images."
    assert Battle.objects.count() == 0


def test_an_anonymous_battle_with_images_draws_only_models_that_take_images(vision_pair, make_model) -> None:
    make_model(name="Words Only", sampling_weight=50)
    rng = random.Random(0)
    for _ in range(12):
        battle = services.battle_create(prompt="What is this?", session_key="s" * 32, ip_hash="h", rng=rng,
                                        image_files=[png()])
        assert {battle.model_a.name, battle.model_b.name} == {"Seer", "Viewer"}
    names = {services.battle_create(prompt="Hi", session_key="s" * 32, ip_hash="h", rng=rng).model_a.name
             for _ in range(12)}
    assert "Words Only" in names  # text battles still draw it


def test_without_two_vision_models_an_image_prompt_is_refused_with_503(session_client, make_model) -> None:
    make_model(name="One", accepts_images=True)
    make_model(name="Two")
    response = post_images(session_client, "/api/battles", {"prompt": "What is this?"}, [("a.png", png(), "image/png")])
    assert response.status_code == 503 and "Fewer than two active models take images" in response.json()["error"]


def test_a_follow_up_may_bring_images_when_both_models_take_them(session_client, vision_pair, make_model) -> None:
    battle_id = post_json(session_client, "/api/battles", {"prompt": "Hi", "mode": "side_by_side", "model_a": "Seer",
                                                           "model_b": "Viewer"}).json()["id"]
    battle = Battle.objects.get(uuid=battle_id)
    assert not battle.has_images
    run_turn(battle.turns.get())
    response = post_images(session_client, f"/api/battles/{battle_id}/turns", {"prompt": "And this?"},
                           [("a.png", png(), "image/png")])
    assert response.status_code == 201
    assert [len(turn["images"]) for turn in response.json()["turns"]] == [0, 1]
    battle.refresh_from_db()
    assert battle.has_images
    make_model(name="Words Only")
    text_battle = services.battle_create(prompt="Hi", session_key="t" * 32, ip_hash="h", mode="side_by_side",
                                         model_a="Seer", model_b="Words Only")
    run_turn(text_battle.turns.get())
    with pytest.raises(InvalidInput, match="does not take images"):
        services.turn_create(battle_uuid=text_battle.uuid, session_key="t" * 32, prompt="And this?",
                             image_files=[png()])


def test_the_same_text_with_other_images_is_another_prompt_for_the_duplicate_rule(vision_pair) -> None:
    plain = services.battle_create(prompt="What is this?", session_key="s" * 32, ip_hash="h")
    one = services.battle_create(prompt="What is this?", session_key="s" * 32, ip_hash="h", image_files=[png()])
    other = services.battle_create(prompt="What is this?", session_key="s" * 32, ip_hash="h",
                                   image_files=[png(32, 32)])
    again = services.battle_create(prompt="what is this", session_key="s" * 32, ip_hash="h", image_files=[png()])
    assert len({plain.prompt_fingerprint, one.prompt_fingerprint, other.prompt_fingerprint}) == 3
    assert again.prompt_fingerprint == one.prompt_fingerprint


# ---- what the model is sent ----------------------------------------------------------------------------------------


def test_each_side_is_sent_every_turns_images_and_the_demo_model_describes_them(vision_pair) -> None:
    battle = services.battle_create(prompt="What is this?", session_key="s" * 32, ip_hash="h", mode="side_by_side",
                                    model_a="Seer", model_b="Viewer", image_files=[png()])
    first = battle.turns.get()
    run_turn(first)
    answer = first.answers.get(side="a")
    assert answer.status == "done" and answer.text.startswith("Image 1 is 64×48 pixels, mostly red")
    second = services.turn_create(battle_uuid=battle.uuid, session_key="s" * 32, prompt="Now this one",
                                  image_files=[png(32, 32)])
    messages = conversation(second, "b")
    assert [(m.role, len(m.images)) for m in messages] == [("user", 1), ("assistant", 0), ("user", 1)]
    stored = StoredImage.objects.get(sha256=messages[0].images[0].sha256)
    assert (messages[0].images[0].width, messages[2].images[0].width) == (64, 32)
    assert messages[0].images[0].data == images.image_bytes(stored)


def test_a_vision_models_test_sends_an_image(make_model) -> None:
    seer = make_model(name="Seer", accepts_images=True)
    report = probe_run(seer)
    assert report["ok"] and "32×32 pixels" in report["summary"]
    words = make_model(name="Words")
    assert "pixels" not in probe_run(words)["summary"]


def test_ticking_accepts_images_needs_a_new_test(make_model) -> None:
    from arena.probes import outcome_record

    model = make_model(name="Maybe")
    outcome_record(model, probe_run(model))
    assert model.has_passing_test()
    model.accepts_images = True
    assert not model.has_passing_test()


# ---- moderation ----------------------------------------------------------------------------------------------------


@override_settings(ARENA_IMAGE_MODERATION="tests.arena.test_images.refuse_blue")
def test_the_moderation_hook_sees_every_image_before_it_is_stored_and_may_refuse_it(session_client, vision_pair) -> None:
    red = encoded(PILImage.new("RGB", (8, 8), (255, 0, 0)), "PNG")
    response = side_by_side(session_client, [("red.png", red, "image/png"), ("mixed.png", png(), "image/png")])
    assert response.status_code == 400
    assert response.json()["error"] == "Image 2 was refused: it shows something blue."
    assert len(MODERATION_CALLS) == 2 and MODERATION_CALLS[0]["width"] == 8
    assert StoredImage.objects.count() == 0 and Battle.objects.count() == 0
    assert side_by_side(session_client, [("red.png", red, "image/png")]).status_code == 201


@override_settings(ARENA_IMAGE_MODERATION="tests.arena.test_images.broken_hook")
def test_a_failing_moderation_hook_refuses_images_with_503(session_client, vision_pair) -> None:
    response = side_by_side(session_client, [("a.png", png(), "image/png")])
    assert response.status_code == 503 and "cannot be checked" in response.json()["error"]
    assert Battle.objects.count() == 0
    with pytest.raises(Unavailable):
        images.images_prepare([png()])


def test_no_moderation_hook_by_default() -> None:
    assert settings.ARENA_IMAGE_MODERATION == ""


# ---- the request-size guard ----------------------------------------------------------------------------------------


def asgi_post(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> list[dict[str, Any]]:
    from config.asgi import django_asgi_app

    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                for i, chunk in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/battles", "raw_path": b"/api/battles", "query_string": b"",
             "headers": headers, "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "scheme": "http",
             "asgi": {"version": "3.0"}, "http_version": "1.1", "root_path": ""}
    asyncio.run(django_asgi_app(scope, receive, send))
    return sent


@pytest.mark.django_db(transaction=True)
@override_settings(ARENA_MAX_IMAGES=1, ARENA_IMAGE_MAX_BYTES=1024 * 1024)
def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read() -> None:
    from config.client_errors import body_limit

    limit = body_limit()
    declared = asgi_post([(b"content-length", str(limit + 1).encode()), (b"content-type", b"multipart/form-data")],
                         [b"x" * 10])
    assert declared[0]["status"] == 413 and b"larger than" in declared[1]["body"]
    streamed = asgi_post([(b"content-type", b"application/octet-stream")], [b"x" * (512 * 1024)] * 10)
    assert streamed[0]["status"] == 413
