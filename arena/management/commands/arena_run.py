from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from arena.demo import demo_models_ensure


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
        if settings.ARENA_EMBEDDED_WORKER:
            from celery import current_app

            from arena.embedded import worker_start

            # The project's app (config/celery.py), set as current when Django loaded config.
            worker_start(current_app, schedule_file=Path(settings.DATA_DIR) / "celerybeat-schedule")
            self.stdout.write("Started the in-process worker (embedded mode: SQLite, no Redis).")
        else:
            self.stdout.write("Distributed mode: start workers with `celery -A config worker`.")
        self.stdout.write(self.style.SUCCESS(f"The arena is at http://{host}:{port}/  (admin: http://{host}:{port}/admin/)"))
        uvicorn.run("config.asgi:application", host=host, port=port, log_level="warning", lifespan="off")

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
