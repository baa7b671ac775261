#!/usr/bin/env python3
"""The lossy benchmark's chart: p99 latency against loss, one panel per workload, one line
per system, log scale. Reads the JSON lines of `run.sh --out FILE`, writes SVG to stdout.

    python3 benches/lossy/chart.py results.jsonl > benches/lossy/p99.svg
"""
import json
import math
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
workloads = ["small+bulk", "16KiB"]
titles = {"small+bulk": "64 B unary calls, 16 in flight, with a bulk stream",
          "16KiB": "16 KiB unary calls, 16 in flight"}
systems = [("qrpc", "#1f77b4", "qrpc (QUIC)"), ("qrpc-1ms", "#2ca02c", "qrpc, 1 ms ACK delay"),
           ("h2c", "#ff7f0e", "tonic h2c"), ("tls", "#d62728", "tonic TLS")]
losses = sorted({int(r["label"]) for r in rows})

W, H = 460, 300
L, R, T, B = 60, 15, 40, 45
lo, hi = 100, 1_000_000  # 0.1 ms .. 1 s


def y(us):
    us = min(max(us, lo), hi)
    return T + (H - T - B) * (1 - (math.log10(us) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))


def x(i):
    return L + (W - L - R) * i / max(1, len(losses) - 1)


out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 30}" '
       f'font-family="sans-serif" font-size="11">',
       f'<rect width="{2 * W}" height="{H + 30}" fill="white"/>']
for p, work in enumerate(workloads):
    ox = p * W
    out.append(f'<text x="{ox + W / 2}" y="18" text-anchor="middle" font-size="13">'
               f'p99 latency: {titles[work]}</text>')
    for us, label in [(100, "0.1 ms"), (1000, "1 ms"), (10_000, "10 ms"), (100_000, "100 ms"),
                      (1_000_000, "1 s")]:
        out.append(f'<line x1="{ox + L}" x2="{ox + W - R}" y1="{y(us):.1f}" y2="{y(us):.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{ox + L - 5}" y="{y(us) + 4:.1f}" text-anchor="end">{label}</text>')
    for i, loss in enumerate(losses):
        out.append(f'<text x="{ox + x(i):.1f}" y="{H - B + 16}" text-anchor="middle">'
                   f'{loss / 10:g} %</text>')
    out.append(f'<text x="{ox + (L + W - R) / 2}" y="{H - 8}" text-anchor="middle">'
               f'packets dropped</text>')
    for s, (name, color, _) in enumerate(systems):
        pts = []
        for i, loss in enumerate(losses):
            m = [r for r in rows if r["system"] == name and r["workload"] == work
                 and int(r["label"]) == loss and r.get("priority", 0) == 0]
            if m:
                pts.append((ox + x(i), y(m[0]["p99_us"])))
        if pts:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                       + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
            for a, b in pts:
                out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"/>')
for s, (_, color, label) in enumerate(systems):
    lx = 80 + s * 160
    out.append(f'<rect x="{lx}" y="{H + 10}" width="12" height="12" fill="{color}"/>')
    out.append(f'<text x="{lx + 18}" y="{H + 20}">{label}</text>')
out.append("</svg>")
print("\n".join(out))
