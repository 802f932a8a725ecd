"""Create a personal API token: python manage.py create_api_token USERNAME --name NAME [--days N]."""

from django.core.management.base import BaseCommand, CommandError

from accounts.api_tokens import api_token_create
from accounts.models import User
from core.errors import DomainError


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True)
        parser.add_argument("--days", type=int, default=None, help="validity in days (default API_TOKEN_DAYS, 90)")

    def handle(self, *args, username, name, days, **options):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username}.")
        try:
            token, key = api_token_create(user=user, name=name, days=days)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(key)
        self.stderr.write(
            f"Token {token} for {username}, expires {token.expires_at:%Y-%m-%d}. Store it now: it is not shown again."
        )
