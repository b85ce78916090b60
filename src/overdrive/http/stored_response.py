"""What the response cache stores, and how a request is turned into its cache key.

Kept apart from the middleware so the rules of RFC 9111 that decide *whether* a response
may be stored read in one place, and the hot path in `response_cache.py` stays short.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from overdrive.http.cache_control import CacheControl, parse_cache_control, parse_vary
from overdrive.http.guard import GUARDED_DIRECTIVE

__all__ = [
    "HEURISTICALLY_CACHEABLE",
    "HOP_HEADERS",
    "NOT_MODIFIED_HEADERS",
    "StorageDecision",
    "decide_storage",
    "entry_etag",
    "etag_matches",
    "variant_suffix",
]

# RFC 9110 §15.1: the status codes a cache may store without the application saying more;
# 206 is left out because this cache does not assemble ranges.
HEURISTICALLY_CACHEABLE = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})

# What a 304 repeats from the stored response (RFC 9110 §15.4.5), besides ETag.
NOT_MODIFIED_HEADERS = frozenset({b"cache-control", b"content-location", b"expires", b"vary"})

# Headers that belong to one transmission, not to the stored response.
HOP_HEADERS = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"content-length",
        b"date",
        b"age",
        b"server-timing",
        b"overdrive-cache-control",
    }
)


@dataclass(frozen=True, slots=True)
class StorageDecision:
    """Whether and for how long a response may be stored; `reason` says why not."""

    store: bool
    reason: str = ""
    ttl: int = 0
    swr: int = 0
    stale_if_error: int = 0
    vary: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    content_type: bytes = b""
    content_encoding: bytes = b""
    etag: bytes = b""
    guarded: bool = False
    """Our targeted field says `guarded`: store only under the guard of the scope."""


_REFUSED: dict[str, StorageDecision] = {}


def _refuse(reason: str) -> StorageDecision:
    decision = _REFUSED.get(reason)
    if decision is None:
        decision = _REFUSED[reason] = StorageDecision(False, reason)
    return decision


def decide_storage(
    status: int,
    headers: Iterable[tuple[bytes, bytes]],
    *,
    request_authorized: bool,
    targeted_field: bytes,
    now: float,
) -> StorageDecision:
    """Apply RFC 9111 §3 to a response as a shared cache.

    `targeted_field` is the lower-cased name of our own targeted Cache-Control field
    (RFC 9213): when the response carries it, plain `Cache-Control` is ignored.
    """
    if status not in HEURISTICALLY_CACHEABLE:
        return _refuse("status")
    cache_control = targeted = vary = surrogate_key = b""
    content_type = content_encoding = etag = expires = date = b""
    for name, value in headers:
        name = name.lower()
        if name == b"cache-control":
            cache_control = value if not cache_control else cache_control + b"," + value
        elif name == targeted_field:
            targeted = value if not targeted else targeted + b"," + value
        elif name == b"set-cookie":
            return _refuse("set-cookie")
        elif name == b"vary":
            vary = value if not vary else vary + b"," + value
        elif name == b"surrogate-key":
            surrogate_key = value if not surrogate_key else surrogate_key + b" " + value
        elif name == b"content-type":
            content_type = value
        elif name == b"content-encoding":
            content_encoding = value
        elif name == b"etag":
            etag = value
        elif name == b"expires":
            expires = value
        elif name == b"date":
            date = value
    directives: CacheControl = parse_cache_control((targeted or cache_control).decode("latin-1"))
    # Only our own field can mark a response guarded; a guard in plain Cache-Control
    # would reach the CDN and means nothing there.
    guarded = bool(targeted) and GUARDED_DIRECTIVE in directives.extensions
    if directives.no_store or directives.private or directives.no_cache:
        return _refuse("no-store/private/no-cache")
    ttl = directives.shared_max_age
    if ttl is None and expires and not targeted:
        ttl = _expires_lifetime(expires, date, now)
    if not ttl:
        return _refuse("no explicit freshness")
    if request_authorized and not directives.allows_authorized_storage:
        return _refuse("authorization")
    if content_type.split(b";", 1)[0].strip().lower() == b"text/event-stream":
        return _refuse("event-stream")
    vary_names = parse_vary(vary.decode("latin-1"))
    if vary_names == ("*",):
        return _refuse("vary-star")
    revalidate = directives.must_revalidate or directives.proxy_revalidate
    return StorageDecision(
        store=True,
        ttl=ttl,
        swr=0 if revalidate else directives.stale_while_revalidate,
        stale_if_error=0 if revalidate else directives.stale_if_error,
        vary=vary_names,
        tags=tuple(dict.fromkeys(surrogate_key.decode("latin-1").split())),
        content_type=content_type,
        content_encoding=content_encoding,
        etag=etag,
        guarded=guarded,
    )


def _expires_lifetime(expires: bytes, date: bytes, now: float) -> int:
    """RFC 9111 §4.2.1: Expires minus Date (or now); an invalid Expires means stale."""
    try:
        expires_at = parsedate_to_datetime(expires.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0
    origin_now = now
    if date:
        try:
            origin_now = parsedate_to_datetime(date.decode("latin-1")).timestamp()
        except (TypeError, ValueError, IndexError):
            origin_now = now
    return max(0, int(expires_at - origin_now))


def entry_etag(body: bytes) -> bytes:
    """A strong validator for a stored body."""
    return b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'


def variant_suffix(names: Iterable[str], headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The secondary key of RFC 9111 §4.1, hashed so credentials never appear in a key.

    Several lines of one header are combined with ", " (RFC 9110 §5.3), so a duplicated
    header is its own variant, never mistaken for its first line.
    """
    wanted = {name.encode(): index for index, name in enumerate(names)}
    found: list[list[bytes]] = [[] for _ in wanted]
    for name, value in headers:
        index = wanted.get(name.lower())
        if index is not None:
            found[index].append(value)
    digest = hashlib.sha256()
    for name, values in zip(wanted, found, strict=True):
        digest.update(name)
        digest.update(b"\x00")
        digest.update(b", ".join(values) if values else b"\x01absent")
        digest.update(b"\x00")
    return digest.hexdigest()[:40]


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): `W/` ignored, `*` matches anything."""
    if if_none_match.strip() == b"*":
        return True
    wanted = etag.removeprefix(b"W/")
    return any(
        candidate.strip().removeprefix(b"W/") == wanted for candidate in if_none_match.split(b",")
    )
