"""Probing a registered model: one short reply streamed by a worker, through the workers' own code path.

The admin's "Test" action starts one probe per selected model (each a task on that model's
queue, where its keys and GPU are, so several run at once) and returns at once; the worker
leaves its report in the cache under the probe's token, and the admin's probe page shows each
report when it arrives. The worker also records the outcome on the model (``outcome_record``), with
the fingerprint of the settings it tested: only a passing test of the current settings lets a
model be activated (``ArenaModel.has_passing_test``, ``arena.services.models_activate``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from model_adapters import AdapterError, Image, Message, StreamingResponse, StreamResult, collect
from model_adapters.registry import spec_for

from .adapters import generation_settings, model_adapter
from .models import ArenaModel

PROBE_PROMPT = "Reply with a short greeting."
#: A model that accepts images is tested with one: a 32x32 PNG, red above blue.
PROBE_IMAGE_PROMPT = "Name the two colours of this image in a few words."
PROBE_WAIT_SECONDS = 60  # after this, a probe no worker answered is reported as such
REPORT_TTL = 300


@dataclass(frozen=True)
class Probe:
    """One probe the admin is waiting for."""

    token: str
    model_id: int
    model_name: str
    queue: str
    started: float  # time.time() when it was queued

    def waited_too_long(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) - self.started > PROBE_WAIT_SECONDS

    def unanswered(self) -> dict[str, Any]:
        return {"ok": False, "summary": f"no worker answered within {PROBE_WAIT_SECONDS} s; "
                                        f"is a worker consuming the {self.queue!r} queue?"}


def probe_new(model: ArenaModel) -> Probe:
    """A probe of ``model`` to queue (as ``arena.tasks.model_probe``) on its adapter's queue."""
    return Probe(secrets.token_hex(8), model.pk, model.name, spec_for(model.adapter_kind).queue, time.time())


def probe_report(probe: Probe) -> dict[str, Any] | None:
    """The worker's report (``ok``, ``summary``), the "no worker answered" report once too late, else None."""
    report = cache.get(_report_key(probe.token))
    if report is not None:
        return dict(report)
    return probe.unanswered() if probe.waited_too_long() else None


def probe_record(model_id: int, token: str) -> None:
    """Run the probe on this worker, record it on the model and leave the report where the admin looks for it."""
    model = ArenaModel.objects.get(pk=model_id)
    report = probe_run(model)
    outcome_record(model, report)
    cache.set(_report_key(token), report, REPORT_TTL)


def outcome_record(model: ArenaModel, report: dict[str, Any]) -> None:
    """Store a probe's outcome as the model's last test, for the settings ``model`` had when it was probed.

    An update of these fields only, so that an admin's edit saved meanwhile is kept; an edit of the adapter
    settings then no longer matches the fingerprint, and the model needs a new test.
    """
    fields = {"tested_at": timezone.now(), "test_ok": bool(report["ok"]), "test_summary": report["summary"],
              "test_fingerprint": model.adapter_fingerprint()}
    ArenaModel.objects.filter(pk=model.pk).update(**fields)
    for name, value in fields.items():
        setattr(model, name, value)


def probe_run(model: ArenaModel) -> dict[str, Any]:
    """Stream a short reply from ``model`` here and now; the report never raises."""
    try:
        adapter = model_adapter(model)
        message = Message("user", PROBE_IMAGE_PROMPT, (probe_image(),)) if model.accepts_images else Message(
            "user", PROBE_PROMPT)
        response = adapter.stream([message], generation_settings(model, max_tokens=32))
        result = asyncio.run(_probe_stream(response))
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


def probe_image() -> Image:
    """The image of a vision model's test: 32x32 pixels, the top half red, the bottom half blue, as PNG."""
    import io

    from PIL import Image as PILImage

    picture = PILImage.new("RGB", (32, 32), (255, 0, 0))
    picture.paste((0, 0, 255), (0, 16, 32, 32))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return Image("image/png", out.getvalue(), 32, 32)


def probes_store(probes: list[Probe]) -> str:
    """Keep a batch of probes for the admin's probe page; returns the batch id."""
    batch = secrets.token_hex(8)
    cache.set(_batch_key(batch), [asdict(p) for p in probes], REPORT_TTL)
    return batch


def probes_load(batch: str) -> list[Probe]:
    """The probes of a batch, [] when unknown or expired."""
    stored = cache.get(_batch_key(batch)) if batch.isalnum() else None
    return [Probe(**p) for p in stored or []]


async def _probe_stream(response: StreamingResponse) -> StreamResult:
    async with response:  # closes the upstream request if this is cancelled
        return await collect(response)


def _report_key(token: str) -> str:
    return f"arena:probe:{token}"


def _batch_key(batch: str) -> str:
    return f"arena:probe-batch:{batch}"
