from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from infraprism.models import ApiKey, Organization
from infraprism.services import ScopeError, api_key_create, parse_scopes

# 100 years: beyond that a date overflows, and "never" is said by leaving the option out.
MAX_EXPIRES_IN_DAYS = 36_500


class Command(BaseCommand):
    help = "Create an API key for an organization; prints the key (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes", default="ingest,read", help="comma-separated: ingest, read, manage"
        )
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=None,
            help=f"1 to {MAX_EXPIRES_IN_DAYS}; leave it out for a key that never expires",
        )

    def handle(self, *args: Any, slug: str, name: str, scopes: str, **options: Any) -> None:
        try:
            org = Organization.objects.get(slug=slug)
        except Organization.DoesNotExist:
            raise CommandError(f"no organization with slug {slug!r}") from None
        if not name or len(name) > ApiKey._meta.get_field("name").max_length:  # type: ignore[operator]
            raise CommandError("--name must be 1 to 100 characters")
        try:
            scope_list = parse_scopes(scopes)
        except ScopeError as exc:
            raise CommandError(str(exc)) from None
        days = options.get("expires_in_days")
        if days is not None and not 1 <= days <= MAX_EXPIRES_IN_DAYS:
            # 0 used to be read as "no expiry": a key meant to die at once would live forever.
            raise CommandError(
                f"--expires-in-days must be between 1 and {MAX_EXPIRES_IN_DAYS} (got {days}); "
                "leave it out for a key that never expires"
            )
        expires_at = timezone.now() + timedelta(days=days) if days is not None else None
        _, plaintext = api_key_create(
            organization=org, name=name, scopes=scope_list, expires_at=expires_at
        )
        self.stdout.write(plaintext)
