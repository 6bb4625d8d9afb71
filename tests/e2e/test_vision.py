"""Vision battles in the browser: images attached to a prompt with the file picker, a paste or a drop; previews
before sending; the client's and the server's refusals; thumbnails above the prompt in both panes; and models
that take no images kept out, by the page before sending and by the server's draw."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from .conftest import Arena
from .test_accessibility import serious

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]

# A small per-image limit, so the client's size check can be seen with a small file.
ARENA_ENV = {"ARENA_IMAGE_MAX_BYTES": "100000", "ARENA_MIN_VOTE_SECONDS": "0"}
VISION = ("Vision One", "Vision Two")
TEXT_ONLY = "Text Only"
# Ignored console messages: Chromium logs every 4xx answer of a fetch ("Failed to load resource: the server
# responded with a status of 400"), which the refusals below expect.
FAILED_LOAD = "Failed to load resource"


def register(arena: Arena, name: str, *, accepts_images: bool, weight: float = 0) -> None:
    arena.manage("shell", "-c", (
        "from arena.models import ArenaModel; ArenaModel.objects.update_or_create("
        f"name={name!r}, defaults=dict(adapter_kind='demo', provider_model='pelican', options={{'delay': 0.01}}, "
        f"sampling_weight={weight!r}, state='active', accepts_images={accepts_images!r}))"))


@pytest.fixture(scope="module")
def models(arena: Arena) -> Arena:
    for name in VISION:
        register(arena, name, accepts_images=True)
    register(arena, TEXT_ONLY, accepts_images=False)
    return arena


@pytest.fixture
def page(browser: Any, models: Arena) -> Iterator[Page]:
    """As conftest's ``page``, on an arena with the models above, also recording the POSTs the page makes; a test
    that expects a refusal sets ``page.refusals_expected = True`` to let Chromium's "Failed to load" line pass."""
    context = browser.new_context(base_url=models.url)
    page = context.new_page()
    errors: list[str] = []
    posts: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.posts = posts  # type: ignore[attr-defined]
    page.refusals_expected = False  # type: ignore[attr-defined]
    yield page
    expected = page.refusals_expected  # type: ignore[attr-defined]
    context.close()
    errors = [e for e in errors if not (expected and FAILED_LOAD in e)]
    assert not errors, f"the page logged errors: {errors}"


