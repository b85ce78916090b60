"""The one-pass request header scan."""

from __future__ import annotations

from overdrive.http.request_facts import (
    DEFAULT_UNKEYED_PROBE_HEADERS,
    HeaderScanner,
    RequestFacts,
)


def scan(*headers: tuple[bytes, bytes], honour: bool = True) -> RequestFacts:
    scanner = HeaderScanner(max_header_size=100,
                            unkeyed_probe_headers=DEFAULT_UNKEYED_PROBE_HEADERS,
                            honour_request_no_cache=honour)
    return scanner(list(headers))


def test_the_fields_the_cache_needs_are_read() -> None:
    """Host, Accept-Encoding, If-None-Match and Authorization are picked out."""
    facts = scan((b"host", b"Example.COM"), (b"accept-encoding", b"br"),
                 (b"if-none-match", b'"a"'), (b"authorization", b"Bearer x"))
    assert facts.host == b"example.com"
    assert facts.accept_encoding == b"br"
    assert facts.if_none_match == b'"a"'
    assert facts.authorized
    assert not facts.bypass


def test_oversized_or_duplicate_host_bypasses() -> None:
    """A value past max_header_size or a second Host makes the request bypass the cache."""
    assert scan((b"x-junk", b"a" * 101)).bypass
    assert scan((b"host", b"a"), (b"host", b"b")).bypass


def test_probe_headers_forbid_filling() -> None:
    """An unkeyed override header marks the request as unfit to fill the cache."""
    assert scan((b"x-forwarded-host", b"evil")).uncacheable_fill
    assert not scan((b"x-forwarded-for", b"1.2.3.4")).uncacheable_fill


def test_request_directives_can_be_ignored() -> None:
    """honour_request_no_cache=False keeps clients from forcing origin trips."""
    assert scan((b"cache-control", b"no-cache")).revalidate
    assert scan((b"pragma", b"no-cache")).revalidate
    assert not scan((b"cache-control", b"no-cache"), honour=False).revalidate
