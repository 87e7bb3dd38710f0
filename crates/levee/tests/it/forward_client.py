"""Forward-protocol clients for the e2e tests of levee's forward source.

usage: forward_client.py HOST PORT MODE N

  logger      N events through the fluent-logger package's FluentSender
              (Message mode, EventTime), tag app.logger
  packed      one PackedForward frame of N events with a chunk id, tag
              app.packed; waits for the ack
  compressed  one CompressedPackedForward frame (gzip) of N events with a
              chunk id, tag app.compressed; waits for the ack

The packed modes also take, from the environment, FORWARD_SHARED_KEY (do
the shared_key handshake first, and check the server's PONG digest) and
FORWARD_TLS_CA (connect with TLS, trusting that certificate file).

Prints a JSON object: {"sent": N, "acks": [...]} (the chunk ids acked).
"""

import base64
import gzip
import hashlib
import json
import os
import socket
import ssl
import sys
import time

import msgpack
from fluent import sender


def event_time(seconds):
    return msgpack.ExtType(0, int(seconds).to_bytes(4, "big") + (123).to_bytes(4, "big"))


def entries(n, prefix):
    out = bytearray()
    for i in range(n):
        out += msgpack.packb([event_time(1717200000 + i), {"msg": f"{prefix} {i}", "n": i}])
    return bytes(out)


def connect(host, port):
    s = socket.create_connection((host, port), timeout=30)
    ca = os.environ.get("FORWARD_TLS_CA")
    if ca:
        context = ssl.create_default_context(cafile=ca)
        s = context.wrap_socket(s, server_hostname=host)
    return s


def next_object(s, unpacker):
    while True:
        for obj in unpacker:
            return obj
        data = s.recv(4096)
        if not data:
            raise SystemExit("connection closed before the answer")
        unpacker.feed(data)


def handshake(s, unpacker, key):
    helo = next_object(s, unpacker)
    if helo[0] != "HELO":
        raise SystemExit(f"expected HELO, got {helo!r}")
    nonce = helo[1]["nonce"]
    nonce = nonce if isinstance(nonce, bytes) else nonce.encode()
    salt = os.urandom(16).hex()
    hostname = "forward-client"
    digest = hashlib.sha512(salt.encode() + hostname.encode() + nonce + key.encode()).hexdigest()
    s.sendall(msgpack.packb(["PING", hostname, salt, digest, "", ""]))
    pong = next_object(s, unpacker)
    if pong[0] != "PONG" or pong[1] is not True:
        raise SystemExit(f"refused: {pong!r}")
    proof = hashlib.sha512(salt.encode() + pong[3].encode() + nonce + key.encode()).hexdigest()
    if pong[4] != proof:
        raise SystemExit(f"the server's digest is wrong: {pong!r}")


def send_chunk(host, port, frame_of):
    chunk = base64.b64encode(os.urandom(16)).decode()
    with connect(host, port) as s:
        unpacker = msgpack.Unpacker(raw=False)
        key = os.environ.get("FORWARD_SHARED_KEY")
        if key:
            handshake(s, unpacker, key)
        s.sendall(msgpack.packb(frame_of(chunk), use_bin_type=True))
        return chunk, next_object(s, unpacker)


def main():
    host, port, mode, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    acks = []
    if mode == "logger":
        logger = sender.FluentSender("app", host=host, port=port, nanosecond_precision=True)
        for i in range(n):
            if not logger.emit("logger", {"msg": f"logger {i}", "n": i}):
                raise SystemExit(f"emit failed: {logger.last_error}")
        logger.close()
    elif mode in ("packed", "compressed"):
        body = entries(n, mode)
        if mode == "compressed":
            body = gzip.compress(body)
            options = lambda chunk: {"chunk": chunk, "size": n, "compressed": "gzip"}
        else:
            options = lambda chunk: {"chunk": chunk, "size": n}
        chunk, answer = send_chunk(host, port, lambda c: [f"app.{mode}", body, options(c)])
        if answer != {"ack": chunk}:
            raise SystemExit(f"answer {answer!r}, expected the ack of {chunk!r}")
        acks.append(chunk)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps({"sent": n, "acks": acks}))


if __name__ == "__main__":
    main()
