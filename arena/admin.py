from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.timezone import localtime

from . import probes, services
from .forms import ArenaModelForm
from .models import AdminAlert, Answer, ArenaModel, Battle, Turn, TurnImage, Vote
from .tasks import model_probe

PROBE_REFRESH_SECONDS = 2


@admin.register(ArenaModel)
class ArenaModelAdmin(admin.ModelAdmin):
    form = ArenaModelForm
    list_display = ("name", "organization", "adapter_kind", "provider_model", "state", "tested", "sampling_weight",
                    "accepts_images", "demo")
    list_filter = ("state", "adapter_kind", "accepts_images", "organization")
    search_fields = ("name", "organization", "provider_model")
    actions = ("test_models", "activate_models", "pause_models", "deprecate_models")
    readonly_fields = ("last_test", "created_at", "updated_at")
    fieldsets = (
        (None, {
            "fields": ("name", "organization", "aliases", "license", "link", "state", "sampling_weight"),
            "description": "A new model starts paused and stays out of battles and public lists. Save it, select it "
                           "in the model list and run Test, then Activate: a model becomes active only with a "
                           "passing Test of its current connection and generation settings.",
        }),
        ("Test", {"fields": ("last_test",)}),
        ("Release", {"fields": ("released_at", "prerelease_variants")}),
        ("Connection", {
            "fields": ("adapter_kind", "provider_model", "base_url", "key_env", "key_file", "accepts_images"),
            "description": "The API key is never stored here: name the environment variable (or file) "
                           "that holds it on the workers.",
        }),
        ("Generation", {"fields": ("generation", "timeouts", "options")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(boolean=True, description="Demo")
    def demo(self, obj: ArenaModel) -> bool:
        return obj.is_demo

    @admin.display(boolean=True, description="Passing test")
    def tested(self, obj: ArenaModel) -> bool:
        return obj.has_passing_test()

    @admin.display(description="Last test")
    def last_test(self, obj: ArenaModel) -> str:
        """When the last Test ran, its outcome, and whether it still holds for the settings as they are now."""
        if obj.tested_at is None:
            return "Never tested. Run Test from the model list; a model can be activated only after it passes."
        outcome = "Passed" if obj.test_ok else "Failed"
        line = f"{outcome} on {localtime(obj.tested_at):%Y-%m-%d %H:%M %Z}: {obj.test_summary}"
        if obj.test_fingerprint != obj.adapter_fingerprint():
            line += " The connection or generation settings changed since: run Test again."
        return line

    def has_delete_permission(self, request: HttpRequest, obj: ArenaModel | None = None) -> bool:
        if obj is not None and obj.has_battles():
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ArenaModel]) -> None:
        battled = [m.name for m in queryset if m.has_battles()]
        if battled:
            self.message_user(
                request, f"Not deleted: {', '.join(battled)} took part in battles; deprecate instead.", messages.ERROR
            )
            return
        super().delete_queryset(request, queryset)

    @admin.action(description="Test: stream a short reply from the selected models")
    def test_models(self, request: HttpRequest, queryset: QuerySet[ArenaModel]) -> HttpResponse:
        """Queue one probe per model (they run concurrently on the workers) and show the probe page."""
        started = []
        for model in queryset:
            probe = probes.probe_new(model)
            model_probe.apply_async((probe.model_id, probe.token), queue=probe.queue)
            started.append(probe)
        batch = probes.probes_store(started)
        return HttpResponseRedirect(f"{reverse('admin:arena_arenamodel_probes')}?{urlencode({'batch': batch})}")

    def get_urls(self) -> list[URLPattern]:
        probes_page = self.admin_site.admin_view(self.probes_view)
        return [path("probes/", probes_page, name="arena_arenamodel_probes"), *super().get_urls()]

    def probes_view(self, request: HttpRequest) -> HttpResponse:
        """Each probe's report as a message once it has arrived; the page reloads itself until all have."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        batch = probes.probes_load(request.GET.get("batch", ""))
        waiting = []
        for probe in batch:
            report = probes.probe_report(probe)
            if report is None:
                waiting.append(probe)
            else:
                level = messages.SUCCESS if report["ok"] else messages.ERROR
                self.message_user(request, f"{probe.model_name}: {report['summary']}", level)
        context = {
            **self.admin_site.each_context(request),
            "title": "Model tests",
            "opts": self.model._meta,
            "known": bool(batch),
            "waiting": waiting,
            "refresh_seconds": PROBE_REFRESH_SECONDS,
        }
        return TemplateResponse(request, "admin/arena/arenamodel/probes.html", context)

    @admin.action(description="Deprecate the selected models (they stop battling, scores stay)")
    def deprecate_models(self, request: HttpRequest, queryset: QuerySet[ArenaModel]) -> None:
        count = queryset.update(state=ArenaModel.State.DEPRECATED)
        self.message_user(request, f"Deprecated {count} model(s).")

    @admin.action(description="Pause the selected models")
    def pause_models(self, request: HttpRequest, queryset: QuerySet[ArenaModel]) -> None:
        count = queryset.update(state=ArenaModel.State.PAUSED)
        self.message_user(request, f"Paused {count} model(s).")

    @admin.action(description="Activate the selected models (each needs a passing Test of its current settings)")
    def activate_models(self, request: HttpRequest, queryset: QuerySet[ArenaModel]) -> None:
        count, refused = services.models_activate(model_ids=list(queryset.values_list("pk", flat=True)))
        if refused:
            self.message_user(request, "Nothing was activated: a model becomes active only after a passing Test of "
                                       f"its current settings; run Test first. {'; '.join(refused)}.", messages.ERROR)
            return
        self.message_user(request, f"Activated {count} model(s).")


class ReadOnly:
    """Browsable, never written: for records that are history (battles, votes, snapshots)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):
    pass


