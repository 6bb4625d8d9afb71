"""A checkpoint of one's own, served by transformers inside a GPU worker.

The model id is the path of a Hugging Face format directory on the worker
(``config.json``, ``*.safetensors``, tokenizer files and a chat template in
``tokenizer_config.json`` or ``chat_template.jinja``). It is loaded once per
worker process, on the first request or by :func:`load_checkpoint` at worker
start-up, and kept in :data:`CACHE`. With a GPU it loads in bfloat16 with
``device_map="auto"`` (accelerate spreads it over the GPUs present); without
one, in float32 on the CPU. Nothing is ever fetched from the Hugging Face hub.

Generation runs in a background thread (see :mod:`.local_stream`). One
generation at a time runs per loaded model, under its generation lock: a
second concurrent request waits for the first to finish (its wait counts
toward its first-token timeout), so concurrent streams never share state.
Run more worker processes for more throughput, if GPU memory allows.

Images: a checkpoint takes them when it has a processor with an image
processor (``processor_config.json`` with an ``image_processor`` entry, or an
older ``preprocessor_config.json`` naming an ``image_processor_type``), as
vision-language checkpoints saved by transformers do. Such a checkpoint is
loaded with ``AutoProcessor`` and ``AutoModelForImageTextToText``; every
conversation then goes through the processor: its chat template gets the
messages as content parts (``{"type": "image"}`` per image, then
``{"type": "text", ...}``), and the processor gets that text with the images
decoded by Pillow, so pixel values (and whatever else it makes) reach
``generate()``. A checkpoint without one refuses a conversation with images
(BadRequest, before anything is loaded when its files already say so).

Options: ``device`` (``auto``, ``cpu``, ``cuda``) and ``dtype`` (``auto``,
``bfloat16``, ``float16``, ``float32``). Seeds are honoured (under the lock).
torch and transformers are imported only when a model is first loaded.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ModelAdapter, refuse_images
from .conversation import FinishReason, GenerationSettings, Message, StreamMeta
from .errors import BadRequest, ConfigurationError
from .local_stream import TokenBridge, run_in_thread

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "bfloat16", "float16", "float32")
NO_IMAGE_PROCESSOR = "this checkpoint has no image processor, so it cannot take images"
_EXCERPT = 300  # characters of a template's or processor's error message kept in ours


@dataclass
class LoadedCheckpoint:
    """A tokenizer and model in memory, with the lock that serialises generation on them.

    ``processor`` is the checkpoint's processor when it has an image processor (then ``tokenizer`` is the
    processor's), else None.
    """

    path: str
    tokenizer: Any
    model: Any
    processor: Any = None
    generation_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def eos_ids(self) -> frozenset[int]:
        """The token ids that end generation, from the checkpoint's generation config."""
        eos = self.model.generation_config.eos_token_id
        ids = eos if isinstance(eos, list) else [eos]
        return frozenset(i for i in ids if isinstance(i, int))

    @property
    def context_length(self) -> int | None:
        """The most positions the model supports, when its config says."""
        config = self.model.config
        value = getattr(config, "max_position_embeddings", None)
        if value is None and hasattr(config, "get_text_config"):  # vision-language configs keep it in text_config
            value = getattr(config.get_text_config(), "max_position_embeddings", None)
        return value if isinstance(value, int) else None


@dataclass(frozen=True)
class Prompt:
    """A conversation encoded for ``generate()``: its token ids, and any further inputs (pixel values…)."""

    ids: list[int]
    inputs: Mapping[str, Any] = field(default_factory=dict)


