"""Per language: warm gVisor programs/s vs the same programs compiled and run on the host,
each at 2 workers, and the disk the toolchains take.

    python bench/bench_languages.py                   # 12 programs per language
    python bench/bench_languages.py --jobs 30 --languages go rust

Both sides use the same table (`sandbox/languages.py`): the same files, compile and run
commands, in a fresh directory per program. The host side has no sandbox, no limits and no
supervisor: it is the floor of what running a program costs here. Targets (issue 13):
interpreted >= 1.0x, compiled >= 0.5x. The pool is warmed first (one program per language),
as a pool in a run is. Both sides start their programs the same way, from 2 threads of this
process (`subprocess.run` on the host, the pool's two sandboxes), and run in the order host,
sandbox, sandbox, host: on a machine whose load drifts, neither side gets the quieter half.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from codeinstruct.workers.sandbox import Job
from codeinstruct.workers.sandbox.languages import LANGUAGES, MALLOC_ARENAS, plan
from codeinstruct.workers.sandbox.supervisor import DEFAULT_MEMORY_MIB
from codeinstruct.workers.sandbox.warm_pool import Pool

# The same small task everywhere: count the primes below N (N differs per program, so no
# two programs are the same text), print the count.
PROGRAMS = {
    "python": "n = {n}\nprint(sum(all(i % d for d in range(2, int(i**0.5) + 1)) for i in range(2, n)))\n",
    "javascript": "const n = {n}; let c = 0;\nfor (let i = 2; i < n; i++) {{ let p = true;\n"
    "  for (let d = 2; d * d <= i; d++) if (i % d === 0) {{ p = false; break; }}\n"
    "  if (p) c++; }}\nconsole.log(c);\n",
    "typescript": "const n: number = {n}; let c: number = 0;\nfor (let i = 2; i < n; i++) {{ let p = true;\n"
    "  for (let d = 2; d * d <= i; d++) if (i % d === 0) {{ p = false; break; }}\n"
    "  if (p) c++; }}\nconsole.log(c);\n",
    "c": "#include <stdio.h>\nint main(void) {{ int c = 0; for (int i = 2; i < {n}; i++) {{ int p = 1;\n"
    "  for (int d = 2; d * d <= i; d++) if (i % d == 0) {{ p = 0; break; }} c += p; }}\n"
    '  printf("%d\\n", c); return 0; }}\n',
    "cpp": "#include <iostream>\nint main() {{ int c = 0; for (int i = 2; i < {n}; i++) {{ bool p = true;\n"
    "  for (int d = 2; d * d <= i; d++) if (i % d == 0) {{ p = false; break; }} c += p; }}\n"
    '  std::cout << c << "\\n"; }}\n',
    "go": 'package main\nimport "fmt"\nfunc main() {{ c := 0\n  for i := 2; i < {n}; i++ {{ p := true\n'
    "    for d := 2; d*d <= i; d++ {{ if i%d == 0 {{ p = false; break }} }}\n"
    "    if p {{ c++ }} }}\n  fmt.Println(c) }}\n",
    "rust": "fn main() {{ let mut c = 0; for i in 2..{n} {{ let mut p = true; let mut d = 2;\n"
    "  while d * d <= i {{ if i % d == 0 {{ p = false; break; }} d += 1; }} if p {{ c += 1; }} }}\n"
    '  println!("{{}}", c); }}\n',
    "java": "public class Primes {{ public static void main(String[] a) {{ int c = 0;\n"
    "  for (int i = 2; i < {n}; i++) {{ boolean p = true;\n"
    "    for (int d = 2; d * d <= i; d++) if (i % d == 0) {{ p = false; break; }} if (p) c++; }}\n"
    "  System.out.println(c); }} }}\n",
    "bash": "c=0; for ((i = 2; i < {small}; i++)); do p=1\n"
    "  for ((d = 2; d * d <= i; d++)); do (( i % d == 0 )) && {{ p=0; break; }}; done\n"
    "  (( c += p )); done; echo $c\n",
}
# Debian packages the toolchains bring (beyond python, which the project needs anyway).
TOOLCHAIN_PACKAGES = {
    "javascript": ["nodejs"],
    "typescript": ["node-typescript"],
    "c": ["gcc-12", "cpp-12"],
    "cpp": ["g++-12"],
    "go": ["golang-1.19-go", "golang-1.19-src", "golang-go", "golang-src"],
    "rust": ["rustc", "libstd-rust-1.63", "libstd-rust-dev"],
    "java": ["openjdk-17-jdk-headless", "openjdk-17-jre-headless"],
}


# The sandbox's PATH: the same (Debian) toolchains, not a user's own (~/.cargo, pyenv).
ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "MALLOC_ARENA_MAX": str(MALLOC_ARENAS),
}


def program(language: str, index: int) -> str:
    return PROGRAMS[language].format(n=20_000 + index, small=500 + index)


def run_on_host(language: str, text: str) -> str:
    """Compile and run one program unsandboxed, in a fresh directory; its stdout."""
    steps = plan(language, text, DEFAULT_MEMORY_MIB)  # the JVM heap of the pool's jobs
    workdir = Path(tempfile.mkdtemp(prefix="bench-lang-"))
    try:
        files = {steps["source"]: text, **steps["files"]}
        for name, content in files.items():
            (workdir / name).write_text(content)
        commands = [*steps["compile"], steps["run"]]
        if language == "python":
            commands = [["python3", "main.py"]]
        out = ""
        for command in commands:
            done = subprocess.run(
                command,
                cwd=workdir,
                env={**ENV, "HOME": str(workdir), "TMPDIR": str(workdir)},
                capture_output=True,
                text=True,
                check=True,
            )
            out = done.stdout
        return out
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def host_rate(language: str, jobs: int, workers: int) -> tuple[float, list[str]]:
    texts = [program(language, i) for i in range(jobs)]
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        outputs = list(pool.map(lambda t: run_on_host(language, t), texts))
    return jobs / (time.perf_counter() - start), outputs


def sandbox_rate(pool: Pool, language: str, jobs: int) -> tuple[float, list[str]]:
    batch = [
        Job(f"{language}-{i}", program(language, i), 30, language=language) for i in range(jobs)
    ]
    start = time.perf_counter()
    results = pool.run(batch)
    elapsed = time.perf_counter() - start
    bad = [r for r in results if r.verdict != "pass"]
    if bad:
        raise SystemExit(f"{language}: {bad[0].verdict} {bad[0].reason}: {bad[0].stderr[-400:]}")
    return jobs / elapsed, [r.stdout for r in results]


def installed_mib(packages: list[str]) -> float:
    done = subprocess.run(
        ["dpkg-query", "-Wf", "${Installed-Size}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    return sum(int(line) for line in done.stdout.split() if line.isdigit()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=12, help="programs per language and side")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--languages", nargs="*", default=list(LANGUAGES))
    args = parser.parse_args()

    print(f"{'language':<11} {'host/s':>8} {'gvisor/s':>9} {'ratio':>6}  target")
    with Pool("gvisor", workers=args.workers, timeout=30) as pool:
        pool.run(
            [Job(f"warm-{lang}", program(lang, 999), 30, language=lang) for lang in args.languages]
        )
        for language in args.languages:
            first, host_out = host_rate(language, args.jobs, args.workers)
            boxed_first, boxed_out = sandbox_rate(pool, language, args.jobs)
            boxed_second, _ = sandbox_rate(pool, language, args.jobs)
            second, _ = host_rate(language, args.jobs, args.workers)
            if host_out != boxed_out:
                raise SystemExit(f"{language}: the sandbox printed other results than the host")
            # Rates of the two halves together: programs over the time they took.
            host = 2 / (1 / first + 1 / second)
            boxed = 2 / (1 / boxed_first + 1 / boxed_second)
            target = 0.5 if LANGUAGES[language].compile else 1.0
            print(
                f"{language:<11} {host:8.2f} {boxed:9.2f} {boxed / host:5.2f}x  >= {target}x",
                flush=True,
            )
    print("\ndisk the toolchains take (dpkg Installed-Size):")
    total = 0.0
    for language, packages in TOOLCHAIN_PACKAGES.items():
        size = installed_mib(packages)
        total += size
        print(f"  {language:<11} {size:7.0f} MiB  ({', '.join(packages)})")
    print(f"  {'all':<11} {total:7.0f} MiB")


if __name__ == "__main__":
    main()
