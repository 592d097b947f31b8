"""Webhook deliveries: created with the alert, attempted by Celery, retried on a schedule.

An attempt is claimed in a short transaction (`SELECT ... FOR UPDATE SKIP LOCKED` on a due,
pending row; the claim moves `next_attempt_at` ahead by WEBHOOK_LEASE_SECONDS), sent outside
any transaction, and its result recorded only if the claim is still the latest. A worker killed
mid-send leaves the row pending: once the lease runs out the beat's due scan enqueues it again,
with the same `webhook-id`. A delivered row is never sent again.
"""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from budgets import egress
from budgets.models import Alert, Budget, WebhookDelivery, WebhookEndpoint
from budgets.payloads import TEST_TYPE, alert_body, test_body
from budgets.signing import message_id_generate, signature_header

logger = logging.getLogger(__name__)
USER_AGENT = "InfraPrism-Webhooks/1.0"


def _on_commit_schedule(ids: list[int]) -> None:
    from budgets.scheduling import deliveries_schedule  # scheduling imports the tasks

    if ids:
        transaction.on_commit(lambda: deliveries_schedule(delivery_ids=ids))


def deliveries_create_for_alert(*, alert: Alert, budget: Budget) -> list[int]:
    """One delivery per enabled endpoint of the organization, in the alert's transaction."""
    endpoints = WebhookEndpoint.objects.filter(
        organization_id=alert.organization_id, enabled=True
    ).order_by("pk")
    body = alert_body(alert, budget)
    rows = [
        WebhookDelivery(
            organization_id=alert.organization_id,
            endpoint=endpoint,
            alert=alert,
            message_id=message_id_generate(),
            event_type=alert.type,
            body=body,
            next_attempt_at=alert.created_at,
            created_at=alert.created_at,
        )
        for endpoint in endpoints
    ]
    created = WebhookDelivery.objects.bulk_create(rows)
    ids = [row.pk for row in created]
    _on_commit_schedule(ids)
    return ids


@transaction.atomic
def delivery_create_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        organization_id=endpoint.organization_id,
        endpoint=endpoint,
        message_id=message_id_generate(),
        event_type=TEST_TYPE,
        body=test_body(endpoint.pk, now),
        next_attempt_at=now,
        created_at=now,
    )
    _on_commit_schedule([delivery.pk])
    return delivery


def _claim(delivery_id: int, now: datetime) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(
                pk=delivery_id,
                status=WebhookDelivery.Status.PENDING,
                next_attempt_at__lte=now,
            )
            .first()
        )
        if delivery is None:
            return None  # delivered, given up, not due yet, or being attempted right now
        endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
        if not endpoint.enabled:
            delivery.status = WebhookDelivery.Status.CANCELLED
            delivery.save(update_fields=["status"])
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
    return delivery, endpoint


def _headers(delivery: WebhookDelivery, endpoint: WebhookEndpoint, body: bytes) -> dict[str, str]:
    timestamp = int(time.time())
    secrets = endpoint.signing_secrets(timezone.now())
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            secrets=secrets, message_id=delivery.message_id, timestamp=timestamp, body=body
        ),
    }


def retry_delays() -> list[float]:
    return [float(d) for d in settings.WEBHOOK_RETRY_DELAYS]


def delivery_attempt(*, delivery_id: int) -> str | None:
    """Attempt one due delivery; its status afterwards, or None when it was not ours to try."""
    claimed = _claim(delivery_id, timezone.now())
    if claimed is None:
        return None
    delivery, endpoint = claimed
    body = delivery.body.encode()
    result = egress.post(endpoint.url, body=body, headers=_headers(delivery, endpoint, body))
    return _record(delivery, endpoint, result)


def _record(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, result: egress.PostResult
) -> str | None:
    now = timezone.now()
    delays = retry_delays()
    with transaction.atomic():
        row = (
            WebhookDelivery.objects.select_for_update()
            .filter(
                pk=delivery.pk, attempts=delivery.attempts, status=WebhookDelivery.Status.PENDING
            )
            .first()
        )
        if row is None:
            return None  # our lease ran out and a later attempt owns the row now
        row.last_status_code = result.status_code
        row.last_error = result.error
        row.last_latency_ms = result.latency_ms
        if result.ok:
            row.status = WebhookDelivery.Status.DELIVERED
            row.delivered_at = now
        elif row.attempts > len(delays):
            row.status = WebhookDelivery.Status.FAILED
        else:
            row.next_attempt_at = now + timedelta(seconds=delays[row.attempts - 1])
        row.save()
        if row.status == WebhookDelivery.Status.FAILED:
            endpoint_disable(
                endpoint_id=endpoint.pk,
                reason=f"Deliveries kept failing for {row.attempts} attempts "
                f"(last: {result.status_code or result.error})",
            )
    logger.info(
        "webhook delivery=%s endpoint=%s attempt=%d status=%s code=%s",
        row.message_id,
        endpoint.pk,
        row.attempts,
        row.status,
        result.status_code,
    )
    return row.status


def endpoint_disable(*, endpoint_id: int, reason: str) -> None:
    """Disable an endpoint and cancel what is still pending for it (the dashboard says why)."""
    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
            enabled=False, disabled_at=now, disabled_reason=reason[:300], updated_at=now
        )
        WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id, status=WebhookDelivery.Status.PENDING
        ).update(status=WebhookDelivery.Status.CANCELLED)


def deliveries_due(*, limit: int = 500) -> list[int]:
    """Pending deliveries whose attempt is due (new, retrying, or whose lease ran out)."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
