"""The production shape: gunicorn ingests, a Celery worker rolls up, evaluates and delivers,
beat re-enqueues what is due. The same events replayed three times, shuffled, by several
clients at once give exactly one delivery per crossing; a worker SIGKILLed mid-delivery loses
no alert and no webhook-id gets a 2xx twice."""

import random
import threading
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.db import connection

from budgets.models import Alert, WebhookDelivery
from infraprism.models import ApiKey
from infraprism.services import api_key_create, organization_create
from tests.budgets.helpers import call, make_budget
from tests.budgets.receiver import Receiver, ids_delivered_once, running_receiver
from tests.reliability.conftest import Fleet
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker needs PostgreSQL"),
]


def tenant(slug: str) -> tuple[Any, str]:
    org = organization_create(slug=slug, name=slug)
    scopes = [ApiKey.SCOPE_INGEST, ApiKey.SCOPE_READ, ApiKey.SCOPE_MANAGE]
    return org, api_key_create(organization=org, name="all", scopes=scopes)[1]


def register(base: str, key: str, receiver: Receiver) -> None:
    answer = requests.post(
        f"{base}/v1/webhooks",
        json={"url": receiver.url},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    receiver.secrets = [answer.json()["data"]["secret"]]


def test_replays_by_concurrent_clients_give_one_delivery_per_crossing(
    fleet: Fleet, stack_env: dict[str, str]
) -> None:
    org, key = tenant("replays")
    make_budget(org, limit=Decimal("1"))  # 0.5, 0.8, 1.0
    per_user = make_budget(
        org, scope="entity_type", entity_type="user", limit=Decimal("0.2"), thresholds=[Decimal(1)]
    )
    events = [
        call("0.03", session_id=f"s-{i % 7}", entity_type="user", entity_id=f"u{i % 4}")
        for i in range(40)
    ]  # 1.20 in all, 0.30 per user
    server = fleet.server(stack_env)
    fleet.worker(stack_env, name="budgets", concurrency=2)
    fleet.beat(stack_env)
    with running_receiver() as receiver:
        register(server.url, key, receiver)

        def client(seed: int) -> None:
            rng = random.Random(seed)
            session = requests.Session()
            for _ in range(3):
                shuffled = events[:]
                rng.shuffle(shuffled)
                for start in range(0, len(shuffled), 10):
                    answer = session.post(
                        f"{server.url}/v1/events/batch",
                        json={"events": shuffled[start : start + 10]},
                        headers={"Authorization": f"Bearer {key}"},
                        timeout=30,
                    )
                    assert answer.status_code == 202, answer.text

        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # 3 thresholds of the organization budget + 4 users over their 0.20 each.
        wait_until(lambda: len(receiver.ok_ids()) >= 7, timeout=60, what="7 deliveries")
        # Let any straggling evaluation run: a duplicate would have to show up by now.
        wait_until(
            lambda: not WebhookDelivery.objects.filter(status="pending").exists(),
            timeout=30,
            what="no delivery pending",
        )
    assert Alert.objects.filter(organization=org).count() == 7
    assert sorted(Alert.objects.filter(budget=per_user).values_list("scope_key", flat=True)) == [
        "u0",
        "u1",
        "u2",
        "u3",
    ]
    assert len(receiver.ok_ids()) == 7 and ids_delivered_once(receiver)
    assert all(r.verified for r in receiver.received)


def test_worker_killed_mid_delivery_loses_nothing_and_repeats_no_2xx(
    fleet: Fleet, stack_env: dict[str, str]
) -> None:
    org, key = tenant("killed")
    make_budget(org, limit=Decimal("1"), thresholds=[Decimal("1")])
    server = fleet.server(stack_env)
    fleet.beat(stack_env)
    first = fleet.worker(stack_env, name="first")
    hold = threading.Event()
    with running_receiver(hold=hold, hold_first=1) as receiver:
        register(server.url, key, receiver)
        answer = requests.post(
            f"{server.url}/v1/events",
            json=call("1.5"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 202
        wait_until(lambda: receiver.arrivals >= 1, timeout=30, what="the delivery to arrive")
        first.kill_group()  # SIGKILL the worker and its pool while the request is in flight
        first.popen.wait(10)
        hold.set()  # the held request now answers 503 to a dead connection
        fleet.worker(stack_env, name="second")
        wait_until(lambda: receiver.ok_ids(), timeout=60, what="the redelivery")
        delivery = WebhookDelivery.objects.get(organization=org)
        wait_until(
            lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered",
            timeout=30,
            what="the delivery recorded",
        )
    delivery.refresh_from_db()
    assert Alert.objects.filter(organization=org).count() == 1
    assert receiver.ok_ids() == [delivery.message_id]
    assert {r.message_id for r in receiver.received} == {delivery.message_id}
    assert delivery.attempts == 2 and ids_delivered_once(receiver)


def test_worker_retries_on_the_schedule_and_disables_an_endpoint_that_keeps_failing(
    fleet: Fleet, stack_env: dict[str, str]
) -> None:
    org, key = tenant("retries")
    make_budget(org, limit=Decimal("1"), thresholds=[Decimal("1")])
    server = fleet.server(stack_env)
    fleet.worker(stack_env, name="retries")
    fleet.beat(stack_env)
    with running_receiver(fail_first=2) as flaky, running_receiver(always=503) as broken:
        register(server.url, key, flaky)
        register(server.url, key, broken)
        answer = requests.post(
            f"{server.url}/v1/events",
            json=call("1"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 202
        wait_until(lambda: flaky.ok_ids(), timeout=60, what="the flaky endpoint's 2xx")
        # 1 attempt + 3 retries (WEBHOOK_RETRY_DELAYS has three) for the broken one.
        wait_until(
            lambda: WebhookDelivery.objects.filter(organization=org, status="failed").exists(),
            timeout=60,
            what="the broken endpoint's delivery to fail",
        )
    delivered = WebhookDelivery.objects.get(organization=org, status="delivered")
    failed = WebhookDelivery.objects.get(organization=org, status="failed")
    assert delivered.attempts == 3 and [r.status for r in flaky.received] == [500, 500, 204]
    assert failed.attempts == 4 and len(broken.received) == 4
    assert {r.message_id for r in broken.received} == {failed.message_id}
    assert not failed.endpoint.enabled and failed.endpoint.disabled_reason
