"""Echo server on Python `aiohttp` (its defaults: 4 MiB message limit, pings
answered, permessage-deflate if offered), for wschaos's integration tests. Listens
on 127.0.0.1 only; prints `listening on ws://127.0.0.1:PORT/` once ready. The text
message `wschaos:close` is not echoed: the server closes the connection with 1000.
--max-size BYTES sets the largest message taken (aiohttp's max_msg_size; 0: no limit)."""

import argparse
import asyncio
import functools

from aiohttp import WSMsgType, web


async def echo(request, max_size=4 * 1024 * 1024):
    ws = web.WebSocketResponse(max_msg_size=max_size)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            if msg.data == "wschaos:close":
                await ws.close(code=1000)
                break
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    # A protocol error ends the loop after aiohttp has sent its Close.
    return ws


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-size", type=int, default=4 * 1024 * 1024)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", functools.partial(echo, max_size=args.max_size))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"listening on ws://127.0.0.1:{port}/", flush=True)
    await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
