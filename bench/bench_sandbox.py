"""Programs per second on the HumanEval canonical solutions, 2 at a time, for:

  (a) a fresh unsandboxed interpreter per program (how the reference harnesses run them),
  (b) a naive `runsc do` per program (gVisor, cold start each time; a sample of programs),
  (c) the warm pool with bubblewrap isolation,
  (d) the warm pool with gVisor isolation (the default),

and the ratios (d)/(a) (target >= 1) and (d)/(b) (target >= 20), plus per-sandbox host memory.

    python bench/bench_sandbox.py [--workers 2] [--naive-sample 40]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from codeinstruct.workers.benchmarks import humaneval_problems
from codeinstruct.workers.sandbox import Job
from codeinstruct.workers.sandbox.box import real_interpreter
from codeinstruct.workers.sandbox.warm_pool import Pool


def programs() -> list[str]:
    return [
        f"{p['prompt']}{p['canonical_solution']}\n{p['test']}\ncheck({p['entry_point']})\n"
        for p in humaneval_problems()
    ]


def per_process(
    argv: Callable[[Path], list[str]], texts: list[str], workers: int
) -> tuple[float, Counter[str]]:
    """Programs/s running one fresh process per program (a file each, 10 s timeout)."""
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index, text in enumerate(texts):
            path = Path(folder) / f"p{index}.py"
            path.write_text(text)
            files.append(path)

        def run(path: Path) -> str:
            try:
                done = subprocess.run(argv(path), capture_output=True, timeout=10, check=False)
            except subprocess.TimeoutExpired:
                return "timeout"
            return "pass" if done.returncode == 0 else "fail"

        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as executor:
            verdicts = Counter(executor.map(run, files))
        return len(texts) / (time.perf_counter() - started), verdicts


def pooled(
    isolation: str, texts: list[str], workers: int
) -> tuple[float, Counter[str], float, list[int]]:
    """Programs/s through a warm pool (start-up excluded and reported), and RSS per sandbox."""
    started = time.perf_counter()
    with Pool(isolation, workers=workers, timeout=10) as pool:
        pool.run([Job("warm-up", "pass")] * workers)  # every sandbox up
        startup = time.perf_counter() - started
        started = time.perf_counter()
        results = pool.run([Job(str(i), text) for i, text in enumerate(texts)])
        rate = len(texts) / (time.perf_counter() - started)
        rss = [box.rss_bytes() for box in pool.boxes if box is not None]
    return rate, Counter(r.verdict for r in results), startup, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--naive-sample", type=int, default=40, help="programs for (b)")
    args = parser.parse_args()
    texts = programs()
    python = real_interpreter()
    print(f"{len(texts)} HumanEval programs, {args.workers} at a time, interpreter {python}")

    a, a_verdicts = per_process(lambda p: [python, str(p)], texts, args.workers)
    print(f"(a) fresh interpreter per program, unsandboxed: {a:7.1f} programs/s {dict(a_verdicts)}")
    sample = texts[: args.naive_sample]
    b, b_verdicts = per_process(
        lambda p: ["runsc", "--network=none", "do", python, str(p)], sample, args.workers
    )
    print(
        f"(b) naive `runsc do` per program ({len(sample)}):    {b:7.1f} programs/s {dict(b_verdicts)}"
    )
    c, c_verdicts, c_start, c_rss = pooled("bubblewrap", texts, args.workers)
    print(
        f"(c) warm bubblewrap pool:                       {c:7.1f} programs/s {dict(c_verdicts)}"
        f"  start {c_start:.2f} s, RSS/sandbox {max(c_rss) / 2**20:.0f} MiB"
    )
    d, d_verdicts, d_start, d_rss = pooled("gvisor", texts, args.workers)
    print(
        f"(d) warm gVisor pool:                           {d:7.1f} programs/s {dict(d_verdicts)}"
        f"  start {d_start:.2f} s, RSS/sandbox {max(d_rss) / 2**20:.0f} MiB"
    )
    print(f"(d)/(a) = {d / a:.2f}  (target >= 1.0)")
    print(f"(d)/(b) = {d / b:.1f}  (target >= 20)")
    print(f"(c)/(a) = {c / a:.2f}")


if __name__ == "__main__":
    main()
