"""Alert notifications to the log and to Slack-compatible webhooks, deduplicated and rate-limited.

Deduplication is by fingerprint (rule, route, status, episode start): a firing alert is
announced once per episode even if the evaluator role moves to another worker, when the
store is shared (Redis). Rate limiting is a token bucket per destination, so an incident
that trips twenty rules does not flood a channel; what is dropped is counted and logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from overdrive.errors import ConfigurationError
from overdrive.observe.alerts import Transition

__all__ = ["AlertNotifier", "MemorySeen", "SeenStore", "TokenBucket", "slack_payload"]

logger = logging.getLogger("overdrive.alerts")


class SeenStore(Protocol):
    """Remembers fingerprints already announced; `first` is True only the first time."""

    async def first(self, fingerprint: str, ttl: float) -> bool: ...


class MemorySeen:
    """Fingerprints remembered in this process, forgotten after `ttl`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.expires: dict[str, float] = {}

    async def first(self, fingerprint: str, ttl: float) -> bool:
        now = self.clock()
        self.expires = {key: at for key, at in self.expires.items() if at > now}
        if fingerprint in self.expires:
            return False
        self.expires[fingerprint] = now + ttl
        return True


class TokenBucket:
    """`capacity` sends at once, refilled at `per_minute` a minute."""

    def __init__(self, capacity: int, per_minute: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def fingerprint(transition: Transition) -> str:
    rule = transition.rule
    return f"{rule.name}|{rule.route or ''}|{transition.status}|{transition.episode:.0f}"


def _format_value(transition: Transition) -> str:
    value = transition.value
    if value is None:
        return "no data"
    if transition.rule.unit == "seconds":
        return f"{value * 1000:.0f}ms"
    if transition.rule.unit == "ratio":
        return f"{value * 100:.2f}%"
    return f"{value:.3g}"


def slack_payload(transition: Transition, service: str) -> dict[str, Any]:
    """Slack incoming-webhook JSON (`text` plus one attachment); Mattermost reads it too."""
    rule = transition.rule
    firing = transition.status == "firing"
    title = f"[{transition.status.upper()}] {rule.name} ({rule.severity}) on {service}"
    summary = rule.annotations["summary"]
    fields = [
        {"title": "value", "value": _format_value(transition), "short": True},
        {"title": "threshold", "value": f"{rule.comparison} {rule.describe_threshold()}",
         "short": True},
    ]
    if rule.runbook_url:
        fields.append({"title": "runbook", "value": rule.runbook_url, "short": False})
    return {
        "text": f"{title}: {summary}",
        "attachments": [{
            "color": "danger" if firing else "good",
            "title": title,
            "text": summary,
            "fields": fields,
            "ts": int(transition.at),
        }],
    }


def _post(url: str, payload: dict[str, Any], timeout: float) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return int(response.status)


class AlertNotifier:
    """Sends each new transition to the log and every webhook, at most once per episode.

        notifier = AlertNotifier(webhooks=["https://hooks.slack.com/services/..."])
        for transition in evaluator.evaluate():
            await notifier.notify(transition)
    """

    def __init__(self, webhooks: Sequence[str] = (), *, service: str = "overdrive",
                 seen: SeenStore | None = None, repeat_after: float = 4 * 3600.0,
                 burst: int = 5, per_minute: float = 6.0, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        for url in webhooks:
            if not url.startswith(("http://", "https://")):
                raise ConfigurationError(f"webhook {url!r} must be an http(s) URL")
        self.webhooks = list(webhooks)
        self.service = service
        self.seen = seen if seen is not None else MemorySeen(clock)
        self.repeat_after = repeat_after
        self.buckets = {url: TokenBucket(burst, per_minute, clock) for url in self.webhooks}
        self.timeout = timeout
        self.sent = 0
        self.suppressed = 0
        self.failed = 0
        self.duplicates = 0

    async def notify(self, transition: Transition) -> None:
        if not await self.seen.first(fingerprint(transition), self.repeat_after):
            self.duplicates += 1
            return
        level = logging.WARNING if transition.status == "firing" else logging.INFO
        payload = slack_payload(transition, self.service)
        logger.log(level, "%s", payload["text"])
        for url in self.webhooks:
            if not self.buckets[url].take():
                self.suppressed += 1
                logger.warning("alert notification to a webhook suppressed by the rate limit "
                               "(%d so far)", self.suppressed)
                continue
            try:
                await asyncio.to_thread(_post, url, payload, self.timeout)
                self.sent += 1
            except OSError as error:
                self.failed += 1
                logger.warning("alert webhook failed: %s", error)
