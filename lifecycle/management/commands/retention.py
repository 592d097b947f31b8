from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from lifecycle import retention


class Command(BaseCommand):
    help = (
        "Remove raw events (and sessions) older than each organization's retention_days "
        "(else EVENT_RETENTION_DAYS); --dry-run only counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        parser.add_argument("--batch-size", type=int, default=retention.BATCH_SIZE)
        parser.add_argument(
            "--pause", type=float, default=0.0, help="seconds to sleep between chunks"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = retention.run(
            dry_run=options["dry_run"], batch_size=options["batch_size"], pause=options["pause"]
        )
        verb = "would delete" if report.dry_run else "deleted"
        if not report.cutoffs:
            self.stdout.write("no organization has a retention (EVENT_RETENTION_DAYS is empty)")
        for org_id, cutoff in report.cutoffs.items():
            self.stdout.write(f"organization {org_id}: cutoff {cutoff.isoformat()}")
        for (org_id, table), count in sorted(report.events.items()):
            self.stdout.write(f"  organization {org_id}: {verb} {count} events from {table}")
        for org_id, count in sorted(report.sessions.items()):
            self.stdout.write(f"  organization {org_id}: {verb} {count} sessions")
        for name in report.dropped_partitions:
            self.stdout.write(f"partition {name}: {'would drop' if report.dry_run else 'dropped'}")
        for name in report.skipped_partitions:
            self.stdout.write(f"partition {name}: not detached (lock timeout), deleted in chunks")
        self.stdout.write(
            f"total: {verb} {report.events_total} events, {sum(report.sessions.values())} sessions"
        )
