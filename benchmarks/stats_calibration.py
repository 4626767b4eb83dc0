"""Type-I error and power of every statistic the report can call significant, on simulated sweeps.

Designs (``hdfbench.analysis.calibration``): 5 folds × 3 seeds with correlated cells, 5 folds ×
1 seed, 1 fold × 3 seeds, 10 folds × 2 seeds, and 5 datasets × 4 variants for the across-dataset
omnibus test. Each rate is the share of simulated sweeps the report would call significant at
α = 0.05 when no variant differs (target ≤ 0.07), and the power at a true +3 point difference.
Rows marked descriptive are shown for comparison; the report never calls them significant.

    python benchmarks/stats_calibration.py [--sweeps 5000] [--json benchmarks/stats_calibration.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hdfbench.analysis.calibration import calibration_table

TARGET = 0.07


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=5000, help="simulated sweeps per design and effect")
    parser.add_argument("--effect", type=float, default=3.0, help="true difference for the power, in points")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the table to this file")
    args = parser.parse_args()
    start = time.perf_counter()
    table = calibration_table(args.sweeps, args.effect / 100, seed=args.seed)
    print(f"{'design':<38} {'statistic':<64} {'null rate':>9} {'power':>6}  verdict")
    for row in table.itertuples():
        verdict = ("ok" if row.null_rate <= TARGET else "OVER TARGET") if row.can_be_significant else "not a test"
        power = "–" if row.power != row.power else f"{row.power:.3f}"
        print(f"{row.design:<38} {row.statistic:<64} {row.null_rate:>9.3f} {power:>6}  {verdict}")
    print(
        f"{args.sweeps} simulated sweeps per cell; power at +{args.effect:g} points; target ≤ {TARGET} for every "
        f"statistic that can be called significant; {time.perf_counter() - start:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "sweeps": args.sweeps,
                    "effect": args.effect / 100,
                    "target": TARGET,
                    "rows": table.to_dict(orient="records"),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
