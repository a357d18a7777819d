#!/usr/bin/env python3
"""The tables of docs/SCALING.md from the JSON reports bench/sweep.sh wrote.

python3 bench/sweep-table.py [bench/reports/sweep]

One row per configuration: read and write throughput and p99 of each round (r1 / r2),
their mean, write-raw (the database's limit with the same pool), server and PostgreSQL
CPU per write, and the load average when each round's run started. Then the capacity
run's CPU per operation of every scenario it measured."""

import json
import pathlib
import re
import statistics
import sys

folder = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench/reports/sweep")
runs = {}
for path in sorted(folder.glob("r*-*.json")):
    m = re.fullmatch(r"r(\d+)-(.+)\.json", path.name)
    if not m:
        continue
    report = json.loads(path.read_text())
    runs.setdefault(m.group(2), {})[int(m.group(1))] = report


def scenario(report, key):
    for s in report["scenarios"]:
        if s["key"] == key:
            return s["summary"]
    return None


def cell(reports, key, field, fmt):
    vals = [s[field] for r in reports if (s := scenario(r, key)) is not None]
    if not vals:
        return "–"
    each = " / ".join(fmt(v) for v in vals)
    return each if len(vals) == 1 else f"{each} (mean {fmt(statistics.mean(vals))})"


ops = lambda v: f"{v:.0f}"
ms = lambda v: f"{v / 1000:.1f}" if v >= 1000 else f"{v / 1000:.2f}"
us = lambda v: f"{v:.0f}"

print("| configuration | read ops/s | read p99 ms | write ops/s | write p99 ms | write-raw ops/s "
      "| server CPU µs/write | PG CPU µs/write | load avg at start (1/5/15 min) |")
print("|---|---|---|---|---|---|---|---|---|")
for name, by_round in runs.items():
    if name == "capacity":
        continue
    reports = [by_round[k] for k in sorted(by_round)]
    load = "; ".join(r["machine"]["load_average_at_start"] for r in reports)
    print(f"| {name} | {cell(reports, 'read', 'throughput', ops)} | {cell(reports, 'read', 'p99_us', ms)} "
          f"| {cell(reports, 'write', 'throughput', ops)} | {cell(reports, 'write', 'p99_us', ms)} "
          f"| {cell(reports, 'write-raw', 'throughput', ops)} "
          f"| {cell(reports, 'write', 'server_cpu_us_per_op', us)} "
          f"| {cell(reports, 'write', 'pg_cpu_us_per_op', us)} | {load} |")

if "capacity" in runs:
    r = runs["capacity"][min(runs["capacity"])]
    print(f"\ncapacity run (load average at start {r['machine']['load_average_at_start']}):\n")
    print("| scenario | ops/s | p99 ms | server CPU µs/op | PG CPU µs/op | PG cores |")
    print("|---|---|---|---|---|---|")
    for s in r["scenarios"]:
        x = s["summary"]
        pg_cores = x["pg_cpu_us_per_op"] * x["throughput"] / 1e6
        print(f"| {s['key']} | {x['throughput']:.0f} | {ms(x['p99_us'])} | {x['server_cpu_us_per_op']:.0f} "
              f"| {x['pg_cpu_us_per_op']:.0f} | {pg_cores:.2f} |")
