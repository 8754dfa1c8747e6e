"""The Korean console is complete: every catalogue entry is translated (none fuzzy, placeholders kept, the compiled
catalogue current), and the Korean admin names every table in Korean, never "1order" or "1engine event"."""

from __future__ import annotations

import ast
import html
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import translation

from tests import factories
from tests.korean_seed import english_words, seed_console
from trading.models import Order

CATALOGUE = Path(__file__).resolve().parent.parent / "locale" / "ko" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w*\}")


@dataclass
class Entry:
    line: int
    flags: set[str]
    context: str | None
    msgid: str
    plural: str | None
    msgstrs: list[str]


def _text(lines: list[str]) -> str:
    return "".join(ast.literal_eval(line) for line in lines)


def catalogue_entries(path: Path = CATALOGUE) -> list[Entry]:
    """The entries of a .po file (obsolete `#~` entries, which are never used, are skipped)."""
    entries: list[Entry] = []
    for block, first_line in _blocks(path.read_text(encoding="utf-8")):
        flags: set[str] = set()
        fields: dict[str, list[str]] = {}
        current = ""
        for line in block:
            if line.startswith("#,"):
                flags |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                fields[current].append(line)
            else:
                keyword, _, rest = line.partition(" ")
                current = keyword
                fields[current] = [rest]
        if "msgid" not in fields:
            continue
        msgstrs = [_text(value) for key, value in fields.items() if key.startswith("msgstr")]
        plural = _text(fields["msgid_plural"]) if "msgid_plural" in fields else None
        context = _text(fields["msgctxt"]) if "msgctxt" in fields else None
        entries.append(Entry(first_line, flags, context, _text(fields["msgid"]), plural, msgstrs))
    return [entry for entry in entries if entry.msgid]  # the header's msgid is ""


def _blocks(text: str) -> list[tuple[list[str], int]]:
    blocks, block, start = [], [], 1
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if block:
                blocks.append((block, start))
            block = []
            continue
        if not block:
            start = number
        if not line.startswith("#~"):
            block.append(line)
    if block:
        blocks.append((block, start))
    return blocks


# ---------------------------------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------------------------------
def test_the_catalogue_is_read_as_it_is_written(tmp_path):
    """The parser the checks below rely on sees an untranslated entry, a fuzzy one and a multi-line one."""
    sample = tmp_path / "django.po"
    sample.write_text(
        'msgid ""\nmsgstr ""\n"Language: ko\\n"\n\n'
        'msgid "Start"\nmsgstr "시작"\n\n'
        '#, fuzzy\nmsgid "Stop"\nmsgstr "정지"\n\n'
        'msgid ""\n"two "\n"lines"\nmsgstr ""\n\n'
        '#~ msgid "gone"\n#~ msgstr ""\n',
        encoding="utf-8",
    )

    entries = catalogue_entries(sample)

    assert [(entry.msgid, entry.msgstrs, "fuzzy" in entry.flags) for entry in entries] == [
        ("Start", ["시작"], False),
        ("Stop", ["정지"], True),
        ("two lines", [""], False),
    ]


def test_every_korean_entry_is_translated_and_none_is_fuzzy():
    entries = catalogue_entries()
    assert len(entries) > 500  # the whole console, not a stub

    untranslated = [f"line {e.line}: {e.msgid[:80]!r}" for e in entries if not all(text.strip() for text in e.msgstrs)]
    fuzzy = [f"line {e.line}: {e.msgid[:80]!r}" for e in entries if "fuzzy" in e.flags]

    assert untranslated == [], "untranslated Korean entries:\n" + "\n".join(untranslated)
    assert fuzzy == [], "fuzzy Korean entries (check the translation, then remove the flag):\n" + "\n".join(fuzzy)


def test_every_translation_keeps_the_placeholders_of_its_english():
    broken = [
        f"line {entry.line}: {entry.msgid[:80]!r}"
        for entry in catalogue_entries()
        for text in entry.msgstrs
        if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(entry.plural or entry.msgid))
        and set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(entry.plural or entry.msgid))
    ]

    assert broken == []


def test_the_compiled_catalogue_matches_the_written_one():
    """`compilemessages` was run after the last change: Django reads the .mo, never the .po."""
    stale = []
    with translation.override("ko"):
        for entry in catalogue_entries():
            if entry.plural is not None:
                continue
            shown = translation.pgettext(entry.context, entry.msgid) if entry.context else translation.gettext(entry.msgid)
            if shown != entry.msgstrs[0]:
                stale.append(entry.msgid[:80])

    assert stale == [], "run: python manage.py compilemessages -l ko --ignore '.venv/*'"