class CheckpointCache:
    """Checkpoints loaded in this process, by (path, device, dtype); each loaded once, under a lock."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str, str], LoadedCheckpoint] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str], load: Callable[[], LoadedCheckpoint]) -> LoadedCheckpoint:
        """The cached checkpoint for ``key``, loading it first if needed (other callers wait)."""
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = load()
            return self._loaded[key]

    def clear(self) -> None:
        """Forget every checkpoint (tests; freeing memory)."""
        with self._lock:
            self._loaded.clear()

    def __len__(self) -> int:
        return len(self._loaded)


# The one piece of mutable module state in the package: a worker process's loaded models.
CACHE = CheckpointCache()


def load_checkpoint(path: str, *, device: str = "auto", dtype: str = "auto") -> LoadedCheckpoint:
    """Load the checkpoint at ``path`` into this process, or return it if already loaded.

    Call it from Celery's ``worker_process_init`` signal to load before the first request.
    """
    if device not in DEVICES:
        raise ConfigurationError(f"the option device must be one of {', '.join(DEVICES)}")
    if dtype not in DTYPES:
        raise ConfigurationError(f"the option dtype must be one of {', '.join(DTYPES)}")
    directory = Path(path).expanduser()
    if not (directory / "config.json").is_file():
        raise ConfigurationError(f"no Hugging Face checkpoint (config.json) in {directory}")
    resolved = str(directory.resolve())
    return CACHE.get((resolved, device, dtype), lambda: _load(resolved, device, dtype))


def has_image_processor(path: str | Path) -> bool:
    """Whether the checkpoint directory's files include an image processor's configuration (nothing is loaded).

    transformers 5 keeps it in ``processor_config.json`` (an ``image_processor`` entry); earlier versions wrote
    ``preprocessor_config.json`` (which audio feature extractors use too, hence the ``image_processor_type`` check).
    """
    directory = Path(path).expanduser()
    processor = _json_file(directory / "processor_config.json")
    if isinstance(processor, dict) and isinstance(processor.get("image_processor"), dict):
        return True
    preprocessor = _json_file(directory / "preprocessor_config.json")
    return isinstance(preprocessor, dict) and "image_processor_type" in preprocessor


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _load(path: str, device: str, dtype: str) -> LoadedCheckpoint:
    import torch
    import transformers

    processor = None
    if has_image_processor(path):
        processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
        if getattr(processor, "image_processor", None) is None or getattr(processor, "tokenizer", None) is None:
            raise ConfigurationError("the checkpoint's processor configuration does not load as an image processor")
        tokenizer = processor.tokenizer
    else:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    if not getattr(tokenizer, "chat_template", None) and not getattr(processor, "chat_template", None):
        raise ConfigurationError("the checkpoint's tokenizer has no chat template")
    on_gpu = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    torch_dtype = getattr(torch, dtype) if dtype != "auto" else (torch.bfloat16 if on_gpu else torch.float32)
    kwargs: dict[str, Any] = {"local_files_only": True, _dtype_argument(transformers.__version__): torch_dtype}
    if on_gpu:
        kwargs["device_map"] = "auto"
    auto = transformers.AutoModelForImageTextToText if processor is not None else transformers.AutoModelForCausalLM
    model = auto.from_pretrained(path, **kwargs)
    model.eval()
    return LoadedCheckpoint(path=path, tokenizer=tokenizer, model=model, processor=processor)


def _dtype_argument(version: str) -> str:
    """transformers 4.56 renamed ``torch_dtype`` to ``dtype``."""
    major, minor = (int(p) for p in version.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def encode_prompt(loaded: LoadedCheckpoint, messages: Sequence[Message]) -> Prompt:
    """The conversation encoded for this checkpoint: through its processor when it has one, else its tokenizer."""
    if loaded.processor is not None:
        return encode_with_processor(loaded.processor, messages)
    if any(m.images for m in messages):
        raise refuse_images(NO_IMAGE_PROCESSOR)
    return Prompt(encode_conversation(loaded.tokenizer, messages))


def encode_conversation(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """The prompt's token ids, through the checkpoint's own chat template."""
    chat = [{"role": m.role, "content": m.content} for m in messages]
    try:
        prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # noqa: BLE001 - templates raise anything (e.g. "roles must alternate")
        raise BadRequest(f"the chat template rejected the conversation ({_excerpt(exc)})") from None
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return list(ids)


def encode_with_processor(processor: Any, messages: Sequence[Message]) -> Prompt:
    """Token ids and image inputs from a vision-language checkpoint's processor.

    Messages go to the chat template as content parts, the convention of transformers' multimodal templates:
    one ``{"type": "image"}`` per image (images come before the text, as everywhere in the adapters), then the
    text. The processor then expands each image placeholder and turns the Pillow-decoded images into pixel values.
    """
    chat = [
        {"role": m.role, "content": [*({"type": "image"} for _ in m.images), {"type": "text", "text": m.content}]}
        for m in messages
    ]
    try:
        text = processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # noqa: BLE001 - templates raise anything (e.g. "roles must alternate")
        raise BadRequest(f"the chat template rejected the conversation ({_excerpt(exc)})") from None
    images = [image.decoded() for m in messages for image in m.images]
    try:
        batch = processor(text=text, images=images or None, return_tensors="pt", add_special_tokens=False)
    except Exception as exc:  # noqa: BLE001 - processors raise anything (too small an image, a token mismatch)
        raise BadRequest(f"the checkpoint's processor rejected the conversation ({_excerpt(exc)})") from None
    ids = [int(i) for i in batch["input_ids"][0].tolist()]
    inputs = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask") and v is not None}
    return Prompt(ids, inputs)


def _excerpt(exc: Exception) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text[:_EXCERPT] + ("…" if len(text) > _EXCERPT else "")


def sampling_arguments(settings: GenerationSettings) -> dict[str, Any]:
    """``generate()`` arguments for the sampling settings; unset ones keep the checkpoint's defaults."""
    if settings.temperature == 0:
        return {"do_sample": False}
    args: dict[str, Any] = {}
    if settings.temperature is not None:
        args.update(do_sample=True, temperature=settings.temperature)
    if settings.top_p is not None:
        args.update(do_sample=True, top_p=settings.top_p)
    return args


