"""make bench: build synthetic trials at two sizes on PostgreSQL and write bench/RESULTS.md.

Figures are ratios measured in the same run (to a bare Django view under the same server, to
PostgreSQL COPY of the same rows), because absolute times vary between machines.

    BENCH_SMALL=90 BENCH_LARGE=10000 python bench/run.py      # BENCH_REUSE=1 keeps built trials
"""

import csv
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
SMALL = int(os.environ.get("BENCH_SMALL", "90"))
LARGE = int(os.environ.get("BENCH_LARGE", "900"))
USERS = int(os.environ.get("BENCH_USERS", "20"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))  # per page, saturation
MIXED_SECONDS = int(os.environ.get("BENCH_MIXED_SECONDS", "120"))  # the mixed locust run: enough requests for a p95
# Trials built only to export: with the two above, the export's memory is shown at three sizes.
EXPORT_SIZES = [int(n) for n in os.environ.get("BENCH_EXPORT_SIZES", "3000").split(",") if n.strip()]
PASSWORD = "nelmas-demo-2026"  # noqa: S105 - the demo accounts' password


def env_for(db: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": f"{PG}/{db}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONPATH": str(ROOT),
    }


def manage(db: str, *args: str, capture: bool = True) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env_for(db), capture_output=capture, text=True, check=True
    )
    return result.stdout if capture else ""


def measure(db: str, function: str):
    out = manage(db, "shell", "--no-imports", "-c", f"from bench.measure import {function}; {function}()")
    return json.loads(out.strip().splitlines()[-1])


def build(size: int) -> str:
    # BENCH_DB_PREFIX: several checkouts benchmarking on one PostgreSQL keep their trials apart.
    db = f"{os.environ.get('BENCH_DB_PREFIX', 'nelmas_bench')}_{size}"
    if os.environ.get("BENCH_REUSE") == "1":
        exists = subprocess.run(
            ["psql", f"{PG}/{db}", "-Atc", "SELECT count(*) FROM patients_patient"], capture_output=True, text=True
        )
        if exists.returncode == 0 and int(exists.stdout.strip() or 0) >= size:
            manage(db, "migrate", "--noinput", "-v0")
            manage(db, "collectstatic", "--noinput", "-v0")
            print(f"  reusing {db}", flush=True)
            return db
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {db}"], check=True)
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {db}"], check=True)
    manage(db, "migrate", "--noinput", "-v0")
    manage(db, "collectstatic", "--noinput", "-v0")  # served as in production (manifest storage)
    start = time.perf_counter()
    manage(db, "simulate_trial", "--patients", str(size), "--seed", "2026")
    print(f"  {size} patients simulated in {time.perf_counter() - start:.0f} s", flush=True)
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def logged_in(base: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/")
    token = page.cookies.get("csrftoken") or session.cookies.get("csrftoken")
    answer = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
    )
    if answer.status_code != 200 or "/accounts/login/" in answer.url:
        raise SystemExit(f"login of {username} failed ({answer.status_code})")
    return session


def load(base: str, username: str, url: str) -> dict:
    sessions = [logged_in(base, username) for _ in range(USERS)]
    latencies, errors = [], []
    stop = time.monotonic() + SECONDS

    def worker(session):
        while time.monotonic() < stop:
            start = time.perf_counter()
            response = session.get(base + url)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                errors.append(response.status_code)

    threads = [threading.Thread(target=worker, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / SECONDS,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * len(latencies)) - 1],
        "errors": len(errors),
    }


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p * len(values)) - 1))]


def warm(base: str, urls: dict) -> None:
    """Each page a few times before measuring: both workers import lazily and compile templates on first use."""
    sessions = {}
    for username, url in urls.values():
        session = sessions.get(username) or sessions.setdefault(username, logged_in(base, username))
        for _ in range(6):
            session.get(base + url)


