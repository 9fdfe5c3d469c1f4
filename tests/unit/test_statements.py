"""The store's statements as the server receives them."""

from __future__ import annotations

from zart.store.base import _Statements


def _statements() -> dict[str, str]:
    statements = _Statements("zart_t")
    return {name: value.decode() for name, value in vars(statements).items()}


# The statements whose WHERE clause picks rows by time through an index: they call the
# clock function so that the planner can estimate how many rows are due (see queries.common).
PICKS_ROWS_BY_TIME = {"CLAIM_EXECUTIONS", "CLAIM_CHILDREN", "COMPLETE_CHILDREN", "CLAIM_QUEUED",
                      "DUE_BACKLOG", "DUE_SCHEDULES", "PURGE_BATCH", "QUEUED_DUE",
                      "_CHILD_DUE"}  # the fragment of the two child claims


def test_only_statements_that_pick_rows_by_time_call_the_clock_function() -> None:
    # clock_now() cannot be inlined (it reads a table): each call site is planned again at
    # every execution, ~10-20 us each, four of them on a step's checkpoint.
    texts = _statements()
    assert texts, "no statements found"
    calling = {name for name, text in texts.items() if "clock_now()" in text} - {"CLOCK_NOW"}
    assert calling <= PICKS_ROWS_BY_TIME, sorted(calling - PICKS_ROWS_BY_TIME)
    assert "CLAIM_EXECUTIONS" in calling
    for hot in ("CHECKPOINT_NEW_OK", "CHECKPOINT", "COMPLETE", "BEGIN_ATTEMPT"):
        assert "clock_now()" not in texts[hot], hot
    assert '"zart_t".clock AS zart_clock' in texts["CHECKPOINT_NEW_OK"]
    assert not any("{now}" in text or "{s}" in text for text in texts.values())


def test_the_hot_checkpoint_gives_every_time_column_so_no_default_calls_the_clock() -> None:
    text = _statements()["CHECKPOINT_NEW_OK"]
    start = text.index("INSERT INTO")
    columns = text[start:text.index("SELECT", start)]
    for column in ("started_at", "finished_at", "created_at"):
        assert column in columns
