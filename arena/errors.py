"""Errors raised by services and selectors; each carries the HTTP status a JSON view answers with.

::

    ArenaError (400)
    ├── InvalidInput (400)      a bad body or query parameter
    ├── NotFound (404)          no such battle, snapshot or view (or not yours)
    ├── Conflict (409)          the battle is not in a state that allows it
    ├── TooManyRequests (429)   a rate limit
    └── Unavailable (503)       the arena cannot serve it now

:func:`arena.api.json_errors` turns any of them into ``{"error": message}`` with that status.

:data:`INFRASTRUCTURE_ERRORS` are the exceptions that mean a service (the database, Redis, the broker) is down
or overloaded rather than that the request is wrong: ``config.errors.server_error`` answers them with 503 and
``Retry-After``, never a traceback.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, BrokerError, RedisConnectionError, RedisTimeoutError, ConnectionError,
)


class ArenaError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ArenaError):
    status = 400


class Forbidden(ArenaError):
    status = 403


class NotFound(ArenaError):
    status = 404


class Conflict(ArenaError):
    status = 409


class TooManyRequests(ArenaError):
    status = 429


class Unavailable(ArenaError):
    status = 503
