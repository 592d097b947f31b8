from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from infraprism import keys
from infraprism.models import ApiKey
from infraprism.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its display prefix (the first characters, e.g. ip-AbCd1234)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, prefix: str, **options: Any) -> None:
        # Accept the whole key too, but only ever look it up by its non-secret prefix.
        lookup = keys.display_prefix(prefix)
        try:
            api_key = ApiKey.objects.select_related("organization").get(prefix=lookup)
        except ApiKey.DoesNotExist:
            raise CommandError(f"no API key with prefix {lookup!r}") from None
        api_key_revoke(api_key=api_key)
        self.stdout.write(f"revoked {api_key.prefix} ({api_key.organization.slug}/{api_key.name})")
