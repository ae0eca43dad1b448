#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs drape-cli bench at the shapes of DESIGN.md §5's PyTorch anchors and
prints our numbers beside theirs and beside issue 7's targets.

    tests/bench/anchors.py [--cli build/app/drape-cli] [--cpu [--sizes WxH ...]
                           [--torch PYTHON] [--rounds N]] [--json FILE]

On a GPU (f16): the UNet step with guidance at 768x1024, 384x512 and
512x512, the VAE encode of both images and the decode at 768x1024, a
50-step try-on at 768x1024, and the try-on's device memory (whole-image
and tiled VAE).  With --cpu (lavapipe, f32): the UNet step at 192x256
against PyTorch 1.13 on the same CPU; with --torch, that peer measured here
and now (tests/bench/torch-unet.py under PYTHON, which must import torch:
Debian's python3-torch is /usr/bin/python3's), taking turns with Drape for
--rounds rounds, since shared CPUs drift by tens of percent in minutes.
--sizes names other steps to set side by side as well, such as 384x512,
the size CatVTON's 512 models were trained at (DESIGN.md's anchor is
192x256's alone).
Anchors are DESIGN.md's numbers, measured on an NVIDIA H200 (GPU) and on
this project's 2-core machines (CPU); compare only on the same hardware.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# (what, our key, PyTorch eager, PyTorch tuned, target), times in ms.
GPU_ROWS = [
    ("UNet step, guidance, 768x1024", ("768x1024", "unet_step_ms"), 66.3, 52.1, 40.0),
    ("UNet step, guidance, 384x512", ("384x512", "unet_step_ms"), 29.5, 12.6, 10.0),
    ("UNet step, guidance, 512x512", ("512x512", "unet_step_ms"), 30.3, None, None),
    ("VAE encode, 2 images, 768x1024", ("768x1024", "vae_encode_ms"), 52.3, None, 30.0),
    ("VAE decode, 768x1024", ("768x1024", "vae_decode_ms"), 64.8, None, 35.0),
    ("50-step try-on, 768x1024 (s)", ("768x1024", "tryon_s"), 3.4, None, 2.2),
    # Building the three graphs' pipelines (cold where the caches are
    # empty: a first run), against torch.compile's wait at that size.
    ("pipeline creation, 768x1024 (ms)", ("768x1024", "pipelines_ms"), None, 51000.0, 2000.0),
]
GRAPHS = ("unet_step", "vae_encode", "vae_decode")
MEMORY_ROWS = [
    ("try-on peak, whole-image VAE (MiB)", "tryon_peak_mib_whole", 2.6 * 1024, 2.2 * 1024),
    ("try-on peak, 512-px VAE tiles (MiB)", "tryon_peak_mib_tiles512", 2.6 * 1024, 2.2 * 1024),
    # GPU memory alone, as PyTorch's peak counts it (no host staging).
    ("in device-local memory, whole-image VAE (MiB)", "tryon_peak_device_local_mib_whole",
     2.6 * 1024, 2.2 * 1024),
]
CPU_ANCHOR_S = 63.6
CPU_ANCHOR_SIZE = "192x256"


def run_json(cmd):
    """Runs cmd and returns the JSON it prints; exits with its error
    output where it fails."""
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{cmd[0]} failed (exit status {run.returncode}): {run.stderr.strip()}")
    return json.loads(run.stdout)


def bench(cli, *args):
    return run_json([cli, "bench", "--json", *args])


def torch_step(python, size):
    return run_json([python, os.path.join(HERE, "torch-unet.py"), "--size", size, "--runs", "1", "--json"])


def cell(value, unit=""):
    return "-" if value is None else f"{value:.1f}{unit}"