def mixed(base: str, plan: dict) -> dict:
    """USERS locust users with think time, mixing every page (bench/locustfile.py)."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [
                PY,
                "-m",
                "locust",
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "-u",
                str(USERS),
                "-r",
                str(USERS),
                "-t",
                f"{MIXED_SECONDS}s",
                "--host",
                base,
                "--csv",
                f"{folder}/mixed",
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env={**os.environ, "BENCH_PLAN": json.dumps(plan)},
            check=False,  # locust exits 1 when any request failed; the failures are reported below
            capture_output=True,
        )
        with open(f"{folder}/mixed_stats.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
    return {
        row["Name"]: {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "rps": float(row["Requests/s"]),
            "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]),
        }
        for row in rows
        if row["Name"] not in ("Aggregated", "login")
    }


def burst(base: str, requests_: list[tuple[requests.Session, str, str]]) -> dict:
    """Fire all requests at once (one thread each, released together) and time each answer."""
    gate = threading.Barrier(len(requests_))
    latencies, statuses = [], []

    def one(session, method, url):
        token = session.cookies.get("csrftoken")
        gate.wait()
        start = time.perf_counter()
        if method == "POST":
            answer = session.post(
                base + url, data={"csrfmiddlewaretoken": token}, headers={"Referer": base + url}, allow_redirects=False
            )
        else:
            answer = session.get(base + url)
        latencies.append(time.perf_counter() - start)
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=one, args=r) for r in requests_]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "n": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "statuses": dict(Counter(statuses)),
    }


def randomisations(base: str, ready: list[list[str]]) -> dict:
    """len(ready) concurrent randomisations through the web, against the same burst of bare views."""
    jobs = []
    for username, tn in ready:
        session = logged_in(base, username)  # one browser per randomising nurse
        session.get(f"{base}/randomisation/patients/{tn}/")  # the confirmation page sets the CSRF cookie
        jobs.append((session, "POST", f"/randomisation/patients/{tn}/"))
    result = burst(base, jobs)
    ceiling = burst(base, [(session, "GET", "/bench/bare/") for session, _m, _u in jobs])
    return {"randomise": result, "bare": ceiling}


GRID_ROUNDS = int(os.environ.get("BENCH_GRID_ROUNDS", "60"))


def forget_generations(db: str, which: str) -> None:
    """As if records had just been saved: the grid's cached rows (reports.grid_html) are keyed by
    the patients' generations (core.site_cache), so a row whose generation is dropped is built from
    the database on the next look. ``which``: "*" (every patient) or one patient's id. The keys are
    django-redis's: KEY_PREFIX:version:key."""
    import redis

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"))
    keys = list(client.scan_iter(match=f"nelmas:{db}:1:patient-generation:{which}", count=10000))
    if keys:
        client.delete(*keys)


GRID_MODES = {
    "cached": "nobody saved since the last look: every row from the cache",
    "one changed": "one patient of the page saved since: that row built, 24 from the cache",
    "built": "every patient of the page saved since: every row built from the database",
}


def grid_against_bare(base: str, urls: dict, mode: str = "cached", db: str = "", patient: int = 0) -> dict:
    """The record status grid's own time against the bare view's, in the same run and server: one
    client alternating grid and bare view GRID_ROUNDS times (no queueing: the time each takes to
    serve). Alternating puts whatever else the machine does on both alike.

    ``mode`` (GRID_MODES): before every grid request, nothing is dropped ("cached"), or the
    generation of ``patient`` (the page's first) is ("one changed"), or every patient's of the
    trial ``db`` ("built")."""
    grid_user, grid_url = urls["record status grid"]
    bare_user, bare_url = urls["bare view (ceiling)"]
    grid_session, bare_session = logged_in(base, grid_user), logged_in(base, bare_user)
    times: dict[str, list[float]] = {"grid": [], "bare": []}
    sizes = {}
    for _ in range(GRID_ROUNDS):
        for name, session, url in (("bare", bare_session, bare_url), ("grid", grid_session, grid_url)):
            if name == "grid" and mode != "cached":
                forget_generations(db, "*" if mode == "built" else str(patient))
            start = time.perf_counter()
            response = session.get(base + url)
            times[name].append(time.perf_counter() - start)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
            sizes[name] = len(response.content) / 1024
    result = {
        name: {
            "n": len(values),
            "p50_ms": 1000 * statistics.median(values),
            "p95_ms": 1000 * percentile(values, 0.95),
            "kb": sizes[name],
        }
        for name, values in times.items()
    }
    result["mode"] = mode
    result["ratio_p50"] = result["grid"]["p50_ms"] / result["bare"]["p50_ms"]
    result["ratio_p95"] = result["grid"]["p95_ms"] / result["bare"]["p95_ms"]
    return result


