"""zart in a web application: a stdlib WSGI app that starts workflows from HTTP requests.

The worker runs as background threads of the web process (``app.worker(...).start()``); the
request handlers only talk to the database through the client API, so they return at once.

Routes (JSON in, JSON out):

* ``POST /orders`` with ``{"id": "o-1", "amount": 12.5}`` starts the "web-order" workflow and
  answers ``202 {"id": ..., "status": ...}``. Starting is idempotent by id: posting the same
  order twice returns the same execution, which never runs twice.
* ``GET /orders/<id>`` answers ``{"id", "status"}`` plus ``"result"`` once completed or
  ``"error"`` once failed; ``404`` for an unknown id.
* ``POST /orders/<id>/events/<name>`` delivers an event (its body is the payload): ``202
  {"delivered": true}``, ``{"delivered": false}`` for a duplicate, ``404`` for an unknown
  execution, ``409`` for a finished one.

``python examples/web_app.py`` serves on http://127.0.0.1:8000 until Ctrl-C; try::

    curl -X POST localhost:8000/orders -d '{"id": "o-1", "amount": 12.5}'
    curl -X POST localhost:8000/orders/o-1/events/shipped -d '{"tracking": "UPS-1"}'
    curl localhost:8000/orders/o-1

``python examples/web_app.py --self-test`` starts the server on a free port in a thread,
makes those requests with urllib, checks the answers and exits 0 if they are right.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Generator, Iterable
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import psycopg

import zart
from zart.embedded import embedded_dsn

SCHEMA = "example_web"

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


def say(message: str = "") -> None:
    """Print at once."""
    print(message, flush=True)


# -- the workflow -----------------------------------------------------------------------------


@zart.step("charge", retry=zart.exponential(3, "500ms"))
def charge(order_id: str, amount: float) -> str:
    """Charge the customer."""
    return f"txn-{order_id}"


@zart.step("notify-customer")
def notify_customer(order_id: str, tracking: str) -> None:
    """Tell the customer the order is on its way."""
    say(f"  [worker] {order_id}: customer notified, tracking {tracking}")


@zart.workflow("web-order", timeout="1d")
def web_order(order: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    """Charge, wait for the "shipped" event, notify the customer."""
    txn = yield charge(order["id"], order["amount"])
    shipped = yield zart.wait_for_event("shipped", timeout="1d")
    yield notify_customer(order["id"], shipped["tracking"])
    return {"order": order["id"], "txn": txn, "tracking": shipped["tracking"]}


# -- the WSGI application -------------------------------------------------------------------


class OrdersAPI:
    """A tiny JSON API over a :class:`zart.Zart` client."""

    ORDER = re.compile(r"^/orders/([^/]+)$")
    EVENT = re.compile(r"^/orders/([^/]+)/events/([^/]+)$")

    def __init__(self, app: zart.Zart) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        try:
            if method == "POST" and path == "/orders":
                status, body = self.create(self._json(environ))
            elif method == "GET" and (m := self.ORDER.match(path)):
                status, body = self.show(m.group(1))
            elif method == "POST" and (m := self.EVENT.match(path)):
                status, body = self.event(m.group(1), m.group(2), self._json(environ))
            else:
                status, body = "404 Not Found", {"error": f"no route for {method} {path}"}
        except zart.ExecutionNotFound as exc:
            status, body = "404 Not Found", {"error": str(exc)}
        except zart.ExecutionFinished as exc:
            status, body = "409 Conflict", {"error": str(exc)}
        except (ValueError, KeyError, TypeError, zart.SerializationError) as exc:
            status, body = "400 Bad Request", {"error": f"{type(exc).__name__}: {exc}"}
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
        return [data]

    @staticmethod
    def _json(environ: Environ) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        return json.loads(raw) if raw else {}

    def create(self, order: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """POST /orders: start (or find) the execution for this order."""
        order = {"id": str(order.get("id") or uuid.uuid4().hex[:12]),
                 "amount": float(order["amount"])}
        handle = self.app.start(web_order, order, id=order["id"])
        return "202 Accepted", {"id": handle.id, "status": handle.status()}

    def show(self, execution_id: str) -> tuple[str, dict[str, Any]]:
        """GET /orders/<id>: status, and the result or error once finished."""
        handle = self.app.handle(execution_id)
        body: dict[str, Any] = {"id": execution_id, "status": handle.status()}
        if body["status"] == "completed":
            body["result"] = handle.result(timeout=0)
        elif body["status"] in ("failed", "cancelled"):
            try:
                handle.result(timeout=0)
            except zart.WorkflowFailed as exc:
                body["error"] = exc.cause
        return "200 OK", body

    def event(self, execution_id: str, name: str, payload: Any) -> tuple[str, dict[str, Any]]:
        """POST /orders/<id>/events/<name>: deliver an event."""
        delivered = self.app.send_event(execution_id, name, payload)
        return "202 Accepted", {"id": execution_id, "event": name, "delivered": delivered}


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request."""

    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    """No access log (the self-test prints its own lines)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


# -- running it -------------------------------------------------------------------------------


def connect(reset: bool) -> zart.Zart:
    """The zart client on this example's own schema (dropped first if ``reset``)."""
    dsn = os.environ.get("ZART_DATABASE_URL") or embedded_dsn()
    if reset:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    return zart.Zart(dsn, schema=SCHEMA)


