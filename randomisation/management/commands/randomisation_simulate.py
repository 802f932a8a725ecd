"""Compare randomisation methods by simulation.

python manage.py randomisation_simulate --patients 90 --runs 10000 --seed 7 [--format json]
"""

import json

from django.core.management.base import BaseCommand

from randomisation.simulation import simulate


class Command(BaseCommand):
    help = "Distribution of arm imbalance and the share of guessable allocations, per method."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=90)
        parser.add_argument("--runs", type=int, default=10000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--probability", type=float, default=0.8, help="Minimisation: P(minimising arm)")
        parser.add_argument("--format", choices=["json", "text"], default="text")

    def handle(self, *args, patients, runs, seed, probability, format, **options):
        results = [
            simulate(method=m, patients=patients, runs=runs, seed=seed, probability=probability).summary()
            for m in ("simple", "blocks", "minimisation")
        ]
        if format == "json":
            self.stdout.write(
                json.dumps({"patients": patients, "runs": runs, "seed": seed, "results": results}, indent=2)
            )
            return
        self.stdout.write(f"{runs} simulated trials of {patients} patients (seed {seed})\n")
        self.stdout.write(
            f"{'method':<14}{'|A-B| mean':>11}{'p95':>6}{'max':>6}{'worst level mean':>18}{'p95':>6}{'guessed':>10}"
        )
        for r in results:
            o, w = r["overall_abs_A_minus_B"], r["worst_factor_level_abs_A_minus_B"]
            self.stdout.write(
                f"{r['method']:<14}{o['mean']:>11}{o['p95']:>6}{o['max']:>6}{w['mean']:>18}"
                f"{w['p95']:>6}{r['correct_guess_rate']:>10.1%}"
            )
