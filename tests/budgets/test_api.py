"""The manage API: validation names the field, scope `manage` only, tenants never see each other,
statuses, alert history pages, webhook secrets shown once."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest

from budgets.models import Budget, WebhookEndpoint
from infraprism.models import ApiKey, Organization
from tests.budgets.helpers import call, make_budget
from tests.conftest import KeyClient

pytestmark = pytest.mark.django_db

BUDGET = {"name": "Team spend", "scope": "organization", "period": "month", "limit": 100}


def body(response: Any) -> Any:
    return orjson.loads(response.content)


def post(client: KeyClient, path: str, data: Any) -> Any:
    raw = data if isinstance(data, (bytes, str)) else orjson.dumps(data)
    return client.post(path, raw, content_type="application/json")


def patch(client: KeyClient, path: str, data: Any) -> Any:
    return client.patch(path, orjson.dumps(data), content_type="application/json")


def test_create_read_update_delete_budget(client: KeyClient) -> None:
    exact = b'{"name": "Team spend", "scope": "organization", "period": "month", '
    created = post(client, "/v1/budgets", exact + b'"limit": 123456789.123456789}')
    assert created.status_code == 201, created.content
    data = body(created)["data"]
    # The limit keeps every decimal digit sent (parsed as a Decimal, rendered as a number).
    assert b'"limit":123456789.123456789' in created.content
    assert data["thresholds"] == [0.5, 0.8, 1] and data["enabled"] is True
    path = f"/v1/budgets/{data['id']}"
    assert body(client.get(path))["data"]["name"] == "Team spend"
    changed = patch(client, path, {"thresholds": [1, 0.25], "name": "Renamed"})
    assert changed.status_code == 200, changed.content
    assert body(changed)["data"]["thresholds"] == [0.25, 1]
    assert client.delete(path).status_code == 204
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"limit": 0}, "limit", "greater than or equal"),
        ({"limit": "0.0000000001"}, "limit", "decimal places"),
        ({"thresholds": [0]}, "thresholds", "greater than or equal"),
        ({"thresholds": [10.5]}, "thresholds", "less than or equal"),
        ({"thresholds": [0.5, 0.5]}, "thresholds", "repeat"),
        ({"thresholds": []}, "thresholds", "at least 1"),
        ({"scope": "entity", "entity_type": "user"}, "entity_id", "required when scope is entity"),
        ({"entity_type": "user"}, "entity_type", "not taken when scope is organization"),
        ({"scope": "tag", "tag": "nocolon"}, "tag", "key:value"),
        ({"scope": "tag"}, "tag", "required"),
        ({"scope": "model"}, "model", "required"),
        ({"period": "rolling"}, "window_hours", "required when period is rolling"),
        ({"window_hours": 5}, "window_hours", "only taken when period is rolling"),
        ({"period": "year"}, "period", "valid choice"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_budget_validation_names_the_field(
    client: KeyClient, fields: dict[str, Any], field: str, reason: str
) -> None:
    answer = post(client, "/v1/budgets", {**BUDGET, **fields})
    assert answer.status_code == 400, answer.content
    errors = body(answer)["errors"]
    assert field in errors, errors
    assert any(reason in message for message in errors[field]), errors


def test_patch_validates_against_the_stored_budget(client: KeyClient, org: Organization) -> None:
    budget = make_budget(org, scope="entity", entity_type="user", entity_id="u1")
    answer = patch(client, f"/v1/budgets/{budget.pk}", {"scope": "tag"})
    assert answer.status_code == 400 and "tag" in body(answer)["errors"]
    ok = patch(client, f"/v1/budgets/{budget.pk}", {"scope": "tag", "tag": "team:ml"})
    assert body(ok)["data"]["entity_type"] is None and body(ok)["data"]["tag"] == "team:ml"


def test_manage_scope_required(client_for: Callable[..., KeyClient], org: Organization) -> None:
    reader = client_for(org, scopes=(ApiKey.SCOPE_INGEST, ApiKey.SCOPE_READ))
    for path in ("/v1/budgets", "/v1/alerts", "/v1/webhooks", "/v1/budgets/status"):
        assert reader.get(path).status_code == 403, path
    assert post(reader, "/v1/budgets", BUDGET).status_code == 403


def test_other_tenants_rows_are_404(
    client: KeyClient, other_client: KeyClient, other_org: Organization
) -> None:
    budget = make_budget(other_org)
    hook = post(other_client, "/v1/webhooks", {"url": "https://example.com/hook"})
    hook_id = body(hook)["data"]["id"]
    for path in (
        f"/v1/budgets/{budget.pk}",
        f"/v1/budgets/{budget.pk}/status",
        f"/v1/webhooks/{hook_id}",
        f"/v1/webhooks/{hook_id}/deliveries",
    ):
        assert client.get(path).status_code == 404, path
    assert client.delete(f"/v1/budgets/{budget.pk}").status_code == 404
    assert post(client, f"/v1/webhooks/{hook_id}/test", b"").status_code == 404
    assert post(client, f"/v1/webhooks/{hook_id}/rotate-secret", b"").status_code == 404
    assert body(client.get("/v1/budgets"))["data"] == []
    assert Budget.objects.filter(pk=budget.pk).exists()
    assert client.get(f"/v1/budgets/{2**63}").status_code == 404


def test_status_gives_spend_percent_bounds_and_projection(
    client: KeyClient, org: Organization
) -> None:
    org.time_zone = "America/New_York"
    org.save()
    budget = make_budget(org, limit=Decimal("2"), thresholds=[Decimal("0.25"), Decimal("1")])
    client.post_json("/v1/events/batch", {"events": [call("0.3"), call("0.2")]})
    data = body(client.get(f"/v1/budgets/{budget.pk}/status"))["data"]
    assert data["spend"] == 0.5 and data["limit"] == 2.0 and data["percent_used"] == 25
    assert data["thresholds_crossed"] == [0.25] and data["currency"] == "USD"
    assert data["period_start"].endswith(("04:00:00Z", "05:00:00Z"))  # midnight in New York
    assert data["projected_spend"] >= 0.5
    listed = body(client.get("/v1/budgets/status?scope=organization"))["data"]
    assert [s["budget_id"] for s in listed] == [budget.pk]
    assert client.get("/v1/budgets/status?scope=galaxy").status_code == 400


def test_entity_type_status_picks_the_entity(client: KeyClient, org: Organization) -> None:
    budget = make_budget(org, scope="entity_type", entity_type="user")
    events = [
        call("0.4", entity_type="user", entity_id="a"),
        call("0.7", entity_type="user", entity_id="b"),
    ]
    client.post_json("/v1/events/batch", {"events": events})
    top = body(client.get(f"/v1/budgets/{budget.pk}/status"))["data"]
    assert top["scope"] == {"type": "entity_type", "entity_type": "user", "entity_id": "b"}
    one = body(client.get(f"/v1/budgets/{budget.pk}/status?entity_id=a"))["data"]
    assert one["spend"] == 0.4


def test_alert_history_filters_and_pages(
    client: KeyClient, org: Organization, settings: Any, rollup: Callable[[], Any]
) -> None:
    settings.ROLLUP_IN_PROCESS = True
    budget = make_budget(org, limit=Decimal("1"))
    other = make_budget(org, limit=Decimal("10"), thresholds=[Decimal("0.1")])
    client.post_json("/v1/events", call("1.5"))
    rollup()
    everything = body(client.get("/v1/alerts?limit=2"))
    assert len(everything["data"]) == 2 and everything["pagination"]["has_more"] is True
    rest = body(client.get(f"/v1/alerts?limit=2&cursor={everything['pagination']['next_cursor']}"))
    assert len(rest["data"]) == 2 and rest["pagination"]["has_more"] is False
    mine = body(client.get(f"/v1/alerts?budget_id={other.pk}"))["data"]
    assert [(a["budget_id"], a["threshold"]) for a in mine] == [(other.pk, 0.1)]
    crossed = body(
        client.get("/v1/alerts?type=budget.threshold_crossed&start=2000-01-01T00:00:00Z")
    )
    assert len(crossed["data"]) == 4
    assert body(client.get("/v1/alerts?type=budget.recovered"))["data"] == []
    for bad in ("budget_id=x", "type=nope", "start=yesterday", "start=2026-01-01T00:00:00", "x=1"):
        assert client.get(f"/v1/alerts?{bad}").status_code == 400, bad
    assert budget.alerts.count() == 3


def test_webhook_secret_shown_on_create_and_rotate_only(client: KeyClient) -> None:
    created = post(client, "/v1/webhooks", {"url": "https://example.com/h", "description": "ops"})
    assert created.status_code == 201, created.content
    data = body(created)["data"]
    assert data["secret"].startswith("whsec_")
    path = f"/v1/webhooks/{data['id']}"
    assert "secret" not in body(client.get(path))["data"]
    assert all("secret" not in w for w in body(client.get("/v1/webhooks"))["data"])
    rotated = body(post(client, f"{path}/rotate-secret", b""))["data"]
    assert rotated["secret"] != data["secret"] and rotated["previous_secret_expires_at"]
    endpoint = WebhookEndpoint.objects.get(pk=data["id"])
    assert endpoint.previous_secret == data["secret"]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # plain http off loopback
        "ftp://example.com/",
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hook",
        "https://user:pw@example.com/",
        "not a url",
    ],
)
def test_webhook_urls_refused(client: KeyClient, url: str) -> None:
    answer = post(client, "/v1/webhooks", {"url": url})
    assert answer.status_code == 400 and "url" in body(answer)["errors"], answer.content


def test_private_addresses_allowed_in_debug_and_loopback_over_http(
    client: KeyClient, settings: Any
) -> None:
    assert post(client, "/v1/webhooks", {"url": "http://127.0.0.1:9/h"}).status_code == 201
    assert post(client, "/v1/webhooks", {"url": "http://localhost:9/h"}).status_code == 201
    settings.DEBUG = True
    assert post(client, "/v1/webhooks", {"url": "https://10.0.0.5/h"}).status_code == 201
