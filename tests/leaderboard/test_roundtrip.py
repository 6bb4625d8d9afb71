"""Import the LLMFAO votes, compute the leaderboard, export the battles, and reproduce it with the command line.

LLMFAO, Dmitry Ustalov; base responses from the llmonitor.com Crowdsourced LLM Benchmark (CC BY 4.0).
"""

from __future__ import annotations

import csv
import io
import json
import random

import pytest
from django.db.models import QuerySet

from arena.imports import battles_import
from arena.models import ArenaModel, Battle, Vote
from leaderboard.models import Snapshot
from leaderboard.snapshots import snapshot_refresh
from ratings.cli import main as ratings_cli
from tests.factories import battle_voted, model

pytestmark = pytest.mark.django_db
ROUNDS, SEED = 20, 11


@pytest.fixture
def llmfao_snapshot(sample_data) -> Snapshot:
    summary = battles_import(sample_data / "llmfao_battles.json", source="llmfao")
    assert summary.created == 8931
    snapshot = next(s for s in snapshot_refresh(rounds=ROUNDS, seed=SEED) if s.view == "overall")
    assert snapshot.result["rows"]  # read now: a refresh returns its snapshots with their results read on first use
    return snapshot


def export(client, snapshot: Snapshot, tmp_path, name: str = "battles.jsonl"):
    response = client.get(f"/leaderboard/snapshots/{snapshot.pk}/battles.jsonl")
    assert response.status_code == 200
    path = tmp_path / name
    path.write_bytes(b"".join(response.streaming_content))
    return path


def cli_rows(path) -> list[dict[str, str]]:
    out, err = io.StringIO(), io.StringIO()
    status = ratings_cli([str(path), "--format", "csv", "--rounds", str(ROUNDS), "--seed", str(SEED)], out, err)
    assert status == 0, err.getvalue()
    assert "skipped" not in err.getvalue()
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_the_command_line_on_the_exported_battles_gives_the_pages_ratings_and_counts(client, llmfao_snapshot,
                                                                                     tmp_path) -> None:
    path = export(client, llmfao_snapshot, tmp_path)
    assert sum(1 for _ in path.open()) == llmfao_snapshot.votes == 8931
    from_cli = {r["model"]: r for r in cli_rows(path)}
    rows = llmfao_snapshot.result["rows"]
    assert len(from_cli) == len(rows) == 59
    for row in rows:
        mine = from_cli[row["model"]]
        assert float(mine["rating"]) == pytest.approx(row["rating"], abs=1e-6)
        assert [int(mine[c]) for c in ("battles", "wins", "losses", "ties")] == [
            row["battles"], row["wins"], row["losses"], row["ties"]]


def test_the_leaderboard_csv_serves_the_snapshots_numbers_in_the_command_lines_columns(client, llmfao_snapshot,
                                                                                        tmp_path) -> None:
    served = list(csv.DictReader(io.StringIO(client.get(f"/leaderboard/snapshots/{llmfao_snapshot.pk}.csv")
                                             .content.decode())))
    from_cli = cli_rows(export(client, llmfao_snapshot, tmp_path))
    assert [r["model"] for r in served] == [r["model"] for r in llmfao_snapshot.result["rows"]]
    for page, row in zip(served, llmfao_snapshot.result["rows"], strict=True):
        assert float(page["rating"]) == row["rating"] and float(page["lower"]) == row["lower"]
    by_name = {r["model"]: r for r in from_cli}
    for page in served:
        assert float(by_name[page["model"]]["rating"]) == pytest.approx(float(page["rating"]), abs=1e-6)
        assert by_name[page["model"]]["battles"] == page["battles"]


def test_the_command_line_reproduces_the_pages_intervals_and_ranks(client, llmfao_snapshot, tmp_path) -> None:
    from_cli = {r["model"]: r for r in cli_rows(export(client, llmfao_snapshot, tmp_path))}
    for row in llmfao_snapshot.result["rows"]:
        mine = from_cli[row["model"]]
        assert float(mine["lower"]) == pytest.approx(row["lower"], abs=1e-6)
        assert float(mine["upper"]) == pytest.approx(row["upper"], abs=1e-6)
        assert int(mine["rank_ub"]) == row["rank_ub"]


def test_re_importing_the_export_into_an_empty_database_gives_the_same_snapshot(client, llmfao_snapshot,
                                                                                tmp_path) -> None:
    path = export(client, llmfao_snapshot, tmp_path)
    Vote.objects.all().delete()
    Battle.objects.all().delete()
    ArenaModel.objects.all().delete()
    QuerySet.delete(Snapshot.objects.all())  # snapshots refuse to be deleted; this test starts an arena afresh
    summary = battles_import(path, source="export")
    assert (summary.created, sum(summary.rejected.values())) == (8931, 0)
    again = next(s for s in snapshot_refresh(rounds=ROUNDS, seed=SEED) if s.view == "overall")
    assert again.counts_hash == llmfao_snapshot.counts_hash
    assert again.result["rows"] == llmfao_snapshot.result["rows"]
    first_line = json.loads(path.open().readline())
    assert Battle.objects.filter(uuid=first_line["question_id"]).exists()


def test_the_style_controlled_view_survives_an_export_and_a_re_import(client, tmp_path) -> None:
    verbose, terse, plain = model("Verbose"), model("Terse"), model("Plain")
    rng = random.Random(8)
    for i in range(90):
        a, b = [(verbose, terse), (terse, plain), (plain, verbose)][i % 3]
        style = ([rng.randint(20, 500), rng.randint(0, 3), rng.randint(0, 6), rng.randint(0, 2)], [rng.randint(20, 500), 0, 1, 2])
        battle_voted(a, b, rng.choice(["a", "b", "tie"]), style=style, ip_hash=f"ip-{i}", turns=1 + i % 2)
    before = next(s for s in snapshot_refresh(rounds=ROUNDS, seed=SEED) if s.view == "style_control")
    assert before.result["rows"]  # read before the arena is wiped
    path = export(client, before, tmp_path)
    Vote.objects.all().delete()
    Battle.objects.all().delete()
    QuerySet.delete(Snapshot.objects.all())  # snapshots refuse to be deleted; this test starts an arena afresh
    assert battles_import(path, source="export").created == 90
    after = next(s for s in snapshot_refresh(rounds=ROUNDS, seed=SEED) if s.view == "style_control")
    assert after.counts_hash == before.counts_hash
    assert after.result["rows"] == before.result["rows"]
    assert after.result["parameters"] == before.result["parameters"]
