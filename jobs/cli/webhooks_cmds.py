"""`gjobs webhooks ...`: receive the API's webhook deliveries without the web page."""

from __future__ import annotations

import logging

import click

from jobs.cli.context import CliContext
from jobs.errors import UsageError

pass_ctx = click.make_pass_decorator(CliContext)


@click.group()
def webhooks() -> None:
    """Receive webhook deliveries (completion pushed by the API)."""


@webhooks.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8780, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")  # fmt: skip
@pass_ctx
def listen(ctx: CliContext, host: str, port: int) -> None:
    """Receive deliveries at /webhooks/interactions until Ctrl-C."""
    import uvicorn

    from jobs.webhook_routes import webhook_app

    if not ctx.settings["webhooks.public_url"]:
        raise UsageError(
            "webhooks.public_url is not set (env JOBS_WEBHOOK_URL): jobs would be created without "
            "a webhook, so nothing would come here"
        )
    if not logging.getLogger().handlers:
        ctx.setup_logging(logging.INFO)
    app = ctx.open_app("webhooks")
    try:
        app.service.gateway_ready()
        receiver = app.service.webhooks.receiver_url
        ctx.err_console.print(
            f"receiving webhook deliveries on http://{host}:{port}/webhooks/interactions\n"
            f"  the API posts to {receiver}; Ctrl-C stops", soft_wrap=True,
        )  # fmt: skip
        uvicorn.run(webhook_app(lambda: app.service), host=host, port=port, log_config=None, log_level="warning", access_log=False, lifespan="off")  # fmt: skip
    finally:
        app.close()


COMMANDS = [webhooks]
