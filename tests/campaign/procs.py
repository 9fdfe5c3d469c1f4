"""The campaign's subprocesses, seen from the campaign process: the zart workers (which the
nemesis kills, pauses and replaces) and the racers (which start one id at the same moment)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .config import ENV_DSN, ENV_THREADS, ENV_WORKER_NAME, ROOT


@dataclass
class WorkerProc:
    """One worker subprocess: its slot, generation, name (its backends' application_name)."""

    slot: int
    generation: int
    name: str
    threads: int
    process: subprocess.Popen[bytes]
    log: Path
    paused: bool = False
    killed: bool = False      # by the nemesis
    stopped: bool = False     # by the campaign, at the end

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None


def subprocess_env(dsn: str, engine_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a campaign subprocess. It runs in ``engine_dir`` (a copy of zart
    taken when the run began: zart may be edited while a campaign runs, and every worker,
    replacements included, must run the same engine) and finds ``tests`` on PYTHONPATH."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, ENV_DSN: dsn, "PYTHONPATH": path, **extra}


@dataclass
class WorkerPool:
    """``size`` worker slots; a killed worker is replaced by a new one in its slot."""

    dsn: str
    log_dir: Path
    engine_dir: Path
    threads: list[int]                      # per slot, from the seed
    procs: list[WorkerProc] = field(default_factory=list)     # every one ever started
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spawn(self, slot: int) -> WorkerProc:
        generation = sum(1 for p in self.procs if p.slot == slot)
        name = f"zart-worker-c{slot}g{generation}"
        log = self.log_dir / f"{name}.log"
        env = subprocess_env(self.dsn, self.engine_dir, **{
            ENV_WORKER_NAME: name, ENV_THREADS: str(self.threads[slot])})
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "tests.campaign.worker", "worker"],
                                       cwd=self.engine_dir, env=env, stdout=out,
                                       stderr=subprocess.STDOUT)
        proc = WorkerProc(slot, generation, name, self.threads[slot], process, log)
        with self.lock:
            self.procs.append(proc)
        return proc

    def start(self) -> None:
        for slot in range(len(self.threads)):
            self.spawn(slot)

    def current(self) -> list[WorkerProc]:
        """The live worker of each slot."""
        with self.lock:
            latest: dict[int, WorkerProc] = {}
            for p in self.procs:
                latest[p.slot] = p
            return [p for p in latest.values() if p.alive()]

    def by_pid(self) -> dict[int, WorkerProc]:
        with self.lock:
            return {p.pid: p for p in self.procs}

    def kill(self, proc: WorkerProc) -> None:
        proc.killed = True
        proc.process.send_signal(signal.SIGKILL)
        proc.process.wait(10)

    def pause(self, proc: WorkerProc) -> None:
        proc.paused = True
        proc.process.send_signal(signal.SIGSTOP)

    def resume(self, proc: WorkerProc) -> None:
        if proc.alive():
            proc.process.send_signal(signal.SIGCONT)
        proc.paused = False

    def heal(self) -> list[str]:
        """Resume every paused worker and refill every empty slot; what was done."""
        done = []
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            if p.paused:
                self.resume(p)
                done.append(f"resumed {p.name}")
        live = {p.slot for p in self.current()}
        for slot in range(len(self.threads)):
            if slot not in live:
                done.append(f"started {self.spawn(slot).name}")
        return done

    def stop(self, timeout: float = 30.0) -> list[str]:
        """SIGTERM every live worker (a graceful stop), then SIGKILL what is left; the
        workers that had to be killed."""
        problems = []
        with self.lock:
            procs = [p for p in self.procs if p.alive()]
        for p in procs:
            p.stopped = True
            if p.paused:
                self.resume(p)
            p.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problems.append(f"{p.name} did not stop within {timeout}s: killed")
                p.process.kill()
                p.process.wait(10)
        return problems

    def unexpected_exits(self) -> list[str]:
        """Workers that exited although nobody killed or stopped them (once each)."""
        out = []
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            if not p.alive() and not p.killed and not p.stopped:
                p.stopped = True   # reported once
                last = self.tail(p, 1).strip()
                out.append(f"{p.name} exited by itself (status {p.process.returncode}): {last}")
        return out

    def tail(self, proc: WorkerProc, lines: int = 30) -> str:
        try:
            return "\n".join(proc.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Racers:
    """``count`` racer subprocesses (``worker.py racer``) answering start requests."""

    def __init__(self, dsn: str, count: int, log_dir: Path, engine_dir: Path,
                 on_answer: Callable[[dict[str, Any]], None]) -> None:
        env = subprocess_env(dsn, engine_dir)
        self.on_answer = on_answer
        self.procs: list[subprocess.Popen[str]] = []
        self.logs: list[IO[bytes]] = []
        for i in range(count):
            err = (log_dir / f"racer-{i}.log").open("wb")
            self.logs.append(err)
            proc = subprocess.Popen([sys.executable, "-m", "tests.campaign.worker", "racer"],
                                    cwd=engine_dir, env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, text=True)
            self.procs.append(proc)
        self.readers = [threading.Thread(target=self._read, args=(p,), daemon=True)
                        for p in self.procs]
        self.ready = threading.Semaphore(0)
        for r in self.readers:
            r.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        for _ in self.procs:
            if not self.ready.acquire(timeout=timeout):
                raise RuntimeError("a racer did not start")

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            message = json.loads(line)
            if "ready" in message:
                self.ready.release()
            else:
                self.on_answer(message)

    def request(self, request: dict[str, Any]) -> int:
        """Send ``request`` to every racer; how many were asked."""
        text = json.dumps(request) + "\n"
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(text)
            proc.stdin.flush()
        return len(self.procs)

    def close(self, timeout: float = 150.0) -> None:
        for proc in self.procs:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for r in self.readers:
            r.join(5)
        for log in self.logs:
            log.close()
