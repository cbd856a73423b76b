import getpass
import secrets
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import MembersGroupMissing, OrganizationNameTaken, UsernameTaken, owner_create


class Command(BaseCommand):
    help = (
        "Create a store owner: a staff account (not a superuser) that is the admin of a new organization "
        "of the same name, and sees only that organization's stores. Prints the account's API token (once: it is stored hashed). Without --password, asks for one "
        "on a terminal, and otherwise generates one and prints it."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", help="The password (visible in the shell history and process list).")
        parser.add_argument("--email", default="")

    def handle(self, *args, username: str, password: str | None, email: str, **options):
        generated = False
        if password is None:
            if sys.stdin.isatty():
                password = self._prompt_password()
            else:
                # Unattended (a script, a container): nothing to ask, so make
                # one; it is printed below, once.
                password = secrets.token_urlsafe(18)
                generated = True
        try:
            user, token = owner_create(username=username, password=password, email=email)
        except UsernameTaken:
            raise CommandError(f"A user named {username!r} exists already; nothing was changed.") from None
        except OrganizationNameTaken:
            raise CommandError(f"An organization named {username!r} exists already; nothing was changed.") from None
        except MembersGroupMissing as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"Created owner {user.get_username()}: admin of the new organization {user.get_username()!r}."
        )
        if generated:
            self.stdout.write(f"Password: {password}")
        self.stdout.write(f"API token: {token}")
        self.stdout.write(
            "Copy the token now: it is stored hashed and cannot be shown again "
            f"(manage.py rotate_token {user.get_username()} replaces it with a new one)."
        )

    def _prompt_password(self) -> str:
        try:
            while True:
                password = getpass.getpass("Password: ")
                if not password:
                    self.stderr.write("The password may not be empty.")
                    continue
                if getpass.getpass("Password (again): ") != password:
                    self.stderr.write("The passwords differ; try again.")
                    continue
                return password
        except (KeyboardInterrupt, EOFError):
            raise CommandError("Cancelled.") from None
