"""A durable loop: one checkpointed step per page, named from a template.

The workflow first fetches the list of pages *in a step*, so that every replay iterates over
the same, recorded list. Then it fetches each page with the step ``"fetch-page-{page}"``: the
template gives every iteration its own name, and every name is checkpointed on its own.

To show why that matters, the workflow body crashes on its first attempt right after page 3
(a simulated bug; the workflow has ``retry=zart.fixed(1, ...)``). The second attempt replays
pages 1 to 3 from their checkpoints, without fetching them again, and fetches only pages 4
and 5. The demo counts the fetches per page and exits 0 only if every page was fetched once.

Run it with ``python examples/durable_loop.py`` (embedded PostgreSQL unless
``ZART_DATABASE_URL`` is set).
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from collections.abc import Generator
from typing import Any

import psycopg

import zart
from zart.embedded import embedded_dsn

SCHEMA = "example_loop"
PAGES = [1, 2, 3, 4, 5]
CRASH_AFTER_PAGE = 3

fetches: Counter[int] = Counter()  # how often each page was really fetched (this process)
_lock = threading.Lock()


def say(message: str = "") -> None:
    """Print at once."""
    print(message, flush=True)


@zart.step("list-pages")
def list_pages(source: str) -> list[int]:
    """Ask the API which pages exist (the answer is recorded, so replays see the same list)."""
    say(f"  list-pages: {source} has pages {PAGES}")
    return PAGES


@zart.step("fetch-page-{page}", retry=zart.exponential(3, "200ms"))
def fetch_page(source: str, page: int) -> int:
    """Fetch one page and return how many records it held."""
    with _lock:
        fetches[page] += 1
    records = 10 * page
    say(f"  fetch-page-{page}: {records} records")
    return records


@zart.workflow("import-pages", retry=zart.fixed(1, "300ms"))
def import_pages(source: str) -> Generator[Any, Any, dict[str, Any]]:
    """Fetch every page of ``source``; crashes once (attempt 1) to show the replay."""
    attempt = zart.context().attempt
    pages = yield list_pages(source)
    total = 0
    for page in pages:
        total += yield fetch_page(source, page)
        if page == CRASH_AFTER_PAGE and attempt == 1:
            say(f"  !! the workflow body crashes after page {page} (attempt {attempt}); "
                "zart retries the body")
            raise RuntimeError("simulated crash in the workflow body")
    return {"source": source, "pages": len(pages), "records": total, "attempts": attempt}


def reset(dsn: str) -> None:
    """Drop this example's own schema so every run starts clean."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def main() -> int:
    """Run the import; 0 if each page was fetched exactly once despite the crash."""
    say("== zart example: a durable loop over pages ==")
    dsn = os.environ.get("ZART_DATABASE_URL") or embedded_dsn()
    reset(dsn)
    app = zart.Zart(dsn, schema=SCHEMA)
    with app.worker(threads=2, lease=5, poll_interval=0.5):
        result = app.start(import_pages, "https://api.example.com/reports",
                           id="import-1").result(timeout=30)
    app.close()

    say(f"\nResult: {result}")
    say(f"Fetches per page: {dict(sorted(fetches.items()))}")
    if result["attempts"] == 2 and result["records"] == 150 and \
            all(fetches[p] == 1 for p in PAGES) and len(fetches) == len(PAGES):
        say("OK: every page was fetched exactly once; attempt 2 replayed pages 1-3 from "
            "their checkpoints.")
        return 0
    say("FAILED: some page was fetched more (or less) than once.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
