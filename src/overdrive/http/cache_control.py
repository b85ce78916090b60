"""Cache-Control and Vary parsing (RFC 9111 §5.2, RFC 9110 §12.5.5).

Parsing is the hot edge of the response cache, so both parsers memoise on the raw
header value: an application sends the same few Cache-Control strings over and over,
and a dict lookup is cheaper than tokenising them again.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CacheControl", "parse_cache_control", "parse_vary"]

_MEMO_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class CacheControl:
    """The directives a shared cache acts on; unknown directives are kept in `extensions`."""

    max_age: int | None = None
    s_maxage: int | None = None
    stale_while_revalidate: int = 0
    stale_if_error: int = 0
    public: bool = False
    private: bool = False
    no_store: bool = False
    no_cache: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    extensions: frozenset[str] = frozenset()

    @property
    def shared_max_age(self) -> int | None:
        """The freshness lifetime for a shared cache: `s-maxage` wins over `max-age`."""
        return self.s_maxage if self.s_maxage is not None else self.max_age

    @property
    def allows_authorized_storage(self) -> bool:
        """RFC 9111 §3.5: a shared cache stores a response to an authorised request only
        when the response says `public`, `s-maxage` or `must-revalidate`."""
        return self.public or self.s_maxage is not None or self.must_revalidate


def _seconds(value: str) -> int | None:
    # RFC 9111 §1.2.2: delta-seconds; a malformed value makes the directive unusable,
    # which callers treat as "no freshness" (the safe reading).
    value = value.strip().strip('"')
    if not value.isdigit():
        return None
    return min(int(value), 2**31)


_EMPTY = CacheControl()
_cache_control_memo: dict[str, CacheControl] = {}


def parse_cache_control(value: str | None) -> CacheControl:
    """Parse a Cache-Control field value (several field lines joined with commas).

    >>> parse_cache_control("public, s-maxage=60, stale-while-revalidate=300").s_maxage
    60
    """
    if not value:
        return _EMPTY
    memo = _cache_control_memo.get(value)
    if memo is not None:
        return memo
    fields: dict[str, object] = {}
    extensions: set[str] = set()
    no_store_from_bad_value = False
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        name = name.strip().lower()
        if not name:
            continue
        if name in ("max-age", "s-maxage"):
            seconds = _seconds(argument)
            if seconds is None:
                # An unreadable lifetime must not become "cache forever": RFC 9111 §4.2.1
                # says to treat an invalid freshness as stale, so the response is not stored.
                no_store_from_bad_value = True
                continue
            if name in fields:
                # Duplicated lifetimes that disagree: take the shortest (RFC 9111 §4.2.1).
                seconds = min(seconds, int(str(fields[name])))
            fields[name] = seconds
        elif name in ("stale-while-revalidate", "stale-if-error"):
            seconds = _seconds(argument)
            if seconds is not None:
                fields[name] = seconds
        elif name in ("public", "no-store", "must-revalidate", "proxy-revalidate"):
            fields[name] = True
        elif name == "private":
            # `private="Set-Cookie"` (qualified form) still forbids a shared cache from
            # storing those fields; we take the safe reading and do not store at all.
            fields[name] = True
        elif name == "no-cache":
            fields[name] = True
        else:
            extensions.add(name)
    parsed = CacheControl(
        max_age=_int_or_none(fields.get("max-age")),
        s_maxage=_int_or_none(fields.get("s-maxage")),
        stale_while_revalidate=int(str(fields.get("stale-while-revalidate", 0))),
        stale_if_error=int(str(fields.get("stale-if-error", 0))),
        public=bool(fields.get("public")),
        private=bool(fields.get("private")),
        no_store=bool(fields.get("no-store")) or no_store_from_bad_value,
        no_cache=bool(fields.get("no-cache")),
        must_revalidate=bool(fields.get("must-revalidate")),
        proxy_revalidate=bool(fields.get("proxy-revalidate")),
        extensions=frozenset(extensions),
    )
    if len(_cache_control_memo) >= _MEMO_LIMIT:
        _cache_control_memo.clear()
    _cache_control_memo[value] = parsed
    return parsed


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))


_vary_memo: dict[str, tuple[str, ...]] = {}


def parse_vary(value: str | None) -> tuple[str, ...]:
    """The lower-cased, de-duplicated, sorted field names of a Vary value; `("*",)` for `*`.

    Sorting makes the variant key independent of the order the application listed them in.
    """
    if not value:
        return ()
    memo = _vary_memo.get(value)
    if memo is not None:
        return memo
    names = {name.strip().lower() for name in value.split(",") if name.strip()}
    parsed: tuple[str, ...] = ("*",) if "*" in names else tuple(sorted(names))
    if len(_vary_memo) >= _MEMO_LIMIT:
        _vary_memo.clear()
    _vary_memo[value] = parsed
    return parsed
