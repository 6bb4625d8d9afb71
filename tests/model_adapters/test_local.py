"""The local-checkpoint adapter, on the CPU, with tiny checkpoints built and saved by the tests.

``checkpoint`` is a text-only Llama; ``vision_checkpoint`` a LLaVA with a CLIP vision tower and a processor.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from model_adapters import AdapterConfig, BadRequest, ConfigurationError, GenerationSettings, Message, collect, registry
from model_adapters.base import ModelAdapter

from .pictures import red_and_blue, solid
from .tiny_checkpoint import IMAGE_TOKEN, IMAGE_TOKENS_PER_IMAGE

pytestmark = pytest.mark.local_model

GREEDY = GenerationSettings(max_tokens=12, temperature=0)
HELLO = [Message("system", "you are a bird"), Message("user", "hello cat")]
OTHER = [Message("user", "why is the sun red ?")]
PICTURE = red_and_blue()
SEEING = [Message("system", "you are a bird"), Message("user", "hello cat", (PICTURE,))]


def local_adapter(path: Path, **options: object) -> ModelAdapter:
    return registry.adapter_for("local", AdapterConfig(model=str(path), options=options, max_retries=0))


async def greedy_text(path: Path, messages: list[Message], max_tokens: int = 12) -> str:
    settings = GenerationSettings(max_tokens=max_tokens, temperature=0)
    result = await collect(local_adapter(path).stream(messages, settings))
    return result.text


async def test_it_streams_the_answer_in_chunks_with_tokenizer_counts(checkpoint):
    from transformers import AutoTokenizer

    response = local_adapter(checkpoint).stream(HELLO, GREEDY)
    chunks = [chunk async for chunk in response]
    result = response.result
    assert result is not None
    assert len(chunks) > 1 and "".join(chunks) == result.text
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    prompt = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in HELLO], tokenize=False, add_generation_prompt=True
    )
    assert result.input_tokens == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert result.output_tokens == 12 and result.finish_reason == "length"
    assert result.tokens_counted is False
    assert 0 < result.time_to_first_token <= result.latency


async def test_the_streamed_text_is_what_transformers_generates_and_decodes(checkpoint):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = await collect(local_adapter(checkpoint).stream(HELLO, GenerationSettings(max_tokens=30, temperature=0)))
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    prompt = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in HELLO], tokenize=False, add_generation_prompt=True
    )
    ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
    output = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=30, do_sample=False)
    assert result.text == tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True)


async def test_the_checkpoint_is_loaded_once_per_process(checkpoint):
    from model_adapters.local import CACHE, load_checkpoint

    CACHE.clear()
    await greedy_text(checkpoint, HELLO)
    await greedy_text(checkpoint, OTHER)
    assert len(CACHE) == 1
    assert load_checkpoint(str(checkpoint)) is load_checkpoint(str(checkpoint) + "/")


async def test_a_stop_string_ends_the_answer_just_before_it(checkpoint):
    full = await greedy_text(checkpoint, HELLO, max_tokens=20)
    words = full.split()
    stop = next(w for w in words[1:] if len(w) > 1 and w not in words[0])
    response = local_adapter(checkpoint).stream(HELLO, GenerationSettings(max_tokens=20, temperature=0, stop=(stop,)))
    result = await collect(response)
    assert result.text == full[: full.find(stop)]
    assert result.finish_reason == "stop"
    assert result.output_tokens < 20


async def test_the_end_of_sequence_token_ends_the_answer(checkpoint, tmp_path):
    from transformers import AutoTokenizer

    full = await greedy_text(checkpoint, HELLO, max_tokens=20)
    words = full.split()
    position = next(i for i, w in enumerate(words) if i >= 2 and w not in words[:i])
    copy = Path(shutil.copytree(checkpoint, tmp_path / "eos-variant"))
    config_path = copy / "generation_config.json"
    generation = json.loads(config_path.read_text())
    generation["eos_token_id"] = AutoTokenizer.from_pretrained(copy).convert_tokens_to_ids(words[position])
    config_path.write_text(json.dumps(generation))
    result = await collect(local_adapter(copy).stream(HELLO, GenerationSettings(max_tokens=20, temperature=0)))
    assert result.text.split() == words[:position]
    assert result.finish_reason == "stop"
    assert result.output_tokens == position + 1


async def test_two_concurrent_requests_each_get_their_own_answer(checkpoint):
    alone = [await greedy_text(checkpoint, HELLO, 16), await greedy_text(checkpoint, OTHER, 16)]
    assert alone[0] != alone[1], "the two prompts should lead to different answers"
    adapter = local_adapter(checkpoint)
    together = await asyncio.gather(
        collect(adapter.stream(HELLO, GenerationSettings(max_tokens=16, temperature=0))),
        collect(adapter.stream(OTHER, GenerationSettings(max_tokens=16, temperature=0))),
    )
    assert [r.text for r in together] == alone
    assert [r.output_tokens for r in together] == [16, 16]


async def test_closing_the_stream_stops_the_generation_thread(checkpoint):
    response = local_adapter(checkpoint).stream(HELLO, GenerationSettings(max_tokens=400, temperature=0))
    async with response:
        async for _ in response:
            break
    assert response.result is not None and response.result.finish_reason == "cancelled"
    deadline = time.monotonic() + 5
    while any(t.name == "local-generation" for t in threading.enumerate()) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not any(t.name == "local-generation" for t in threading.enumerate())


async def test_the_same_seed_samples_the_same_answer(checkpoint):
    settings = GenerationSettings(max_tokens=16, temperature=1.0, seed=7)
    first = await collect(local_adapter(checkpoint).stream(HELLO, settings))
    second = await collect(local_adapter(checkpoint).stream(HELLO, settings))
    assert first.text == second.text


async def test_a_directory_without_a_checkpoint_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match=r"config\.json"):
        await collect(local_adapter(tmp_path).stream(HELLO, GREEDY))


async def test_a_tokenizer_without_a_chat_template_is_a_configuration_error(checkpoint, tmp_path):
    copy = Path(shutil.copytree(checkpoint, tmp_path / "no-template"))
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    config_path = copy / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text())
    tokenizer_config.pop("chat_template", None)
    config_path.write_text(json.dumps(tokenizer_config))
    with pytest.raises(ConfigurationError, match="chat template"):
        await collect(local_adapter(copy).stream(HELLO, GREEDY))


# -- images ------------------------------------------------------------------------------------------------------


async def test_a_checkpoint_without_an_image_processor_refuses_images_before_loading(checkpoint):
    from model_adapters.local import CACHE

    CACHE.clear()
    adapter = local_adapter(checkpoint)
    assert not adapter.accepts_images()
    with pytest.raises(BadRequest, match=r"^this checkpoint has no image processor, so it cannot take images$") as caught:
        adapter.stream(SEEING, GREEDY)
    assert caught.value.user_message == "This model cannot take images."
    assert len(CACHE) == 0, "refused before the model was loaded"


def test_a_loaded_checkpoint_without_an_image_processor_refuses_images_too():
    from model_adapters.local import LoadedCheckpoint, encode_prompt

    loaded = LoadedCheckpoint(path="/models/text-only", tokenizer=object(), model=object())
    with pytest.raises(BadRequest, match="no image processor"):
        encode_prompt(loaded, SEEING)


def test_the_checkpoint_files_say_whether_it_has_an_image_processor(checkpoint, vision_checkpoint, tmp_path):
    from model_adapters.local import has_image_processor

    assert not has_image_processor(checkpoint)
    assert has_image_processor(vision_checkpoint)
    assert json.loads((vision_checkpoint / "processor_config.json").read_text())["image_processor"]
    older = tmp_path / "older"  # transformers 4 wrote the image processor's own file
    older.mkdir()
    (older / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "CLIPImageProcessor"}))
    assert has_image_processor(older)
    audio = tmp_path / "audio"  # a feature extractor is no image processor
    audio.mkdir()
    (audio / "preprocessor_config.json").write_text(json.dumps({"feature_extractor_type": "WhisperFeatureExtractor"}))
    assert not has_image_processor(audio)


async def test_a_vision_checkpoint_gets_the_pixels_and_streams_what_transformers_generates(vision_checkpoint):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    adapter = local_adapter(vision_checkpoint)
    assert adapter.accepts_images()
    response = adapter.stream(SEEING, GREEDY)
    chunks = [chunk async for chunk in response]
    result = response.result
    assert result is not None
    assert len(chunks) > 1 and "".join(chunks) == result.text
    assert result.output_tokens == 12 and result.tokens_counted is False

    processor = AutoProcessor.from_pretrained(vision_checkpoint)
    model = AutoModelForImageTextToText.from_pretrained(vision_checkpoint)
    chat = [
        {"role": "system", "content": [{"type": "text", "text": "you are a bird"}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hello cat"}]},
    ]
    prompt = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert prompt.count(IMAGE_TOKEN) == 1
    inputs = processor(text=prompt, images=[PICTURE.decoded()], return_tensors="pt", add_special_tokens=False)
    image_token_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    assert int((inputs["input_ids"] == image_token_id).sum()) == IMAGE_TOKENS_PER_IMAGE
    assert result.input_tokens == inputs["input_ids"].shape[1]
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    assert result.text == processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


async def test_the_answer_of_a_vision_checkpoint_depends_on_the_image(vision_checkpoint):
    red = await greedy_text(vision_checkpoint, [Message("user", "hello cat", (solid((255, 0, 0)),))], 16)
    blue = await greedy_text(vision_checkpoint, [Message("user", "hello cat", (solid((0, 0, 255)),))], 16)
    assert red and blue and red != blue


async def test_every_image_of_the_conversation_takes_its_tokens_in_the_prompt(vision_checkpoint):
    adapter = local_adapter(vision_checkpoint)
    plain = [Message("user", "hello cat"), Message("assistant", "yes"), Message("user", "why ?")]
    pictures = [Message("user", "hello cat", (PICTURE, solid((0, 128, 0)))), Message("assistant", "yes"),
                Message("user", "why ?", (PICTURE,))]
    without = await collect(adapter.stream(plain, GenerationSettings(max_tokens=2, temperature=0)))
    with_images = await collect(adapter.stream(pictures, GenerationSettings(max_tokens=2, temperature=0)))
    assert with_images.input_tokens == without.input_tokens + 3 * IMAGE_TOKENS_PER_IMAGE


async def test_a_vision_checkpoint_answers_a_conversation_without_images_too(vision_checkpoint):
    result = await collect(local_adapter(vision_checkpoint).stream(HELLO, GREEDY))
    assert result.text and result.output_tokens == 12 and result.finish_reason == "length"
