"""Staff accounts from the command line, until the web console manages them.

    python -m actions.storage.staff add --name "Marta" --role staff --team san_salvador_centro \
        [--team nacional] [--telegram-user-id 123456789]
    python -m actions.storage.staff list
    python -m actions.storage.staff deactivate 3
    python -m actions.storage.staff set-password 3 --username marta   # asks for the password

`set-password` gives a staff member a user name and password for the web console (README,
"Staff web console"). The password is read from a prompt (typed twice), or from the first
line of standard input when that is not a terminal, never from the command line (it would
stay in the shell history and the process list). It is stored hashed with argon2.

Team ids must be those of `content/teams.yml`. Accounts are never deleted (the audit log
refers to them): deactivating one stops it from seeing or doing anything. Every change is
written to the audit log, as done by the system (no staff id). Uses DATABASE_URL.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Optional, Sequence

import sqlalchemy as sa

from actions.services import cases, staff_auth
from actions.services.teams import teams
from actions.storage import config
from actions.storage.db import StorageError, make_engine, session_factory, transaction
from actions.storage.models import STAFF_ROLES, StaffUser, utcnow


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m actions.storage.staff",
                                     description="Add, list and deactivate staff accounts.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a staff member")
    add.add_argument("--name", required=True, help="display name shown to colleagues")
    add.add_argument("--role", choices=STAFF_ROLES, default="staff")
    add.add_argument("--team", action="append", default=[], help="team id (repeatable)")
    add.add_argument("--telegram-user-id", type=int, help="for the Telegram staff desk")
    commands.add_parser("list", help="list staff members")
    deactivate = commands.add_parser("deactivate", help="deactivate a staff member")
    deactivate.add_argument("staff_id", type=int)
    password = commands.add_parser("set-password",
                                   help="set a console user name and password (prompted)")
    password.add_argument("staff_id", type=int)
    password.add_argument("--username", required=True, help="the name to sign in with")
    args = parser.parse_args(argv)

    known = teams().by_id
    if args.command == "add":
        unknown = [team for team in args.team if team not in known]
        if unknown or (not args.team and args.role != "admin"):
            print(f"give one or more team ids of content/teams.yml: {', '.join(sorted(known))}",
                  file=sys.stderr)
            return 2
    secret = ""
    if args.command == "set-password":
        secret = read_password()
        if secret is None:
            print("the two passwords differ", file=sys.stderr)
            return 2
    engine = make_engine(config.database_url())
    try:
        with transaction(session_factory(engine)) as session:
            if args.command == "add":
                added = cases.create_staff(session, args.name, args.role, args.team, utcnow(),
                                           telegram_user_id=args.telegram_user_id)
                print(f"added staff member {added.id} ({added.role}: "
                      f"{', '.join(added.teams) or 'all teams'})")
            elif args.command == "list":
                for row in session.execute(sa.select(StaffUser).order_by(StaffUser.id)).scalars():
                    state = "active" if row.active else "inactive"
                    print(f"{row.id}\t{row.display_name}\t{row.role}\t"
                          f"{','.join(row.teams or [])}\t{state}")
            elif args.command == "set-password":
                changed = staff_auth.set_password(session, args.staff_id, args.username, secret,
                                                  utcnow())
                print(f"password set for staff member {changed.id}")
            else:
                gone = cases.deactivate_staff(session, args.staff_id, utcnow())
                print(f"deactivated staff member {gone.id}")
    except cases.NotFound:
        print("no such staff member", file=sys.stderr)
        return 1
    except staff_auth.AuthError as error:
        print(str(error), file=sys.stderr)
        return 2
    except (StorageError, config.ConfigError) as error:
        print(f"staff command failed: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def read_password() -> Optional[str]:
    """The new password: prompted twice on a terminal (None when they differ), else the first
    line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        return first if getpass.getpass("Repeat it: ") == first else None
    return sys.stdin.readline().rstrip("\r\n")


if __name__ == "__main__":
    raise SystemExit(main())
