#!/usr/bin/env python3
"""Prints, per shape, the training and inference tokens/s of two recur bench runs and their ratio.

Both files are bench --json outputs of the same shapes on the same backend, for example one run
without and one with --cuda-graph. A ratio above 1 means that the second run was faster. Exits 1
when the files share no shape.
"""
import argparse
import json
import sys


def tokens_per_s(path):
    with open(path) as f:
        report = json.load(f)
    out = {}
    for r in report["results"]:
        if r["case"] != "normal":
            continue
        s = r["shape"]
        key = (r["backend"], "%dx%dx%dx%dx%d" % (s["hidden"], s["layers"], s["batch"], s["seq"], s["vocab"]))
        out[key] = (r["train"]["tokens_per_s"], r["infer"]["tokens_per_s"])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("baseline", help="bench --json output of the run without the option")
    parser.add_argument("candidate", help="bench --json output of the run with the option")
    parser.add_argument("--label", default="candidate", help="name of the option, for the header")
    args = parser.parse_args()

    base, cand = tokens_per_s(args.baseline), tokens_per_s(args.candidate)
    keys = [k for k in base if k in cand]
    if not keys:
        print("bench_ratio: the two runs share no shape", file=sys.stderr)
        return 1
    print("| backend | shape HxLxBxTxV | train tok/s off | on | ratio | infer tok/s off | on | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for k in keys:
        (bt, bi), (ct, ci) = base[k], cand[k]
        rt = ct / bt if bt > 0 else float("nan")
        ri = ci / bi if bi > 0 else float("nan")
        print("| %s | %s | %.0f | %.0f | %.3f | %.0f | %.0f | %.3f |" % (k[0], k[1], bt, ct, rt, bi, ci, ri))
    print("(ratio = %s on ÷ off; above 1 is faster with it on)" % args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
