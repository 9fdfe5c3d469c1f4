"""Bad input: hostile or wrong inputs, each refused with a clear error that names the problem,
and nothing lost or half-written.

One table, one test. Each case is a small function of an :class:`Env` and one of three kinds:

- ``rejected``: the call must raise the given type with the given words in its message, and the
  executions, steps and events tables (and the workflow registry) must be exactly as before;
- ``at_runtime``: the bad input reaches a worker; the execution must end failed with the given
  cause, and the steps completed before it (a marker step every such body runs first) must be
  intact and must not have run again;
- ``verbatim``: hostile strings that are *legal* (SQL injection attempts in ids, event names,
  payloads): stored byte for byte, round-tripped, and harmless (the tables are still there).

A case the engine currently gets wrong is marked ``xfail(strict=True)`` with the diagnosis in
its reason, so the suite stays green and turns red the day the engine is fixed.
"""

from __future__ import annotations

import enum
import json
import math
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import zart
from zart import serde
from zart.workflow import registered_workflows

from .conftest import wait_until

Sql = Callable[..., list[tuple[Any, ...]]]

TABLES = ("executions", "steps", "events")
ALL_TABLES = ("schema_version", "clock", *TABLES)
FINAL = ("completed", "failed", "cancelled")

_lock = threading.Lock()
RUNS: Counter[str] = Counter()
VERSION = {"bad-changing": 1}
STARTED = threading.Event()  # the module's worker is running


def _count(what: str) -> None:
    with _lock:
        RUNS[what] += 1


# -- steps and workflows the cases use -------------------------------------------------------


@zart.step("bad-marker")
def bad_marker(tag: str) -> str:
    """The step every runtime body completes first: it must stay intact and run only once."""
    _count(f"marker:{tag}")
    return "marker"


@zart.step("bad-twice")
def bad_twice(tag: str) -> str:
    _count(f"twice:{tag}")
    return "twice"


@zart.step("bad-new-first")
def bad_new_first(tag: str) -> str:
    _count(f"new-first:{tag}")
    return "new"


class _Opaque:
    """Not JSON-serializable."""


class _NanEnum(enum.Enum):
    RATIO = math.nan


_PRODUCE: dict[str, Callable[[], Any]] = {
    "object": _Opaque,
    "nan": lambda: {"ratio": math.nan},
    "minus-inf": lambda: [1.0, -math.inf],
    "huge": lambda: "x" * 50_000,
}


@zart.step("bad-produce")
def bad_produce(what: str) -> Any:
    return _PRODUCE[what]()


@zart.step("bad-child")
def bad_child(*args: Any, **kwargs: Any) -> str:
    return "child"


@zart.step("bad-fetch-{page}")
def bad_fetch(page: str) -> str:
    return page


@zart.step("bad-raises-nul")
def bad_raises_nul() -> None:
    raise ValueError("bad id 'a\x00b' from the user")


def _gen_fn() -> Iterator[int]:
    yield 1


@zart.workflow("bad-inbox")
def bad_inbox(tag: str) -> Any:
    payload = yield zart.wait_for_event("bad-go")
    return payload


@zart.workflow("bad-done")
def bad_done(tag: str) -> Any:
    value = yield bad_marker(tag)
    return value


@zart.workflow("bad-echo")
def bad_echo(data: Any) -> Any:
    yield bad_marker("echo")
    return {"data": data, "id": zart.context().execution_id}


@zart.workflow("bad-named-wait")
def bad_named_wait(data: dict[str, str]) -> Any:
    payload = yield zart.wait_for_event(data["event"])
    return payload


# Runtime bodies: bad-body runs the marker step, then the body its input names.
Body = Callable[[str], Generator[Any, Any, Any]]
_BODIES: dict[str, Body] = {}


def _body(fn: Body) -> Body:
    _BODIES[fn.__name__] = fn
    return fn


@zart.workflow("bad-body")
def bad_body(data: dict[str, str]) -> Any:
    tag = data["tag"]
    yield bad_marker(tag)
    result = yield from _BODIES[data["body"]](tag)
    return result


@_body
def step_returns_object(tag: str) -> Any:
    yield bad_produce("object")


@_body
def step_returns_nan(tag: str) -> Any:
    yield bad_produce("nan")


@_body
def step_returns_minus_inf(tag: str) -> Any:
    yield bad_produce("minus-inf")


@_body
def step_returns_huge(tag: str) -> Any:
    yield bad_produce("huge")


