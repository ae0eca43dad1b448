#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""drape-cli bench --json --profile, as tests/bench/anchors.py and
device-run.sh read it: the timings, peak memory, the per-op profile and
the per-dispatch one (each GEMM described by its M, N, K and tile, each
attention by its tokens and head dim, each naming its pipeline, with the
driver's statistics of it where the device gives them), and
tests/bench/compare.py on it.
Tiny size, f32: any device.

    tests/bench-json.py DRAPE_CLI
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import compare  # noqa: E402


def main():
    cli = sys.argv[1]
    untuned = dict(os.environ, DRAPE_TUNING="none")
    out = subprocess.run([cli, "bench", "--size", "64x64", "--steps", "1", "--precision", "f32",
                          "--profile", "--json"], check=True, capture_output=True, text=True,
                         env=untuned).stdout
    report = json.loads(out)
    assert report["tuning"] is None and report["tuning_problems"] == 0, report
    assert all(report[part + "_tuned"] == 0 for part in ("unet_step", "vae_encode", "vae_decode")), report

    for key in ("unet_step_ms", "vae_encode_ms", "vae_decode_ms", "load_ms", "weights_mib"):
        assert report[key] > 0, (key, report[key])
    assert report["peak_mib"] >= report["weights_mib"], report
    assert 0 < report["peak_device_local_mib"] <= report["peak_mib"], report
    # Barriers only where dispatches race: never more than one each.
    for part in ("unet_step", "vae_encode", "vae_decode"):
        dispatches, barriers = report[part + "_dispatches"], report[part + "_barriers"]
        assert 1 <= barriers <= dispatches, (part, dispatches, barriers)
    assert report["width"] == 64 and report["height"] == 64, report

    ops = report["ops"]
    assert ops, "no ops in the profile"
    assert any(op["op"].startswith("unet conv2d") for op in ops), [op["op"] for op in ops]
    times = [op["total_ms"] for op in ops]
    assert times == sorted(times, reverse=True), "ops not most expensive first"

    dispatches = report["dispatches"]
    assert len(dispatches) > len(ops), "dispatch profile no finer than the op profile"
    # Each names its pipeline; the driver's statistics of them are in
    # "pipelines" exactly where the device can give them.
    kernel = re.compile(r"[a-z0-9_]+\.[a-z0-9_]+/\d+/[0-9a-f]+:\d+(,\d+)*")
    assert all(kernel.fullmatch(d["kernel"]) for d in dispatches), [d["kernel"] for d in dispatches]
    # Pipelines built while recording each graph (the wait before a first
    # result): the step, recorded first, builds some; no graph more than
    # the pipelines its own dispatches name (later graphs share the
    # step's).
    for part, prefix in (("unet_step", "unet "), ("vae_encode", "vae-enc "), ("vae_decode", "vae-dec ")):
        named = {d["kernel"] for d in dispatches if d["op"].startswith(prefix)}
        assert 0 <= report[part + "_pipelines"] <= len(named), (part, report[part + "_pipelines"], named)
        assert report[part + "_pipelines_ms"] >= 0, (part, report[part + "_pipelines_ms"])
    assert report["unet_step_pipelines"] >= 1, report["unet_step_pipelines"]
    devices = subprocess.run([cli, "devices"], check=True, capture_output=True, text=True).stdout
    assert re.search(r"pipeline statistics +(yes|no)", devices), devices
    if re.search(r"pipeline statistics +yes", devices):
        named = {d["kernel"] for d in dispatches}
        assert report["pipelines"] and set(report["pipelines"]) <= named, report["pipelines"]
        assert all(isinstance(v, (int, float)) for stats in report["pipelines"].values()
                   for v in stats.values()), report["pipelines"]
    else:
        assert "pipelines" not in report, report["pipelines"]
    gemm = re.compile(r"M\d+ N\d+ K\d+ \d+x\d+")
    winograd = re.compile(r"tiles\d+ cin\d+ cout\d+")
    attention = re.compile(r"q\d+ k\d+ d\d+ x\d+ \d+/wg")
    for d in dispatches:
        assert d["workgroups"] > 0 and d["calls"] > 0, d
        label = d["op"].split()[1]
        if label.startswith("conv2d_winograd"):
            assert winograd.fullmatch(d["detail"]), d
        elif label.startswith(("conv2d", "linear")) and not label.endswith("split_sum"):
            assert gemm.match(d["detail"]), d
        if label.startswith("attention"):
            assert attention.fullmatch(d["detail"]), d
    # The UNet step's FLOPs are the same whichever way they are summed.
    by_op = sum(op["gflop"] * op["calls"] for op in ops if op["op"].startswith("unet"))
    by_dispatch = sum(d["gflop"] * d["calls"] for d in dispatches if d["op"].startswith("unet"))
    assert abs(by_op - by_dispatch) <= 1e-6 * max(by_op, 1), (by_op, by_dispatch)

    # tests/bench/compare.py: a report against itself moves nothing, and
    # its op classes add up to the parts' timings.
    lines = compare.compare(report, report, top=len(dispatches))
    rows = [line for line in lines[1:] if not line.endswith(":")]
    assert rows and all(line.endswith(" 1.000") or line.endswith(" -") for line in rows), lines
    step = sum(ms for op, ms in compare.per_run(report, "ops").items() if op.startswith("unet "))
    assert abs(step - report["unet_step_ms"]) <= 1e-6 * report["unet_step_ms"], (step, report)
    # Under each shape, compare.py shows its pipelines' statistics.
    first = dispatches[0]
    base = dict(report, pipelines={first["kernel"]: {"Register Count": 96, "Binary Size": 10}})
    other = dict(report, pipelines={first["kernel"]: {"Register Count": 128}})
    lines = compare.compare(base, other, top=len(dispatches))
    label = " ".join(first["op"].split()[:-2])[:56]
    shape = next(i for i, line in enumerate(lines) if line.startswith("  " + label + " "))
    assert lines[shape + 1].split() == ["Register", "Count", "96", "->", "128,", "Binary", "Size", "10",
                                        "(base)"], lines[shape:shape + 2]
    # compare.py --best: with every UNet dispatch twice as slow in the
    # second report, the first is fastest at every shape, and the total
    # at each shape's fastest is the first's.
    slower = dict(report, unet_step_ms=2 * report["unet_step_ms"])
    lines = compare.best([report, slower])
    rows = [line.rsplit(None, 3) for line in lines[1:-2]]
    assert rows and all(best == "0" for _, best, _, _ in rows), lines
    # (Printed to 0.001 ms: b and 2 a round apart by up to 0.0015.)
    assert all(abs(float(b) - 2 * float(a)) <= 2e-3
               for shape, _, a, b in rows if shape.startswith("unet ")), lines
    assert any(shape.startswith("unet ") for shape, _, _, _ in rows), lines
    total, fastest = lines[-2].split()[-2], lines[-1].split()[-1]
    assert abs(float(total) - float(fastest)) <= 1e-3, lines[-2:]

    # --e2e times a try-on, and --vae-tile puts its VAE on tiles; the
    # report says which ran.  With the tuning Drape ships for this model
    # of device (its PCI IDs, as `devices` gives them) and none of its own
    # (an empty cache), where it names a way for the UNet's first
    # convolution (9 channels in, 320 out, 3x3, over the 2 x 16 x 8
    # latents; at f32 its weights are the F16 file's: "w16"), the step
    # takes it.
    assert "tryon_s" not in report and "auto_mask_ms" not in report, report
    devices = subprocess.run([cli, "devices"], check=True, capture_output=True, text=True).stdout
    ids = next(line.split()[-1] for line in devices.splitlines() if "vendor and device" in line)
    with tempfile.TemporaryDirectory() as folder:
        tuning = os.path.join(folder, ids.replace(":", "-") + ".json")
        with open(tuning, "w") as f:
            json.dump({"problems": {"conv2d f32 M256 N320 K81 C9 G1 w16": {"way": "tiled"}}}, f)
        env = {k: v for k, v in os.environ.items() if k != "DRAPE_TUNING"}
        env.update(DRAPE_TUNINGS_DIR=folder, XDG_CACHE_HOME=os.path.join(folder, "cache"))
        out = subprocess.run([cli, "bench", "--size", "64x64", "--steps", "1", "--precision", "f32",
                              "--json", "--e2e", "1", "--vae-tile", "64", "--auto-mask"],
                             check=True, capture_output=True, text=True, env=env).stdout
    tryon = json.loads(out)
    assert tryon["tuning"] == tuning and tryon["tuning_problems"] == 1, tryon
    assert tryon["unet_step_tuned"] == 1 and tryon["vae_decode_tuned"] == 0, tryon
    assert tryon["tryon_steps"] == 1 and tryon["tryon_s"] > 0, tryon
    assert tryon["tryon_vae_tile"] == 64, tryon
    assert tryon["tryon_peak_mib"] >= tryon["weights_mib"], tryon
    assert 0 < tryon["tryon_peak_device_local_mib"] <= tryon["tryon_peak_mib"], tryon
    # --auto-mask times the parser on random SegFormer-B2 weights: 27.4 M
    # parameters (DESIGN.md) less the 3072 -> 768 fuse convolution its
    # folded head does without, 25.0 M in f32.
    assert 0 < tryon["auto_mask_ms"] <= tryon["auto_mask_first_ms"], tryon
    assert 90 < tryon["auto_mask_weights_mib"] < 100, tryon["auto_mask_weights_mib"]
    assert tryon["auto_mask_dispatches"] >= 1 and tryon["auto_mask_tuned"] == 0, tryon
    # --memory plans a try-on's graphs and runs nothing: its peaks, with
    # the whole-image VAE and on tiles, in every heap and in device-local
    # ones alone.
    out = subprocess.run([cli, "bench", "--size", "64x64", "--precision", "f16", "--memory", "--json"],
                         check=True, capture_output=True, text=True).stdout
    memory = json.loads(out)
    for kind in ("whole", "tiles512", "tiles256"):
        total, local = memory["tryon_peak_mib_" + kind], memory["tryon_peak_device_local_mib_" + kind]
        assert memory["weights_mib"] < total and 0 < local <= total, (kind, memory)
    # It draws no weights, but holds what drawing them would: the f32
    # report's weights (the UNet's kernels in f16, as from its file).
    out = subprocess.run([cli, "bench", "--size", "64x64", "--precision", "f32", "--memory", "--json"],
                         check=True, capture_output=True, text=True).stdout
    assert json.loads(out)["weights_mib"] == report["weights_mib"], (out, report["weights_mib"])
    refused = subprocess.run([cli, "bench", "--size", "64x64", "--vae-tile", "64"],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "--e2e" in refused.stderr, refused
    # drape-cli tune's whole path (the workload, the trials, the file, the
    # report) with every convolution's kernel forced (lavapipe's own), which
    # leaves no way to choose in f32: timing every way of a real UNet on a
    # CPU takes far longer than a test may (test-conv times them on its
    # cases).
    with tempfile.TemporaryDirectory() as folder:
        saved = os.path.join(folder, "tuning.json")
        out = subprocess.run([cli, "tune", "--size", "64x64", "--precision", "f32", "--runs", "1",
                              "--json", "--output", saved], check=True, capture_output=True, text=True,
                             env=dict(os.environ, DRAPE_CONV_KERNEL="subgroup-texel",
                                      DRAPE_TUNING="none")).stdout
        tuned = json.loads(out)
        with open(saved) as f:
            kept = json.load(f)
    assert tuned["tuning"] == saved and tuned["device"] == report["device"], tuned
    assert kept["device"] == report["device"] and isinstance(kept["problems"], dict), kept
    assert {p["problem"] for p in tuned["problems"]} == set(kept["problems"]), (tuned, kept)
    assert all(p["ms"] <= p["usual_ms"] for p in tuned["problems"]), tuned
    assert tuned["complete"] is True, tuned
    # With no time for other ways (--seconds 0), every layer of the real
    # UNet and VAE is timed its usual way, and keeps it.
    with tempfile.TemporaryDirectory() as folder:
        saved = os.path.join(folder, "tuning.json")
        run = subprocess.run([cli, "tune", "--size", "64x64", "--precision", "f32", "--runs", "1",
                              "--seconds", "0", "--json", "--output", saved], check=True,
                             capture_output=True, text=True, env=untuned)
        cut = json.loads(run.stdout)
        with open(saved) as f:
            kept = json.load(f)
    assert cut["complete"] is False and "cut short: 0 of" in run.stderr, (cut, run.stderr)
    assert {p["problem"] for p in cut["problems"]} == set(kept["problems"]), (cut, kept)
    assert cut["problems"] and all(p["way"] == p["usual"] and p["ms"] == p["usual_ms"] > 0
                                   for p in cut["problems"]), cut
    # drape-cli tune refuses what it cannot time, before any work.
    for args, says in ((["--size", "65x64"], "--size"), (["--runs", "0"], "--runs"),
                       (["--precision", "f8"], "--precision"), (["--seconds", "-1"], "--seconds"),
                       (["--seconds", "nan"], "--seconds"), (["--seconds", "inf"], "--seconds"),
                       (["--seconds", "2x"], "--seconds")):
        refused = subprocess.run([cli, "tune"] + args, capture_output=True, text=True)
        assert refused.returncode != 0 and says in refused.stderr, (args, refused)
    print("ok: %d ops, %d dispatch shapes" % (len(ops), len(dispatches)))


if __name__ == "__main__":
    main()
