"""The public leaderboard page: the latest run of snapshots, or one exact snapshot, with SVG charts.

Everything shown comes from an immutable :class:`Snapshot`; only the models' display metadata
(organisation, license, link, state) is joined at render time, by name, so that an edit in the
admin shows at once and a model no longer in the database still renders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET

import ratings.leaderboard as engine
from arena.models import ArenaModel

from . import charts
from .models import Snapshot
from .selectors import snapshot_latest, snapshot_published_latest, snapshot_run_views

HEATMAP_MODELS = 15  # beyond this a heatmap's numbers stop being readable
# The page's words for the snapshot's machine values (the snapshot, the exports and the API keep the keys).
METHODS = {"bradley_terry": gettext_lazy("Bradley–Terry (maximum likelihood)")}
EXCLUSIONS = {
    "too_fast": gettext_lazy("cast too soon to have read both answers"),
    "ip_daily_cap": gettext_lazy("over the daily cap of votes from one address"),
    "duplicate_prompt": gettext_lazy("beyond the cap on one often-repeated prompt (down-sampled)"),
    "failed_battle": gettext_lazy("battles that failed (no vote possible)"),
    "not_counted:side_by_side": gettext_lazy("side-by-side battles (the voter chose the models)"),
    "not_counted:identity_leak": gettext_lazy("battles where an answer named a model (identity leak)"),
    "not_counted:incomplete_answer": gettext_lazy("battles with an answer cut off or unfinished"),
    "not_counted:admin_review": gettext_lazy("left out by an admin after review"),
    "not_counted:anomalous_voter": gettext_lazy("from voters flagged as anomalous (checked after each vote)"),
}
FLAG_NAMES = {
    "never_lost": gettext_lazy("never lost"),
    "never_won": gettext_lazy("never won"),
    "disconnected": gettext_lazy("disconnected"),
    "lower_unbounded": gettext_lazy("lower unbounded"),
    "upper_unbounded": gettext_lazy("upper unbounded"),
    "too_few_battles": gettext_lazy("too few battles"),
}
FLAGS = {
    "never_lost": gettext_lazy("never lost a battle: its rating and upper bound are only a floor"),
    "never_won": gettext_lazy("never won a battle: its rating and lower bound are only a ceiling"),
    "disconnected": gettext_lazy("never compared, even indirectly, with the main group of models"),
    "lower_unbounded": gettext_lazy("no lower bound: in enough bootstrap replicates it never won, so its rating fell "
                                    "without limit"),
    "upper_unbounded": gettext_lazy("no upper bound: in enough bootstrap replicates it never lost, so its rating rose "
                                    "without limit"),
    "too_few_battles": gettext_lazy("too few votes in this view to be ranked: its interval says too little to place "
                                    "it above or below anyone"),
}
STYLE_FEATURES = {"style_length": gettext_lazy("Answer length"), "style_headers": gettext_lazy("Markdown headers"),
                  "style_lists": gettext_lazy("Markdown lists"), "style_bold": gettext_lazy("Bold text")}
# The views' titles and descriptions as the page shows them; a snapshot stores them in English (its ``title`` and
# ``filters.description``), which stays the fallback for a view not listed here.
VIEW_TITLES = {
    "overall": gettext_lazy("Overall"),
    "style_control": gettext_lazy("Style-controlled"),
    "multi_turn": gettext_lazy("Multi-turn"),
    "long_prompt": gettext_lazy("Long prompts"),
    "code": gettext_lazy("Prompts with code"),
    "vision": gettext_lazy("Vision"),
}
VIEW_DESCRIPTIONS = {
    "overall": gettext_lazy("Every counted vote."),
    "style_control": gettext_lazy("Every counted vote, controlling for answer length and Markdown (headers, lists, "
                                  "bold)."),
    "multi_turn": gettext_lazy("Battles with follow-up questions."),
    "code": gettext_lazy("First prompt contains code."),
    "vision": gettext_lazy("Battles with at least one image in a prompt."),
}


@dataclass(frozen=True)
class BoardRow:
    rank: int | None  # None: too few votes to be ranked
    model: str
    organization: str
    license: str
    link: str
    deprecated: bool
    rating: float
    lower: float | None
    upper: float | None
    lower_unbounded: bool
    upper_unbounded: bool
    votes: int
    provisional: bool
    provisional_why: str
    bar: SafeString
    flags: list[tuple[str, str]]


@dataclass(frozen=True)
class Column:
    key: str
    label: str | Promise  # gettext_lazy: a column's label is in the language of the page that shows it
    descending: bool  # the natural direction: best or most first
    value: Callable[[BoardRow], Any]


COLUMNS = (
    Column("rank", gettext_lazy("Rank (UB)"), False, lambda r: (r.rank is None, r.rank or 0, -r.rating)),
    Column("model", gettext_lazy("Model"), False, lambda r: r.model.casefold()),
    Column("rating", gettext_lazy("Rating"), True, lambda r: r.rating),
    Column("votes", gettext_lazy("Votes"), True, lambda r: r.votes),
)


@dataclass(frozen=True)
class Tab:
    title: str
    votes: int
    url: str
    current: bool


@dataclass(frozen=True)
class Heatmap:
    key: str
    title: str
    caption: str
    svg: SafeString
    labels: list[str]
    rows: list[tuple[str, list[str]]]


@require_GET
def leaderboard(request: HttpRequest) -> HttpResponse:
    """The latest run; ``?view=<key>`` picks one of its views."""
    latest = snapshot_latest("overall")
    if latest is None:
        return render(request, "leaderboard/empty.html", {"min_votes": settings.ARENA_CATEGORY_MIN_VOTES})
    key = request.GET.get("view") or "overall"
    siblings = snapshot_run_views(latest.run)
    chosen = next((s for s in siblings if s.view == key), None)
    tabs = [Tab(view_title(s.view, s.title), s.votes, _view_url(s.view), s.view == key) for s in siblings]
    if chosen is None:
        context = {"key": key, "tabs": tabs, "min_votes": settings.ARENA_CATEGORY_MIN_VOTES}
        return render(request, "leaderboard/unknown_view.html", context, status=404)
    snapshot = Snapshot.objects.get(pk=chosen.pk)
    return _page(request, snapshot, tabs, is_latest=True)


@require_GET
def leaderboard_snapshot(request: HttpRequest, pk: int) -> HttpResponse:
    """One exact snapshot, for stable links; its tabs lead to the other views of the same run."""
    snapshot = get_object_or_404(Snapshot, pk=pk)
    siblings = snapshot_run_views(snapshot.run)
    tabs = [Tab(view_title(s.view, s.title), s.votes, reverse("leaderboard-snapshot", args=[s.pk]), s.pk == snapshot.pk)
            for s in siblings]
    latest = snapshot_latest("overall")
    return _page(request, snapshot, tabs, is_latest=latest is not None and latest.run == snapshot.run)


def view_title(key: str, stored: str) -> str:
    """A view's title in the page's language (a language view keeps its language code)."""
    if key in VIEW_TITLES:
        return str(VIEW_TITLES[key])
    if key.startswith("language:"):
        return _("Language: %(language)s") % {"language": key.removeprefix("language:")}
    return stored


def view_description(snapshot: Snapshot) -> str:
    """What a view counts, in the page's language; the snapshot's own sentence for a view not known here."""
    filters = snapshot.filters
    if snapshot.view in VIEW_DESCRIPTIONS:
        return str(VIEW_DESCRIPTIONS[snapshot.view])
    if snapshot.view == "long_prompt" and "long_prompt_chars" in filters:
        return _("First prompt of %(chars)s characters or more.") % {"chars": filters["long_prompt_chars"]}
    if snapshot.view.startswith("language:"):
        return _("First prompt in language %(language)r.") % {"language": snapshot.view.removeprefix("language:")}
    return str(filters.get("description", ""))


def method_description(metadata: dict[str, Any]) -> str:
    """:func:`ratings.leaderboard.describe_method` in the page's language (the engine has no Django, so no
    translations); in English the two say the same, word for word (tests/leaderboard/test_i18n_pages.py)."""
    ci = metadata.get("ci") or "bootstrap"
    pairs = (metadata.get("reweight") or "none") == "pairs"
    weighting = _("battles weighted by 1/max(pair count, %(min)s)") % {"min": engine.MIN_PAIR_COUNT}
    if ci == "bootstrap":
        rounds = metadata.get("rounds")
        text = (ngettext("95%% intervals from %(rounds)s bootstrap round (percentiles of refits on battles resampled "
                         "with replacement)",
                         "95%% intervals from %(rounds)s bootstrap rounds (percentiles of refits on battles resampled "
                         "with replacement)", rounds) % {"rounds": rounds} if rounds
                else _("95% bootstrap intervals (percentiles of refits on battles resampled with replacement)"))
        if pairs:
            return _("%(intervals)s, %(weighting)s, each resampled battle keeping its weight.") % {
                "intervals": text, "weighting": weighting}
        return _("%(intervals)s, every battle weighing the same.") % {"intervals": text}
    if ci == "sandwich":
        if pairs:
            return _("95%% sandwich (CLT) intervals, %(weighting)s as LMArena has done since July 2025.") % {
                "weighting": weighting}
        # xgettext:no-python-format
        return _("95% sandwich (CLT) intervals, every battle weighing the same.")
    if ci == "none":
        if pairs:
            return _("No confidence intervals were computed; %(weighting)s.") % {"weighting": weighting}
        return _("No confidence intervals were computed.")
    if pairs:
        return _("Intervals by %(method)s, %(weighting)s.") % {"method": ci, "weighting": weighting}
    return _("Intervals by %(method)s.") % {"method": ci}


def _view_url(key: str) -> str:
    url = reverse("leaderboard")
    return url if key == "overall" else f"{url}?{urlencode({'view': key})}"


def _page(request: HttpRequest, snapshot: Snapshot, tabs: list[Tab], *, is_latest: bool) -> HttpResponse:
    show_deprecated = request.GET.get("deprecated") == "1"
    column = next((c for c in COLUMNS if c.key == request.GET.get("sort")), COLUMNS[0])
    rows = board_rows(snapshot.result, provisional_votes=settings.ARENA_PROVISIONAL_VOTES)
    rows.sort(key=column.value, reverse=column.descending)
    shown = [r for r in rows if show_deprecated or not r.deprecated]
    context = {
        "snapshot": snapshot,
        "view_title": view_title(snapshot.view, snapshot.title),
        "view_description": view_description(snapshot),
        "tabs": tabs,
        "rows": rows,
        "columns": [_header(request, c, c is column) for c in COLUMNS],
        "show_deprecated": show_deprecated,
        "deprecated_count": sum(r.deprecated for r in rows),
        "provisional_votes": settings.ARENA_PROVISIONAL_VOTES,
        "rank_min_votes": snapshot.filters.get("rank_min_votes", 0),  # the snapshot's own threshold
        "is_latest": is_latest,
        "interval_chart": _interval_chart(snapshot, shown),
        "heatmaps": _heatmaps(snapshot, shown),
        "excluded": [(EXCLUSIONS.get(k, k.replace("_", " ")), n) for k, n in snapshot.excluded.items() if n],
        "method": METHODS.get(snapshot.method, snapshot.method),
        "method_description": method_description(snapshot.result.get("metadata", {})),
        "metadata": snapshot.result.get("metadata", {}),
        "preset": snapshot.filters.get("leaderboard_method"),  # absent in snapshots older than the presets
        "kept": None if snapshot.published else snapshot_published_latest(snapshot.view),
        "keep_hours": settings.ARENA_SNAPSHOT_KEEP_HOURS,
        "parameters": [{**p, "label": STYLE_FEATURES.get(p["name"], p["name"])} for p in snapshot.result.get("parameters", [])],
        "fragility": fragility_lines(snapshot.result.get("fragility")),
    }
    return render(request, "leaderboard/page.html", context)


def share_text(share: float) -> str:
    """A share as a percentage with two significant digits: 0.04%, 1.2%, 50%."""
    percent = 100 * share
    return f"{percent:.0f}%" if percent >= 10 else f"{percent:.2g}%"


def fragility_lines(fragility: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What the page says about each top place the snapshot checked (:mod:`ratings.fragility`)."""
    if not fragility:
        return []
    total = fragility["votes"]
    return [{**pair, "votes_text": f"{pair['votes']:,}" if pair["votes"] is not None else None,
             "share_text": share_text(pair["share"]) if pair["share"] is not None else None,
             "budget_text": f"{pair['budget']:,}", "budget_share": share_text(fragility["max_share"]),
             "total_text": f"{total:,}"} for pair in fragility["pairs"]]


