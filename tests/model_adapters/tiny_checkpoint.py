"""A tiny randomly initialised Llama checkpoint with a word-level tokenizer and a chat template.

Built offline, in a few hundred milliseconds, and saved the way a real
checkpoint is (safetensors, tokenizer.json, chat template), so the local
adapter loads it through exactly the code path users' checkpoints take.
"""

from __future__ import annotations

from pathlib import Path

_WORD_LIST = (
    "hello world the a cat dog sat on mat sun moon star tree river stone bird fish red blue green "
    "one two three four five yes no why how what is it you me we they run jump sing read write "
    "user assistant system : . , ? !"
)
WORDS = _WORD_LIST.split()
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} . {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)


def build_tiny_checkpoint(directory: Path, *, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {word: index for index, word in enumerate(SPECIAL + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.do_sample = False
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


IMAGE_TOKEN = "<image>"
VISION_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }} : "
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for part in m['content'] %}"
    "{% if part['type'] == 'image' %}<image> {% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %} . {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)
VISION_IMAGE_SIDE = 16  # pixels, after the image processor's resize and crop
VISION_PATCH = 8
IMAGE_TOKENS_PER_IMAGE = (VISION_IMAGE_SIDE // VISION_PATCH) ** 2  # the vision tower's patches (its CLS is dropped)


def build_tiny_vision_checkpoint(directory: Path, *, seed: int = 0) -> Path:
    """A tiny random LLaVA: a two-layer CLIP vision tower, a projector and the tiny Llama, with a processor.

    The processor (a CLIP image processor, the word-level tokenizer plus an ``<image>`` token, and a chat
    template that takes content parts) is saved beside the weights, as transformers saves a vision-language
    checkpoint, so the local adapter finds the image processor the way it finds a real one's.
    """
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    vocab = {word: index for index, word in enumerate([*SPECIAL, IMAGE_TOKEN, *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},  # a special token: "<image><image>" splits into two
    )
    # the Pillow image processor where transformers has one (torchvision, which the default needs, is not installed)
    image_processor_class = getattr(transformers, "CLIPImageProcessorPil", transformers.CLIPImageProcessor)
    image_processor = image_processor_class(
        size={"shortest_edge": VISION_IMAGE_SIDE}, crop_size={"height": VISION_IMAGE_SIDE, "width": VISION_IMAGE_SIDE},
    )
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=VISION_PATCH,
        vision_feature_select_strategy="default", num_additional_image_tokens=1, chat_template=VISION_CHAT_TEMPLATE,
    )
    text_config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    vision_config = CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        image_size=VISION_IMAGE_SIDE, patch_size=VISION_PATCH,
    )
    config = LlavaConfig(
        vision_config=vision_config, text_config=text_config, image_token_index=vocab[IMAGE_TOKEN],
        vision_feature_select_strategy="default", vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.do_sample = False
    model.save_pretrained(directory, safe_serialization=True)
    processor.save_pretrained(directory)
    return directory
