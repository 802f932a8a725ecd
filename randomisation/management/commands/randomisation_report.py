"""Balance and integrity of the randomisation: `python manage.py randomisation_report --format json|text`."""

import json

from django.core.management.base import BaseCommand

from randomisation.selectors import balance_report, integrity_report


class Command(BaseCommand):
    help = "Print the arm balance (overall, per stratum, site and factor level) and the list integrity verdict."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "text"], default="text")

    def handle(self, *args, format, **options):
        balance, integrity = balance_report(), integrity_report()
        if format == "json":
            self.stdout.write(
                json.dumps(
                    {
                        "balance": balance,
                        "integrity": {
                            "ok": integrity.ok,
                            "allocations": integrity.allocations,
                            "problems": integrity.problems,
                        },
                    },
                    indent=2,
                    sort_keys=True,
                )
            )
            return
        self.stdout.write(f"Randomised: {balance['total']}  (A {balance['overall']['A']}, B {balance['overall']['B']})")
        for title, table in [
            ("Stratum", balance["by_stratum"]),
            ("Site", balance["by_site"]),
            *[(f"Factor {k}", v) for k, v in balance["by_factor"].items()],
        ]:
            self.stdout.write(f"\n{title}")
            for key, arms in table.items():
                self.stdout.write(f"  {key:<28} A {arms['A']:>4}  B {arms['B']:>4}  |A-B| {abs(arms['A'] - arms['B'])}")
        verdict = "PASS" if integrity.ok else "FAIL"
        self.stdout.write(f"\nList integrity: {verdict} ({integrity.allocations} allocations checked)")
        for problem in integrity.problems:
            self.stdout.write(f"  - {problem}")
