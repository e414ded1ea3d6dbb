"""`mailbot web`: the triage web UI."""

from __future__ import annotations

import click

from mailbot.cli import AppContext


@click.command("web")
@click.option("--host", default=None, help="Address to listen on. Default: [web] host, 127.0.0.1.")
@click.option("--port", type=int, default=None, help="Port. Default: [web] port, 8025.")
@click.pass_obj
def web(app: AppContext, host: str | None, port: int | None) -> None:
    """Serve the triage web UI against the worker's database.

    \b
    Examples:
      mailbot users add admin --role admin      create the first account
      mailbot web                               then open http://127.0.0.1:8025
      mailbot web --host 0.0.0.0 --port 8080    behind a TLS-terminating proxy
    """
    import uvicorn

    from mailbot.app import setup_logging
    from mailbot.web.app import create_app

    config = app.config
    setup_logging(config, app.verbose)
    settings = config.web
    host = host or settings.host
    port = port or settings.port
    asgi = create_app(config, host=host)
    click.echo(f"Mailbot web UI for {config.organisation.name} on http://{host}:{port}/", err=True)
    # Our own access log (mailbot.web.access) drops query strings, which can hold search terms
    # such as customer names; uvicorn's would log them.
    # Proxy headers are handled inside the app, believed only from [web] trusted_proxies
    # (mailbot.web.transport); uvicorn's own handling would trust 127.0.0.1 by default.
    uvicorn.run(asgi, host=host, port=port, access_log=False, proxy_headers=False)
