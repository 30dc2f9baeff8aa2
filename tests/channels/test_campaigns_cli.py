"""`python -m channels.campaigns`: links, QR codes (decoded back offline with zxing-cpp) and
counts."""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Dict, Tuple

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from actions.storage.campaign_counts import record_contact
from actions.storage.db import make_engine, session_factory, transaction
from actions.storage.migrate import upgrade
from channels import campaigns as command

ENV = {"RETORNO_PUBLIC_URL": "https://retorno.example.org",
       "TELEGRAM_BOT_USERNAME": "RetornoSVbot", "WHATSAPP_NUMBER": "+503 7000-0000"}
LINKS_EN = {
    "telegram": "https://t.me/RetornoSVbot?start=CONS-LA01",
    "whatsapp": "https://wa.me/50370000000?text=Hello%21%20%28code%20CONS-LA01%29",
    "webchat": "https://retorno.example.org/webhooks/webchat/?ref=CONS-LA01&lang=en",
}


@pytest.fixture
def environment(monkeypatch) -> Dict[str, str]:
    for name in (*ENV, "TWILIO_WHATSAPP_FROM", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return ENV


def run(*argv: str) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = command.main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def decode_png(path: Path) -> str:
    results = zxingcpp.read_barcodes(Image.open(path))
    assert len(results) == 1 and results[0].format == zxingcpp.BarcodeFormat.QRCode
    return results[0].text


def decode_svg(path: Path) -> str:
    """Draws the SVG's squares (qrcode's path image: "Mx,yH..V..H..z" per module) and decodes
    the drawing: the SVG itself must hold the right code, not just be valid XML."""
    root = ElementTree.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    size = int(root.get("viewBox").split()[2])
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 1
    scale = 8
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    modules = re.findall(r"M(\d+),(\d+)H", paths[0].get("d"))
    assert modules
    for x, y in modules:
        left, top = int(x) * scale, int(y) * scale
        draw.rectangle([left, top, left + scale - 1, top + scale - 1], fill=0)
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1
    return results[0].text


def test_links_are_printed_for_a_known_code(environment):
    code, out, err = run("links", "cons-la01", "--lang", "en")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("CONS-LA01: Consulado General de El Salvador en Los Ángeles")
    assert lines[1:] == [f"{channel}: {link}" for channel, link in LINKS_EN.items()]


def test_the_campaigns_language_is_the_default(environment):
    code, out, _ = run("links", "CONS-LA01")  # a Spanish-speaking consulate
    assert code == 0
    assert "lang=es" in out and "text=%C2%A1Hola%21%20%28c%C3%B3digo%20CONS-LA01%29" in out


def test_qr_codes_hold_the_links(environment, tmp_path):
    code, out, _ = run("links", "CONS-LA01", "--lang", "en", "--out", str(tmp_path / "qr"))
    assert code == 0
    folder = tmp_path / "qr"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"CONS-LA01-{c}.{s}" for c in LINKS_EN for s in ("png", "svg")] + ["links.txt"])
    for channel, link in LINKS_EN.items():
        png, svg = folder / f"CONS-LA01-{channel}.png", folder / f"CONS-LA01-{channel}.svg"
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert decode_png(png) == link
        assert decode_svg(svg) == link
        assert f"wrote {png}" in out
    assert (folder / "links.txt").read_text() == "".join(
        f"{channel}: {link}\n" for channel, link in LINKS_EN.items())


def test_unknown_codes_are_refused(environment, tmp_path):
    code, out, err = run("links", "CONS-XX99", "--out", str(tmp_path / "qr"))
    assert code == 2 and out == ""
    assert "unknown campaign code 'CONS-XX99'" in err and "CONS-LA01" in err
    assert not (tmp_path / "qr").exists()


def test_missing_settings_are_all_named(environment, monkeypatch, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name)
    code, out, err = run("links", "CONS-LA01", "--out", str(tmp_path / "qr"))
    assert code == 2 and out == ""
    for name in ENV:
        assert f"{name} is not set" in err
    assert not (tmp_path / "qr").exists()


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("RETORNO_PUBLIC_URL", "retorno.example.org", "RETORNO_PUBLIC_URL must be"),
        ("RETORNO_PUBLIC_URL", "https://retorno.example.org/?x=1", "RETORNO_PUBLIC_URL must be"),
        ("TELEGRAM_BOT_USERNAME", "https://t.me/RetornoSVbot", "TELEGRAM_BOT_USERNAME must be"),
        ("TELEGRAM_BOT_USERNAME", "bot", "TELEGRAM_BOT_USERNAME must be"),
        ("WHATSAPP_NUMBER", "call me", "WHATSAPP_NUMBER must be"),
        ("WHATSAPP_NUMBER", "+1 555", "WHATSAPP_NUMBER must be"),
    ],
)
def test_malformed_settings_are_named(environment, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    code, _, err = run("links", "CONS-LA01")
    assert code == 2 and message in err


def test_the_whatsapp_number_defaults_to_the_twilio_sender(environment, monkeypatch):
    monkeypatch.delenv("WHATSAPP_NUMBER")
    monkeypatch.setenv("TWILIO_WHATSAPP_FROM", "whatsapp:+14155238886")
    code, out, _ = run("links", "CONS-LA01")
    assert code == 0 and "https://wa.me/14155238886?text=" in out


def test_list_shows_the_catalog(environment):
    code, out, _ = run("list")
    assert code == 0
    assert re.search(r"^CONS-LA01\s+es\s+Consulado General de El Salvador en Los Ángeles",
                     out, re.MULTILINE)


@pytest.fixture
def counted_database(environment, monkeypatch, tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'retorno.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    for code, channel, day, times in [
            ("CONS-LA01", "webchat", dt.date(2026, 11, 1), 2),
            ("CONS-LA01", "webchat", dt.date(2026, 11, 20), 3),
            ("CONS-LA01", "telegram", dt.date(2026, 11, 20), 1),
            ("CONS-OLD01", "whatsapp", dt.date(2026, 10, 1), 4)]:
        for _ in range(times):
            with transaction(sessions) as session:
                record_contact(session, code, channel, day)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def table(out: str):
    return [line.split(None, 3) for line in out.splitlines()[1:]]


def test_counts_per_code_and_channel(counted_database):
    code, out, err = run("counts")
    assert code == 0 and err == ""
    assert out.splitlines()[0].split() == ["code", "channel", "conversations", "consulate"]
    assert table(out) == [
        ["CONS-LA01", "telegram", "1", "Consulado General de El Salvador en Los Ángeles"],
        ["CONS-LA01", "webchat", "5", "Consulado General de El Salvador en Los Ángeles"],
        ["CONS-OLD01", "whatsapp", "4", "(not in the catalog)"],
        ["total", "10"]]


def test_counts_since_a_day(counted_database):
    code, out, _ = run("counts", "--since", "2026-11-20")
    assert code == 0
    assert [row[:3] for row in table(out)] == [
        ["CONS-LA01", "telegram", "1"], ["CONS-LA01", "webchat", "3"], ["total", "4"]]


def test_counts_refuse_a_bad_date(counted_database):
    code, _, err = run("counts", "--since", "20/11/2026")
    assert code == 2 and "YYYY" not in err and "2026-11-01" in err


def test_counts_on_a_database_that_is_not_migrated(environment, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, _, err = run("counts")
    assert code == 1 and "actions.storage.migrate" in err
