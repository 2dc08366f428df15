"""The demo's webhook receiver: where celadon's alert notifications land.

Listens on 127.0.0.1 (a free port, written to --port-file), answers 200 to
every POST and prints one line per notification: the time, its status,
rule and summary (or the raw body if it is not celadon's generic JSON).

Usage: python webhook_sink.py --port-file FILE
Stops on SIGINT/SIGTERM.
"""

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A notification is a few kB; anything much larger is not one.
MAX_BODY = 1 << 20


class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        body = self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        try:
            notice = json.loads(body)
            line = "{status:<8} {rule}: {summary}  {link}".format(
                status=notice.get("status", "?"),
                rule=notice.get("rule", "?"),
                summary=notice.get("summary", ""),
                link=notice.get("link", ""),
            )
        except (ValueError, AttributeError):
            line = body.decode("utf-8", "replace")
        stamp = time.strftime("%H:%M:%S")
        delivery = self.headers.get("X-Celadon-Delivery", "-")
        print(f"{stamp} {self.path} [{delivery}] {line}", flush=True)

    def log_message(self, *_):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    with open(args.port_file, "w") as f:
        f.write(str(server.server_address[1]))
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
