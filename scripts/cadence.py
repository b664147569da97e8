#!/usr/bin/env python3
"""Steps/FLOPs to target from a `compare` report, read at coarser evaluation cadences.

usage: python3 scripts/cadence.py REPORT_DIR [EVERY_KTH ...] [--seeds FIRST-LAST]
       (EVERY_KTH default: 1 2 3 6; --seeds keeps only those seeds, e.g. 5-9)

Keeps every k-th evaluation of each run, re-smooths R@1 over the last 3 kept points (as
`compare` does), and recomputes the strict steps/FLOPs to target per seed: uniform's first kept
point at its own final smoothed R@1, divided by the method's first point there — and the same
against uniform's whole run (its last step and total FLOPs, the form of the JEST paper's
figures). k = 1 reproduces the report's own `summary` (`steps_speedup`, `flops_speedup`,
`steps_speedup_whole_run`, `flops_speedup_whole_run`).
"""
import argparse
import json
import math

SMOOTH = 3


def curve(run, k):
    kept = [c for i, c in enumerate(run["curve"]) if (i + 1) % k == 0]
    out, raw = [], []
    for c in kept:
        raw.append((c["i2t_r1"] + c["t2i_r1"]) / 2)
        recent = raw[-SMOOTH:]
        out.append((c["step"], c["flops"], sum(recent) / len(recent)))
    return out


def first(points, target, key):
    return next((p[key] for p in points if p[2] >= target - 1e-12), None)


def spread(xs):
    """Mean, sample standard deviation and standard error of the mean."""
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / max(len(xs) - 1, 1))
    return m, sd, sd / math.sqrt(len(xs))


def seed_range(text):
    first, _, last = text.partition("-")
    return set(range(int(first), int(last or first) + 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="a compare report folder (holds results.json)")
    ap.add_argument("every", nargs="*", type=int, default=[1, 2, 3, 6], help="keep every k-th evaluation")
    ap.add_argument("--seeds", type=seed_range, help="only these seeds, FIRST-LAST (e.g. 5-9)")
    a = ap.parse_args()
    report = json.load(open(a.report + "/results.json"))
    every = report["eval_every"]
    report["runs"] = [r for r in report["runs"] if a.seeds is None or r["seed"] in a.seeds]
    if not report["runs"]:
        raise SystemExit(f"no runs of seeds {sorted(a.seeds)} in {a.report}")
    for k in a.every:
        if any(len(r["curve"]) % k for r in report["runs"]):
            print(f"every {every * k:>3} steps: skipped (the evaluations do not divide by {k}, so the last kept one would not be the final step)")
            continue
        runs = {}
        for r in report["runs"]:
            runs.setdefault((r["method"], r["filter_ratio"]), {})[r["seed"]] = curve(r, k)
        for (method, f), seeds in sorted(runs.items()):
            if method == "uniform":
                continue
            steps, flops, whole_steps, whole_flops = [], [], [], []
            for seed, points in sorted(seeds.items()):
                u = runs[("uniform", f)][seed]
                target = u[-1][2]
                ms, mf = first(points, target, 0), first(points, target, 1)
                if ms is None:
                    continue
                steps.append(first(u, target, 0) / ms)
                flops.append(first(u, target, 1) / mf)
                whole_steps.append(u[-1][0] / ms)
                whole_flops.append(u[-1][1] / mf)
            if len(steps) < len(seeds):
                print(f"every {every * k:>3} steps  {method} f={f}: not all seeds reach the target")
                continue
            (sm, ssd, _), (fm, fsd, fse) = spread(steps), spread(flops)
            print(f"every {every * k:>3} steps  {method} f={f}, {len(steps)} seeds: steps to target {sm:.2f}x ± {ssd:.2f} "
                  f"(per seed {' '.join(f'{x:.2f}' for x in steps)}), FLOPs {fm:.2f}x ± {fsd:.2f}, standard error {fse:.2f} "
                  f"(per seed {' '.join(f'{x:.2f}' for x in flops)}); against uniform's whole run: steps "
                  f"{spread(whole_steps)[0]:.2f}x, FLOPs {spread(whole_flops)[0]:.2f}x ± {spread(whole_flops)[1]:.2f}, "
                  f"standard error {spread(whole_flops)[2]:.2f} (per seed {' '.join(f'{x:.2f}' for x in whole_flops)})")


if __name__ == "__main__":
    main()
