"""The demo's producer: keeps sending a mix of celadon_tasks.

Usage: python producer.py [--rate TASKS_PER_SECOND]
Stops on SIGINT/SIGTERM.
"""

import argparse
import random
import signal
import sys
import time
from datetime import datetime, timedelta, timezone

import celadon_tasks as t

running = True


def stop(*_):
    global running
    running = False


def send_one(rng):
    roll = rng.random()
    if roll < 0.5:
        t.add.delay(rng.randint(0, 100), rng.randint(0, 100))
    elif roll < 0.55:
        t.charge.delay(rng.randint(1000, 9999))
    elif roll < 0.67:
        t.fail.delay(rng.choice(["boom", "bad input", "upstream timed out"]))
    elif roll < 0.75:
        t.flaky.delay(failures=rng.randint(1, 2))
    elif roll < 0.85:
        t.slow.delay(round(rng.uniform(2, 8), 1))
    elif roll < 0.93:
        eta = datetime.now(timezone.utc) + timedelta(seconds=rng.randint(5, 30))
        t.add.apply_async((1, 2), eta=eta)
    else:
        t.echo.delay(list(range(rng.randint(500, 3000))), label="x" * rng.randint(100, 2000))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=4.0, help="tasks per second")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    rng = random.Random()
    interval = 1.0 / args.rate
    sent = 0
    while running:
        send_one(rng)
        sent += 1
        time.sleep(interval * rng.uniform(0.5, 1.5))
    print(f"producer: sent {sent} tasks", file=sys.stderr)


if __name__ == "__main__":
    main()
