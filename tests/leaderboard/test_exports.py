from __future__ import annotations

import csv
import io
import json
import random
import tracemalloc
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from arena.models import Answer, Battle, Turn, Vote
from leaderboard.exports import all_battle_lines, csv_cell
from leaderboard.snapshots import snapshot_refresh, view_rows
from ratings.cli import COLUMNS
from ratings.cli import main as ratings_cli
from tests.factories import battle_voted, model

pytestmark = pytest.mark.django_db


def lines_of(response) -> list[dict]:
    assert response.status_code == 200
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def play(n: int, *, seed: int = 1, **fields) -> None:
    rng = random.Random(seed)
    strong, weak, mid = model("Strong"), model("Weak"), model("Middle")
    pairs = [(strong, weak), (weak, mid), (mid, strong), (weak, strong)]
    for i in range(n):
        a, b = pairs[i % len(pairs)]
        outcome = "a" if (a == strong) == (rng.random() < 0.8) else rng.choice(["b", "tie"])
        battle_voted(a, b, outcome, ip_hash=f"ip-{i % 7}", **fields)


@pytest.mark.parametrize("text", ["=SUM(A1:A9)", "+1", "-2+3", "@cmd", "\tTab", "\rReturn"])
def test_text_cells_that_a_spreadsheet_would_read_as_formulas_are_quoted(text) -> None:
    assert csv_cell(text) == "'" + text


def test_numbers_stay_numbers_in_csv_cells() -> None:
    assert (csv_cell(-12.5), csv_cell(3), csv_cell("Plain name"), csv_cell(None)) == ("-12.5", 3, "Plain name", "")


