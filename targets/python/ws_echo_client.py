"""Echo client on the Python `websockets` library for `wschaos check-client`:
fetches the case list from BASE/cases, then connects to BASE/case/<id> for each
and echoes every message until the connection ends. Loopback only."""

import argparse
import asyncio
import json
import urllib.request

from websockets.asyncio.client import connect


async def run_case(url):
    try:
        async with connect(url, open_timeout=5, close_timeout=2) as ws:
            async for message in ws:
                await ws.send(message)
        return "closed"
    except Exception as exc:  # the verdict is wschaos's; we only log
        return type(exc).__name__


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="ws://127.0.0.1:PORT")
    parser.add_argument("--case", action="append", default=[])
    args = parser.parse_args()
    base = args.base.rstrip("/")
    cases = args.case
    if not cases:
        http = "http://" + base.split("://", 1)[1] + "/cases"
        with urllib.request.urlopen(http, timeout=5) as resp:
            cases = json.load(resp)
    for case in cases:
        outcome = await run_case(f"{base}/case/{case}")
        print(f"{case}: {outcome}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
