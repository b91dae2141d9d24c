"""Nine languages in one warm gVisor pool: pass, fail, CPU timeout and compile error per
language, then hostile programs (network, host files, fork and memory bombs, output floods,
orphans, killing the supervisor), each contained, and every language still passing after them.

All jobs of the module run as one batch on one pool of two sandboxes (the tests read the
results), so the module costs one pool start and the compile times of about eighty programs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.sandbox import ExecResult, Job
from codeinstruct.workers.sandbox.warm_pool import Pool

pytestmark = [pytest.mark.gvisor, pytest.mark.slow]

HOST_FILE = str(Path(__file__).resolve())  # exists on the host, must not inside

# (pass, fail, CPU spin, compile error or None) per language; each pass/fail pair checks add.
PROGRAMS: dict[str, tuple[str, str, str, str | None]] = {
    "python": (
        "def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('ok')\n",
        "def add(a, b):\n    return a + b\nassert add(2, 3) == 6\n",
        "while True:\n    pass\n",
        None,
    ),
    "javascript": (
        "const assert = require('assert');\nfunction add(a, b) { return a + b; }\n"
        "assert.strictEqual(add(2, 3), 5);\nconsole.log('ok');\n",
        "const assert = require('assert');\nfunction add(a, b) { return a + b; }\n"
        "assert.strictEqual(add(2, 3), 6);\n",
        "while (true) {}\n",
        None,
    ),
    "typescript": (
        "function add(a: number, b: number): number { return a + b; }\n"
        "if (add(2, 3) !== 5) { throw new Error('wrong'); }\nconsole.log('ok');\n",
        "function add(a: number, b: number): number { return a + b; }\n"
        "if (add(2, 3) !== 6) { throw new Error('wrong'); }\n",
        "let i: number = 0;\nwhile (true) { i++; }\n",
        "const x: number = 'text';\nconsole.log(x);\n",
    ),
    "c": (
        "#include <assert.h>\n#include <stdio.h>\nint add(int a, int b) { return a + b; }\n"
        'int main(void) { assert(add(2, 3) == 5); puts("ok"); return 0; }\n',
        "#include <assert.h>\nint add(int a, int b) { return a + b; }\n"
        "int main(void) { assert(add(2, 3) == 6); return 0; }\n",
        "int main(void) { volatile unsigned long i = 0; for (;;) i++; }\n",
        "int main(void) { return undefined_name; }\n",
    ),
    "cpp": (
        "#include <cassert>\n#include <iostream>\n#include <vector>\n"
        "int add(int a, int b) { return a + b; }\n"
        'int main() { std::vector<int> v{add(2, 3)}; assert(v[0] == 5); std::cout << "ok\\n"; }\n',
        "#include <cassert>\nint add(int a, int b) { return a + b; }\n"
        "int main() { assert(add(2, 3) == 6); }\n",
        "int main() { volatile unsigned long i = 0; for (;;) i++; }\n",
        "#include <string>\nint main() { std::string s = 5; }\n",
    ),
    "go": (
        'package main\nimport "fmt"\nfunc add(a, b int) int { return a + b }\n'
        'func main() { if add(2, 3) != 5 { panic("wrong") }; fmt.Println("ok") }\n',
        "package main\nfunc add(a, b int) int { return a + b }\n"
        'func main() { if add(2, 3) != 6 { panic("wrong") } }\n',
        "package main\nfunc main() { i := 0; for { i++ } }\n",
        "package main\nfunc main() { x := 1 }\n",
    ),
    "rust": (
        'fn add(a: i32, b: i32) -> i32 { a + b }\nfn main() { assert_eq!(add(2, 3), 5); println!("ok"); }\n',
        "fn add(a: i32, b: i32) -> i32 { a + b }\nfn main() { assert_eq!(add(2, 3), 6); }\n",
        "fn main() { let mut i: u64 = 0; loop { i = i.wrapping_add(1); } }\n",
        'fn main() { let x: i32 = "text"; }\n',
    ),
    # Named Calculator, not Main: the file is named after the public class.
    "java": (
        "import java.util.*;\npublic class Calculator {\n  static int add(int a, int b) { return a + b; }\n"
        "  public static void main(String[] args) {\n"
        '    if (add(2, 3) != 5) throw new AssertionError("wrong");\n'
        '    System.out.println("ok");\n  }\n}\n',
        "class Helper { static int add(int a, int b) { return a + b; } }\n"
        "public class Solution {\n  public static void main(String[] args) {\n"
        '    assert Helper.add(2, 3) == 6 : "wrong";\n  }\n}\n',
        "public class Spin { public static void main(String[] a) { long i = 0; while (true) { i++; } } }\n",
        'public class Broken { public static void main(String[] a) { int x = "text"; } }\n',
    ),
    "bash": (
        'add() { echo $(( $1 + $2 )); }\n[ "$(add 2 3)" = 5 ] || exit 1\necho ok\n',
        'add() { echo $(( $1 + $2 )); }\n[ "$(add 2 3)" = 6 ] || exit 1\n',
        "while :; do :; done\n",
        None,
    ),
}

# Network and host files: each program exits 0 only when both are out of reach (nothing of
# the host but /usr and /etc exists inside; there is no network device but loopback).
ESCAPES: dict[str, str] = {
    "python": (
        "import socket, os\n"
        "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n    print('NET')\n"
        "except OSError:\n    pass\n"
        f"print('FILE' if os.path.exists({HOST_FILE!r}) else 'contained')\n"
    ),
    "javascript": (
        "const fs = require('fs');\nconst net = require('net');\n"
        f"if (fs.existsSync({HOST_FILE!r})) {{ console.log('FILE'); process.exit(1); }}\n"
        "const s = net.connect(80, '1.1.1.1');\n"
        "s.on('connect', () => { console.log('NET'); process.exit(1); });\n"
        "s.on('error', () => { console.log('contained'); });\n"
    ),
    "typescript": (
        "const fs = require('fs');\nconst net = require('net');\n"
        f"if (fs.existsSync({HOST_FILE!r})) {{ console.log('FILE'); process.exit(1); }}\n"
        "const s = net.connect(80, '1.1.1.1');\n"
        "s.on('connect', () => { console.log('NET'); process.exit(1); });\n"
        "s.on('error', () => { console.log('contained'); });\n"
    ),
    "c": (
        "#include <stdio.h>\n#include <unistd.h>\n#include <arpa/inet.h>\n#include <sys/socket.h>\n"
        "int main(void) {\n"
        f'  if (access("{HOST_FILE}", F_OK) == 0) {{ puts("FILE"); return 1; }}\n'
        "  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(80);\n"
        '  inet_pton(AF_INET, "1.1.1.1", &a.sin_addr);\n'
        "  int s = socket(AF_INET, SOCK_STREAM, 0);\n"
        '  if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0) { puts("NET"); return 1; }\n'
        '  puts("contained"); return 0;\n}\n'
    ),
    "cpp": (
        "#include <fstream>\n#include <iostream>\n"
        f'int main() {{ std::ifstream f("{HOST_FILE}");\n'
        '  if (f.good()) { std::cout << "FILE\\n"; return 1; }\n'
        '  std::cout << "contained\\n"; }\n'
    ),
    "go": (
        'package main\nimport ("fmt"; "net"; "os"; "time")\n'
        "func main() {\n"
        f'  if _, err := os.Stat("{HOST_FILE}"); err == nil {{ fmt.Println("FILE"); os.Exit(1) }}\n'
        '  if c, err := net.DialTimeout("tcp", "1.1.1.1:80", 2*time.Second); err == nil {\n'
        '    c.Close(); fmt.Println("NET"); os.Exit(1) }\n'
        '  fmt.Println("contained")\n}\n'
    ),
    "rust": (
        "use std::net::TcpStream;\nuse std::time::Duration;\n"
        "fn main() {\n"
        f'  if std::path::Path::new("{HOST_FILE}").exists() {{ println!("FILE"); std::process::exit(1); }}\n'
        '  let addr = "1.1.1.1:80".parse().unwrap();\n'
        "  if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok() {\n"
        '    println!("NET"); std::process::exit(1); }\n'
        '  println!("contained");\n}\n'
    ),
    "java": (
        "import java.net.*;\nimport java.io.*;\npublic class Escape {\n"
        "  public static void main(String[] a) {\n"
        f'    if (new File("{HOST_FILE}").exists()) {{ System.out.println("FILE"); System.exit(1); }}\n'
        '    try (Socket s = new Socket()) { s.connect(new InetSocketAddress("1.1.1.1", 80), 2000);\n'
        '      System.out.println("NET"); System.exit(1);\n'
        '    } catch (IOException e) { System.out.println("contained"); }\n  }\n}\n'
    ),
    "bash": (
        f'[ -e "{HOST_FILE}" ] && {{ echo FILE; exit 1; }}\n'
        "(exec 3<>/dev/tcp/1.1.1.1/80) 2>/dev/null && { echo NET; exit 1; }\n"
        "echo contained\n"
    ),
}

# Output floods: each writes 64 KiB at a time forever; the supervisor stops it at its limit.
FLOODS: dict[str, str] = {
    "python": "import sys\nblock = 'z' * 65536\nwhile True:\n    sys.stdout.write(block)\n",
    "javascript": "const fs = require('fs');\nconst block = 'z'.repeat(65536);\n"
    "for (;;) fs.writeSync(1, block);\n",
    "c": "#include <string.h>\n#include <unistd.h>\n"
    "int main(void) { static char b[65536]; memset(b, 'z', sizeof b); for (;;) write(1, b, sizeof b); }\n",
    "go": 'package main\nimport ("os"; "strings")\n'
    'func main() { b := strings.Repeat("z", 65536); for { os.Stdout.WriteString(b) } }\n',
    "rust": "use std::io::Write;\nfn main() { let b = vec![b'z'; 65536]; let mut out = std::io::stdout();\n"
    "  loop { if out.write_all(&b).is_err() { break; } } }\n",
    "java": "public class Flood { public static void main(String[] a) {\n"
    "  byte[] b = new byte[65536]; java.util.Arrays.fill(b, (byte) 'z');\n"
    "  while (true) System.out.write(b, 0, b.length); } }\n",
    "bash": "yes zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n",
}

# Memory bombs under a 512 MiB limit (each language's passing program runs under it too).
BOMB_MIB = 512
MEMORY_BOMBS: dict[str, str] = {
    "javascript": "const a = [];\nfor (;;) a.push(Buffer.alloc(1 << 24, 1));\n",
    "c": "#include <stdlib.h>\n#include <string.h>\n"
    "int main(void) { for (;;) { char *p = malloc(1 << 24); if (!p) return 3; memset(p, 1, 1 << 24); } }\n",
    "cpp": "#include <vector>\n#include <cstring>\nint main() { std::vector<char*> v;\n"
    "  for (;;) { char *p = new char[1 << 24]; std::memset(p, 1, 1 << 24); v.push_back(p); } }\n",
    "go": "package main\nfunc main() { var keep [][]byte\n"
    "  for { b := make([]byte, 1<<24); for i := range b { b[i] = 1 }; keep = append(keep, b) } }\n",
    "rust": "fn main() { let mut keep = Vec::new(); loop { keep.push(vec![1u8; 1 << 24]); } }\n",
    "java": "import java.util.*;\npublic class Bomb { public static void main(String[] a) {\n"
    "  List<byte[]> keep = new ArrayList<>(); while (true) keep.add(new byte[1 << 24]); } }\n",
    "bash": 'x=zzzzzzzzzzzzzzzz; while :; do x="$x$x"; done\n',
}

# Fork bombs, orphans that try to outlive the job, and attempts to kill the supervisor.
FORK_BOMBS: dict[str, str] = {
    "c": "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n",
    "bash": "bomb() { bomb | bomb & }\nbomb\nwait\n",
    "javascript": "const cp = require('child_process');\n"
    "for (;;) { try { cp.spawn('sleep', ['1000']); } catch (e) {} }\n",
}
ORPHANS: dict[str, str] = {
    "bash": "setsid sleep 1000 &\n(sleep 1000 &)\necho done\n",
    "c": "#include <unistd.h>\n#include <stdio.h>\n"
    "int main(void) { if (fork() == 0) { setsid(); if (fork() == 0) sleep(1000); _exit(0); }\n"
    '  puts("done"); return 0; }\n',
    "javascript": "const cp = require('child_process');\n"
    "cp.spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' }).unref();\n"
    "console.log('done');\n",
}
KILLERS: dict[str, str] = {
    "bash": "kill -9 1; kill -9 -1; echo survived\n",
    "c": "#include <signal.h>\n#include <stdio.h>\n"
    'int main(void) { kill(1, SIGKILL); kill(-1, SIGKILL); puts("survived"); return 0; }\n',
    "rust": 'fn main() { let _ = std::process::Command::new("kill").args(["-9", "-1"]).status();'
    ' println!("survived"); }\n',
}
# What a later job sees of the orphans: nobody's processes other than its own.
SURVIVORS = (
    'for p in /proc/[0-9]*; do n=${p#/proc/}; [ "$n" = $$ ] && continue; '
    'grep -q "^Uid:.*65534" $p/status 2>/dev/null && [ "$(cat $p/comm)" = sleep ] && echo $n; done; true\n'
)


def jobs() -> list[Job]:
    batch = []
    for language, (good, bad, spin, broken) in PROGRAMS.items():
        batch.append(Job(f"{language}:pass", good, timeout=20, language=language))
        batch.append(Job(f"{language}:fail", bad, timeout=20, language=language))
        batch.append(Job(f"{language}:spin", spin, timeout=1, language=language))
        if broken is not None:
            batch.append(Job(f"{language}:compile", broken, timeout=20, language=language))
        batch.append(Job(f"{language}:escape", ESCAPES[language], timeout=20, language=language))
        batch.append(Job(f"{language}:small", good, 20, BOMB_MIB, language=language))
    for kind, table, memory in (
        ("flood", FLOODS, None),
        ("memory", MEMORY_BOMBS, BOMB_MIB),
        ("forkbomb", FORK_BOMBS, None),
        ("orphans", ORPHANS, None),
        ("killer", KILLERS, None),
    ):
        for language, program in table.items():
            timeout = 3 if kind == "forkbomb" else 10
            batch.append(Job(f"{language}:{kind}", program, timeout, memory, language=language))
    return batch


@pytest.fixture(scope="module")
def ran() -> Iterator[dict[str, Any]]:
    with Pool("gvisor", workers=2, timeout=10) as pool:
        batch = jobs()
        results = pool.run(batch)
        assert [r.id for r in results] == [j.id for j in batch]
        # After every hostile job: no sandbox was lost, every language still passes, and no
        # orphan of an earlier job is left.
        replaced = pool.replaced
        again = pool.run(
            [Job(f"{lang}:again", PROGRAMS[lang][0], 20, language=lang) for lang in PROGRAMS]
            + [Job("survivors", SURVIVORS, 20, language="bash")]
        )
        yield {
            "results": {r.id: r for r in results},
            "again": again,
            "replaced": replaced,
        }


def result(ran: dict[str, Any], job_id: str) -> ExecResult:
    found: ExecResult = ran["results"][job_id]
    return found


@pytest.mark.parametrize("language", list(PROGRAMS))
def test_pass_fail_and_cpu_timeout(ran: dict[str, Any], language: str) -> None:
    good = result(ran, f"{language}:pass")
    assert (good.verdict, good.reason, good.stdout.strip()) == ("pass", None, "ok"), good
    assert good.language == language
    bad = result(ran, f"{language}:fail")
    assert bad.verdict == "fail", bad
    spin = result(ran, f"{language}:spin")
    assert (spin.verdict, spin.reason) == ("timeout", "cpu_limit"), spin
    assert spin.cpu_seconds is not None and spin.cpu_seconds >= 1.0


@pytest.mark.parametrize("language", [lang for lang, p in PROGRAMS.items() if p[3] is not None])
def test_compile_error_is_an_error_with_the_compilers_message(
    ran: dict[str, Any], language: str
) -> None:
    broken = result(ran, f"{language}:compile")
    assert (broken.verdict, broken.reason) == ("error", "compile_error"), broken
    # The compiler's message names the file (Java's: the public class's name).
    source = {"typescript": "main.ts", "cpp": "main.cpp", "java": "Broken.java"}.get(
        language, "main." + {"rust": "rs"}.get(language, language)
    )
    assert source in broken.stderr and broken.stdout == "", broken


def test_a_java_program_with_a_helper_class_first_runs_its_main_class(
    ran: dict[str, Any],
) -> None:
    # `class Helper` comes first, `public class Solution` holds main: java -ea runs Solution
    # and its failed `assert` is seen (a failure, not a missing-main error).
    bad = result(ran, "java:fail")
    assert "AssertionError" in bad.stderr and "wrong" in bad.stderr, bad


@pytest.mark.parametrize("language", list(ESCAPES))
def test_no_network_and_no_host_files(ran: dict[str, Any], language: str) -> None:
    escape = result(ran, f"{language}:escape")
    assert (escape.verdict, escape.stdout.strip()) == ("pass", "contained"), escape


@pytest.mark.parametrize("language", list(FLOODS))
def test_output_flood_is_stopped_at_the_output_limit(ran: dict[str, Any], language: str) -> None:
    flood = result(ran, f"{language}:flood")
    assert (flood.verdict, flood.reason) == ("error", "output_limit"), flood
    assert flood.stdout_truncated


@pytest.mark.parametrize("language", list(PROGRAMS))
def test_the_passing_program_passes_under_the_memory_bombs_limit(
    ran: dict[str, Any], language: str
) -> None:
    # The limit is on memory used: what a runtime only reserves (Go's arenas, V8's code range,
    # the JVM's spaces, malloc's per-thread arenas) must not keep a program from starting.
    small = result(ran, f"{language}:small")
    assert (small.verdict, small.reason, small.stdout.strip()) == ("pass", None, "ok"), small


@pytest.mark.parametrize("language", list(MEMORY_BOMBS))
def test_memory_bomb_is_contained(ran: dict[str, Any], language: str) -> None:
    bomb = result(ran, f"{language}:memory")
    # Killed at the limit (memory_limit), or the allocation failed and the program died of it;
    # it ran (the passing program above shows that a program of its language starts here).
    assert bomb.verdict in {"error", "fail"}, bomb
    assert bomb.reason not in {"cpu_limit", "compile_error", "not_started"}, bomb


@pytest.mark.parametrize("language", list(FORK_BOMBS))
def test_fork_bomb_is_contained(ran: dict[str, Any], language: str) -> None:
    bomb = result(ran, f"{language}:forkbomb")
    # Held at the process limit, then stopped by its CPU time or at its end; bash's bomb may
    # even end on its own (its forks fail). Containment is the sandbox surviving it, below.
    assert bomb.verdict != "infra_error" and bomb.reason != "wall_limit", bomb


@pytest.mark.parametrize("language", list(ORPHANS))
def test_orphans_do_not_hold_the_job(ran: dict[str, Any], language: str) -> None:
    orphans = result(ran, f"{language}:orphans")
    assert (orphans.verdict, orphans.stdout.strip()) == ("pass", "done"), orphans
    assert orphans.duration < 10, "the job ended with its main process"


@pytest.mark.parametrize("language", list(KILLERS))
def test_killing_the_supervisor_only_kills_the_job(ran: dict[str, Any], language: str) -> None:
    killer = result(ran, f"{language}:killer")
    assert killer.verdict != "infra_error", killer


def test_after_the_hostile_jobs_every_language_passes_in_the_same_sandboxes(
    ran: dict[str, Any],
) -> None:
    assert ran["replaced"] == 0, "a hostile job took its sandbox down"
    *again, survivors = ran["again"]
    assert [(r.id, r.verdict) for r in again] == [(f"{lang}:again", "pass") for lang in PROGRAMS], [
        r for r in again if r.verdict != "pass"
    ]
    assert (survivors.verdict, survivors.stdout.strip()) == ("pass", ""), survivors
