"""The README's walk-through "Changing a workflow safely", step by step, on real executions:
the replay check fails on the naive edit (and the naive deploy breaks a waiting execution for
good), zart.patched() fixes it, the check passes, and old and new executions complete; then
the patch is retired with zart.deprecate_patch() once the check allows it.

The four versions are examples/versioning/checkout_v1.py, _v2_naive.py, _v2.py and _v3.py.
"""

from __future__ import annotations

from typing import Any

import zart
from tests.cli.conftest import ROOT, ZartCli
from zart.testing import isolated_registry, load_workflows, run_until_idle

VERSIONS = "examples/versioning"


def deploy(version: str) -> Any:
    """The module of ``version``, loaded as the code the workers now run."""
    return load_workflows(ROOT / VERSIONS / f"checkout_{version}.py")


def statuses(app: zart.Zart, *ids: str) -> list[str]:
    return [app.handle(i).status() for i in ids]


def ship(app: zart.Zart, *ids: str) -> None:
    for order_id in ids:
        app.send_event(order_id, "shipped", {"tracking": f"T-{order_id}"})
    run_until_idle(app)


def test_changing_a_workflow_safely(zart_app: zart.Zart, zart_dsn: str) -> None:
    app = zart_app
    cli = ZartCli(zart_dsn, app.schema)

    # 1. Version 1 runs; three orders wait (up to a week) for their parcel to ship.
    with isolated_registry():
        v1 = deploy("v1")
        for order_id in ("o-1", "o-2", "o-3"):
            app.start(v1.checkout, {"id": order_id}, id=order_id)
        run_until_idle(app)
    assert statuses(app, "o-1", "o-2", "o-3") == ["waiting"] * 3

    # 2. The naive edit adds a fraud check at the top. The check refuses it...
    naive = cli("replay-check", f"{VERSIONS}/checkout_v2_naive.py")
    assert naive.code == 1, naive
    assert "3 execution(s) would break on this code" in naive.err
    assert "  -      0  step 'charge'\n  +      0  step 'check-fraud'\n" in naive.out
    # ...and rightly: deployed anyway, the next wake-up of a waiting order fails it for good.
    with isolated_registry():
        deploy("v2_naive")
        ship(app, "o-3")
    assert statuses(app, "o-3") == ["failed"]
    assert app.handle("o-3").describe().error["type"] == "NonDeterminismError"

    # 3. The fraud check behind zart.patched("fraud-check"): the check passes. Retiring the
    # patch already would not: orders of version 1 are still open.
    patched, too_early = cli.many([["replay-check", f"{VERSIONS}/checkout_v2.py"],
                                   ["replay-check", f"{VERSIONS}/checkout_v3.py"]])
    assert patched.code == 0, patched
    assert "checked 2 open and 0 finished execution(s) of checkout" in patched.out
    assert too_early.code == 1 and "2 execution(s) would break" in too_early.err, too_early

    # Deployed: old orders finish without the check, new ones go through it.
    with isolated_registry():
        v2 = deploy("v2")
        app.start(v2.checkout, {"id": "o-4"}, id="o-4")
        app.start(v2.checkout, {"id": "o-5", "card": "stolen"}, id="o-5")
        run_until_idle(app)
        ship(app, "o-1", "o-2", "o-4")
        app.start(v2.checkout, {"id": "o-6"}, id="o-6")  # still waiting at the next deploy
        run_until_idle(app)
    results = {i: app.handle(i).result(timeout=0) for i in ("o-1", "o-2", "o-4", "o-5")}
    assert results["o-1"] == {"order": "o-1", "txn": "txn-o-1", "fraud_score": None,
                              "receipt": "receipt o-1: txn-o-1, T-o-1"}
    assert results["o-2"]["fraud_score"] is None
    assert results["o-4"] == {"order": "o-4", "txn": "txn-o-4", "fraud_score": 0.1,
                              "receipt": "receipt o-4: txn-o-4, T-o-4"}
    assert results["o-5"] == {"order": "o-5", "refused": "fraud", "fraud_score": 0.9}
    assert statuses(app, "o-6") == ["waiting"]

    # 4. No order of version 1 is open any more: the patch can be retired.
    retire = cli("replay-check", f"{VERSIONS}/checkout_v3.py")
    assert retire.code == 0, retire
    with isolated_registry():
        v3 = deploy("v3")
        app.start(v3.checkout, {"id": "o-7"}, id="o-7")
        run_until_idle(app)
        ship(app, "o-6", "o-7")
    assert app.handle("o-6").result(timeout=0)["fraud_score"] == 0.1  # recorded under v2
    assert app.handle("o-7").result(timeout=0)["fraud_score"] == 0.1  # started under v3
