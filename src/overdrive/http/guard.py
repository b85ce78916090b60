"""Guards: one shared stored copy of an authenticated response, checked on every hit.

A route whose body is the same for every permitted caller but which needs a credential
would otherwise be cached once per credential (`per_user`), and most requests would
miss. With `cache_policy(..., guard=check)` the response cache stores a single copy and
asks `check(scope, path_params)` before serving it to anyone, the way a shared cache in
front of an authenticated API validates the token at the edge.

The response cache runs before routing, so it cannot ask the route for its guard. The
policy registers the guard here under an id derived from its module and name (the same
in every process running the same code, so an entry written to L2 by one process is
checked by another), and tells the response cache through the ASGI scope
(`GUARD_SCOPE_KEY`: the id and the request's path parameters), never through a header.
The stored entry keeps both; a hit calls the guard with the stored path parameters.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

from overdrive.types import Scope

__all__ = [
    "GUARDED_DIRECTIVE",
    "GUARD_SCOPE_KEY",
    "Guard",
    "GuardVerdict",
    "check_guard",
    "register_guard",
]

logger = logging.getLogger("overdrive.http")

GUARD_SCOPE_KEY = "overdrive.guard"
"""Set by a guarded policy on the request scope: `(guard id, path parameters)`."""

GUARDED_DIRECTIVE = "guarded"
"""In our targeted field: store only with the guard the policy put on the scope."""

Guard = Callable[[Scope, Mapping[str, Any]], "bool | Awaitable[bool]"]

# Weakly held: the policy holding the guard keeps it alive, so an application that is
# gone (a test's, a reloaded one) frees its guard and its id, and a closure over an
# application's state built again gets the same id back. Callables that cannot be
# weakly referenced are held for good.
_guards: weakref.WeakValueDictionary[str, Guard] = weakref.WeakValueDictionary()
_held: dict[str, Guard] = {}


def _registered(guard_id: str) -> Guard | None:
    return _guards.get(guard_id) or _held.get(guard_id)


def register_guard(guard: Guard) -> str:
    """The stable id of `guard`, registering it; a different live callable of the same
    name (two lambdas in one module, say) gets the next free `#n` suffix."""
    if not callable(guard):
        raise TypeError(f"a cache guard must be callable, not {guard!r}")
    name = getattr(guard, "__qualname__", type(guard).__qualname__)
    base = f"{getattr(guard, '__module__', '?')}:{name}"
    guard_id, number = base, 1
    while (known := _registered(guard_id)) is not None and known is not guard:
        number += 1
        guard_id = f"{base}#{number}"
    try:
        _guards[guard_id] = guard
    except TypeError:
        _held[guard_id] = guard
    return guard_id


class GuardVerdict:
    """Why a guard did not admit a request: counted under these names."""

    REFUSED = "guard_refused"
    ERROR = "guard_errors"
    UNKNOWN = "guard_unknown"
    ADMITTED = ""


async def check_guard(guard_id: Any, scope: Scope, path_params: Mapping[str, Any]) -> str:
    """`GuardVerdict.ADMITTED` ("") when the guard admits the request, else the reason.

    Fails closed: an id this process does not know, a guard that raises, or any answer
    other than `True` refuses."""
    guard = _registered(guard_id) if isinstance(guard_id, str) else None
    if guard is None:
        logger.warning("cache guard %r is unknown in this process: answering from the origin",
                       guard_id)
        return GuardVerdict.UNKNOWN
    try:
        # Read-only: on a hit these are the stored entry's own, shared by every request.
        verdict = guard(scope, MappingProxyType(path_params))
        if inspect.isawaitable(verdict):
            verdict = await verdict
    except Exception:
        logger.warning("cache guard %s failed: answering from the origin", guard_id,
                       exc_info=True)
        return GuardVerdict.ERROR
    return GuardVerdict.ADMITTED if verdict is True else GuardVerdict.REFUSED
