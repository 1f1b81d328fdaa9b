"""`realimpact serve`: the web app (docs/web.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realimpact.cli._common import JsonOpt, StoreOpt, err, handle_errors, print_json


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: Annotated[
            str,
            typer.Option(
                "--host",
                help="Address to listen on (default loopback; behind the force's HTTPS"
                " reverse proxy, keep it so).",
            ),
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8765,
        no_public: Annotated[
            bool, typer.Option("--no-public", help="Switch the no-login public page off.")
        ] = False,
        import_results: Annotated[
            list[Path] | None,
            typer.Option(
                "--import-results",
                help="An analyst results.json (from `realimpact evaluate --out` or the demo) to"
                " keep in STORE.evaluations/ and show; repeatable.",
            ),
        ] = None,
        store: StoreOpt = None,
        json: JsonOpt = False,
    ) -> None:
        """Serve the web app: analyst, partner and public views of the store, roles applied
        on the server. Add accounts first with `realimpact users add`.

        One process holding the store open as its single writer: other commands on
        the same store are refused (store in use) until it stops. --json prints one object with the address, then serves.
        """
        with handle_errors():
            import uvicorn

            from realimpact.web.app import create_app

            web_app = create_app(store, public_page=not no_public)
            try:
                for f in import_results or []:
                    web_app.state.evaluations.import_file(f)
            except BaseException:
                web_app.state.db.close()
                raise
        url = f"http://{host}:{port}/"
        if json:
            print_json({"url": url, "host": host, "port": port, "public_page": not no_public})
        else:
            err.print(f"serving [bold]{url}[/] (Ctrl-C stops)")
        uvicorn.run(web_app, host=host, port=port, log_level="warning", proxy_headers=True,
                    server_header=False)  # fmt: skip