def test_the_leaderboard_csv_escapes_model_names_and_keeps_ratings_numeric(client) -> None:
    evil, good = model("=HYPERLINK(\"http://x\")", organization="@Org"), model("Good")
    for i in range(12):
        battle_voted(good, evil, "a" if i % 3 else "b", ip_hash=f"ip-{i}")
    snapshot = snapshot_refresh(rounds=20)[0]
    response = client.get(f"/leaderboard/snapshots/{snapshot.pk}.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="leaderboard-overall-{snapshot.pk}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert tuple(rows[0]) == (*COLUMNS, "organization", "license")
    escaped = next(r for r in rows if r["model"].startswith("'"))
    assert escaped["model"] == "'=HYPERLINK(\"http://x\")" and escaped["organization"] == "'@Org"
    assert all(float(r["rating"]) > 0 and int(r["battles"]) == 12 for r in rows)


def test_the_json_export_holds_the_snapshot_rows_and_matrices(client) -> None:
    play(24)
    snapshot = snapshot_refresh(rounds=20, seed=4)[0]
    data = client.get(f"/leaderboard/snapshots/{snapshot.pk}.json").json()
    assert data["snapshot"]["id"] == snapshot.pk and data["snapshot"]["seed"] == 4
    assert [r["rating"] for r in data["rows"]] == [r["rating"] for r in snapshot.result["rows"]]
    assert data["rows"][0]["organization"] == f"{data['rows'][0]['model']} Labs"
    assert len(data["matrices"]["battle_counts"]) == 3


def test_battles_are_exported_in_fastchat_fields_with_a_pseudonymous_judge(client) -> None:
    a, b = model("Alpha"), model("Beta")
    for outcome in ("a", "b", "tie", "both_bad"):
        battle_voted(a, b, outcome, ip_hash="203.0.113.9-hash", language="fr", turns=2)
    battle_voted(b, a, "a", ip_hash="other-voter")
    records = lines_of(client.get("/exports/battles.jsonl"))
    assert [r["winner"] for r in records] == ["model_a", "model_b", "tie", "tie (bothbad)", "model_a"]
    first = records[0]
    battle = Battle.objects.get(uuid=first["question_id"])
    assert (first["model_a"], first["model_b"], first["turn"], first["language"], first["anony"]) == (
        "Alpha", "Beta", 2, "fr", True)
    assert first["tstamp"] == battle.vote.created_at.timestamp()
    judges = [r["judge"] for r in records]
    assert judges[0].startswith("judge_") and len(set(judges[:4])) == 1 and judges[4] != judges[0]
    text = json.dumps(records)
    assert "203.0.113.9" not in text and "session-" not in text
    assert "conversation_a" not in first


def test_conversations_are_added_as_message_lists_only_when_asked(client) -> None:
    battle_voted(model("Alpha"), model("Beta"), "a", prompt="Name a bird", answers=("Heron", "Ibis"), turns=2)
    record = lines_of(client.get("/exports/battles.jsonl?conversations=1"))[0]
    assert record["conversation_a"] == [
        {"role": "user", "content": "Name a bird"}, {"role": "assistant", "content": "Heron"},
        {"role": "user", "content": "Follow-up 2"}, {"role": "assistant", "content": "Heron"}]
    assert record["conversation_b"][1] == {"role": "assistant", "content": "Ibis"}


def test_the_all_battles_export_says_which_votes_count_and_why_not(client) -> None:
    a, b = model("Alpha"), model("Beta")
    battle_voted(a, b, "a")
    battle_voted(a, b, "a", mode="side_by_side")
    battle_voted(a, b, "b", time_to_vote=0.5)
    records = lines_of(client.get("/exports/battles.jsonl"))
    assert [(r["counted"], r["excluded_reason"], r["anony"]) for r in records] == [
        (True, "", True), (False, "not_counted:side_by_side", False), (False, "too_fast", True)]
    since = records[0]["vote_id"]
    assert [r["vote_id"] for r in lines_of(client.get(f"/exports/battles.jsonl?since={since}"))] == [
        r["vote_id"] for r in records[1:]]


@override_settings(ARENA_CATEGORY_MIN_VOTES=10)
def test_a_snapshots_battle_export_holds_exactly_the_votes_it_used(client) -> None:
    play(30)
    play(12, seed=2, language="de", time_to_vote=0.1)      # too fast: never counted
    play(14, seed=3, language="de")
    play(3, seed=4, mode="side_by_side")
    for snapshot in snapshot_refresh(rounds=20):
        uuids = dict(Battle.objects.values_list("pk", "uuid"))
        expected = [uuids[r.battle_id].hex for r in view_rows(snapshot)]
        records = lines_of(client.get(f"/leaderboard/snapshots/{snapshot.pk}/battles.jsonl"))
        assert [r["question_id"] for r in records] == expected
        assert len(records) == snapshot.votes
    link = client.get("/leaderboard/latest/language:de.json").json()["snapshot"]["links"]["battles"]
    german = lines_of(client.get(link))
    assert len(german) == 14 and {r["language"] for r in german} == {"de"}


def test_the_style_controlled_export_lets_the_command_line_reproduce_that_view(client, tmp_path) -> None:
    verbose, terse = model("Verbose"), model("Terse")
    rng = random.Random(5)
    for i in range(60):
        long, short = [rng.randint(300, 500), 2, 5, 3], [rng.randint(20, 60), 0, 0, 0]
        a, b, style = (verbose, terse, (long, short)) if i % 2 else (terse, verbose, (short, long))
        outcome = "a" if (a == verbose) == (rng.random() < 0.7) else "b"
        battle_voted(a, b, outcome, style=style, ip_hash=f"ip-{i}")
    snapshot = next(s for s in snapshot_refresh(rounds=20) if s.view == "style_control")
    path = tmp_path / "style.jsonl"
    path.write_bytes(b"".join(client.get(f"/leaderboard/snapshots/{snapshot.pk}/battles.jsonl").streaming_content))
    out, err = io.StringIO(), io.StringIO()
    assert ratings_cli([str(path), "--format", "json", "--style-control", "--rounds", "20"], out, err) == 0, err.getvalue()
    cli = {r["model"]: r["rating"] for r in json.loads(out.getvalue())["rows"]}
    for row in snapshot.result["rows"]:
        assert cli[row["model"]] == pytest.approx(row["rating"], abs=1e-6)


def test_the_battle_export_streams_in_constant_memory() -> None:
    # 6,000 battles with 1.5 kB prompts and answers: about 36 MB of JSON lines, held a chunk at a time.
    a, b = model("Alpha"), model("Beta")
    when = timezone.now()
    battles = Battle.objects.bulk_create(
        [Battle(model_a=a, model_b=b, status="voted", session_key=f"s{i}", ip_hash=f"ip{i % 50}",
                created_at=when - timedelta(seconds=i)) for i in range(6000)], batch_size=2000)
    Vote.objects.bulk_create([Vote(battle=x, outcome="a", counts=True, session_key=x.session_key, ip_hash=x.ip_hash,
                                   created_at=x.created_at) for x in battles], batch_size=2000)
    turns = Turn.objects.bulk_create([Turn(battle=x, index=1, prompt=f"{x.pk:06d}" + "p" * 1500) for x in battles],
                                     batch_size=2000)
    Answer.objects.bulk_create([Answer(turn=t, side=side, status="done", text=f"{t.pk}{side}" + "w" * 1500)
                                for t in turns for side in "ab"], batch_size=2000)
    tracemalloc.start()
    try:
        size = count = 0
        for line in all_battle_lines(conversations=True):
            size, count = size + len(line), count + 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 6000 and size > 30_000_000
    assert peak < size / 4 and peak < 10_000_000


@pytest.mark.django_db(transaction=True)
async def test_over_asgi_the_battle_export_is_streamed_not_read_into_a_list(async_client) -> None:
    def play_three() -> None:
        for outcome in ("a", "b", "tie"):
            battle_voted(model("Alpha"), model("Beta"), outcome)

    await sync_to_async(play_three)()
    response = await async_client.get("/exports/battles.jsonl?conversations=1")
    assert response.status_code == 200 and response.is_async
    body = b"".join([chunk async for chunk in response.streaming_content])
    await sync_to_async(connections.close_all)()  # the database thread's connection, as the server would
    assert [json.loads(line)["winner"] for line in body.splitlines()] == ["model_a", "model_b", "tie"]


@override_settings(ARENA_SNAPSHOT_ROUNDS=5)
def test_a_snapshots_battles_keep_the_model_names_it_was_computed_with(client) -> None:
    play(8)
    snapshot = snapshot_refresh()[0]
    model("Strong").__class__.objects.filter(name="Strong").update(name="Strong v2")  # renamed after the snapshot
    old = lines_of(client.get(f"/leaderboard/snapshots/{snapshot.pk}/battles.jsonl"))
    assert {r["model_a"] for r in old} | {r["model_b"] for r in old} == {"Strong", "Weak", "Middle"}
    now = lines_of(client.get("/exports/battles.jsonl"))
    assert "Strong v2" in {r["model_a"] for r in now} | {r["model_b"] for r in now}  # the live export: today's name


def test_unbounded_interval_sides_are_infinite_in_the_csv_and_null_with_their_flag_in_the_json(client) -> None:
    from leaderboard.models import Snapshot
    from tests.leaderboard.test_page import snapshot_of

    snapshot = snapshot_of({"Unbeaten": (1400, 30), "Winless": (600, 30)},
                           flags={"Unbeaten": ["upper_unbounded"], "Winless": ["lower_unbounded"]})
    rows = snapshot.result["rows"]
    rows[0]["upper"], rows[1]["lower"] = None, None
    Snapshot.objects.filter(pk=snapshot.pk).update(result=snapshot.result)
    served = list(csv.DictReader(io.StringIO(client.get(f"/leaderboard/snapshots/{snapshot.pk}.csv").content.decode())))
    assert (served[0]["upper"], served[1]["lower"]) == ("inf", "-inf")
    assert float(served[0]["upper"]) == float("inf") and float(served[0]["lower"]) == rows[0]["lower"]
    data = client.get(f"/leaderboard/snapshots/{snapshot.pk}.json").json()
    assert data["rows"][0]["upper"] is None and "upper_unbounded" in data["rows"][0]["flags"]
    assert client.get(f"/api/v1/snapshots/{snapshot.pk}").status_code == 200
