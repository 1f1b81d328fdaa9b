"""`realimpact serve` in headless Chromium: log in through the form, open the dashboard and
the map; no console error, no request to any host but the server."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from realimpact.report.pdf import find_chromium
from tests._browser import CHROMIUM_FLAGS
from tests.conftest import DATA, POLICE_UK

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from realimpact.geo.areas import ingest_boundaries
    from realimpact.sources.police_uk import ingest_police_uk
    from realimpact.web.accounts import add_user
    from realimpact.web.app import create_app

    base = tmp_path_factory.mktemp("webb")
    store = base / "b.duckdb"
    ingest_police_uk(
        sorted((POLICE_UK / "city_of_london" / "street").glob("*.csv"))[:3], store=store
    )
    ingest_boundaries(DATA / "boundaries/london_lsoa_2011/E09000001.geojson", store, layer="lsoa")
    add_user(store, "ann", "analyst", "browser-pw")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port,
                                        log_level="warning"))  # fmt: skip
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


async def _session(base: str, shot: Path) -> dict:
    from websockets.asyncio.client import connect

    seen: dict = {"requests": [], "errors": [], "values": {}}
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            loop = asyncio.get_running_loop()
            ws_url = None
            while ws_url is None:
                line = await loop.run_in_executor(None, proc.stderr.readline)
                m = re.search(r"DevTools listening on (ws://\S+)", line)
                if m:
                    ws_url = m.group(1)
                elif not line:
                    raise AssertionError("chromium exited before DevTools started")
            async with connect(ws_url, max_size=2**26) as ws:
                ids = iter(range(1, 100_000))
                pending: dict[int, asyncio.Future] = {}
                loads: asyncio.Queue = asyncio.Queue()

                async def reader() -> None:
                    async for raw in ws:
                        msg = json.loads(raw)
                        if msg.get("id") in pending:
                            pending.pop(msg["id"]).set_result(msg)
                            continue
                        method, p = msg.get("method"), msg.get("params", {})
                        if method == "Network.requestWillBeSent":
                            seen["requests"].append(p["request"]["url"])
                        elif (
                            method == "Runtime.consoleAPICalled"
                            and p.get("type")
                            in (
                                "error",
                                "assert",
                            )
                        ) or method == "Runtime.exceptionThrown":
                            seen["errors"].append(p)
                        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                            seen["errors"].append(p["entry"])
                        elif method == "Page.loadEventFired":
                            loads.put_nowait(1)

                async def send(method: str, params: dict | None = None, sess: str | None = None):
                    i = next(ids)
                    fut = loop.create_future()
                    pending[i] = fut
                    msg = {"id": i, "method": method, "params": params or {}}
                    if sess:
                        msg["sessionId"] = sess
                    await ws.send(json.dumps(msg))
                    reply = await fut
                    assert "error" not in reply, reply
                    return reply["result"]

                task = asyncio.create_task(reader())
                target = await send("Target.createTarget", {"url": "about:blank"})
                sess = (await send("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True}))["sessionId"]  # fmt: skip
                for d in ("Page", "Runtime", "Network", "Log"):
                    await send(f"{d}.enable", sess=sess)

                async def evaluate(js: str):
                    r = await send("Runtime.evaluate", {"expression": js, "returnByValue": True,
                                                        "awaitPromise": True}, sess)  # fmt: skip
                    return r["result"].get("value")

                async def until(js: str) -> None:
                    for _ in range(300):
                        try:
                            if await evaluate(js):
                                return
                        except AssertionError:  # the page is between documents
                            pass
                        await asyncio.sleep(0.1)
                    raise AssertionError(f"never true: {js}")

                async def goto(url: str) -> None:
                    await send("Page.navigate", {"url": url}, sess)
                    path = urlparse(url).path
                    await until(
                        f"location.pathname == {path!r} && document.readyState == 'complete'"
                    )

                await goto(base + "/login")
                await evaluate(
                    "document.querySelector('[name=username]').value='ann';"
                    "document.querySelector('[name=password]').value='browser-pw';"
                    "document.querySelector('form.login').submit(); true"
                )
                await until("location.pathname == '/' && document.readyState == 'complete'")
                seen["values"]["dashboard"] = await evaluate("document.title")
                seen["values"]["forces"] = await evaluate(
                    "document.querySelectorAll('#status-forces tbody tr').length"
                )
                await goto(base + "/map?layer=lsoa")
                for _ in range(100):  # MapLibre draws after the GeoJSON arrives
                    ready = await evaluate("document.getElementById('map').dataset.ready || ''")
                    if ready:
                        break
                    await asyncio.sleep(0.1)
                seen["values"]["map_ready"] = ready
                seen["values"]["canvas"] = await evaluate(
                    "document.querySelectorAll('#map canvas').length"
                )
                await asyncio.sleep(0.5)
                png = await send("Page.captureScreenshot", {"format": "png"}, sess)
                import base64

                shot.write_bytes(base64.b64decode(png["data"]))
                task.cancel()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return seen


def test_login_dashboard_and_map_in_chromium(server: str, tmp_path: Path) -> None:
    shot = tmp_path / "map.png"
    seen = asyncio.run(asyncio.wait_for(_session(server, shot), 90))
    assert seen["values"]["dashboard"].startswith("Status"), seen["values"]
    assert seen["values"]["forces"] >= 1
    assert seen["values"]["map_ready"] == "6"  # the City's six LSOAs drawn
    assert seen["values"]["canvas"] == 1
    assert seen["errors"] == []
    hosts = {urlparse(u).netloc for u in seen["requests"] if not u.startswith(("data:", "about:"))}
    assert hosts == {urlparse(server).netloc}, seen["requests"]
    assert shot.stat().st_size > 5_000
