#!/usr/bin/env python3
"""Steps/FLOPs to target from a `compare` report, read at coarser evaluation cadences.

usage: python3 scripts/cadence.py REPORT_DIR [EVERY_KTH ...]   (default: 1 2 3 6)

Keeps every k-th evaluation of each run, re-smooths R@1 over the last 3 kept points (as
`compare` does), and recomputes the strict steps/FLOPs to target per seed: uniform's first kept
point at its own final smoothed R@1, divided by the method's first point there. k = 1
reproduces the report's own `summary`.
"""
import json
import sys

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


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    report = json.load(open(sys.argv[1] + "/results.json"))
    every = report["eval_every"]
    for k in map(int, sys.argv[2:] or ["1", "2", "3", "6"]):
        if any(len(r["curve"]) % k for r in report["runs"]):
            print(f"every {every * k:>3} steps: skipped (the evaluations do not divide by {k}, so the last kept one would not be the final step)")
            continue
        runs = {}
        for r in report["runs"]:
            runs.setdefault((r["method"], r["filter_ratio"]), {})[r["seed"]] = curve(r, k)
        for (method, f), seeds in sorted(runs.items()):
            if method == "uniform":
                continue
            steps, flops = [], []
            for seed, points in sorted(seeds.items()):
                u = runs[("uniform", f)][seed]
                target = u[-1][2]
                ms, mf = first(points, target, 0), first(points, target, 1)
                if ms is None:
                    continue
                steps.append(first(u, target, 0) / ms)
                flops.append(first(u, target, 1) / mf)
            if len(steps) < len(seeds):
                print(f"every {every * k:>3} steps  {method} f={f}: not all seeds reach the target")
                continue
            print(f"every {every * k:>3} steps  {method} f={f}: steps to target {sum(steps) / len(steps):.2f}x "
                  f"(per seed {' '.join(f'{x:.2f}' for x in steps)}), FLOPs {sum(flops) / len(flops):.2f}x")


if __name__ == "__main__":
    main()
