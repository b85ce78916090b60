"""Which hosts a load run may hit: loopback, or a host the user typed on the command line.

A locustfile or YAML scenario can name a host; a run aimed at anything but this
machine from a file alone is refused, so a copied scenario never load-tests a stranger's
server by accident. `--host` is the explicit consent.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from overdrive.load.errors import ScenarioError

__all__ = ["is_loopback", "resolve_host", "validate_url"]


def validate_url(url: str) -> str:
    """The URL without a trailing slash, if it is an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ScenarioError(f"host {url!r} is not an http:// or https:// URL with a host name")
    return url.rstrip("/")


def is_loopback(url: str) -> bool:
    hostname = urlsplit(url).hostname or ""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def resolve_host(explicit: str | None, scenario_hosts: Iterable[str | None]) -> str:
    """The one host the run targets: the explicit one, else the scenario's if it is loopback."""
    if explicit:
        return validate_url(explicit)
    named = {host for host in scenario_hosts if host}
    if not named:
        raise ScenarioError("no target host: pass --host http://127.0.0.1:8000 or set `host`")
    if len(named) > 1:
        raise ScenarioError(f"the scenario names several hosts {sorted(named)}: pass --host")
    host = validate_url(named.pop())
    if not is_loopback(host):
        raise ScenarioError(
            f"the scenario targets {host}, which is not this machine: pass --host {host}"
            " to confirm the target"
        )
    return host


def reachable(url: str, timeout: float = 3.0) -> str | None:
    """None when a TCP connection to the URL's host opens, else why it did not."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as error:
        return f"{parts.hostname}:{port}: {error.strerror or error}"
