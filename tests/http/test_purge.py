"""Purgers: batched, retried with backoff, never blocking, soft purges mapped per CDN.

The CDN APIs are played by a small ASGI receiver reached through httpx's ASGITransport,
so every request the purgers build is real HTTP checked on the receiving side.
"""

from __future__ import annotations

import asyncio

import pytest

from overdrive import CloudflarePurger, FastlyPurger, VarnishPurger, WebhookPurger
from overdrive.http.edge import edge_tag
from tests.http.conftest import Receiver, receiver_client


async def test_fastly_batches_up_to_256_keys() -> None:
    """300 tags purged together go out as two requests, 256 then 44 keys."""
    receiver = Receiver()
    purger = FastlyPurger("svc", "token", client=receiver_client(receiver), flush_interval=0.01)
    await purger.purge([f"tag{i}" for i in range(300)])
    await purger.close()
    sizes = [len(request["json"]["surrogate_keys"]) for request in receiver.requests]
    assert sizes == [256, 44]
    assert receiver.requests[0]["path"] == "/service/svc/purge"
    assert receiver.requests[0]["headers"]["fastly-key"] == "token"


async def test_fastly_soft_purge_sets_the_header() -> None:
    """soft=True becomes Fastly-Soft-Purge: 1; hard and soft tags never share a request."""
    receiver = Receiver()
    purger = FastlyPurger("svc", "token", client=receiver_client(receiver), flush_interval=0.01)
    await purger.purge(["a"], soft=True)
    await purger.purge(["b"])
    await purger.close()
    by_key = {r["json"]["surrogate_keys"][0]: r["headers"] for r in receiver.requests}
    assert by_key["a"].get("fastly-soft-purge") == "1"
    assert "fastly-soft-purge" not in by_key["b"]


async def test_bursts_are_coalesced_into_one_request() -> None:
    """Purges arriving within the flush interval share one request, duplicates dropped."""
    receiver = Receiver()
    purger = WebhookPurger("http://hook/purge", client=receiver_client(receiver),
                                                flush_interval=0.05)
    for tag in ("a", "b", "a", "c"):
        await purger.purge([tag])
    await purger.close()
    assert [r["json"] for r in receiver.requests] == [{"tags": ["a", "b", "c"], "soft": False}]


async def test_failures_are_retried_with_backoff() -> None:
    """Two 503s then success: three requests, the tags purged, retries counted."""
    receiver = Receiver(failures=2)
    purger = CloudflarePurger("zone", "token", client=receiver_client(receiver), flush_interval=0.0,
                              backoff=0.01)
    await purger.purge(["board:main"])
    await purger.close()
    assert len(receiver.requests) == 3
    assert purger.stats["retries"] == 2
    assert purger.stats["purged_tags"] == 1
    assert receiver.requests[0]["json"] == {"tags": ["board:main"]}
    assert receiver.requests[0]["headers"]["authorization"] == "Bearer token"


async def test_giving_up_is_counted_not_raised() -> None:
    """After max_attempts the failure is logged and counted; nothing is raised."""
    receiver = Receiver(failures=100)
    purger = WebhookPurger("http://hook/", client=receiver_client(receiver), flush_interval=0.0,
                           backoff=0.001, max_attempts=3)
    await purger.purge(["x"])
    await purger.close()
    assert purger.stats["failed_tags"] == 1
    assert len(receiver.requests) == 3


async def test_purge_never_blocks_the_caller() -> None:
    """purge() returns while the CDN is still answering."""
    receiver = Receiver(delay=0.3)
    purger = WebhookPurger("http://hook/", client=receiver_client(receiver), flush_interval=0.0)
    await purger.purge(["slow"])
    assert receiver.requests == []
    await purger.close()
    assert len(receiver.requests) == 1


async def test_cloudflare_batches_30_tags() -> None:
    """Cloudflare's purge-by-tag takes 30 tags per call."""
    receiver = Receiver()
    purger = CloudflarePurger("zone", "token", client=receiver_client(receiver),
                                               flush_interval=0.01)
    await purger.purge([f"t{i}" for i in range(61)])
    await purger.close()
    assert [len(r["json"]["tags"]) for r in receiver.requests] == [30, 30, 1]


@pytest.mark.parametrize(("soft", "header"), [(False, "xkey-purge"), (True, "xkey-softpurge")])
async def test_varnish_uses_purge_method_and_xkey_header(soft: bool, header: str) -> None:
    """Varnish gets PURGE with the tags, hashed like the Surrogate-Key header was."""
    receiver = Receiver()
    purger = VarnishPurger("http://varnish:6081/", client=receiver_client(receiver),
                                                   flush_interval=0.0)
    await purger.purge(["board:main", "board:with space"], soft=soft)
    await purger.close()
    request = receiver.requests[0]
    assert request["method"] == "PURGE"
    assert request["headers"][header] == f"board:main {edge_tag('board:with space')}"


async def test_flush_without_any_purge_returns() -> None:
    """A purger that never purged flushes and closes at once."""
    purger = WebhookPurger("http://hook/", client=receiver_client(Receiver()))
    await purger.flush()
    await purger.close()


async def test_refused_credentials_are_not_retried() -> None:
    """A 403 (bad token) fails at once: retrying cannot help."""
    receiver = Receiver(failures=100, failure_status=403)
    purger = FastlyPurger("svc", "bad-token", client=receiver_client(receiver),
                          flush_interval=0.0, backoff=0.001)
    await purger.purge(["x"])
    await purger.close()
    assert len(receiver.requests) == 1
    assert purger.stats["failed_tags"] == 1


async def test_throttling_is_retried() -> None:
    """A 429 from the CDN API is retried with backoff."""
    receiver = Receiver(failures=1, failure_status=429)
    purger = FastlyPurger("svc", "token", client=receiver_client(receiver),
                          flush_interval=0.0, backoff=0.001)
    await purger.purge(["x"])
    await purger.close()
    assert len(receiver.requests) == 2
    assert purger.stats["purged_tags"] == 1


async def test_again_after_purges_once_more_after_the_delay_and_flush_waits_for_it() -> None:
    receiver = Receiver()
    purger = VarnishPurger("http://edge/", client=receiver_client(receiver), flush_interval=0.0)
    await purger.purge(["board:main"], again_after=0.3)
    await purger.purge(["board:other"])
    await purger.close()  # flushes, the repeat included
    purged = [(request["headers"]["xkey-purge"], request["at"]) for request in receiver.requests]
    assert [tag for tag, _ in purged] == ["board:main board:other", "board:main"]
    assert purged[1][1] - purged[0][1] >= 0.29
    assert purger.stats["repeated_tags"] == 1


def test_what_a_finished_event_loop_left_is_sent_by_the_next() -> None:
    """One loop per test or per `asyncio.run`: a repeat that loop cancelled at its end is
    not lost, and close() on the next loop sends it instead of waiting forever."""
    receiver = Receiver()
    purger = VarnishPurger("http://edge/", client=receiver_client(receiver), flush_interval=0.0)

    async def first_purge_only() -> None:
        await purger.purge(["board:main"], again_after=30.0)
        await asyncio.sleep(0.05)

    asyncio.run(first_purge_only())
    asyncio.run(asyncio.wait_for(purger.close(), timeout=5.0))
    assert [r["headers"]["xkey-purge"] for r in receiver.requests] == ["board:main"] * 2
