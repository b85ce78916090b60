"""Which hosts a run may target: loopback, or what the user typed with --host."""

from __future__ import annotations

import pytest

from overdrive.load.errors import ScenarioError
from overdrive.load.targets import is_loopback, reachable, resolve_host
from tests.servers import free_port


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.8.0.1", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("https://api.example.com", False),
        ("http://10.0.0.5", False),
    ],
)
def test_loopback_detection(url: str, loopback: bool) -> None:
    """127.0.0.0/8, ::1 and localhost are this machine; anything else is not."""
    assert is_loopback(url) is loopback


def test_an_explicit_host_is_always_accepted() -> None:
    """--host is the user's consent, whatever the scenario says; a trailing slash is dropped."""
    assert (
        resolve_host("https://api.example.com/", ["http://127.0.0.1"]) == "https://api.example.com"
    )


def test_a_scenario_host_must_be_loopback() -> None:
    """A file alone may only aim at this machine."""
    assert resolve_host(None, ["http://127.0.0.1:9000", None]) == "http://127.0.0.1:9000"
    with pytest.raises(ScenarioError, match=r"pass --host https://api\.example\.com"):
        resolve_host(None, ["https://api.example.com"])


@pytest.mark.parametrize(
    ("explicit", "scenario_hosts", "message"),
    [
        (None, [None], "no target host"),
        (None, ["http://127.0.0.1:1", "http://127.0.0.1:2"], "several hosts"),
        ("ftp://127.0.0.1", [], "not an http:// or https:// URL"),
        ("127.0.0.1:8000", [], "not an http:// or https:// URL"),
    ],
)
def test_unusable_hosts(
    explicit: str | None, scenario_hosts: list[str | None], message: str
) -> None:
    """Missing, ambiguous or malformed hosts are usage errors with the fix in the message."""
    with pytest.raises(ScenarioError, match=message):
        resolve_host(explicit, scenario_hosts)


def test_reachability(fast_server: str) -> None:
    """A listening server is reachable; a closed port says why not."""
    assert reachable(fast_server) is None
    problem = reachable(f"http://127.0.0.1:{free_port()}", timeout=1)
    assert problem is not None
    assert "refused" in problem.lower()
