"""A Ray-side pub/sub for live updates and alerts; the API's WebSocket feed reads from it.

A robot's live state is a value, not an event: each subscriber keeps only the latest state of each
robot, so a subscriber that reads more slowly than a large fleet reports sees every robot's newest state
and never loses one. Alerts are events: they wait in a bounded queue, and a slow subscriber loses its
oldest (counted, and told so) rather than slowing the shards that publish.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import ray

HUB_NAME = "fleetray-hub"


ALL_TENANTS = "*"  # a platform-side subscriber (the webhook dispatcher) may watch every tenant


@dataclass
class _Subscription:
    tenant_id: str
    kinds: frozenset[str] | None
    robot_ids: frozenset[str] | None
    site_ids: frozenset[str] | None = None
    rules: frozenset[str] | None = None
    queue: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))
    dropped: int = 0
    # Each robot's latest state, the least recently updated first.
    states: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)

    def wants(self, item: dict[str, Any]) -> bool:
        return (
            (self.tenant_id == ALL_TENANTS or item.get("tenant_id") == self.tenant_id)
            and (self.kinds is None or item.get("kind") in self.kinds)
            and (self.robot_ids is None or item.get("robot_id") in self.robot_ids)
            and (self.site_ids is None or item.get("site_id") in self.site_ids)
            and (self.rules is None or item.get("kind") != "alert" or item.get("rule") in self.rules)
        )


def _frozen(values: list[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values else None


class Hub:
    """Subscriptions and fan-out, without Ray (the actor below wraps it)."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscriptions: dict[str, _Subscription] = {}
        self.published = 0

    def subscribe(
        self,
        subscriber_id: str,
        tenant_id: str,
        *,
        kinds: list[str] | None = None,
        robot_ids: list[str] | None = None,
        site_ids: list[str] | None = None,
        rules: list[str] | None = None,
    ) -> None:
        """Start (or replace) a subscription to a tenant's items, optionally of some kinds, robots, sites or rules."""
        self._subscriptions[subscriber_id] = _Subscription(
            tenant_id,
            _frozen(kinds),
            _frozen(robot_ids),
            _frozen(site_ids),
            _frozen(rules),
            deque(maxlen=self._queue_size),
        )

    def watched_tenants(self) -> frozenset[str]:
        """Tenants whose live state updates someone wants (shards publish only theirs)."""
        return frozenset(
            s.tenant_id
            for s in self._subscriptions.values()
            if s.tenant_id != ALL_TENANTS and (s.kinds is None or "state" in s.kinds)
        )

    def unsubscribe(self, subscriber_id: str) -> None:
        """End a subscription."""
        self._subscriptions.pop(subscriber_id, None)

    def publish(self, items: list[dict[str, Any]]) -> None:
        """Hand items to every subscription that wants them."""
        self.published += len(items)
        for subscription in self._subscriptions.values():
            for item in items:
                if not subscription.wants(item):
                    continue
                if item.get("kind") == "state":
                    subscription.states.pop(item.get("robot_id"), None)  # superseded: the newest goes last
                    subscription.states[item.get("robot_id")] = item
                    continue
                if len(subscription.queue) == subscription.queue.maxlen:
                    subscription.dropped += 1
                subscription.queue.append(item)

    def take(self, subscriber_id: str, max_items: int = 500) -> dict[str, Any]:
        """Items waiting for a subscriber (alerts first, then the robots' states, least recently updated first),
        and how many alerts it lost since the last take."""
        subscription = self._subscriptions.get(subscriber_id)
        if subscription is None:
            return {"items": [], "dropped": 0, "subscribed": False}
        items = [subscription.queue.popleft() for _ in range(min(max_items, len(subscription.queue)))]
        states = subscription.states
        items += [states.popitem(last=False)[1] for _ in range(min(max_items - len(items), len(states)))]
        dropped, subscription.dropped = subscription.dropped, 0
        return {"items": items, "dropped": dropped, "subscribed": True}


@ray.remote(num_cpus=0, max_restarts=-1)
class EventHub:
    """The named hub actor (``fleetray-hub``)."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._hub = Hub(queue_size)

    def subscribe(
        self,
        subscriber_id: str,
        tenant_id: str,
        kinds: list[str] | None = None,
        robot_ids: list[str] | None = None,
        site_ids: list[str] | None = None,
        rules: list[str] | None = None,
    ) -> None:
        self._hub.subscribe(subscriber_id, tenant_id, kinds=kinds, robot_ids=robot_ids, site_ids=site_ids, rules=rules)

    def watched_tenants(self) -> frozenset[str]:
        return self._hub.watched_tenants()

    def unsubscribe(self, subscriber_id: str) -> None:
        self._hub.unsubscribe(subscriber_id)

    def publish(self, items: list[dict[str, Any]]) -> None:
        self._hub.publish(items)

    async def poll(self, subscriber_id: str, max_items: int = 500, timeout_s: float = 1.0) -> dict[str, Any]:
        """Wait up to ``timeout_s`` for items, then return what is there."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            taken = self._hub.take(subscriber_id, max_items)
            if taken["items"] or not taken["subscribed"] or asyncio.get_running_loop().time() >= deadline:
                return taken
            await asyncio.sleep(0.05)


def get_hub() -> Any:
    """The hub actor, started if it is not running yet."""
    return EventHub.options(name=HUB_NAME, get_if_exists=True, lifetime="detached").remote()
