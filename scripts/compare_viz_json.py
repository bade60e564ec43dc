#!/usr/bin/env python3
"""Compare two JSON outputs of recur viz, such as one run on the CPU and one on CUDA.

Both files must come from the same command on the same checkpoint and text:
  recur viz --find --json ...        one document: {"chars": N, "features": [...]}
  recur viz --grad-flow --json ...   one document per checkpoint, one per line

For --find, every unit listed in both files must have the same Pearson r within --r-tol.
A unit listed in only one file must sit within --r-tol of the other file's last |r|, because
the two runs may break a near tie differently. For --grad-flow, every gradient norm must
agree within the relative tolerance --norm-rtol, and a norm that underflowed to 0 in one file
must be below --underflow in the other. The singular values of W_hh are computed on the host
from the same weights, so they must agree within the tighter --sv-rtol.

Exit status 0 when the files agree, 1 when they differ, 2 when they cannot be compared.
"""
import argparse
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        docs = [json.loads(line) for line in f if line.strip()]
    if not docs:
        sys.exit(f"{path}: no JSON document found")
    return docs


def kind(docs, path):
    if "features" in docs[0]:
        return "find"
    if "grad_h" in docs[0]:
        return "grad-flow"
    print(f"{path}: neither recur viz --find --json nor --grad-flow --json output", file=sys.stderr)
    sys.exit(2)


def compare_find(a, b, r_tol, problems):
    if a["chars"] != b["chars"]:
        problems.append(f"the texts differ: {a['chars']} and {b['chars']} characters")
        return 0.0
    worst = 0.0
    features_b = {f["feature"]: f for f in b["features"]}
    for fa in a["features"]:
        name = fa["feature"]
        fb = features_b.get(name)
        if fb is None:
            problems.append(f"{name}: missing from the second file")
            continue
        if fa.get("constant") != fb.get("constant"):
            problems.append(f"{name}: constant is {fa.get('constant')} and {fb.get('constant')}")
            continue
        units_a = {(u["layer"], u["state"], u["unit"]): u["r"] for u in fa["units"]}
        units_b = {(u["layer"], u["state"], u["unit"]): u["r"] for u in fb["units"]}
        for key in units_a.keys() & units_b.keys():
            diff = abs(units_a[key] - units_b[key])
            worst = max(worst, diff)
            if diff > r_tol:
                problems.append(f"{name}: unit {key} has r {units_a[key]:+.6f} and {units_b[key]:+.6f}")
        for only, other, label in ((units_a, units_b, "first"), (units_b, units_a, "second")):
            if not other:
                continue
            floor = min(abs(r) for r in other.values())
            for key in only.keys() - other.keys():
                if abs(only[key]) - floor > r_tol:
                    problems.append(f"{name}: unit {key} (r {only[key]:+.6f}) is listed only in the {label} "
                                    f"file, though stronger than the other's weakest listed |r| {floor:.6f}")
    return worst


def relative(x, y):
    return abs(x - y) / max(abs(x), abs(y))


def compare_series(name, xs, ys, norm_rtol, underflow, problems):
    if len(xs) != len(ys):
        problems.append(f"{name}: {len(xs)} and {len(ys)} distances")
        return 0.0
    worst = 0.0
    for d, (x, y) in enumerate(zip(xs, ys)):
        if x is None or y is None:
            if (x is None) != (y is None):
                problems.append(f"{name}[{d}]: {x} and {y} (null is a non-finite norm)")
            continue
        if x == 0 or y == 0:
            if max(x, y) > underflow:
                problems.append(f"{name}[{d}]: {x:.6g} and {y:.6g}, but only one underflowed to 0")
            continue
        diff = relative(x, y)
        worst = max(worst, diff)
        if diff > norm_rtol:
            problems.append(f"{name}[{d}]: {x:.6g} and {y:.6g} differ by {diff:.2e} relative")
    return worst


def compare_grad_flow(a, b, norm_rtol, sv_rtol, underflow, problems):
    worst = 0.0
    for field in ("cell", "max_distance", "positions", "distance"):
        if a[field] != b[field]:
            problems.append(f"{field} differs: {a[field]} and {b[field]}")
            return worst
    tag = a.get("checkpoint", a["cell"])
    for field in ("grad_h", "grad_c"):
        if field in a or field in b:
            worst = max(worst, compare_series(f"{tag} {field}", a.get(field, []), b.get(field, []),
                                              norm_rtol, underflow, problems))
    for sa, sb in zip(a["singular_values"], b["singular_values"]):
        pairs = [("w_hh", sa["w_hh"], sb["w_hh"])]
        pairs += [(g, v, (sb.get("gates") or {}).get(g)) for g, v in (sa.get("gates") or {}).items()]
        for matrix, x, y in pairs:
            if x is None or y is None or relative(x, y) > sv_rtol:
                problems.append(f"{tag} layer {sa['layer']} singular value of {matrix}: {x} and {y}")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("--r-tol", type=float, default=1e-3, help="largest absolute difference of a unit's r")
    ap.add_argument("--norm-rtol", type=float, default=1e-2, help="largest relative difference of a gradient norm")
    ap.add_argument("--sv-rtol", type=float, default=1e-6, help="largest relative difference of a singular value")
    ap.add_argument("--underflow", type=float, default=1e-30,
                    help="largest norm that may stand beside a 0 (an underflow) in the other file")
    args = ap.parse_args()

    a, b = load(args.first), load(args.second)
    ka, kb = kind(a, args.first), kind(b, args.second)
    if ka != kb:
        print(f"cannot compare {ka} output with {kb} output", file=sys.stderr)
        sys.exit(2)
    if len(a) != len(b):
        print(f"{args.first} has {len(a)} documents and {args.second} has {len(b)}", file=sys.stderr)
        sys.exit(2)
    problems = []
    if ka == "find":
        worst = compare_find(a[0], b[0], args.r_tol, problems)
        summary = f"find: largest |r| difference {worst:.2e} (tolerance {args.r_tol:g})"
    else:
        worst = max(compare_grad_flow(x, y, args.norm_rtol, args.sv_rtol, args.underflow, problems)
                    for x, y in zip(a, b))
        summary = f"grad-flow: largest relative norm difference {worst:.2e} (tolerance {args.norm_rtol:g})"
    print(summary)
    for p in problems:
        print("  " + p)
    if problems:
        print(f"{len(problems)} difference(s) beyond tolerance")
        sys.exit(1)
    print("the files agree")


if __name__ == "__main__":
    main()
