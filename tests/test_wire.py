"""The request-parsing seam (simulator.wire): what it accepts round-trips, what it refuses is a WireError."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from simulator import wire

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_a_client_can_send_parses_to_what_it_sent(value: Any) -> None:
    assert wire.parse_json(json.dumps(value).encode()) == value
    assert wire.parse_json(json.dumps(value, ensure_ascii=False).encode("utf-8")) == value


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_either_parse_or_raise_a_wire_error(raw: bytes) -> None:
    try:
        wire.parse_json(raw)
    except wire.WireError as exc:
        assert exc.status == 400 and exc.message


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'"\\ud800"', "invalid_json"),
        (b'{"a": "\\udc00x"}', "invalid_json"),
        (b"\xff", "invalid_json"),
        (b"NaN", "invalid_json"),
        (b"[1e400]", "invalid_number"),
        (b"[" * 5000, "too_deep"),
        (b"[" * 65 + b"]" * 65, "too_deep"),
        (b"1" * 5000, "invalid_json"),
        (b"", "invalid_json"),
    ],
)
def test_what_the_seam_refuses(raw: bytes, problem: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.parse_json(raw)
    assert caught.value.problem == problem and caught.value.status == 400


def test_nesting_up_to_the_bound_is_accepted() -> None:
    assert wire.parse_json(b"[" * 64 + b"]" * 64) is not None
    assert wire.parse_json(b'"\\ud83d\\ude00"') == "\U0001f600"  # a surrogate *pair* is one character


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 7), ("0", 0), ("12", 12), ("2147483647", 2147483647)],
)
def test_counts_in_range(raw: str | None, expected: int) -> None:
    assert wire.parse_count(raw, "$top", default=7) == expected


@pytest.mark.parametrize("raw", ["²", "١٢", "", " 1", "1 ", "+1", "-1", "1.0", "2147483648", "9" * 50, "0x1"])
def test_counts_out_of_range_or_not_ascii_digits(raw: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.parse_count(raw, "$top")
    assert caught.value.target == "$top" and caught.value.problem == "invalid_number"


def _request(body: bytes, headers: dict[str, str], query: bytes = b"") -> Request:
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)] or [b""]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": raw_headers, "query_string": query}
    return Request(scope, receive)


def test_a_body_over_the_limit_is_a_413_declared_or_streamed() -> None:
    declared = _request(b"{}", {"content-length": "5000"})
    streamed = _request(b"x" * 5000, {})
    for request in (declared, streamed):
        with pytest.raises(wire.WireError) as caught:
            asyncio.run(wire.read_body(request, max_bytes=4096))
        assert caught.value.status == 413


def test_read_json_checks_the_media_type_of_non_empty_bodies_only() -> None:
    assert asyncio.run(wire.read_json(_request(b"  ", {}), media_types=("application/json",))) is None
    with pytest.raises(wire.WireError) as caught:
        asyncio.run(wire.read_json(_request(b"{}", {"content-type": "text/plain"}), media_types=("application/json",)))
    assert caught.value.status == 415
    typed = _request(b'{"a": 1}', {"content-type": "application/json; charset=utf-8"})
    assert asyncio.run(wire.read_json(typed, media_types=("application/json",))) == {"a": 1}


def test_query_strings_must_be_utf8() -> None:
    wire.check_query(_request(b"", {}, b"a=%C3%A9&b=plain"))
    with pytest.raises(wire.WireError):
        wire.check_query(_request(b"", {}, b"a=%FF"))
    with pytest.raises(wire.WireError):
        wire.check_query(_request(b"", {}, b"a=%ED%A0%80"))  # an encoded surrogate is not UTF-8 either


def test_check_text_refuses_lone_surrogates_only() -> None:
    assert wire.check_text("Contoso é 😀", "name") == "Contoso é 😀"
    with pytest.raises(wire.WireError):
        wire.check_text("a\ud800", "name")
