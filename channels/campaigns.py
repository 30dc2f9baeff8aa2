"""Consular links and QR codes, and how many conversations each consulate's links brought.

    python -m channels.campaigns list
    python -m channels.campaigns links CONS-LA01 [--lang en] [--out links/CONS-LA01]
    python -m channels.campaigns counts [--since 2026-11-01]

`links` prints, for a code of content/campaigns.yml, the Telegram deep link
(`https://t.me/<bot>?start=<code>`), the WhatsApp click-to-chat link with the prefilled text
that carries the code, and the web chat link (`<public url>/webhooks/webchat/?ref=<code>&
lang=<es|en>`); with `--out` it also writes a QR code of each, as PNG (posters, screens) and
SVG (print at any size), and the links in links.txt. The language is the campaign's unless
`--lang` says otherwise. Unknown codes are refused: add the consulate to the catalog first.

Settings (environment; the command stops and names any that is missing or malformed):

| variable | example | |
|---|---|---|
| `RETORNO_PUBLIC_URL` | `https://retorno.example.org` | where the Rasa server is reached |
| `TELEGRAM_BOT_USERNAME` | `RetornoSVbot` | the Telegram bot's username |
| `WHATSAPP_NUMBER` | `+503 7000 0000` | the WhatsApp number; defaults to `TWILIO_WHATSAPP_FROM` |

`counts` reads `DATABASE_URL` (actions/storage/config.py) and prints the number of new
conversations per code and channel; there is nothing personal to print.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, TextIO

import qrcode
import qrcode.image.svg

from actions.services import campaigns as catalog
from actions.storage import config
from actions.storage.campaign_counts import ContactCount, contact_counts
from actions.storage.db import StorageError, make_engine, session_factory, transaction

CHANNELS = ("telegram", "whatsapp", "webchat")
_USERNAME = re.compile(r"@?[A-Za-z][A-Za-z0-9_]{4,31}")
_URL = re.compile(r"https?://[^/?#\s]+(/[^?#\s]*)?")


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class LinkSettings:
    public_url: str
    bot_username: str
    whatsapp_number: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "LinkSettings":
        """The three settings, or SettingsError naming every one that is missing or wrong."""
        def value(name: str) -> str:
            return environ.get(name, "").strip()

        number = value("WHATSAPP_NUMBER") or value("TWILIO_WHATSAPP_FROM").removeprefix(
            "whatsapp:")
        values = {"RETORNO_PUBLIC_URL": value("RETORNO_PUBLIC_URL"),
                  "TELEGRAM_BOT_USERNAME": value("TELEGRAM_BOT_USERNAME"),
                  "WHATSAPP_NUMBER": number}
        problems = [f"{name} is not set" for name, found in values.items() if not found]
        if values["RETORNO_PUBLIC_URL"] and not _URL.fullmatch(values["RETORNO_PUBLIC_URL"]):
            problems.append("RETORNO_PUBLIC_URL must be like https://retorno.example.org")
        if values["TELEGRAM_BOT_USERNAME"] and not _USERNAME.fullmatch(
                values["TELEGRAM_BOT_USERNAME"]):
            problems.append("TELEGRAM_BOT_USERNAME must be the bot's username, like RetornoSVbot")
        digits = re.sub(r"[\s().-]", "", number).removeprefix("+")
        if number and not re.fullmatch(r"\d{8,15}", digits):
            problems.append("WHATSAPP_NUMBER must be a phone number in international form, "
                            "like +503 7000 0000")
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(values["RETORNO_PUBLIC_URL"], values["TELEGRAM_BOT_USERNAME"], digits)


def campaign_links(code: str, language: str, settings: LinkSettings) -> Dict[str, str]:
    """The three links of campaign `code`, by channel."""
    return {
        "telegram": catalog.telegram_link(settings.bot_username, code),
        "whatsapp": catalog.whatsapp_link(settings.whatsapp_number,
                                          catalog.whatsapp_text(code, language)),
        "webchat": catalog.webchat_link(settings.public_url, code, language),
    }


def write_qr_codes(links: Mapping[str, str], out: Path, code: str) -> List[Path]:
    """A PNG and an SVG QR code of each link, and links.txt, in `out`; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for channel, link in links.items():
        for suffix, factory in ((".png", None), (".svg", qrcode.image.svg.SvgPathImage)):
            path = out / f"{code}-{channel}{suffix}"
            qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M,
                               box_size=10, border=4, image_factory=factory)
            qr.add_data(link)
            qr.make(fit=True)
            qr.make_image().save(str(path))
            written.append(path)
    listing = out / "links.txt"
    listing.write_text("".join(f"{channel}: {link}\n" for channel, link in links.items()),
                       encoding="utf-8")
    written.append(listing)
    return written


