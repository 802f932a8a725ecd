"""The backup and restore drill: back up a simulated trial, restore into a fresh database, compare everything."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import AuditEvent
from tests.support.db_roles import owner_user

ROOT = Path(__file__).resolve().parent.parent


def _url(name: str) -> str:
    """As the owner: creating the restore target and restoring into it are the owner's jobs."""
    db = connection.settings_dict
    return f"postgres://{owner_user()}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _psql(sql: str) -> None:
    subprocess.run(["psql", _url("postgres"), "-qc", sql], check=True, capture_output=True)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_backup_restores_into_a_fresh_database_with_identical_rows_and_audit_trail(tmp_path):
    call_command("simulate_trial", "--patients", "12", "--seed", "11", stdout=open(os.devnull, "w"))  # noqa: SIM115
    media = tmp_path / "media"
    (media / "generated").mkdir(parents=True)
    (media / "generated" / "casebook.pdf").write_bytes(b"%PDF-1.7 test")
    env = {
        **os.environ,
        "DATABASE_URL": _url(connection.settings_dict["NAME"]),
        "MEDIA_ROOT": str(media),
        "DJANGO_SETTINGS_MODULE": "nelmas.settings_test",
        "PYTHON": sys.executable,  # the scripts default to ./.venv, which a git worktree lacks
    }
    backup = tmp_path / "backup"
    subprocess.run(["scripts/backup.sh", str(backup)], cwd=ROOT, env=env, check=True, capture_output=True)
    fingerprint = json.loads((backup / "fingerprint.json").read_text())
    assert fingerprint["accounts_auditevent"]["rows"] == AuditEvent.objects.count() > 0

    target = f"nelmas_restore_{uuid.uuid4().hex[:8]}"
    _psql(f'CREATE DATABASE "{target}"')
    try:
        restored_media = tmp_path / "restored-media"
        restore_env = {**env, "DATABASE_URL": _url(target), "MEDIA_ROOT": str(restored_media)}
        result = subprocess.run(
            ["scripts/restore.sh", str(backup)], cwd=ROOT, env=restore_env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "tables match the fingerprint" in result.stdout
        assert (restored_media / "generated" / "casebook.pdf").read_bytes() == b"%PDF-1.7 test"
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_drill_passes_while_a_client_keeps_writing(tmp_path, world):
    """Issue 19 finding 6: dump and fingerprint were taken at different moments, so a backup of a
    database in use failed its own verification. Now both come from one exported snapshot."""
    import threading

    from django.db import connections

    stop, started, written, errors = threading.Event(), threading.Event(), [], []

    def keep_writing():
        try:
            while not stop.is_set():
                written.append(AuditEvent.objects.create(kind=AuditEvent.Kind.LOGIN, actor=world.nurse_a).pk)
                world.nurse_a.__class__.objects.get(pk=world.nurse_a.pk).save()  # a history row too
                if len(written) >= 5:
                    started.set()
        except Exception as exc:  # surfaced below: a writer error must not pass silently
            errors.append(repr(exc))
        finally:
            started.set()
            connections.close_all()

    env = {
        **os.environ,
        "DATABASE_URL": _url(connection.settings_dict["NAME"]),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_SETTINGS_MODULE": "nelmas.settings_test",
        "PYTHON": sys.executable,
    }
    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        assert started.wait(timeout=120)  # the writer is really running before the backup starts
        before = len(written)
        backup = tmp_path / "backup"
        done = subprocess.run(["scripts/backup.sh", str(backup)], cwd=ROOT, env=env, capture_output=True, text=True)
        during = len(written) - before
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stdout + done.stderr
    assert not errors, errors
    assert during > 0  # rows were written while the backup ran
    target = f"nelmas_restore_{uuid.uuid4().hex[:8]}"
    _psql(f'CREATE DATABASE "{target}"')
    try:
        result = subprocess.run(
            ["scripts/restore.sh", str(backup)],
            cwd=ROOT,
            env={**env, "DATABASE_URL": _url(target), "MEDIA_ROOT": str(tmp_path / "restored")},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "tables match the fingerprint" in result.stdout
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_tampered_backup_is_refused(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": _url(connection.settings_dict["NAME"]),
        "MEDIA_ROOT": str(tmp_path / "m"),
        "DJANGO_SETTINGS_MODULE": "nelmas.settings_test",
        "PYTHON": sys.executable,  # the scripts default to ./.venv, which a git worktree lacks
    }
    backup = tmp_path / "backup"
    subprocess.run(["scripts/backup.sh", str(backup)], cwd=ROOT, env=env, check=True, capture_output=True)
    with open(backup / "database.dump", "ab") as fh:
        fh.write(b"tamper")
    result = subprocess.run(
        ["scripts/restore.sh", str(backup)],
        cwd=ROOT,
        env={**env, "DATABASE_URL": _url("unused")},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


pytestmark = pytest.mark.requirement("URS-OPS-001")
