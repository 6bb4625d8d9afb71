"""Adapter kinds, mapped to their classes by dotted path and imported on first use.

A web process that only lists kinds never imports a provider module, so the
local-checkpoint adapter's torch import happens only on a GPU worker.
Adding a provider is a new module plus one :class:`AdapterSpec` line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .base import AdapterConfig, ModelAdapter
from .errors import ConfigurationError


@dataclass(frozen=True)
class AdapterSpec:
    """What the admin and the task router need to know about a kind, without importing it."""

    kind: str
    path: str
    label: str
    queue: str = "default"  # the Celery queue whose workers may run this kind
    requires_key: bool = True
    requires_base_url: bool = False
    supports_images: bool = False  # the adapter sends images (local: only checkpoints with an image processor)
    help: str = ""


SPECS: tuple[AdapterSpec, ...] = (
    AdapterSpec(
        "demo", "model_adapters.demo.DemoAdapter", "Offline demo model", requires_key=False, supports_images=True,
        help="Streams built-in text with realistic pacing; no network, no key. Model id picks the persona. "
        "Takes images: the answer starts with one sentence per image (its size and main colours).",
    ),
    AdapterSpec(
        "openai", "model_adapters.openai_compat.OpenAICompatAdapter", "OpenAI-compatible chat completions",
        requires_key=False, requires_base_url=True, supports_images=True,
        help="OpenAI, vLLM, SGLang, TGI, llama.cpp server, Ollama, OpenRouter, DeepSeek, xAI, Mistral, Together, "
        "Groq, … by base URL (the one ending in /v1). Key optional. Options: include_usage, max_tokens_field, "
        "extra_body. Images go as image_url parts with data: URLs (the served model must be a vision model).",
    ),
    AdapterSpec(
        "anthropic", "model_adapters.anthropic.AnthropicAdapter", "Anthropic Messages API", supports_images=True,
        help="Base URL defaults to https://api.anthropic.com. Options: anthropic_version. "
        "Images go as base64 image blocks.",
    ),
    AdapterSpec(
        "gemini", "model_adapters.gemini.GeminiAdapter", "Google Gemini", supports_images=True,
        help="Base URL defaults to https://generativelanguage.googleapis.com. Options: api_version. "
        "Images go as inline_data parts.",
    ),
    AdapterSpec(
        "local", "model_adapters.local.LocalCheckpointAdapter", "Local checkpoint (GPU worker)",
        queue="gpu", requires_key=False, supports_images=True,
        help="Model id is the path of a Hugging Face format directory on the GPU worker. "
        "Options: device (auto, cpu, cuda), dtype (auto, bfloat16, float16, float32). "
        "Takes images only when the checkpoint has an image processor (a vision-language checkpoint).",
    ),
)

_BY_KIND = {spec.kind: spec for spec in SPECS}


def kinds() -> tuple[str, ...]:
    """Every registered adapter kind, in the order the admin offers them."""
    return tuple(_BY_KIND)


def spec_for(kind: str) -> AdapterSpec:
    """The spec of ``kind``; a ConfigurationError naming the known kinds when there is none."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise ConfigurationError(f"unknown adapter kind {kind!r}; known kinds: {', '.join(_BY_KIND)}") from None


def adapter_class(kind: str) -> type[ModelAdapter]:
    """Import and return the class for ``kind``."""
    module_name, _, class_name = spec_for(kind).path.rpartition(".")
    module = importlib.import_module(module_name)
    cls: type[ModelAdapter] = getattr(module, class_name)
    return cls


def adapter_for(kind: str, config: AdapterConfig, **kwargs: Any) -> ModelAdapter:
    """Build the adapter for ``kind``; keyword arguments go to its constructor (e.g. ``transport``)."""
    return adapter_class(kind)(config, **kwargs)
