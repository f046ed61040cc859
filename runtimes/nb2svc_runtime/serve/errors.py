"""The one error type the server turns into `{"error": str, "details": [...]}` responses."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP error with a message a client can act on (never a traceback)."""

    def __init__(
        self,
        status: int,
        error: str,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "details": self.details}
