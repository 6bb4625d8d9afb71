"""The offline demo models a fresh arena starts with."""

from __future__ import annotations

from .models import ArenaModel

DEMO_MODELS = (
    ("Demo Pelican (offline)", "pelican", "Short, direct answers."),
    ("Demo Heron (offline)", "heron", "Structured answers with Markdown and code."),
    ("Demo Ibis (offline)", "ibis", "Long, friendly answers."),
)


def demo_models_ensure() -> list[ArenaModel]:
    """Create the demo models that are missing; return the ones created."""
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
            },
        )
        if was_created:
            created.append(model)
    return created
