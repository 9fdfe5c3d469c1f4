"""One LISTEN connection per process and database: every wake-up and every result waiter.

Workers subscribe to ``<schema>_work`` (new or due work) and result waiters to
``<schema>_done`` (an execution finished; the payload is its id). A thousand threads waiting
for results cost one connection, held by one thread; nobody waiting holds a pooled connection
(ARCHITECTURE invariant 12). A NOTIFY is a hint, not a promise: after the connection is lost
and made again, every subscriber is woken as if notified, so it looks for itself.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from .base import translate_errors
from .queries import clients as queries

__all__ = ["Listener", "Subscription", "listener_for"]

log = logging.getLogger(__name__)

_POLL = 0.1
"""Seconds the listening thread waits for notifications before it looks at new channels."""

Callback = Callable[[str | None], None]
"""Called with a notification's payload, or None after a reconnection (look for yourself)."""


@dataclass(eq=False)
class Subscription:
    """A callback registered for a channel, and (optionally) for one payload only."""

    channel: str
    callback: Callback
    payload: str | None = None
    listening: threading.Event = field(default_factory=threading.Event)


class Listener:
    """The process's LISTEN connection to one database, shared by every client and worker."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._lock = threading.Lock()
        # Per channel: payload (None: any payload) -> subscriptions. Indexed by payload so a
        # notification costs the same with one result waiter as with a thousand.
        self._channels: dict[str, dict[str | None, list[Subscription]]] = {}
        self._listening: set[str] = set()
        self._thread: threading.Thread | None = None
        self._exiting = False
        self._exit_hooked = False

    def subscribe(self, channel: str, callback: Callback, payload: str | None = None,
                  wait: float = 0.0) -> Subscription:
        """Call ``callback`` on every notification of ``channel`` (with ``payload`` only, if
        given); with ``wait``, block up to that long until the channel is listened to, so a
        caller that then checks the database cannot miss a notification sent after it."""
        subscription = Subscription(channel, callback, payload)
        with self._lock:
            self._channels.setdefault(channel, {}).setdefault(payload, []).append(subscription)
            if channel in self._listening:
                subscription.listening.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="zart-listener")
                self._thread.start()
                if not self._exit_hooked:
                    # Registered now, after an embedded server's own exit handler (they run
                    # last first): at exit the listener hears first that a lost connection
                    # is expected.
                    atexit.register(self._at_exit)
                    self._exit_hooked = True
        if wait > 0:
            subscription.listening.wait(wait)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop calling ``subscription``'s callback."""
        with self._lock:
            by_payload = self._channels.get(subscription.channel, {})
            subscribers = by_payload.get(subscription.payload, [])
            if subscription in subscribers:
                subscribers.remove(subscription)
            if not subscribers:
                by_payload.pop(subscription.payload, None)

    def _run(self) -> None:
        backoff = 0.1
        while self._wanted():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10,
                                     application_name=f"zart-listener-{os.getpid()}"
                                     ) as conn, translate_errors():
                    backoff = 0.1
                    self._serve(conn)
            except Exception as exc:  # supervised: lost, reconnect (polling covers the gap)
                if self._exiting:
                    return  # the interpreter exits (an embedded server stops): not a fault
                log.warning("listener: %s; reconnecting in %.1fs", exc, backoff)
            finally:
                with self._lock:
                    self._listening.clear()
                    for subscription in self._all():
                        subscription.listening.clear()
            threading.Event().wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _at_exit(self) -> None:
        self._exiting = True

    def _wanted(self) -> bool:
        """Whether anyone still subscribes; if not, the thread ends (under the lock, so a new
        subscription starts a new one) and nothing keeps reconnecting to a database nobody
        uses any more."""
        with self._lock:
            if self._thread is not threading.current_thread():
                return False  # replaced by a newer thread after this one decided to end
            if any(subs for by_payload in self._channels.values()
                   for subs in by_payload.values()):
                return True
            self._thread = None
            return False

    def _all(self) -> list[Subscription]:
        return [s for by_payload in self._channels.values() for subs in by_payload.values()
                for s in subs]

    def _serve(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        reconnected = True
        while self._wanted():
            self._listen_to_new_channels(conn, reconnected)
            reconnected = False
            for note in conn.notifies(timeout=_POLL):
                self._dispatch(note.channel, note.payload)

    def _listen_to_new_channels(self, conn: psycopg.Connection[tuple[object, ...]],
                                reconnected: bool) -> None:
        with self._lock:
            new = [c for c in self._channels if c not in self._listening]
        for channel in new:
            conn.execute(queries.LISTEN.format(channel=channel))
            with self._lock:
                self._listening.add(channel)
        with self._lock:
            ready = [s for s in self._all() if not s.listening.is_set()]
            for subscription in ready:
                subscription.listening.set()
        if reconnected:  # anything announced while nobody listened: look for yourselves
            for subscription in ready:
                _call(subscription, None)

    def _dispatch(self, channel: str, payload: str) -> None:
        with self._lock:
            by_payload = self._channels.get(channel, {})
            subscribers = [*by_payload.get(None, ()), *by_payload.get(payload, ())]
        for subscription in subscribers:
            _call(subscription, payload)


def _call(subscription: Subscription, payload: str | None) -> None:
    try:
        subscription.callback(payload)
    except Exception:  # a subscriber's bug must not silence everyone else
        log.exception("listener: a callback for %s failed", subscription.channel)


_LISTENERS: dict[str, Listener] = {}
_LISTENERS_LOCK = threading.Lock()


def listener_for(dsn: str) -> Listener:
    """The process's listener for the database at ``dsn`` (created on first use)."""
    with _LISTENERS_LOCK:
        listener = _LISTENERS.get(dsn)
        if listener is None:
            listener = _LISTENERS[dsn] = Listener(dsn)
        return listener
