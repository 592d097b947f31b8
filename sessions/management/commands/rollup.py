from typing import Any

from django.core.management.base import BaseCommand

from sessions.services import session_rollup_drain


class Command(BaseCommand):
    help = "Roll every pending event into its session aggregate, then exit."

    def handle(self, *args: Any, **options: Any) -> None:
        stats = session_rollup_drain()
        self.stdout.write(f"rolled up {stats.events} events into {stats.sessions} session updates")
