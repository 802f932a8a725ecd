"""Compare randomisation methods by simulation.

python manage.py randomisation_simulate --patients 90 --runs 10000 --seed 7 [--format json]
    [--block-sizes 2,4] [--target-guess-rate 0.65]
"""

import json

from django.core.management.base import BaseCommand, CommandError

from randomisation.simulation import recommend_block_sizes, simulate


class Command(BaseCommand):
    help = "Distribution of arm imbalance and the share of guessable allocations, per method."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=90)
        parser.add_argument("--runs", type=int, default=10000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--probability", type=float, default=0.8, help="Minimisation: P(minimising arm)")
        parser.add_argument("--format", choices=["json", "text"], default="text")
        parser.add_argument("--block-sizes", default="2,4", help="Permuted blocks: sizes, e.g. 2,4")
        parser.add_argument(
            "--target-guess-rate",
            type=float,
            default=0.65,
            help="Recommend the smallest block sizes a convergence guesser gets right at most this often",
        )

    def handle(self, *args, patients, runs, seed, probability, format, block_sizes, target_guess_rate, **options):
        try:
            sizes = tuple(int(part) for part in block_sizes.split(",") if part.strip())
        except ValueError as exc:
            raise CommandError("--block-sizes: even whole numbers separated by commas, e.g. 2,4") from exc
        if not sizes or any(size < 2 or size % 2 for size in sizes):
            raise CommandError("--block-sizes: even whole numbers separated by commas, e.g. 2,4")
        results = [
            simulate(
                method=m, patients=patients, runs=runs, seed=seed, probability=probability, block_sizes=sizes
            ).summary()
            for m in ("simple", "blocks", "minimisation")
        ]
        # The recommendation needs a table of candidates; a tenth of the runs keeps it quick.
        advice = recommend_block_sizes(
            patients=patients, target_guess_rate=target_guess_rate, runs=max(runs // 10, 50), seed=seed
        )
        if format == "json":
            self.stdout.write(
                json.dumps(
                    {
                        "patients": patients,
                        "runs": runs,
                        "seed": seed,
                        "block_sizes": list(sizes),
                        "results": results,
                        "block_size_advice": advice,
                    },
                    indent=2,
                )
            )
            return
        self.stdout.write(f"{runs} simulated trials of {patients} patients (seed {seed})\n")
        self.stdout.write(
            f"{'method':<14}{'|A-B| mean':>11}{'p95':>6}{'max':>6}{'worst level mean':>18}{'p95':>6}"
            f"{'guessed':>10}{'bias E(G-n/2)':>15}"
        )
        for r in results:
            o, w = r["overall_abs_A_minus_B"], r["worst_factor_level_abs_A_minus_B"]
            self.stdout.write(
                f"{r['method']:<14}{o['mean']:>11}{o['p95']:>6}{o['max']:>6}{w['mean']:>18}"
                f"{w['p95']:>6}{r['correct_guess_rate']:>10.1%}{r['selection_bias_factor']:>15}"
            )
        self.stdout.write("\nGuessing strategy per method:")
        for r in results:
            self.stdout.write(f"  {r['method']:<14}{r['guess_strategy']}")
        self.stdout.write(f"\nBlock sizes for a guess rate of at most {target_guess_rate:.0%}:")
        for row in advice["candidates"]:
            sizes_text = ",".join(str(n) for n in row["block_sizes"])
            self.stdout.write(
                f"  {sizes_text:<10}{row['correct_guess_rate']:>8.1%}  |A-B| p95 {row['overall_abs_A_minus_B_p95']}"
            )
        recommended = advice["recommended"]
        self.stdout.write(
            "Recommended: " + (",".join(str(n) for n in recommended) if recommended else "none of the candidates")
        )