def request(base: str, method: str, path: str,
            body: Any = None) -> tuple[int, dict[str, Any]]:
    """One HTTP request with urllib; (status code, decoded JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def self_test() -> int:
    """Serve on a free port in a thread, exercise every route; 0 if all answers are right."""
    say("== zart example: web app self-test ==")
    app = connect(reset=True)
    server = make_server("127.0.0.1", 0, OrdersAPI(app), server_class=ThreadingWSGIServer,
                         handler_class=QuietHandler)
    base = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    worker = app.worker(threads=4, lease=5, poll_interval=0.5).start()
    failures: list[str] = []

    def check(what: str, ok: bool, got: Any) -> None:
        say(f"  [{'ok' if ok else 'WRONG'}] {what}: {got}")
        if not ok:
            failures.append(what)

    try:
        say(f"serving on {base} with 4 worker threads in the same process")
        code, body = request(base, "POST", "/orders", {"id": "web-1", "amount": 12.5})
        check("POST /orders -> 202", code == 202 and body["id"] == "web-1", (code, body))
        code, body = request(base, "POST", "/orders", {"id": "web-1", "amount": 12.5})
        check("POST /orders again, same id -> same execution", code == 202
              and body["id"] == "web-1", (code, body))
        code, body = request(base, "GET", "/orders/web-1")
        check("GET /orders/web-1 -> not finished yet", code == 200
              and body["status"] in ("pending", "running", "waiting"), (code, body))
        code, body = request(base, "POST", "/orders/web-1/events/shipped",
                             {"tracking": "UPS-1Z999"})
        check("POST /orders/web-1/events/shipped -> delivered", code == 202
              and body["delivered"] is True, (code, body))
        deadline = time.monotonic() + 20
        while True:
            code, body = request(base, "GET", "/orders/web-1")
            if body.get("status") == "completed" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check("GET /orders/web-1 -> completed with the tracking number",
              body.get("status") == "completed"
              and body["result"]["tracking"] == "UPS-1Z999", (code, body))
        code, body = request(base, "POST", "/orders/web-1/events/shipped", {"tracking": "x"})
        check("an event for the finished order -> 409", code == 409, (code, body["error"]))
        code, body = request(base, "GET", "/orders/nope")
        check("GET /orders/nope -> 404", code == 404, (code, body["error"]))
        code, body = request(base, "POST", "/orders", {"id": "web-2"})
        check("POST /orders without an amount -> 400", code == 400, (code, body["error"]))
    finally:
        server.shutdown()
        server.server_close()
        worker.stop()
        app.close()
    if failures:
        say(f"FAILED: {len(failures)} check(s) went wrong")
        return 1
    say("OK: all routes answered as expected.")
    return 0


def serve(port: int) -> int:
    """Serve until Ctrl-C (or SIGTERM), with the worker threads in the same process.

    The schema is kept between runs: stop the server while an order waits for its event,
    start it again, and the order carries on.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    app = connect(reset=False)
    with app.worker(threads=8), \
            make_server("127.0.0.1", port, OrdersAPI(app),
                        server_class=ThreadingWSGIServer) as server:
        say(f"serving on http://127.0.0.1:{port} (Ctrl-C to stop); try:")
        say(f"  curl -X POST localhost:{port}/orders -d '{{\"id\": \"o-1\", \"amount\": 12.5}}'")
        say(f"  curl -X POST localhost:{port}/orders/o-1/events/shipped "
            "-d '{\"tracking\": \"UPS-1\"}'")
        say(f"  curl localhost:{port}/orders/o-1")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            say("\nstopping")
    app.close()
    return 0


def main() -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--self-test", action="store_true",
                        help="serve on a free port, make a few requests, check, exit")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    return self_test() if args.self_test else serve(args.port)


if __name__ == "__main__":
    sys.exit(main())
