"""The fault campaign as tests.

* ``test_campaign_short``: one seeded run of about 40 s in the default test run
  (``ZART_CAMPAIGN_SEED`` picks another seed, ``ZART_CAMPAIGN_SHORT_SECONDS`` another length).
* ``test_campaign_long`` (slow): several seeds and focuses for ``ZART_CAMPAIGN_SECONDS`` each
  (default 120); ``ZART_CAMPAIGN_SEEDS="1,2,3"`` picks the seeds.
* ``test_regression`` (slow): every seed in ``regressions.py``, as it failed once.

Each run has a private embedded PostgreSQL (it restarts it), whatever ``ZART_DATABASE_URL``
says. A failure prints the whole report: the violations with their evidence, and the command
that replays the seed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .config import FOCUSES, Config, Focus
from .regressions import REGRESSIONS, Regression
from .runner import run

DEFAULT_SEED = 33
LONG_SEEDS = "101,102,103"


@contextmanager
def quiet_clients() -> Iterator[None]:
    """The campaign process's own zart client logs every connection a restart killed; on a
    failure pytest would print thousands of those lines above the report."""
    loggers = [logging.getLogger(n) for n in ("zart", "psycopg", "psycopg.pool")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def campaign(seed: int, duration: float, focus: Focus = "all") -> None:
    """Run one campaign; fail with its report if a check found a violation."""
    with quiet_clients():
        report = run(Config(seed=seed, duration=duration, focus=focus))
    text = report.render()
    print(text)
    if not report.ok:
        kinds = "; ".join(f"{n} x [{check}] {what}"
                          for (check, what), n in sorted(report.verdict.kinds().items()))
        problems = "; ".join(report.problems)
        pytest.fail(f"campaign seed {seed} found {len(report.verdict.violations)} violations: "
                    f"{kinds}{f' (harness: {problems})' if problems else ''}\n"
                    f"replay: {report.config.replay_command()}", pytrace=False)


def test_campaign_short() -> None:
    seed = int(os.environ.get("ZART_CAMPAIGN_SEED", DEFAULT_SEED))
    campaign(seed, float(os.environ.get("ZART_CAMPAIGN_SHORT_SECONDS", "30")))


def _long_cases() -> list[tuple[int, Focus]]:
    seeds = [int(s) for s in os.environ.get("ZART_CAMPAIGN_SEEDS", LONG_SEEDS).split(",") if s]
    return [(seed, FOCUSES[i % len(FOCUSES)]) for i, seed in enumerate(seeds)]


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "focus"), _long_cases())
def test_campaign_long(seed: int, focus: Focus) -> None:
    campaign(seed, float(os.environ.get("ZART_CAMPAIGN_SECONDS", "120")), focus)


@pytest.mark.slow
@pytest.mark.parametrize("case", REGRESSIONS, ids=lambda r: f"seed{r.seed}-{r.focus}")
def test_regression(case: Regression) -> None:
    assert case.focus in FOCUSES
    campaign(case.seed, case.duration, case.focus)
