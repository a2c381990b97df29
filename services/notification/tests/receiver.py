"""A webhook receiver for the tests: verifies every delivery with the
Standard Webhooks reference library, fails the first N requests to /hook
with STATUS (503 unless given), answers 410 on /gone, and logs
`OK|BAD <webhook-id>` lines.

usage: receiver.py PORT SECRET_FILE LOG_FILE FAIL_FIRST [STATUS]
"""

import http.server
import sys

from standardwebhooks.webhooks import Webhook

port, secret_file, log_file, fail_first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
fail_status = int(sys.argv[5]) if len(sys.argv) > 5 else 503
state = {"seen": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path == "/gone":
            self.send_response(410)
            self.end_headers()
            return
        state["seen"] += 1
        if state["seen"] <= fail_first:
            self.send_response(fail_status)
            self.end_headers()
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        with open(secret_file) as f:
            secret = f.read().strip()
        try:
            Webhook(secret).verify(body, headers)
            verdict, code = "OK", 204
        except Exception:
            verdict, code = "BAD", 400
        with open(log_file, "a") as f:
            f.write(f"{verdict} {headers.get('webhook-id', '')}\n")
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
