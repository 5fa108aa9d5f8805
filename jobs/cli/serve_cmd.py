"""`serve`: the web page (conversations, every API event live, the jobs panel) and the worker."""

from __future__ import annotations

import logging

import click

from jobs.cli.context import CliContext
from jobs.errors import ConfigError, UsageError

pass_ctx = click.make_pass_decorator(CliContext)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port (0: pick a free one).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host; the page then needs the access token printed at start.",
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Do not run the worker here (another `gjobs worker` sends and follows the jobs).",
)
@pass_ctx
def serve(
    ctx: CliContext, host: str, port: int, open_browser: bool, allow_remote: bool, no_worker: bool
) -> None:
    """Serve the web page: write messages, watch every API event arrive, see all jobs."""
    from jobs.web.security import Guard, is_loopback
    from jobs.web.server import WebServer

    if not is_loopback(host) and not allow_remote:
        raise UsageError(
            f"--host {host} is not a loopback address: add --allow-remote to serve other "
            "machines (the page will then need the access token printed at start)"
        )
    if not logging.getLogger().handlers:
        ctx.setup_logging(logging.WARNING)
    guard = Guard.for_bind(host, allow_remote=allow_remote)
    app = ctx.open_app("web")
    worker_app = None
    try:
        app.service.gateway_ready()  # builds the SDK client once, before requests overlap
        ready = True
    except ConfigError as exc:
        ready = False
        ctx.err_console.print(
            f"warning: {exc}\n  the page shows the jobs in the store but cannot send messages",
            soft_wrap=True,
        )
    if ready and not no_worker:
        worker_app = ctx.open_app("worker")
        worker_app.service.gateway_ready()
    server = WebServer(app, guard, host=host, port=port, worker_app=worker_app)

    def on_ready(url: str) -> None:
        click.echo(f"jobs serve: {url}")
        ctx.err_console.print(
            f"  store  {app.database.display_url}\n  API    {app.gateway.target}\n  worker "
            + (
                "running in this process"
                if worker_app
                else "not running here: start `gjobs worker` so that messages are sent"
            )
            + "\n  Ctrl-C stops it",
            soft_wrap=True,
        )
        if guard.access_token:
            ctx.err_console.print(
                f"  from other machines: the same address with this machine's name or IP "
                f"(port {server.port}, ?token=...); anyone with the token can use the page",
                soft_wrap=True,
            )
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    try:
        server.serve_forever(on_ready=on_ready)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    ctx.err_console.print("jobs serve stopped")


COMMANDS = (serve,)
