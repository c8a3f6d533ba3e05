"""Server-rendered pages: one Jinja environment (autoescaped), Markdown made safe, and the
headers every page carries (a Content-Security-Policy that allows no script at all)."""
from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from starlette.responses import HTMLResponse

if TYPE_CHECKING:  # imported on the first page: a node that serves none never loads them
    import jinja2
    from markdown_it import MarkdownIt
    from markupsafe import Markup

# No script runs on these pages, whatever a publisher writes: defence beyond sanitizing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src 'self'; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes form posts say Origin: null
    "Cache-Control": "no-store",
}


@functools.cache
def _markdown() -> "MarkdownIt":
    from markdown_it import MarkdownIt

    # CommonMark with tables; raw HTML in the source is shown as text, never passed through.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown(text: str) -> "Markup":
    """Markdown as HTML that carries no script, style or event handler (nh3 keeps a safe
    list of tags, attributes and URL schemes)."""
    import nh3
    from markupsafe import Markup

    html = _markdown().render(text or "")
    return Markup(nh3.clean(html, link_rel="noopener noreferrer nofollow"))


def size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def when(moment: float | datetime | None) -> str:
    """An epoch time or an aware datetime, as people read it."""
    if moment is None or moment == "":
        return ""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@functools.cache
def environment() -> "jinja2.Environment":
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("berth.api.web", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(markdown=markdown, size=size, when=when)
    return env


def page(template: str, status: int = 200, **context) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
