"""Echo server on the Python `websockets` library: a widely used implementation
nobody on the team wrote, for wschaos's integration tests. Listens on 127.0.0.1
only; prints `listening on ws://127.0.0.1:PORT/` once ready. The text message
`wschaos:close` is not echoed: the server closes the connection with 1000.

    ws_echo_server.py [--port N] [--require-header 'Name: value'] [--subprotocol NAME]...

--require-header answers 401 to an upgrade without that header (a token, say);
--subprotocol names a subprotocol the server agrees to when offered."""

import argparse
import asyncio
from http import HTTPStatus

from websockets.asyncio.server import serve


async def echo(ws):
    try:
        async for message in ws:
            if message == "wschaos:close":
                await ws.close(1000)
                return
            await ws.send(message)
    except Exception:
        # The library has already failed the connection with its close code.
        pass


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--require-header")
    parser.add_argument("--subprotocol", action="append", default=None)
    args = parser.parse_args()

    def check(connection, request):
        if args.require_header:
            name, value = (p.strip() for p in args.require_header.split(":", 1))
            if request.headers.get(name) != value:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "token required\n")
        return None

    async with serve(
        echo, "127.0.0.1", args.port, process_request=check, subprotocols=args.subprotocol
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
