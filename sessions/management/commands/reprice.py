"""python manage.py reprice SLUG [--model M] [--since D] [--until D] [--dry-run]"""

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from infraprism.models import Organization
from infraprism.money import nanos_to_usd
from sessions.reprice import RepriceResult, reprice


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from exc


class Command(BaseCommand):
    help = (
        "Recompute the organization's computed (and unpriced) event costs from the current "
        "price table; sessions and daily costs move by the exact difference. Client-sent "
        "costs are never changed. Safe to stop and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the organization's slug")
        parser.add_argument("--model", help="only events of this model name")
        parser.add_argument("--since", type=_date, help="first UTC date (inclusive)")
        parser.add_argument("--until", type=_date, help="last UTC date (inclusive)")
        parser.add_argument(
            "--dry-run", action="store_true", help="print the differences, change nothing"
        )
        parser.add_argument("--chunk-size", type=int, default=2000, help="events per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organization = Organization.objects.get(slug=options["slug"])
        except Organization.DoesNotExist as exc:
            raise CommandError(f"no organization with slug {options['slug']!r}") from exc
        if options["since"] and options["until"] and options["since"] > options["until"]:
            raise CommandError("--since is after --until")
        dry_run = options["dry_run"]
        result = reprice(
            organization_id=organization.pk,
            model=options["model"],
            since=options["since"],
            until=options["until"],
            dry_run=dry_run,
            chunk_size=options["chunk_size"],
            after_chunk=None if dry_run else self._progress,
        )
        self._report(result, dry_run)

    def _progress(self, result: RepriceResult) -> None:
        self.stderr.write(f"chunk {result.chunks}: {result.events_changed} events re-priced")

    def _report(self, result: RepriceResult, dry_run: bool) -> None:
        verb = "would change" if dry_run else "changed"
        for model, change in sorted(result.by_model.items()):
            self.stdout.write(
                f"{model}: {change.events} events, difference "
                f"{nanos_to_usd(change.difference_nanos):+} USD"
            )
        self.stdout.write(
            f"total: {verb} {result.events_changed} events, difference "
            f"{nanos_to_usd(result.difference_nanos):+} USD"
        )
