"""A receiver nobody here wrote, for the tap's tests: python-hl7's asyncio MLLP server that
answers each message with python-hl7's own ``create_ack`` (AA). Prints its port, then serves
until killed."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import hl7
import hl7.mllp


async def answer(reader: Any, writer: Any) -> None:
    try:
        while not writer.is_closing():
            message = await reader.readmessage()
            writer.writemessage(message.create_ack("AA"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass


async def main() -> None:
    server = await hl7.mllp.start_hl7_server(answer, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
