#!/usr/bin/env python3
"""Turns the raw files bench/run.sh leaves in target/bench into markdown tables."""

import statistics
import sys
from collections import defaultdict
from pathlib import Path

bench = Path(sys.argv[1])
rows = defaultdict(list)  # (corpus, step) -> [(wall, rss, user, sys, load)]
order = []
for line in (bench / "results.tsv").read_text().splitlines():
    corpus, step, _rep, wall, rss, user, sys_, load = line.split("\t")
    key = (corpus, step)
    if key not in rows:
        order.append(key)
    rows[key].append((float(wall), float(rss), float(user), float(sys_), float(load)))


def med(key, i=0):
    return statistics.median(r[i] for r in rows[key]) if key in rows else None


def low(key):
    return min(r[0] for r in rows[key]) if key in rows else None


def peak(key):
    return max(r[1] for r in rows[key]) if key in rows else None


out = []
p = out.append
p("## Machine\n")
p("```")
p((bench / "machine.txt").read_text().rstrip())
p("```\n")

p("## Steps\n")
p("Wall time: median (min) of the repetitions; CPU = user + system, median. Ratios use medians.\n")
p("| corpus | step | runs | wall s | CPU s | peak RSS MiB | vs floor | vs cold | load |")
p("|---|---|---|---|---|---|---|---|---|")
for key in order:
    corpus, step = key
    suffix = step.split("/", 1)[1] if "/" in step else None
    # A variant is compared with the floor and the cold build of the same variant, when
    # there is one; other variants (e.g. `warm/after-sync`) with the plain ones.
    if step.startswith(("floor", "read")):
        # A floor variant against the default floor measured alongside it.
        floor = med((corpus, "floor/default")) if suffix else None
    else:
        floor = med((corpus, "floor/" + suffix)) if suffix else None
    floor = floor or med((corpus, "floor"))
    cold = med((corpus, "cold/" + suffix)) if suffix else None
    cold = cold or med((corpus, "cold"))
    wall = med(key)
    cpu = statistics.median(r[2] + r[3] for r in rows[key])
    loads = [r[4] for r in rows[key]]
    vs_floor = f"{wall / floor:.2f}x" if floor else ""
    vs_cold = f"{100 * wall / cold:.1f} %" if cold and not step.startswith(("floor", "read")) else ""
    p(
        f"| {corpus} | {step} | {len(rows[key])} | {wall:.3f} ({low(key):.3f}) | {cpu:.2f} "
        f"| {peak(key):.1f} | {vs_floor} | {vs_cold} | {min(loads):.1f}-{max(loads):.1f} |"
    )
p("")

sizes = bench / "sizes.tsv"
if sizes.exists():
    p("## Output sizes\n")
    p("| corpus | index.json | apps/com.bench.app00001/index.json | files in site | bytes (all files) | bytes (without .mpk) | cache entries | cache bytes |")
    p("|---|---|---|---|---|---|---|---|")
    for line in sizes.read_text().splitlines():
        c, idx, app, files, total, nompk, centries, cbytes = line.split("\t")
        p(f"| {c} | {int(idx):,} | {int(app):,} | {int(files):,} | {int(total):,} | {int(nompk):,} | {int(centries):,} | {int(cbytes):,} |")
    p("")

for corpus in ("c10k", "c1k-a16"):
    # Backend variants are the ones with a floor of their own (not e.g. `cold/fresh-clone`).
    variants = [
        s.split("/", 1)[1]
        for c, s in order
        if c == corpus and s.startswith("cold/") and (c, "floor/" + s.split("/", 1)[1]) in rows
    ]
    if not variants:
        continue
    p(f"## Backends ({corpus}, medians)\n")
    p("| build | floor s | read+gunzip s | SHA-256 share of the floor s | cold build s | cold CPU s | floor vs default | read+gunzip vs default | cold vs default |")
    p("|---|---|---|---|---|---|---|---|---|")
    base = {x: med((corpus, f"{x}/default")) for x in ("floor", "read+gunzip", "cold")}
    for v in variants:
        m = {x: med((corpus, f"{x}/{v}")) for x in ("floor", "read+gunzip", "cold")}
        cpu = statistics.median(r[2] + r[3] for r in rows[(corpus, f"cold/{v}")])
        rel = [f"{m[x] / base[x]:.2f}x" if base[x] else "" for x in ("floor", "read+gunzip", "cold")]
        p(f"| {v} | {m['floor']:.3f} | {m['read+gunzip']:.3f} | {m['floor'] - m['read+gunzip']:.3f} | {m['cold']:.3f} | {cpu:.2f} | {rel[0]} | {rel[1]} | {rel[2]} |")
    p("")

sha = bench / "sha.txt"
if sha.exists():
    p("## SHA-256, one core\n")
    p("```")
    p(sha.read_text().rstrip())
    p("```\n")

verified = bench / "verified.txt"
if verified.exists():
    p("## `build -v` lines (checked by the script)\n")
    p("```")
    lines = verified.read_text().splitlines()
    p("\n".join(sorted(set(lines), key=lines.index)))
    p("```\n")

p("## Targets\n")


def verdict(ok):
    return "**met**" if ok else "**missed**"


floor, cold, warm, add = (med(("c10k", s)) for s in ("floor", "cold", "warm", "warm+add-one"))
if floor and cold:
    r = cold / floor
    p(f"- cold build <= 1.5x floor (10k): {cold:.2f} s / {floor:.2f} s = {r:.2f}x -> {verdict(r <= 1.5)}")
if cold and warm:
    r = warm / cold
    p(f"- warm build <= 10 % of cold (10k): {warm:.2f} s / {cold:.2f} s = {100 * r:.1f} % -> {verdict(r <= 0.10)}")
if add:
    p(f"- one bundle added: verified exactly 1 (asserted by the script); wall {add:.2f} s")
for corpus in ("c10k", "c10k-disk"):
    builds = [s for c, s in order if c == corpus and s.startswith(("cold", "warm"))]
    if builds:
        rss = max(peak((corpus, s)) for s in builds)
        p(f"- peak RSS <= 256 MiB (10k build, {corpus}): {rss:.1f} MiB -> {verdict(rss <= 256)}")
big, small = peak(("one-400m", "cold")), peak(("one-small", "cold"))
if big and small:
    p(f"- 400 MiB wasm adds <= 64 MiB: {big:.1f} - {small:.1f} = {big - small:.1f} MiB -> {verdict(big - small <= 64)}")
c100k = med(("c100k", "cold"))
if c100k:
    p(f"- 100k bundles cold < 300 s: {c100k:.1f} s -> {verdict(c100k < 300)}")

print("\n".join(out))
