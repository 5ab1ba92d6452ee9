#!/usr/bin/env python3
"""The layering of src/ as the build has it (cmake/layers.cmake), checked against the design.

For each folder of src/ that the build compiles, one of its sources' compile command (from
compile_commands.json) preprocesses `#include "<folder>/<header>"` for one header of every other
folder. A folder's header must resolve exactly when the design below lets that folder use it:
a header the design forbids that resolves means an include path leaks (src/ on a path, or a
PUBLIC link that should be PRIVATE); a permitted one that does not resolve means the build lost
a link. The public header (include/amanuensis) is open to every folder and not checked here.

    check_layers.py BUILD_DIR
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What each folder's sources can include, besides their own folder and the public header: the
# libraries it links and the headers those expose to their users. The engine's layers, in the
# order the data flows, then the programs over the engine's public header.
VISIBLE = {
    "util": set(),
    "audio": set(),
    "vad": set(),
    "kernels": {"util"},
    "features": {"kernels"},
    "model": {"features", "kernels", "util"},
    "decoding": {"model", "features", "kernels", "util", "vad"},
    "backends": {"kernels", "util"},
    "formats": {"util"},
    "engine": {"decoding", "model", "features", "kernels", "util", "vad", "backends", "audio"},
    "jobs": set(),
    "realtime": set(),
    "service": {"jobs", "realtime", "formats"},
    "cli": {"service", "jobs", "realtime", "formats", "audio", "vad"},
    "c_api": set(),
}


def representative_commands(build: Path) -> dict[str, list[str]]:
    """One compile command (as arguments) per folder of src/, from one of its own sources."""
    commands: dict[str, list[str]] = {}
    for entry in json.loads((build / "compile_commands.json").read_text()):
        path = Path(entry["file"]).resolve()
        try:
            relative = path.relative_to(ROOT / "src")
        except ValueError:
            continue
        if path.suffix != ".cc" or len(relative.parts) < 2:
            continue
        folder = relative.parts[0]
        arguments = entry.get("arguments") or shlex.split(entry["command"])
        commands.setdefault(folder, arguments)
    return commands


def preprocess_arguments(arguments: list[str]) -> list[str]:
    """The compile command turned into: preprocess standard input, write nothing."""
    kept, skip = [], False
    for argument in arguments[1:]:
        if skip:
            skip = False
            continue
        if argument in ("-o", "-MF", "-MT", "-MQ", "-c"):
            skip = argument != "-c"
            continue
        if argument.startswith(("-o", "-MF", "-MT", "-MQ")) and len(argument) > 3:
            continue
        if argument in ("-MD", "-MMD") or argument.endswith(".cc"):
            continue
        kept.append(argument)
    return [arguments[0], *kept, "-E", "-x", "c++", "-o", "/dev/null", "-"]


def a_header(folder: str) -> str:
    headers = sorted(p.name for p in (ROOT / "src" / folder).glob("*.h"))
    return f"{folder}/{headers[0]}"


def resolves(arguments: list[str], header: str) -> bool:
    result = subprocess.run(preprocess_arguments(arguments), input=f'#include "{header}"\n',
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    return result.returncode == 0


def main() -> int:
    build = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "build" / "release"
    commands = representative_commands(build)
    missing = sorted(set(VISIBLE) - set(commands))
    unknown = sorted(set(commands) - set(VISIBLE))
    problems = [f"no compiled source of src/{f}/ in {build}/compile_commands.json" for f in missing]
    problems += [f"src/{f}/ is not in the design (tests/layering/check_layers.py)" for f in unknown]
    headers = {folder: a_header(folder) for folder in VISIBLE}
    checks = [(user, used) for user in VISIBLE if user in commands for used in VISIBLE]
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda c: resolves(commands[c[0]], headers[c[1]]), checks))
    allowed_count = 0
    for (user, used), resolved in zip(checks, found):
        allowed = used == user or used in VISIBLE[user]
        allowed_count += allowed
        if resolved and not allowed:
            problems.append(f"src/{user}/ can include {headers[used]}, which the design forbids")
        if allowed and not resolved:
            problems.append(f"src/{user}/ cannot include {headers[used]}, which the design allows")
    for problem in problems:
        print(f"layering: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"layering: {len(checks)} pairs of folders as designed "
          f"({allowed_count} visible, {len(checks) - allowed_count} hidden)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
