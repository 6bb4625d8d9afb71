import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("arena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def local_models_preload(**kwargs: object) -> None:
    """On GPU workers that ask for it, load the local checkpoints before the first battle needs them."""
    from django.conf import settings

    if settings.ARENA_PRELOAD_LOCAL_MODELS:
        from arena.adapters import local_models_preload as preload

        preload()
