"""Make sure the demo organization and key exist; print the key and a curl line to paste.

The demo key's plaintext is kept in var/demo_api_key (mode 600) so later runs can print it
again; a missing, revoked or unreadable key is replaced by a new one.
"""

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from infraprism.models import ApiKey, Organization
from infraprism.selectors import api_key_for_plaintext
from infraprism.services import api_key_create

DEMO_SLUG = "demo"


def _key_file() -> Path:
    return Path(settings.VAR_DIR) / "demo_api_key"


def _stored_key() -> str | None:
    try:
        plaintext = _key_file().read_text().strip()
    except OSError:
        return None
    api_key = api_key_for_plaintext(plaintext)
    if api_key is None or api_key.is_revoked or api_key.is_expired():
        return None
    return plaintext


def _store_key(plaintext: str) -> None:
    path = _key_file()
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(plaintext + "\n")
    os.chmod(path, 0o600)


class Command(BaseCommand):
    help = "Ensure a demo organization and API key exist and print the key."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, port: str, **options: Any) -> None:
        org, _ = Organization.objects.get_or_create(slug=DEMO_SLUG, defaults={"name": "Demo"})
        plaintext = _stored_key()
        if plaintext is None:
            _, plaintext = api_key_create(
                organization=org, name="demo", scopes=list(ApiKey.DEFAULT_SCOPES)
            )
            _store_key(plaintext)
        base = f"http://127.0.0.1:{port}"
        self.stdout.write(f"Demo organization: {org.slug}")
        self.stdout.write(f"Demo API key (scopes ingest,read; also in {_key_file()}):")
        self.stdout.write(f"  {plaintext}")
        self.stdout.write("Try it:")
        self.stdout.write(
            f"  curl -s -X POST {base}/v1/events -H 'Authorization: Bearer {plaintext}' "
            "-H 'Content-Type: application/json' "
            """-d '{"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 300, """
            """"entity_type": "customer", "entity_id": "acme-corp", "session_id": "demo-1"}'"""
        )
        self.stdout.write(
            f"  curl -s '{base}/v1/analytics/sessions?entity_type=customer&entity_id=acme-corp' "
            f"-H 'Authorization: Bearer {plaintext}'"
        )
