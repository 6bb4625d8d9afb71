"""The offline demo models' answers to prompts with images: one sentence per image, then the usual answer."""

from __future__ import annotations

import pytest

from model_adapters import AdapterConfig, BadRequest, GenerationSettings, Message, collect, registry
from model_adapters.conversation import Image
from model_adapters.demo import PERSONAS, describe_images

from .pictures import RED_AND_BLUE_SENTENCE, picture, red_and_blue, solid

SETTINGS = GenerationSettings(max_tokens=1000)


async def answer(persona: str, messages: list[Message]) -> str:
    adapter = registry.adapter_for("demo", AdapterConfig(model=persona, options={"delay": 0}))
    return (await collect(adapter.stream(messages, SETTINGS))).text


@pytest.mark.parametrize("persona", sorted(PERSONAS))
async def test_every_persona_starts_with_the_image_sentence_then_a_blank_line_and_its_usual_answer(persona):
    prompt = "What is in this picture ?"
    usual = await answer(persona, [Message("user", prompt)])
    seen = await answer(persona, [Message("user", prompt, (red_and_blue(),))])
    assert seen == f"{RED_AND_BLUE_SENTENCE}\n\n{usual}"
    assert "\u00d7" in seen.split(".")[0]


async def test_echo_answers_an_image_without_text_with_the_sentence_alone():
    assert await answer("echo", [Message("user", "", (red_and_blue(),))]) == RED_AND_BLUE_SENTENCE


async def test_there_is_one_sentence_per_image_numbered_in_order():
    images = (red_and_blue(), solid((0, 128, 0), 10, 20))
    text = await answer("echo", [Message("user", "two", images)])
    assert text == (
        "Image 1 is 64×48 pixels, mostly red (#ff0000) and blue (#0000ff). "
        "Image 2 is 10×20 pixels, mostly green (#008000).\n\ntwo"
    )


async def test_only_the_latest_user_message_s_images_are_described():
    messages = [Message("user", "first", (red_and_blue(),)), Message("assistant", "ok"), Message("user", "second")]
    assert await answer("echo", messages) == "second"


def test_at_most_three_colours_most_pixels_first_each_with_its_pixels_average_hex():
    image = picture(100, 10, [(10, (0, 0, 255)), (40, (250, 250, 250)), (30, (230, 10, 20)), (20, (255, 255, 0))])
    assert describe_images([image]) == (
        "Image 1 is 100×10 pixels, mostly white (#fafafa), red (#e60a14) and yellow (#ffff00)."
    )


def test_shades_with_one_name_are_merged_and_averaged():
    image = picture(40, 10, [(10, (255, 0, 0)), (10, (205, 0, 0)), (20, (0, 0, 255))])
    assert describe_images([image]) == "Image 1 is 40×10 pixels, mostly red (#e60000) and blue (#0000ff)."


def test_a_colour_under_five_per_cent_of_the_pixels_is_not_named():
    image = picture(100, 10, [(96, (0, 0, 0)), (4, (255, 255, 255))])
    assert describe_images([image]) == "Image 1 is 100×10 pixels, mostly black (#000000)."


def test_light_and_dark_greys_are_grey():
    image = picture(30, 10, [(10, (200, 200, 200)), (10, (128, 128, 128)), (10, (60, 60, 60))])
    assert describe_images([image]) == "Image 1 is 30×10 pixels, mostly grey (#818181)."


def test_equal_counts_go_in_palette_order():
    image = picture(20, 10, [(10, (0, 0, 255)), (10, (255, 0, 0))])
    assert describe_images([image]) == "Image 1 is 20×10 pixels, mostly red (#ff0000) and blue (#0000ff)."


def test_a_jpeg_is_described_by_the_names_of_its_colours():
    image = picture(64, 48, [(48, (255, 0, 0)), (16, (0, 0, 255))], media_type="image/jpeg")
    sentence = describe_images([image])
    assert sentence.startswith("Image 1 is 64×48 pixels, mostly red (#")
    assert ") and blue (#" in sentence


def test_a_large_image_is_sampled_but_keeps_its_size_and_colours():
    image = picture(1200, 900, [(900, (255, 0, 0)), (300, (0, 0, 255))])
    assert describe_images([image]) == "Image 1 is 1200×900 pixels, mostly red (#ff0000) and blue (#0000ff)."


def test_the_same_image_gives_the_same_sentence():
    assert describe_images([red_and_blue()]) == describe_images([red_and_blue()]) == RED_AND_BLUE_SENTENCE


async def test_an_image_that_cannot_be_decoded_is_a_bad_request():
    broken = Image("image/png", b"\x89PNG\r\n\x1a\nnot really", 4, 4)
    with pytest.raises(BadRequest, match="could not be decoded"):
        await answer("ibis", [Message("user", "what ?", (broken,))])
