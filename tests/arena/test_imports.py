from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from arena.imports import battles_import
from arena.models import Answer, ArenaModel, Battle, Vote

pytestmark = pytest.mark.django_db
QUESTION = uuid.UUID("5f2c8e0a9b1d4c3e8f7a6b5c4d3e2f10")


def write_lines(path, records):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


@pytest.fixture
def dump(tmp_path):
    """A small Chatbot Arena-style file: good battles and one bad line of each kind."""
    return write_lines(tmp_path / "arena_dump.jsonl", [
        {"question_id": QUESTION.hex, "model_a": "Alpha", "model_b": "Beta", "winner": "model_a", "judge": "arena_user_1",
         "turn": 1, "anony": True, "language": "English", "tstamp": 1700000000.5,
         "conversation_a": [{"role": "user", "content": "Write a haiku"}, {"role": "assistant", "content": "Leaves"}],
         "conversation_b": [{"role": "user", "content": "Write a haiku"}, {"role": "assistant", "content": "Snow"}]},
        {"question_id": "q2", "model_a": "Beta", "model_b": "Gamma", "winner": "tie (bothbad)", "anony": False,
         "tstamp": 1700000100},
        {"model_a": "Gamma", "model_b": "Alpha", "winner": "tie"},
        {"model_a": "Alpha", "model_b": "Beta", "winner": "draw"},
        "{not json",
        {"model_a": "Alpha", "winner": "model_a"},
        {"question_id": "q2", "model_a": "Beta", "model_b": "Gamma", "winner": "model_a"},
        {"model_a": "Alpha", "model_b": "Beta", "winner": "model_b", "turn": "many"},
    ])


def test_it_creates_battles_votes_and_paused_models_without_an_adapter(dump) -> None:
    summary = battles_import(dump, source="arena")
    assert summary.created == 3
    assert sorted(summary.models_created) == ["Alpha", "Beta", "Gamma"]
    for found in ArenaModel.objects.all():
        assert (found.state, found.adapter_kind, found.base_url, found.key_env) == ("paused", "", "", "")
    assert Vote.objects.count() == 3 and Battle.objects.filter(status="voted", source="arena").count() == 3


def test_it_rejects_bad_lines_with_their_line_number_and_reason(dump) -> None:
    summary = battles_import(dump, source="arena")
    assert [(p.line, p.reason) for p in summary.problems] == [
        (4, "unknown winner 'draw'"),
        (5, "not valid JSON (Expecting property name enclosed in double quotes)"),
        (6, "missing field model_b"),
        (7, "duplicate question_id 'q2'"),
        (8, "turn must be a positive whole number, got 'many'"),
    ]
    assert sum(summary.rejected.values()) == 5


def test_it_keeps_the_fastchat_fields_of_each_battle(dump) -> None:
    battles_import(dump, source="arena")
    first = Battle.objects.get(external_id=QUESTION.hex)
    assert first.uuid == QUESTION
    assert (first.mode, first.language, first.turn_count) == ("anonymous", "English", 1)
    assert first.vote.created_at == datetime.fromtimestamp(1700000000.5, tz=UTC)
    assert first.vote.outcome == "a" and first.vote.counts and first.vote.time_to_vote is None
    assert first.turns.get().prompt == "Write a haiku"
    assert dict(Answer.objects.filter(turn__battle=first).values_list("side", "text")) == {"a": "Leaves", "b": "Snow"}
    assert first.session_key.startswith("import:") and "arena_user_1" not in first.session_key and first.ip_hash == ""
    shown = Battle.objects.get(external_id="q2")
    assert (shown.mode, shown.vote.outcome, shown.vote.counts, shown.vote.excluded_reason) == (
        "side_by_side", "both_bad", False, "side_by_side")


def test_a_second_import_of_the_same_file_skips_every_battle(dump) -> None:
    battles_import(dump, source="arena")
    again = battles_import(dump, source="arena")
    assert (again.created, again.skipped, sum(again.rejected.values())) == (0, 3, 5)
    assert Battle.objects.count() == 3


def test_lines_without_a_question_id_are_identified_by_content_and_line(tmp_path) -> None:
    same = {"model_a": "Alpha", "model_b": "Beta", "winner": "model_a"}
    path = write_lines(tmp_path / "plain.jsonl", [same, same])
    assert battles_import(path, source="plain").created == 2
    assert battles_import(path, source="plain").skipped == 2
    assert Battle.objects.values("external_id").distinct().count() == 2


def test_the_command_prints_a_summary_of_created_skipped_and_rejected_lines(dump, capsys) -> None:
    call_command("import_battles", str(dump), "--no-progress")
    out, err = capsys.readouterr()
    assert "Created 3 battles, skipped 0 already imported, rejected 5." in out
    assert "rejected 1: unknown winner 'draw'" in out
    assert "arena_dump.jsonl:4: rejected: unknown winner 'draw'" in err
    assert Battle.objects.filter(source="arena_dump").count() == 3  # the default source is the file's name


def test_the_command_reports_a_file_that_cannot_be_read(tmp_path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_battles", str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("[{\"model_a\": ")
    with pytest.raises(CommandError, match="line 1"):
        call_command("import_battles", str(broken))


def test_fastchat_style_counts_are_kept_for_the_style_controlled_view(tmp_path) -> None:
    metadata = {"sum_assistant_a_tokens": 120, "header_count_a": {"h1": 1, "h2": 2}, "list_count_a": 4,
                "bold_count_a": 0, "sum_assistant_b_tokens": 40, "header_count_b": 0, "list_count_b": 0,
                "bold_count_b": 1}
    path = write_lines(tmp_path / "styled.jsonl", [
        {"model_a": "Alpha", "model_b": "Beta", "winner": "model_a", "conv_metadata": metadata, "turn": 2}])
    battles_import(path, source="styled")
    assert dict(Answer.objects.values_list("side", "style")) == {"a": [120.0, 3.0, 4.0, 0.0], "b": [40.0, 0.0, 0.0, 1.0]}
    assert Battle.objects.get().turn_count == 2


def test_the_shared_llmfao_file_imports_in_seconds_with_every_vote_counted(sample_data) -> None:
    # LLMFAO, Dmitry Ustalov; base responses from the llmonitor.com Crowdsourced LLM Benchmark (CC BY 4.0).
    calls = []
    summary = battles_import(sample_data / "llmfao_battles.json", source="llmfao",
                             progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (1000, 8931) and calls[-1] == (8931, 8931)
    assert (summary.created, sum(summary.rejected.values()), len(summary.models_created)) == (8931, 0, 59)
    assert Vote.objects.filter(counts=True).count() == 8931
