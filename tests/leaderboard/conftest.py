import pytest

from tests.arena.conftest import make_model, ready_battle, two_models  # noqa: F401 - shared fixtures


@pytest.fixture(autouse=True)
def small_arena_thresholds(settings):
    """These tests play a few dozen votes: every view is computed and every model ranked, as in an arena with
    thresholds of one vote. The thresholds themselves are tested with their settings given explicitly
    (``override_settings`` on a test applies after this fixture)."""
    settings.ARENA_STYLE_MIN_VOTES = 1
    settings.ARENA_RANK_MIN_VOTES = 0
    settings.ARENA_VISION_MIN_VOTES = 1
