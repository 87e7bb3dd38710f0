"""A stand-in for Fluent Bit in `levee bench forward`'s tests: what the
bench needs of it and no more. `--version` names it; `-c FILE` reads the
port of the [INPUT] forward section, takes forward-protocol frames on it,
and prints after each frame, as Fluent Bit's `counter` output does after a
flush, `[time, n] (total = N)`. With FAKE_FLUENT_BIT_EXTRA=k it says k
events more than it got, so the bench's exactness check can be seen to
fail.
"""

import os
import re
import signal
import socket
import sys
import time

import msgpack

if sys.argv[1:] == ["--version"]:
    print("Fluent Bit v0.0.0 (a stand-in for tests)")
    sys.exit(0)

config = open(sys.argv[sys.argv.index("-c") + 1]).read()
assert re.search(r"^\s*Name\s+forward\s*$", config, re.M), config
assert re.search(r"^\s*Name\s+counter\s*$", config, re.M), config
port = int(re.search(r"^\s*Port\s+(\d+)\s*$", config, re.M).group(1))
extra = int(os.environ.get("FAKE_FLUENT_BIT_EXTRA", "0"))

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(16)
total = 0
while True:
    conn, _ = server.accept()
    frames = msgpack.Unpacker(raw=True, max_buffer_size=1 << 30)
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        frames.feed(data)
        for frame in frames:
            entries = frame[1]
            if isinstance(entries, bytes):
                unpacker = msgpack.Unpacker(raw=True, max_buffer_size=1 << 30)
                unpacker.feed(entries)
                n = sum(1 for _ in unpacker)
            else:
                n = len(entries)
            total += n
            print(f"[{time.time():.6f}, {n}] (total = {total + extra})", flush=True)
    conn.close()
