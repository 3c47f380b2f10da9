"""Drives Autobahn|Testsuite's fuzzingserver with a Python client under test.

The target clients in targets/python speak wschaos's check-client protocol
(/cases, /case/<id>); Autobahn wants getCaseCount, runCase?case=N&agent=A and
updateReports?agent=A. This driver speaks Autobahn's protocol but echoes each case
with the target's own echo function, imported from targets/python, so both tools
see the same client code with the same options:

    autobahn_client.py --lib websockets|aiohttp --url ws://127.0.0.1:PORT --agent NAME
                       [--max-size BYTES]

--max-size is passed to the target's echo function, as the target client's own
--max-size would be (default: the target's default).

Prints one line per case (`N: outcome`) and exits 0 once updateReports has
answered. Loopback only (the URL is given by scripts/vs-autobahn)."""

import argparse
import asyncio
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "targets", "python"))


async def run_websockets(url, agent, max_size):
    from websockets.asyncio.client import connect

    from ws_echo_client import run_case

    async with connect(f"{url}/getCaseCount") as ws:
        count = json.loads(await ws.recv())
    for n in range(1, count + 1):
        outcome = await run_case(f"{url}/runCase?case={n}&agent={agent}", "deflate", max_size)
        print(f"{n}: {outcome}", flush=True)
    async with connect(f"{url}/updateReports?agent={agent}", open_timeout=120) as ws:
        async for _ in ws:
            pass


async def run_aiohttp(url, agent, max_size):
    import aiohttp

    from aiohttp_client import echo_case

    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}/getCaseCount") as ws:
            count = json.loads((await ws.receive()).data)
        for n in range(1, count + 1):
            outcome = await echo_case(session, f"{url}/runCase?case={n}&agent={agent}", max_size)
            print(f"{n}: {outcome}", flush=True)
        async with session.ws_connect(
            f"{url}/updateReports?agent={agent}",
            timeout=aiohttp.ClientWSTimeout(ws_receive=120),
        ) as ws:
            async for _ in ws:
                pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", choices=["websockets", "aiohttp"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--agent", required=True)
    parser.add_argument("--max-size", type=int)
    args = parser.parse_args()
    url = args.url.rstrip("/")
    if args.lib == "websockets":
        max_size = 2**20 if args.max_size is None else args.max_size
        asyncio.run(run_websockets(url, args.agent, max_size))
    else:
        max_size = 4 * 1024 * 1024 if args.max_size is None else args.max_size
        asyncio.run(run_aiohttp(url, args.agent, max_size))


if __name__ == "__main__":
    main()
