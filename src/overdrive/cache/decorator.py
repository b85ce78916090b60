"""`@cache.cached(...)`: a cached async function whose key and tags are argument templates.

The hit path builds the key and reads L1, nothing else: tags are formatted only when the
function actually has to run, and arguments are bound through the signature only when
the call is not the plain positional form.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import string
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from overdrive.cache import keys as keycheck
from overdrive.cache.entry import MISSING
from overdrive.errors import ConfigurationError

if TYPE_CHECKING:
    from overdrive.cache.tiered import Cache

T = TypeVar("T")

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def cached(
    cache: Cache,
    *,
    ttl: float = 60,
    swr: float = 0,
    tags: Sequence[str] = (),
    key: str | None = None,
) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T]]]:
    templates = keycheck.check_tags(tags, cache._max_key) if tags else ()

    def decorate(func: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        if not inspect.iscoroutinefunction(func):
            raise ConfigurationError(f"@cached needs an async function, {func!r} is not one")
        signature = inspect.signature(func)
        names = tuple(signature.parameters)
        plain = all(p.kind in _POSITIONAL for p in signature.parameters.values())
        for template in (*templates, *((key,) if key else ())):
            unknown = _fields(template) - set(names)
            if unknown:
                raise ConfigurationError(
                    f"template {template!r} names {sorted(unknown)}, which are not arguments "
                    f"of {func.__qualname__}{signature}"
                )
        prefix = f"{func.__module__}.{func.__qualname__}"
        max_key = cache._max_key
        count = len(names)

        def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            if plain and not kwargs and len(args) == count:
                return dict(zip(names, args, strict=True))
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return bound.arguments

        if key is None:

            def make_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
                if plain and not kwargs and len(args) == count:
                    built = prefix + repr(args)
                else:
                    built = prefix + repr(tuple(arguments(args, kwargs).values()))
                if len(built) > max_key:
                    digest = hashlib.blake2b(built.encode(), digest_size=20).hexdigest()
                    built = f"{prefix}#{digest}"
                return built

        else:
            template = key

            def make_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
                return keycheck.check_key(template.format(**arguments(args, kwargs)), max_key)

        load = cache._get_or_load
        fresh_hit = cache._fresh_hit

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            built = make_key(args, kwargs)
            hit = fresh_hit(built)
            if hit is not MISSING:
                found: T = hit
                return found

            def tag_values() -> tuple[str, ...]:
                values = arguments(args, kwargs)
                return keycheck.check_tags([t.format(**values) for t in templates], max_key)

            result: T = await load(built, lambda: func(*args, **kwargs), ttl, swr, tag_values)
            return result

        def cache_key(*args: Any, **kwargs: Any) -> str:
            """The cache key a call with these arguments uses."""
            return make_key(args, kwargs)

        wrapper.cache_key = cache_key  # type: ignore[attr-defined]
        return wrapper

    return decorate
