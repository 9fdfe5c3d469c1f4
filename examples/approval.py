"""An approval flow: a human decision arrives as an event, and the workflow acts on it.

An expense request is submitted, the approver is notified, and the workflow waits for the
event "approval" whose payload says ``{"approved": true/false, "by": ..., "reason": ...}``.
Approved requests are paid out, rejected ones are answered with the reason.

It also shows how the event inbox behaves:

* an event may arrive *before* the workflow reaches its wait: it is stored and consumed when
  the wait is reached (the first request is approved at once, while it is still being
  submitted);
* events are deduplicated per execution and name: a second "approval" changes nothing, the
  first decision stands (``send_event`` returns False);
* an event for an execution that has finished is refused with ``zart.ExecutionFinished``.

Run it with ``python examples/approval.py`` (embedded PostgreSQL unless ``ZART_DATABASE_URL``
is set).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Generator
from typing import Any

import psycopg

import zart
from zart.embedded import embedded_dsn

SCHEMA = "example_approval"


def say(message: str = "") -> None:
    """Print at once."""
    print(message, flush=True)


@zart.step("submit")
def submit(request: dict[str, Any]) -> str:
    """File the request in the expense system; returns its ticket number."""
    time.sleep(0.3)  # a slow back office: the early approval below arrives meanwhile
    ticket = f"EXP-{request['id'].split('-')[-1].zfill(4)}"
    say(f"  submit: {request['employee']} asks for {request['amount']:.2f} "
        f"({request['purpose']}), ticket {ticket}")
    return ticket


@zart.step("notify-approver")
def notify_approver(ticket: str, approver: str) -> None:
    """Tell the approver there is something to decide."""
    say(f"  notify-approver: {approver}, please decide on {ticket}")


@zart.step("pay-out", retry=zart.exponential(3, "500ms"))
def pay_out(ticket: str, employee: str, amount: float) -> str:
    """Reimburse the employee."""
    transfer = f"TR-{ticket}"
    say(f"  pay-out: {amount:.2f} transferred to {employee} ({transfer})")
    return transfer


@zart.step("notify-rejection")
def notify_rejection(ticket: str, employee: str, reason: str) -> None:
    """Tell the employee why the request was rejected."""
    say(f"  notify-rejection: {employee}, {ticket} was rejected: {reason}")


@zart.workflow("expense-approval", timeout="30d")
def expense_approval(request: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    """Submit, wait for the decision, then pay out or explain the rejection."""
    ticket = yield submit(request)
    yield notify_approver(ticket, request["approver"])
    decision = yield zart.wait_for_event("approval", timeout="7d")
    if decision["approved"]:
        transfer = yield pay_out(ticket, request["employee"], request["amount"])
        return {"ticket": ticket, "status": "paid", "by": decision["by"], "transfer": transfer}
    yield notify_rejection(ticket, request["employee"], decision["reason"])
    return {"ticket": ticket, "status": "rejected", "by": decision["by"],
            "reason": decision["reason"]}


def reset(dsn: str) -> None:
    """Drop this example's own schema so every run starts clean."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def wait_until_waiting(handle: zart.Handle, timeout: float = 10.0) -> None:
    """Wait until the execution is suspended (here: on its "approval" wait)."""
    deadline = time.monotonic() + timeout
    while handle.status() != "waiting":
        if time.monotonic() > deadline:
            raise SystemExit(f"FAILED: {handle.id} did not reach its wait")
        time.sleep(0.05)


def main() -> int:
    """Approve one request, reject another; 0 if each workflow acted on its decision."""
    say("== zart example: approval flow ==")
    dsn = os.environ.get("ZART_DATABASE_URL") or embedded_dsn()
    reset(dsn)
    app = zart.Zart(dsn, schema=SCHEMA)
    with app.worker(threads=4, lease=5, poll_interval=0.5):
        first = app.start(expense_approval, {
            "id": "expense-1", "employee": "dana", "amount": 89.00,
            "purpose": "conference ticket", "approver": "carol"}, id="expense-1")
        say("expense-1 started; carol approves it right away, before the workflow even "
            "waits:")
        delivered = app.send_event(first.id, "approval", {"approved": True, "by": "carol"})
        say(f"  send_event('approval', approved) -> {delivered} (stored in the inbox)")
        again = app.send_event(first.id, "approval", {"approved": False, "by": "mallory",
                                                      "reason": "changed my mind"})
        say(f"  a second 'approval' (a rejection) -> {again}: the first decision stands")
        first_result = first.result(timeout=30)

        second = app.start(expense_approval, {
            "id": "expense-2", "employee": "erik", "amount": 1450.00,
            "purpose": "standing desk", "approver": "carol"}, id="expense-2")
        say("\nexpense-2 started; it waits for carol's decision...")
        wait_until_waiting(second)
        time.sleep(0.2)
        say(f"  expense-2 is {second.status()!r}; carol rejects it:")
        app.send_event(second.id, "approval",
                       {"approved": False, "by": "carol", "reason": "over the 1000.00 limit"})
        second_result = second.result(timeout=30)

        try:
            app.send_event(second.id, "approval", {"approved": True, "by": "carol"})
            late = "accepted (unexpected)"
        except zart.ExecutionFinished:
            late = "refused with ExecutionFinished"
        say(f"\nA late 'approval' for the finished expense-2 is {late}.")
    app.close()

    say(f"\nexpense-1: {first_result}")
    say(f"expense-2: {second_result}")
    ok = (delivered and not again and first_result["status"] == "paid"
          and second_result["status"] == "rejected" and late.startswith("refused"))
    if ok:
        say("OK: expense-1 was paid out, expense-2 was rejected with its reason.")
        return 0
    say("FAILED: unexpected approval outcome.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
