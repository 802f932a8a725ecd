"""Row count and content hash of every table, to prove a restore (or a migration) lost nothing.

python manage.py db_fingerprint                    # JSON on stdout
python manage.py db_fingerprint --compare FILE     # exit 1 naming the tables that differ
python manage.py db_fingerprint --dump FILE --dbname URL
    # pg_dump to FILE and the fingerprint on stdout, both of one snapshot of the database
"""

import hashlib
import json
import subprocess

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction


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


def dump_and_fingerprint(*, dump_file: str, dbname: str) -> dict[str, dict]:
    """pg_dump and the fingerprint from ONE snapshot, so a backup of a database in use verifies.

    Taken one after the other, rows written in between were in one and not the other, and every
    backup of a live EDC failed its own check (issue 19). The snapshot of a repeatable-read
    transaction is exported (pg_export_snapshot) and handed to pg_dump --snapshot; the fingerprint
    is read inside that same transaction, which is kept open until pg_dump has finished.
    """
    if connection.vendor != "postgresql":
        raise CommandError("--dump needs PostgreSQL.")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        subprocess.run(  # noqa: S603 - fixed program, arguments from the operator
            [  # noqa: S607 - pg_dump from PATH, as scripts/backup.sh always ran it
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--dbname={dbname}",
                f"--file={dump_file}",
            ],
            check=True,
        )
        return fingerprint()


class Command(BaseCommand):
    help = "Print (or compare) the row count and content hash of every table."

    def add_arguments(self, parser):
        parser.add_argument("--compare", metavar="FILE", help="A fingerprint JSON to compare against.")
        parser.add_argument("--dump", metavar="FILE", help="Also pg_dump to FILE, from the same snapshot.")
        parser.add_argument("--dbname", metavar="URL", help="With --dump: the database URL for pg_dump.")

    def handle(self, *args, compare=None, dump=None, dbname=None, **options):
        if dump:
            if not dbname:
                raise CommandError("--dump needs --dbname (the same database as DATABASE_URL).")
            current = dump_and_fingerprint(dump_file=dump, dbname=dbname)
            self.stdout.write(json.dumps(current, indent=1, sort_keys=True))
            return
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
