"""The one exception of the request-parsing seam; each adapter renders it in its service's error shape."""

from __future__ import annotations

from typing import Literal

Problem = Literal[
    "too_large",  # 413: the body is larger than the operation accepts
    "unsupported_media_type",  # 415: the body is not of a media type the operation reads
    "invalid_json",  # 400: not JSON, not UTF-8, or a lone surrogate in a string
    "too_deep",  # 400: nested deeper than the bound
    "invalid_number",  # 400: a query number that is not ASCII digits in range, or a non-finite JSON number
    "invalid_text",  # 400: a query string or text value that is not UTF-8 text
]

STATUS: dict[str, int] = {"too_large": 413, "unsupported_media_type": 415}


class WireError(Exception):
    """A request refused before it reached a model. ``status`` is 400, 413 or 415; ``problem`` says which check
    failed (adapters with a code per situation map it); ``target`` names the offending parameter when there is one."""

    def __init__(self, problem: Problem, message: str, *, target: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem
        self.status = STATUS.get(problem, 400)
        self.message = message
        self.target = target

    def __repr__(self) -> str:
        return f"WireError({self.problem!r}, {self.message!r})"
