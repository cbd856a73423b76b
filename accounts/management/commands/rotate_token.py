from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import api_token_rotate


class Command(BaseCommand):
    help = (
        "Give a user a new API token and print it (once: only its hash is stored). The user's "
        "previous tokens stop working at once. Also makes a first token for a user without one."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"There is no user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"{username!r} is not active: a token would not let it in.")
        key = api_token_rotate(user=user)
        self.stdout.write(f"API token: {key}")
        self.stdout.write("Copy it now: it is stored hashed and cannot be shown again. Previous tokens no longer work.")