def format_counts(rows: Sequence[ContactCount],
                  known: Mapping[str, catalog.Campaign]) -> List[str]:
    """A plain table of counts per code and channel, with the consulate's name, and a total."""
    lines = [f"{'code':<12} {'channel':<10} {'conversations':>13}  consulate"]
    for row in rows:
        consulate = known[row.code].consulate if row.code in known else "(not in the catalog)"
        lines.append(f"{row.code:<12} {row.channel:<10} {row.count:>13}  {consulate}")
    lines.append(f"{'total':<23} {sum(row.count for row in rows):>13}")
    return lines


def _links(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    code = catalog.known_code(args.code)
    if code is None:
        print(f"unknown campaign code {args.code!r}: add it to content/campaigns.yml first "
              f"(known: {', '.join(sorted(catalog.campaigns()))})", file=err)
        return 2
    try:
        settings = LinkSettings.from_environment()
    except SettingsError as error:
        print(f"cannot make links: {error}", file=err)
        return 2
    campaign = catalog.campaigns()[code]
    language = args.lang or campaign.language
    links = campaign_links(code, language, settings)
    print(f"{code}: {campaign.consulate} ({campaign.country}), {language}", file=out)
    for channel in CHANNELS:
        print(f"{channel}: {links[channel]}", file=out)
    if args.out:
        for path in write_qr_codes(links, Path(args.out), code):
            print(f"wrote {path}", file=out)
    return 0


def _counts(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    since: Optional[dt.date] = None
    if args.since:
        try:
            since = dt.date.fromisoformat(args.since)
        except ValueError:
            print("--since must be a date like 2026-11-01", file=err)
            return 2
    engine = make_engine(config.database_url())
    try:
        with transaction(session_factory(engine)) as session:
            rows = contact_counts(session, since)
    finally:
        engine.dispose()
    for line in format_counts(rows, catalog.campaigns()):
        print(line, file=out)
    return 0


def _list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    for campaign in catalog.campaigns().values():
        print(f"{campaign.code:<12} {campaign.language}  {campaign.consulate} "
              f"({campaign.country})", file=out)
    return 0


def main(argv: Optional[List[str]] = None, out: TextIO = sys.stdout,
         err: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.campaigns",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the known campaign codes")
    links = commands.add_parser("links", help="links (and QR codes) of a campaign")
    links.add_argument("code", help="a code of content/campaigns.yml, e.g. CONS-LA01")
    links.add_argument("--lang", choices=catalog.LANGUAGES,
                       help="language of the WhatsApp text and web chat (default: campaign's)")
    links.add_argument("--out", help="folder for the QR codes (PNG, SVG) and links.txt")
    counts = commands.add_parser("counts", help="new conversations per campaign and channel")
    counts.add_argument("--since", help="only from this day on (YYYY-MM-DD, UTC)")
    args = parser.parse_args(argv)
    command = {"list": _list, "links": _links, "counts": _counts}[args.command]
    try:
        return command(args, out, err)
    except config.ConfigError as error:
        print(f"configuration: {error}", file=err)
        return 2
    except StorageError as error:
        print(f"{error}: is DATABASE_URL right, and migrated "
              "(python -m actions.storage.migrate)?", file=err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
