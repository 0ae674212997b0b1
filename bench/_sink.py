"""The loopback limit: a minimal HTTP sink that writes every body byte to a file on the same disk.

    python bench/_sink.py --dir D [--no-fsync]

Prints ``LISTENING <port>``. One thread per connection: read the request head, then ``recv_into`` a 1 MiB
buffer and ``os.write`` it until Content-Length bytes are in, ``fsync`` (as the front door does before its
202), answer ``202`` and delete the file. No parsing, no hashing, no Redis: nothing but the copies.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import uuid

CHUNK = 1024 * 1024


def handle(conn: socket.socket, directory: str, fsync: bool) -> None:
    with conn:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        path = os.path.join(directory, f"sink-{uuid.uuid4().hex}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, rest)
            got = len(rest)
            block = bytearray(CHUNK)
            view = memoryview(block)
            while got < length:
                n = conn.recv_into(view, min(CHUNK, length - got))
                if n == 0:
                    return
                w = 0
                while w < n:
                    w += os.write(fd, view[w:n])
                got += n
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(path)
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\n{}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--no-fsync", action="store_true")
    a = p.parse_args()
    srv = socket.create_server(("127.0.0.1", 0), backlog=64)
    print(f"LISTENING {srv.getsockname()[1]}", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn, a.dir, not a.no_fsync), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
