"""Server-rendered public pages: a deployment's record as a person reads it, and how to use one's rights.

Plain HTML with the site's stylesheet and no script: every string escaped, no SQL and no query shown (the
JSON each page links to carries them, for machines and for anyone re-computing a figure).
"""

from __future__ import annotations

import html
from typing import Any

COUNTS = (
    ("faces_seen", "faces seen (counted, not stored)"),
    ("searches", "searches of still images"),
    ("alerts", "alerts (possible matches)"),
    ("confirmed_matches", "confirmed matches"),
    ("false_alerts", "false alerts"),
    ("inconclusive", "inconclusive"),
    ("outcomes", "outcomes recorded"),
)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _value(value: Any) -> str:
    """A report item's value as HTML: tables, lists and mappings readable, text escaped."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, dict) and "columns" in value and "rows" in value:
        head = "".join(f"<th>{_e(c)}</th>" for c in value["columns"])
        rows = "".join("<tr>" + "".join(f"<td>{_value(c)}</td>" for c in r) + "</tr>" for r in value["rows"])
        return f"<table><tr>{head}</tr>{rows or '<tr><td>none</td></tr>'}</table>"
    if isinstance(value, dict):
        return "<br>".join(f"{_e(k)}: {_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "<br>".join(_value(v) for v in value)
    text = _e(value)
    return f"<code>{text}</code>" if isinstance(value, str) and len(value) == 64 and " " not in value else text


def page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">',
            f'<title>{_e(title)}</title><link rel="stylesheet" href="/static/overt.css"></head>',
            f'<body class="public"><header><p><a href="/">← All cameras and deployments</a></p><h1>{_e(title)}</h1>'
            "</header><main>",
            *body,
            '</main><footer><a href="/rights">Your rights: requests and complaints</a> · <a href="/docs">API</a>'
            "</footer></body></html>",
        ]
    )


def deployment_page(summary: dict[str, Any], report: dict[str, Any]) -> str:
    """The record of one deployment: what, why, on whose authority, where, when, how big, what it did."""
    d = summary
    windows = "; ".join(f"{_e(w['start'])} to {_e(w['end'])}" for w in d["windows"]) or "—"
    places = "; ".join(_e(p["name"] or p["camera"]) + (f" ({_e(p['zone'])})" if p["zone"] else "") for p in d["places"])
    facts = [
        ("Status", d["status"]),
        ("Purpose", d["purpose"]),
        ("Legal basis", d["legal_basis"]),
        ("Mode", "live cameras" if d["mode"] == "live" else "searches of still images"),
        ("Public notice", d["public_notice"]),
        ("Approved", d["approved"] or (f"urgent start {d['urgent_started']}" if d["urgent_started"] else "—")),
        ("Approval expires", d["approval_expires"]),
        ("Ended", d["ended"]),
        ("Watchlist size", f"{d['watchlist_size']} (at most {d['max_watchlist_size']})"),
        ("Reviewers per alert", d["reviewers_required"]),
    ]
    body = [
        f'<article class="deployment" data-deployment="{d["id"]}">',
        '<dl class="facts">',
        *(f"<dt>{_e(k)}</dt><dd>{_e(v) if v not in (None, '') else '—'}</dd>" for k, v in facts),
        f"<dt>When</dt><dd>{windows}</dd><dt>Where</dt><dd>{places or '—'}</dd>",
        "</dl>",
        '<ul class="counts">',
        *(f'<li><span class="count" data-count="{k}">{_e(d[k])}</span> {_e(label)}</li>' for k, label in COUNTS),
        "</ul>",
        f'<p>For machines: <a href="/api/public/deployments/{d["id"]}">this summary as JSON</a> · '
        f'<a href="/api/public/deployments/{d["id"]}/record">the full record as JSON</a> (each figure with the '
        "query and audit records it was computed from, so anyone can check it).</p>",
        "</article>",
    ]
    for sec in report["sections"]:
        body.append(f'<section id="{_e(sec["key"])}"><h2>{_e(sec["title"])}</h2><table class="record">')
        body += [
            f'<tr data-item="{_e(i["key"])}"><th>{_e(i["label"])}</th><td>{_value(i["value"])}</td></tr>'
            for i in sec["items"]
        ]
        body.append("</table></section>")
    return page(f"Deployment {d['id']}: {d['name']}", body)


def rights_page(contacts: dict[str, str]) -> str:
    """How a person asks what Overt holds about them, has it erased or corrected, objects, or complains."""
    agency = contacts.get("agency") or "the agency that operates these cameras"
    contact = contacts.get("contact") or "its data protection officer (ask at any office of the agency)"
    authority = contacts.get("data_protection_authority") or "your data protection authority"
    body = [
        "<section><h2>Ask what is held about you</h2>",
        f"<p>You may ask {_e(agency)} whether your face is on a watchlist, and what alerts concern you "
        "(GDPR Art. 15). Write to, or visit, "
        f"<strong>{_e(contact)}</strong> with a recent photo of your face and proof of who you are. The data "
        "protection officer searches every watchlist and the alerts still kept, and answers in writing within "
        "one month (at most three, and then you are told why). Your photo is used for that search only and "
        "deleted when your request is answered; the search itself raises no alert.</p></section>",
        "<section><h2>Have it erased or corrected, or object</h2>",
        "<p>You may ask for what is held about you to be erased (Art. 17) or corrected (Art. 16), or object "
        "to being processed (Art. 21), the same way. If the answer is no, it says why and on what legal "
        "ground. What was erased is gone; the audit log keeps only that something was erased, as numbers.</p>"
        "</section>",
        '<section id="complain"><h2>Complain</h2>',
        "<p>Tell us what happened, where and when. Leave a way to answer you if you want an answer; you may "
        "stay anonymous. An image you attach loses its location and device data before it is stored.</p>",
        f"<p>{_e(contacts.get('complaint_procedure', ''))}</p>" if contacts.get("complaint_procedure") else "",
        '<form id="complaint-form">',
        '<label class="wide">What happened',
        '<textarea name="what" rows="4" maxlength="4000" required></textarea></label>',
        '<label>Where <input name="place" maxlength="4000"></label>',
        '<label>When <input name="when" maxlength="64" placeholder="date and time"></label>',
        '<label class="wide">How to answer you (optional) <input name="contact" maxlength="4000"></label>',
        '<label class="wide">An image (optional) <input name="attachment" type="file" accept="image/*"></label>',
        '<button type="submit">Send complaint</button></form>',
        '<p id="complaint-status" role="status"></p>',
        f"<p>You may also complain to {_e(authority)} (GDPR Art. 77).</p></section>",
        '<script src="/static/common.js" defer></script><script src="/static/rights.js" defer></script>',
    ]
    return page("Your rights: requests and complaints", body)