def verdict(ours, target):
    if target is None or ours is None:
        return ""
    return "met" if ours <= target else f"{ours / target:.1f}x over"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", default=os.environ.get("DRAPE_CLI", "build/app/drape-cli"))
    parser.add_argument("--cpu", action="store_true", help="lavapipe: the CPU anchor, f32")
    parser.add_argument("--sizes", nargs="+", default=[CPU_ANCHOR_SIZE], metavar="WxH",
                        help=f"with --cpu: the steps to time ({CPU_ANCHOR_SIZE}: the anchor's)")
    parser.add_argument("--torch", metavar="PYTHON",
                        help="with --cpu: also time PyTorch's step with this Python, taking turns")
    parser.add_argument("--rounds", type=int, default=2, help="with --torch: turns each")
    parser.add_argument("--json", metavar="FILE", help="also write every bench result here")
    args = parser.parse_args()
    if args.torch and not args.cpu:
        parser.error("--torch compares on the CPU: it needs --cpu")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.sizes != [CPU_ANCHOR_SIZE] and not args.cpu:
        parser.error("--sizes names CPU steps: it needs --cpu")

    results = {}
    if args.cpu:
        print(f"{'work':<40} {'Drape':>10} {'PyTorch 1.13 CPU':>18}  verdict")
        for size in args.sizes:
            rounds = []
            for _ in range(args.rounds if args.torch else 1):
                ours = bench(args.cli, "--size", size, "--precision", "f32", "--steps", "1")
                peer = torch_step(args.torch, size) if args.torch else None
                rounds.append({"drape": ours, "torch": peer})
            results[size] = rounds
            ours = min(r["drape"]["unet_step_ms"] for r in rounds) / 1000
            what = f"UNet step, guidance, {size}, f32 (s)"
            if size == CPU_ANCHOR_SIZE:
                print(f"{what:<40} {ours:>10.1f} {CPU_ANCHOR_S:>18.1f}  "
                      f"{verdict(ours, CPU_ANCHOR_S)}  (DESIGN.md's anchor)")
            elif not args.torch:
                print(f"{what:<40} {ours:>10.1f} {'-':>18}")
            if args.torch:
                theirs = min(r["torch"]["unet_step_ms"] for r in rounds) / 1000
                if size == CPU_ANCHOR_SIZE:
                    what = "the same, side by side (s)"
                print(f"{what:<40} {ours:>10.1f} {theirs:>18.1f}  {verdict(ours, theirs)}")
        if args.torch:
            peer = rounds[0]["torch"]
            turns = "one turn each" if args.rounds == 1 else f"best of {args.rounds} turns each"
            print(f"({turns}; torch {peer['torch']}, {peer['threads']} threads, BLAS {peer['blas']})")
    else:
        results["768x1024"] = bench(args.cli, "--size", "768x1024", "--steps", "10", "--e2e", "50")
        results["384x512"] = bench(args.cli, "--size", "384x512", "--steps", "10")
        results["512x512"] = bench(args.cli, "--size", "512x512", "--steps", "10")
        results["memory"] = bench(args.cli, "--size", "768x1024", "--memory")
        for report in (results["768x1024"], results["384x512"], results["512x512"]):
            report["pipelines_ms"] = sum(report[g + "_pipelines_ms"] for g in GRAPHS)
        first = results['768x1024']
        print(f"device: {first['device']} ({first['precision']}; tensor cores: "
              f"{first.get('tensor_cores', 'not reported')})")
        print(f"{'work':<40} {'Drape':>9} {'eager':>9} {'tuned':>9} {'target':>9}  verdict")
        for what, (size, key), eager, tuned, target in GPU_ROWS:
            ours = results[size].get(key)
            print(f"{what:<40} {cell(ours):>9} {cell(eager):>9} {cell(tuned):>9} {cell(target):>9}  "
                  f"{verdict(ours, target)}")
        for what, key, eager, target in MEMORY_ROWS:
            ours = results["memory"][key]
            ours = None if ours < 0 else ours
            print(f"{what:<40} {cell(ours):>9} {cell(eager):>9} {'-':>9} {cell(target):>9}  "
                  f"{verdict(ours, target)}")
        print("(PyTorch's 2.6 GiB is its UNet step alone; ours is the whole try-on)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