@_body
def step_is_a_generator_built_by_hand(tag: str) -> Any:
    yield zart.Step("bad-gen-step", _gen_fn)


@_body
def parallel_child_args_unserializable(tag: str) -> Any:
    yield zart.parallel(bad_child(1), bad_child(_Opaque()).named("bad-child-2"))


@_body
def parallel_child_kwargs_nan(tag: str) -> Any:
    yield zart.parallel(bad_child(ratio=math.nan))


@_body
def parallel_child_is_a_lambda(tag: str) -> Any:
    yield zart.parallel(zart.Step("bad-lambda-child", lambda: 1))


@_body
def result_unserializable(tag: str) -> Any:
    yield from ()
    return {"conn": _Opaque()}


@_body
def result_inf(tag: str) -> Any:
    yield from ()
    return {"score": math.inf}


@_body
def capture_nan(tag: str) -> Any:
    yield zart.capture("bad-ratio", lambda: math.nan)


@_body
def duplicate_step_name(tag: str) -> Any:
    yield bad_twice(tag)
    yield bad_twice(tag)


@_body
def changing(tag: str) -> Any:
    if VERSION["bad-changing"] == 2:  # "version 2" of the code: a new step first
        yield bad_new_first(tag)
    payload = yield zart.wait_for_event("bad-go")
    return payload


@_body
def yields_an_int(tag: str) -> Any:
    yield 42


@_body
def yields_an_uncalled_step(tag: str) -> Any:
    yield bad_marker  # forgot the call


@_body
def yields_a_generator(tag: str) -> Any:
    yield bad_inbox(tag)  # a workflow is not a sub-workflow command


@_body
def step_name_template_too_long(tag: str) -> Any:
    yield bad_fetch("p" * 300)


@_body
def step_name_template_with_nul(tag: str) -> Any:
    yield bad_fetch("a\x00b")


@_body
def negative_sleep(tag: str) -> Any:
    yield zart.sleep("bad-nap", -5)


@_body
def body_raises_with_nul(tag: str) -> Any:
    yield from ()
    raise ValueError("bad id 'a\x00b' from the user")


@_body
def step_raises_with_nul(tag: str) -> Any:
    yield bad_raises_nul()


# Definitions the registration cases try to register.


def _impostor(tag: str) -> Any:
    yield zart.sleep("impostor", 1)


def _plain(data: Any) -> Any:
    return data


def _two_params(a: Any, b: Any) -> Any:
    yield zart.sleep("two", 1)


def _step_body() -> str:
    return "ok"


async def _async_step() -> str:
    return "ok"


# -- the environment a case runs in ----------------------------------------------------------


@dataclass
class Env:
    app: zart.Zart
    sql: Sql
    schema: str
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def id(self) -> str:
        return f"bad-{self.tag}"

    def keep(self, worker: zart.Worker) -> zart.Worker:
        """A worker a case created and that must not leak its pool."""
        self.request.addfinalizer(worker.store.close)
        return worker

    def limit(self, size: int) -> None:
        self.monkeypatch.setattr(serde, "MAX_VALUE_BYTES", size)

    def pending(self) -> zart.Handle:
        """An existing execution not finished yet, for events and ids to aim at."""
        return self.app.start(bad_inbox, self.tag, id=self.id)

    def completed(self) -> None:
        handle = self.app.start(bad_done, self.tag, id=self.id)
        with self.app.worker(threads=1, lease=2.0, poll_interval=1.0,
                             workflows=[bad_done.name]):
            assert handle.result(timeout=20) == "marker"

    def cancelled(self) -> None:
        self.pending()
        assert self.app.cancel(self.id) is True


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    kind: str  # "rejected" | "runtime" | "verbatim"
    call: Callable[[Env], Any]
    error: type[BaseException] | None = None
    match: tuple[str, ...] = ()
    setup: Callable[[Env], Any] | None = None
    cause: str = ""  # runtime: the type name of the stored cause
    history: tuple[tuple[Any, ...], ...] = ()  # runtime: rows after the marker's
    cause_kind: str | None = None  # runtime: "StepFailed" when it arrived at a yield
    timeout: float = 20.0


def _param(case_id: str, case: Case, bug: str | None) -> Any:
    marks = [pytest.mark.xfail(reason=f"engine bug: {bug}", strict=True)] if bug else []
    return pytest.param(case, id=case_id, marks=marks)


def rejected(case_id: str, call: Callable[[Env], Any], error: type[BaseException],
             *match: str, setup: Callable[[Env], Any] | None = None,
             bug: str | None = None) -> Any:
    return _param(case_id, Case("rejected", call, error, match, setup), bug)


