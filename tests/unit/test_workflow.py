"""Authoring: @workflow, @step, name templates and the workflow registry."""

from __future__ import annotations

import importlib
from collections.abc import Generator
from typing import Any

import pytest

import zart
from zart.commands import Step
from zart.errors import WorkflowDefinitionError, WorkflowNotFound
from zart.retry import NO_RETRY, exponential, fixed
from zart.workflow import StepFunction, Workflow, get_workflow, registered_workflows

# ``zart.workflow`` is the decorator; the module is reached through importlib.
authoring = importlib.import_module("zart.workflow")


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, Workflow]:
    registry: dict[str, Workflow] = {}
    monkeypatch.setattr(authoring, "_REGISTRY", registry)
    return registry


# -- @workflow ------------------------------------------------------------------------------


def test_workflow_registers_the_generator_function_under_its_name() -> None:
    @zart.workflow("checkout", timeout="30m", retry=fixed(2, "1s"))
    def checkout(order: Any) -> Generator[Any, Any, Any]:
        """Check an order out."""
        yield

    assert isinstance(checkout, Workflow)
    assert get_workflow("checkout") is checkout
    assert registered_workflows() == {"checkout": checkout}
    assert (checkout.name, checkout.timeout, checkout.retry) == ("checkout", 1800.0, fixed(2, "1s"))
    assert checkout.__doc__ == "Check an order out."
    assert vars(checkout)["__name__"] == "checkout"  # set by functools.update_wrapper


def test_workflow_defaults_to_no_timeout_and_no_retry() -> None:
    @zart.workflow("plain")
    def plain() -> Generator[Any, Any, Any]:
        yield

    assert (plain.timeout, plain.retry) == (None, NO_RETRY)


def test_registered_workflows_returns_a_copy() -> None:
    @zart.workflow("w")
    def w() -> Generator[Any, Any, Any]:
        yield

    registered_workflows().clear()
    assert get_workflow("w") is w


def test_calling_a_workflow_creates_a_generator_fed_with_its_data() -> None:
    @zart.workflow("echo")
    def echo(data: Any) -> Generator[Any, Any, Any]:
        yield
        return data

    @zart.workflow("no-input")
    def no_input() -> Generator[Any, Any, Any]:
        yield
        return "done"

    for body, data, expected in [(echo, {"x": 1}, {"x": 1}), (no_input, None, "done"),
                                 (no_input, {"ignored": True}, "done")]:
        gen = body(data)
        next(gen)
        with pytest.raises(StopIteration) as stop:
            gen.send(None)
        assert stop.value.value == expected


def not_a_generator(data: Any) -> Any:
    return data


async def a_coroutine(data: Any) -> Any:
    return data


async def an_async_generator(data: Any) -> Any:
    yield data


@pytest.mark.parametrize("fn", [not_a_generator, a_coroutine, an_async_generator, len])
def test_workflow_rejects_what_is_not_a_generator_function(fn: Any) -> None:
    with pytest.raises(WorkflowDefinitionError, match="not a generator function"):
        zart.workflow("w")(fn)
    assert registered_workflows() == {}


def test_workflow_rejects_a_body_with_more_than_one_parameter() -> None:
    def two(a: Any, b: Any) -> Generator[Any, Any, Any]:
        yield

    with pytest.raises(WorkflowDefinitionError, match="takes one argument"):
        zart.workflow("w")(two)


def first_body(data: Any) -> Generator[Any, Any, Any]:
    yield


def second_body(data: Any) -> Generator[Any, Any, Any]:
    yield


def test_registering_a_different_function_under_a_taken_name_is_rejected() -> None:
    original = zart.workflow("shared")(first_body)
    with pytest.raises(WorkflowDefinitionError, match=r"already registered by .*first_body"):
        zart.workflow("shared")(second_body)
    assert get_workflow("shared") is original


