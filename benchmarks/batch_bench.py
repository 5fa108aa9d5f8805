"""How long does `jobs batch submit` take to record and send a 1,000-line batch to the emulator?

Starts `jobs emulator` in a subprocess (no rate limit, no faults), writes a JSON Lines file of
`--lines` prompts, then runs `jobs batch submit FILE --json` as a user would (its own process,
its own SQLite store) and times it from start to exit: validating, recording every line as a pending
job in one transaction, and creating every interaction through the google-genai SDK at
`--concurrency`. The emulator's counters prove each line was created exactly once; a second run of
the same file must send nothing. A one-line batch run first (its own store) gives the fixed cost of
a command (imports, store, SDK client), so the CPU a line beyond start-up can be read apart.

    .venv/bin/python benchmarks/batch_bench.py [--lines 1000] [--concurrency 8]

Target (from the issue): a 1,000-line batch recorded and submitted in under 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_bench import start_server  # noqa: E402

TARGET_SECONDS = 10.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def jobs_command() -> list[str]:
    jobs = Path(sys.executable).with_name("jobs")
    if jobs.exists():
        return [str(jobs)]
    return [sys.executable, "-c", "from jobs.cli import main; main()"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    server, base_url = start_server()
    try:
        with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
            home = Path(tmp) / "home"
            batch_file = Path(tmp) / "night.jsonl"
            batch_file.write_text(
                "".join(
                    json.dumps(
                        {"prompt": f"Summarise item {n} in one sentence.", "key": f"item-{n}"}
                    )
                    + "\n"
                    for n in range(args.lines)
                )
            )
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "GOOGLE_"))},
                "JOBS_HOME": str(home),
                "GEMINI_API_KEY": "bench-key",
                "GOOGLE_GEMINI_BASE_URL": base_url,
            }
            command = [
                *jobs_command(),
                "batch",
                "submit",
                str(batch_file),
                "--json",
                "--concurrency",
                str(args.concurrency),
            ]
            # The fixed cost of one command (imports, store, SDK client): a one-line batch.
            one_line = Path(tmp) / "one.jsonl"
            one_line.write_text(json.dumps({"prompt": "Start-up only."}) + "\n")
            cpu_before = _children_cpu()
            subprocess.run(
                [str(one_line) if part == str(batch_file) else part for part in command],
                env={**env, "JOBS_HOME": str(Path(tmp) / "startup-home")},  # the run below: fresh
                capture_output=True,
                check=True,
                timeout=600,
            )
            startup_cpu = _children_cpu() - cpu_before
            started = time.perf_counter()
            cpu_before = _children_cpu()
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            elapsed = time.perf_counter() - started
            cpu = _children_cpu() - cpu_before
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            result = json.loads(done.stdout)
            stats = httpx2.get(f"{base_url}/_emulator/stats").json()

            again_started = time.perf_counter()
            again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            again_elapsed = time.perf_counter() - again_started
            second = json.loads(again.stdout)
            stats_after = httpx2.get(f"{base_url}/_emulator/stats").json()
    finally:
        server.terminate()
        server.wait(timeout=10)

    sent = result["submit"]["sent"]
    verdict = "OK" if elapsed < TARGET_SECONDS and sent == args.lines else "MISSED"
    print(
        f"batch submit: {args.lines} lines recorded and {sent} submitted in {elapsed:.2f} s "
        f"({args.lines / elapsed:,.0f} lines/s, concurrency {args.concurrency}, whole command "
        f"incl. start-up) -> target < {TARGET_SECONDS:.0f} s: {verdict}"
    )
    print(
        f"client CPU: {cpu:.2f} s for the command ({cpu / args.lines * 1000:.1f} ms a line): "
        "the figure to compare across machine loads (one process, GIL-bound)"
    )
    print(
        f"  of which start-up {startup_cpu:.2f} s (a one-line batch), and "
        f"{(cpu - startup_cpu) / args.lines * 1000:.1f} ms a line beyond it"
    )
    print(
        f"emulator: {stats['creates'] - 1} creates for {args.lines} lines "
        f"({stats['requests']['create'] - 1} create requests; not counting the start-up run's one)"
    )
    print(
        f"same file again: {second['recorded']['added']} new, {second['submit']['sent']} sent in "
        f"{again_elapsed:.2f} s; emulator creates still {stats_after['creates'] - 1}"
    )
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