def at_runtime(case_id: str, body: Body, cause: str, *match: str,
               history: tuple[tuple[Any, ...], ...] = (), cause_kind: str | None = None,
               setup: Callable[[Env], Any] | None = None,
               drive: Callable[[Env, zart.Handle], Any] | None = None,
               timeout: float = 20.0, bug: str | None = None) -> Any:
    def call(env: Env) -> zart.Handle:
        handle = env.app.start(bad_body, {"tag": env.tag, "body": body.__name__}, id=env.id)
        if drive is not None:
            drive(env, handle)
        return handle

    return _param(case_id, Case("runtime", call, None, match, setup, cause, history,
                                cause_kind, timeout), bug)


def verbatim(case_id: str, call: Callable[[Env], Any], bug: str | None = None) -> Any:
    return _param(case_id, Case("verbatim", call), bug)


def _step(name: str, ok: bool | None = False, status: str = "done") -> tuple[Any, ...]:
    return ("step", name, status, ok)


def _change_code_under_the_wait(env: Env, handle: zart.Handle) -> None:
    wait_until(lambda: handle.status() == "waiting", timeout=20, what="v1 to wait for its event")
    env.monkeypatch.setitem(VERSION, "bad-changing", 2)
    assert env.app.send_event(handle.id, "bad-go", "go") is True


def _injected_id(env: Env) -> None:
    target = f'x\'); DROP TABLE "{env.schema}".executions; -- {env.tag}'
    handle = env.app.start(bad_echo, target, id=target)
    assert handle.id == target
    assert handle.result(timeout=20) == {"data": target, "id": target}
    assert env.app.handle(target).status() == "completed"
    assert env.sql(f'SELECT id, input FROM "{env.schema}".executions WHERE id = %s',
                   target) == [(target, target)]
    assert env.app.cancel(target) is False  # finished: refused, but found by its id


def _injected_event_name(env: Env) -> None:
    name = f'x\'); DROP TABLE "{env.schema}".events; --'
    handle = env.app.start(bad_named_wait, {"event": name}, id=env.id)
    assert env.app.send_event(handle.id, name, {"echo": name}) is True
    assert env.app.send_event(handle.id, name, {"echo": "second"}) is False
    assert handle.result(timeout=20) == {"echo": name}
    assert env.sql(f'SELECT name, payload FROM "{env.schema}".events WHERE execution_id = %s',
                   env.id) == [(name, {"echo": name})]


def _placeholder_soup_id(env: Env) -> None:
    # Quotes, backslashes, dollar quoting, psycopg and zart placeholders, control characters,
    # non-ASCII: exactly MAX_NAME_LENGTH characters, the longest id allowed.
    soup = "\"'\\$$;--\n\t%s %(id)s {s} \u00e9\U0001f600 " + env.tag
    target = (soup * 20)[:200]
    handle = env.app.start(bad_echo, soup, id=target)
    assert handle.result(timeout=20) == {"data": soup, "id": target}
    assert env.sql(f'SELECT id FROM "{env.schema}".executions WHERE id = %s', target) == [
        (target,)]


def _literal_backslash_u0000(env: Env) -> None:
    # The six characters \u0000 (not a NUL) are ordinary text and must round-trip.
    text = "\\u0000 and \\\\u0000 " + env.tag
    handle = env.app.start(bad_echo, {"text": text}, id=env.id)
    assert handle.result(timeout=20)["data"] == {"text": text}


def _start(workflow: zart.Workflow | str, data: Any = None, **kw: Any) -> Callable[[Env], Any]:
    return lambda env: env.app.start(workflow, data, **({"id": env.id} | kw))


def _send(payload: Any, name: str = "bad-go") -> Callable[[Env], Any]:
    return lambda env: env.app.send_event(env.id, name, payload)


def _big(env: Env) -> str:
    env.limit(1000)
    return "x" * 5000


_SQLI = "zart; DROP TABLE x"

