"""Agreement with published reference scores on real crowd votes.

Data: LLMFAO, Dmitry Ustalov; base responses from the llmonitor.com Crowdsourced LLM Benchmark
(CC BY 4.0). Reference scores: Evalica's ``llmfao-golden.csv`` (Apache-2.0), an independent
implementation.
"""

import csv
import math

import numpy as np
import pytest

from ratings.aggregate import aggregate
from ratings.bradley_terry import ELO_PER_NAT, fit_bradley_terry
from ratings.data import load_battles
from ratings.elo import online_elo
from ratings.leaderboard import compute_leaderboard


def golden(sample_data, algorithm):
    with open(sample_data / "reference" / "llmfao_evalica_golden.csv", encoding="utf-8") as handle:
        return {row["item"]: float(row["score"]) for row in csv.DictReader(handle) if row["algorithm"] == algorithm}


@pytest.fixture
def llmfao(sample_data):
    battles, problems = load_battles(sample_data / "llmfao_battles.json")
    assert problems == []
    return battles


def test_online_elo_matches_the_reference_in_file_order(llmfao, sample_data):
    reference = golden(sample_data, "elo")
    ratings = online_elo(llmfao, k=4.0)
    assert len(reference) == llmfao.n_models
    for name, value in zip(llmfao.names, ratings, strict=True):
        assert value == pytest.approx(reference[name], abs=1e-6)


def test_bradley_terry_with_ties_as_half_matches_the_reference_after_centring(llmfao, sample_data):
    # The reference holds strengths p_i summing to 1; on the Elo scale r_i = 400·log10(p_i) + c.
    reference = golden(sample_data, "bradley_terry")
    expected = np.array([400 * math.log10(reference[name]) for name in llmfao.names])
    fit = fit_bradley_terry(aggregate(llmfao))
    assert fit.converged
    np.testing.assert_allclose(ELO_PER_NAT * fit.strengths, expected - expected.mean(), atol=1e-6)


def test_the_leaderboard_centres_the_reference_ratings_at_1000(llmfao, sample_data):
    reference = golden(sample_data, "bradley_terry")
    centre = np.mean([400 * math.log10(p) for p in reference.values()])
    board = compute_leaderboard(llmfao, ci="none")
    assert board.metadata.well_posed
    for row in board.rows:
        assert row.rating == pytest.approx(400 * math.log10(reference[row.model]) - centre + 1000, abs=1e-6)
        assert row.online_elo == pytest.approx(golden(sample_data, "elo")[row.model], abs=1e-6)
