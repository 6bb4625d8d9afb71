from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from arena.admin import ReadOnlyAdmin

from .models import Snapshot
from .retention import snapshot_images_release, snapshot_publish


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ("computed_at", "title", "votes", "ci_method", "rounds", "seed", "published", "code_version")
    list_filter = ("published", "view", "computed_at")
    exclude = ("result",)
    actions = ["publish_runs", "release_images"]

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("leaderboard.publish_snapshot"))

    @admin.action(description="Publish the selected snapshots' runs (kept forever, offered as stable links)",
                  permissions=["publish"])
    def publish_runs(self, request: HttpRequest, queryset: QuerySet[Snapshot]) -> None:
        runs = set(queryset.values_list("run", flat=True))
        count = snapshot_publish(runs)
        self.message_user(request, f"Published {count} snapshot(s) of {len(runs)} run(s); they are never deleted.")

    @admin.action(description="Make the images of the selected snapshots public (anyone may fetch them; their "
                  "conversations export links to them; the run is published)", permissions=["publish"])
    def release_images(self, request: HttpRequest, queryset: QuerySet[Snapshot]) -> None:
        made = sum(snapshot_images_release(snapshot, request.user.get_username()) for snapshot in queryset)
        self.message_user(request, f"{made} image(s) are public now, for {queryset.count()} snapshot(s); images of "
                          "other battles stay private.")