def _header(request: HttpRequest, column: Column, current: bool) -> dict[str, Any]:
    query = request.GET.copy()
    query["sort"] = column.key
    direction = "descending" if column.descending else "ascending"
    return {"key": column.key, "label": column.label, "url": f"?{query.urlencode()}",
            "aria_sort": direction if current else "", "direction": direction}


def board_rows(result: dict[str, Any], *, provisional_votes: int) -> list[BoardRow]:
    """The snapshot's rows with each model's current display metadata, in rating order."""
    raw = result.get("rows", [])
    models = {m.name: m for m in ArenaModel.objects.filter(name__in=[r["model"] for r in raw])}
    fresh = result.get("fresh") or {"required": 0, "models": {}}
    domain = charts.interval_domain([_interval(r) for r in raw])
    rows = []
    for row in raw:
        found = models.get(row["model"]) or ArenaModel(name=row["model"])  # gone from the database: no metadata
        rows.append(BoardRow(
            rank=row["rank_ub"], model=row["model"], rating=row["rating"], lower=row["lower"], upper=row["upper"],
            lower_unbounded=row["lower"] is None and "lower_unbounded" in row.get("flags", []),
            upper_unbounded=row["upper"] is None and "upper_unbounded" in row.get("flags", []),
            organization=found.organization, license=found.license, link=_safe_link(found.link),
            deprecated=found.state == ArenaModel.State.DEPRECATED,
            votes=row["battles"], **_provisional(row, provisional_votes, fresh),
            flags=[(str(FLAG_NAMES.get(flag, flag.replace("_", " "))), str(FLAGS.get(flag, "")))
                   for flag in row.get("flags", [])],
            bar=mark_safe(charts.interval_bar(_interval(row), domain=domain)),  # charts escapes every label
        ))
    return rows


