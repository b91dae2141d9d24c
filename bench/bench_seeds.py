"""Seed mining of the whole standard library: functions/s, files/s, peak RSS (target < 60 s).

python bench/bench_seeds.py
"""

from __future__ import annotations

import resource
import tempfile
import time

from codeinstruct.workers.runner import Runner
from codeinstruct.workers.spec import parse_spec


def main() -> None:
    with tempfile.TemporaryDirectory() as output:
        dataset = parse_spec({
            "apiVersion": "codeinstruct.dev/v1alpha1", "kind": "InstructionDataset",
            "metadata": {"name": "bench"},
            "spec": {"method": "selfcodealign", "targetSize": 1, "output": {"uri": output}},
        })  # fmt: skip
        start = time.perf_counter()
        report = Runner(dataset, progress=False).run(until="seed_dedup")
        seconds = time.perf_counter() - start
    seeds = report.stages["seeds"]
    files = seeds.counters["files"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"standard library: {files} files, {seeds.records_in} functions/files considered, "
        f"{report.records} seeds kept"
    )
    print(
        f"wall {seconds:.1f} s (target < 60 s): {files / seconds:.0f} files/s, "
        f"{seeds.records_in / seconds:.0f} functions/s; peak RSS {rss:.0f} MiB"
    )
    for name, stats in report.stages.items():
        print(
            f"  {name:<15} {stats.seconds:6.1f} s  in {stats.records_in:6}  out {stats.records_out:6}"
        )


if __name__ == "__main__":
    main()
