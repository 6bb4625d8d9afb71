from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms

from model_adapters import GenerationSettings, Timeouts
from model_adapters.registry import spec_for

from .models import ADAPTER_SETTINGS, ArenaModel, adapter_fingerprint
from .services import activation_refusal


class ArenaModelForm(forms.ModelForm):
    link = forms.URLField(required=False, assume_scheme="https", help_text=ArenaModel._meta.get_field("link").help_text)

    class Meta:
        model = ArenaModel
        fields = "__all__"  # the last test's fields are not editable: only a test run writes them
        widgets = {
            "generation": forms.Textarea(attrs={"rows": 3, "cols": 60}),
            "timeouts": forms.Textarea(attrs={"rows": 2, "cols": 60}),
            "options": forms.Textarea(attrs={"rows": 3, "cols": 60}),
        }

    def clean_generation(self) -> dict[str, Any]:
        return _json_object(self.cleaned_data.get("generation"), GenerationSettings.from_mapping, '{"max_tokens": 1024}')

    def clean_timeouts(self) -> dict[str, Any]:
        return _json_object(self.cleaned_data.get("timeouts"), Timeouts.from_mapping, '{"first_token": 30}')

    def clean_options(self) -> dict[str, Any]:
        return _json_object(self.cleaned_data.get("options"), dict, '{"delay": 0.03}')

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        kind = data.get("adapter_kind")
        if not kind:
            if data.get("state") == ArenaModel.State.ACTIVE:
                self.add_error(
                    "adapter_kind", "An active model needs an adapter; models without one only carry imported results."
                )
            return data
        spec = spec_for(kind)
        if spec.requires_base_url and not data.get("base_url"):
            self.add_error("base_url", f"The {spec.label} adapter needs a base URL.")
        if spec.requires_key and not (data.get("key_env") or data.get("key_file")):
            self.add_error("key_env", "This adapter needs a key: name the environment variable (or file) that holds it.")
        if data.get("state") == ArenaModel.State.ACTIVE:
            self._activation_check(data)
        return data

    def _activation_check(self, data: dict[str, Any]) -> None:
        """The rule of the Activate action, for the form: saved active only with a passing Test of the settings
        being saved. A model already active whose adapter settings stay the same keeps its state."""
        fingerprint = adapter_fingerprint({field: data.get(field, getattr(self.instance, field))
                                           for field in (*ADAPTER_SETTINGS, "accepts_images")})
        stays = self.instance.pk is not None and self.instance.state == ArenaModel.State.ACTIVE and (
            fingerprint == self.instance.adapter_fingerprint())
        why = "" if stays else activation_refusal(self.instance, fingerprint=fingerprint)
        if why:
            self.add_error("state", f"A model becomes active only after a passing Test, and {why}. Save it paused, "
                                    "select it in the model list and run Test, then Activate.")


def _json_object(value: Any, parse: Callable[[dict[str, Any]], object], example: str) -> dict[str, Any]:
    """A JSON object that ``parse`` accepts, or a validation error with parse's own message."""
    value = value or {}
    if not isinstance(value, dict):
        raise forms.ValidationError(f"Enter a JSON object, e.g. {example}.")
    try:
        parse(value)
    except (TypeError, ValueError) as exc:
        raise forms.ValidationError(str(exc)) from None
    return value
