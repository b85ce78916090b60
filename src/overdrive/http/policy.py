"""`cache_policy`: one declaration on a route that every cache tier obeys.

The decorator only sets response headers. The in-process response cache, Varnish and any
CDN in front all read the same headers, so a route's caching is declared once:

- `Cache-Control` for browsers and generic shared caches (`s-maxage` is ours and Varnish's),
- `CDN-Cache-Control` (RFC 9213) and `Surrogate-Control` for CDNs,
- `Surrogate-Key` and `Cache-Tag` with the tags, formatted from path and query parameters,
- `Vary` with the request headers the body depends on.

With `per_user=True` the response is personal: browsers may keep it (`private`), CDNs get
nothing to store, and Overdrive's own cache stores one copy per credential, keyed by a
hash of the credential header through `Vary` and told so in the targeted field
`Overdrive-Cache-Control`, which the middleware strips before the response leaves.

With `guard=check` the response is the same for every permitted caller: it is just as
`private` for browsers and CDNs, but Overdrive stores ONE copy, not keyed by the
credential, and serves it only to requests `check(scope, path_params)` admits (see
`overdrive.http.guard`). The targeted field then says `guarded`, so a response cache
that does not find the guard on the request scope stores nothing rather than an
unguarded shared copy.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import typing
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

from overdrive.errors import ConfigurationError
from overdrive.http.edge import edge_tag_headers
from overdrive.http.guard import GUARD_SCOPE_KEY, GUARDED_DIRECTIVE, Guard, register_guard

__all__ = ["OVERDRIVE_CACHE_CONTROL", "CachePolicy", "cache_policy"]

logger = logging.getLogger("overdrive.http")

OVERDRIVE_CACHE_CONTROL = "Overdrive-Cache-Control"

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def _lifetimes(ttl: int, swr: int, stale_if_error: int) -> str:
    parts = [f"max-age={ttl}"]
    if swr:
        parts.append(f"stale-while-revalidate={swr}")
    if stale_if_error:
        parts.append(f"stale-if-error={stale_if_error}")
    return ", ".join(parts)


@dataclass(frozen=True)
class CachePolicy:
    """The headers of one route, computed once; only the tags vary per request."""

    ttl: int
    swr: int = 0
    stale_if_error: int = 0
    tags: tuple[str, ...] = ()
    vary: tuple[str, ...] = ()
    browser_ttl: int = 0
    cdn_ttl: int | None = None
    per_user: bool = False
    credential_header: str = "Authorization"
    guard: Guard | None = None

    def __post_init__(self) -> None:
        if self.guard is not None and self.per_user:
            raise ConfigurationError(
                "cache_policy takes per_user=True (one copy per credential) or guard= (one "
                "shared copy, checked per request), not both")
        for name in ("ttl", "swr", "stale_if_error", "browser_ttl"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigurationError(f"cache_policy {name} must be an int >= 0, not {value!r}")
        if self.cdn_ttl is not None and self.cdn_ttl < 0:
            raise ConfigurationError(f"cache_policy cdn_ttl must be >= 0, not {self.cdn_ttl!r}")

    @functools.cached_property
    def guard_id(self) -> str | None:
        """The registered id of the guard, which stored entries carry."""
        return None if self.guard is None else register_guard(self.guard)

    @property
    def personal(self) -> bool:
        """Never stored at the edge: per-user or guarded."""
        return self.per_user or self.guard is not None

    def mark(self, scope: MutableMapping[str, Any], path_params: Mapping[str, Any]) -> None:
        """Tell the response cache (through the scope, never a header) which guard to
        store with this response, and the path parameters to call it with on a hit."""
        if self.guard_id is not None:
            scope[GUARD_SCOPE_KEY] = (self.guard_id, _storable(path_params))

    @functools.cached_property
    def static_headers(self) -> dict[str, str]:
        """Every header but the tags."""
        vary = list(self.vary)
        if self.personal:
            targeted = _lifetimes(self.ttl, self.swr, self.stale_if_error).replace(
                "max-age", "s-maxage", 1
            )
            if self.per_user:
                vary.append(self.credential_header)
            else:
                targeted = f"{targeted}, {GUARDED_DIRECTIVE}"
            headers = {
                "Cache-Control": f"private, max-age={self.browser_ttl}",
                OVERDRIVE_CACHE_CONTROL: targeted,
            }
        else:
            cdn = _lifetimes(
                self.ttl if self.cdn_ttl is None else self.cdn_ttl, self.swr, self.stale_if_error
            )
            shared = _lifetimes(self.ttl, self.swr, self.stale_if_error).replace(
                "max-age", "s-maxage", 1
            )
            headers = {
                "Cache-Control": f"public, max-age={self.browser_ttl}, {shared}",
                "CDN-Cache-Control": cdn,
                "Surrogate-Control": cdn,
            }
        if vary:
            headers["Vary"] = ", ".join(dict.fromkeys(vary))
        return headers

    def headers(self, parameters: Mapping[str, Any]) -> dict[str, str]:
        """All headers for one response, tags formatted from `parameters`."""
        headers = dict(self.static_headers)
        if not self.tags:
            return headers
        try:
            tags = [tag.format_map(parameters) for tag in self.tags]
        except (KeyError, IndexError, ValueError) as error:
            raise ConfigurationError(
                f"cache_policy tag templates {self.tags!r} name a parameter the request does "
                f"not have ({error}); available: {sorted(parameters)}"
            ) from error
        tag_headers = edge_tag_headers(tags)
        if not tag_headers.complete:
            # A partially tagged copy could never be purged completely: store it nowhere shared.
            logger.warning("%d cache tags do not fit the CDN headers: not cached", len(tags))
            return {"Cache-Control": f"private, max-age={self.browser_ttl}"}
        headers["Surrogate-Key"] = tag_headers.surrogate_key
        if not self.personal:
            headers["Cache-Tag"] = tag_headers.cache_tag
        return headers

    def apply(self, target: Any, parameters: Mapping[str, Any]) -> None:
        """Set the headers on `target` (a Starlette `MutableHeaders`), adding to any Vary."""
        for name, value in self.headers(parameters).items():
            if name == "Vary" and target.get("vary"):
                value = f"{target['vary']}, {value}"
            target[name] = value


def cache_policy(
    ttl: int,
    *,
    swr: int = 0,
    stale_if_error: int = 0,
    tags: Iterable[str] = (),
    vary: Iterable[str] = (),
    browser_ttl: int = 0,
    cdn_ttl: int | None = None,
    per_user: bool = False,
    credential_header: str = "Authorization",
    guard: Guard | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Declare how a route's responses are cached, in every tier.

    ```python
    @app.get("/boards/{board}/feedback")
    @cache_policy(ttl=60, swr=300, stale_if_error=600, tags=("board:{board}",))
    async def list_feedback(board: str, page: int = 1): ...
    ```
    Tag templates are formatted with the endpoint's arguments (path and query parameters,
    defaults included). Works on FastAPI endpoints (a `Response` parameter is injected when
    the endpoint returns data) and on Starlette endpoints that take a request and return a
    `Response`.

    `guard(scope, path_params) -> bool` (sync or async) stores one shared copy of a
    response that needs a credential and checks every request against it before a hit
    is served; a refused request goes to the application, which answers it (401/403).
    """
    if isinstance(tags, str) or isinstance(vary, str):
        raise ConfigurationError("cache_policy tags and vary are tuples of strings, not str")
    policy = CachePolicy(
        ttl=ttl,
        swr=swr,
        stale_if_error=stale_if_error,
        tags=tuple(tags),
        vary=tuple(vary),
        browser_ttl=browser_ttl,
        cdn_ttl=cdn_ttl,
        per_user=per_user,
        credential_header=credential_header,
        guard=guard,
    )
    _ = policy.static_headers, policy.guard_id  # fail at import time, not on the first request

    def decorate(endpoint: Endpoint) -> Endpoint:
        from starlette.requests import Request
        from starlette.responses import Response

        signature = inspect.signature(endpoint)
        is_coroutine = inspect.iscoroutinefunction(endpoint)
        known = set(signature.parameters)
        takes_request_only = len(known) == 1 and (
            next(iter(signature.parameters.values())).annotation in (Request, "Request")
            or "request" in known
        )

        async def call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if is_coroutine:
                return await endpoint(*args, **kwargs)
            return await asyncio.to_thread(functools.partial(endpoint, *args, **kwargs))

        if takes_request_only:
            # Starlette calls endpoint(request); FastAPI fills `overdrive_response` (by its
            # annotation) for a request-only endpoint that returns data instead of a Response.
            @functools.wraps(endpoint)
            async def request_endpoint(
                request: Request, overdrive_response: Response | None = None
            ) -> Any:
                result = await call((request,), {})
                parameters = {**request.query_params, **request.path_params}
                policy.mark(request.scope, request.path_params)
                if isinstance(result, Response):
                    policy.apply(result.headers, parameters)
                elif overdrive_response is not None:
                    policy.apply(overdrive_response.headers, parameters)
                return result

            request_endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
                parameters=[
                    *signature.parameters.values(),
                    inspect.Parameter("overdrive_response", inspect.Parameter.KEYWORD_ONLY,
                                      default=None, annotation=Response),
                ]
            )
            request_endpoint.__overdrive_policy__ = policy  # type: ignore[attr-defined]
            return request_endpoint  # type: ignore[return-value]

        # FastAPI hands the Request (and the Response) to one parameter only: when the
        # endpoint takes its own, the wrapper reads that one instead of adding a second.
        own_request = _parameter_of_type(endpoint, signature, Request)
        own_response = _parameter_of_type(endpoint, signature, Response)
        request_name = own_request or "overdrive_request"
        response_name = own_response or "overdrive_response"

        @functools.wraps(endpoint)
        async def fastapi_endpoint(*args: Any, **kwargs: Any) -> Any:
            request: Request = kwargs[request_name] if own_request else kwargs.pop(request_name)
            response: Response = (
                kwargs[response_name] if own_response else kwargs.pop(response_name)
            )
            result = await call(args, kwargs)
            bound = signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            parameters = {**request.query_params, **request.path_params, **bound.arguments}
            target = result.headers if isinstance(result, Response) else response.headers
            policy.mark(request.scope, request.path_params)
            policy.apply(target, parameters)
            return result

        extra = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
            for name, annotation, own in (
                ("overdrive_request", Request, own_request),
                ("overdrive_response", Response, own_response),
            )
            if own is None
        ]
        parameters = list(signature.parameters.values())
        variadic = [p for p in parameters if p.kind is inspect.Parameter.VAR_KEYWORD]
        plain = [p for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]
        fastapi_endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*plain, *extra, *variadic]
        )
        fastapi_endpoint.__overdrive_policy__ = policy  # type: ignore[attr-defined]
        return fastapi_endpoint  # type: ignore[return-value]

    return decorate


def _storable(path_params: Mapping[str, Any]) -> dict[str, Any]:
    """The path parameters as a stored entry can carry them (L2 serialises the entry):
    str, int, float and bool as they are, anything else (a UUID, say) as its str."""
    return {
        str(name): value if isinstance(value, str | int | float | bool) else str(value)
        for name, value in path_params.items()
    }


def _parameter_of_type(
    endpoint: Callable[..., Any], signature: inspect.Signature, kind: type
) -> str | None:
    """The name of the endpoint's parameter annotated `kind` (or a subclass), if any."""
    try:
        hints = typing.get_type_hints(endpoint)
    except Exception:  # unresolvable annotations: FastAPI will say so; compare names only
        hints = {}
    for name, parameter in signature.parameters.items():
        annotation = hints.get(name, parameter.annotation)
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return name
        if annotation == kind.__name__:
            return name
    return None
