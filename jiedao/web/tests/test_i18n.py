"""Chinese by default, English on request; the English catalogue is complete and compiled (ADR 0006)."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"
PO = LC_MESSAGES / "django.po"
MO = LC_MESSAGES / "django.mo"

_KEYWORD = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+(".*")\s*$')


def parse_po(path: Path) -> list[dict]:
    """A small .po reader (no polib in the requirements): one dict per entry, header and obsolete entries skipped.

    Each entry has ``msgctxt`` (or None), ``msgid``, ``msgstr`` (a dict: "" or "[n]" → text) and ``flags``.
    """
    entries: list[dict] = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        entry: dict = {"msgctxt": None, "msgid": None, "msgstr": {}, "flags": set()}
        key = None
        for raw in block.splitlines():
            line = raw.strip()
            if not line or line.startswith("#~"):
                continue
            if line.startswith("#,"):
                entry["flags"] |= {f.strip() for f in line[2:].split(",")}
                continue
            if line.startswith("#"):
                continue
            match = _KEYWORD.match(line)
            if match:
                key, text = match.group(1), ast.literal_eval(match.group(2))
            elif line.startswith('"') and key:
                text = ast.literal_eval(line)
            else:
                raise AssertionError(f"{path}: cannot parse line {raw!r}")
            if key.startswith("msgstr"):
                slot = key[len("msgstr"):]
                entry["msgstr"][slot] = entry["msgstr"].get(slot, "") + text
            else:
                entry[key] = (entry.get(key) or "") + text
        if entry["msgid"] is None or entry["msgid"] == "":  # obsolete-only block, or the header
            continue
        entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def entries():
    assert PO.exists(), f"{PO} is missing: run makemessages (see docs/decisions/0006-chinese-msgids.md)"
    return parse_po(PO)


def english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


# --- The catalogue -----------------------------------------------------------------------------------------------


def test_every_message_is_translated_and_none_is_fuzzy(entries):
    assert len(entries) > 100
    untranslated = [e["msgid"] for e in entries if not e["msgstr"] or not all(s.strip() for s in e["msgstr"].values())]
    assert not untranslated, f"{len(untranslated)} msgids without an English msgstr, e.g. {untranslated[:5]}"
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert not fuzzy, f"fuzzy entries left in {PO.name}: {fuzzy[:5]}"


def test_placeholders_are_kept(entries):
    placeholder = re.compile(r"%(?:\([a-z_]+\))?[sd]|\{[a-z_]*\}")
    for e in entries:
        want = sorted(placeholder.findall(e["msgid"]))
        for text in e["msgstr"].values():
            assert sorted(placeholder.findall(text)) == want, (e["msgid"], text)


def test_the_compiled_catalogue_matches_the_po(entries):
    """The committed .mo (CI may not have gettext) says exactly what the .po says: recompile after editing."""
    assert MO.exists() and MO.stat().st_size > 0, f"{MO} is missing: run compilemessages and commit the .mo"
    with MO.open("rb") as fh:
        catalogue = gettext.GNUTranslations(fh)
    stale = []
    for e in entries:
        if "" not in e["msgstr"]:
            continue  # plural entries are checked by msgfmt itself
        got = (catalogue.pgettext(e["msgctxt"], e["msgid"]) if e["msgctxt"] is not None
               else catalogue.gettext(e["msgid"]))
        if got != e["msgstr"][""]:
            stale.append(e["msgid"])
    assert not stale, f"{MO.name} is out of date for {len(stale)} messages, e.g. {stale[:3]}: run compilemessages"


# --- Pages -------------------------------------------------------------------------------------------------------


def test_login_page_is_chinese_by_default(db):
    html = Client().get("/accounts/login/").content.decode()
    assert '<html lang="zh-hans">' in html
    assert "一网统管" in html and ">用户名</label>" in html and ">密码</label>" in html
    assert 'type="submit">登录</button>' in html


def test_login_page_in_english(db):
    html = english(Client()).get("/accounts/login/").content.decode()
    assert '<html lang="en">' in html
    assert "Unified Governance" in html and ">Username</label>" in html and ">Password</label>" in html
    assert 'type="submit">Log in</button>' in html
    assert "登录" not in html and "用户名" not in html


def test_people_list_is_chinese_by_default(town, client_for):
    html = client_for(town.users["rc_staff"]).get("/people/").content.decode()
    assert '<html lang="zh-hans">' in html
    assert ">人口</a>" in html and ">搜索</button>" in html and "人口信息" in html and ">退出</button>" in html
    assert "王小明" in html


def test_people_list_in_english(town, client_for):
    html = english(client_for(town.users["rc_staff"])).get("/people/").content.decode()
    assert '<html lang="en">' in html
    # Navigation (context processor), page text (template) and the data, which stays as entered.
    assert ">People</a>" in html and ">Messages" in html and ">Log out</button>" in html
    assert ">Search</button>" in html and "People registry" in html and ">ID number<" in html
    assert 'placeholder="Name, or full ID number / mobile number"' in html
    assert ">搜索</button>" not in html and ">人口</a>" not in html
    assert "王小明" in html


def test_person_form_labels_in_english(town, client_for):
    html = english(client_for(town.users["rc_staff"])).get("/people/new/").content.decode()
    assert ">Add person</h2>" in html and ">Full address</label>" in html and ">Save</button>" in html


def test_language_switcher_sets_english_for_the_session(town, client_for):
    client = client_for(town.users["rc_staff"])
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/people/"})
    assert response.status_code == 302 and response.url == "/people/"
    assert ">Search</button>" in client.get("/people/").content.decode()


def test_case_console_and_inspections_home_in_english(town, client_for):
    client = english(client_for(town.users["dispatcher"]))
    html = client.get("/cases/").content.decode()
    assert '<html lang="en">' in html
    assert ">Case intake and dispatch</h2>" in html and ">Record a new case</a>" in html
    assert ">Overdue only</span>" in html and ">Dispatch selected</button>" in html
    assert "案件受理与派遣" not in html and "批量派遣" not in html
    html = client.get("/inspections/").content.decode()
    assert ">Inspection</h2>" in html and ">Recent inspections</h3>" in html and ">Plan completion</a>" in html
    assert "最近的检查" not in html and "计划完成情况" not in html


def test_evaluation_page_in_english(town, client_for):
    html = english(client_for(town.users["leader"])).get("/cases/evaluation/").content.decode()
    assert ">Of which co-handled</th>" in html and "Definitions: on-time close rate" in html
    assert "其中协办" not in html and "计算口径" not in html


def test_chinese_is_the_default_whatever_the_browser_says(town, client_for):
    page = client_for(town.users["rc_staff"]).get("/people/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "人口信息" in page.content.decode()
