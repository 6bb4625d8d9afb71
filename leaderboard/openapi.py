"""The OpenAPI 3.1 schema of the read-only API, kept in docs/openapi.json and served at /api/v1/openapi.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from arena.api import allow_methods


def schema_path() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "openapi.json"


def openapi_schema() -> dict[str, Any]:
    """The schema, read when asked for (never at import time)."""
    with schema_path().open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@allow_methods("GET", "HEAD")
def openapi_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi_schema(), json_dumps_params={"ensure_ascii": False})
