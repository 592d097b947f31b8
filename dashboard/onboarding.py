"""What an organization without events sees: how to send its first one."""

from typing import Any

from django.http import HttpRequest

from infraprism.models import Organization
from ingestion.models import Event


def has_no_events(organization: Organization) -> bool:
    return not Event.objects.for_organization(organization).exists()


def onboarding_context(request: HttpRequest, organization: Organization) -> dict[str, Any]:
    base = request.build_absolute_uri("/").rstrip("/")
    curl = (
        f"curl -X POST {base}/v1/events \\\n"
        '  -H "Authorization: Bearer $INFRAPRISM_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        '  -d \'{"model": "gpt-4o", "input_tokens": 800, "output_tokens": 150,\n'
        '       "entity_type": "customer", "entity_id": "acme-corp",\n'
        '       "session_id": "first-session", "tags": {"feature": "chatbot"}}\''
    )
    sdk = (
        f"# export INFRAPRISM_API_KEY=ip-...  INFRAPRISM_BASE_URL={base}\n"
        "import uuid\n"
        "from infraprism import InfraPrismOpenAI\n\n"
        "client = InfraPrismOpenAI()\n"
        "session_id = str(uuid.uuid4())\n"
        "response = client.chat.completions.create(\n"
        '    model="gpt-4o",\n'
        '    messages=[{"role": "user", "content": "What is Python?"}],\n'
        '    entity_type="customer",\n'
        '    entity_id="acme-corp",\n'
        "    session_id=session_id,\n"
        '    tags={"feature": "chatbot"},\n'
        ")"
    )
    return {"onboarding": {"curl": curl, "sdk": sdk, "base_url": base}}
