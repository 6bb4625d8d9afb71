"""Errors raised by arena services; each carries the HTTP status a view answers with."""


class ArenaError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ArenaError):
    status = 400


class NotFound(ArenaError):
    status = 404


class Conflict(ArenaError):
    status = 409


class Unavailable(ArenaError):
    status = 503


class TooManyRequests(ArenaError):
    status = 429
