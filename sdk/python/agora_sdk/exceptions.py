"""The errors the helpers raise."""

from __future__ import annotations

import json
from typing import Optional


class AgoraError(Exception):
    """The server refused a request: ``status`` is the HTTP status, ``code`` the machine-readable
    code of its ``{"code", "message"}`` body (``unknown_offer``, ``invalid_id``, ...)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def from_response(cls, status: int, body: bytes) -> "AgoraError":
        """The error an answer carries; a body that is not Agora's JSON error becomes its text."""
        try:
            parsed = json.loads(body)
            return cls(status, str(parsed["code"]), str(parsed["message"]))
        except (ValueError, KeyError, TypeError):
            return cls(status, "http_error", body.decode("utf-8", "replace")[:500])


class StreamEnded(AgoraError):
    """The server ended an event stream for good with an ``error`` event: the framework was torn
    down, or another connection took its stream over."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(200, code, message)


class Unreachable(Exception):
    """No replica answered: the last connection error is the cause."""

    def __init__(self, bases: "list[str]", cause: Optional[BaseException]) -> None:
        super().__init__(f"cannot reach the server at {', '.join(bases)}: {cause}")
        self.bases = bases
