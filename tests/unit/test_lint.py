"""zart lint's analysis (zart.lint): what it flags in workflow bodies, what it leaves alone, and
how a line is silenced. Pure: sources are strings, nothing is imported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from zart.lint import Finding, scan_source, source_files


def scan(body: str, imports: str = "", extra: str = "") -> list[Finding]:
    """Lint a module with ``imports`` and one workflow ``checkout`` whose body is ``body``."""
    source = "import zart\n" + textwrap.dedent(imports) + "\n" + textwrap.dedent(extra) + \
        '\n@zart.workflow("checkout")\ndef checkout(order):\n' + \
        textwrap.indent(textwrap.dedent(body), "    ") + "\n"
    return scan_source(source, "flows.py")


def rules(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule, f.code) for f in findings]


@pytest.mark.parametrize(("imports", "body", "expected"), [
    # the wall clock, however it was imported
    ("import datetime", "x = datetime.datetime.now()", [("clock", "datetime.datetime.now")]),
    ("from datetime import datetime", "x = datetime.now()", [("clock", "datetime.now")]),
    ("from datetime import datetime as dt, date", "x = (dt.utcnow(), date.today())",
     [("clock", "dt.utcnow"), ("clock", "date.today")]),
    ("import time as t", "started = t.time()", [("clock", "t.time")]),
    ("from time import monotonic", "started = monotonic()", [("clock", "monotonic")]),
    # a blocking sleep
    ("import time", "time.sleep(60)", [("sleep", "time.sleep")]),
    # random numbers
    ("import random", "n = random.randint(1, 6)", [("random", "random.randint")]),
    ("from uuid import uuid4", "key = str(uuid4())", [("random", "uuid4")]),
    ("import uuid, secrets", "key = (uuid.uuid4(), secrets.token_hex())",
     [("random", "uuid.uuid4"), ("random", "secrets.token_hex")]),
    ("import os", "salt = os.urandom(8)", [("random", "os.urandom")]),
    # the environment
    ("import os", 'region = os.environ["REGION"]', [("environment", "os.environ")]),
    ("import os", 'region = os.environ.get("REGION")', [("environment", "os.environ.get")]),
    ("from os import getenv, environ", 'r = getenv("R") or environ["R"]',
     [("environment", "getenv"), ("environment", "environ")]),
    # network and file I/O
    ("", 'text = open("prices.csv").read()', [("io", "open")]),
    ("import requests", 'rates = requests.get("https://x").json()', [("io", "requests.get")]),
    ("import urllib.request", 'urllib.request.urlopen("https://x")',
     [("io", "urllib.request.urlopen")]),
    ("import subprocess", 'subprocess.run(["ls"])', [("io", "subprocess.run")]),
    ("from pathlib import Path", 'config = Path("c.toml").read_text()',
     [("io", "Path('c.toml').read_text")]),
    ("import os.path", 'exists = os.path.exists("x")', [("io", "os.path.exists")]),
    # threads
    ("import threading", "threading.Thread(target=print).start()",
     [("thread", "threading.Thread")]),
    ("from concurrent.futures import ThreadPoolExecutor", "pool = ThreadPoolExecutor(4)",
     [("thread", "ThreadPoolExecutor")]),
])
def test_non_deterministic_calls_in_a_body_are_flagged(imports: str, body: str,
                                                       expected: list[tuple[str, str]]) -> None:
    assert rules(scan(body, imports)) == expected


def test_a_finding_names_the_line_column_workflow_reason_and_alternative() -> None:
    [finding] = scan("txn = yield charge(order)\nwhen = datetime.now()",
                     "from datetime import datetime")
    assert (finding.path, finding.line, finding.column) == ("flows.py", 7, 12)
    assert finding.workflow == "checkout"
    assert "reads the wall clock" in finding.reason
    assert 'zart.now("name")' in finding.instead
    assert str(finding).startswith("flows.py:7:12: clock: datetime.now in workflow 'checkout' "
                                   "reads the wall clock")


def test_steps_and_ordinary_functions_are_never_flagged() -> None:
    source = textwrap.dedent('''
        import time, random, zart

        @zart.step("charge")
        def charge(order):
            time.sleep(1)
            return random.random()

        def helper():
            return time.time()

        @zart.workflow("checkout")
        def checkout(order):
            @zart.step("inner")
            def inner():
                return time.time()
            yield inner()
            return (yield charge(order))
    ''')
    assert scan_source(source, "flows.py") == []


def test_what_zart_capture_records_is_not_flagged_but_the_rest_of_the_call_is() -> None:
    findings = scan('''
        def new_key():
            return uuid.uuid4().hex
        key = yield zart.capture("key", new_key)
        roll = yield zart.capture("roll", lambda: random.randint(1, 6))
        other = yield zart.capture(f"at-{time.time()}", fn=lambda: random.random())
    ''', "import uuid, random, time")
    assert rules(findings) == [("clock", "time.time")]


def test_a_helper_defined_in_the_body_runs_in_it_and_is_flagged() -> None:
    findings = scan('''
        def stamp():
            return time.time()
        yield zart.sleep("nap", stamp())
    ''', "import time")
    assert rules(findings) == [("clock", "time.time")]


def test_local_names_that_shadow_imports_or_builtins_are_not_flagged() -> None:
    findings = scan('''
        time = yield zart.now("started")
        open = order["open"]
        print(time.isoformat(), open)
    ''', "import time", "def input():\n    return 1\n")
    assert findings == []
    assert scan("x = input()", extra="def input():\n    return 1\n") == []


@pytest.mark.parametrize(("decorator", "imports"), [
    ('@zart.workflow("checkout")', ""),
    ('@workflow("checkout")', "from zart import workflow"),
    ('@z.workflow("checkout", timeout="1h")', "import zart as z"),
    ("@zart.workflow", ""),
])
def test_every_way_of_declaring_a_workflow_is_recognised(decorator: str, imports: str) -> None:
    source = f"import zart, time\n{imports}\n{decorator}\ndef checkout(order):\n" \
             f"    yield time.time()\n"
    [finding] = scan_source(source, "flows.py")
    assert finding.workflow == "checkout"


def test_a_comment_silences_its_line_or_only_the_rules_it_names() -> None:
    findings = scan('''
        a = time.time()  # zart: allow
        b = (time.time(), random.random())  # zart: allow clock
        c = "# zart: allow"; d = time.time()
        e = time.time()  # zart:allow  random, io
    ''', "import time, random")
    assert [(f.line, f.rule) for f in findings] == [(8, "random"), (9, "clock"), (10, "clock")]


def test_a_source_that_does_not_parse_says_where() -> None:
    with pytest.raises(SyntaxError) as raised:
        scan_source("import zart\ndef broken(:\n", "bad.py")
    assert raised.value.filename == "bad.py" and raised.value.lineno == 2


def test_sources_are_files_directories_or_dotted_modules(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "flows.py").write_text("x = 1\n")
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "skipped.py").write_text("x = 1\n")
    assert source_files(str(tmp_path)) == [tmp_path / "pkg" / "flows.py"]
    assert source_files(str(tmp_path / "pkg" / "flows.py")) == [tmp_path / "pkg" / "flows.py"]
    [rules_file] = source_files("zart.lint.rules")
    assert rules_file.name == "rules.py"
    package = source_files("zart.lint")
    assert {p.name for p in package} >= {"__init__.py", "rules.py", "scanner.py"}


@pytest.mark.parametrize(("spec", "fragment"), [
    ("no_such_module_anywhere", "no module named 'no_such_module_anywhere'"),
    ("missing/flows.py", "no such file or directory: missing/flows.py"),
])
def test_a_source_that_is_nowhere_is_named(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        source_files(spec)
