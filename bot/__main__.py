"""Entry point: ``python -m bot [run | console | db upgrade]``.

``run`` (the default) polls Telegram, or serves a webhook when ``WEBHOOK_URL`` is set;
``console`` runs the same bot in the terminal without a token or network;
``db upgrade`` brings the database schema up to date and exits.
"""

from __future__ import annotations

import argparse
import sys

from bot.config import ConfigError, configure_logging, load_settings

CONSOLE_USER_ID = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot against Telegram (default)")
    console = sub.add_parser("console", help="talk to the bot in this terminal, no token needed")
    console.add_argument(
        "--user-id", type=int, default=CONSOLE_USER_ID, help="the Telegram user id to play"
    )
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="upgrade: apply pending migrations")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, check the settings and run the chosen command."""
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings(need_token=command == "run")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level if command == "run" else "WARNING")

    if command == "db":
        from storage.migrate import upgrade

        upgrade(settings.database_url)
        print("database is up to date")
        return 0
    if command == "console":
        from bot.console import run_console

        return run_console(settings, args.user_id)

    from bot.runner import run

    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
