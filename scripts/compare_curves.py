#!/usr/bin/env python3
"""Compares the training-loss curves of two recur metrics files step by step.

Exits 1 when the files share no step or when the mean training loss of any shared log interval
differs by more than --max-diff nats. Prints one line per shared step and the largest difference.
"""
import argparse
import json
import sys


def train_losses(path):
    losses = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if record["kind"] == "train" and record["train_loss"] is not None:
                losses[record["step"]] = record["train_loss"]
    return losses


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reference", help="metrics file of the reference run (the CPU)")
    parser.add_argument("candidate", help="metrics file of the run under test (the GPU)")
    parser.add_argument("--max-diff", type=float, default=0.05, help="largest allowed difference, nats")
    args = parser.parse_args()

    reference, candidate = train_losses(args.reference), train_losses(args.candidate)
    steps = sorted(set(reference) & set(candidate))
    if not steps:
        print("no shared steps between %s and %s" % (args.reference, args.candidate))
        return 1
    worst = 0.0
    for step in steps:
        diff = abs(candidate[step] - reference[step])
        worst = max(worst, diff)
        print("step %5d  reference %.4f  candidate %.4f  difference %.4f" % (step, reference[step], candidate[step], diff))
    verdict = "within" if worst <= args.max_diff else "OUTSIDE"
    print("largest difference %.4f nats, %s the allowed %.4f" % (worst, verdict, args.max_diff))
    return 0 if worst <= args.max_diff else 1


if __name__ == "__main__":
    sys.exit(main())
