"""The bridge from a registered ArenaModel to the model_adapters package."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from model_adapters import AdapterConfig, GenerationSettings, ModelAdapter, Timeouts
from model_adapters.registry import adapter_for

from .models import ArenaModel


def adapter_config(model: ArenaModel) -> AdapterConfig:
    return AdapterConfig(
        model=model.provider_model,
        base_url=model.base_url,
        key_env=model.key_env,
        key_file=model.key_file,
        options=dict(model.options or {}),
        timeouts=Timeouts.from_mapping(model.timeouts or {}),
    )


def generation_settings(model: ArenaModel, **overrides: Any) -> GenerationSettings:
    values = {"max_tokens": settings.ARENA_MAX_TOKENS, **(model.generation or {}), **overrides}
    return GenerationSettings.from_mapping(values)


def model_adapter(model: ArenaModel) -> ModelAdapter:
    return adapter_for(model.adapter_kind, adapter_config(model))


def local_models_preload() -> list[str]:
    """Load every active local checkpoint into this worker process now, not on its first request.

    For GPU workers (``ARENA_PRELOAD_LOCAL_MODELS=1`` in their environment only): the first voter
    then does not wait for the weights to load. Returns the names of the models loaded.
    """
    from model_adapters.local import load_checkpoint

    loaded = []
    for model in ArenaModel.objects.filter(adapter_kind="local", state=ArenaModel.State.ACTIVE):
        options = model.options or {}
        load_checkpoint(model.provider_model, device=str(options.get("device", "auto")),
                        dtype=str(options.get("dtype", "auto")))
        loaded.append(model.name)
    return loaded
