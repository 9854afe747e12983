"""A hostile HTTP server on 127.0.0.1, on raw asyncio sockets (no framework to tame it).

Run as ``python tests/hostile_server.py``: it prints its port, then serves until killed.
``GET /v2/workers`` is a healthy ``[{"id": 1}]`` (keep-alive), to show a client is still
usable after a hostile answer. ``GET /v2/clients/surname/MODE`` answers as MODE says:

- ``endless_array``: a 200 JSON array of records that never ends;
- ``gzip_bomb``: the same, gzip-compressed (about 1,000 to 1 on the wire);
- ``endless_500``: a 500 whose body never ends;
- ``endless_string``: a 200 array whose first record holds a string that never ends;
- ``deep``: a 200 array holding one ~100 KiB record nested 50,000 levels deep;
- ``stall``: a 200 that sends ``[`` and then nothing;
- ``trickle``: a 200 array that sends one byte every 50 ms, forever;
- ``redirect``: a 302 to another host.

Any other method (a write, an upload) is answered by ``endless_500``, body unread.

The endless answers stop when the client goes away.
"""

from __future__ import annotations

import asyncio
import zlib

RECORD = b'{"id": 1, "surname": "Lee", "note": "' + b"x" * 100 + b'"},'
BLOCK = RECORD * (64 * 1024 // len(RECORD))


def _head(status: str, *extra: str, length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", *extra]
    lines.append(f"Content-Length: {length}" if length is not None else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _endless(writer: asyncio.StreamWriter, head: bytes, first: bytes, block: bytes) -> None:
    writer.write(head + first)
    while True:
        writer.write(block)
        await writer.drain()


async def _gzip_bomb(writer: asyncio.StreamWriter) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    writer.write(_head("200 OK", "Content-Encoding: gzip") + packer.compress(b"["))
    big = BLOCK * 16
    while True:
        writer.write(packer.compress(big) + packer.flush(zlib.Z_SYNC_FLUSH))
        await writer.drain()


async def _trickle(writer: asyncio.StreamWriter) -> None:
    writer.write(_head("200 OK") + b'[{"id": 1},')
    while True:
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b" ")


async def _answer(mode: str, writer: asyncio.StreamWriter) -> None:
    if mode == "endless_array":
        await _endless(writer, _head("200 OK"), b"[", BLOCK)
    elif mode == "gzip_bomb":
        await _gzip_bomb(writer)
    elif mode == "endless_500":
        await _endless(writer, _head("500 Internal Server Error"), b"", b"x" * 65536)
    elif mode == "endless_string":
        await _endless(writer, _head("200 OK"), b'[{"id": 1, "note": "', b"a" * 65536)
    elif mode == "deep":
        body = b'[{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}]"
        writer.write(_head("200 OK", length=len(body)) + body)
    elif mode == "stall":
        writer.write(_head("200 OK") + b"[")
        await writer.drain()
        await asyncio.sleep(3600)
    elif mode == "trickle":
        await _trickle(writer)
    elif mode == "redirect":
        where = "Location: https://evil.example/v2/clients/surname/Lee"
        writer.write(_head("302 Found", where, length=0))
    else:
        writer.write(_head("404 Not Found", length=2) + b"{}")
    await writer.drain()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path, _ = head.decode("latin-1").split(" ", 2)
            if method != "GET":
                await _answer("endless_500", writer)
                break
            if path == "/v2/workers":
                body = b'[{"id": 1}]'
                writer.write(_head("200 OK", length=len(body)) + body)
                await writer.drain()
                continue  # keep-alive
            await _answer(path.rsplit("/", 1)[-1], writer)
            break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
