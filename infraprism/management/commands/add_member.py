import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.services import member_add
from infraprism.models import Membership, Organization


class Command(BaseCommand):
    help = (
        "Give the user with EMAIL (created when missing; the email is the username) a ROLE in "
        "the organization. --password-stdin reads the password from the first line of stdin. "
        "Prints the slug, email and role, never the password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=Membership.ROLES)
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from stdin (first line) instead of leaving it unset",
        )

    def handle(self, *args: Any, slug: str, email: str, role: str, **options: Any) -> None:
        try:
            org = Organization.objects.get(slug=slug)
        except Organization.DoesNotExist:
            raise CommandError(f"no organization with slug {slug!r}") from None
        password = None
        if options.get("password_stdin"):
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin: stdin held no password")
        try:
            added = member_add(organization=org, email=email, role=role, password=password)
        except ValidationError as exc:
            # Reasons from the email and password validators; they never echo the password.
            raise CommandError("; ".join(exc.messages)) from None
        membership = added.membership
        if added.user_created and password is None:
            self.stderr.write(
                "user created without a password: set one with --password-stdin or in the admin"
            )
        self.stdout.write(f"{org.slug} {membership.user.get_username()} {membership.role}")
