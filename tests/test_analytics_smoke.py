import uuid

from tests.factories import event


def _ingest(client, events):
    r = client.post_json("/v1/events/batch", {"events": events})
    assert r.status_code == 202, r.content
    return r.json()


def test_sessions_endpoints_answer(client, rollup):
    sid = "acme-corp:conv/1 é"
    events = [
        event(
            str(uuid.uuid4()),
            session_id=sid,
            entity_type="customer",
            entity_id="acme-corp",
            timestamp=f"2025-01-02T10:00:0{i}Z",
            input_tokens=100,
            output_tokens=10,
            tags={"feature": "chatbot"},
        )
        for i in range(3)
    ]
    _ingest(client, events)
    rollup()
    r = client.get(
        "/v1/analytics/sessions",
        {"entity_type": "customer", "entity_id": "acme-corp", "start_date": "2025-01-01"},
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["data"][0]["turn_count"] == 3
    from urllib.parse import quote

    r = client.get(f"/v1/analytics/sessions/{quote(sid, safe='')}")
    assert r.status_code == 200, r.content
    assert len(r.json()["data"]["calls"]) == 3
    r = client.get(f"/v1/analytics/sessions/{quote(sid, safe='')}/timeline")
    assert r.status_code == 200, r.content
    assert r.json()["data"]["steps"][2]["offset_ms"] == 2000
    r = client.get("/v1/analytics/session-metrics", {"interval": "day"})
    assert r.status_code == 200, r.content
    for g in ["entity", "entity_type", "model", "provider", "session", "day", "tag:feature"]:
        r = client.get("/v1/analytics/costs", {"group_by": g})
        assert r.status_code == 200, (g, r.content)
    r = client.get("/v1/analytics/events")
    assert r.status_code == 200, r.content
    r = client.get("/v1/analytics/sessions", {"format": "csv"})
    assert r.status_code == 200
    print(b"".join(r.streaming_content).decode())
    r = client.get("/v1/schema")
    assert r.status_code == 200, r.content[:2000]
