"""`jobs demo`: the whole life of a few jobs, on the emulator, in a throw-away store.

It uses the same service, store, gateway and worker pass as real use; only the API is the built-in
emulator (started in-process, faster than real time) and the store is a temporary directory.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

from jobs import render
from jobs.app import build_app
from jobs.config import load_settings
from jobs.service import SubmitSpec
from jobs.worker import Worker

QUICK = "Explain in two sentences why the sky is blue."
FOLLOW_UP = "Now explain it to a five-year-old, in one sentence."
RESEARCH = "Research how background job queues evolved, from cron to durable workflow engines."
LONG = "Research the complete history of the telephone, country by country."


def run_demo(
    console: Console, *, speed: float = 150.0, keep: bool = False, timeout: float = 120.0
) -> None:
    from jobs.emulator import EmulatorServer

    home = Path(tempfile.mkdtemp(prefix="jobs-demo-"))
    console.print(
        Panel(
            Text.assemble(
                ("This demo runs on the built-in Interactions API emulator", "bold"),
                f" (time runs {speed:g}x faster): nothing is sent to Google and no key is needed.\n",
                f"Its store is a temporary directory: {home}",
            ),
            title="jobs demo",
            border_style="cyan",
        )
    )
    try:
        with EmulatorServer(speed=speed) as emulator:
            environ = {
                "JOBS_HOME": str(home),
                "GEMINI_API_KEY": "demo-key",
                "GOOGLE_GEMINI_BASE_URL": emulator.base_url,
            }
            settings = load_settings(environ).with_overrides(
                **{
                    "worker.tick": 0.5,
                    "polling.min_interval": 0.5,
                    "polling.max_interval": 1.0,
                    "polling.agent_max_interval": 1.0,
                }
            )
            app = build_app(settings, kind="demo")
            try:
                _tour(console, app, timeout)
            finally:
                app.close()
    finally:
        if keep:
            console.print(f"store kept: JOBS_HOME={home} gjobs list")
        else:
            shutil.rmtree(home, ignore_errors=True)


def _tour(console: Console, app, timeout: float) -> None:
    service = app.service
    say = console.print
    say(Text("$ gjobs submit ", style="bold") + Text(repr(QUICK)))
    quick = service.submit_new(SubmitSpec(prompt=QUICK, labels={"demo": "tour"}))
    say(f"  recorded {quick.id}, submitted as interaction {quick.interaction_id}")
    say(Text("$ gjobs submit --continue ", style="bold") + Text(f"{quick.id} {FOLLOW_UP!r}"))
    follow = service.submit_new(
        SubmitSpec(prompt=FOLLOW_UP, continue_job=quick.id, labels={"demo": "tour"})
    )
    say(f"  recorded {follow.id}: it waits for {quick.id}, then continues that conversation")
    say(Text("$ gjobs submit --research ", style="bold") + Text(repr(RESEARCH)))
    research = service.submit_new(
        SubmitSpec(prompt=RESEARCH, agent=app.settings["defaults.agent"], labels={"demo": "tour"})
    )
    say(f"  recorded {research.id}, a Deep Research agent run (minutes of simulated work)")
    # The one cancelled is a second research run: the realistic case (an expensive run started by
    # mistake), and long enough to be still running when the cancel arrives, at any --speed.
    say(Text("$ gjobs submit --research ", style="bold") + Text(repr(LONG)))
    long = service.submit_new(
        SubmitSpec(prompt=LONG, agent=app.settings["defaults.agent"], labels={"demo": "tour"})
    )
    say(f"  recorded {long.id}, interaction {long.interaction_id}")
    say(
        Text(f"$ gjobs cancel {long.id}", style="bold")
        + Text("   # too broad: stop paying for it", style="dim")
    )
    long = service.cancel(long.id)
    say(Text("  one remote cancel sent; the server says: ") + render.status_text(long) + Text("\n"))

    worker = Worker(service)
    ids = [quick.id, follow.id, research.id, long.id]
    started = time.monotonic()
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            worker.poll_once()
            jobs = [service.get_job(i) for i in ids]
            live.update(render.jobs_table(jobs, service.clock.now(), title="$ gjobs list --watch"))
            if all(j.job_status.is_terminal for j in jobs):
                break
            if time.monotonic() - started > timeout:
                say("[red]the demo timed out waiting for the jobs[/red]")
                break
            time.sleep(0.25)

    for job_id in (follow.id, research.id):
        job = service.get_job(job_id)
        say(
            Text(
                f"\n$ gjobs show {job_id}" + (" --thoughts" if job_id == research.id else ""),
                style="bold",
            )
        )
        say(
            render.show_job(
                job,
                service.get_result(job.id),
                service.clock.now(),
                chain=service.chain(job),
                events=[],
                labels={},
                thoughts=job_id == research.id,
            )
        )
    # Plain lines, not a panel: a panel's borders would come along when a line is copied.
    say(Rule("next", style="cyan"))
    say(
        Text(
            "`jobs` alone is a shell builtin, so the program is also called `gjobs`\n"
            "(`gjobs shell-init --help` makes `jobs` work too).\n"
            "Each line below pastes into bash as it is.\n"
            "Keep using the emulator, in one terminal:\n"
            "  .venv/bin/gjobs emulator --port 8765 --speed 60\n"
            "and in another:\n"
            "  export PATH=$PWD/.venv/bin:$PATH\n"
            "  export GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8765\n"
            "  export GEMINI_API_KEY=emulator-key\n"
            '  gjobs submit --wait "hello"\n'
            "Or for real: set GEMINI_API_KEY (and unset GOOGLE_GEMINI_BASE_URL), then\n"
            '`gjobs submit "..."` and `gjobs worker`. The README\'s tour shows the rest.'
        )
    )
