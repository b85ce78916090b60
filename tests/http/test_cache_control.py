"""Cache-Control and Vary parsing."""

from __future__ import annotations

from overdrive.http.cache_control import parse_cache_control, parse_vary


def test_lifetimes_and_flags_are_read() -> None:
    """Every directive a shared cache acts on is parsed."""
    parsed = parse_cache_control(
        "public, max-age=10, s-maxage=60, stale-while-revalidate=300, stale-if-error=600"
    )
    assert (parsed.max_age, parsed.s_maxage, parsed.shared_max_age) == (10, 60, 60)
    assert (parsed.stale_while_revalidate, parsed.stale_if_error) == (300, 600)
    assert parsed.public


def test_case_spaces_and_quotes_are_tolerated() -> None:
    """Directive names are case-insensitive and quoted seconds accepted."""
    parsed = parse_cache_control(' Max-Age="30" ,NO-CACHE,  Must-Revalidate ')
    assert parsed.max_age == 30
    assert parsed.no_cache
    assert parsed.must_revalidate


def test_invalid_lifetime_means_not_storable() -> None:
    """An unreadable max-age is never read as 'cache forever'."""
    assert parse_cache_control("max-age=abc").no_store
    assert parse_cache_control("s-maxage=-1").no_store


def test_duplicate_lifetimes_take_the_shortest() -> None:
    """Conflicting duplicates resolve to the most conservative value."""
    assert parse_cache_control("max-age=60, max-age=5").max_age == 5


def test_private_with_field_names_still_counts_as_private() -> None:
    """private="Set-Cookie" keeps a shared cache from storing."""
    assert parse_cache_control('private="set-cookie", max-age=60').private


def test_unknown_directives_are_kept_as_extensions() -> None:
    """Extensions survive parsing for callers that care."""
    assert parse_cache_control("immutable, max-age=1").extensions == frozenset({"immutable"})


def test_authorized_storage_rules() -> None:
    """public, s-maxage or must-revalidate allow storing an authorised response."""
    assert parse_cache_control("public").allows_authorized_storage
    assert parse_cache_control("s-maxage=1").allows_authorized_storage
    assert parse_cache_control("must-revalidate, max-age=1").allows_authorized_storage
    assert not parse_cache_control("max-age=1").allows_authorized_storage


def test_empty_value_is_empty() -> None:
    """No header means no directives."""
    assert parse_cache_control(None).shared_max_age is None
    assert parse_cache_control("").shared_max_age is None


def test_vary_is_lowercased_sorted_and_deduplicated() -> None:
    """Vary names are normalised so the key does not depend on their order."""
    assert parse_vary("Accept-Language, accept-encoding, Accept-Language") == (
        "accept-encoding", "accept-language")


def test_vary_star_wins() -> None:
    """A * anywhere makes the whole Vary '*'."""
    assert parse_vary("Accept, *") == ("*",)
    assert parse_vary(None) == ()
