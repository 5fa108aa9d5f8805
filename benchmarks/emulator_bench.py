"""How fast is the Interactions API emulator? Enough to measure the runner rather than itself?

Starts `jobs emulator` in a subprocess (so the client and the server do not share a GIL), creates
10,000 background Deep Research interactions (they stay running for minutes, so all are live),
reports the creation rate and the server's memory, then measures `get` throughput with a keep-alive
httpx2 client (one connection, then several) and through the real google-genai SDK.

    .venv/bin/python benchmarks/emulator_bench.py [--count 10000] [--gets 5000] [--sdk-gets 1000]

Targets (from the issue): >= 1,000 get/s on one core, 10,000 live interactions in memory.
Besides wall-clock rates (which include the client's own cost and whatever else the machine is
doing), it reports the server's CPU time per request: 1 / that is what one core can serve.
Memory and CPU time are read from /proc (Linux).
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2

AGENT = "deep-research-preview-04-2026"
HEADERS = {"x-goog-api-key": "bench-key"}


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_request(cpu: float, count: int) -> str:
    return f"server CPU {cpu / count * 1e6:,.0f} us/request (~{count / cpu:,.0f}/s per core)"


def start_server(*options: str) -> tuple[subprocess.Popen[str], str]:
    """`jobs emulator --port 0 [options]` in a subprocess, without the caller's API keys; returns
    the process and its base URL."""
    jobs = Path(sys.executable).with_name("jobs")
    command = [str(jobs), "emulator", "--port", "0", *options] if jobs.exists() else [
        sys.executable, "-c", "from jobs.cli import main; main()", "emulator", "--port", "0",
        *options,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline() if process.stdout else ""
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"the emulator did not start: {line!r}")
    return process, line.rsplit(" ", 1)[-1].strip()


def rate(count: int, seconds: float) -> str:
    return f"{count} in {seconds:.2f} s = {count / seconds:,.0f}/s"


def create_many(base_url: str, count: int) -> tuple[list[str], float]:
    ids: list[str] = []
    started = time.perf_counter()
    with httpx2.Client(base_url=base_url, headers=HEADERS, timeout=30) as client:
        for n in range(count):
            body = {"agent": AGENT, "input": f"Research question {n}", "background": True, "labels": {"job": f"b{n}"}}  # fmt: skip
            reply = client.post("/v1/interactions", json=body)
            reply.raise_for_status()
            ids.append(reply.json()["id"])
    return ids, time.perf_counter() - started


def get_many(base_url: str, ids: list[str], count: int, connections: int) -> float:
    """Seconds for `count` gets spread over `connections` keep-alive connections."""
    per_thread = count // connections
    barrier = threading.Barrier(connections + 1)
    failures: list[str] = []

    def work(offset: int) -> None:
        with httpx2.Client(base_url=base_url, headers=HEADERS, timeout=30) as client:
            client.get(f"/v1/interactions/{ids[offset]}", params={"stream": "false"})  # warm up
            cycle = itertools.cycle(ids[offset:] + ids[:offset])
            barrier.wait()
            for _ in range(per_thread):
                reply = client.get(f"/v1/interactions/{next(cycle)}", params={"stream": "false"})
                if reply.status_code != 200:
                    failures.append(str(reply.status_code))

    threads = [threading.Thread(target=work, args=(i * 997,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} gets failed: {failures[:5]}")
    return elapsed


def sdk_gets(base_url: str, ids: list[str], count: int) -> float:
    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key="bench-key",
        http_options=types.HttpOptions(
            base_url=base_url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    client.interactions.get(ids[0])
    started = time.perf_counter()
    for n in range(count):
        client.interactions.get(ids[n % len(ids)])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--count", type=int, default=10_000, help="background interactions to create"
    )
    parser.add_argument("--gets", type=int, default=5_000, help="gets per httpx2 measurement")
    parser.add_argument("--sdk-gets", type=int, default=1_000, help="gets through the SDK")
    args = parser.parse_args()

    process, base_url = start_server()
    try:
        rss_before = rss_mb(process.pid)
        cpu = cpu_seconds(process.pid)
        ids, seconds = create_many(base_url, args.count)
        create_cpu = cpu_seconds(process.pid) - cpu
        rss_after = rss_mb(process.pid)
        stats = httpx2.get(f"{base_url}/_emulator/stats").json()
        per = (rss_after - rss_before) * 1024 / args.count
        print(f"emulator at {base_url} (server in its own process, one event-loop thread)")
        print(
            f"create: {rate(args.count, seconds)}; live {stats['interactions']['live']}, "
            f"running {stats['interactions']['running']}; server RSS {rss_before:.1f} MB -> "
            f"{rss_after:.1f} MB (+{rss_after - rss_before:.1f} MB, {per:.1f} KB per interaction); "
            f"{per_request(create_cpu, args.count)}"
        )
        for connections in (1, 4):
            cpu = cpu_seconds(process.pid)
            elapsed = get_many(base_url, ids, args.gets, connections)
            done = args.gets // connections * connections
            used = cpu_seconds(process.pid) - cpu
            print(
                f"get, httpx2 keep-alive, {connections} connection(s): {rate(done, elapsed)}; "
                f"{per_request(used, done + connections)}"
            )
        elapsed = sdk_gets(base_url, ids, args.sdk_gets)
        print(f"get, google-genai SDK (sync, one client): {rate(args.sdk_gets, elapsed)}")
        stats = httpx2.get(f"{base_url}/_emulator/stats").json()
        print(
            f"after: server RSS {rss_mb(process.pid):.1f} MB; running "
            f"{stats['interactions']['running']}; requests {stats['requests']}"
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
