"""The store's statements as the server receives them."""

from __future__ import annotations

from zart.store.base import _Statements


def _statements() -> dict[str, str]:
    statements = _Statements("zart_t")
    return {name: value.decode() for name, value in vars(statements).items()}


def test_no_statement_calls_the_clock_function_it_reads_the_clock_table_once_instead() -> None:
    # clock_now() cannot be inlined (it reads a table): each call site would be planned
    # again at every execution, ~10-20 us each, four of them on a step's checkpoint.
    texts = _statements()
    assert texts, "no statements found"
    calling = sorted(name for name, text in texts.items() if "clock_now()" in text)
    assert calling == []
    assert '"zart_t".clock AS zart_clock' in texts["CHECKPOINT_NEW_OK"]
    assert not any("{now}" in text or "{s}" in text for text in texts.values())


def test_the_hot_checkpoint_gives_every_time_column_so_no_default_calls_the_clock() -> None:
    text = _statements()["CHECKPOINT_NEW_OK"]
    start = text.index("INSERT INTO")
    columns = text[start:text.index("SELECT", start)]
    for column in ("started_at", "finished_at", "created_at"):
        assert column in columns
