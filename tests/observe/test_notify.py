"""Notifications: Slack-compatible JSON to a real HTTP server, deduplicated and rate-limited."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from overdrive.errors import ConfigurationError
from overdrive.observe.alerts import Transition
from overdrive.observe.notify import AlertNotifier, slack_payload
from overdrive.observe.rules import AlertRule

RULE = AlertRule("Slow", "latency_p95", ">", 0.5, severity="critical",
                 runbook_url="https://runbooks.example/slow")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_payload_is_slack_compatible() -> None:
    """`text` carries the headline; the attachment has value, threshold and runbook."""
    payload = slack_payload(Transition("firing", RULE, 0.73, 100.0), "shop")
    assert payload["text"].startswith("[FIRING] Slow (critical) on shop")
    fields = {f["title"]: f["value"] for f in payload["attachments"][0]["fields"]}
    assert fields == {"value": "730ms", "threshold": "> 500ms",
                      "runbook": "https://runbooks.example/slow"}
    assert payload["attachments"][0]["color"] == "danger"


async def test_one_message_per_episode_and_status(
    webhook: tuple[str, list[dict[str, Any]]], caplog: pytest.LogCaptureFixture,
) -> None:
    """The same firing episode is announced once; its resolution once more; both are logged."""
    url, received = webhook
    notifier = AlertNotifier([url], service="shop")
    firing = Transition("firing", RULE, 0.8, 100.0, episode=100.0)
    with caplog.at_level("INFO", logger="overdrive.alerts"):
        await notifier.notify(firing)
        await notifier.notify(firing)
        await notifier.notify(Transition("resolved", RULE, 0.1, 200.0, episode=100.0))
    assert [m["text"].split()[0] for m in received] == ["[FIRING]", "[RESOLVED]"]
    assert notifier.duplicates == 1
    assert "[FIRING] Slow" in caplog.text


async def test_rate_limit_drops_and_counts_the_excess(
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    """Past the burst, notifications wait for tokens; what is dropped is counted."""
    url, received = webhook
    clock = Clock()
    notifier = AlertNotifier([url], burst=2, per_minute=1, clock=clock)
    for episode in range(4):
        await notifier.notify(Transition("firing", RULE, 1.0, 0.0, episode=float(episode)))
    assert len(received) == 2
    assert notifier.suppressed == 2
    clock.now += 60
    await notifier.notify(Transition("firing", RULE, 1.0, 0.0, episode=99.0))
    assert len(received) == 3


async def test_an_unreachable_webhook_is_counted_not_raised() -> None:
    """A webhook that refuses connections costs a counter and a log line, never an exception."""
    notifier = AlertNotifier(["http://127.0.0.1:9/hook"], timeout=0.5)
    await notifier.notify(Transition("firing", RULE, 1.0, 0.0))
    assert notifier.failed == 1


def test_webhooks_must_be_http_urls() -> None:
    """A typo in a webhook URL is reported at construction."""
    with pytest.raises(ConfigurationError):
        AlertNotifier(["hooks.slack.com/services/x"])