def _provisional(row: dict[str, Any], provisional_votes: int, fresh: dict[str, Any]) -> dict[str, Any]:
    """Whether a row is provisional, and why: too few votes, or too few since the release of a model tested in
    several private variants (the fresh-vote rule, stored with the snapshot)."""
    reasons = []
    if row["battles"] < provisional_votes:
        reasons.append(ngettext("Fewer than %(votes)s vote: the rating may still move a lot.",
                                "Fewer than %(votes)s votes: the rating may still move a lot.",
                                provisional_votes) % {"votes": provisional_votes})
    tested = fresh["models"].get(row["model"])
    if tested is not None and tested["fresh_votes"] < fresh["required"]:
        values = {"variants": tested["variants"], "required": fresh["required"], "fresh": tested["fresh_votes"]}
        if tested["released_at"]:
            reasons.append(_("Tested in %(variants)s private variants before release: provisional until %(required)s "
                             "counted votes since its public release; it has %(fresh)s.") % values)
        else:
            reasons.append(_("Tested in %(variants)s private variants before release: provisional until %(required)s "
                             "counted votes after a public release (it has none yet); it has %(fresh)s.") % values)
    return {"provisional": bool(reasons), "provisional_why": " ".join(reasons)}


def _safe_link(link: str) -> str:
    """Only web addresses become links: a model created outside the admin skipped URLField's validation."""
    return link if link.startswith(("https://", "http://")) else ""


