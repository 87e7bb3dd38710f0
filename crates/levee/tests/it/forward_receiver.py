"""A Fluentd-protocol receiver made with the msgpack package alone, to check
what levee's forward output sends with a decoder no one here wrote.

usage: forward_receiver.py OUT

Listens on 127.0.0.1, a port the system chooses, and prints that port.
Takes connections one after another; each message must be PackedForward or
CompressedPackedForward ([tag, bin, options], as levee sends them), its
entries [EventTime, record] with as many as options["size"] says. Appends
one JSON line per event to OUT: {"tag", "time": [seconds, nanoseconds],
"record", "compressed"}, then answers {"ack": chunk} when asked.
"""

import gzip
import json
import socket
import sys

import msgpack


def event_time(t):
    if isinstance(t, msgpack.ExtType) and t.code == 0 and len(t.data) == 8:
        return [int.from_bytes(t.data[:4], "big"), int.from_bytes(t.data[4:], "big")]
    raise ValueError(f"a time that is not EventTime: {t!r}")


def take(message, out):
    tag, entries, options = message
    if not isinstance(tag, str) or not isinstance(entries, bytes):
        raise ValueError(f"not PackedForward: {message!r:.200}")
    compressed = options.get("compressed") == "gzip"
    if compressed:
        entries = gzip.decompress(entries)
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(entries)
    n = 0
    for time, record in unpacker:
        line = {"tag": tag, "time": event_time(time), "record": record, "compressed": compressed}
        out.write(json.dumps(line) + "\n")
        n += 1
    if n != options.get("size"):
        raise ValueError(f"{n} entries, size says {options.get('size')}")
    out.flush()


def main():
    out = open(sys.argv[1], "a")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    print(server.getsockname()[1], flush=True)
    while True:
        conn, _ = server.accept()
        unpacker = msgpack.Unpacker(raw=False)
        while True:
            data = conn.recv(65536)
            if not data:
                break
            unpacker.feed(data)
            for message in unpacker:
                take(message, out)
                chunk = message[2].get("chunk")
                if chunk is not None:
                    conn.sendall(msgpack.packb({"ack": chunk}))
        conn.close()


if __name__ == "__main__":
    main()
