"""What a large prompt costs: `gjobs submit` memory, store growth, and bytes written per change.

Starts `jobs emulator` in a subprocess, then, against a fresh SQLite store in a temporary JOBS_HOME:

1. `gjobs submit --file` of a one-line prompt and of a `--mb` MB prompt, each its own process:
   peak RSS (ru_maxrss of that child, i.e. VmHWM) and CPU time.
2. `gjobs poll --once` passes until the big job completes: the store's size (pages in use, free
   pages, the -wal file) after submit and after completion, and the bytes each pass wrote (the
   process's `wchar` from /proc/self/io, printed at exit by a small wrapper: what reached
   write(2), whatever the disk).

    .venv/bin/python benchmarks/large_prompt.py [--mb 50]

The aim (issue 8): submit peaks at a small multiple of the prompt above an empty submit's
baseline; the store grows by about the prompt's size; a status change writes kilobytes.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_bench import start_server  # noqa: E402

MB = 1024 * 1024

# Runs one jobs command in this interpreter and prints, after it, the bytes the process wrote
# (write(2) and friends: /proc/self/io wchar), so a pass's writes are measured whatever the disk.
_WRAPPER = (
    "import atexit, sys\n"
    "def _io():\n"
    "    fields = dict(l.split(': ') for l in open('/proc/self/io').read().splitlines())\n"
    "    sys.stderr.write('\\nWCHAR %s\\n' % fields['wchar'].strip())\n"
    "atexit.register(_io)\n"
    "from jobs.cli import main\n"
    "sys.argv = ['gjobs'] + sys.argv[1:]\n"
    "main()\n"
)


def run(args: list[str], env: dict[str, str]) -> dict[str, float | str]:
    """One jobs command as its own process: its output, peak RSS (MB: ru_maxrss of that child,
    its VmHWM), CPU and wall seconds, and the bytes it wrote (wchar)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, *args], env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    wchar = 0
    for line in stderr.splitlines():
        if line.startswith("WCHAR "):
            wchar = int(line.split()[1])
    if process.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({process.returncode}): {stderr.strip()[-500:]}")
    return {
        "out": stdout,
        "wall": wall,
        "wchar": wchar,
        "peak_mb": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
    }


def store_size(path: Path) -> dict[str, float]:
    with sqlite3.connect(path) as connection:
        page = connection.execute("PRAGMA page_size").fetchone()[0]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
    wal = path.with_name(path.name + "-wal")
    return {
        "file_mb": path.stat().st_size / MB,
        "used_mb": (pages - free) * page / MB,
        "free_mb": free * page / MB,
        "wal_mb": (wal.stat().st_size / MB) if wal.exists() else 0.0,
    }


def fmt(size: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in size.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50, help="prompt size in MB (default 50)")
    parser.add_argument(
        "--speed",
        type=float,
        default=120.0,
        help="emulator speed (default 120: the research run of the big job takes ~10 s, so a"
        " worker sees it queued and in progress before it completes)",
    )
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")

    server, base_url = start_server("--speed", str(args.speed))
    try:
        with tempfile.TemporaryDirectory(prefix="large-prompt-") as tmp:
            home = Path(tmp) / "home"
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "GOOGLE_"))},
                "JOBS_HOME": str(home),
                "GEMINI_API_KEY": "bench-key",
                "GOOGLE_GEMINI_BASE_URL": base_url,
            }
            prompt = Path(tmp) / "prompt.txt"
            words = "lorem ipsum dolor sit amet consectetur adipiscing elit "
            prompt.write_text((words * (args.mb * MB // len(words) + 1))[: args.mb * MB])
            small = run(["submit", "-q", "Name a colour."], env)
            print(
                f"submit (one line): peak {small['peak_mb']:.0f} MB RSS, cpu {small['cpu']:.2f} s,"
                f" wall {small['wall']:.2f} s"
            )
            while True:  # the small job out of the way, so the passes below are the big job's
                done = run(["list", "--json"], env)
                if all(j["status"] == "completed" for j in json.loads(done["out"])):
                    break
                run(["poll", "--once"], env)
            store = home / "jobs.db"
            before = store_size(store)
            big = run(["submit", "-q", "--research", "--file", str(prompt)], env)
            job_id = str(big["out"]).strip()
            print(
                f"submit ({args.mb} MB prompt): peak {big['peak_mb']:.0f} MB RSS"
                f" ({(big['peak_mb'] - small['peak_mb']) / args.mb:.1f}x the prompt above the"
                f" one-line submit), cpu {big['cpu']:.2f} s, wall {big['wall']:.2f} s,"
                f" wrote {big['wchar'] / MB:.1f} MB"
            )
            after_submit = store_size(store)
            print(f"store before: {fmt(before)}")
            print(f"store after submit: {fmt(after_submit)}")
            passes = []
            for _ in range(300):
                status = json.loads(run(["show", job_id, "--json"], env)["out"])["status"]
                if status == "completed":
                    break
                wrote = run(["poll", "--once"], env)["wchar"]
                after = json.loads(run(["show", job_id, "--json"], env)["out"])
                passes.append((after["status"], after.get("poll_count"), wrote))
                time.sleep(0.5)
            else:
                raise RuntimeError("the job did not complete")
            done = store_size(store)
            print(f"poll passes until completed: {len(passes)}; bytes each wrote (status after):")
            print(
                "  "
                + ", ".join(
                    f"{w / 1024:.0f} KB ({status}, poll {count})" for status, count, w in passes
                )
            )
            print(f"store after completion: {fmt(done)}")
            grown = done["file_mb"] + done["wal_mb"] - before["file_mb"] - before["wal_mb"]
            used = done["used_mb"] - before["used_mb"]
            print(
                f"store growth for one {args.mb} MB-prompt job: {grown:.1f} MB on disk"
                f" ({used:.1f} MB of pages in use)"
            )
    finally:
        server.kill()
        server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
