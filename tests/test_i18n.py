"""The translations in locale/ are complete, compiled and in step with the code (docs/operations.md, "Languages").

- Every entry of every .po file is translated (each plural form) and none is fuzzy or obsolete.
- Each committed .mo holds exactly its .po: read with Python's own gettext reader, it equals the .po as parsed
  here, and it equals what ``msgfmt --check`` compiles from the .po now (so a .po edited without compiling, or
  compiled by hand from something else, fails). The contents are compared, not the files' times: a checkout does
  not keep modification times, and the bytes of a .mo depend on the msgfmt version.
- ``scripts/translations.sh update`` (makemessages for both domains, the one command the docs give) finds no
  string the .po files lack and none they hold for nothing: it runs in a copy of the tree, and the copy's
  msgids must equal the committed ones.

The last two need GNU gettext (msgfmt, xgettext, msgmerge) here, never at run time; without it they skip, and
fail under ARENA_REQUIRE_SERVICES=1 (``./dev test``).
"""

from __future__ import annotations

import ast
import gettext
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, service_missing

LOCALE = REPO_ROOT / "locale"
PO_FILES = sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))
# What the update reads: the copy for the makemessages check needs these, and only these.
SOURCES = ("arena", "leaderboard", "config", "ratings", "model_adapters", "static", "scripts", "locale", "manage.py")


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False
    line: int = 0

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.msgctxt, self.msgid, self.msgid_plural)


def po_entries(path: Path) -> list[Entry]:
    """The entries of a .po file as GNU gettext writes them (quoted strings, continuation lines, #, flags)."""
    entries: list[Entry] = []
    entry, current = Entry(), ""

    def close() -> None:
        nonlocal entry
        if entry.line:
            entries.append(entry)
        entry = Entry()

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            close()
            continue
        if line.startswith("#~"):
            entry.obsolete = True
            entry.line = entry.line or number
            continue
        if line.startswith("#,"):
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            value = ast.literal_eval(line)
        else:
            keyword, rest = line.split(" ", 1)
            if keyword == "msgid" and entry.line and (entry.msgid or entry.msgstr):  # no blank line between entries
                close()
            entry.line = entry.line or number
            current, value = keyword, ast.literal_eval(rest)
            if current.startswith("msgstr"):
                entry.msgstr.setdefault(int(current[7:-1]) if "[" in current else 0, "")
        if current == "msgid":
            entry.msgid += value
        elif current == "msgctxt":
            entry.msgctxt = (entry.msgctxt or "") + value
        elif current == "msgid_plural":
            entry.msgid_plural = (entry.msgid_plural or "") + value
        elif current.startswith("msgstr"):
            entry.msgstr[int(current[7:-1]) if "[" in current else 0] += value
    close()
    return entries


def header_of(entries: list[Entry]) -> Entry:
    header = entries[0]
    assert header.msgid == "" and header.msgctxt is None, "a .po file starts with its header"
    return header


def plural_count(header: Entry) -> int:
    match = re.search(r"^Plural-Forms:\s*nplurals=\s*(\d+)", header.msgstr[0], re.MULTILINE)
    assert match, "the header names no Plural-Forms"
    return int(match[1])


def po_catalog(entries: list[Entry]) -> dict[object, str]:
    """The catalogue a .po defines, keyed as Python's GNUTranslations keys a .mo (context\\x04msgid; (msgid, n))."""
    catalog: dict[object, str] = {}
    for entry in entries:
        if entry.obsolete or "fuzzy" in entry.flags:
            continue
        msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if msgid == "":  # the header, as msgfmt keeps it: without the extraction's date
            catalog[msgid] = re.sub(r"^POT-Creation-Date:.*\n", "", entry.msgstr[0], flags=re.MULTILINE)
        elif entry.msgid_plural is None:
            catalog[msgid] = entry.msgstr[0]
        else:
            for n, text in entry.msgstr.items():
                catalog[(msgid, n)] = text
    return catalog


def mo_catalog(path: Path) -> dict[object, str]:
    with path.open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    return dict(translations._catalog)  # type: ignore[attr-defined]  # the parsed table itself


def po_id(path: Path) -> str:
    return str(path.relative_to(LOCALE))


