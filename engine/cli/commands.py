"""The ``fbh`` commands: where each lives and its one-line help (data only, no typer)."""

from __future__ import annotations

# name: (module, attribute, one-line help), in the order `fbh --help` lists them. A module is
# imported only when its command runs (or its help is shown), so `fbh --help` and the read
# commands load no more than they use (docs/benchmarks.md, "CLI start-up").
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("engine.cli.init", "init", "Write a commented config.toml and create var/."),
    "plan": ("engine.cli.plan", "plan_command", "Dry run of a timeline; writes nothing."),
    "demo": ("engine.cli.demo", "demo", "Create two sample programmes and deliver their mail."),
    "serve": ("engine.cli.serve", "serve", "Run the daemon until SIGTERM or SIGINT."),
    "migrate": (
        "engine.cli.migrate",
        "migrate_command",
        "Create the database or bring its schema up to date.",
    ),
    "status": ("engine.cli.serve", "status", "Config, database, daemons, outbox, next job."),
    "workflows": ("engine.cli.workflows", "workflows_app", "Workflow definitions."),
    "programme": ("engine.cli.programme", "programme_app", "Programmes (forløb)."),
    "milestone": ("engine.cli.milestone", "milestone_app", "Milestones of a programme."),
    "outbox": ("engine.cli.outbox", "outbox_app", "The outbox of e-mails."),
    "request": ("engine.cli.request", "request_app", "Requests for programmes."),
    "participant": (
        "engine.cli.participant",
        "participant_app",
        "Participants of the workshop and the course days.",
    ),
    "time": ("engine.cli.time", "time_app", "The tovholder's hours against the budget."),
    "digest": ("engine.cli.digest", "digest_app", "Weekly e-mail digests."),
    "inbox": ("engine.cli.inbox", "inbox_app", "Inbound mail: answers, requests, bounces."),
    "course": ("engine.cli.course", "course_app", "The BASIS course calendar."),
    "feed": ("engine.cli.feed", "feed_app", "Calendar feeds of the consultants' meetings."),
    "backup": ("engine.cli.backup", "backup", "Copy the SQLite database while fbh runs."),
}