# ---------------------------------------------------------------------------------------------------
# The Korean admin
# ---------------------------------------------------------------------------------------------------
def _visible(page: str) -> str:
    page = re.sub(r"(?s)<(script|style|template)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<!--.*?-->", " ", page)
    page = re.sub(r"<[^>]+>", " ", page)
    return " ".join(html.unescape(page).split())


# Django's Korean admin around an English model name: "보기위한 1order 를(을) 선택", "1engine event".
GARBLED = (
    re.compile(r"(?<![\w-])\d+[a-z]{3,}(?![\w-])"),
    re.compile(r"를\(을\) 선택"),
    re.compile(r"[A-Za-z]+\s*를\(을\)"),
    re.compile(r"[A-Za-z]+\s*이\(가\)"),
)
OUR_APPS = ("trading", "exchange")


def _english_names() -> dict[type, tuple[str, str]]:
    with translation.override("en"):
        return {
            model: (str(model._meta.verbose_name), str(model._meta.verbose_name_plural))
            for model in admin.site._registry
            if model._meta.app_label in OUR_APPS
        }


def _admin_pages(client) -> list[tuple[str, str]]:
    pages = [("index", reverse("admin:index"))]
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        if info[0] == "auth":
            continue  # its permission lists name every table by the English text stored when it was created
        pages.append((f"{info[1]} list", reverse("admin:{}_{}_changelist".format(*info))))
        pages.append((f"{info[1]} add", reverse("admin:{}_{}_add".format(*info))))
        row = model._default_manager.order_by("pk").first()
        if row is not None:
            pages.append((f"{info[1]} row", reverse("admin:{}_{}_change".format(*info), args=[row.pk])))
    shown = []
    for name, url in pages:
        response = client.get(url, follow=True)
        if response.status_code == 200:  # add pages of read-only tables answer 403
            shown.append((name, _visible(response.content.decode())))
    return shown


@pytest.fixture
def korean_admin(admin_client):
    seed_console()
    factories.StrategyConfigFactory()
    factories.CandleFactory()
    factories.BacktestRunFactory()
    factories.OptimizationTrialFactory()
    admin_client.cookies["django_language"] = "ko"
    return admin_client


def test_every_table_of_the_korean_admin_has_a_korean_name(korean_admin):
    for model, names in _english_names().items():
        with translation.override("ko"):
            korean = (str(model._meta.verbose_name), str(model._meta.verbose_name_plural))
        assert korean != names, f"{model.__name__} has no Korean name"
        assert not re.search(r"[A-Za-z]{3,}", korean[0] + korean[1].replace("PnL", "")), korean

    pages = _admin_pages(korean_admin)
    assert len(pages) > 30

    for page, text in pages:
        for pattern in GARBLED:
            assert not pattern.search(text), (page, pattern.search(text).group(0))  # type: ignore[union-attr]
        if page.endswith(" row"):
            continue  # a row's page also shows its stored English audit text (an event's message), which is data
        for singular, plural in _english_names().values():
            for english in {singular, plural} - {"daily PnL"}:
                # `signal=9` is a strategy parameter's name (an identifier, like a setting's), not a table's name.
                assert not re.search(rf"(?<![\w\"-]){re.escape(english)}(?![\w\"=-])", text, re.IGNORECASE), (page, english)


def test_the_korean_admin_titles_filters_and_columns_are_korean(korean_admin):
    orders = _visible(korean_admin.get(reverse("admin:trading_order_changelist")).content.decode())
    order = Order.objects.get()
    row = _visible(korean_admin.get(reverse("admin:trading_order_change", args=[order.pk])).content.decode())
    engine = _visible(korean_admin.get(reverse("admin:trading_enginestate_change", args=[1])).content.decode())

    assert "조회할 주문 선택" in orders
    for korean in ("날짜 범위", "상태", "방향", "주문 유형", "시각", "체결 금액 (KRW)", "수수료", "매수", "체결"):
        assert korean in orders, korean
    for korean in ("주문 유형", "거래소 UUID", "취소 요청자", "시장가 매수 (KRW 금액)"):
        assert korean in row, korean
    assert "엔진: 실행 중" in engine
    assert english_words(orders) == set()


def test_the_english_admin_is_unchanged(admin_client):
    seed_console()
    admin_client.cookies["django_language"] = "en"

    page = _visible(admin_client.get(reverse("admin:trading_order_changelist")).content.decode())

    assert "Select order to view" in page
    assert "order type" in page
    assert "buy" in page.lower()
