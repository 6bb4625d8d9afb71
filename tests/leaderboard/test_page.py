from __future__ import annotations

import re
import uuid
from html import escape, unescape
from typing import Any

import pytest
from django.test import Client, override_settings

from arena.models import ArenaModel
from leaderboard.models import Snapshot
from leaderboard.snapshots import snapshot_refresh
from ratings.leaderboard import describe_method
from tests.factories import battle_voted, model
from tests.leaderboard.test_snapshots import play

pytestmark = pytest.mark.django_db


def snapshot_of(ratings: dict[str, tuple[float, int]], *, view: str = "overall", title: str = "Overall",
                run: uuid.UUID | None = None, votes: int = 500, flags: dict[str, list[str]] | None = None,
                result_extra: dict[str, Any] | None = None, **fields: Any) -> Snapshot:
    """A snapshot written directly, for shapes that real votes cannot easily produce."""
    ordered = sorted(ratings.items(), key=lambda item: -item[1][0])
    rows = [{"model": name, "rating": rating, "lower": rating - 20, "upper": rating + 20, "rank_ub": i + 1,
             "battles": battles, "wins": 0, "losses": 0, "ties": 0, "online_elo": None, "flags": (flags or {}).get(name, [])}
            for i, (name, (rating, battles)) in enumerate(ordered)]
    names = sorted(ratings)
    n = len(names)
    matrices = {"battle_counts": [[None if i == j else 10 for j in range(n)] for i in range(n)],
                "win_rates": [[None if i == j else 0.5 for j in range(n)] for i in range(n)]}
    defaults: dict[str, Any] = {
        "run": run or uuid.uuid4(), "view": view, "title": title, "vote_id_min": 1, "vote_id_max": votes, "votes": votes,
        "excluded": {}, "filters": {"ruleset": 1, "view": view, "description": "Every counted vote.",
                                    "style_control": False},
        "method": "bradley_terry", "ci_method": "bootstrap", "rounds": 100, "seed": 0, "code_version": "0.1.0+abc",
        "counts_hash": "0" * 64,
        "result": {"rows": rows, "metadata": {"notes": []}, "parameters": [], "names": names, "matrices": matrices,
                   **(result_extra or {})},
    }
    defaults.update(fields)
    return Snapshot.objects.create(**defaults)


