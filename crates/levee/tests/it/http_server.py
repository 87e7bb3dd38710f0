"""An HTTP endpoint for the http output's tests, on Python's http.server.

Usage: http_server.py LOG STATUS...

Listens on 127.0.0.1 on a port the system chooses and prints it on the
first line of stdout. Request number i (from 0) is answered with STATUS[i],
then 200 once they run out; a status written `429:2` also sends
`Retry-After: 2`. Each request is logged to LOG as one JSON line: when it
came (monotonic seconds), the status sent, its headers of interest, and
its records (the body gunzipped if it says gzip, then read as NDJSON or a
JSON array).
"""

import gzip
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1]
SCRIPT = sys.argv[2:]
lock = threading.Lock()
seen = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        encoding = self.headers.get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        text = body.decode("utf-8")
        if self.headers.get("Content-Type") == "application/json":
            records = json.loads(text)
        else:
            records = [json.loads(line) for line in text.splitlines() if line]
        with lock:
            n = seen[0]
            seen[0] += 1
            step = SCRIPT[n] if n < len(SCRIPT) else "200"
            status, _, retry_after = step.partition(":")
            entry = {
                "at": time.monotonic(),
                "status": int(status),
                "path": self.path,
                "encoding": encoding,
                "content_type": self.headers.get("Content-Type"),
                "authorization": self.headers.get("Authorization"),
                "x_source": self.headers.get("X-Source"),
                "records": records,
            }
            with open(LOG, "a") as log:
                log.write(json.dumps(entry) + "\n")
        answer = b'{"ok":true}' if status == "200" else b"no"
        self.send_response(int(status))
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