CASES = [
    # -- unserializable or unstorable values, refused before anything is written --------------
    rejected("input-unserializable", _start(bad_inbox, {"conn": _Opaque()}),
             zart.SerializationError, "the input of workflow 'bad-inbox'", "not JSON-serializable"),
    rejected("input-nan", _start(bad_inbox, {"ratio": math.nan}),
             zart.SerializationError, "the input of workflow", "NaN"),
    rejected("input-plus-inf", _start(bad_inbox, math.inf),
             zart.SerializationError, "NaN or infinity"),
    rejected("input-minus-inf-nested", _start(bad_inbox, {"a": [(0, -math.inf)]}),
             zart.SerializationError, "NaN or infinity"),
    rejected("input-over-size-limit", lambda env: env.app.start(bad_inbox, _big(env), id=env.id),
             zart.SerializationError, "the input of workflow", "the limit is 1000 bytes"),
    rejected("input-nul-character", _start(bad_inbox, {"name": "a\x00b"}),
             zart.SerializationError, "NUL character"),
    rejected("input-lone-surrogate", _start(bad_inbox, ["\ud800"]),
             zart.SerializationError, "the input of workflow", "surrogates"),
    rejected("input-circular", lambda env: env.app.start(bad_inbox, _circular(), id=env.id),
             zart.SerializationError, "the input of workflow", "Recursion limit"),
    rejected("input-int-beyond-64-bit", _start(bad_inbox, 2**64),
             zart.SerializationError, "64-bit"),
    rejected("input-non-str-key", _start(bad_inbox, {1: "one"}),
             zart.SerializationError, "Dict key must be str"),
    rejected("input-nan-inside-an-enum", _start(bad_inbox, {"ratio": _NanEnum.RATIO}),
             zart.SerializationError, "NaN"),
    rejected("payload-unserializable", _send({"conn": _Opaque()}), zart.SerializationError,
             "the payload of event 'bad-go'", "not JSON-serializable", setup=Env.pending),
    rejected("payload-nan", _send([math.nan]), zart.SerializationError,
             "the payload of event 'bad-go'", "NaN", setup=Env.pending),
    rejected("payload-minus-inf", _send({"t": -math.inf}), zart.SerializationError,
             "NaN or infinity", setup=Env.pending),
    rejected("payload-over-size-limit", lambda env: _send(_big(env))(env),
             zart.SerializationError, "the payload of event", "the limit is 1000 bytes",
             setup=Env.pending),
    # -- names the engine does not know, executions that cannot take it ----------------------
    rejected("start-unknown-workflow", _start("bad-no-such-workflow", {"x": 1}),
             zart.WorkflowNotFound, "no workflow is registered as 'bad-no-such-workflow'"),
    rejected("start-existing-id-with-another-workflow", _start(bad_done, "x"),
             zart.ExecutionConflict, "already used by workflow 'bad-inbox'", setup=Env.pending),
    rejected("event-to-unknown-execution", _send({"ok": 1}), zart.ExecutionNotFound,
             "no execution 'bad-"),
    rejected("event-to-completed-execution", _send({"ok": 1}), zart.ExecutionFinished,
             "is completed", setup=Env.completed),
    rejected("event-to-cancelled-execution", _send({"ok": 1}), zart.ExecutionFinished,
             "is cancelled", setup=Env.cancelled),
    rejected("worker-for-unregistered-workflow",
             lambda env: env.keep(env.app.worker(threads=1, workflows=["bad-never-registered"])),
             zart.ConfigurationError, "unregistered workflow(s) ['bad-never-registered']"),
    # -- definitions that cannot work ---------------------------------------------------------
    rejected("duplicate-registration-by-another-function",
             lambda env: zart.workflow(bad_inbox.name)(_impostor),
             zart.WorkflowDefinitionError, "'bad-inbox' is already registered by", "_impostor"),
    rejected("workflow-not-a-generator", lambda env: zart.workflow("bad-plain")(_plain),
             zart.WorkflowDefinitionError, "is not a generator function"),
    rejected("workflow-with-two-parameters",
             lambda env: zart.workflow("bad-two-params")(_two_params),
             zart.WorkflowDefinitionError, "takes one argument"),
    rejected("workflow-decorator-without-a-name", lambda env: zart.workflow(_impostor),
             TypeError, "workflow name must be a str"),
    rejected("step-that-calls-yield", lambda env: zart.step("bad-gen")(_gen_fn),
             zart.WorkflowDefinitionError, "is a generator", "only workflows yield"),
    rejected("bare-step-decorator-on-a-generator", lambda env: zart.step(_gen_fn),
             zart.WorkflowDefinitionError, "is a generator"),
    rejected("async-step", lambda env: zart.step("bad-async")(_async_step),
             zart.WorkflowDefinitionError, "async functions are not supported"),
    rejected("parallel-of-a-non-step", lambda env: zart.parallel(bad_marker("t"), "oops"),
             TypeError, "parallel() takes steps and child workflows only", "str 'oops'"),
    rejected("parallel-children-with-one-name",
             lambda env: zart.parallel(bad_child(1), bad_child(2)),
             zart.DuplicateStepName, "share the name(s) ['bad-child']"),
    rejected("capture-of-a-non-callable", lambda env: zart.capture("bad-c", 42),
             TypeError, "fn must be callable"),
    # -- durations: sleeps, timeouts, retry delays --------------------------------------------
    rejected("sleep-negative", lambda env: zart.sleep("s", -1), ValueError,
             "duration of sleep 's' must not be negative"),
    rejected("sleep-over-100-years", lambda env: zart.sleep("s", timedelta(days=365 * 101)),
             ValueError, "longer than 100 years"),
    rejected("sleep-int-beyond-float", lambda env: zart.sleep("s", 10**400), ValueError,
             "longer than 100 years"),
    rejected("sleep-nan", lambda env: zart.sleep("s", math.nan), ValueError, "must be finite"),
    rejected("sleep-inf-as-text", lambda env: zart.sleep("s", "1e400"), ValueError,
             "must be finite", "'1e400'"),
    rejected("sleep-garbage-text", lambda env: zart.sleep("s", "soon"), ValueError,
             "'soon' is not understood"),
    rejected("sleep-unit-missing", lambda env: zart.sleep("s", "1h30"), ValueError,
             "'1h30' is not understood"),
    rejected("sleep-bool", lambda env: zart.sleep("s", True), ValueError, "not True"),
    rejected("sleep-until-naive-datetime",
             lambda env: zart.sleep_until("s", datetime(2030, 1, 1)),
             ValueError, "has no time zone"),
    rejected("sleep-until-text", lambda env: zart.sleep_until("s", "tomorrow"), TypeError,
             "needs a datetime"),
    rejected("sleep-until-in-8000-years",
             lambda env: zart.sleep_until("s", datetime(9999, 1, 1, tzinfo=UTC)),
             ValueError, "100 years"),
    rejected("Sleep-built-by-hand-with-nan-seconds",
             lambda env: zart.Sleep("s", seconds=math.nan), ValueError, "must be finite"),
    rejected("Sleep-built-by-hand-with-text-until",
             lambda env: zart.Sleep("s", until="tomorrow"),
             TypeError, "datetime"),
    rejected("WaitEvent-built-by-hand-with-negative-timeout",
             lambda env: zart.WaitEvent("e", timeout=-5), ValueError, "must not be negative"),
    rejected("step-timeout-negative", lambda env: zart.step("bad-t", timeout=-1), ValueError,
             "timeout of 'bad-t' must not be negative"),
    rejected("step-timeout-over-100-years", lambda env: zart.step("bad-t", timeout="40000d"),
             ValueError, "longer than 100 years"),
    rejected("step-timeout-garbage", lambda env: zart.step("bad-t", timeout="5 parsecs"),
             ValueError, "'5 parsecs' is not understood"),
    rejected("event-timeout-minus-inf",
             lambda env: zart.wait_for_event("e", timeout=-math.inf), ValueError,
             "must be finite"),
    rejected("workflow-timeout-negative-text",
             lambda env: zart.workflow("bad-wt", timeout="-1s"), ValueError,
             "timeout of 'bad-wt' '-1s' is not understood"),
    rejected("retry-delay-negative", lambda env: zart.fixed(3, -1), ValueError,
             "retry delay must not be negative"),
    rejected("retry-delay-nan", lambda env: zart.exponential(3, math.nan), ValueError,
             "retry delay must be finite"),
    rejected("retry-max-delay-garbage",
             lambda env: zart.exponential(3, "1s", max_delay="later"), ValueError,
             "max_delay 'later' is not understood"),
    rejected("RetryPolicy-built-by-hand-with-negative-delay",
             lambda env: zart.RetryPolicy("fixed", 3, -1.0), ValueError, "delay"),
    rejected("RetryPolicy-unknown-kind", lambda env: zart.RetryPolicy("sometimes", 3, 1.0),
             ValueError, "'sometimes'"),
    # -- retry counts and wrongly typed options ----------------------------------------------
    rejected("retry-count-negative", lambda env: zart.fixed(-1, "1s"), ValueError,
             "between 0 and 10000, got -1"),
    rejected("retry-count-huge", lambda env: zart.linear(10**6, "1s"), ValueError,
             "between 0 and 10000"),
    rejected("retry-count-text", lambda env: zart.fixed("3", "1s"), ValueError,
             "retries must be an int, got '3'"),
    rejected("retry-count-bool", lambda env: zart.fixed(True, "1s"), ValueError,
             "retries must be an int, got True"),
    rejected("step-retry-text", lambda env: zart.step("bad-r", retry="3"), TypeError,
             "retry must be zart.fixed/linear/exponential"),
    rejected("workflow-retry-int", lambda env: zart.workflow("bad-r", retry=3), TypeError,
             "retry must be zart.fixed/linear/exponential"),
    rejected("timeout-scope-sometimes",
             lambda env: zart.step("bad-s", timeout_scope="sometimes"),
             ValueError, "timeout_scope must be 'global' or 'per_attempt', got 'sometimes'"),
    rejected("jitter-text", lambda env: zart.exponential(3, "1s", jitter="no"),
             TypeError, "jitter"),
    rejected("transactional-text",
             lambda env: zart.step("bad-tx", transactional="no")(_step_body),
             TypeError, "transactional"),
    rejected("start-conn-not-a-connection", _start(bad_inbox, "x", conn="dbname=x"),
             TypeError, "conn"),
    rejected("worker-threads-zero", lambda env: env.keep(env.app.worker(threads=0)),
             zart.ConfigurationError, "threads must be between 1 and 512, got 0"),
    rejected("worker-threads-text", lambda env: env.keep(env.app.worker(threads="4")),
             zart.ConfigurationError, "threads"),
    rejected("worker-lease-nan", lambda env: env.keep(env.app.worker(threads=1, lease=math.nan)),
             zart.ConfigurationError, "lease"),
    rejected("worker-poll-interval-nan",
             lambda env: env.keep(env.app.worker(threads=1, poll_interval=math.nan)),
             zart.ConfigurationError, "poll_interval"),
    rejected("worker-max-lease-losses-negative",
             lambda env: env.keep(env.app.worker(threads=1, max_lease_losses=-1)),
             zart.ConfigurationError, "max_lease_losses"),
    # -- schema names -------------------------------------------------------------------------
    rejected("schema-sql-injection", lambda env: zart.Zart(env.app.dsn, schema=_SQLI),
             zart.ConfigurationError, "schema name 'zart; DROP TABLE x' is not allowed"),
    rejected("schema-quote-injection",
             lambda env: zart.Zart(env.app.dsn, schema=f'{env.schema}"; DROP SCHEMA '
                                                       f'"{env.schema}" CASCADE; --'),
             zart.ConfigurationError, "is not allowed"),
    rejected("schema-reserved", lambda env: zart.Zart(env.app.dsn, schema="pg_catalog"),
             zart.ConfigurationError, "reserved by PostgreSQL"),
    rejected("schema-too-long", lambda env: zart.Zart(env.app.dsn, schema="s" * 49),
             zart.ConfigurationError, "1-48 letters"),
    rejected("schema-newline", lambda env: zart.Zart(env.app.dsn, schema="zart\n"),
             zart.ConfigurationError, "is not allowed"),
    rejected("schema-not-a-str", lambda env: zart.Zart(env.app.dsn, schema=5),
             zart.ConfigurationError, "schema name 5 is not allowed"),
    # -- ids and names: NUL, lone surrogates, length, type --------------------------------------
    rejected("execution-id-nul", _start(bad_inbox, "x", id="a\x00b"), ValueError,
             "execution id", "NUL character"),
    rejected("execution-id-lone-surrogate", _start(bad_inbox, "x", id="a\udc80"), ValueError,
             "execution id", "lone surrogate"),
    rejected("execution-id-201-characters", _start(bad_inbox, "x", id="i" * 201), ValueError,
             "execution id is 201 characters long; the limit is 200"),
    rejected("execution-id-blank", _start(bad_inbox, "x", id="  \t "), ValueError,
             "execution id must not be empty"),
    rejected("execution-id-int", _start(bad_inbox, "x", id=123), TypeError,
             "execution id must be a str, got int"),
    rejected("event-name-nul", _send(1, "go\x00"), ValueError, "event name", "NUL character",
             setup=Env.pending),
    rejected("event-name-lone-surrogate", _send(1, "go\ud800"), ValueError, "event name",
             "lone surrogate", setup=Env.pending),
    rejected("event-name-500-characters", _send(1, "e" * 500), ValueError,
             "event name is 500 characters long", setup=Env.pending),
    rejected("workflow-name-nul", lambda env: zart.workflow("bad\x00wf"), ValueError,
             "workflow name", "NUL character"),
    rejected("step-name-lone-surrogate", lambda env: zart.step("bad-\udfff"), ValueError,
             "step name", "lone surrogate"),
    rejected("step-name-201-characters", lambda env: zart.step("s" * 201), ValueError,
             "step name is 201 characters long"),
    rejected("send-event-execution-id-nul",
             lambda env: env.app.send_event("bad\x00id", "bad-go", 1), ValueError,
             "execution id", "NUL"),
    rejected("cancel-execution-id-lone-surrogate", lambda env: env.app.cancel("bad\ud800"),
             ValueError, "execution id"),
    rejected("handle-execution-id-int", lambda env: env.app.handle(7), TypeError,
             "execution id must be a str"),
    # -- legal but hostile: stored verbatim, harmless -----------------------------------------
    verbatim("sql-injection-execution-id", _injected_id),
    verbatim("sql-injection-event-name-and-payload", _injected_event_name),
    verbatim("placeholder-and-quote-soup-id-of-200-characters", _placeholder_soup_id),
    verbatim("literal-backslash-u0000-text", _literal_backslash_u0000),
    # -- bad input that only a worker meets ---------------------------------------------------
    at_runtime("step-result-unserializable", step_returns_object, "SerializationError",
               "the result of step 'bad-produce'", "not JSON-serializable",
               history=(_step("bad-produce"),), cause_kind="StepFailed"),
    at_runtime("step-result-nan", step_returns_nan, "SerializationError", "NaN",
               history=(_step("bad-produce"),), cause_kind="StepFailed"),
    at_runtime("step-result-minus-inf", step_returns_minus_inf, "SerializationError",
               "NaN or infinity", history=(_step("bad-produce"),), cause_kind="StepFailed"),
    at_runtime("step-result-over-size-limit", step_returns_huge, "SerializationError",
               "the limit is 20000 bytes", history=(_step("bad-produce"),),
               cause_kind="StepFailed", setup=lambda env: env.limit(20_000)),
    at_runtime("step-built-by-hand-from-a-generator", step_is_a_generator_built_by_hand,
               "SerializationError", "the result of step 'bad-gen-step'", "generator",
               history=(_step("bad-gen-step"),), cause_kind="StepFailed"),
    at_runtime("parallel-child-args-unserializable", parallel_child_args_unserializable,
               "SerializationError", "the arguments of parallel child 'bad-child-2'",
               "not JSON-serializable"),
    at_runtime("parallel-child-kwargs-nan", parallel_child_kwargs_nan, "SerializationError",
               "the arguments of parallel child 'bad-child'", "NaN"),
    at_runtime("parallel-child-lambda", parallel_child_is_a_lambda, "SerializationError",
               "must be a module-level @zart.step function"),
    at_runtime("workflow-result-unserializable", result_unserializable, "SerializationError",
               "the result of workflow 'bad-body'", "not JSON-serializable"),
    at_runtime("workflow-result-inf", result_inf, "SerializationError",
               "the result of workflow 'bad-body'", "NaN or infinity"),
    at_runtime("captured-nan", capture_nan, "SerializationError", "capture 'bad-ratio'", "NaN",
               history=(("capture", "bad-ratio", "done", False),), cause_kind="StepFailed"),
    at_runtime("duplicate-step-name", duplicate_step_name, "DuplicateStepName",
               "step 'bad-twice' was yielded twice", history=(_step("bad-twice", True),)),
    at_runtime("code-changed-under-a-waiting-execution", changing, "NonDeterminismError",
               "event 'bad-go'", "step 'bad-new-first'",
               history=(("event", "bad-go", "pending", None),),
               drive=_change_code_under_the_wait),
    at_runtime("yields-an-int", yields_an_int, "InvalidCommand", "yielded int 42"),
    at_runtime("yields-an-uncalled-step", yields_an_uncalled_step, "InvalidCommand",
               "yielded StepFunction"),
    at_runtime("yields-a-generator", yields_a_generator, "InvalidCommand", "yielded generator"),
    at_runtime("step-name-template-too-long", step_name_template_too_long, "ValueError",
               "step name is 310 characters long; the limit is 200"),
    at_runtime("step-name-template-with-nul", step_name_template_with_nul, "ValueError",
               "step name", "NUL character"),
    at_runtime("negative-sleep-in-the-body", negative_sleep, "ValueError",
               "duration of sleep 'bad-nap' must not be negative"),
    at_runtime("step-error-message-with-nul", step_raises_with_nul, "ValueError", "bad id",
               history=(_step("bad-raises-nul"),), cause_kind="StepFailed"),
    at_runtime("body-error-message-with-nul", body_raises_with_nul, "ValueError", "bad id",
               timeout=3.0),
]


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


