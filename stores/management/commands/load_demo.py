import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from reports.services import figures_refresh
from stores.demo import DEMO_STORES, demo_load


class Command(BaseCommand):
    help = (
        "Load a small demo data set: a few stores across time zones with a week of polls and some "
        "downtime, owned by a staff user (created if missing), and compute the dashboard's figures."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", default="demo", help="username owning the demo stores (default: demo)")
        parser.add_argument("--password", help="password when the user is created (default: a random one, printed)")

    def handle(self, *args, owner: str, password: str | None, **options):
        User = get_user_model()
        user = User.objects.filter(username=owner).first()
        if user is None:
            password = password or secrets.token_urlsafe(12)
            user = User.objects.create_user(username=owner, password=password, is_staff=True)
            self._join_owners_group(user)
            self.stdout.write(f"Created staff user {owner!r} with password {password!r}.")
        demo_load(owner=user, now=timezone.now())
        figures_refresh()
        self.stdout.write(
            f"Loaded {len(DEMO_STORES)} demo stores with a week of polls for {owner!r}. "
            "Log in at http://127.0.0.1:8000/dashboard/"
        )

    @staticmethod
    def _join_owners_group(user) -> None:
        from django.contrib.auth.models import Group

        group = Group.objects.filter(name="owners").first()
        if group is not None:
            user.groups.add(group)
