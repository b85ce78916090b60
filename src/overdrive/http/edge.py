"""Tags as each CDN wants them: `Surrogate-Key` (Fastly, Varnish xkey) and `Cache-Tag`
(Cloudflare), within their limits on tag length and header size.

A tag that a CDN cannot carry verbatim (too long, spaces, commas, non-ASCII) is replaced
by a stable hash of itself; the purgers apply the same `edge_tag` so a purge always names
exactly what the header announced. When a response has more tags than fit in one header,
tagging it partially would make a later purge miss it, so `edge_tag_headers` reports the
overflow and the caller tells the CDN not to store that response at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CLOUDFLARE_HEADER_LIMIT",
    "SURROGATE_KEY_HEADER_LIMIT",
    "TAG_LENGTH_LIMIT",
    "EdgeTagHeaders",
    "edge_tag",
    "edge_tag_headers",
    "edge_tags",
]

# Fastly: each key at most 1024 bytes, the Surrogate-Key header at most 16 KiB.
# Cloudflare: each tag at most 1024 characters, the Cache-Tag header at most 16 KiB.
TAG_LENGTH_LIMIT = 1024
SURROGATE_KEY_HEADER_LIMIT = 16 * 1024
CLOUDFLARE_HEADER_LIMIT = 16 * 1024

_HASH_PREFIX = "odh-"
_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/=+@~!$%&*()[]{}<>|^;?#"
)


def edge_tag(tag: str) -> str:
    """The tag as sent to a CDN: itself when safe, else `odh-` and a SHA-256 prefix."""
    if len(tag) <= TAG_LENGTH_LIMIT and all(char in _SAFE for char in tag):
        return tag
    return _HASH_PREFIX + hashlib.sha256(tag.encode()).hexdigest()[:40]


def edge_tags(tags: Iterable[str]) -> list[str]:
    """De-duplicated edge forms of `tags`, in first-seen order."""
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(edge_tag(tag), None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class EdgeTagHeaders:
    """The two tag headers, and whether every tag fitted."""

    surrogate_key: str
    cache_tag: str
    complete: bool


def edge_tag_headers(
    tags: Iterable[str],
    *,
    surrogate_key_limit: int = SURROGATE_KEY_HEADER_LIMIT,
    cache_tag_limit: int = CLOUDFLARE_HEADER_LIMIT,
) -> EdgeTagHeaders:
    """Build `Surrogate-Key` (space-separated) and `Cache-Tag` (comma-separated) values."""
    surrogate: list[str] = []
    cloudflare: list[str] = []
    surrogate_length = cloudflare_length = 0
    complete = True
    for tag in edge_tags(tags):
        added = len(tag) + (1 if surrogate else 0)
        if surrogate_length + added <= surrogate_key_limit:
            surrogate.append(tag)
            surrogate_length += added
        else:
            complete = False
        added = len(tag) + (1 if cloudflare else 0)
        if cloudflare_length + added <= cache_tag_limit:
            cloudflare.append(tag)
            cloudflare_length += added
        else:
            complete = False
    return EdgeTagHeaders(" ".join(surrogate), ",".join(cloudflare), complete)
