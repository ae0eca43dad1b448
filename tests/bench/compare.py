#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compares drape-cli bench --json --profile reports, the first against
each of the others: the headline timings, each op class and the layer
shapes whose time moved most, in milliseconds per UNet step, VAE
encode or VAE decode (a dispatch's share of its part's GPU time times
that part's time), so reports with different --steps compare; under
each shape, what the driver said of its pipelines (registers and the
like, where the device gives pipeline statistics).

    tests/bench/compare.py BASE.json OTHER.json [...] [--top N]

With --best, instead: for each layer shape (its sizes, whichever tile
ran it), the report that ran it fastest, and what the shapes add up to
in each report and with each at its fastest: which of several kernel
choices (device-run.sh PLAN=ab's variants) to make a rule of, and what
such a rule would buy.
"""
import argparse
import json
import re

HEADLINE = ("unet_step_ms", "vae_encode_ms", "vae_decode_ms", "tryon_s", "auto_mask_ms", "peak_mib",
            "tryon_peak_mib", "unet_step_barriers", "vae_decode_barriers")
# A profile entry's part (its label's first word) and the timing it is a share of.
PARTS = {"unet": "unet_step_ms", "vae-enc": "vae_encode_ms", "vae-dec": "vae_decode_ms",
         "mask": "auto_mask_ms"}


def per_run(report, key):
    """Milliseconds per run of each entry of report[key] ("ops" or
    "dispatches"), by its label."""
    totals = {}
    for entry in report[key]:
        part = entry["op"].split()[0]
        totals[part] = totals.get(part, 0.0) + entry["total_ms"]
    out = {}
    for entry in report[key]:
        part = entry["op"].split()[0]
        if part in PARTS and totals[part] > 0 and PARTS[part] in report:
            out[entry["op"]] = entry["total_ms"] / totals[part] * report[PARTS[part]]
    return out


def ratio(a, b):
    return "%6.3f" % (b / a) if a else "     -"


def compare(base, other, top=12):
    """The lines comparing `other` with `base` (both parsed reports)."""
    lines = ["%-58s %10s %10s %6s" % ("", "base", "other", "ratio")]
    for key in HEADLINE:
        if key in base and key in other:
            lines.append("%-58s %10.2f %10.2f %s" % (key, base[key], other[key], ratio(base[key], other[key])))
    for key, title in (("ops", "op classes"), ("dispatches", "layer shapes that moved most")):
        if key not in base or key not in other:
            continue
        a, b = per_run(base, key), per_run(other, key)
        names = sorted(set(a) | set(b), key=lambda n: -max(a.get(n, 0.0), b.get(n, 0.0)))
        if key == "dispatches":
            names = sorted(names, key=lambda n: -abs(b.get(n, 0.0) - a.get(n, 0.0)))
        lines.append("%s (ms per run):" % title)
        for name in names[:top]:
            label = " ".join(name.split()[:-2]) if key == "dispatches" else name
            lines.append("  %-56s %10.3f %10.3f %s" % (label[:56], a.get(name, 0.0), b.get(name, 0.0),
                                                       ratio(a.get(name, 0.0), b.get(name, 0.0))))
            if key == "dispatches":
                lines.extend(statistics_lines(base, other, name))
    return lines


# The words of a dispatch's label that give its layer's sizes: a GEMM's
# M, N and K, attention's queries, keys, head dim and heads.
SIZE = re.compile(r"[MNKqkdx]\d+")


def shape_of(label):
    """The layer shape of a dispatch label: its part, its op without the
    kernel kind (".coopmat"), its sizes; None for a dispatch that gives
    no sizes (split-K sums, norms)."""
    words = label.split()[:-2]
    sizes = [w for w in words[2:] if SIZE.fullmatch(w)]
    return " ".join([words[0], words[1].split(".")[0]] + sizes) if sizes else None


def best(reports):
    """The lines of --best: per layer shape that every report ran, ms per
    run in each and the index of the fastest; then each report's total
    over those shapes, and the total with each shape at its fastest."""
    times = []
    for report in reports:
        shapes = {}
        for label, ms in per_run(report, "dispatches").items():
            shape = shape_of(label)
            if shape is not None:
                shapes[shape] = shapes.get(shape, 0.0) + ms
        times.append(shapes)
    common = set(times[0]).intersection(*times[1:])
    lines = ["%-50s %4s %s" % ("layer shape (ms per run)", "best", " ".join("%9d" % i for i in range(len(times))))]
    for shape in sorted(common, key=lambda n: -times[0][n]):
        row = [t[shape] for t in times]
        lines.append("%-50s %4d %s" % (shape[:50], row.index(min(row)), " ".join("%9.3f" % ms for ms in row)))
    totals = [sum(t[shape] for shape in common) for t in times]
    lines.append("%-50s %4s %s" % ("total", "", " ".join("%9.3f" % ms for ms in totals)))
    lines.append("%-50s %9.3f" % ("total, each shape at its fastest",
                                  sum(min(t[shape] for t in times) for shape in common)))
    return lines


def statistics_lines(base, other, name):
    """What the drivers said of the pipelines behind dispatch `name` in
    each report ("pipelines", where the device gave statistics): every
    statistic, as base -> other where both have it."""
    def stats(report):
        kernel = next((d["kernel"] for d in report["dispatches"] if d["op"] == name), None)
        return report.get("pipelines", {}).get(kernel, {})

    a, b = stats(base), stats(other)
    items = ["%s %s" % (n, "%g -> %g" % (a[n], b[n]) if n in a and n in b else
                        "%g (%s)" % (a.get(n, b.get(n)), "base" if n in a else "other"))
             for n in list(a) + [n for n in b if n not in a]]
    return ["      " + ", ".join(items)] if items else []


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--best", action="store_true", help="the fastest report per layer shape")
    args = parser.parse_args()
    reports = []
    for path in args.reports:
        with open(path) as f:
            reports.append(json.load(f))
    if args.best:
        for i, path in enumerate(args.reports):
            print("%d: %s" % (i, path))
        print("\n".join(best(reports)))
        return
    for path, report in zip(args.reports[1:], reports[1:]):
        print("== %s against %s" % (path, args.reports[0]))
        print("\n".join(compare(reports[0], report, args.top)))


if __name__ == "__main__":
    main()
