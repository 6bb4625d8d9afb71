from django.contrib import admin

from arena.admin import ReadOnlyAdmin

from .models import Snapshot


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ("computed_at", "title", "votes", "rounds", "seed", "code_version")
    list_filter = ("view", "computed_at")
    exclude = ("result",)
