"""simulator.route_compilation: the memoized ``compile_path`` answers exactly what Starlette's own does."""

from __future__ import annotations

import starlette.routing
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import route_compilation
from simulator.cloud import FakeCloud

segments = st.one_of(
    st.text("abcxyz-_.", min_size=1, max_size=6),
    st.sampled_from(["{tenant_id}", "{name:str}", "{count:int}", "{rest:path}", "{value:float}", "{id:uuid}"]),
)


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(segments, min_size=1, max_size=5, unique=True))
def test_the_memo_compiles_every_pattern_as_starlette_does(parts: list[str]) -> None:
    route_compilation.install()
    original = starlette.routing.compile_path.__wrapped_original__
    path = "/" + "/".join(parts)
    try:
        expected = original(path)
    except (AssertionError, ValueError) as exc:
        try:
            starlette.routing.compile_path(path)
        except type(exc):
            return
        raise AssertionError(f"the memo accepted {path!r}, Starlette refused it") from None
    for _ in range(2):  # a miss, then a hit
        regex, path_format, convertors = starlette.routing.compile_path(path)
        assert (regex.pattern, path_format) == (expected[0].pattern, expected[1])
        assert {k: type(v) for k, v in convertors.items()} == {k: type(v) for k, v in expected[2].items()}


def test_each_route_gets_its_own_convertor_mapping_and_worlds_route_alike() -> None:
    route_compilation.install()
    first = starlette.routing.compile_path("/v2/tenants/{tenant_id}")[2]
    first["intruder"] = None
    assert "intruder" not in starlette.routing.compile_path("/v2/tenants/{tenant_id}")[2]
    one, two = FakeCloud(1), FakeCloud(2)
    assert [r.path_regex.pattern for r in one.legacy_app.app.app.routes] == [
        r.path_regex.pattern for r in two.legacy_app.app.app.routes
    ]
