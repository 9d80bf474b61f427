"""The server's read paths when the socket is quiet but data is waiting
elsewhere (src/net/connection.cc FillBuffer).

A connection waits for the socket to become readable only when nothing is
buffered anywhere; these tests send many commands at once so that, after
the first read, the rest sits inside OpenSSL (one TLS record holds up to
16 KB, the server reads 4 KB at a time) or inside the inflater (COMPRESS=
DEFLATE: a few compressed bytes inflate to far more than one read). A
server that waited for the socket there would hang: every reply must come
without the client sending anything more.
"""

import socket
import ssl
import zlib
import unittest

from harness import LineClient, ServerTestCase, client_tls_context

ALICE = "alice@example.org"
PASSWORD = "read-paths-pass"
COUNT = 2000  # x "aNNNN NOOP\r\n" = ~24 KB: more than one TLS record


def noops(numbered=True):
    if numbered:
        return b"".join(b"a%04d NOOP\r\n" % i for i in range(COUNT))
    # Compresses to a few hundred bytes.
    return b"a NOOP\r\n" * (COUNT - 1) + b"last NOOP\r\n"


class ReadPathTest(ServerTestCase):
    server_args = {"extra_config": "[auth]\nallow_plaintext = true\n"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.add_user(ALICE, PASSWORD)

    def read_tagged(self, recv, last_tag):
        """Reads lines until the tagged reply to `last_tag`; returns the
        number of tagged OKs seen."""
        buf, oks = b"", 0
        while True:
            chunk = recv()
            if not chunk:
                self.fail("connection closed after %d replies" % oks)
            buf += chunk
            *lines, buf = buf.split(b"\r\n")
            for line in lines:
                if not line.startswith(b"*") and b" OK " in line:
                    oks += 1
                    if line.startswith(last_tag + b" "):
                        return oks

    def test_pipelined_commands_inside_tls_records(self):
        raw = socket.create_connection(("127.0.0.1",
                                        self.server.port("imaps")),
                                       timeout=20)
        s = client_tls_context().wrap_socket(raw)
        try:
            s.recv(4096)  # greeting
            s.sendall(noops())
            oks = self.read_tagged(lambda: s.recv(65536),
                                   b"a%04d" % (COUNT - 1))
            self.assertEqual(oks, COUNT)
        finally:
            s.close()

    def test_pipelined_commands_inside_deflate(self):
        c = LineClient(self.server.connect("imap"))
        try:
            self.assertTrue(c.line().startswith("* OK"))
            c.send("l LOGIN %s \"%s\"\r\n" % (ALICE, PASSWORD))
            while not c.line().startswith("l OK"):
                pass
            c.send("z COMPRESS DEFLATE\r\n")
            while not (line := c.line()).startswith("z "):
                pass
            self.assertTrue(line.startswith("z OK"), line)
            comp = zlib.compressobj(9, zlib.DEFLATED, -15)
            data = comp.compress(noops(numbered=False)) + comp.flush(
                zlib.Z_SYNC_FLUSH)
            self.assertLess(len(data), 4096)  # one read inflates to ~18 KB
            c.sock.sendall(data)
            inflate = zlib.decompressobj(-15)
            pending = [c.buf] if c.buf else []  # read with the OK, deflated
            c.buf = b""

            def recv():
                while True:  # a partial block inflates to nothing yet
                    raw = pending.pop() if pending else c.sock.recv(65536)
                    if not raw:
                        return b""
                    out = inflate.decompress(raw)
                    if out:
                        return out
            oks = self.read_tagged(recv, b"last")
            self.assertEqual(oks, COUNT)
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
