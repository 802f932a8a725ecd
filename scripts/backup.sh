#!/usr/bin/env bash
# Back up the EDC: a PostgreSQL custom-format dump and the media files, with SHA-256 of each.
#   scripts/backup.sh OUT_DIR            (uses DATABASE_URL and MEDIA_ROOT from the environment)
# Produces OUT_DIR/database.dump, OUT_DIR/media.tar.gz, OUT_DIR/SHA256SUMS and OUT_DIR/fingerprint.json
# (row count and content hash per table, for comparing after a restore).
set -euo pipefail
out=${1:?usage: scripts/backup.sh OUT_DIR}
: "${DATABASE_URL:?set DATABASE_URL to the PostgreSQL database to back up}"
media=${MEDIA_ROOT:-media}
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
mkdir -p "$out"
# The dump and the fingerprint come from one exported snapshot (see db_fingerprint --dump), so a
# backup taken while the EDC is in use still matches its own fingerprint.
(cd "$here" && "$py" manage.py db_fingerprint --dump "$out/database.dump" --dbname "$DATABASE_URL") \
  > "$out/fingerprint.json"
if [ -d "$media" ]; then tar -czf "$out/media.tar.gz" -C "$media" .; else tar -czf "$out/media.tar.gz" -T /dev/null; fi
(cd "$out" && sha256sum database.dump media.tar.gz fingerprint.json > SHA256SUMS)
echo "Backup written to $out"
