"""Deliveries in-process (embedded mode): a local receiver verifies each with the
`standardwebhooks` library; retries, giving up and disabling, redirects, rotation, and the
send-time address check. Transactional: deliveries leave when the alert's transaction commits."""

import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest

from budgets.deliveries import deliveries_due
from budgets.models import Alert, WebhookDelivery, WebhookEndpoint
from budgets.scheduling import deliveries_schedule
from infraprism.models import Organization
from tests.budgets.helpers import call, make_budget
from tests.budgets.receiver import ids_delivered_once, running_receiver
from tests.conftest import KeyClient
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _embedded(settings: Any) -> None:
    settings.ROLLUP_IN_PROCESS = True
    settings.WEBHOOK_RETRY_DELAYS = [0.0, 0.0]
    settings.WEBHOOK_TIMEOUT_SECONDS = 5.0


def register(client: KeyClient, url: str) -> tuple[int, str]:
    answer = client.post(
        "/v1/webhooks", orjson.dumps({"url": url}), content_type="application/json"
    )
    assert answer.status_code == 201, answer.content
    data = orjson.loads(answer.content)["data"]
    return data["id"], data["secret"]


def retry_until_settled(delivery_id: int) -> WebhookDelivery:
    """What the beat does, driven by hand: attempt whatever is due until the delivery settles."""

    def settled() -> WebhookDelivery | None:
        deliveries_schedule(delivery_ids=deliveries_due())
        row = WebhookDelivery.objects.get(pk=delivery_id)
        return row if row.status != WebhookDelivery.Status.PENDING else None

    return wait_until(settled, timeout=30, what="the delivery to settle")


def test_crossing_delivered_signed_and_verified(client: KeyClient, org: Organization) -> None:
    budget = make_budget(org, name="Daily", limit=Decimal("1"), thresholds=[Decimal("0.5")])
    with running_receiver() as receiver:
        _, secret = register(client, receiver.url)
        receiver.secrets = [secret]
        for _ in range(3):  # more spend, but no second crossing of 0.5
            client.post_json("/v1/events/batch", {"events": [call("0.3"), call("0.3")]})
        assert len(receiver.received) == 1 and receiver.received[0].verified
    body = receiver.bodies()[0]
    assert body["type"] == "budget.threshold_crossed"
    data = body["data"]
    assert data["budget_id"] == budget.pk and data["budget_name"] == "Daily"
    assert data["spend"] == 0.6 and data["limit"] == 1 and data["threshold"] == 0.5
    assert data["percent_used"] == 60 and data["currency"] == "USD"
    assert data["scope"] == {"type": "organization"} and data["period"] == "day"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered" and delivery.last_status_code == 204
    assert delivery.message_id == receiver.received[0].message_id


def test_fails_twice_then_succeeds_under_one_webhook_id(
    client: KeyClient, org: Organization
) -> None:
    make_budget(org, limit=Decimal("1"), thresholds=[Decimal("1")])
    with running_receiver(fail_first=2) as receiver:
        _, secret = register(client, receiver.url)
        receiver.secrets = [secret]
        client.post_json("/v1/events", call("1"))
        delivery = retry_until_settled(WebhookDelivery.objects.get().pk)
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert [r.status for r in receiver.received] == [500, 500, 204]
    assert {r.message_id for r in receiver.received} == {delivery.message_id}
    assert all(r.verified for r in receiver.received)


def test_always_failing_endpoint_is_disabled(client: KeyClient, org: Organization) -> None:
    make_budget(org, limit=Decimal("1"), thresholds=[Decimal("0.5"), Decimal("1")])
    with running_receiver(always=500) as receiver:
        endpoint_id, secret = register(client, receiver.url)
        receiver.secrets = [secret]
        client.post_json("/v1/events", call("0.5"))
        delivery = retry_until_settled(WebhookDelivery.objects.get().pk)
        assert delivery.status == "failed" and delivery.attempts == 3  # 1 + 2 retries
        endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
        assert not endpoint.enabled and "kept failing" in endpoint.disabled_reason
        client.post_json("/v1/events", call("0.5"))  # crosses 1.0: nothing to a disabled endpoint
        assert Alert.objects.count() == 2 and WebhookDelivery.objects.count() == 1
        assert len(receiver.received) == 3
    shown = orjson.loads(client.get(f"/v1/webhooks/{endpoint_id}").content)["data"]
    assert shown["enabled"] is False and shown["disabled_reason"]


def test_redirects_are_not_followed(client: KeyClient, org: Organization) -> None:
    with running_receiver() as target, running_receiver(redirect_to="") as redirector:
        redirector.redirect_to = target.url
        endpoint_id, secret = register(client, redirector.url)
        redirector.secrets = [secret]
        client.post(f"/v1/webhooks/{endpoint_id}/test")
        assert [r.status for r in redirector.received] == [302]
        assert target.received == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_status_code == 302


def test_rotation_signs_with_both_secrets(client: KeyClient, org: Organization) -> None:
    with running_receiver() as receiver:
        endpoint_id, old = register(client, receiver.url)
        rotated = client.post(f"/v1/webhooks/{endpoint_id}/rotate-secret")
        new = orjson.loads(rotated.content)["data"]["secret"]
        for secret in (old, new):  # each secret alone verifies the delivery
            receiver.secrets = [secret]
            answer = client.post(f"/v1/webhooks/{endpoint_id}/test")
            assert answer.status_code == 202
        assert [r.verified for r in receiver.received] == [True, True]
        assert receiver.bodies()[0]["type"] == "webhook.test"
    signature = WebhookDelivery.objects.order_by("pk").last()
    assert signature is not None


def test_name_resolving_to_a_private_address_is_refused_at_send_time(
    client: KeyClient, org: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint_id, _ = register(client, "https://hooks.example.com/x")

    def private(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", private)  # a DNS answer, the attacker's choice
    client.post(f"/v1/webhooks/{endpoint_id}/test")
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_status_code is None and "disallowed address" in delivery.last_error


def test_each_crossing_delivered_once(
    client: KeyClient, org: Organization, rollup: Callable[[], Any]
) -> None:
    make_budget(org, limit=Decimal("1"))
    with running_receiver() as receiver:
        _, secret = register(client, receiver.url)
        receiver.secrets = [secret]
        events = [call("0.25") for _ in range(5)]
        for _ in range(3):
            client.post_json("/v1/events/batch", {"events": events})
            rollup()
        thresholds = sorted(b["data"]["threshold"] for b in receiver.bodies())
    assert thresholds == [0.5, 0.8, 1] and ids_delivered_once(receiver)
