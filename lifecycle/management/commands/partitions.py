from typing import Any

from django.core.management.base import BaseCommand

from lifecycle import partitions


class Command(BaseCommand):
    help = (
        "Create the events table's partitions for this month and the next ones, and move rows "
        "the DEFAULT partition caught into partitions of their own (PostgreSQL)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = partitions.maintain()
        if not result.partitioned:
            self.stdout.write("the events table is not partitioned (SQLite): nothing to do")
            return
        self.stdout.write(f"created: {', '.join(result.created) or 'none'}")
        for name, rows in result.moved.items():
            self.stdout.write(f"moved {rows} rows from the DEFAULT partition into {name}")
