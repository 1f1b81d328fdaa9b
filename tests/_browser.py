"""Drive headless Chromium over the DevTools protocol (for the report tests).

Every request the page makes (Network.requestWillBeSent), every console call at
error level, every uncaught exception and every browser log error is
collected. Needs Debian's ``chromium`` package and the ``websockets`` client.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import tempfile

from realimpact.report.pdf import HEADLESS_FLAGS, find_chromium

CHROMIUM_FLAGS = [*HEADLESS_FLAGS, "--mute-audio", "--remote-debugging-port=0"]


async def _probe(
    url: str, timeout: float = 30.0, expressions: dict[str, str] | None = None
) -> dict[str, list]:
    """Load ``url``; return requests, console errors and exceptions seen.

    ``expressions`` (name -> JavaScript) are evaluated in the loaded page;
    their values come back under ``seen["values"][name]``.
    """
    from websockets.asyncio.client import connect

    # Chromium may still be writing its profile as it exits: don't fail the test on cleanup
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            ws_url = None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while ws_url is None and loop.time() < deadline:
                line = await loop.run_in_executor(None, proc.stderr.readline)
                m = re.search(r"DevTools listening on (ws://\S+)", line)
                if m:
                    ws_url = m.group(1)
                elif not line and proc.poll() is not None:
                    raise AssertionError("chromium exited before DevTools started")
            assert ws_url, "chromium did not report a DevTools address"
            return await asyncio.wait_for(_drive(connect, ws_url, url, expressions or {}), timeout)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _drive(connect, ws_url: str, url: str, expressions: dict[str, str]) -> dict[str, list]:
    seen: dict[str, list] = {"requests": [], "console": [], "exceptions": [], "log": []}
    async with connect(ws_url, max_size=2**24) as ws:
        ids = iter(range(1, 10_000))
        pending: dict[int, asyncio.Future] = {}
        loaded = asyncio.Event()

        async def reader() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if "id" in msg and msg["id"] in pending:
                    pending.pop(msg["id"]).set_result(msg)
                    continue
                method, params = msg.get("method"), msg.get("params", {})
                if method == "Network.requestWillBeSent":
                    seen["requests"].append(params["request"]["url"])
                elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                    "error",
                    "assert",
                ):
                    seen["console"].append(params)
                elif method == "Runtime.exceptionThrown":
                    seen["exceptions"].append(params)
                elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                    seen["log"].append(params["entry"])
                elif method == "Page.loadEventFired":
                    loaded.set()

        async def send(method: str, params: dict | None = None, session: str | None = None):
            i = next(ids)
            fut = asyncio.get_running_loop().create_future()
            pending[i] = fut
            msg = {"id": i, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            await ws.send(json.dumps(msg))
            reply = await fut
            assert "error" not in reply, reply
            return reply["result"]

        task = asyncio.create_task(reader())
        target = await send("Target.createTarget", {"url": "about:blank"})
        sess = (
            await send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        )["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            await send(f"{domain}.enable", session=sess)
        await send("Page.navigate", {"url": url}, session=sess)
        await loaded.wait()
        await asyncio.sleep(0.5)  # late requests (fonts, lazy images) would show here
        body = await send(
            "Runtime.evaluate",
            {"expression": "document.querySelectorAll('svg').length", "returnByValue": True},
            session=sess,
        )
        seen["svg_count"] = [body["result"]["value"]]
        values = {}
        for name, js in expressions.items():
            got = await send(
                "Runtime.evaluate", {"expression": js, "returnByValue": True}, session=sess
            )
            values[name] = got["result"].get("value")
        seen["values"] = values  # type: ignore[assignment]
        task.cancel()
    return seen


def probe(url: str, expressions: dict[str, str] | None = None) -> dict[str, list]:
    return asyncio.run(_probe(url, expressions=expressions))


def network(requests: list[str], page: str) -> list[str]:
    """Requests other than the page itself and inline data: URLs."""
    return [u for u in requests if u != page and not u.startswith("data:")]
