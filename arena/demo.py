"""The offline demo models a fresh arena starts with."""

from __future__ import annotations

import logging

from . import probes, services
from .models import ArenaModel

logger = logging.getLogger(__name__)

DEMO_MODELS = (
    ("Demo Pelican (offline)", "pelican", "Short, direct answers."),
    ("Demo Heron (offline)", "heron", "Structured answers with Markdown and code."),
    ("Demo Ibis (offline)", "ibis", "Long, friendly answers."),
)


def demo_models_ensure() -> list[ArenaModel]:
    """Create the demo models that are missing, tested and active; return the ones created.

    They go through the rule every model does: each new one runs the admin's Test here (the demo adapter is
    offline, a fraction of a second each), is recorded, and is activated only if it passed.
    """
    created = []
    for name, persona, _ in DEMO_MODELS:
        model, was_created = ArenaModel.objects.get_or_create(
            name=name,
            defaults={
                "organization": "Arena (built-in demo)",
                "license": "Apache-2.0",
                "adapter_kind": "demo",
                "provider_model": persona,
                "options": {"delay": 0.03},
                "accepts_images": True,  # the demo adapter describes an image's size and colours
            },
        )
        if was_created:
            _test_and_activate(model)
            created.append(model)
    return created


def _test_and_activate(model: ArenaModel) -> None:
    probes.outcome_record(model, probes.probe_run(model))
    _, refused = services.models_activate(model_ids=[model.pk])
    if refused:
        logger.warning("The demo model %s stays paused: %s", model.name, "; ".join(refused))
    model.refresh_from_db(fields=["state"])
