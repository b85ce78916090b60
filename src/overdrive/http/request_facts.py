"""One pass over the request headers: what the response cache needs to know about them.

Kept to a single loop with a dict lookup per header, because it runs on every request,
hits included.
"""

from __future__ import annotations

from collections.abc import Iterable

from overdrive.http.cache_control import parse_cache_control

__all__ = ["DEFAULT_UNKEYED_PROBE_HEADERS", "HeaderScanner", "RequestFacts"]

# Headers that make an origin build a different response while no cache keys on them
# (cache-poisoning probes): a request carrying one is answered but never fills the cache.
DEFAULT_UNKEYED_PROBE_HEADERS = frozenset(
    {
        "x-forwarded-host",
        "x-forwarded-server",
        "x-host",
        "x-original-url",
        "x-rewrite-url",
        "x-forwarded-scheme",
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    }
)


class RequestFacts:
    """What one pass over the request headers tells the cache.

    The defaults are class attributes: a plain request sets only what it carries, so
    building one costs a single assignment.
    """

    host = b""
    accept_encoding = b""
    if_none_match = b""
    authorized = False
    bypass = False
    revalidate = False
    only_if_cached = False
    no_store = False
    uncacheable_fill = False

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = headers


# What the header scan does with each request header it cares about.
_HOST, _ACCEPT_ENCODING, _IF_NONE_MATCH, _AUTHORIZATION, _CACHE_CONTROL, _PRAGMA, _PROBE = (
    range(7))


class HeaderScanner:
    """Configured once; called per request with the raw ASGI header list."""

    def __init__(
        self,
        *,
        max_header_size: int,
        unkeyed_probe_headers: Iterable[str],
        honour_request_no_cache: bool,
    ) -> None:
        self.max_header_size = max_header_size
        self.honour_request_no_cache = honour_request_no_cache
        self.roles: dict[bytes, int] = {
            b"host": _HOST, b"accept-encoding": _ACCEPT_ENCODING,
            b"if-none-match": _IF_NONE_MATCH, b"authorization": _AUTHORIZATION,
            b"cache-control": _CACHE_CONTROL, b"pragma": _PRAGMA,
            **{name.lower().encode(): _PROBE for name in unkeyed_probe_headers},
        }

    def __call__(self, headers: list[tuple[bytes, bytes]]) -> RequestFacts:
        facts = RequestFacts(headers)
        roles = self.roles
        limit = self.max_header_size
        request_cache_control = pragma = None
        for name, value in headers:
            if len(value) > limit:
                facts.bypass = True
            role = roles.get(name)
            if role is None:
                continue
            if role == _HOST:
                if facts.host:
                    facts.bypass = True  # two Host headers: ambiguous, never cached
                facts.host = value.lower()
            elif role == _ACCEPT_ENCODING:
                facts.accept_encoding = (value if not facts.accept_encoding
                                         else facts.accept_encoding + b"," + value)
            elif role == _IF_NONE_MATCH:
                facts.if_none_match = (value if not facts.if_none_match
                                       else facts.if_none_match + b"," + value)
            elif role == _AUTHORIZATION:
                facts.authorized = True
            elif role == _CACHE_CONTROL:
                request_cache_control = (value if request_cache_control is None
                                         else request_cache_control + b"," + value)
            elif role == _PRAGMA:
                pragma = value
            else:
                facts.uncacheable_fill = True
        if not self.honour_request_no_cache:
            return facts
        if request_cache_control is not None:
            directives = parse_cache_control(request_cache_control.decode("latin-1"))
            facts.no_store = directives.no_store
            facts.revalidate = directives.no_cache or directives.max_age == 0 or facts.no_store
            facts.only_if_cached = "only-if-cached" in directives.extensions
        elif pragma is not None and pragma.lower() == b"no-cache":
            facts.revalidate = True
        return facts