def _interval(row: dict[str, Any]) -> charts.Interval:
    flags = row.get("flags", [])
    return charts.Interval(label=row["model"], rating=row["rating"], lower=row["lower"], upper=row["upper"],
                           lower_unbounded="lower_unbounded" in flags, upper_unbounded="upper_unbounded" in flags)


def _interval_chart(snapshot: Snapshot, rows: list[BoardRow]) -> SafeString:
    ordered = sorted(rows, key=lambda r: -r.rating)
    svg = charts.interval_plot(
        [charts.Interval(r.model, r.rating, r.lower, r.upper, r.lower_unbounded, r.upper_unbounded) for r in ordered],
        chart_id="chart-intervals",
        title=_("Ratings with 95%% intervals — %(view)s") % {"view": view_title(snapshot.view, snapshot.title)},
        description=ngettext(
            "%(count)s model from best to worst rated, each with its rating (dot) and 95%% interval (bar) on the Elo "
            "scale. The same numbers are in the Rating and 95%% interval columns of the table.",
            "%(count)s models from best to worst rated, each with its rating (dot) and 95%% interval (bar) on the Elo "
            "scale. The same numbers are in the Rating and 95%% interval columns of the table.",
            len(ordered)) % {"count": len(ordered)},
    )
    return mark_safe(svg)  # charts escapes every label


def _heatmaps(snapshot: Snapshot, rows: list[BoardRow]) -> list[Heatmap]:
    names: list[str] = snapshot.result.get("names", [])
    matrices: dict[str, list[list[float | None]]] = snapshot.result.get("matrices", {})
    index = {name: i for i, name in enumerate(names)}
    top = [r.model for r in sorted(rows, key=lambda r: -r.rating) if r.model in index][:HEATMAP_MODELS]
    specs = (
        ("win_rates", "rate", _("Win rate"), _("Share of battles the row model won against the column model (ties "
                                               "count half); red below 50%, blue above, grey where the pair never met.")),
        ("battle_counts", "count", _("Battle count"), _("Number of counted battles between each pair; darker blue "
                                                        "means more battles.")),
    )
    heatmaps = []
    for key, kind, title, description in specs:
        if key not in matrices:
            continue
        values = [[matrices[key][index[a]][index[b]] if a != b else None for b in top] for a in top]
        full = ngettext("%(chart)s — %(view)s, top %(count)s model by rating",
                        "%(chart)s — %(view)s, top %(count)s models by rating", len(top)) % {
            "chart": title, "view": view_title(snapshot.view, snapshot.title), "count": len(top)}
        svg = charts.heatmap(top, values, chart_id=f"chart-{key.replace('_', '-')}", title=full,
                             description=description, kind=kind)
        table = [(a, [charts.format_cell(v, kind) for v in row]) for a, row in zip(top, values, strict=True)]
        heatmaps.append(Heatmap(key, full, description, mark_safe(svg), top, table))  # charts escapes every label
    return heatmaps
