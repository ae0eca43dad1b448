#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Times CatVTON's UNet step in PyTorch on this machine's CPU: the peer that
issue 7's CPU target names, for a side-by-side measurement.

    tests/bench/torch-unet.py [--size 192x256] [--runs 2] [--threads N] [--sdpa] [--json]

The UNet is diffusers' UNet2DConditionModel in SD1.5-inpainting's
configuration as CatVTON runs it (DESIGN.md section 3): its cross-attention
skipped (each transformer block adds LN2's output to its input instead),
random weights, fp32, guidance batch 2, the latent of a person and a garment
stacked along height.  Written out in plain torch modules because Debian
packages torch but not diffusers; the layers, their order and their FLOPs
are diffusers', and attention is what diffusers runs on torch 1.x
(AttnProcessor: baddbmm, softmax, bmm; torch 2's fused SDPA where the torch
has it and --sdpa asks).  Needs python3-torch (Debian 12: 1.13).
"""
import argparse
import json
import math
import os
import sys
import time

try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError:
    sys.exit(f"{sys.executable} cannot import torch: install python3-torch and run this "
             "with Debian's /usr/bin/python3")

CHANNELS = (320, 640, 1280, 1280)
HEADS = 8
GROUPS = 32


def group_norm(c, eps):
    return nn.GroupNorm(GROUPS, c, eps=eps)


class Resnet(nn.Module):
    def __init__(self, cin, cout, temb=1280):
        super().__init__()
        self.norm1 = group_norm(cin, 1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = group_norm(cout, 1e-5)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.shortcut(x) if self.shortcut is not None else x) + h


class SelfAttention(nn.Module):
    def __init__(self, dim, sdpa):
        super().__init__()
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.sdpa = sdpa

    def forward(self, x):
        b, n, c = x.shape
        d = c // HEADS

        def heads(t):
            return t.reshape(b, n, HEADS, d).permute(0, 2, 1, 3).reshape(b * HEADS, n, d)

        q, k, v = heads(self.to_q(x)), heads(self.to_k(x)), heads(self.to_v(x))
        if self.sdpa:
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            scores = torch.baddbmm(torch.empty(b * HEADS, n, n, dtype=x.dtype), q, k.transpose(1, 2),
                                   beta=0, alpha=1 / math.sqrt(d))
            o = torch.bmm(scores.softmax(dim=-1), v)
        return self.to_out(o.reshape(b, HEADS, n, d).permute(0, 2, 1, 3).reshape(b, n, c))


class Transformer(nn.Module):
    def __init__(self, c, sdpa):
        super().__init__()
        self.norm = group_norm(c, 1e-6)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.norm1 = nn.LayerNorm(c)
        self.attn1 = SelfAttention(c, sdpa)
        self.norm2 = nn.LayerNorm(c)
        self.norm3 = nn.LayerNorm(c)
        self.geglu = nn.Linear(c, 8 * c)
        self.ff_out = nn.Linear(4 * c, c)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, hgt, wid = x.shape
        h = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, hgt * wid, c)
        h = h + self.attn1(self.norm1(h))
        # CatVTON's SkipAttnProcessor returns its input, LN2's output.
        h = h + self.norm2(h)
        hidden, gate = self.geglu(self.norm3(h)).chunk(2, dim=-1)
        h = h + self.ff_out(hidden * F.gelu(gate))
        h = h.reshape(b, hgt, wid, c).permute(0, 3, 1, 2)
        return self.proj_out(h) + x


class UNet(nn.Module):
    def __init__(self, sdpa=False):
        super().__init__()
        self.conv_in = nn.Conv2d(9, CHANNELS[0], 3, padding=1)
        self.time_1 = nn.Linear(CHANNELS[0], 1280)
        self.time_2 = nn.Linear(1280, 1280)
        self.down = nn.ModuleList()
        cin = CHANNELS[0]
        for i, c in enumerate(CHANNELS):
            attn = i < 3
            block = nn.ModuleDict({
                "resnets": nn.ModuleList([Resnet(cin, c), Resnet(c, c)]),
                "attentions": nn.ModuleList([Transformer(c, sdpa), Transformer(c, sdpa)] if attn else []),
            })
            if i < 3:
                block["downsample"] = nn.Conv2d(c, c, 3, stride=2, padding=1)
            self.down.append(block)
            cin = c
        self.mid_resnets = nn.ModuleList([Resnet(1280, 1280), Resnet(1280, 1280)])
        self.mid_attention = Transformer(1280, sdpa)
        self.up = nn.ModuleList()
        rev = list(reversed(CHANNELS))
        prev = rev[0]
        for i, c in enumerate(rev):
            skip_in = rev[min(i + 1, 3)]
            resnets = []
            for j in range(3):
                skip = skip_in if j == 2 else c
                resnets.append(Resnet((prev if j == 0 else c) + skip, c))
            attn = i > 0
            block = nn.ModuleDict({
                "resnets": nn.ModuleList(resnets),
                "attentions": nn.ModuleList([Transformer(c, sdpa) for _ in range(3)] if attn else []),
            })
            if i < 3:
                block["upsample"] = nn.Conv2d(c, c, 3, padding=1)
            self.up.append(block)
            prev = c
        self.norm_out = group_norm(CHANNELS[0], 1e-5)
        self.conv_out = nn.Conv2d(CHANNELS[0], 4, 3, padding=1)

    def forward(self, x, t):
        half = CHANNELS[0] // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        # flip_sin_to_cos: cos first.
        temb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        temb = self.time_2(F.silu(self.time_1(temb)))

        h = self.conv_in(x)
        skips = [h]
        for block in self.down:
            for j, resnet in enumerate(block["resnets"]):
                h = resnet(h, temb)
                if len(block["attentions"]):
                    h = block["attentions"][j](h)
                skips.append(h)
            if "downsample" in block:
                h = block["downsample"](h)
                skips.append(h)
        h = self.mid_resnets[0](h, temb)
        h = self.mid_attention(h)
        h = self.mid_resnets[1](h, temb)
        for block in self.up:
            for j, resnet in enumerate(block["resnets"]):
                h = resnet(torch.cat([h, skips.pop()], dim=1), temb)
                if len(block["attentions"]):
                    h = block["attentions"][j](h)
            if "upsample" in block:
                h = block["upsample"](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def blas_library():
    """The BLAS library torch's matrix products loaded: Debian's torch links
    the generic libblas.so.3, which is whichever BLAS the alternatives
    system points at (reference BLAS unless OpenBLAS or BLIS is installed),
    and that decides its linear layers' speed."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "libblas" in os.path.basename(path) or "openblas" in path or "blis" in path:
                return os.path.realpath(path)
    return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="192x256", help="image width x height, as drape-cli bench takes it")
    parser.add_argument("--runs", type=int, default=2, help="timed steps after one untimed")
    # Debian's torch 1.13 takes one thread by default on a 2-core machine.
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch's threads (default: every core this process may use)")
    parser.add_argument("--sdpa", action="store_true", help="torch 2's fused attention")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()

    try:
        width, height = (int(v) for v in args.size.split("x"))
    except ValueError:
        sys.exit(f"--size {args.size}: expected WIDTHxHEIGHT, such as 192x256")
    if width % 64 or height % 64 or width <= 0 or height <= 0:
        sys.exit(f"--size {args.size}: width and height must be positive multiples of 64")
    if args.runs < 1:
        sys.exit("--runs must be at least 1")
    if args.threads < 1:
        sys.exit("--threads must be at least 1")
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    unet = UNet(sdpa=args.sdpa).eval()
    # Person on top of garment: twice the latent's height; uncond and cond.
    x = torch.randn(2, 9, 2 * height // 8, width // 8)
    t = torch.tensor([981, 981])
    times = []
    with torch.no_grad():
        unet(x, t)
        for _ in range(args.runs):
            start = time.perf_counter()
            out = unet(x, t)
            times.append((time.perf_counter() - start) * 1000)
    assert out.shape == (2, 4, 2 * height // 8, width // 8)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "size": args.size,
        "blas": blas_library(),
        "parameters": sum(p.numel() for p in unet.parameters()),
        "unet_step_ms": min(times),
        "unet_step_ms_runs": times,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"torch {result['torch']}, {result['threads']} threads, {result['parameters']} parameters, "
              f"BLAS {result['blas']}")
        print(f"unet step {args.size}: {result['unet_step_ms']:.1f} ms (runs: "
              + ", ".join(f"{v:.1f}" for v in times) + ")")


if __name__ == "__main__":
    main()
