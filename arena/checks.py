"""The admin's "Test" action: a short reply streamed by a worker, through the workers' own code path.

It runs on a worker (on the model's queue) because that is where the keys and
the GPU are; the worker leaves its report in the cache, where the admin waits for it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from django.core.cache import cache

from model_adapters import AdapterError, Message, StreamingResponse, StreamResult, collect
from model_adapters.registry import spec_for

from .adapters import generation_settings, model_adapter
from .models import ArenaModel

CHECK_PROMPT = "Reply with a short greeting."
REPORT_TTL = 300


def adapter_check(model: ArenaModel, *, wait: float = 60.0) -> dict[str, Any]:
    """Ask a worker to test ``model`` and wait for its report."""
    from .tasks import adapter_check_task

    token = secrets.token_hex(8)
    queue = spec_for(model.adapter_kind).queue
    adapter_check_task.apply_async((model.pk, token), queue=queue)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        report = cache.get(_report_key(token))
        if report is not None:
            cache.delete(_report_key(token))
            return dict(report)
        time.sleep(0.1)
    return {"ok": False, "summary": f"no worker answered within {wait:g} s; is a worker consuming the {queue!r} queue?"}


def adapter_check_report(model_id: int, token: str) -> None:
    """Run the check on this worker and leave the report where the admin waits for it."""
    cache.set(_report_key(token), adapter_check_run(ArenaModel.objects.get(pk=model_id)), REPORT_TTL)


def adapter_check_run(model: ArenaModel) -> dict[str, Any]:
    try:
        adapter = model_adapter(model)
        response = adapter.stream([Message("user", CHECK_PROMPT)], generation_settings(model, max_tokens=32))
        result = asyncio.run(_check_stream(response))
    except AdapterError as exc:
        return {"ok": False, "summary": f"failed: {type(exc).__name__}: {exc}"}
    except ValueError as exc:
        return {"ok": False, "summary": f"failed: the model's settings are invalid: {exc}"}
    except Exception as exc:  # noqa: BLE001 - the admin must get a report, whatever broke on the worker
        return {"ok": False, "summary": f"failed unexpectedly: {type(exc).__name__}: {exc}"}
    reply = " ".join(result.text.split())
    if len(reply) > 80:
        reply = reply[:79] + "…"
    ttft = f"{result.time_to_first_token:.2f} s" if result.time_to_first_token is not None else "n/a"
    return {
        "ok": True,
        "summary": (
            f"OK in {result.latency:.2f} s (first token {ttft}, {result.output_tokens} output tokens, "
            f"finish: {result.finish_reason}): “{reply}”"
        ),
    }


async def _check_stream(response: StreamingResponse) -> StreamResult:
    async with response:  # closes the upstream request if this is cancelled
        return await collect(response)


def _report_key(token: str) -> str:
    return f"arena:adapter-check:{token}"