class LocalCheckpointAdapter(ModelAdapter):
    """A Hugging Face format checkpoint loaded into this worker process."""

    kind = "local"
    label = "Local checkpoint (GPU worker)"
    requires_key = False
    supports_seed = True
    supports_images = True  # for checkpoints with an image processor: see accepts_images
    images_refusal = NO_IMAGE_PROCESSOR

    def accepts_images(self) -> bool:
        """Whether the checkpoint has an image processor, judged from its files without loading it.

        A directory that is no checkpoint at all says yes, so that loading it reports what is wrong; once
        loaded, :func:`encode_prompt` refuses images for a checkpoint whose processor has no image processor.
        """
        directory = Path(self.config.model).expanduser()
        return not (directory / "config.json").is_file() or has_image_processor(directory)

    async def _generate(
        self, messages: Sequence[Message], settings: GenerationSettings, meta: StreamMeta
    ) -> AsyncIterator[str]:
        options = self.config.options
        device, dtype = str(options.get("device", "auto")), str(options.get("dtype", "auto"))
        loaded = await asyncio.to_thread(load_checkpoint, self.config.model, device=device, dtype=dtype)
        if loaded.processor is None:
            prompt = encode_prompt(loaded, messages)
        else:  # decoding images and computing pixel values takes a while: not on the event loop
            prompt = await asyncio.to_thread(encode_prompt, loaded, messages)
        max_new = settings.max_tokens
        if loaded.context_length is not None:
            max_new = min(max_new, loaded.context_length - len(prompt.ids))
            if max_new < 1:
                raise BadRequest("the conversation is longer than the model's context")
        meta.input_tokens = len(prompt.ids)
        bridge = TokenBridge(loaded.tokenizer, asyncio.get_running_loop(), settings.stop, loaded.eos_ids)
        run_in_thread(lambda: _generate_in_thread(loaded, prompt, settings, max_new, bridge), "local-generation")
        try:
            async for text in bridge.texts():
                yield text
        finally:
            bridge.stop_requested.set()
        meta.output_tokens = len(bridge.token_ids)
        meta.finish_reason = _finish_reason(loaded, bridge, max_new)


def _finish_reason(loaded: LoadedCheckpoint, bridge: TokenBridge, max_new: int) -> FinishReason:
    if bridge.filter.stopped or len(bridge.token_ids) < max_new:
        return "stop"
    return "stop" if bridge.token_ids and bridge.token_ids[-1] in loaded.eos_ids else "length"


def _generate_in_thread(
    loaded: LoadedCheckpoint, prompt: Prompt, settings: GenerationSettings, max_new: int, bridge: TokenBridge
) -> None:
    """The generation thread's body: wait for the model, generate, always end the bridge."""
    import torch

    try:
        with loaded.generation_lock:
            if bridge.should_stop():
                return  # closed while waiting for the lock
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
            model = loaded.model
            input_ids = torch.tensor([prompt.ids], device=model.device)
            extra = {name: _on_model(value, model) for name, value in prompt.inputs.items()}
            tokenizer = loaded.tokenizer
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            with torch.inference_mode():
                loaded.model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    max_new_tokens=max_new,
                    streamer=bridge,
                    stopping_criteria=[_StopRequested(bridge)],
                    pad_token_id=pad,
                    **extra,
                    **sampling_arguments(settings),
                )
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the waiting stream
        bridge.fail(exc)
    finally:
        bridge.end()


def _on_model(value: Any, model: Any) -> Any:
    """A processor output moved to the model's device; floating-point ones (pixel values) in its dtype too."""
    if not hasattr(value, "to"):
        return value
    if value.is_floating_point():
        return value.to(device=model.device, dtype=model.dtype)
    return value.to(model.device)


class _StopRequested:
    """A stopping criterion: true once the stream was closed or reached a stop string."""

    def __init__(self, bridge: TokenBridge) -> None:
        self.bridge = bridge

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.bridge.should_stop(), dtype=torch.bool, device=input_ids.device)
