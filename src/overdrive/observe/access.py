"""Who may read /metrics and the dashboard: a bearer token, an IP allow-list, or anyone.

With neither configured the endpoints are open (the Prometheus default). With either,
a request passes if its client address is allowed *or* it carries the token, so
Prometheus can scrape from the cluster network while a person uses the token.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from urllib.parse import parse_qs

from overdrive.errors import ConfigurationError
from overdrive.types import Scope

__all__ = ["AccessPolicy"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AccessPolicy:
    """Decides from the ASGI scope; tokens are compared in constant time."""

    def __init__(self, token: str | None = None, allow_ips: Sequence[str] = ()) -> None:
        if token is not None and len(token) < 16:
            raise ConfigurationError("the metrics token must be at least 16 characters")
        self.token = token.encode() if token else None
        try:
            self.networks: list[Network] = [ipaddress.ip_network(ip, strict=False)
                                            for ip in allow_ips]
        except ValueError as error:
            raise ConfigurationError(f"allow_ips: {error}") from None
        self.open = self.token is None and not self.networks

    def allows(self, scope: Scope) -> bool:
        if self.open:
            return True
        if self.networks and self._ip_allowed(scope):
            return True
        return self.token is not None and self._token_matches(scope)

    def _ip_allowed(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def _token_matches(self, scope: Scope) -> bool:
        assert self.token is not None
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value.startswith(b"Bearer "):
                return hmac.compare_digest(value[7:].strip(), self.token)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        candidates = query.get("token", [])
        return bool(candidates) and hmac.compare_digest(candidates[0].encode(), self.token)
