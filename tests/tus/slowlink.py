"""A TCP relay that carries client->server bytes at a set rate: a slow uplink, so a PATCH is still on the wire
when its client is killed. It counts what it delivered to the server."""

from __future__ import annotations

import socket
import threading
import time

PIECE = 64 * 1024


class SlowLink:
    def __init__(self, target_port: int, bytes_per_s: int) -> None:
        self.target_port, self.rate = target_port, bytes_per_s
        self.delivered = 0  # client -> server bytes handed to the server, all connections
        self._listener = socket.socket()
        # A small receive buffer: the client cannot run far ahead of the link, so what it has sent is about what
        # the link carried (a cut then loses little in flight, as on a real slow uplink).
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="slowlink").start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, slow: bool) -> None:
        start, sent = time.monotonic(), 0
        try:
            while True:
                data = src.recv(PIECE)
                if not data:
                    break
                if slow:  # pace the uplink: this is the simulated link speed, not a wait for the test
                    sent += len(data)
                    ahead = sent / self.rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
                dst.sendall(data)
                if slow:
                    self.delivered += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for s in self._socks:
            s.close()
