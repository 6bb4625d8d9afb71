from tests.arena.conftest import make_model, ready_battle, two_models  # noqa: F401 - shared fixtures