def png(width: int = 64, height: int = 48) -> bytes:
    """Three quarters pure red on the left, a quarter pure blue on the right."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 0, 255), (width * 3 // 4, 0, width, height))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "red-and-blue.png"
    path.write_bytes(png())
    return path


def side_by_side(page: Page, a: str, b: str) -> None:
    page.get_by_label("Side by side").check()
    page.get_by_role("combobox", name="Model A").select_option(a)
    page.get_by_role("combobox", name="Model B").select_option(b)


def attach_with_the_button(page: Page, *files: Any) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach images").click()
    chooser.value.set_files(list(files))


def previews(page: Page) -> Any:
    return page.locator("#attachments li")


def test_a_voter_attaches_an_image_and_both_models_describe_it(page: Page, picture: Path) -> None:
    page.goto("/")
    side_by_side(page, *VISION)
    expect(page.get_by_role("combobox", name="Model A").locator("option:checked")).to_have_text("Vision One (images)")
    expect(page.get_by_role("combobox", name="Model B").locator(f'option[value="{TEXT_ONLY}"]')).to_have_text(TEXT_ONLY)
    count = page.locator("#image-count")
    expect(count).to_be_empty()

    attach_with_the_button(page, picture)
    expect(previews(page)).to_have_count(1)
    expect(page.get_by_role("img", name="Image 1 to attach, 64 × 48 pixels")).to_be_visible()
    expect(previews(page)).to_contain_text("red-and-blue.png")
    expect(count).to_have_text("1 / 4 images")
    page.get_by_role("button", name="Remove image 1").click()
    expect(previews(page)).to_have_count(0)
    expect(page.locator("#attachments")).to_be_hidden()
    expect(count).to_be_empty()
    expect(page.get_by_role("button", name="Attach images")).to_be_focused()  # the focus is not lost

    # The same file again, from the keyboard this time.
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(picture))
    expect(previews(page)).to_have_count(1)
    expect(count).to_have_text("1 / 4 images")

    page.get_by_label("Prompt").fill("What is in this picture?")
    page.get_by_role("button", name="Send").click()
    for side in "ab":
        thumb = page.locator(f"#conversation-{side} .msg.user img")
        expect(thumb).to_have_count(1)
        expect(thumb).to_have_attribute("alt", "Image 1 of your prompt, 64 × 48 pixels")
        expect(page.locator(f"#conversation-{side} .msg.user")).to_contain_text("What is in this picture?")
    # Served to this session: loaded, at the size stored.
    page.wait_for_function("() => [...document.querySelectorAll('.msg.user img')].every("
                           "(img) => img.complete && img.naturalWidth === 64 && img.naturalHeight === 48)")
    expect(previews(page)).to_have_count(0)  # sent: the attachments are cleared
    expect(count).to_be_empty()
    for side in "ab":
        expect(page.locator(f"#status-{side}")).to_have_text("Done", timeout=20_000)
        answer = page.locator(f"#conversation-{side} .msg.model").last
        expect(answer).to_contain_text("Image 1 is 64×48 pixels")
        expect(answer).to_contain_text(re.compile(r"mostly red \(#[0-9a-f]{6}\) and blue"))

    page.get_by_role("button", name="A is better").click()
    expect(page.locator("#notice")).to_contain_text("Model A was Vision One; Model B was Vision Two.")
    expect(page.locator("#name-a")).to_contain_text("Vision One")


def test_a_follow_up_carries_its_own_image(page: Page, tmp_path: Path) -> None:
    page.goto("/")
    side_by_side(page, *VISION)
    page.get_by_label("Prompt").fill("Hello")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    wide = tmp_path / "wide.png"
    wide.write_bytes(png(200, 40))
    attach_with_the_button(page, wide)
    page.get_by_label("Prompt").fill("And this one?")
    page.get_by_label("Prompt").press("Enter")
    for side in "ab":
        turn = page.locator(f"#conversation-{side} .msg.user").nth(1)
        expect(turn.locator("img")).to_have_attribute("alt", "Image 1 of your prompt, 200 × 40 pixels")
        expect(page.locator(f"#conversation-{side} .msg.user").first.locator("img")).to_have_count(0)
        expect(page.locator(f"#status-{side}")).to_have_text("Done", timeout=20_000)
        expect(page.locator(f"#conversation-{side} .msg.model").last).to_contain_text("Image 1 is 200×40 pixels")


PAGE_FILE = """([name, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/png" }));
  return transfer;
}"""


def test_an_image_is_attached_by_a_paste_and_by_a_drop(page: Page) -> None:
    page.goto("/")
    data = base64.b64encode(png()).decode()
    transfer = page.evaluate_handle(PAGE_FILE, ["pasted.png", data])
    box = page.get_by_label("Prompt")
    box.fill("typed text stays")
    box.evaluate("(box, transfer) => box.dispatchEvent(new ClipboardEvent('paste', "
                 "{ clipboardData: transfer, bubbles: true, cancelable: true }))", transfer)
    expect(previews(page)).to_have_count(1)
    expect(previews(page).first).to_contain_text("pasted.png")
    expect(box).to_have_value("typed text stays")

    transfer = page.evaluate_handle(PAGE_FILE, ["dropped.png", data])
    composer = page.locator("#composer")
    box.dispatch_event("dragenter", {"dataTransfer": transfer})
    box.dispatch_event("dragover", {"dataTransfer": transfer})
    expect(composer).to_have_class(re.compile(r"\bdropping\b"))  # the drop target is highlighted
    expect(page.locator("#drop-hint")).to_be_visible()
    box.dispatch_event("drop", {"dataTransfer": transfer})
    expect(composer).not_to_have_class(re.compile(r"\bdropping\b"))
    expect(page.locator("#drop-hint")).to_be_hidden()
    expect(previews(page)).to_have_count(2)
    expect(previews(page).nth(1)).to_contain_text("dropped.png")
    expect(page.get_by_role("img", name="Image 2 to attach, 64 × 48 pixels")).to_be_visible()
    expect(page.locator("#image-count")).to_have_text("2 / 4 images")
    page.get_by_role("button", name="Remove image 1").click()
    expect(previews(page)).to_have_count(1)
    expect(previews(page).first).to_contain_text("dropped.png")  # the other one, renumbered
    expect(page.get_by_role("button", name="Remove image 1")).to_be_focused()
    assert page.posts == []  # type: ignore[attr-defined]


def test_the_page_refuses_what_the_server_would_without_a_round_trip(page: Page, tmp_path: Path) -> None:
    page.goto("/")
    notice = page.locator("#notice")
    (tmp_path / "notes.txt").write_text("just text")
    attach_with_the_button(page, tmp_path / "notes.txt")
    expect(notice).to_contain_text("notes.txt is not an image of a type this arena takes (PNG, JPEG, WebP, GIF).")
    expect(previews(page)).to_have_count(0)

    big = tmp_path / "big.png"
    big.write_bytes(png() + b"\0" * 120_000)  # over this arena's 100000 bytes
    attach_with_the_button(page, big)
    expect(notice).to_contain_text("big.png is 117 KB; the limit is 98 KB per image.")
    expect(previews(page)).to_have_count(0)

    files = []
    for i in range(1, 6):
        files.append(tmp_path / f"picture-{i}.png")
        files[-1].write_bytes(png(10 + i, 10))
    attach_with_the_button(page, *files)
    expect(notice).to_contain_text("1 image was left out: a prompt takes at most 4.")
    expect(previews(page)).to_have_count(4)
    expect(page.locator("#image-count")).to_have_text("4 / 4 images")
    expect(page.get_by_role("button", name="Attach images")).to_be_disabled()
    assert page.posts == []  # type: ignore[attr-defined]


def test_a_file_only_the_server_can_judge_is_refused_and_kept_for_the_voter_to_fix(page: Page, picture: Path) -> None:
    page.refusals_expected = True  # type: ignore[attr-defined]
    page.goto("/")
    side_by_side(page, *VISION)
    page.locator("#image-input").set_input_files(
        {"name": "x.png", "mimeType": "image/png", "buffer": b"not an image"})  # passes the client's checks
    expect(previews(page)).to_have_count(1)
    expect(previews(page).first).to_contain_text("x.png")
    page.get_by_label("Prompt").fill("Describe it")
    page.get_by_role("button", name="Send").click()
    notice = page.locator("#notice")
    expect(notice).to_contain_text("Image 1 is not a PNG, JPEG, WebP or GIF image.")
    assert any(url.endswith("/api/battles") for url in page.posts)  # type: ignore[attr-defined]
    # Nothing half-way: no battle, the prompt and the attachment kept as they were.
    expect(page.locator("#arena")).to_have_attribute("data-state", "idle")
    expect(page.locator("#conversation-a .msg")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('arena.battle')") is None
    expect(page.get_by_label("Prompt")).to_have_value("Describe it")
    expect(previews(page)).to_have_count(1)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()

    # Fixed: the bad file out, a good one in, and the same prompt goes through.
    page.get_by_role("button", name="Remove image 1").click()
    page.locator("#image-input").set_input_files(
        {"name": "good.png", "mimeType": "image/png", "buffer": png()})
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#conversation-a .msg.user img")).to_have_count(1)
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#conversation-a .msg.model").last).to_contain_text("Image 1 is 64×48 pixels")


def test_a_text_only_model_side_by_side_with_an_image_is_told_and_starts_nothing(page: Page, picture: Path) -> None:
    page.goto("/")
    side_by_side(page, VISION[0], TEXT_ONLY)
    warning = page.locator("#image-warning")
    expect(warning).to_be_hidden()  # no image yet: nothing to say
    attach_with_the_button(page, picture)
    expect(warning).to_have_text(
        "Model B (Text Only) does not take images: pick a model marked “(images)”, or remove the images.")
    page.get_by_label("Prompt").fill("What colour is it?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#notice")).to_contain_text("Model B (Text Only) does not take images")
    expect(page.locator("#arena")).to_have_attribute("data-state", "idle")
    expect(page.locator("#conversation-a .msg")).to_have_count(0)
    assert page.posts == []  # type: ignore[attr-defined]
    expect(page.get_by_label("Prompt")).to_have_value("What colour is it?")
    expect(previews(page)).to_have_count(1)

    page.get_by_role("combobox", name="Model B").select_option(VISION[1])
    expect(warning).to_be_hidden()
    page.get_by_role("combobox", name="Model A").select_option(TEXT_ONLY)
    expect(warning).to_contain_text("Model A (Text Only) does not take images")
    page.get_by_role("button", name="Remove image 1").click()
    expect(warning).to_be_hidden()  # a text prompt suits any model


def test_an_anonymous_battle_with_an_image_draws_only_models_that_take_images(page: Page, models: Arena,
                                                                            picture: Path) -> None:
    register(models, TEXT_ONLY, accepts_images=False, weight=1000)  # drawn almost always, were it allowed
    try:
        for _ in range(2):
            page.goto("/")
            attach_with_the_button(page, picture)
            page.get_by_label("Prompt").fill("Which colours do you see?")
            page.get_by_role("button", name="Send").click()
            expect(page.locator("#conversation-b .msg.user img")).to_have_count(1)
            expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
            expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
            for side in "ab":
                expect(page.locator(f"#conversation-{side} .msg.model").last).to_contain_text("64×48 pixels")
            page.get_by_role("button", name="Tie").click()
            reveal = page.locator("#notice")
            expect(reveal).to_contain_text(re.compile(r"Model A was .+; Model B was .+\."))
            assert TEXT_ONLY not in reveal.inner_text()
            page.get_by_role("button", name="New round").click()
    finally:
        register(models, TEXT_ONLY, accepts_images=False)


def test_images_fit_a_phone_screen_with_no_serious_accessibility_finding(browser: Any, models: Arena,
                                                                         tmp_path: Path) -> None:
    # The page's CSP refuses injected scripts; axe is the test's, not the page's.
    context = browser.new_context(base_url=models.url, viewport={"width": 390, "height": 844}, is_mobile=True,
                                  bypass_csp=True)
    try:
        page = context.new_page()
        page.goto("/")
        side_by_side(page, *VISION)
        wide = tmp_path / "a-very-long-file-name-that-would-push-the-page-sideways-on-a-phone.png"
        wide.write_bytes(png(1600, 200))
        tall = tmp_path / "tall.png"
        tall.write_bytes(png(100, 900))
        page.locator("#image-input").set_input_files([str(wide), str(tall)])
        expect(previews(page)).to_have_count(2)
        expect(page.get_by_role("img", name="Image 1 to attach, 1600 × 200 pixels")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert serious(page) == []
        page.get_by_label("Prompt").fill("Two pictures")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#conversation-b .msg.user img")).to_have_count(2)
        expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
        expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways ({width}px)"
        for side in "ab":
            pane = page.locator(f"#pane-{side}").bounding_box()
            for img in page.locator(f"#conversation-{side} .msg.user img").all():
                box = img.bounding_box()
                assert box and pane and box["x"] >= pane["x"] and box["x"] + box["width"] <= pane["x"] + pane["width"]
        assert serious(page) == []
    finally:
        context.close()
