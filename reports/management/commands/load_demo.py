import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import organizations_of
from accounts.services import MembersGroupMissing, owner_create, owner_grant
from reports.figures import figures_refresh
from stores.demo import DEMO_STORES, demo_load


class Command(BaseCommand):
    help = (
        "Load a small demo data set: a few stores across time zones with a week of polls and some "
        "downtime, in the organization an owner account manages (the account and its organization are created if missing), and compute the dashboard's figures."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", default="demo", help="username owning the demo stores (default: demo)")
        parser.add_argument("--password", help="password when the owner is created (default: a random one, printed)")

    def handle(self, *args, owner: str, password: str | None, **options):
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            password = password or secrets.token_urlsafe(12)
            try:
                user, token = owner_create(username=owner, password=password)
            except MembersGroupMissing as exc:
                raise CommandError(str(exc)) from None
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            self.stdout.write(f"Created owner {owner!r} with password {password!r} and API token {token}.")
        organization = organizations_of(user, role=Role.MANAGER).order_by("pk").first()
        if organization is None:
            # An account that is nobody's manager yet: the demo is its own organization's.
            owner_grant(user=user)
            organization = organizations_of(user, role=Role.MANAGER).order_by("pk").first()
        demo_load(organization=organization, now=timezone.now())
        figures_refresh()
        self.stdout.write(
            f"Loaded {len(DEMO_STORES)} demo stores with a week of polls into {organization.name!r}. "
            "Log in at http://127.0.0.1:8000/dashboard/"
        )
