"""What a room refuses a client, with a code the client acts on and a sentence saying why."""

from __future__ import annotations


class Refused(Exception):
    """A request refused; ``code`` goes back to the client with ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
