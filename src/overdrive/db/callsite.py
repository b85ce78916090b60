"""The line of application code that issued a statement.

Walks the stack to the first frame outside SQLAlchemy, Overdrive and the asyncio/greenlet
machinery. Under an `AsyncEngine` the statement runs inside a greenlet whose stack ends
at `greenlet_spawn`; the caller's coroutine frames live on the parent greenlet, so the
walk continues there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from types import FrameType

import sqlalchemy

import overdrive

__all__ = ["calling_location"]

try:
    import greenlet  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - SQLAlchemy's asyncio extra brings it
    greenlet = None

_SKIPPED_ROOTS = tuple(
    os.path.dirname(module.__file__) + os.sep
    for module in (sqlalchemy, overdrive, asyncio, greenlet)
    if module is not None and module.__file__
)
_SKIPPED_FILES = (contextlib.__file__,)


def _is_skipped(frame: FrameType) -> bool:
    filename = frame.f_code.co_filename
    return filename.startswith(_SKIPPED_ROOTS) or filename in _SKIPPED_FILES


def calling_location() -> str:
    """`path:line in function` of the first application frame, or `<unknown>`."""
    frame: FrameType | None = sys._getframe(1)
    current = greenlet.getcurrent() if greenlet is not None else None
    while True:
        while frame is not None:
            if not _is_skipped(frame):
                code = frame.f_code
                return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
            frame = frame.f_back
        parent = getattr(current, "parent", None)
        if parent is None:
            return "<unknown>"
        frame = parent.gr_frame
        current = parent
