"""Echo server on the Python `websockets` library: a widely used implementation
nobody on the team wrote, for wschaos's integration tests. Listens on 127.0.0.1
only; prints `listening on ws://127.0.0.1:PORT/` once ready. The text message
`wschaos:close` is not echoed: the server closes the connection with 1000.

    ws_echo_server.py [--port N] [--require-header 'Name: value'] [--subprotocol NAME]...
                      [--max-size BYTES] [--deflate-flaw keeps-context|wide-window]
                      [--tls-cert PEM --tls-key PEM]

--require-header answers 401 to an upgrade without that header (a token, say);
--subprotocol names a subprotocol the server agrees to when offered; --max-size
is the largest message taken (the library's default is 1 MiB). --deflate-flaw
makes a deliberately broken permessage-deflate, for the checker's tests: the
server agrees to what the client asks (server_no_context_takeover,
server_max_window_bits) and then does not keep to it: `keeps-context` compresses
each message with the previous ones' context, `wide-window` with a 15-bit window.
--tls-cert and --tls-key serve wss:// instead (the line printed says wss://)."""

import argparse
import ssl
import asyncio
from http import HTTPStatus

from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)


class FlawedDeflate(ServerPerMessageDeflateFactory):
    """Answers as the library does, then compresses against the answer."""

    def __init__(self, flaw):
        super().__init__()
        self.flaw = flaw

    def process_request_params(self, params, accepted_extensions):
        response, ext = super().process_request_params(params, accepted_extensions)
        local_no_context = ext.local_no_context_takeover
        local_bits = ext.local_max_window_bits
        if self.flaw == "keeps-context":
            local_no_context = False
        else:
            local_bits = 15
        flawed = PerMessageDeflate(
            ext.remote_no_context_takeover,
            local_no_context,
            ext.remote_max_window_bits,
            local_bits,
        )
        return response, flawed


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
    parser.add_argument("--max-size", type=int, default=2**20)
    parser.add_argument("--deflate-flaw", choices=["keeps-context", "wide-window"])
    parser.add_argument("--tls-cert", help="serve wss:// with this PEM chain")
    parser.add_argument("--tls-key", help="the private key (PEM) of --tls-cert")
    args = parser.parse_args()
    ssl_context = None
    if args.tls_cert:
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    extensions = None
    if args.deflate_flaw:
        extensions = [FlawedDeflate(args.deflate_flaw)]

    def check(connection, request):
        if args.require_header:
            name, value = (p.strip() for p in args.require_header.split(":", 1))
            if request.headers.get(name) != value:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "token required\n")
        return None

    async with serve(
        echo,
        "127.0.0.1",
        args.port,
        process_request=check,
        subprotocols=args.subprotocol,
        max_size=args.max_size,
        extensions=extensions,
        compression=None if extensions else "deflate",
        ssl=ssl_context,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        scheme = "wss" if ssl_context else "ws"
        print(f"listening on {scheme}://127.0.0.1:{port}/", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
