from sessions.models import Session


def test_ingest_then_rollup_builds_the_session(client, rollup):
    body = {
        "model": "gpt-4o",
        "input_tokens": 1000,
        "output_tokens": 100,
        "session_id": "s-1",
        "entity_type": "customer",
        "entity_id": "acme-corp",
        "cost": 0.0000015,
    }
    response = client.post_json("/v1/events", body)
    assert response.status_code == 202, response.content
    assert response.json()["duplicate"] is False
    rollup()
    session = Session.objects.get(session_id="s-1")
    assert session.turn_count == 1
    assert session.total_cost_nanos == 1500
    assert session.entity_id == "acme-corp"
