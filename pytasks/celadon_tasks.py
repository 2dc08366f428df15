"""A small Celery app for celadon's demo and tests.

Tasks cover what a dashboard must show: fast successes, failures,
self-retries, slow tasks, ETA tasks (sent with eta=/countdown=), and tasks
with large arguments. The broker comes from CELADON_BROKER; the result
backend from CELADON_BACKEND (optional: Redis, or a database,
db+postgresql://… or db+sqlite:///…). CELADON_WORKER_EVENTS=0 starts
workers sending no task events until told to (enable_events).
"""

import json
import os
import tempfile
import time

from celery import Celery
from celery.contrib.abortable import AbortableTask

app = Celery(
    "celadon_tasks",
    broker=os.environ.get("CELADON_BROKER", "redis://localhost:6379/0"),
    backend=os.environ.get("CELADON_BACKEND") or None,
)
# Celery reads these only from the app's configuration (the worker's command
# line has no flag for them): JSON in the environment, for the kit's TLS and
# Sentinel brokers.
for setting, variable in [
    ("broker_transport_options", "CELADON_BROKER_TRANSPORT_OPTIONS"),
    ("result_backend_transport_options", "CELADON_BACKEND_TRANSPORT_OPTIONS"),
]:
    if os.environ.get(variable):
        app.conf[setting] = json.loads(os.environ[variable])
app.conf.update(
    task_send_sent_event=True,
    worker_send_task_events=os.environ.get("CELADON_WORKER_EVENTS", "1") != "0",
    task_track_started=True,
    result_extended=True,
    result_expires=3600,
    # Keep workers quiet and quick to start in tests.
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task
def add(x, y):
    """A fast success."""
    return x + y


@app.task
def fail(message="boom"):
    """Always fails with ValueError(message)."""
    raise ValueError(message)


@app.task(bind=True, max_retries=5)
def flaky(self, failures=2, delay=0.5):
    """Fails `failures` times, retrying itself each time, then succeeds."""
    if self.request.retries < failures:
        raise self.retry(
            exc=RuntimeError(f"attempt {self.request.retries} failed"),
            countdown=delay,
        )
    return f"succeeded after {self.request.retries} retries"


@app.task
def slow(seconds=5.0):
    """Sleeps, so it can be seen running (and terminated)."""
    time.sleep(seconds)
    return seconds


@app.task
def echo(*args, **kwargs):
    """Returns what it was given: for large and odd arguments."""
    return {"nargs": len(args), "kwargs": sorted(kwargs)}


@app.task
def charge(order):
    """Fails the first time it runs for an order (the payment gateway times
    out) and succeeds when run again with the same order: what a retry from
    the dashboard is for. Remembers orders in $CELADON_RECORD_DIR."""
    folder = os.environ.get("CELADON_RECORD_DIR") or tempfile.gettempdir()
    marker = os.path.join(folder, f"charged-{order}")
    if not os.path.exists(marker):
        with open(marker, "w", encoding="utf-8"):
            pass
        raise ConnectionError(f"payment gateway timed out charging order {order}")
    return f"charged order {order}"


@app.task(bind=True)
def record(self, *args, **kwargs):
    """Writes the arguments it was given, as JSON, to
    $CELADON_RECORD_DIR/<task id>.json (so tests can check them from the
    worker's side), then fails if kwargs has fail=True."""
    path = os.path.join(os.environ["CELADON_RECORD_DIR"], f"{self.request.id}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump([args, kwargs], f, sort_keys=True)
    if kwargs.get("fail"):
        raise ValueError("recorded; failing as asked")
    return len(args)


@app.task(bind=True)
def echo_raw(self, *args, **kwargs):
    """Writes json.dumps([args, kwargs]) to
    $CELADON_RECORD_DIR/<task id>.raw.json. Python's json keeps the kwargs'
    order and writes numbers as Python spells them, so two calls recorded
    the same way had the same arguments, in the same order."""
    path = os.path.join(os.environ["CELADON_RECORD_DIR"], f"{self.request.id}.raw.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps([args, kwargs]))
    return len(args)


@app.task(bind=True, base=AbortableTask)
def abortable(self, seconds=30.0):
    """Runs until aborted through the result backend (Flower's and
    celadon's /api/task/abort), looking every 0.1 s, or until `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if self.is_aborted():
            return "aborted"
        time.sleep(0.1)
    return "ran out"