def test_every_language_of_the_picker_has_both_catalogues() -> None:
    from django.conf import settings
    from django.utils.translation import to_locale

    languages = {to_locale(code) for code, _ in settings.LANGUAGES if code != settings.LANGUAGE_CODE}  # zh_Hans, fr
    assert len(languages) >= 2
    found = {(path.parts[-3], path.stem) for path in PO_FILES}
    assert found == {(lang, domain) for lang in languages for domain in ("django", "djangojs")}


@pytest.mark.parametrize("path", PO_FILES, ids=po_id)
def test_every_message_is_translated_and_none_is_fuzzy(path: Path) -> None:
    entries = po_entries(path)
    header = header_of(entries)
    assert "fuzzy" not in header.flags, f"{po_id(path)}: the header is marked fuzzy"
    forms = plural_count(header)
    problems = []
    for entry in entries[1:]:
        where = f"{po_id(path)}:{entry.line} {entry.msgid[:60]!r}"
        if entry.obsolete:
            problems.append(f"{where}: obsolete (#~); update with --no-obsolete, as scripts/translations.sh does")
        elif "fuzzy" in entry.flags:
            problems.append(f"{where}: fuzzy (a guess msgmerge made); check the translation and drop the flag")
        elif entry.msgid_plural is not None and sorted(entry.msgstr) != list(range(forms)):
            problems.append(f"{where}: {len(entry.msgstr)} plural forms, the language has {forms}")
        elif not all(entry.msgstr.values()):
            problems.append(f"{where}: untranslated")
    assert len(entries) > 1, f"{po_id(path)} has no messages"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", PO_FILES, ids=po_id)
def test_each_mo_holds_exactly_its_po(path: Path) -> None:
    mo = path.with_suffix(".mo")
    assert mo.is_file(), f"{po_id(mo)} is missing: run scripts/translations.sh compile and commit it"
    expected = po_catalog(po_entries(path))
    actual = mo_catalog(mo)
    assert actual.keys() == expected.keys(), (
        f"{po_id(mo)} is out of step with its .po (run scripts/translations.sh compile): "
        f"missing {sorted(map(str, expected.keys() - actual.keys()))[:5]}, "
        f"extra {sorted(map(str, actual.keys() - expected.keys()))[:5]}")
    changed = [key for key in expected if expected[key] != actual[key]]
    assert not changed, f"{po_id(mo)} translates these differently from its .po (recompile): {changed[:5]}"


def gettext_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        service_missing(f"GNU gettext's {name} is not installed (apt-get install gettext); it checks the translations")
    return tool or name


@pytest.mark.parametrize("path", PO_FILES, ids=po_id)
def test_each_mo_is_what_msgfmt_compiles_from_its_po_now(path: Path, tmp_path: Path) -> None:
    msgfmt = gettext_tool("msgfmt")
    compiled = tmp_path / "compiled.mo"
    result = subprocess.run([msgfmt, "--check", "-o", str(compiled), str(path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, f"msgfmt --check refuses {po_id(path)}:\n{result.stderr}"
    assert mo_catalog(path.with_suffix(".mo")) == mo_catalog(compiled), (
        f"{po_id(path.with_suffix('.mo'))} differs from what its .po compiles to: run scripts/translations.sh compile")


def copy_sources(target: Path) -> None:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "vendor", "node_modules", "*.mo")
    for name in SOURCES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=skip)
        else:
            shutil.copy2(source, target / name)


def test_makemessages_finds_no_message_the_catalogues_lack(tmp_path: Path) -> None:
    for tool in ("xgettext", "msgmerge", "msguniq"):
        gettext_tool(tool)
    tree = tmp_path / "tree"
    tree.mkdir()
    copy_sources(tree)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(PYTHON=sys.executable, ARENA_DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run(["bash", "scripts/translations.sh", "update"], cwd=tree, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f"scripts/translations.sh update failed:\n{result.stdout}\n{result.stderr}"
    problems = []
    for path in PO_FILES:
        committed = {e.key for e in po_entries(path)[1:] if not e.obsolete}
        extracted = {e.key for e in po_entries(tree / "locale" / path.relative_to(LOCALE))[1:] if not e.obsolete}
        problems += [f"{po_id(path)}: new message, not in the .po: {key[1]!r}" for key in sorted(
            extracted - committed, key=str)]
        problems += [f"{po_id(path)}: no longer in the code: {key[1]!r}" for key in sorted(
            committed - extracted, key=str)]
    assert not problems, ("the catalogues are out of step with the code: run scripts/translations.sh update, "
                          "translate, then compile\n" + "\n".join(problems))
