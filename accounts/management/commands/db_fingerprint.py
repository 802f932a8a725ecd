"""Row count and content hash of every table, to prove a restore (or a migration) lost nothing.

python manage.py db_fingerprint                    # JSON on stdout
python manage.py db_fingerprint --compare FILE     # exit 1 naming the tables that differ
"""

import hashlib
import json

from django.core.management.base import BaseCommand, CommandError
from django.db import connection


def fingerprint() -> dict[str, dict]:
    result = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names()):
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT COUNT(*) FROM {quoted}")  # noqa: S608 - table names come from introspection
            count = cursor.fetchone()[0]
            digest = hashlib.sha256()
            if connection.vendor == "postgresql":
                # Each row as text, in a fixed order: the hash changes if any value of any row does.
                cursor.execute(f"SELECT t::text FROM {quoted} t ORDER BY 1")  # noqa: S608
            else:
                cursor.execute(f"SELECT * FROM {quoted} ORDER BY 1")  # noqa: S608
            for row in cursor:
                digest.update(repr(row).encode())
            result[table] = {"rows": count, "sha256": digest.hexdigest()}
    return result


class Command(BaseCommand):
    help = "Print (or compare) the row count and content hash of every table."

    def add_arguments(self, parser):
        parser.add_argument("--compare", metavar="FILE", help="A fingerprint JSON to compare against.")

    def handle(self, *args, compare=None, **options):
        current = fingerprint()
        if not compare:
            self.stdout.write(json.dumps(current, indent=1, sort_keys=True))
            return
        with open(compare) as fh:
            expected = json.load(fh)
        differing = sorted(t for t in set(expected) | set(current) if expected.get(t) != current.get(t))
        if differing:
            raise CommandError("Tables differ from the fingerprint: " + ", ".join(differing))
        self.stdout.write(f"{len(current)} tables match the fingerprint")
