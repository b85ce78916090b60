"""The storage rules of RFC 9111 §3, the secondary key, and validator comparison."""

from __future__ import annotations

import pytest

from overdrive.http.stored_response import (
    StorageDecision,
    decide_storage,
    entry_etag,
    etag_matches,
    variant_suffix,
)

NOW = 1_800_000_000.0


def decide(headers: dict[str, str], status: int = 200,
           authorized: bool = False) -> StorageDecision:
    return decide_storage(status, [(k.encode(), v.encode()) for k, v in headers.items()],
                          request_authorized=authorized,
                          targeted_field=b"overdrive-cache-control", now=NOW)


def test_lifetimes_tags_and_vary_are_read() -> None:
    """A storable response yields its TTL, SWR, SIE, tags and normalised Vary."""
    decision = decide({"cache-control": "public, s-maxage=60, stale-while-revalidate=30, "
                                        "stale-if-error=90",
                       "surrogate-key": "a b a", "vary": "Accept-Language, Accept"})
    assert decision.store
    assert (decision.ttl, decision.swr, decision.stale_if_error) == (60, 30, 90)
    assert decision.tags == ("a", "b")
    assert decision.vary == ("accept", "accept-language")


def test_targeted_field_replaces_cache_control() -> None:
    """With Overdrive-Cache-Control present, Cache-Control is not consulted (RFC 9213)."""
    decision = decide({"cache-control": "no-store", "overdrive-cache-control": "s-maxage=5"})
    assert decision.store
    assert decision.ttl == 5


@pytest.mark.parametrize(("headers", "reason"), [
    ({"cache-control": "s-maxage=60", "set-cookie": "a=b"}, "set-cookie"),
    ({"cache-control": "max-age=0"}, "no explicit freshness"),
    ({"cache-control": "s-maxage=60", "content-type": "text/event-stream"}, "event-stream"),
    ({"cache-control": "s-maxage=60", "vary": "*"}, "vary-star"),
])
def test_refusals_say_why(headers: dict[str, str], reason: str) -> None:
    """Each refusal carries its reason."""
    decision = decide(headers)
    assert not decision.store
    assert decision.reason == reason


def test_authorized_request_needs_an_explicit_permission() -> None:
    """max-age alone is not enough for a response to an authorised request (§3.5)."""
    assert decide({"cache-control": "max-age=60"}, authorized=True).reason == "authorization"
    assert decide({"cache-control": "public, max-age=60"}, authorized=True).store


def test_variant_suffix_hashes_values_and_combines_duplicates() -> None:
    """The secondary key hides values, tells duplicates from singles and absence from empty."""
    single = variant_suffix(["accept-language"], [(b"accept-language", b"en")])
    doubled = variant_suffix(["accept-language"], [(b"accept-language", b"en"),
                                                   (b"accept-language", b"fr")])
    joined = variant_suffix(["accept-language"], [(b"accept-language", b"en, fr")])
    absent = variant_suffix(["accept-language"], [])
    empty = variant_suffix(["accept-language"], [(b"accept-language", b"")])
    assert len({single, doubled, absent, empty}) == 4
    assert doubled == joined
    assert "en" not in single


def test_etag_comparison_is_weak() -> None:
    """W/ is ignored, lists and * match (RFC 9110 §13.1.2)."""
    etag = entry_etag(b"body")
    assert etag_matches(b"W/" + etag, etag)
    assert etag_matches(b'"x", ' + etag, etag)
    assert etag_matches(b"*", etag)
    assert not etag_matches(b'"x"', etag)