def page(client: Client, url: str = "/leaderboard", status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status
    return response.content.decode()


def table_models(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [unescape(name) for name in re.findall(r'<th scope="row" data-value="([^"]*)"', body)]


def visible_models(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr([^>]*)>\s*<td[^>]*>[^<]*</td>\s*<th scope=\"row\" data-value=\"([^\"]*)\"", body)
    return [unescape(name) for attrs, name in rows if " hidden" not in attrs]


def tabs(html: str) -> list[str]:
    nav = html.split('aria-label="Leaderboard views"', 1)[1].split("</nav>", 1)[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", t).split()) for t in re.findall(r"<a [^>]*>(.*?)</a>", nav, re.S)]


def test_before_any_vote_the_page_says_no_votes_yet_and_how_the_leaderboard_appears(client: Client) -> None:
    html = page(client)
    assert "No votes yet" in html
    assert "appears once people have voted" in html
    assert 'href="/leaderboard" aria-current="page">Leaderboard</a>' in html


def test_the_page_ranks_the_models_with_their_organisation_license_link_interval_and_votes(client: Client) -> None:
    play(60)
    snapshot_refresh(rounds=20, seed=1)
    ArenaModel.objects.filter(name="Strong").update(organization="Acme AI", license="MIT")
    html = page(client)
    assert table_models(html) == ["Strong", "Middle", "Weak"]
    row = html.split('data-value="Strong"', 1)[1].split("</tr>", 1)[0]
    assert 'href="https://example.org/strong"' in row and "Acme AI · MIT" in row
    overall = Snapshot.objects.get(view="overall").result["rows"][0]
    assert f"{overall['lower']:.0f}–{overall['upper']:.0f}" in row
    assert f'data-value="{overall["battles"]}">{overall["battles"]}</td>' in row
    assert 'class="interval-bar" aria-hidden="true"' in row


@override_settings(ARENA_PROVISIONAL_VOTES=100)
def test_models_with_fewer_votes_than_the_threshold_are_marked_provisional(client: Client) -> None:
    snapshot_of({"Seasoned": (1050, 400), "Newcomer": (1010, 99), "Borderline": (990, 100)})
    html = page(client)
    marked = [name for name in table_models(html)
              if 'badge provisional' in html.split(f'data-value="{name}"', 1)[1].split("</tr>", 1)[0]]
    assert marked == ["Newcomer"]
    assert "fewer than 100 votes" in html


def test_deprecated_models_are_hidden_until_asked_for_and_keep_their_rank(client: Client) -> None:
    model("Retired", state=ArenaModel.State.DEPRECATED)
    model("Current")
    snapshot_of({"Retired": (1100, 500), "Current": (1000, 500)})
    html = page(client)
    assert table_models(html) == ["Retired", "Current"] and visible_models(html) == ["Current"]
    assert "Show deprecated models (1)" in html
    shown = page(client, "/leaderboard?deprecated=1")
    assert visible_models(shown) == ["Retired", "Current"]
    assert re.search(r'<td class="num" data-value="1"[^>]*>1</td>\s*<th scope="row" data-value="Retired"', shown)


def test_a_model_that_never_lost_is_flagged_because_its_rating_is_only_a_floor(client: Client) -> None:
    snapshot_of({"Unbeaten": (1300, 20), "Other": (1000, 20)}, flags={"Unbeaten": ["never_lost"]})
    html = page(client)
    unbeaten, other = (html.split(f'data-value="{name}"', 1)[1].split("</tr>", 1)[0] for name in ("Unbeaten", "Other"))
    assert "never lost" in unbeaten and "only a floor" in unbeaten
    assert "never lost" not in other


def test_the_table_can_be_sorted_without_javascript_by_following_a_column_link(client: Client) -> None:
    snapshot_of({"Popular": (1000, 900), "Best": (1100, 300), "Rare": (900, 50)})
    html = page(client, "/leaderboard?sort=votes")
    assert table_models(html) == ["Popular", "Best", "Rare"]
    assert re.search(r'data-sort-key="votes"[^>]*aria-sort="descending"', html)
    assert table_models(page(client, "/leaderboard?sort=model")) == ["Best", "Popular", "Rare"]
    assert table_models(page(client, "/leaderboard?sort=nonsense")) == ["Best", "Popular", "Rare"]


@override_settings(ARENA_CATEGORY_MIN_VOTES=10)
def test_each_view_is_a_tab_with_its_own_vote_count_and_a_small_category_is_left_out(client: Client) -> None:
    play(30, turns=2)
    play(6, seed=2, has_code=True)
    snapshot_refresh(rounds=10)
    html = page(client)
    assert tabs(html) == ["Overall 36 votes", "Style-controlled 36 votes", "Multi-turn 30 votes", "Language: en 36 votes"]
    multi = page(client, "/leaderboard?view=multi_turn")
    assert "Battles with follow-up questions." in multi and "rated from 30\n      votes" in multi
    assert re.search(r'aria-current="page">Multi-turn', multi)
    missing = page(client, "/leaderboard?view=code", status=404)
    assert "No leaderboard view “code”" in missing and "at least\n    10 counted votes" in missing
    assert "Overall" in tabs(missing)[0]


def test_an_unknown_view_is_not_found_with_a_message(client: Client) -> None:
    snapshot_of({"A": (1000, 10), "B": (1000, 10)})
    html = page(client, "/leaderboard?view=<b>bogus</b>", status=404)
    assert "No leaderboard view “&lt;b&gt;bogus&lt;/b&gt;”" in html


def test_the_page_states_when_and_how_the_snapshot_was_computed_and_what_was_left_out(client: Client) -> None:
    snapshot_of({"A": (1010, 300), "B": (990, 300)}, votes=321, seed=42, rounds=250, code_version="0.1.0+deadbeef",
                excluded={"too_fast": 3, "ip_daily_cap": 0, "failed_battle": 2})
    html = page(client)
    computed = Snapshot.objects.get().computed_at
    assert f"{computed:%Y-%m-%d %H:%M} UTC" in html
    assert "321 votes counted in this view" in html
    assert "Bradley–Terry (maximum likelihood). " + escape(describe_method({"notes": []})) in html
    assert "<dt>Seed</dt><dd>42</dd>" in html and "<code>0.1.0+deadbeef</code>" in html
    assert "3 cast too soon to have read both answers; 2 battles that failed" in html
    assert "daily cap" not in html  # a reason with no votes is not listed


def test_the_page_lists_each_rule_with_its_version_and_thresholds_and_what_it_left_out(client: Client) -> None:
    from leaderboard.rules import Rules

    filters = {"view": "overall", "description": "Every counted vote.", "style_control": False,
               **Rules.from_settings().to_filters()}
    snapshot_of({"A": (1010, 300), "B": (990, 300)}, filters=filters,
                excluded={"not_counted:identity_leak": 4, "not_counted:incomplete_answer": 1})
    html = page(client)
    assert "<code>identity_leak</code> v1" in html
    assert "<code>too_fast</code> v1 (min_vote_seconds = 2.0)" in html
    assert "4 battles where an answer named a model (identity leak); 1 battles with an answer cut off" in html


def test_the_page_says_how_many_votes_would_reverse_each_top_place(client: Client) -> None:
    fragility = {"method": "m", "votes": 91_000, "max_share": 0.5, "pairs": [
        {"rank": 1, "above": "A", "below": "B", "votes": 37, "share": 37 / 91_000, "budget": 45_500, "refits": 9},
        {"rank": 2, "above": "B", "below": "C", "votes": None, "share": None, "budget": 45_500, "refits": 40}]}
    snapshot_of({"A": (1030, 500), "B": (1010, 500), "C": (950, 500)}, result_extra={"fragility": fragility})
    text = " ".join(re.sub(r"<[^>]+>", " ", page(client)).split())
    assert "Rank 1: A stays above B unless 37 votes (0.041% of 91,000) are removed." in text
    assert "Rank 2: B stays above C even with 45,500 votes (50% of 91,000) removed" in text


def test_without_fragility_figures_the_page_has_no_fragility_section(client: Client) -> None:
    snapshot_of({"A": (1010, 300), "B": (990, 300)})
    assert "How fragile" not in page(client)


def test_a_snapshot_keeps_its_stable_address_after_a_newer_run(client: Client) -> None:
    old = snapshot_of({"Early": (1000, 10), "Bird": (1000, 10)}, votes=20)
    snapshot_of({"Later": (1000, 10), "Comer": (1000, 10)}, votes=40)
    assert table_models(page(client)) == ["Later", "Comer"]
    html = page(client, f"/leaderboard/snapshots/{old.pk}")
    assert table_models(html) == ["Early", "Bird"]
    assert "This is an older snapshot" in html
    assert tabs(html) == ["Overall 20 votes"]
    page(client, "/leaderboard/snapshots/999999", status=404)


def test_a_snapshot_with_a_single_model_still_renders_its_row_and_charts(client: Client) -> None:
    snapshot_of({"Solo": (1000, 0)}, votes=0)
    html = page(client)
    assert table_models(html) == ["Solo"]
    assert html.count('role="img"') == 3


def test_a_model_no_longer_in_the_database_still_renders_without_metadata(client: Client) -> None:
    model("Known")
    snapshot_of({"Known": (1010, 50), "Vanished": (990, 50)})
    html = page(client)
    row = html.split('data-value="Vanished"', 1)[1].split("</tr>", 1)[0]
    assert "Organisation unknown · License unknown" in row and "href" not in row


def test_the_charts_have_titles_descriptions_and_the_numbers_as_tables(client: Client) -> None:
    snapshot_of({"A": (1050, 20), "B": (1000, 20), "C": (950, 20)})
    html = page(client)
    for chart in ("chart-intervals", "chart-win-rates", "chart-battle-counts"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
        assert f'<title id="{chart}-title">' in html and f'<desc id="{chart}-desc">' in html
    assert "Win rate — Overall, top 3 models by rating, as a table" in html
    assert html.count("<details>") == 2


def test_the_heatmaps_show_at_most_fifteen_models(client: Client) -> None:
    snapshot_of({f"Model {i:02}": (1000 + i, 10) for i in range(20)})
    html = page(client)
    assert "top 15 models by rating" in html
    assert "Model 19" in html.split('id="chart-win-rates"', 1)[1] and "Model 04" not in html.split('id="chart-win-rates"', 1)[1]


def test_a_hostile_model_name_is_shown_as_text_in_the_table_and_the_charts(client: Client) -> None:
    hostile = '<script>alert("pwned")</script>'
    model(hostile, link="javascript:alert(1)")
    snapshot_of({hostile: (1010, 10), "Fine": (990, 10)})
    html = page(client)
    assert "<script>alert" not in html and "javascript:" not in html
    assert html.count("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;") >= 5  # table, charts, heatmap tables


def test_the_page_keeps_to_the_content_security_policy(client: Client) -> None:
    snapshot_of({"A": (1010, 10), "B": (990, 10)})
    html = page(client)
    assert " style=" not in html and "<style" not in html
    assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", html))
    assert '<script type="module" src="/static/leaderboard/leaderboard.js">' in html


def test_the_page_links_to_its_downloads_and_says_how_to_reproduce_it(client) -> None:
    from leaderboard.snapshots import snapshot_refresh
    from tests.factories import battle_voted, model

    a, b = model("Left"), model("Right")
    for i in range(6):
        battle_voted(a, b, "a" if i % 3 else "b", ip_hash=f"ip-{i}")
    snapshot = snapshot_refresh(rounds=20, seed=4)[0]
    page = client.get("/leaderboard").content.decode()
    for url in (f"/leaderboard/snapshots/{snapshot.pk}.csv", f"/leaderboard/snapshots/{snapshot.pk}.json",
                f"/leaderboard/snapshots/{snapshot.pk}/battles.jsonl"):
        assert f'href="{url}"' in page
        assert client.get(url).status_code == 200
    assert "python -m ratings battles.jsonl --rounds 20 --seed 4" in page


def test_unbounded_interval_sides_show_as_infinity_in_the_table_and_run_off_the_charts(client: Client) -> None:
    snapshot = snapshot_of({"Unbeaten": (1400, 30), "Middle": (1000, 30), "Winless": (600, 30)},
                           flags={"Unbeaten": ["never_lost", "upper_unbounded"], "Winless": ["lower_unbounded"]})
    rows = snapshot.result["rows"]
    rows[0]["upper"], rows[2]["lower"] = None, None
    Snapshot.objects.filter(pk=snapshot.pk).update(result=snapshot.result)
    html = page(client)
    unbeaten, winless = (html.split(f'data-value="{name}"', 1)[1].split("</tr>", 1)[0] for name in ("Unbeaten", "Winless"))
    assert f"{rows[0]['lower']:.0f}–<span title=\"unbounded above\">+∞</span>" in unbeaten
    assert "<span title=\"unbounded below\">−∞</span>–" in winless and "upper unbounded" in unbeaten
    assert html.count('class="unbounded"') == 4  # an arrowhead in the table's bar and in the interval plot, each
    assert "not computed" not in html


def test_views_wait_for_their_minimum_votes_and_a_model_with_too_few_is_rated_but_not_ranked(client: Client) -> None:
    play(60)  # three models, 40 votes each
    newcomer, weak = model("Newcomer"), model("Weak")
    for outcome in "aab":
        battle_voted(newcomer, weak, outcome, ip_hash="new")  # two wins, one loss: rated high on almost nothing
    with override_settings(ARENA_STYLE_MIN_VOTES=64, ARENA_RANK_MIN_VOTES=10):
        first = {s.view: s for s in snapshot_refresh(rounds=20)}
        assert "style_control" not in first  # 63 counted votes, 64 needed
        overall = first["overall"]
        assert overall.filters["rank_min_votes"] == 10 and overall.filters["style_min_votes"] == 64
        rows = overall.result["rows"]
        assert rows[-1]["model"] == "Newcomer" and rows[-1]["rank_ub"] is None
        assert "too_few_battles" in rows[-1]["flags"] and all(r["rank_ub"] for r in rows[:-1])
        placed = {name for p in overall.result["fragility"]["pairs"] for name in (p["above"], p["below"])}
        assert placed and "Newcomer" not in placed
        html = page(client)
        cell = html.split('data-value="Newcomer"', 1)[0].rsplit("<tr", 1)[1]
        assert "not ranked: fewer than 10 votes in this view" in cell
        assert "with fewer than 10 votes in this view is rated but not ranked" in " ".join(html.split())
        assert table_models(page(client, "/leaderboard?sort=rank"))[-1] == "Newcomer"
        battle_voted(weak, newcomer, "b", ip_hash="new")
        assert "style_control" in {s.view for s in snapshot_refresh(rounds=20)}
