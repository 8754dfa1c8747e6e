"""Stored English sentences shown in the reader's language: signal explanations and event messages.

Strategies explain their decisions in English (they are pure and know nothing of Django), and the engine
writes its events' messages in English: that stored text is the audit trail (logs, the API, exports) and
stays as it is. A page shows it through `shown_sentence`, which recognises the known sentence shapes
(trading/sentence_shapes.py) and writes them again in the active language, with the same figures. A sentence it does not know
(an exchange's own error text, say) is shown as stored.

Each shape is an English template with named `%(placeholders)s`, marked with `gettext_noop` so
`makemessages` puts it in the catalogue; its translation must use the same placeholders. Placeholders
named in `NESTED` hold sentences of their own (a reason, a risk gate's reasons joined by "; ") and are
translated in turn. An explanation's parts are joined by "; " (outside brackets): a text that is not one
known sentence as a whole is translated part by part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from django.utils.translation import get_language, gettext, gettext_noop

from trading.labels import code_label
from trading.sentence_shapes import EVENT_SENTENCES, LOOSE_TEMPLATES, TEMPLATES

NESTED = frozenset(
    {"why", "reason", "reasons", "order", "problem", "what", "error", "step", "instead", "note", "age", "bound", "unit"}
    | {"problems", "orders", "shown", "allowed", "range"}
)
# Placeholders that hold a code, shown by its name in the active language (trading.labels).
CODES = {
    "old": "state",
    "new": "state",
    "status": "order_status",
    "side": "side",
    "action": "action",
    "source": "intent_source",
    "rule": "decision_reason",
    "before": "order_status",
    "mode": "mode",
}
# Placeholders that hold a ", "-separated list of codes.
CODE_LISTS = {"checks": "preflight_check"}
# Placeholders that may hold several "; "-joined sentences; every other one holds a single part, so a shape
# never takes in the next part of an explanation.
MULTI_PART = frozenset(
    {"reason", "reasons", "problem", "problems", "error", "note", "checks", "orders", "instead", "step", "message", "changes"}
)


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


@dataclass(frozen=True, slots=True)
class Template:
    msgid: str
    pattern: re.Pattern[str]
    anchor: str  # the template's longest literal piece: a cheap test before the regular expression


def _compiled(msgid: str) -> Template:
    parts: list[str] = []
    literals: list[str] = []
    seen: set[str] = set()
    position = 0
    for match in _PLACEHOLDER.finditer(msgid):
        literal = msgid[position : match.start()]
        parts.append(re.escape(literal))
        literals.append(literal)
        name = match.group(1)
        if name is None:
            parts.append("%")
            literals.append("%")
        elif name in seen:
            parts.append(f"(?P={name})")
        else:
            seen.add(name)
            parts.append(f"(?P<{name}>.+?)")
        position = match.end()
    parts.append(re.escape(msgid[position:]))
    literals.append(msgid[position:])
    return Template(msgid=msgid, pattern=re.compile("".join(parts), re.DOTALL), anchor=max(literals, key=len))


@lru_cache(maxsize=1)
def compiled_templates() -> tuple[Template, ...]:
    """Every shape in the order they are tried: TEMPLATES, the event sentences, then the loosest shapes."""
    return tuple(_compiled(msgid) for msgid in (*TEMPLATES, *EVENT_SENTENCES.values(), *LOOSE_TEMPLATES))


# An exchange error as `str(error)` writes it (exchange/exceptions.py), maybe after its class name
# ("OutcomeUnknown: …") or an order's identifier ("ac-…: …"): the head, Upbit's error name in brackets, the
# sentence, what Upbit said, and the HTTP status. Only the sentence and "Upbit: …" are words to translate.
_ERROR = re.compile(
    r"(?P<head>(?:(?:[A-Z][a-z0-9]+){2,}|[\w.-]*[0-9][\w.-]*): )?(?:\[(?P<name>[\w.-]+)\] )?(?P<core>.+?)"
    r"(?: \(Upbit: (?P<said>.*)\))?(?P<status>(?: \(HTTP [0-9]{3}\))*)",
    re.DOTALL,
)
_UPBIT_SAID = gettext_noop("Upbit: %(message)s")


def split_parts(text: str) -> list[str]:
    """`text` split at each "; " outside brackets (a bracket may hold a "; " of its own)."""
    if "; " not in text:
        return [text]
    parts: list[str] = []
    start = scan = depth = 0
    while (at := text.find("; ", scan)) >= 0:
        between = text[scan:at]
        depth = max(depth + between.count("(") - between.count(")"), 0)
        if depth == 0:
            parts.append(text[start:at])
            start = at + 2
        scan = at + 2
    parts.append(text[start:])
    return parts


def _sentence(text: str, depth: int) -> str | None:
    """`text` as one known sentence in the active language, or None when it is not one."""
    for template in compiled_templates():
        if template.anchor not in text:
            continue
        match = template.pattern.fullmatch(text)
        if match is None or any(
            name not in MULTI_PART and len(split_parts(value)) > 1 for name, value in match.groupdict().items()
        ):
            continue
        values = {name: _value(name, value, depth) for name, value in match.groupdict().items()}
        try:
            return gettext(template.msgid) % values
        except (KeyError, TypeError, ValueError):
            return None
    return None


def _value(name: str, value: str, depth: int) -> str:
    if name in CODES:
        return code_label(value, CODES[name])
    if name in CODE_LISTS:
        return ", ".join(code_label(code, CODE_LISTS[name]) for code in value.split(", "))
    return _translated(value, depth + 1) if name in NESTED and depth < 4 else value


def shown_params(params: Mapping[str, str]) -> dict[str, str]:
    """An event sentence's parameters in the active language (those holding a sentence or a code); a sentence
    is looked up in the same cache as `shown_sentence`, so a panel re-rendered every few seconds reads it once."""
    return {name: shown_sentence(str(value)) if name in NESTED else _value(name, str(value), 0) for name, value in params.items()}


def _error(text: str, depth: int) -> str | None:
    """An exchange error (see `_ERROR`) with its sentence in the active language, or None when `text` is not
    one or its sentence is not known."""
    match = _ERROR.fullmatch(text)
    if match is None or not (match["head"] or match["name"] or match["said"] is not None or match["status"]):
        return None
    core = _translated(match["core"], depth + 1) if depth < 4 else match["core"]
    if core == match["core"] and match["said"] is None:
        return None
    said = "" if match["said"] is None else " (" + gettext(_UPBIT_SAID) % {"message": match["said"]} + ")"
    name = f"[{match['name']}] " if match["name"] else ""
    return f"{match['head'] or ''}{name}{core}{said}{match['status']}"


def _translated(text: str, depth: int = 0) -> str:
    whole = _sentence(text, depth)
    if whole is not None:
        return whole
    error = _error(text, depth)
    if error is not None:
        return error
    parts = split_parts(text)
    if len(parts) == 1:
        return text
    # Each run of parts that is one known sentence (a sentence may hold a "; " of its own), longest first.
    shown: list[str] = []
    start = 0
    while start < len(parts):
        for end in range(len(parts), start, -1):
            sentence = _sentence("; ".join(parts[start:end]), depth) if end - start < len(parts) else None
            if sentence is not None:
                shown.append(sentence)
                start = end
                break
        else:
            shown.append(parts[start])
            start += 1
    return "; ".join(shown)


@lru_cache(maxsize=4096)
def _shown(text: str, language: str) -> str:
    return _translated(text)


def shown_sentence(text: str) -> str:
    """A stored English sentence (an explanation, an event's message) in the active language."""
    language = get_language() or "en"
    if not text or language.startswith("en"):
        return text
    return _shown(text, language)
