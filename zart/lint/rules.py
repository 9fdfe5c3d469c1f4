"""What ``zart lint`` flags in a workflow body, and what to use instead.

A workflow body runs again on every replay (after a suspension, a crash, a deploy), so what it
computes must come out the same each time. Each rule names the calls (by their qualified name,
whatever they were imported as) that break that, says why, and gives the zart alternative.
Steps are never checked: running side effects is what they are for.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RULES", "Rule", "rule_for"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind of non-determinism: the names it covers, why it breaks a replay, what to use
    instead. ``exact`` names match themselves; ``prefixes`` match a module and everything in it
    (``"random"``: ``random.random``, ``random.Random``...)."""

    name: str
    reason: str
    instead: str
    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    methods: frozenset[str] = frozenset()
    """Method names flagged on any object (pathlib's ``read_text``...), whose owner the
    linter cannot know."""

    def matches(self, qualified: str) -> bool:
        """Whether the qualified name ``qualified`` falls under this rule."""
        return qualified in self.exact or any(
            qualified == p or qualified.startswith(p + ".") for p in self.prefixes)


RULES: tuple[Rule, ...] = (
    Rule("clock", "reads the wall clock: a replay sees another time than the first run",
         'now = yield zart.now("name") (recorded once, the same on every replay)',
         exact=frozenset({
             "time.time", "time.time_ns", "time.monotonic", "time.monotonic_ns",
             "time.perf_counter", "time.perf_counter_ns", "time.process_time",
             "time.localtime", "time.gmtime", "time.ctime", "time.asctime",
             "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
             "datetime.date.today"})),
    Rule("sleep", "blocks the worker's thread and is not durable: a crash or a replay "
                  "sleeps again",
         'yield zart.sleep("name", duration) (durable, holds no thread)',
         exact=frozenset({"time.sleep", "asyncio.sleep"})),
    Rule("random", "draws a new random value on every run: a replay gets another one",
         'value = yield zart.capture("name", fn) (recorded once)',
         exact=frozenset({"os.urandom", "os.getrandom", "uuid.uuid1", "uuid.uuid4"}),
         prefixes=("random", "secrets", "numpy.random")),
    Rule("environment", "reads the environment, which may differ on the worker that "
                        "replays it",
         "the workflow's input, a step, or zart.capture",
         exact=frozenset({"os.getenv", "os.getenvb", "os.putenv", "os.unsetenv",
                          "os.getpid", "socket.gethostname", "platform.node"}),
         prefixes=("os.environ", "os.environb")),
    Rule("io", "does network or file I/O, which runs again on every replay, outside any "
               "checkpoint",
         "a @zart.step (its outcome is recorded; a replay does not run it again)",
         exact=frozenset({
             "builtins.open", "builtins.input", "io.open", "os.system", "os.popen",
             "os.listdir", "os.scandir", "os.walk", "os.remove", "os.unlink", "os.rename",
             "os.replace", "os.mkdir", "os.makedirs", "os.rmdir", "os.stat", "os.path.exists",
             "os.path.isfile", "os.path.isdir", "os.path.getsize", "os.path.getmtime",
             "glob.glob", "glob.iglob"}),
         prefixes=("socket", "requests", "httpx", "aiohttp", "urllib.request", "urllib3",
                   "http.client", "subprocess", "shutil", "smtplib", "ftplib", "psycopg",
                   "psycopg2", "sqlite3", "boto3"),
         methods=frozenset({"read_text", "write_text", "read_bytes", "write_bytes"})),
    Rule("thread", "starts threads or processes, which run outside the replayed history",
         "zart.parallel(...) of steps, or a step",
         prefixes=("threading", "_thread", "concurrent.futures", "multiprocessing",
                   "asyncio")),
)
"""Every rule, in the order findings of one line are listed."""


def rule_for(qualified: str) -> Rule | None:
    """The rule the qualified name ``qualified`` falls under, if any."""
    for rule in RULES:
        if rule.matches(qualified):
            return rule
    return None
