#!/usr/bin/env python3
"""Prints the medians of the last `cargo bench` run, per group, with each
row's ratio to its group's baseline, as the Markdown tables of BENCHMARKS.md.

    cargo bench && python3 benches/summary.py
"""

import json
import pathlib
import sys

BASELINES = {
    "totp_verify/correct": "totp-rs check",
    "totp_verify/wrong": "totp-rs check",
    "backup_attempt/failed": "naive, 10 PHC hashes verified in turn (10 Argon2)",
    "backup_attempt/success": "naive, code 5th of 10 (5 Argon2)",
    "backup_generate/10_codes": "baseline, 10 sequential Argon2id",
    "backup_generate/parallel": "baseline, 10 sequential Argon2id",
    "envelope/seal_20B": "prebuilt keyring",
    "envelope/open_20B": "prebuilt keyring, open_secret (stack)",
    "legacy_attempt/failed": "imported plain, locator names an unused code (1 Argon2)",
}


def human(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    groups = {}
    for bench in sorted(root.glob("**/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        groups.setdefault(meta["group_id"], {})[meta["function_id"]] = estimates[
            "median"
        ]["point_estimate"]
    for group, rows in sorted(groups.items()):
        base = rows.get(BASELINES.get(group, ""))
        print(f"\n#### `{group}`\n")
        print("| bench | median | ÷ baseline | baseline ÷ |")
        print("|---|---:|---:|---:|")
        for name, median in sorted(rows.items(), key=lambda kv: kv[1]):
            mark = " (baseline)" if name == BASELINES.get(group) else ""
            ratio = f"{median / base:.2f}×" if base else "–"
            speedup = f"{base / median:,.1f}×" if base else "–"
            print(f"| {name}{mark} | {human(median)} | {ratio} | {speedup} |")


if __name__ == "__main__":
    main()
