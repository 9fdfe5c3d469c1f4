"""The whole command: the group of :mod:`.app` with every command module's commands added
(importing a module adds its commands)."""

from .app import cli
from .commands_lint import lint_command
from .commands_pause import pause_command, pauses_command, purge_command, unpause_command
from .commands_read import list_command, show_command, stats_command, workers_command
from .commands_repair import (
    cancel_command,
    rerun_command,
    restart_command,
    resume_command,
    retry_command,
    send_event_command,
)
from .commands_replay import export_command, replay_check_command
from .commands_run import migrate_command, start_command, worker_command
from .commands_schedule import schedule_group
from .commands_serve import serve_command

__all__ = ["cancel_command", "cli", "export_command", "lint_command", "list_command",
           "migrate_command", "pause_command", "pauses_command", "purge_command",
           "replay_check_command", "rerun_command", "restart_command", "resume_command",
           "retry_command", "schedule_group", "send_event_command", "serve_command",
           "show_command", "start_command", "stats_command",
           "unpause_command", "worker_command", "workers_command"]
