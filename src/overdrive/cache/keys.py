"""Keys and tags are checked once, at the boundary, so Redis never sees a hostile one.

Separators, binary-looking text and braces are fine: every Redis key Overdrive builds
starts with its own hash tag, and Redis Cluster hashes only the first `{...}`, so a user
key can neither move to another slot nor collide with Overdrive's own keys.
"""

from __future__ import annotations

from overdrive.errors import CacheKeyError

DEFAULT_MAX_KEY_LENGTH = 1024


def check_key(key: object, max_length: int, kind: str = "key") -> str:
    """Return `key` if it is a non-empty str within `max_length`, else raise CacheKeyError."""
    if type(key) is not str:
        raise CacheKeyError(f"cache {kind} must be a str, not {type(key).__name__}: {key!r:.80}")
    if not key:
        raise CacheKeyError(f"cache {kind} must not be empty")
    if len(key) > max_length:
        raise CacheKeyError(
            f"cache {kind} is {len(key)} characters long, over the limit of {max_length}; "
            "hash long keys yourself or raise max_key_length"
        )
    if "\x00" in key:
        raise CacheKeyError(f"cache {kind} must not contain NUL characters: {key!r:.80}")
    return key


def check_tags(tags: object, max_length: int) -> tuple[str, ...]:
    if isinstance(tags, str):
        # A bare string would be split into characters: almost certainly a mistake.
        raise CacheKeyError(f"tags must be a sequence of str, not a str: {tags!r:.80}")
    if not isinstance(tags, tuple | list | set | frozenset):
        raise CacheKeyError(f"tags must be a sequence of str, not {type(tags).__name__}")
    return tuple(dict.fromkeys(check_key(tag, max_length, "tag") for tag in tags))
