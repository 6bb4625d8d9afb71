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

Options: ``device`` (``auto``, ``cpu``, ``cuda``) and ``dtype`` (``auto``,
``bfloat16``, ``float16``, ``float32``). Seeds are honoured (under the lock).
torch and transformers are imported only when a model is first loaded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ModelAdapter
from .conversation import FinishReason, GenerationSettings, Message, StreamMeta
from .errors import BadRequest, ConfigurationError
from .local_stream import TokenBridge, run_in_thread

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "bfloat16", "float16", "float32")


@dataclass
class LoadedCheckpoint:
    """A tokenizer and model in memory, with the lock that serialises generation on them."""

    path: str
    tokenizer: Any
    model: Any
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
        value = getattr(self.model.config, "max_position_embeddings", None)
        return value if isinstance(value, int) else None


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


def _load(path: str, device: str, dtype: str) -> LoadedCheckpoint:
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigurationError("the checkpoint's tokenizer has no chat template")
    on_gpu = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    torch_dtype = getattr(torch, dtype) if dtype != "auto" else (torch.bfloat16 if on_gpu else torch.float32)
    kwargs: dict[str, Any] = {"local_files_only": True, _dtype_argument(transformers.__version__): torch_dtype}
    if on_gpu:
        kwargs["device_map"] = "auto"
    model = transformers.AutoModelForCausalLM.from_pretrained(path, **kwargs)
    model.eval()
    return LoadedCheckpoint(path=path, tokenizer=tokenizer, model=model)


def _dtype_argument(version: str) -> str:
    """transformers 4.56 renamed ``torch_dtype`` to ``dtype``."""
    major, minor = (int(p) for p in version.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def encode_conversation(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """The prompt's token ids, through the checkpoint's own chat template."""
    chat = [{"role": m.role, "content": m.content} for m in messages]
    try:
        prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # noqa: BLE001 - templates raise anything (e.g. "roles must alternate")
        raise BadRequest(f"the chat template rejected the conversation ({type(exc).__name__}: {exc})") from None
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return list(ids)


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

    async def _generate(
        self, messages: Sequence[Message], settings: GenerationSettings, meta: StreamMeta
    ) -> AsyncIterator[str]:
        options = self.config.options
        device, dtype = str(options.get("device", "auto")), str(options.get("dtype", "auto"))
        loaded = await asyncio.to_thread(load_checkpoint, self.config.model, device=device, dtype=dtype)
        prompt = encode_conversation(loaded.tokenizer, messages)
        max_new = settings.max_tokens
        if loaded.context_length is not None:
            max_new = min(max_new, loaded.context_length - len(prompt))
            if max_new < 1:
                raise BadRequest("the conversation is longer than the model's context")
        meta.input_tokens = len(prompt)
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
    loaded: LoadedCheckpoint, prompt: list[int], settings: GenerationSettings, max_new: int, bridge: TokenBridge
) -> None:
    """The generation thread's body: wait for the model, generate, always end the bridge."""
    import torch

    try:
        with loaded.generation_lock:
            if bridge.should_stop():
                return  # closed while waiting for the lock
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
            device = loaded.model.device
            input_ids = torch.tensor([prompt], device=device)
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
                    **sampling_arguments(settings),
                )
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the waiting stream
        bridge.fail(exc)
    finally:
        bridge.end()


class _StopRequested:
    """A stopping criterion: true once the stream was closed or reached a stop string."""

    def __init__(self, bridge: TokenBridge) -> None:
        self.bridge = bridge

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.bridge.should_stop(), dtype=torch.bool, device=input_ids.device)
