"""The sandbox image and scripts/install.sh install a Debian package for every command the
language table runs, both from the one list `sandbox/toolchains.txt` (read here, not built)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from codeinstruct.workers.sandbox.languages import LANGUAGES

ROOT = Path(__file__).parents[4]
DOCKERFILE = ROOT / "images" / "sandbox" / "Dockerfile"
INSTALL_SH = ROOT / "scripts" / "install.sh"
TOOLCHAINS = ROOT / "workers" / "codeinstruct" / "workers" / "sandbox" / "toolchains.txt"
# The shell expression both read the list's packages with (the first word of each line).
PACKAGES_OF = "sed 's/#.*//' {file} | awk 'NF {{print $1}}'"


def table_commands() -> set[str]:
    """The programs the language table starts: the first word of each compile step and of each
    run command, but not the compiled program itself (`./main`)."""
    commands: set[str] = set()
    for entry in LANGUAGES.values():
        steps = " ".join(entry.compile).split(" && ") if entry.compile else []
        for line in [*steps, " ".join(entry.run)]:
            first = line.split()[0] if line.split() else ""
            if first and not first.startswith("./"):
                commands.add(first)
    return commands


def toolchain_lines() -> list[list[str]]:
    """The list's lines as words (package, then its commands), comments and blanks dropped."""
    lines = (line.split("#", 1)[0].split() for line in TOOLCHAINS.read_text().splitlines())
    return [words for words in lines if words]


def toolchains() -> dict[str, str]:
    """command -> Debian package, from the list."""
    return {command: package for package, *commands in toolchain_lines() for command in commands}


def list_packages() -> list[str]:
    return [package for package, *_ in toolchain_lines()]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def shell_words(text: str) -> list[str]:
    """Top-level words of a shell command up to its first `&&`, `;` or `|` (a `$(...)` and a
    quoted string are one word each)."""
    words: list[str] = []
    word, depth, quote, i = "", 0, "", 0
    while i < len(text):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif text.startswith("$(", i):
            depth += 1
            word += "$("
            i += 2
            continue
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0 and (char in ";|" or text.startswith("&&", i)):
            break
        elif depth == 0 and char.isspace():
            if word:
                words.append(word)
            word, i = "", i + 1
            continue
        word += char
        i += 1
    return [*words, word] if word else words


def dockerfile_packages(text: str) -> set[str]:
    """The Debian packages the Dockerfile's `apt-get install` commands name, a `$(...)` that
    reads a copy of the toolchain list standing for the list's packages."""
    copies: dict[str, list[Path]] = {}
    for keyword, rest in instructions(text):
        if keyword == "COPY":
            *sources, destination = rest.split()
            copies[destination] = [ROOT / source for source in sources]
    packages: set[str] = set()
    for keyword, rest in instructions(text):
        if keyword != "RUN":
            continue
        for match in re.finditer(r"apt-get install\s", rest):
            for word in shell_words(rest[match.end() :]):
                if word.startswith("-"):
                    continue
                if word.startswith("$("):
                    read = [d for d in copies if word == f"$({PACKAGES_OF.format(file=d)})"]
                    assert read and copies[read[0]] == [TOOLCHAINS], (
                        f"{word}: not the packages of a copy of {TOOLCHAINS.name}"
                    )
                    packages.update(list_packages())
                else:
                    packages.add(word)
    return packages


def test_the_toolchain_list_names_a_package_for_every_command_the_table_runs() -> None:
    commands = table_commands()
    assert {"node", "tsc", "gcc", "g++", "go", "rustc", "javac", "java", "bash"} <= commands
    missing = commands - toolchains().keys()
    assert not missing, f"{TOOLCHAINS.name} names no Debian package for {sorted(missing)}"
    unused = toolchains().keys() - commands
    assert not unused, f"{TOOLCHAINS.name} lists commands no language runs: {sorted(unused)}"


def test_the_image_installs_the_package_of_every_command_the_table_runs() -> None:
    installed = dockerfile_packages(DOCKERFILE.read_text())
    missing = {
        command: package
        for command, package in toolchains().items()
        if command in table_commands() and package not in installed
    }
    assert not missing, (
        f"{DOCKERFILE.relative_to(ROOT)} does not install (command: package) {missing}"
    )
    assert set(list_packages()) <= installed  # libc6-dev too, which gcc only recommends
    # The interpreter the app and the programs' environments are made with is Debian's.
    assert "python3" in installed
    assert "--no-install-recommends" in DOCKERFILE.read_text()


def test_install_sh_installs_the_same_list() -> None:
    relative = TOOLCHAINS.relative_to(ROOT)
    assert f"$({PACKAGES_OF.format(file=relative)})" in INSTALL_SH.read_text()


def test_a_package_the_dockerfile_does_not_install_is_missing() -> None:
    """The parser itself: literal packages count, other commands' words and flags do not."""
    text = (
        "FROM debian:bookworm-slim\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends \\\n"
        "      python3 nodejs && echo gcc | tee /dev/null\n"
    )
    assert dockerfile_packages(text) == {"python3", "nodejs"}


def test_packages_read_from_another_file_are_refused() -> None:
    text = (
        "COPY workers/other.txt /tmp/toolchains.txt\n"
        f"RUN apt-get install -y $({PACKAGES_OF.format(file='/tmp/toolchains.txt')})\n"
    )
    with pytest.raises(AssertionError, match=r"not the packages of a copy of toolchains\.txt"):
        dockerfile_packages(text)


def test_the_image_serves_one_job_at_a_time_as_the_operator_runs_it() -> None:
    """Under gVisor a non-root server's jobs get no scratch directory of their own, so `serve
    --isolation none` refuses several workers (service.check_sharing): a default of 2 would
    make the image's own command exit."""
    cmd = [rest for keyword, rest in instructions(DOCKERFILE.read_text()) if keyword == "CMD"]
    args = json.loads(cmd[-1])
    assert args[:3] == ["codeinstruct", "sandbox", "serve"]
    assert args[args.index("--isolation") + 1] == "none"
    assert args[args.index("--workers") + 1] == "1"
