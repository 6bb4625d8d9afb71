"""The registry: kinds to classes by dotted path, imported on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from model_adapters import AdapterConfig, ConfigurationError, registry
from model_adapters.base import ModelAdapter

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("spec", registry.SPECS, ids=lambda s: s.kind)
def test_every_spec_points_at_an_adapter_class_that_agrees_with_it(spec):
    cls = registry.adapter_class(spec.kind)
    assert issubclass(cls, ModelAdapter)
    assert cls.kind == spec.kind
    assert cls.requires_key == spec.requires_key
    assert cls.requires_base_url == spec.requires_base_url
    assert cls.supports_images == spec.supports_images
    assert spec.label and spec.help


def test_only_the_local_checkpoint_runs_on_the_gpu_queue():
    assert {s.kind for s in registry.SPECS if s.queue == "gpu"} == {"local"}


def test_an_unknown_kind_is_a_configuration_error_naming_the_known_ones():
    with pytest.raises(ConfigurationError, match="openai"):
        registry.adapter_for("nope", AdapterConfig(model="m"))


def test_importing_the_package_and_every_adapter_class_never_imports_torch():
    code = (
        "import sys, model_adapters, model_adapters.registry as r\n"
        "for kind in r.kinds(): r.adapter_class(kind)\n"
        "import model_adapters.cli\n"
        "heavy = [m for m in ('torch', 'transformers', 'django') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
