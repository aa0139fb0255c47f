"""The status page as plain HTML: no script, small, readable on a cheap phone."""

from __future__ import annotations

from html import escape
from typing import Any

from pantau.core.catalog import Catalog
from pantau.core.events import parse_rfc3339
from pantau_status.domain.reports import ReportKind
from pantau_status.domain.texts import format_local, format_money, t

__all__ = ["case_page", "lookup_page", "message_page"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;padding:0 12px 24px;max-width:40rem;
margin-inline:auto;line-height:1.45;color:#1a1a1a;background:#fff}
header{display:flex;justify-content:space-between;align-items:center;gap:8px;
border-bottom:2px solid #0a5;padding:8px 0;margin-bottom:8px}
h1{font-size:1.25rem;margin:0}h2{font-size:1.05rem;margin:18px 0 6px}
label{display:block;margin:10px 0 2px;font-weight:600}
input,select,textarea{font-size:1rem;width:100%;box-sizing:border-box;padding:8px}
button{font-size:1rem;padding:9px 14px;margin-top:10px;background:#0a5;color:#fff;border:0}
button.plain{background:none;color:#06c;padding:4px;margin:0;text-decoration:underline}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 6px;
border-bottom:1px solid #ddd;vertical-align:top}
.late{color:#b00;font-weight:700}.ok{color:#070}.note{background:#f4f4f4;padding:8px}
.error{background:#fde;padding:8px}.done{background:#e8f6ee;padding:8px}
"""


def _page(lang: str, body: str, switch: str) -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(t(lang, 'title'))}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{escape(t(lang, 'title'))}</h1>{switch}</header>{body}</body></html>"
    )


def _other(lang: str) -> str:
    return "id" if lang == "en" else "en"


def _link_switch(lang: str) -> str:
    return f'<a id="lang-switch" href="/?lang={_other(lang)}">{escape(t(lang, "other_lang"))}</a>'


def _hidden(receipt: str, code: str) -> str:
    return (
        f'<input type="hidden" name="receipt" value="{escape(receipt)}">'
        f'<input type="hidden" name="code" value="{escape(code)}">'
    )


def _form(lang: str, receipt: str = "") -> str:
    return (
        f"<p>{escape(t(lang, 'intro'))}</p>"
        '<form id="lookup" method="post" action="/status">'
        f'<input type="hidden" name="lang" value="{lang}">'
        f'<label for="receipt">{escape(t(lang, "receipt"))}</label>'
        f'<input id="receipt" name="receipt" required maxlength="128" value="{escape(receipt)}">'
        f'<label for="code">{escape(t(lang, "code"))}</label>'
        '<input id="code" name="code" required maxlength="32" autocomplete="off" '
        'autocapitalize="characters" placeholder="XXXX-XXXX">'
        f'<button type="submit">{escape(t(lang, "look_up"))}</button></form>'
    )


def lookup_page(lang: str, error: str | None = None, receipt: str = "") -> str:
    """The form, with an error above it when a lookup failed."""
    notice = "" if error is None else f'<p class="error" id="error">{escape(error)}</p>'
    return _page(lang, notice + _form(lang, receipt), _link_switch(lang))


def message_page(lang: str, text: str, css: str, receipt: str, code: str) -> str:
    """A short answer (a report received or refused) with the way back to the case."""
    back = (
        '<form method="post" action="/status">'
        f'<input type="hidden" name="lang" value="{lang}">{_hidden(receipt, code)}'
        f'<button type="submit">{escape(t(lang, "back"))}</button></form>'
    )
    return _page(lang, f'<p class="{css}" id="message">{escape(text)}</p>{back}', "")


def _when(value: str | None, timezone: str, lang: str) -> str:
    if value is None:
        return "—"
    return escape(format_local(parse_rfc3339(value), timezone, lang))


def _limit(limit: dict[str, Any] | None, lang: str) -> str:
    if limit is None:
        return escape(t(lang, "no_limit"))
    return f"{limit['amount']} {escape(t(lang, 'unit_' + limit['unit']))}"


def _fee(view: dict[str, Any], lang: str) -> str:
    fee = view["service"]["fee"]
    if fee["free"]:
        return f'<p id="fee"><strong>{escape(t(lang, "free"))}</strong></p>'
    if fee["min"] == fee["max"]:
        amount = format_money(fee["min"])
    else:
        amount = t(lang, "fee_range", min=format_money(fee["min"]), max=format_money(fee["max"]))
    payments = [s["label"] for s in view["service"]["steps"] if s["payment"]]
    where = f"<br>{escape(t(lang, 'only_payment', step=payments[0]))}" if len(payments) == 1 else ""
    channels = fee.get("channels")
    if channels and "cash" not in channels:
        named = t(lang, "or").join(t(lang, f"channel_{c}") for c in channels)
        where += f'<br><span id="no-cash">{escape(t(lang, "no_cash", channels=named))}</span>'
    return f'<p id="fee"><strong>{escape(amount)}</strong>{where}</p>'


def _late(late: bool, lang: str) -> str:
    if late:
        return f' <span class="late">{escape(t(lang, "late"))}</span>'
    return f' <span class="ok">({escape(t(lang, "on_time"))})</span>'


def case_page(view: dict[str, Any], catalog: Catalog, receipt: str, code: str, lang: str) -> str:
    """The case with its standard, steps, deadlines, and the report form."""
    service = view["service"]
    calendar = catalog.calendar_of(service["agency"]["code"])
    tz = "UTC" if calendar is None else calendar.timezone
    status = t(lang, view["outcome"] or ("open" if view["status"] == "open" else "closed"))
    parts = [
        f'<p>{escape(t(lang, "receipt"))}: <strong id="case-id">{escape(view["case_id"])}'
        f"</strong><br>{escape(service['agency']['name'] or service['agency']['code'])}</p>",
        f"<h2>{escape(t(lang, 'service'))}: {escape(service['name'])}</h2>",
        f'<p>{escape(t(lang, "status"))}: <strong id="status">{escape(status)}</strong></p>',
    ]
    if view["clock_stopped"]:
        parts.append(f'<p class="note">{escape(t(lang, "stopped"))}</p>')
    if view.get("deemed_approved"):
        parts.append(f'<p class="note" id="deemed">{escape(t(lang, "deemed"))}</p>')
    parts.append(
        f'<p id="case-due">{escape(t(lang, "case_due"))}: '
        f"<strong>{_when(view['due_at'], tz, lang)}</strong>"
        f"{_late(view['late'], lang) if view['due_at'] or view['late'] else ''}</p>"
    )
    if view["status"] == "open":
        for item in view["awaiting"]:
            parts.append(
                f'<p class="awaiting">{escape(t(lang, "awaiting"))}: '
                f"<strong>{escape(item['label'])}</strong> — {escape(t(lang, 'step_due'))}: "
                f"{_when(item['due_at'], tz, lang)}"
                f"{_late(item['late'], lang) if item['due_at'] else ''}</p>"
            )
    rows = "".join(
        f"<tr><td>{escape(s['label'])}</td><td>{_when(s['at'], tz, lang)}</td></tr>"
        for s in view["steps_done"]
    )
    parts.append(
        f'<h2>{escape(t(lang, "steps_done"))}</h2><table id="steps"><tr><th>'
        f"{escape(t(lang, 'step'))}</th><th>{escape(t(lang, 'date'))}</th></tr>{rows}</table>"
    )
    standard = "".join(
        f"<tr><td>{escape(s['label'])}</td>"
        f"<td>{'—' if s['time_limit'] is None else _limit(s['time_limit'], lang)}</td></tr>"
        for s in service["steps"]
    )
    parts.append(
        f"<h2>{escape(t(lang, 'standard'))}</h2>"
        f'<p id="time-limit">{escape(t(lang, "time_limit"))}: '
        f"<strong>{_limit(service['time_limit'], lang)}</strong></p>"
        f"<p>{escape(t(lang, 'fee'))}:</p>{_fee(view, lang)}"
        f'<table id="standard"><tr><th>{escape(t(lang, "step"))}</th>'
        f"<th>{escape(t(lang, 'time_limit'))}</th></tr>{standard}</table>"
    )
    as_of = format_local(parse_rfc3339(view["as_of"]), tz, lang)
    options = "".join(
        f'<option value="{kind.value}">{escape(t(lang, "kind_" + kind.value))}</option>'
        for kind in ReportKind
    )
    parts.append(
        f"<h2>{escape(t(lang, 'report_title'))}</h2><p>{escape(t(lang, 'report_intro'))}</p>"
        '<form id="report" method="post" action="/report">'
        f'<input type="hidden" name="lang" value="{lang}">{_hidden(receipt, code)}'
        f'<label for="kind">{escape(t(lang, "kind"))}</label>'
        f'<select id="kind" name="kind">{options}</select>'
        f'<label for="text">{escape(t(lang, "details"))}</label>'
        '<textarea id="text" name="text" rows="3" maxlength="1000"></textarea>'
        f'<button type="submit">{escape(t(lang, "send"))}</button></form>'
        f'<p><a href="/?lang={lang}">{escape(t(lang, "new_lookup"))}</a></p>'
        f'<p class="note">{escape(t(lang, "as_of", time=as_of))}</p>'
    )
    switch = (
        '<form method="post" action="/status">'
        f'<input type="hidden" name="lang" value="{_other(lang)}">{_hidden(receipt, code)}'
        f'<button class="plain" id="lang-switch" type="submit">'
        f"{escape(t(lang, 'other_lang'))}</button></form>"
    )
    return _page(lang, "".join(parts), switch)
