"""The web_fetch tool: download a web page and return its readable text (title + article, no menus or ads).

A model needs the content of a page, not its markup: trafilatura extracts the main text (a simple tag stripper
is the fallback). Only http(s) is fetched, downloads are capped and binary content is refused.
"""

from __future__ import annotations

import asyncio
import html as html_lib
import ipaddress
import re
from html.parser import HTMLParser
from typing import Annotated

import httpx
from pydantic import Field

from nexus_core.tools.base import ToolContext, ToolFailure, tool
from nexus_core.tools.builtin._http import USER_AGENT, failure_for

MAX_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(20.0, connect=10.0)
HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/x-javascript",
              "application/ecmascript", "application/x-yaml", "application/yaml", "application/toml",
              "application/x-ndjson", "application/rss+xml", "application/atom+xml", "application/ld+json")
_BARE_HOST = re.compile(r"^[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}(:\d+)?(/|$)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


@tool(risk="safe", timeout_s=60.0)
async def web_fetch(ctx: ToolContext, url: str, max_chars: Annotated[int, Field(ge=100, le=100_000)] = 8000) -> str:
    """Fetch a web page (or a text/JSON URL) and return its title and readable main text.

    Args:
        url: the full http:// or https:// address.
        max_chars: the most characters of text to return; longer pages are cut with a note.
    """
    target = _check_url(url)
    settings = ctx.services.get("settings")
    hooks = {} if getattr(settings, "web_fetch_allow_private", False) else {"request": [_refuse_private_hosts]}
    client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                               headers={"User-Agent": USER_AGENT, "Accept": "text/html,*/*;q=0.8"},
                               event_hooks=hooks)
    try:
        async with client, client.stream("GET", target) as response:
            if response.status_code >= 400:
                raise ToolFailure(f"{response.url} answered HTTP {response.status_code} {response.reason_phrase}",
                                  kind="http_error")
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type and not _is_textual(content_type):
                raise _binary(str(response.url), content_type, response.headers.get("content-length"))
            body, cut = await _read_capped(response)
            final_url, charset = str(response.url), response.charset_encoding
    except httpx.HTTPError as exc:
        raise failure_for(exc, target) from None
    if b"\x00" in body[:4096]:
        raise _binary(final_url, content_type or "unknown type", str(len(body)))
    text = _decode(body, charset)
    if content_type in HTML_TYPES or (not content_type and text.lstrip()[:1] == "<"):
        title, content = await asyncio.to_thread(_readable, text, final_url)
    else:
        title, content = "", text.strip()
    return _render(final_url, title, content, max_chars, cut)


async def _refuse_private_hosts(request: httpx.Request) -> None:
    """Runs before the first request and every redirect: a page the model reads must not steer it into this
    computer or the local network (router pages, local LLM servers, cloud metadata endpoints)."""
    host = request.url.host
    try:
        addresses = {ipaddress.ip_address(host.strip("[]"))}
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, request.url.port or 443)
        except OSError as exc:
            raise ToolFailure(f"cannot resolve {host}: {exc.strerror or exc}", kind="http_error") from None
        addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    for address in addresses:
        if not address.is_global:
            raise ToolFailure(f"refusing to fetch {request.url}: {host} is {address}, an address on this computer or "
                              "the local network. (The user can allow this with the setting "
                              "web_fetch_allow_private.)", kind="private_address")


def _check_url(url: str) -> str:
    text = url.strip()
    if _BARE_HOST.match(text):
        text = "https://" + text
    scheme = _SCHEME.match(text)
    if scheme is None or scheme.group(1).lower() not in ("http", "https"):
        shown = f"{scheme.group(1)}: URLs" if scheme else "addresses without http:// or https://"
        raise ToolFailure(f"web_fetch only fetches http:// and https:// URLs, not {shown} ({url!r})",
                          kind="invalid_url")
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ToolFailure(f"{url!r} is not a valid URL: {exc}", kind="invalid_url") from None
    if not parsed.host:
        raise ToolFailure(f"{url!r} has no host name", kind="invalid_url")
    return text


def _is_textual(content_type: str) -> bool:
    return content_type.startswith(TEXT_TYPES) or content_type.endswith(("+json", "+xml"))


def _binary(url: str, content_type: str, length: str | None) -> ToolFailure:
    size = f", {int(length) // 1024} KB" if length and length.isdigit() else ""
    return ToolFailure(f"{url} is binary content ({content_type}{size}), not a web page or text; web_fetch only "
                       "reads HTML, plain text and JSON", kind="binary")


async def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    """The body, stopping after MAX_BYTES (a huge page should not fill memory); True when it was cut."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BYTES:
            return b"".join(chunks)[:MAX_BYTES], True
    return b"".join(chunks), False


def _decode(body: bytes, charset: str | None) -> str:
    encoding = charset
    if not encoding:
        meta = re.search(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", body[:4096], re.IGNORECASE)
        encoding = meta.group(1).decode("ascii") if meta else "utf-8"
    try:
        return body.decode(encoding, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _readable(page: str, url: str) -> tuple[str, str]:
    """(title, main text) of an HTML page; runs in a worker thread, as parsing a big page takes a while."""
    import trafilatura  # heavy (lxml): loaded on the first fetch only

    title_match = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
    title = " ".join(html_lib.unescape(title_match.group(1)).split()) if title_match else ""
    try:
        text = trafilatura.extract(page, url=url, include_links=False, include_comments=False, include_tables=True,
                                   include_images=False, output_format="markdown")
    except Exception:  # a parser failure on odd markup must not fail the fetch: strip the tags instead
        text = None
    return title, (text or _strip_tags(page)).strip()


class _TextOnly(HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head", "nav", "header", "footer", "aside",
                      "form", "iframe"})
    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
                       "pre", "blockquote", "table", "ul", "ol", "dd", "dt"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def _strip_tags(page: str) -> str:
    parser = _TextOnly()
    parser.feed(page)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _render(url: str, title: str, content: str, max_chars: int, cut: bool) -> str:
    head = (f"Title: {title}\n" if title else "") + f"URL: {url}\n\n"
    if not content:
        return head + "[the page has no readable text; it may need JavaScript to show its content]"
    notes = []
    if len(content) > max_chars:
        notes.append(f"[… truncated: showing {max_chars} of {len(content)} characters; call web_fetch with a larger "
                     "max_chars to read more]")
        content = content[:max_chars]
    if cut:
        notes.append(f"[the page is larger than {MAX_BYTES // (1024 * 1024)} MB; only its beginning was read]")
    return head + content + ("\n\n" + "\n".join(notes) if notes else "")
