import csv
import io
import json
import subprocess
import sys

import pytest

from ratings.cli import COLUMNS, main
from tests.conftest import REPO_ROOT


@pytest.fixture
def battle_file(tmp_path):
    records = []
    for i in range(60):
        records.append({"model_a": "alpha", "model_b": "beta", "winner": "model_a" if i % 3 else "model_b"})
        records.append({"model_a": "beta", "model_b": "gamma", "winner": "model_a" if i % 4 else "tie"})
        records.append({"model_a": "gamma", "model_b": "alpha", "winner": "model_b" if i % 5 else "model_a"})
    records.insert(7, {"model_a": "alpha", "model_b": "beta", "winner": "draw"})
    path = tmp_path / "battles.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    status = main([str(a) for a in argv], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_csv_output_has_the_documented_columns_and_one_row_per_model(battle_file):
    status, out, err = run([battle_file, "--format", "csv", "--rounds", "50"])
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == COLUMNS
    assert [r["model"] for r in rows] == ["alpha", "beta", "gamma"]
    assert all(float(r["lower"]) <= float(r["rating"]) <= float(r["upper"]) for r in rows)
    assert "battles.jsonl:8: skipped: unknown winner 'draw'" in err


def test_json_output_is_the_leaderboard_dictionary(battle_file):
    status, out, _ = run([battle_file, "--format", "json", "--ci", "sandwich", "--anchor", "beta=1100"])
    assert status == 0
    data = json.loads(out)
    assert data["metadata"]["ci"] == "sandwich"
    assert {r["model"]: r["rating"] for r in data["rows"]}["beta"] == pytest.approx(1100.0)


def test_the_table_names_every_model_and_the_method(battle_file):
    status, out, err = run([battle_file, "--rounds", "40", "--seed", "3"])
    assert status == 0
    for name in ("alpha", "beta", "gamma"):
        assert name in out
    assert "40-round bootstrap, seed 3" in out
    assert "bootstrap [" not in err  # not a terminal, so no progress bar


def test_output_can_go_to_a_file(battle_file, tmp_path):
    target = tmp_path / "board.csv"
    status, out, _ = run([battle_file, "--format", "csv", "--ci", "none", "-o", target])
    assert status == 0 and out == ""
    assert target.read_text().startswith(",".join(COLUMNS))


def test_a_missing_file_or_an_unknown_anchor_exits_with_an_error(battle_file, tmp_path):
    status, _, err = run([tmp_path / "nope.json"])
    assert status == 1 and "nope.json" in err
    status, _, err = run([battle_file, "--anchor", "delta=1000"])
    assert status == 1 and "anchor" in err


def test_python_dash_m_ratings_runs_as_a_program(battle_file):
    result = subprocess.run([sys.executable, "-m", "ratings", str(battle_file), "--ci", "none", "--format", "csv"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == ",".join(COLUMNS)


def test_models_left_out_by_minimum_battles_are_named_on_standard_error(battle_file):
    with battle_file.open("a") as handle:
        handle.write(json.dumps({"model_a": "alpha", "model_b": "newcomer", "winner": "model_a"}) + "\n")
    status, out, err = run([battle_file, "--format", "csv", "--ci", "none", "--min-battles", "5"])
    assert status == 0
    assert "newcomer" not in out
    assert "left out with fewer than 5 battles: newcomer" in err


def test_ill_posed_data_is_explained_on_standard_error(tmp_path):
    path = tmp_path / "undefeated.csv"
    rows = ["alpha,beta,model_a", "alpha,gamma,model_a", "beta,gamma,model_a", "gamma,beta,tie"] * 5
    path.write_text("model_a,model_b,winner\n" + "\n".join(rows) + "\n")
    status, out, err = run([path, "--ci", "sandwich"])
    assert status == 0
    assert "note: alpha never lost or tied" in err
    assert "note: ridge prior" in err
    assert "never_lost" in out


def test_method_lmarena_gives_sandwich_intervals_with_pair_weights_and_says_so(battle_file):
    status, out, _ = run([battle_file, "--method", "lmarena"])
    assert status == 0
    summary = out.splitlines()[-1]
    assert "LMArena's method (--method lmarena), sandwich intervals, battles weighted by 1/max(pair count, 50)" in summary
    status, out, _ = run([battle_file, "--method", "lmarena", "--format", "json"])
    metadata = json.loads(out)["metadata"]
    assert status == 0 and metadata["ci"] == "sandwich" and metadata["reweight"] == "pairs" and metadata["rounds"] == 0
    # The preset is exactly its two options, and naming them again agrees with it.
    preset = run([battle_file, "--method", "lmarena", "--format", "csv"])
    assert preset == run([battle_file, "--ci", "sandwich", "--reweight", "pairs", "--format", "csv"])
    assert preset == run([battle_file, "--method", "lmarena", "--ci", "sandwich", "--format", "csv"])
    plain = run([battle_file, "--ci", "sandwich", "--format", "csv"])
    assert plain[0] == 0 and plain[1] != preset[1]


def test_method_bootstrap_is_the_default(battle_file):
    default = run([battle_file, "--rounds", "30", "--format", "csv"])
    assert default == run([battle_file, "--method", "bootstrap", "--rounds", "30", "--format", "csv"])
    status, out, _ = run([battle_file, "--rounds", "30", "--reweight", "pairs"])
    assert status == 0 and out.splitlines()[-1].endswith(
        "30-round bootstrap, seed 0, battles weighted by 1/max(pair count, 50)")


@pytest.mark.parametrize("extra", [["--ci", "bootstrap"], ["--reweight", "none"], ["--ci", "none"]])
def test_options_that_contradict_the_method_preset_are_an_error(battle_file, extra):
    status, out, err = run([battle_file, "--method", "lmarena", *extra])
    assert status == 1 and out == ""
    assert f"error: --method lmarena means --ci sandwich --reweight pairs; it conflicts with {' '.join(extra)}" in err


def test_a_reweighting_contradicting_the_bootstrap_preset_is_an_error_too(battle_file):
    status, _, err = run([battle_file, "--method", "bootstrap", "--reweight", "pairs"])
    assert status == 1 and "conflicts with --reweight pairs" in err


def test_an_unknown_method_is_refused_by_the_parser(battle_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run([battle_file, "--method", "elo"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'elo'" in capsys.readouterr().err


def test_models_below_the_rank_threshold_have_an_empty_rank(battle_file):
    status, out, _ = run([battle_file, "--format", "csv", "--ci", "sandwich", "--min-rank-battles", 1_000_000])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and rows and all(row["rank_ub"] == "" for row in rows)
    status, out, _ = run([battle_file, "--ci", "sandwich", "--min-rank-battles", 1_000_000])
    table = out.splitlines()
    assert status == 0 and all(line.lstrip().startswith("–") for line in table[1:len(rows) + 1])
