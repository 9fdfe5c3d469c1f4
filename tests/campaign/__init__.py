"""A randomized, seeded, Jepsen-style fault campaign against zart (a test harness only).

Worker subprocesses run workflows that use every command (``app.py``); a driver starts
executions (some from three processes at the same moment), sends events (early, in time,
twice, late, right at the deadline) and cancels some (``driver.py``); a nemesis kills, pauses,
disconnects, cancels, times out, restarts and stops the server and moves the clock under them
(``nemesis.py``). Then everything is healed, every execution is let finish, and the evidence
(a ledger of real step runs, an audit trigger on zart's tables with commit times, a business
table written by the transactional steps, the event inbox, the driver's own log) is checked
against a pure model of what each workflow must return (``model.py``, ``checks*.py``).
Everything derives from one integer seed (``plan.py``, ``nemesis.py``); a seed replays the
same workload and fault schedule, not the same interleaving.

Running it::

    python -m tests.campaign --seed 7 --duration 60 [--workers 3] [--focus timed] [--keep]
    .venv/bin/python -m pytest tests/campaign                    # short run + checker tests
    .venv/bin/python -m pytest -m slow tests/campaign            # long runs and regressions
    ZART_CAMPAIGN_SEEDS=5,6 ZART_CAMPAIGN_SECONDS=90 .venv/bin/python -m pytest -m slow \\
        tests/campaign -k long

Each run has its own embedded PostgreSQL in ``.zart/campaign/<pid>`` (removed afterwards, as
are the directories of runs that were killed) and runs a copy of zart taken when it began
(``.zart/campaign/<pid>/engine``), so an engine edited meanwhile does not mix two versions.
A run with violations keeps its worker logs and one JSON file of evidence per execution at
fault in ``.zart/campaign-failed/seed<N>-<focus>-<pid>/``.

Reading a report: "checks run" counts the facts each check verified; "note" lines are facts
that are allowed but worth knowing (timeouts a fault explains, lost leases, late events that
correctly lost); each violation names its check, what broke and the rows that show it.

Modules: ``config`` (settings, names), ``plan`` (the workload), ``model`` (expected results),
``app`` / ``ledger`` / ``worker`` (the subprocess side), ``server`` (private server, evidence
schema), ``procs`` (subprocess control), ``driver``, ``nemesis``, ``runner`` (one run),
``evidence`` / ``history`` (what the checks read), ``checks`` / ``checks_history`` /
``checks_events`` (the eight checks), ``verdict`` / ``report`` (the outcome), ``regressions``
(seeds that failed once), ``test_campaign`` / ``test_checks`` (pytest entry points).
"""
