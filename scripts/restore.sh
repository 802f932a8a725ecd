#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into an EMPTY database and media folder, then verify it.
#   scripts/restore.sh BACKUP_DIR     (DATABASE_URL: the empty target database; MEDIA_ROOT: target folder)
# Fails if a file's SHA-256 does not match, or if the restored tables differ from the fingerprint.
set -euo pipefail
src=${1:?usage: scripts/restore.sh BACKUP_DIR}
: "${DATABASE_URL:?set DATABASE_URL to the empty target database}"
media=${MEDIA_ROOT:-media}
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
(cd "$src" && sha256sum --check --quiet SHA256SUMS)
pg_restore --no-owner --no-privileges --exit-on-error --dbname="$DATABASE_URL" "$src/database.dump"
mkdir -p "$media"
tar -xzf "$src/media.tar.gz" -C "$media"
(cd "$here" && "$py" manage.py db_fingerprint --compare "$src/fingerprint.json")
echo "Restore verified: every table has the same rows as the backup"
