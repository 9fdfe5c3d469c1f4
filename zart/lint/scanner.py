"""The analysis of one source file with the stdlib's ``ast``: find its workflow bodies (the
functions decorated with ``@zart.workflow``) and what in them breaks a replay
(:mod:`.rules`). A comment ``# zart: allow`` silences a line (``# zart: allow clock, io``:
only those rules)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

from .rules import RULES, Rule, rule_for

__all__ = ["Finding", "scan_source"]

_ALLOW = re.compile(r"#\s*zart:\s*allow\b\s*([\w\s,-]*)")
_WORKFLOW_DECORATORS = frozenset({"zart.workflow", "zart.workflow.workflow"})
_STEP_DECORATORS = frozenset({"zart.step", "zart.workflow.step"})
_CAPTURES = frozenset({"zart.capture", "zart.Capture", "zart.commands.capture",
                       "zart.commands.Capture"})
_METHOD_RULES = {method: rule for rule in RULES for method in rule.methods}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing in a workflow body that breaks a replay: where, what, why, and instead."""

    path: str
    line: int
    column: int
    rule: str
    workflow: str
    code: str
    """The expression as written (``datetime.now``)."""
    reason: str
    instead: str

    def __str__(self) -> str:
        return (f"{self.path}:{self.line}:{self.column}: {self.rule}: {self.code} in workflow "
                f"{self.workflow!r} {self.reason}; use {self.instead}")


def scan_source(source: str, path: str) -> list[Finding]:
    """The findings in the workflow bodies of ``source`` (the text of the file ``path``);
    SyntaxError if it does not parse."""
    tree = ast.parse(source, filename=path)
    names = _imported_names(tree)
    shadowed = _module_bindings(tree)
    allowed = _allowed_lines(source)
    findings: list[Finding] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            workflow = _workflow_name(node, names)
            if workflow is not None:
                body = _Body(path, workflow, names, shadowed | _local_bindings(node))
                body.captured = _captured_functions(node, body)
                for statement in node.body:
                    body.visit(statement)
                findings.extend(f for f in body.findings
                                if not _silenced(allowed.get(f.line), f.rule))
    return sorted(findings, key=lambda f: (f.line, f.column, f.rule))


class _Body(ast.NodeVisitor):
    """Walks one workflow body and notes every flagged expression."""

    def __init__(self, path: str, workflow: str, names: dict[str, str],
                 local: set[str]) -> None:
        self.path = path
        self.workflow = workflow
        self.names = names
        self.local = local
        self.findings: list[Finding] = []
        self.captured: set[str] = set()
        """Names of functions handed to zart.capture: they run once, recorded."""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._nested(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._nested(node)

    def _nested(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # A step defined inside the body is a step; a helper runs in the body when called,
        # unless it is what a zart.capture records.
        if any(self.resolve(_decorator_target(d)) in _STEP_DECORATORS
               for d in node.decorator_list) or node.name in self.captured:
            return
        for statement in node.body:
            self.visit(statement)

    def visit_Call(self, node: ast.Call) -> None:
        target = self.resolve(node.func)
        if target in _CAPTURES:
            # Its function runs once, and its value is recorded: what capture is for.
            recorded = _recorded(node)
            for child in [*node.args, *(k.value for k in node.keywords)]:
                if child is not recorded:
                    self.visit(child)
            return
        if isinstance(node.func, ast.Attribute) and node.func.attr in _METHOD_RULES \
                and target is None:
            self._flag(node.func, _METHOD_RULES[node.func.attr])
            self.visit(node.func.value)
            for child in [*node.args, *(k.value for k in node.keywords)]:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not self._check(node):
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self._check(node)

    def _check(self, node: ast.Attribute | ast.Name) -> bool:
        """Flag ``node`` if what it names falls under a rule; True if it did."""
        qualified = self.resolve(node)
        rule = None if qualified is None else rule_for(qualified)
        if rule is None:
            return False
        self._flag(node, rule)
        return True

    def _flag(self, node: ast.expr, rule: Rule) -> None:
        self.findings.append(Finding(self.path, node.lineno, node.col_offset + 1, rule.name,
                                     self.workflow, ast.unparse(node), rule.reason,
                                     rule.instead))

    def resolve(self, node: ast.expr | None) -> str | None:
        """What ``node`` refers to (see :func:`_qualified`)."""
        return _qualified(node, self.names, self.local)


def _qualified(node: ast.expr | None, names: dict[str, str], local: set[str]) -> str | None:
    """What a name or an attribute chain refers to (``dt.now`` -> ``datetime.datetime.now``),
    by the module's imports; None when it is not an imported name (or a builtin one)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    if node.id in local:  # a parameter or a variable of the body, whatever it shadows
        return None
    if node.id in names:
        base = names[node.id]
    elif not parts and node.id in ("open", "input"):
        base = f"builtins.{node.id}"
    else:
        return None
    return ".".join([base, *reversed(parts)])


def _recorded(capture: ast.Call) -> ast.expr | None:
    """The function a ``zart.capture(name, fn)`` call records."""
    if len(capture.args) > 1:
        return capture.args[1]
    return next((k.value for k in capture.keywords if k.arg == "fn"), None)


def _captured_functions(function: ast.FunctionDef | ast.AsyncFunctionDef,
                        body: _Body) -> set[str]:
    """The names of the functions a body hands to ``zart.capture`` (wherever they are
    defined in it, before or after the call)."""
    return {recorded.id for node in ast.walk(function)
            if isinstance(node, ast.Call) and body.resolve(node.func) in _CAPTURES
            and isinstance(recorded := _recorded(node), ast.Name)}


def _decorator_target(node: ast.expr) -> ast.expr:
    return node.func if isinstance(node, ast.Call) else node


def _workflow_name(node: ast.FunctionDef | ast.AsyncFunctionDef,
                   names: dict[str, str]) -> str | None:
    """The registered name of the workflow ``node`` defines (its function's name if not a
    literal), or None if it is no workflow."""
    for decorator in node.decorator_list:
        if _qualified(_decorator_target(decorator), names, set()) in _WORKFLOW_DECORATORS:
            if isinstance(decorator, ast.Call) and decorator.args and isinstance(
                    decorator.args[0], ast.Constant) and isinstance(decorator.args[0].value,
                                                                     str):
                return decorator.args[0].value
            return node.name
    return None


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Every name an import binds, anywhere in the module, to what it imports."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _module_bindings(tree: ast.Module) -> set[str]:
    """Names the module binds itself (a function called ``open`` is not the builtin)."""
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update(t.id for target in targets for t in ast.walk(target)
                         if isinstance(t, ast.Name))
    return bound


def _local_bindings(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names bound inside a function: its parameters and what it assigns."""
    arguments = function.args
    bound = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
    bound.update(a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None)
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node is not function:
            bound.add(node.name)
    return bound


def _allowed_lines(source: str) -> dict[int, frozenset[str]]:
    """Lines with a ``# zart: allow`` comment, and the rules it names (empty: every rule)."""
    allowed: dict[int, frozenset[str]] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                match = _ALLOW.search(token.string)
                if match:
                    rules = frozenset(r for r in re.split(r"[\s,]+", match.group(1)) if r)
                    allowed[token.start[0]] = rules
    except (tokenize.TokenError, SyntaxError):  # ast.parse already accepted the source
        pass
    return allowed


def _silenced(rules: frozenset[str] | None, rule: str) -> bool:
    return rules is not None and (not rules or rule in rules)