# -- the test --------------------------------------------------------------------------------


def _snapshot(sql: Sql, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the executions, steps and events tables, in a stable order."""
    return {table: sql(f'SELECT to_jsonb(r)::text FROM "{schema}".{table} r ORDER BY 1')
            for table in TABLES}


def _assert_tables_exist(sql: Sql, schema: str) -> None:
    rows = sql("SELECT " + ", ".join(f"to_regclass('\"{schema}\".{t}') IS NOT NULL"
                                     for t in ALL_TABLES))
    assert rows == [(True,) * len(ALL_TABLES)], f"a table of {schema} is gone: {rows}"


def _history(env: Env, execution_id: str) -> list[tuple[Any, ...]]:
    return env.sql(f'SELECT kind, name, status, ok FROM "{env.schema}".steps '
                   f"WHERE execution_id = %s ORDER BY seq", execution_id)


@pytest.fixture(scope="module")
def running(app: zart.Zart) -> Iterator[zart.Worker]:
    """One worker (4 threads, lease 2 s, poll 1 s) for every case that needs one: a worker per
    case would cost about half a second each to stop. Started by the first verbatim or runtime
    case; every rejected case comes before it in CASES, so that no worker moves a row while a
    rejected call is being checked."""
    STARTED.set()
    with app.worker(threads=4, lease=2.0, poll_interval=1.0) as worker:
        yield worker


@pytest.fixture
def env(app: zart.Zart, sql: Sql, schema: str, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> Env:
    return Env(app, sql, schema, monkeypatch, request)


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case: Case, env: Env) -> None:
    if case.kind == "rejected":
        _rejected(case, env)
    elif case.kind == "verbatim":
        env.request.getfixturevalue("running")
        case.call(env)
    else:
        _runtime(case, env)
    _assert_tables_exist(env.sql, env.schema)


def _rejected(case: Case, env: Env) -> None:
    assert case.error is not None
    assert not STARTED.is_set(), "a rejected case runs after the worker started: move it up"
    if case.setup is not None:
        case.setup(env)
    before = _snapshot(env.sql, env.schema)
    registry = registered_workflows()
    with pytest.raises(case.error) as raised:
        case.call(env)
    message = str(raised.value)
    for words in case.match:
        assert words in message, f"{type(raised.value).__name__}: {message!r} lacks {words!r}"
    assert _snapshot(env.sql, env.schema) == before, "a rejected call changed the tables"
    assert registered_workflows() == registry, "a rejected definition was registered"


def _runtime(case: Case, env: Env) -> None:
    if case.setup is not None:
        case.setup(env)
    env.request.getfixturevalue("running")
    handle = case.call(env)
    try:
        with pytest.raises(zart.WorkflowFailed) as raised:
            handle.result(timeout=case.timeout)
    finally:
        if handle.status() not in FINAL:  # never leave a looping execution to later tests
            env.app.cancel(handle.id)
    failure = raised.value
    assert failure.status == "failed"
    assert handle.status() == "failed"
    assert failure.cause_type == case.cause, failure.cause
    for words in case.match:
        assert words in failure.cause_message, f"{failure.cause_message!r} lacks {words!r}"
    if case.cause_kind is not None:
        assert failure.cause.get("kind") == case.cause_kind, failure.cause
    # Earlier work is intact: the marker step is done with its value and ran exactly once,
    # and nothing after the bad input was recorded.
    assert _history(env, handle.id) == [_step("bad-marker", True), *case.history]
    assert env.sql(f'SELECT value::text FROM "{env.schema}".steps WHERE execution_id = %s '
                   f"AND name = 'bad-marker'", handle.id) == [(json.dumps("marker"),)]
    assert RUNS[f"marker:{env.tag}"] == 1


def test_count_of_bad_inputs_tried() -> None:
    kinds = Counter(param.values[0].kind for param in CASES)
    bugs = [param.id for param in CASES if param.marks]
    print(f"\nbad inputs tried: {len(CASES)} ({dict(kinds)}); "
          f"{len(bugs)} engine bug(s) marked xfail: {bugs}")
    assert len(CASES) >= 25
    assert len({param.id for param in CASES}) == len(CASES), "case ids must be unique"
