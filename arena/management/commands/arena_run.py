from __future__ import annotations

import os
import secrets
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from arena.demo import demo_models_ensure

if TYPE_CHECKING:
    from arena.embedded import EmbeddedWorker


class Command(BaseCommand):
    help = "Run the whole arena in one process: migrate, add demo models, start a worker and the web server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="Do not add the offline demo models.")

    def handle(self, *args: Any, host: str, port: int, no_demo: bool, **options: Any) -> None:
        import uvicorn

        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        if not no_demo:
            for model in demo_models_ensure():
                self.stdout.write(f"Added demo model {model.name}")
        self._admin_ensure()
        signal.signal(signal.SIGTERM, _interrupt)
        worker = self._worker_start()
        self.stdout.write(self.style.SUCCESS(f"The arena is at http://{host}:{port}/  (admin: http://{host}:{port}/admin/)"))
        try:
            # uvicorn stops on SIGINT or SIGTERM, finishes open requests, then hands the signal back to the
            # handler it found: Ctrl-C's KeyboardInterrupt (which uvicorn.run swallows), and for SIGTERM ours.
            uvicorn.run("config.asgi:application", host=host, port=port, log_level="warning", lifespan="off")
        finally:
            if worker is not None and not worker.stop():
                _exit_now()  # a task still running would hold the interpreter's exit: end the process instead

    def _worker_start(self) -> EmbeddedWorker | None:
        """The in-process worker and beat in embedded mode; in distributed mode they are processes of their own."""
        if not settings.ARENA_EMBEDDED_WORKER:
            self.stdout.write("Distributed mode: start workers with `celery -A config worker`.")
            return None
        from celery import current_app

        from arena.embedded import worker_start

        # The project's app (config/celery.py), set as current when Django loaded config.
        worker = worker_start(current_app, schedule_file=Path(settings.DATA_DIR) / "celerybeat-schedule")
        self.stdout.write("Started the in-process worker (embedded mode: SQLite, no Redis).")
        return worker

    def _admin_ensure(self) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = os.environ.get("ARENA_ADMIN_PASSWORD")
        if password:
            User.objects.create_superuser("admin", "", password)
            self.stdout.write("Created the admin user 'admin' with the password from ARENA_ADMIN_PASSWORD.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", "", password)
        self.stdout.write(self.style.WARNING(f"Created the admin user: admin / {password}  (shown once; change it in the admin)"))


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    """SIGTERM (docker stop, systemd) stops the arena exactly as Ctrl-C does, so both end with exit status 0."""
    raise KeyboardInterrupt


def _exit_now() -> NoReturn:
    """Exit 0 without waiting for threads: the worker gave up on its tasks, and the sweep settles their answers."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
