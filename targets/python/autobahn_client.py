"""An Autobahn|Testsuite fuzzingserver client on the Python `websockets` library,
following the URL sequence of websockets' own compliance client (read, not
copied): /getCaseCount, then /runCase?case=N&agent=AGENT for N = 1..count, echoing
every text and binary message unchanged until the connection ends, then
/updateReports?agent=AGENT. Loopback only; for wschaos's harness tests.

    autobahn_client.py [--url ws://127.0.0.1:9001] [--agent websockets.asyncio]
"""

import argparse
import asyncio

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException


async def run(url, agent):
    async with connect(f"{url}/getCaseCount") as ws:
        count = int(await ws.recv())
    for case in range(1, count + 1):
        try:
            async with connect(
                f"{url}/runCase?case={case}&agent={agent}", max_size=2**25
            ) as ws:
                async for message in ws:
                    await ws.send(message)
        except WebSocketException:
            pass
    async with connect(f"{url}/updateReports?agent={agent}", open_timeout=60):
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="ws://127.0.0.1:9001")
    parser.add_argument("--agent", default="websockets.asyncio")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.agent))
