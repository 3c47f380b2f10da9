"""Sends seeded random messages with the Python `websockets` client (which offers
permessage-deflate) and checks each echo; wss:// URLs with --ca-file PEM. Exit 0 when all came back unchanged,
1 otherwise; prints one line. Loopback only, used by wschaos's proxy tests."""

import argparse
import asyncio
import random
import ssl
import sys

from websockets.asyncio.client import connect


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ca-file", help="wss:// URLs: trust only this CA (PEM)")
    args = parser.parse_args()
    context = None
    if args.url.startswith("wss://"):
        context = ssl.create_default_context(cafile=args.ca_file)
    rng = random.Random(args.seed)
    try:
        async with connect(
            args.url, open_timeout=5, close_timeout=2, max_size=2**22, ssl=context
        ) as ws:
            for i in range(args.count):
                size = rng.choice([0, 1, 125, 126, 65535, 65536, 200_000]) + rng.randrange(100)
                if i % 2:
                    msg = "".join(rng.choice("abcxyz λ€𝄞") for _ in range(size // 4))
                else:
                    msg = rng.randbytes(size)
                await ws.send(msg)
                echo = await asyncio.wait_for(ws.recv(), 10)
                if echo != msg:
                    print(f"message {i} came back changed")
                    return 1
        print(f"ok {args.count}")
        return 0
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
