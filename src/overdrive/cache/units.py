"""Human sizes ("64MB") as configuration habit has them."""

from __future__ import annotations

import re

from overdrive.errors import ConfigurationError

_UNITS = {
    "": 1,
    "B": 1,
    "K": 1024,
    "KB": 1024,
    "KIB": 1024,
    "M": 1024**2,
    "MB": 1024**2,
    "MIB": 1024**2,
    "G": 1024**3,
    "GB": 1024**3,
    "GIB": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_bytes(size: int | str) -> int:
    """`1024`, `"512KB"`, `"64MB"`, `"1GB"` (binary multiples, as Redis' maxmemory)."""
    if isinstance(size, bool):
        raise ConfigurationError(f"not a size: {size!r}")
    if isinstance(size, int):
        if size < 0:
            raise ConfigurationError(f"a size cannot be negative: {size}")
        return size
    match = _SIZE.match(size) if isinstance(size, str) else None
    if match is None or match.group(2).upper() not in _UNITS:
        raise ConfigurationError(f"not a size: {size!r} (try 65536, '512KB', '64MB', '1GB')")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])
