"""Client on Python `aiohttp` (no compression), for wschaos's tests. Loopback only.
The same two modes and output as targets/python/ws_echo_client.py:

    aiohttp_client.py --base ws://127.0.0.1:PORT [--case ID]... [--max-size BYTES]  # echo
    aiohttp_client.py --traffic URL [--traffic URL]... [--messages 3] [--ping]

Traffic: on every URL at once, send MESSAGES text messages and wait for each echo,
send a ping and wait for the pong (with --ping), then close normally with 1000, or,
when the URL's query has `close=server`, send the text `wschaos:close` and wait for
the server to close. A step that fails or times out ends the traffic on that
connection. Prints one JSON line per URL: what the client saw. --max-size is the
largest message taken in echo mode (aiohttp's max_msg_size, default 4 MiB; 0: no limit)."""

import argparse
import asyncio
import json

import aiohttp
from aiohttp import WSMsgType

STEP_TIMEOUT = 1.5


async def next_message(ws, want):
    """Reads until a message of a type in `want`; answers pings on the way."""
    while True:
        msg = await ws.receive()
        if msg.type == WSMsgType.PING:
            await ws.pong(msg.data)
            continue
        if msg.type in want:
            return msg
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            raise ConnectionError(f"closed ({ws.close_code})")
        if msg.type == WSMsgType.ERROR:
            raise ConnectionError(f"error {msg.data!r}")


async def traffic(session, url, messages, ping):
    seen = {"url": url, "echoes": 0, "pong": False, "error": None}
    server_close = "close=server" in url.partition("?")[2]
    try:
        async with session.ws_connect(
            url,
            compress=0,
            autoping=False,
            autoclose=True,
            timeout=aiohttp.ClientWSTimeout(ws_close=1),
        ) as ws:
            try:
                for i in range(1, messages + 1):
                    await ws.send_str(f"message {i}")
                    data = (WSMsgType.TEXT, WSMsgType.BINARY)
                    await asyncio.wait_for(next_message(ws, data), STEP_TIMEOUT)
                    seen["echoes"] += 1
                if ping:
                    await ws.ping(b"wschaos-ping")
                    await asyncio.wait_for(next_message(ws, (WSMsgType.PONG,)), STEP_TIMEOUT)
                    seen["pong"] = True
                if server_close:
                    await ws.send_str("wschaos:close")
                    try:
                        await asyncio.wait_for(next_message(ws, ()), STEP_TIMEOUT)
                    except ConnectionError:
                        pass  # the server closed, as asked
                else:
                    await ws.close(code=1000)
            except Exception as exc:
                seen["error"] = f"{type(exc).__name__}: {exc}"
            seen["close_code"] = ws.close_code
            await ws.close()
    except Exception as exc:
        seen["error"] = seen["error"] or f"{type(exc).__name__}: {exc}"
    return seen


async def echo_case(session, url, max_size=4 * 1024 * 1024):
    try:
        async with session.ws_connect(url, compress=0, max_msg_size=max_size) as ws:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
        return f"closed {ws.close_code}"
    except Exception as exc:  # the verdict is wschaos's; we only log
        return type(exc).__name__


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", help="ws://127.0.0.1:PORT (echo mode)")
    parser.add_argument("--case", action="append", default=[])
    parser.add_argument("--traffic", action="append", default=[], metavar="URL")
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--ping", action="store_true")
    parser.add_argument("--max-size", type=int, default=4 * 1024 * 1024)
    args = parser.parse_args()
    async with aiohttp.ClientSession() as session:
        if args.traffic:
            results = await asyncio.gather(
                *(traffic(session, url, args.messages, args.ping) for url in args.traffic)
            )
            for seen in results:
                print(json.dumps(seen), flush=True)
            return
        if not args.base:
            parser.error("--base or --traffic is required")
        base = args.base.rstrip("/")
        cases = args.case
        if not cases:
            http = "http://" + base.split("://", 1)[1] + "/cases"
            async with session.get(http) as resp:
                cases = await resp.json(content_type=None)
        for case in cases:
            outcome = await echo_case(session, f"{base}/case/{case}", args.max_size)
            print(f"{case}: {outcome}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
