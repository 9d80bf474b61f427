"""The outbound worker killed around the remote's reply (issue 7, "Faults").

The remote MX is the scripted Sink of test_queue_outbound. When it has
read a message's data it kills the server with SIGKILL, either

- before it replies: the remote never said 250, so the message must be
  delivered again after the restart (a queue that dropped the entry once
  the data was sent would lose it), or
- right after its 250: the queue may not have recorded the delivery yet,
  so the message may arrive twice, but never more than once per kill and
  never zero times.

Each round submits a batch, kills once, restarts; at the end every message
reached the remote at least once, duplicates are at most one per "after"
kill, and the queue is empty.
"""

import os
import re
import signal
import sys
import threading
import time
import unittest

from harness import Server
from test_queue_outbound import PASSWORD, Sink, submit, wait_for

ROUNDS = 6          # alternating before/after kills
PER_ROUND = 3       # messages submitted per round


class OutboundKillTest(unittest.TestCase):
    def setUp(self):
        self.sink = Sink()
        self.server = Server(extra_config=(
            "[queue]\nretry_schedule = [1]\ndelay_warning_seconds = 0\n"
            'routes = { "example.net" = "127.0.0.1:%d" }\n' % self.sink.port))
        self.addCleanup(self.server._tmp.cleanup)
        self.server.start()
        self.server.add_user("alice@example.org", PASSWORD)
        self.armed = None            # "before" / "after" / None
        self.killed = threading.Event()
        self.sink.on_data_end = self.on_data_end

    def tearDown(self):
        self.sink.stop()
        code = self.server.stop()
        self.assertEqual(code, 0, self.server.stderr())

    def on_data_end(self, when, data):
        if self.armed is None or self.armed[0] != when or \
                f"Subject: {self.armed[1]}\r\n".encode() not in data:
            return False
        self.armed = None
        os.kill(self.server.proc.pid, signal.SIGKILL)
        self.killed.set()
        return True  # "before": drop the connection, no reply

    def restart(self):
        self.server.proc.wait(timeout=60)
        self.server.proc = None
        self.server.start()

    def subjects_at_sink(self):
        with self.sink.lock:
            out = []
            for _, _, data in self.sink.messages:
                m = re.search(rb"^Subject: (\S+)\r$", data, re.M)
                out.append(m.group(1).decode())
            return out

    def test_no_loss_and_one_duplicate_at_most_per_kill(self):
        sent = []
        after_kills = 0
        for r in range(ROUNDS):
            when = "before" if r % 2 == 0 else "after"
            after_kills += when == "after"
            self.killed.clear()
            # Killed when the round's last message reaches the remote.
            self.armed = (when, f"r{r}m{PER_ROUND - 1}")
            for i in range(PER_ROUND):
                subject = f"r{r}m{i}"
                sent.append(subject)
                submit(self.server, ["bob@example.net"],
                       (f"From: alice@example.org\r\nTo: bob@example.net\r\n"
                        f"Subject: {subject}\r\n\r\nround {r}\r\n").encode())
            self.assertTrue(self.killed.wait(60), f"round {r}: no delivery")
            self.restart()

        def all_arrived():
            got = set(self.subjects_at_sink())
            return all(s in got for s in sent)
        wait_for(all_arrived, timeout=120)
        wait_for(lambda: "bob@example.net" not in
                 self.server.admin("queue", "list").stdout, timeout=60)
        time.sleep(1.5)  # one more retry period: nothing else goes out
        got = self.subjects_at_sink()
        duplicates = len(got) - len(set(got))
        print(f"{len(got)} deliveries of {len(sent)} messages, "
              f"{duplicates} duplicates, {after_kills} kills after 250",
              file=sys.stderr)
        self.assertLessEqual(duplicates, after_kills, sorted(got))
        self.assertEqual(set(got), set(sent))


if __name__ == "__main__":
    unittest.main()
