from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import slugify

from infraprism.models import Organization
from infraprism.services import organization_create


class Command(BaseCommand):
    help = "Create an organization; prints its slug on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default=None, help="Display name (defaults to the slug)")

    def handle(self, *args: Any, slug: str, name: str | None, **options: Any) -> None:
        if not slug or slugify(slug) != slug:
            raise CommandError(
                f"slug {slug!r} must be lowercase letters, digits, hyphens and underscores"
            )
        max_length = Organization._meta.get_field("slug").max_length or 64
        if len(slug) > max_length:
            raise CommandError(f"slug {slug!r} is longer than {max_length} characters")
        if Organization.objects.filter(slug=slug).exists():
            raise CommandError(f"organization {slug!r} already exists")
        org = organization_create(slug=slug, name=name or slug)
        self.stdout.write(org.slug)
