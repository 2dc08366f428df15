"""Sends tasks and control commands to the broker in CELADON_BROKER, for
celadon's tests and tools.

  drive.py send NAME [--args JSON] [--kwargs JSON] [--countdown S]
                     [--queue Q] [--count N]      prints one task id per line
  drive.py revoke ID [--terminate] [--signal SIG]
"""

import argparse
import json
import sys

import celadon_tasks


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    send = sub.add_parser("send")
    send.add_argument("name")
    send.add_argument("--args", default="[]")
    send.add_argument("--kwargs", default="{}")
    send.add_argument("--countdown", type=float)
    send.add_argument("--queue")
    send.add_argument("--count", type=int, default=1)
    revoke = sub.add_parser("revoke")
    revoke.add_argument("id")
    revoke.add_argument("--terminate", action="store_true")
    revoke.add_argument("--signal", default="SIGTERM")
    opts = parser.parse_args()

    app = celadon_tasks.app
    if opts.command == "send":
        name = opts.name if "." in opts.name else f"celadon_tasks.{opts.name}"
        options = {}
        if opts.countdown is not None:
            options["countdown"] = opts.countdown
        if opts.queue:
            options["queue"] = opts.queue
        for _ in range(opts.count):
            result = app.send_task(name, args=json.loads(opts.args), kwargs=json.loads(opts.kwargs), **options)
            print(result.id)
    elif opts.command == "revoke":
        app.control.revoke(opts.id, terminate=opts.terminate, signal=opts.signal)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
