"""The "ceiling": the smallest trio + hiredis GET/SET server we can write.

It is a measurement reference, not a product: whatever Shoal reaches is judged
against what a Python process on the same trio + hiredis stack can do at most.
No command table, no types, no expiry; GET, SET, CONFIG GET answered with an
empty value (so redis-benchmark does not warn), and +OK for everything else.

    python bench/ceiling.py --port 7000
"""
import argparse
import socket

import hiredis
import trio

STORE: dict[bytes, bytes] = {}


def reply(req: list) -> bytes:
    cmd = req[0].upper()
    if cmd == b"GET":
        value = STORE.get(req[1])
        return b"$-1\r\n" if value is None else b"$%d\r\n%b\r\n" % (len(value), value)
    if cmd == b"SET":
        STORE[req[1]] = req[2]
        return b"+OK\r\n"
    if cmd == b"CONFIG":  # redis-benchmark warns unless CONFIG GET x gives [x, value]
        return b"*2\r\n$%d\r\n%b\r\n$0\r\n\r\n" % (len(req[-1]), req[-1])
    return b"+OK\r\n"


async def serve_client(sock: socket.socket) -> None:
    reader = hiredis.Reader()
    with sock:
        while True:
            await trio.lowlevel.wait_readable(sock)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            reader.feed(data)
            replies = []
            while (req := reader.gets()) is not False:
                replies.append(reply(req))
            out = memoryview(b"".join(replies))
            while out:
                try:
                    out = out[sock.send(out):]
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(sock)
                except OSError:
                    return


async def serve(host: str, port: int) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    listener.setblocking(False)
    async with trio.open_nursery() as nursery:
        while True:
            await trio.lowlevel.wait_readable(listener)
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            nursery.start_soon(serve_client, conn)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args()
    try:
        trio.run(serve, args.bind, args.port)
    except KeyboardInterrupt:
        pass