class TurnInline(ReadOnly, admin.StackedInline):
    model = Turn
    fields = ("index", "prompt", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


class TurnImageInline(ReadOnly, admin.TabularInline):
    """The prompt's images, as stored (cleaned); staff may open each at /images/<sha256>."""

    model = TurnImage
    fields = ("position", "picture", "size", "source_type", "source_size")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="Image")
    def picture(self, obj: TurnImage) -> str:
        url = reverse("arena-image", args=[obj.image_id])
        return format_html('<a href="{}"><img src="{}" alt="Image {}" style="max-height: 96px"></a>', url, url,
                           obj.position)

    @admin.display(description="Stored")
    def size(self, obj: TurnImage) -> str:
        image = obj.image
        return f"{image.width}×{image.height}, {image.media_type}, {image.size:,} bytes, public: " + (
            "yes" if image.public_since else "no")


class AnswerInline(ReadOnly, admin.TabularInline):
    model = Answer
    fields = ("side", "status", "text", "output_tokens", "time_to_first_token", "latency", "finish_reason", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Battle)
class BattleAdmin(ReadOnlyAdmin):
    list_display = ("uuid", "created_at", "mode", "model_a", "model_b", "status", "has_images", "vote_outcome")
    list_filter = ("mode", "status", "has_images", "created_at", "model_a", "model_b")
    search_fields = ("uuid",)
    date_hierarchy = "created_at"
    inlines = (TurnInline,)
    list_select_related = ("model_a", "model_b", "vote")

    @admin.display(description="Vote")
    def vote_outcome(self, obj: Battle) -> str:
        vote = getattr(obj, "vote", None)
        return vote.get_outcome_display() if vote else "—"


@admin.register(Turn)
class TurnAdmin(ReadOnlyAdmin):
    list_display = ("battle", "index", "created_at")
    inlines = (TurnImageInline, AnswerInline)


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdmin):
    """The review page: every vote with the rule that left it out and its evidence; reinstate or exclude."""

    list_display = ("battle", "outcome", "counts", "excluded_reason", "evidence_summary", "reinstated_at",
                    "time_to_vote", "regenerated", "created_at")
    list_filter = ("counts", "excluded_reason", "outcome", "regenerated", "created_at")
    date_hierarchy = "created_at"
    exclude = ("session_key", "ip_hash")
    actions = ("reinstate_votes", "exclude_votes")

    @admin.display(description="Evidence")
    def evidence_summary(self, obj: Vote) -> str:
        return services.evidence_summary(obj.evidence)

    @admin.action(description="Reinstate the selected votes (count them)")
    def reinstate_votes(self, request: HttpRequest, queryset: QuerySet[Vote]) -> None:
        count = services.votes_reinstate(vote_ids=list(queryset.values_list("pk", flat=True)),
                                         by=request.user.get_username())
        self.message_user(request, f"Reinstated {count} vote(s); they count from the next leaderboard refresh.")

    @admin.action(description="Exclude the selected votes after review")
    def exclude_votes(self, request: HttpRequest, queryset: QuerySet[Vote]) -> None:
        count = services.votes_exclude(vote_ids=list(queryset.values_list("pk", flat=True)),
                                       by=request.user.get_username())
        self.message_user(request, f"Excluded {count} vote(s) ({services.ADMIN_REVIEW}); they are kept, not counted.")


@admin.register(AdminAlert)
class AdminAlertAdmin(admin.ModelAdmin):
    """Alerts raised by the arena itself (a human-check verifier that cannot be reached, ...)."""

    list_display = ("created_at", "source", "message", "resolved")
    list_filter = ("resolved", "source")
    readonly_fields = ("created_at", "source", "message")
    actions = ("resolve_alerts",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Mark the selected alerts as resolved")
    def resolve_alerts(self, request: HttpRequest, queryset: QuerySet[AdminAlert]) -> None:
        self.message_user(request, f"Resolved {queryset.update(resolved=True)} alert(s).")
