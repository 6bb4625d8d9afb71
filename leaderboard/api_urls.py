"""Leaderboard files, battle exports and the JSON API; the HTML page owns /leaderboard and /leaderboard/snapshots/<pk>."""

from django.urls import URLPattern, path

from . import api
from .openapi import openapi_view

urlpatterns: list[URLPattern] = [
    path("leaderboard/latest/<str:view>.csv", api.leaderboard_latest_csv, name="leaderboard-latest-csv"),
    path("leaderboard/latest/<str:view>.json", api.leaderboard_latest_json, name="leaderboard-latest-json"),
    path("leaderboard/snapshots/<int:pk>.csv", api.leaderboard_snapshot_csv, name="leaderboard-snapshot-csv"),
    path("leaderboard/snapshots/<int:pk>.json", api.leaderboard_snapshot_json, name="leaderboard-snapshot-json"),
    path("leaderboard/snapshots/<int:pk>/battles.jsonl", api.snapshot_battles, name="leaderboard-snapshot-battles"),
    path("exports/battles.jsonl", api.battles_all, name="exports-battles"),
    path("api/v1/snapshots", api.api_snapshots, name="api-snapshots"),
    path("api/v1/snapshots/latest", api.api_snapshot_latest, name="api-snapshot-latest"),
    path("api/v1/snapshots/<int:pk>", api.api_snapshot, name="api-snapshot"),
    path("api/v1/models", api.api_models, name="api-models"),
    path("api/v1/openapi.json", openapi_view, name="api-openapi"),
]
