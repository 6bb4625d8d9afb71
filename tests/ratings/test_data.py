import json

import numpy as np
import pytest

from ratings.data import Battles, battles_from_records, load_battles
from ratings.outcomes import BOTH_BAD, TIE, Outcome

RECORDS = [
    {"model_a": "x", "model_b": "y", "winner": "model_a", "tstamp": 3.0},
    {"model_a": "y", "model_b": "z", "winner": "tie", "tstamp": 1.0},
    {"model_a": "z", "model_b": "x", "winner": "tie (bothbad)", "tstamp": 2.0},
    {"model_a": "x", "model_b": "z", "winner": "both_bad", "tstamp": 4.0},
    {"model_a": "y", "model_b": "x", "winner": "model_b", "tstamp": 5.0},
]


def test_it_reads_a_json_list_with_models_numbered_in_order_of_appearance(tmp_path):
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(RECORDS, indent=1))
    battles, problems = load_battles(path)
    assert problems == []
    assert battles.names == ["x", "y", "z"]
    assert battles.model_a.tolist() == [0, 1, 2, 0, 1]
    assert battles.outcome.tolist() == [Outcome.A, TIE, BOTH_BAD, BOTH_BAD, Outcome.B]
    assert battles.tstamp is not None and battles.tstamp.tolist() == [3.0, 1.0, 2.0, 4.0, 5.0]


def test_json_lines_and_csv_give_the_same_battles_as_a_json_list(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(RECORDS))
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    lines = ["model_a,model_b,winner,tstamp"] + [f"{r['model_a']},{r['model_b']},{r['winner']},{r['tstamp']}"
                                                   for r in RECORDS]
    (tmp_path / "c.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "d.txt").write_text("\n".join(json.dumps(r) for r in RECORDS))
    loaded = [load_battles(tmp_path / name)[0] for name in ("a.json", "b.jsonl", "c.csv", "d.txt")]
    for other in loaded[1:]:
        assert other.names == loaded[0].names
        np.testing.assert_array_equal(other.model_a, loaded[0].model_a)
        np.testing.assert_array_equal(other.outcome, loaded[0].outcome)


def test_it_reports_bad_records_with_their_line_numbers_and_keeps_the_rest(tmp_path):
    records = [
        {"model_a": "x", "model_b": "y", "winner": "model_a"},
        {"model_a": "x", "model_b": "y", "winner": "draw"},
        {"model_a": "x", "winner": "model_a"},
        {"model_a": "x", "model_b": "x", "winner": "tie"},
        {"model_a": "x", "model_b": "y", "winner": "tie", "tstamp": "yesterday"},
        {"model_a": "y", "model_b": "x", "winner": "model_b"},
    ]
    path = tmp_path / "battles.json"
    path.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    battles, problems = load_battles(path)
    assert len(battles) == 2
    assert [p.line for p in problems] == [3, 4, 5, 6]
    assert "unknown winner 'draw'" in problems[0].reason
    assert "missing field model_b" in problems[1].reason
    assert "battles itself" in problems[2].reason
    assert "tstamp" in problems[3].reason


def test_json_lines_report_unparsable_lines_without_stopping(tmp_path):
    path = tmp_path / "battles.jsonl"
    path.write_text('{"model_a": "x", "model_b": "y", "winner": "model_a"}\n{"model_a": \n\n[1, 2]\n')
    battles, problems = load_battles(path)
    assert len(battles) == 1
    assert [(p.line, p.reason.split(" (")[0]) for p in problems] == [(2, "not valid JSON"), (4, "not a JSON object")]


def test_csv_rows_are_reported_by_their_line_in_the_file(tmp_path):
    path = tmp_path / "battles.csv"
    path.write_text("model_a,model_b,winner\nx,y,model_a\nx,y,\nx,y,model_b\n")
    battles, problems = load_battles(path)
    assert len(battles) == 2
    assert [(p.line, p.reason) for p in problems] == [(3, "missing field winner")]


def test_a_file_that_is_not_json_at_all_raises_with_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n{"model_a": "x"},\n{oops}\n]')
    with pytest.raises(ValueError, match="line 3"):
        load_battles(path)


def test_weights_and_style_metadata_are_read_when_present():
    metadata = {
        "sum_assistant_a_tokens": 100, "sum_assistant_b_tokens": 50,
        "header_count_a": {"h1": 1, "h2": 2}, "header_count_b": {"h1": 0},
        "list_count_a": {"ordered": 3, "unordered": 1}, "list_count_b": {"ordered": 0, "unordered": 0},
        "bold_count_a": {"**": 2, "__": 0}, "bold_count_b": {"**": 1, "__": 1},
    }
    battles, problems = battles_from_records([
        (1, {"model_a": "x", "model_b": "y", "winner": "model_a", "weight": 2.5, "conv_metadata": metadata}),
        (2, {"model_a": "y", "model_b": "x", "winner": "tie", "weight": 1.0, "conv_metadata": metadata}),
    ])
    assert problems == []
    assert battles.weights is not None and battles.weights.tolist() == [2.5, 1.0]
    assert battles.style_a is not None and battles.style_b is not None
    assert battles.style_a[0].tolist() == [100, 3, 4, 2]
    assert battles.style_b[0].tolist() == [50, 0, 0, 2]


def test_battles_reject_a_model_against_itself_and_unknown_ids():
    names = ["x", "y"]
    with pytest.raises(ValueError, match="itself"):
        Battles(np.array([0]), np.array([0]), np.array([0], dtype=np.int8), names)
    with pytest.raises(ValueError, match="model ids"):
        Battles(np.array([0]), np.array([2]), np.array([0], dtype=np.int8), names)


def test_anonymity_and_extra_fields_are_accepted(tmp_path):
    path = tmp_path / "battles.csv"
    path.write_text("model_a,model_b,winner,anony,turn,language,weight\n"
                    "x,y,model_a,true,1,English,2\nx,y,model_b,False,2,German,0.5\nx,y,tie,maybe,1,English,1\n")
    battles, problems = load_battles(path)
    assert [(p.line, p.reason) for p in problems] == [(4, "anony is not a boolean: 'maybe'")]
    assert battles.anony is not None and battles.anony.tolist() == [True, False]
    assert battles.weights is not None and battles.weights.tolist() == [2.0, 0.5]


def test_an_aggregated_file_carries_a_count_per_row(tmp_path):
    path = tmp_path / "cells.csv"
    path.write_text("model_a,model_b,winner,count\nx,y,model_a,30\nx,y,tie,12\ny,x,model_a,8\nx,y,model_b,2.5\n")
    battles, problems = load_battles(path)
    assert [(p.line, p.reason) for p in problems] == [(5, "count must be a non-negative whole number, got '2.5'")]
    assert battles.counts is not None and battles.counts.tolist() == [30, 12, 8]
    assert battles.n_battles == 50
