#!/usr/bin/env python3
"""Markdown table of scripts/side-by-side.sh's JSON lines: per model and thread count, pp512 and
tg128 of both engines (mean ± stddev of the repetitions) and bantam's ratio."""
import json
import sys

by = {}
models = []
for line in open(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdin"):
    record = json.loads(line)
    if record["model"] not in models:
        models.append(record["model"])
    for row in record["rows"]:
        test = "pp" if row["n_prompt"] > 0 else "tg"
        by[(record["model"], row["n_threads"], test, record["engine"])] = (row["avg_ts"], row["stddev_ts"])
print("| model | threads | pp512 bantam | pp512 llama.cpp | ratio | tg128 bantam | tg128 llama.cpp | ratio |")
print("|---|---|---|---|---|---|---|---|")
threads = sorted({key[1] for key in by})
for model in models:
    for t in threads:
        cells = []
        for test in ("pp", "tg"):
            ours, theirs = by.get((model, t, test, "bantam")), by.get((model, t, test, "llama.cpp"))
            if not ours or not theirs:
                cells += ["", "", ""]
                continue
            cells += [f"{ours[0]:.1f} ± {ours[1]:.1f}", f"{theirs[0]:.1f} ± {theirs[1]:.1f}", f"{ours[0] / theirs[0]:.2f}"]
        print(f"| {model} | {t} | " + " | ".join(cells) + " |")
