from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization, Role, StoreGroup
from accounts.services import LastAdmin, MembersGroupMissing, UsernameTaken, api_token_create, member_add


class Command(BaseCommand):
    help = (
        "Add a member to an organization with a role (viewer, manager or admin), optionally limited to some "
        "of its groups; creates the account if there is none (printing its API token, once) and changes an "
        "existing member's role and groups."
    )

    def add_arguments(self, parser):
        parser.add_argument("organization", help="the organization's name")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--groups", default="", help="comma-separated group names: only their stores (viewer, manager)")
        parser.add_argument("--password", help="for a new account: its password for the pages")
        parser.add_argument("--email", default="")
        parser.add_argument("--read-only-token", action="store_true", help="for a new account: its token may only read")

    def handle(self, *args, organization: str, username: str, role: str, groups: str, password: str | None,
               email: str, read_only_token: bool, **options):
        target = Organization.objects.filter(name=organization).first()
        if target is None:
            raise CommandError(f"No organization named {organization!r}.")
        names = [name.strip() for name in groups.split(",") if name.strip()]
        found = list(StoreGroup.objects.filter(organization=target, name__in=names))
        missing = sorted(set(names) - {group.name for group in found})
        if missing:
            raise CommandError(f"{organization} has no group named {', '.join(missing)}.")
        try:
            membership, key = member_add(
                organization=target,
                username=username,
                role=role,
                groups=found,
                password=password,
                email=email,
                read_only_token=read_only_token,
            )
        except (UsernameTaken, MembersGroupMissing, LastAdmin) as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if key is None and read_only_token:
            # An existing account keeps its tokens; it gets a read-only one beside them.
            key = api_token_create(user=membership.user, read_only=True)
        scope = f", limited to {', '.join(sorted(names))}" if names and role != Role.ADMIN else ""
        self.stdout.write(f"{username} is a {role} of {organization}{scope}.")
        if key is not None:
            kind = "Read-only API token" if read_only_token else "API token"
            self.stdout.write(f"{kind}: {key}")
            self.stdout.write("Copy it now: it is stored hashed and cannot be shown again.")
            if password is None:
                self.stdout.write("The account has no password: set one in the admin for it to use the pages.")