def test_registering_the_same_function_again_is_allowed() -> None:
    zart.workflow("again")(first_body)
    again = zart.workflow("again")(first_body)  # e.g. the module was imported twice
    assert get_workflow("again") is again


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": ""}, ValueError),
        ({"name": "x" * 201}, ValueError),
        ({"name": "w", "timeout": "-1s"}, ValueError),
        ({"name": "w", "retry": 3}, TypeError),
    ],
    ids=["empty-name", "long-name", "negative-timeout", "bad-retry"],
)
def test_workflow_rejects_bad_options_before_decorating(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        zart.workflow(**kwargs)


@pytest.mark.parametrize("name", ["missing", ["unhashable"]])
def test_get_workflow_of_an_unknown_name_raises_workflow_not_found(name: Any) -> None:
    zart.workflow("known")(first_body)
    with pytest.raises(WorkflowNotFound, match=r"registered: known"):
        get_workflow(name)


# -- @step ----------------------------------------------------------------------------------


def test_bare_step_decorator_uses_the_function_name() -> None:
    @zart.step
    def charge(amount: float) -> str:
        """Charge the card."""
        return "txn"

    assert isinstance(charge, StepFunction)
    assert charge.name == "charge"
    assert charge(9.5) == Step("charge", charge.fn, (9.5,), {})
    assert charge.fn(1.0) == "txn"
    assert charge.__doc__ == "Charge the card."


def test_step_without_a_name_uses_the_function_name() -> None:
    @zart.step(retry=fixed(1, "1s"))
    def refund() -> None: ...

    assert refund().name == "refund"


@pytest.mark.parametrize(
    ("template", "args", "kwargs", "expected"),
    [
        ("fetch-{page}", (3,), {}, "fetch-3"),
        ("fetch-{page}", (), {"page": 4}, "fetch-4"),
        ("fetch-{page}-{size}", (5,), {}, "fetch-5-100"),
        ("fetch-{page}-{size}", (5, 10), {}, "fetch-5-10"),
        ("fetch-{page}-{size}", (5,), {"size": 20}, "fetch-5-20"),
        ("fetch-{page:03d}", (7,), {}, "fetch-007"),
        ("fetch-{page}-{page}", (1,), {}, "fetch-1-1"),
        ("fetch-{{page}}", (2,), {}, "fetch-{page}"),
    ],
    ids=["positional", "keyword", "default", "override-positional", "override-keyword",
         "format-spec", "repeated-field", "escaped-braces"],
)
def test_step_name_templates_are_filled_from_bound_arguments_including_defaults(
    template: str, args: tuple[Any, ...], kwargs: dict[str, Any], expected: str
) -> None:
    @zart.step(template)
    def fetch(page: int, size: int = 100) -> list[int]:
        return []

    command = fetch(*args, **kwargs)
    assert command.name == expected
    assert (command.args, dict(command.kwargs)) == (args, kwargs)


def test_step_name_template_fills_variadic_keyword_parameters() -> None:
    @zart.step("notify-{kwargs}")
    def notify(**kwargs: Any) -> None: ...

    assert notify(user=1).name == "notify-{'user': 1}"


@pytest.mark.parametrize(
    ("template", "field"),
    [("fetch-{missing}", "{missing}"), ("fetch-{}", "{}"), ("fetch-{0}", "{0}"),
     ("fetch-{page}-{pages}", "{pages}")],
)
def test_step_name_template_naming_a_missing_parameter_is_rejected_at_decoration(
    template: str, field: str
) -> None:
    def fetch(page: int) -> None: ...

    with pytest.raises(WorkflowDefinitionError) as info:
        zart.step(template)(fetch)
    assert f"refers to {field}, which is not a parameter of " in str(info.value)
    assert "fetch(page: 'int')" in str(info.value)


def test_step_name_with_only_escaped_braces_is_unescaped_like_any_template() -> None:
    @zart.step("set-{{x}}")
    def set_x() -> None: ...

    @zart.step("close}}")
    def close() -> None: ...

    assert (set_x().name, close().name) == ("set-{x}", "close}")


def test_step_name_filled_by_a_template_is_validated_on_call() -> None:
    @zart.step("fetch-{page}")
    def fetch(page: Any) -> None: ...

    with pytest.raises(ValueError, match="limit is 200"):
        fetch("x" * 200)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [("fetch-{page}", "a\x00b", "NUL"), ("{page}", "   ", "must not be empty"),
     ("{page}", "", "must not be empty"), ("{page}", "x" * 201, "limit is 200")],
    ids=["nul", "blank", "empty", "too-long"],
)
def test_a_template_filled_on_the_compiled_fast_path_is_validated_like_any_name(
    name: str, text: str, message: str
) -> None:
    @zart.step(name)
    def fetch(page: str, size: int) -> None: ...

    with pytest.raises(ValueError, match=message):
        fetch(text, 1)  # all positional: the compiled path
    with pytest.raises(ValueError, match=message):
        fetch(text, size=1)  # a keyword: the general path


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1, 2), {}), ((1,), {"size": 2}), ((), {"page": 1, "size": 2}), ((1, 2, 3), {}),
     ((1, 2), {"flag": True})],
    ids=["all-positional", "mixed", "all-keyword", "with-default-given", "keyword-only"],
)
def test_the_compiled_fast_path_builds_the_same_command_as_the_general_path(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    policy = fixed(2, "1s")

    @zart.step("fetch-{page}-{size:03d}-{extra}", retry=policy, timeout="5s")
    def fetch(page: int, size: int, extra: int = 7, *, flag: bool = False) -> None: ...

    command = fetch(*args, **kwargs)
    expected_fields = {"page": 1, "size": 2, "extra": args[2] if len(args) > 2 else 7}
    assert command == Step("fetch-{page}-{size:03d}-{extra}".format(**expected_fields),
                           fetch.fn, args, kwargs, policy, 5.0, "global", False)
    assert fetch(*args, **kwargs) is not command  # a new command per call


def test_a_fixed_name_step_called_positionally_carries_its_arguments_and_a_fresh_kwargs() -> None:
    @zart.step("ping")
    def ping(host: str) -> None: ...

    first, second = ping("a"), ping("b")
    assert (first.name, first.args, second.args) == ("ping", ("a",), ("b",))
    assert first.kwargs == {} and first.kwargs is not second.kwargs


def test_calling_a_step_with_arguments_that_do_not_bind_raises_type_error_naming_it() -> None:
    @zart.step("add")
    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(TypeError, match=r"^step 'add': missing a required argument: 'b'"):
        add(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^step 'add':"):
        add(1, 2, 3)  # type: ignore[call-arg]


def a_generator_step() -> Any:
    yield 1


async def an_async_step() -> None:
    pass


async def an_async_generator_step() -> Any:
    yield 1


@pytest.mark.parametrize(
    ("fn", "message"),
    [(a_generator_step, "is a generator"), (an_async_step, "async functions are not supported"),
     (an_async_generator_step, "is a generator")],
    ids=["generator", "async", "async-generator"],
)
@pytest.mark.parametrize("bare", [True, False], ids=["bare", "named"])
def test_generator_and_async_step_functions_are_rejected(
    fn: Any, message: str, bare: bool
) -> None:
    with pytest.raises(WorkflowDefinitionError, match=message):
        zart.step(fn) if bare else zart.step("s")(fn)


def test_calling_a_step_returns_a_step_command_carrying_its_options() -> None:
    policy = exponential(3, "1s", max_delay="10s")

    @zart.step("charge-{order_id}", retry=policy, timeout="30s", timeout_scope="per_attempt",
               transactional=True)
    def charge(order_id: str, amount: float) -> str:
        return "txn"

    command = charge("o-1", amount=9.5)
    assert command == Step("charge-o-1", charge.fn, ("o-1",), {"amount": 9.5}, policy, 30.0,
                           "per_attempt", True)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"retry": "3x"}, TypeError),
        ({"timeout": "never"}, ValueError),
        ({"timeout_scope": "sometimes"}, ValueError),
    ],
)
def test_step_rejects_bad_options_at_decoration(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        zart.step("s", **kwargs)


@pytest.mark.parametrize("name", ["", "a\x00", "x" * 201])
def test_step_rejects_an_invalid_name_at_decoration(name: str) -> None:
    with pytest.raises(ValueError):
        zart.step(name)