def grid_lines(runs: list[dict], mix: dict | None, counts: dict, size: int) -> list[str]:
    """The record status grid's section of RESULTS.md, one row per repeat (target: within 2×)."""
    g, b = runs[0]["grid"], runs[0]["bare"]
    lines = [
        f"## Record status grid against the bare view ({size}-patient trial)",
        "",
        f"The data manager's grid (`/reports/record-status/`, {g['kb']:.0f} KB: 25 patients × every visit, "
        f"{counts['record status grid']['queries']} queries) and the bare view ({b['kb']:.0f} KB), one client "
        f"alternating the two {g['n']} times under the same gunicorn in the same run (bench/run.py "
        "`grid_against_bare`). Target: the grid within 2× of the bare view. Rows are cached per patient "
        "until one of the patient's records is saved (reports.grid_html); before each grid request "
        "the bench drops the generations the mode says: "
        + "; ".join(f"*{mode}*: {what}" for mode, what in GRID_MODES.items())
        + ".",
        "",
        "| repeat | rows | bare p50 ms | bare p95 ms | grid p50 ms | grid p95 ms | grid ÷ bare, p50 "
        "| grid ÷ bare, p95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, run in enumerate(runs, 1):
        g, b = run["grid"], run["bare"]
        rows = run.get("mode", "cached")
        lines.append(
            f"| {number} | {rows} | {b['p50_ms']:.1f} | {b['p95_ms']:.1f} | {g['p50_ms']:.1f} | {g['p95_ms']:.1f} | "
            f"**{run['ratio_p50']:.2f}×** | {run['ratio_p95']:.2f}× |"
        )
    if mix and "record status grid" in mix:
        ratio = mix["record status grid"]["p95_ms"] / mix["bare view (ceiling)"]["p95_ms"]
        lines += ["", f"Under the mixed load above: p95 {ratio:.2f}× the bare view's."]
    return [*lines, ""]


def serve(db: str):
    """gunicorn (2 workers) and a Celery worker on Redis, as in production (docker-compose.yml):
    what a request hands to the worker (notifications, dashboard refreshes) is not in its time."""
    port = free_port()
    env = {**env_for(db), "BENCH_CELERY": "1"}
    server = subprocess.Popen(
        [PY, "-m", "gunicorn", "nelmas.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    worker = subprocess.Popen(
        [PY, "-m", "celery", "-A", "nelmas", "worker", "--pool=solo", "--loglevel=WARNING", "--without-mingle"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            requests.get(base + "/accounts/login/", timeout=5)
            break
        except requests.RequestException:  # not listening yet, or still importing the project
            time.sleep(0.2)
    else:
        stop(server, worker)
        raise SystemExit("gunicorn did not answer within 30 s")
    return (server, worker), base


def stop(*processes) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=20)


def main() -> None:
    print(f"Building trials of {SMALL} and {LARGE} patients (and {EXPORT_SIZES} to export)…", flush=True)
    dbs = {SMALL: build(SMALL), LARGE: build(LARGE)}
    export_dbs = {**dbs, **{size: build(size) for size in EXPORT_SIZES if size not in dbs}}
    counts = {size: measure(db, "query_counts") for size, db in dbs.items()}
    broken = {name: c["status"] for size in counts for name, c in counts[size].items() if c["status"] != 200}
    if broken:
        raise SystemExit(f"pages did not answer 200: {broken}")
    urls = measure(dbs[LARGE], "urls")
    plan = measure(dbs[LARGE], "plan")
    print("Preparing patients to randomise…", flush=True)
    ready = measure(dbs[LARGE], "prepare_randomisations")
    print("Load tests…", flush=True)
    processes, base = serve(dbs[LARGE])
    try:
        warm(base, urls)
        mix = mixed(base, plan)
        loads = {name: load(base, user, url) for name, (user, url) in urls.items()}
        first = measure(dbs[LARGE], "grid_first_patient")
        grid = [grid_against_bare(base, urls, mode, dbs[LARGE], first) for mode in GRID_MODES]
        randomised = randomisations(base, ready)
    finally:
        stop(*processes)
    exports = {size: (measure(db, "export_time"), measure(db, "copy_time")) for size, db in sorted(export_dbs.items())}
    pdf, sweep = measure(dbs[LARGE], "pdf_time"), measure(dbs[LARGE], "sweep_time")
    ceiling = loads["bare view (ceiling)"]
    mix_ceiling = mix["bare view (ceiling)"]
    versions = subprocess.run(
        [PY, "-c", "import django, psycopg2; print(django.get_version(), psycopg2.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    pg_version = subprocess.run(
        ["psql", f"{PG}/postgres", "-Atc", "SHOW server_version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    lines = [
        "# NELMAS EDC — benchmark results",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; Python "
        f"{platform.python_version()}, Django {versions[0]}, PostgreSQL {pg_version}. "
        f"Trials of {SMALL} and {LARGE} patients built by `simulate_trial` (seed 2026).",
        "",
        f"## Pages under a mixed load ({USERS} users, gunicorn 2 workers and a Celery worker, {LARGE}-patient trial)",
        "",
        f"locust, {MIXED_SECONDS} s: {USERS} users (nurses, the trial manager, the data manager) mixing every page "
        "below with 0.5–1.5 s between clicks (bench/locustfile.py). Targets: p95 < 150 ms, p95 within 2× of "
        "the bare view's p95 in the same run.",
        "",
        "| page | KB | requests | failures | p50 ms | p95 ms | p95 / ceiling | "
        f"queries at {SMALL} | queries at {LARGE} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, figures in sorted(mix.items(), key=lambda item: item[0] != "bare view (ceiling)"):
        queries = (
            (counts[SMALL][name]["queries"], counts[LARGE][name]["queries"]) if name in counts[SMALL] else ("—", "—")
        )
        size = f"{counts[LARGE][name]['kb']:.0f}" if name in counts[LARGE] else "—"
        lines.append(
            f"| {name} | {size} | {figures['requests']} | {figures['failures']} | {figures['p50_ms']:.0f} | "
            f"{figures['p95_ms']:.0f} | {figures['p95_ms'] / mix_ceiling['p95_ms']:.2f} | {queries[0]} | {queries[1]} |"
        )
    lines += [
        "",
        f"## Saturation: each page alone, {USERS} clients without think time, {SECONDS:.0f} s per page",
        "",
        "What the two workers can serve at most; latency here is mostly queueing (20 requests in flight).",
        "",
        "| page | req/s | p50 ms | p95 ms | errors | req/s ÷ ceiling's |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in loads.items():
        lines.append(
            f"| {name} | {figures['rps']:.1f} | {figures['p50_ms']:.0f} | {figures['p95_ms']:.0f} | "
            f"{figures['errors']} | {figures['rps'] / ceiling['rps']:.2f} |"
        )
    r, rb = randomised["randomise"], randomised["bare"]
    lines += ["", *grid_lines(grid, mix, counts[LARGE], LARGE)]
    lines += [
        "",
        "The ceiling is a login-checked page of similar size with one query (bench/urls.py) under the same",
        "server in the same run. The load client runs on the same machine and competes for its CPUs.",
        "",
        f"## {r['n']} concurrent randomisations",
        "",
        f"{r['n']} nurses press *Randomise* at the same moment (through the web, 2 workers): p50 {r['p50_ms']:.0f} ms, "
        f"p95 {r['p95_ms']:.0f} ms (answers {r['statuses']}). The same burst of bare views: p95 {rb['p95_ms']:.0f} ms. "
        f"**Ratio {r['p95_ms'] / rb['p95_ms']:.2f}×.**",
        "",
        "## Export of the whole dataset",
        "",
        "Each format against PostgreSQL `COPY (…) TO STDOUT` of the very queries it runs, in the same process "
        "(bench/measure.py). Memory: the process's high-water mark added by the export (both formats), "
        "which must not grow with the trial. Target: within 5× of COPY.",
        "",
        "| patients | format | rows | MB written | seconds | COPY seconds | ratio | memory added MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, (ex, cp) in exports.items():
        added = ex["peak_mb"] - ex["baseline_mb"]
        for fmt in ("csv", "odm"):
            lines.append(
                f"| {size} | {fmt.upper()} | {ex['rows']} | {ex[fmt]['bytes'] / 1e6:.1f} | {ex[fmt]['seconds']:.2f} | "
                f"{cp[fmt]['seconds']:.3f} | **{ex[fmt]['seconds'] / max(cp[fmt]['seconds'], 1e-6):.1f}×** | "
                f"{added:.0f} |"
            )
    lines += [
        "",
        "## PDF",
        "",
    ]
    for label, figures in pdf.items():
        lines.append(
            f"- {label}: {figures['pages']} pages in {figures['seconds']:.2f} s ({figures['per_page']:.2f} s/page)"
        )
    lines += [
        "",
        "## Reminder sweep",
        "",
        f"{sweep['visits']} visits swept in {sweep['seconds']:.2f} s with {sweep['queries']} SQL queries "
        f"({sweep['recorded']} reminders recorded).",
        "",
    ]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main_grid() -> None:
    """``BENCH_ONLY=grid``: only the record status grid against the bare view, on the LARGE trial
    (built or reused), written into its section of bench/RESULTS.md; the rest of the file is kept."""
    db = build(LARGE)
    counts = measure(db, "query_counts")
    urls = measure(db, "urls")
    processes, base = serve(db)
    try:
        warm(base, urls)
        repeats = int(os.environ.get("BENCH_GRID_REPEATS", "3"))
        first = measure(db, "grid_first_patient")
        runs = [grid_against_bare(base, urls, mode, db, first) for mode in GRID_MODES for _ in range(repeats)]
    finally:
        stop(*processes)
    load_avg = os.getloadavg()
    section = grid_lines(runs, None, counts, LARGE)
    section[-1:] = [
        "",
        f"`BENCH_ONLY=grid`, {len(runs)} repeats in one run; load average at the end {load_avg[0]:.1f} on "
        f"{os.cpu_count()} CPUs (the machine is shared with other work).",
        "",
    ]
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    start = text.find("## Record status grid against the bare view")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + text[end + 1 :] if end >= 0 else text[:start]
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(section))
    print("\n".join(section))


if __name__ == "__main__":
    main_grid() if os.environ.get("BENCH_ONLY") == "grid" else main()
