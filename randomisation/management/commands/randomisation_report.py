"""Balance and integrity of the randomisation: `python manage.py randomisation_report --format json|text`."""

import json

from django.core.management.base import BaseCommand

from randomisation.selectors import balance_report, integrity_report, predictability_report


class Command(BaseCommand):
    help = "Print the arm balance (overall, per stratum, site and factor level) and the list integrity verdict."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "text"], default="text")
        parser.add_argument("--runs", type=int, default=1000, help="Simulated trials for the predictability figures")
        parser.add_argument("--seed", type=int, default=1, help="Seed of the predictability simulation")
        parser.add_argument("--target-guess-rate", type=float, default=0.65)

    def handle(self, *args, format, runs, seed, target_guess_rate, **options):
        balance, integrity = balance_report(), integrity_report()
        predictability = predictability_report(runs=runs, seed=seed, target_guess_rate=target_guess_rate)
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
                        "predictability": predictability,
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
        if predictability is None:
            return
        design_result = predictability["design"]
        self.stdout.write(
            f"\nPredictability of the active design ({predictability['method']}, {runs} simulated trials of "
            f"{predictability['patients']}, seed {seed}):"
        )
        self.stdout.write(
            f"  correct guesses {design_result['correct_guess_rate']:.1%} under {design_result['guess_strategy']}; "
            f"expected bias factor E(G - n/2) {design_result['selection_bias_factor']}"
        )
        for other in predictability["alternatives"]:
            self.stdout.write(f"  {other['method']:<14}{other['correct_guess_rate']:.1%} ({other['guess_strategy']})")
        advice = predictability["block_size_advice"]
        recommended = advice["recommended"]
        self.stdout.write(
            f"  Block sizes for at most {advice['target_guess_rate']:.0%} correct guesses: "
            + (",".join(str(n) for n in recommended) if recommended else "none of the candidates")
        )
