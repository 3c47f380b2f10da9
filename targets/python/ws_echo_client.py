"""Client on the Python `websockets` library, for wschaos's tests. Loopback only.

Echo mode, for `wschaos check-client`: fetches the case list from BASE/cases, then
connects to BASE/case/<id> for each and echoes every message until the connection
ends.

    ws_echo_client.py --base ws://127.0.0.1:PORT [--case ID]... [--no-compression]
                      [--max-size BYTES]

Traffic mode, for the proxy matrix (the same steps as targets/python/aiohttp_client.py
and targets/node/client.js): on every URL at once, send MESSAGES text messages and
wait for each echo, send a ping and wait for the pong (with --ping), then close
normally with 1000, or, when the URL's query has `close=server`, send the text
`wschaos:close` and wait for the server to close. A step that fails or times out
ends the traffic on that connection (a failed connection is expected there).
Prints one JSON line per URL: what the client saw.

    ws_echo_client.py --traffic URL [--traffic URL]... [--messages 3] [--ping]

wss:// URLs are verified with the system's roots, or only with --ca-file PEM.
"""

import argparse
import ssl
import asyncio
import json
import urllib.request

from websockets.asyncio.client import connect

STEP_TIMEOUT = 1.5


def ssl_for(url, ca_file):
    """The TLS context for a wss:// URL: trusting only CA_FILE when given."""
    if not url.startswith("wss://"):
        return None
    return ssl.create_default_context(cafile=ca_file)


async def run_case(url, compression, max_size, ca_file=None):
    try:
        async with connect(
            url,
            ssl=ssl_for(url, ca_file),
            open_timeout=5,
            close_timeout=2,
            compression=compression,
            max_size=max_size,
        ) as ws:
            async for message in ws:
                await ws.send(message)
        return "closed"
    except Exception as exc:  # the verdict is wschaos's; we only log
        return type(exc).__name__


def close_state(ws):
    rcvd = ws.protocol.close_rcvd
    sent = ws.protocol.close_sent
    return {
        "close_rcvd": None if rcvd is None else rcvd.code,
        "close_sent": None if sent is None else sent.code,
    }


async def traffic(url, messages, ping, ca_file=None):
    seen = {"url": url, "echoes": 0, "pong": False, "error": None}
    server_close = "close=server" in url.partition("?")[2]
    try:
        async with connect(
            url,
            open_timeout=3,
            close_timeout=1,
            compression=None,
            ping_interval=None,
            ssl=ssl_for(url, ca_file),
        ) as ws:
            try:
                for i in range(1, messages + 1):
                    await ws.send(f"message {i}")
                    await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
                    seen["echoes"] += 1
                if ping:
                    waiter = await ws.ping(b"wschaos-ping")
                    await asyncio.wait_for(waiter, STEP_TIMEOUT)
                    seen["pong"] = True
                if server_close:
                    await ws.send("wschaos:close")
                    await asyncio.wait_for(ws.wait_closed(), STEP_TIMEOUT)
                else:
                    await ws.close(1000)
            except Exception as exc:
                seen["error"] = f"{type(exc).__name__}: {exc}"
            seen.update(close_state(ws))
    except Exception as exc:
        seen["error"] = seen["error"] or f"{type(exc).__name__}: {exc}"
    return seen


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", help="ws://127.0.0.1:PORT (echo mode)")
    parser.add_argument("--case", action="append", default=[])
    parser.add_argument("--no-compression", action="store_true")
    parser.add_argument("--max-size", type=int, default=2**20)
    parser.add_argument("--traffic", action="append", default=[], metavar="URL")
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--ping", action="store_true")
    parser.add_argument("--ca-file", help="trust this CA (PEM) for wss:// URLs")
    args = parser.parse_args()
    if args.traffic:
        results = await asyncio.gather(
            *(traffic(url, args.messages, args.ping, args.ca_file) for url in args.traffic)
        )
        for seen in results:
            print(json.dumps(seen), flush=True)
        return
    if not args.base:
        parser.error("--base or --traffic is required")
    base = args.base.rstrip("/")
    compression = None if args.no_compression else "deflate"
    cases = args.case
    if not cases:
        scheme = "https" if base.startswith("wss://") else "http"
        http = scheme + "://" + base.split("://", 1)[1] + "/cases"
        context = ssl_for(base, args.ca_file)
        with urllib.request.urlopen(http, timeout=5, context=context) as resp:
            cases = json.load(resp)
    for case in cases:
        outcome = await run_case(
            f"{base}/case/{case}", compression, args.max_size, args.ca_file
        )
        print(f"{case}: {outcome}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
