"""web_fetch: readable text from pages served by a loopback stand-in, and refusals (schemes, binary, errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nexus_core.config import Settings
from nexus_core.tools import ToolContext, ToolFailure
from nexus_core.tools.builtin import web_fetch as web_fetch_module
from nexus_core.tools.builtin.web_fetch import web_fetch
from tests.core.tools.helpers import LoopbackServer, Response, call

ARTICLE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>The Quiet Life of Lighthouse Keepers | Coast Weekly</title>
<script>var tracking = "ScriptTrackerText";</script><style>.menu { color: red }</style></head>
<body>
<header><nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/news">NavNewsLink</a></li>
<li><a href="/shop">NavShopLink</a></li><li><a href="/login">Sign in</a></li></ul></nav></header>
<div class="sidebar"><h3>Trending</h3><ul><li><a href="/a">SidebarTrendingOne</a></li>
<li><a href="/b">SidebarTrendingTwo</a></li></ul></div>
<main><article>
<h1>The Quiet Life of Lighthouse Keepers</h1>
<p>For more than a century, lighthouse keepers lived on the edge of the sea, trimming wicks and winding clockwork so
that ships could find their way home through fog and storm. Their days followed the rhythm of the lamp.</p>
<p>Most keepers served in pairs or families. Supplies arrived by boat every few weeks when the weather allowed, and a
keeper's log recorded every passing vessel, every gale and every repair made to the lens.</p>
<h2>Automation arrives</h2>
<p>By the late twentieth century automation had replaced almost all of them. The last keepers left their towers with
mixed feelings, proud of the work and sad that the quiet tradition had ended for good.</p>
</article></main>
<footer><p>FooterCopyright 2024 Coast Weekly. All rights reserved.</p><a href="/privacy">Privacy policy</a></footer>
</body></html>"""

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)


def long_page(paragraphs: int) -> str:
    body = "\n".join(f"<p>Paragraph {i}: the keepers wrote down the weather, the ships and the state of the lamp "
                     f"every single night, year after year, in neat handwriting.</p>" for i in range(paragraphs))
    return f"<html><head><title>Long log</title></head><body><article>{body}</article></body></html>"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    routes = {
        "/article": Response(200, ARTICLE),
        "/notes.txt": Response(200, b"plain notes\nline two\n", {"Content-Type": "text/plain; charset=utf-8"}),
        "/data.json": Response(200, {"name": "lamp", "lit": True}),
        "/logo.png": Response(200, PNG, {"Content-Type": "image/png"}),
        "/download": Response(200, b"\x00\x01\x02binary" * 50, {"Content-Type": "application/octet-stream"}),
        "/untyped": Response(200, b"\x7fELF\x00\x00\x00\x00" * 20, {"Content-Type": ""}),
        "/latin1": Response(200, "<html><head><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e au caf\xe9."
                                 "</p></body></html>".encode("latin-1"),
                            {"Content-Type": "text/html; charset=iso-8859-1"}),
        "/gone": Response(410, "<html><body>Gone</body></html>"),
        "/broken": Response(500, "<html><body>Internal error</body></html>"),
        "/long": Response(200, long_page(400)),
        "/huge.txt": Response(200, b"0123456789abcdef" * (200 * 1024), {"Content-Type": "text/plain"}),  # 3.2 MB
        "/slow": Response(200, ARTICLE, delay=1.5),
        "/to-file": Response(302, b"", {"Location": "file:///etc/passwd"}),
        "/loop": Response(302, b"", {"Location": "/loop"}),
    }
    for i in range(3):
        routes[f"/hop{i}"] = Response(301, b"", {"Location": f"/hop{i + 1}" if i < 2 else "/article"})
    with LoopbackServer(routes) as srv:
        yield srv


def fetch(url: str, *, allow_private: bool = True, **extra: object) -> str:
    """The stand-in server is on loopback, which the tool refuses unless the user allowed it."""
    settings = Settings(web_fetch_allow_private=allow_private)
    return call(web_fetch, {"url": url, **extra}, ToolContext(Path.cwd(), services={"settings": settings}))


def test_local_addresses_are_refused_unless_allowed(server: LoopbackServer) -> None:
    with pytest.raises(ToolFailure) as info:
        fetch(server.url("/article"), allow_private=False)
    assert info.value.kind == "private_address"
    assert "127.0.0.1" in str(info.value) and "web_fetch_allow_private" in str(info.value)
    with pytest.raises(ToolFailure, match="local network"):
        fetch("http://192.168.1.1/admin", allow_private=False)
    with pytest.raises(ToolFailure, match="local network"):
        fetch("http://169.254.169.254/latest/meta-data/", allow_private=False)  # cloud metadata endpoint


def test_an_article_comes_back_as_title_and_main_text_without_boilerplate(server: LoopbackServer) -> None:
    text = fetch(server.url("/article"))
    assert text.startswith("Title: The Quiet Life of Lighthouse Keepers | Coast Weekly\n")
    assert f"URL: {server.url('/article')}" in text
    assert "lighthouse keepers lived on the edge of the sea" in text
    assert "Automation arrives" in text and "quiet tradition had ended for good" in text
    for boilerplate in ("NavNewsLink", "NavShopLink", "SidebarTrendingOne", "FooterCopyright", "ScriptTrackerText",
                        "color: red"):
        assert boilerplate not in text
    assert "truncated" not in text
    assert "Mozilla/5.0" in server.requests[0].headers["User-Agent"]


def test_the_tag_stripper_is_the_fallback(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import trafilatura

    monkeypatch.setattr(trafilatura, "extract", lambda *a, **k: None)
    text = fetch(server.url("/article"))
    assert "lighthouse keepers lived on the edge of the sea" in text
    for boilerplate in ("NavNewsLink", "FooterCopyright", "ScriptTrackerText", "<p>"):
        assert boilerplate not in text


def test_a_long_page_is_truncated_to_max_chars_with_a_note(server: LoopbackServer) -> None:
    text = fetch(server.url("/long"), max_chars=1000)
    body = text.split("\n\n", 1)[1]
    assert "Paragraph 0:" in body and "Paragraph 399" not in body
    assert "[… truncated: showing 1000 of" in body
    assert len(body) < 1000 + 200


def test_a_huge_download_is_capped(server: LoopbackServer) -> None:
    text = fetch(server.url("/huge.txt"), max_chars=500)
    assert "0123456789abcdef" in text
    assert "truncated: showing 500 of 2097152 characters" in text
    assert "larger than 2 MB" in text


def test_plain_text_and_json_are_returned_as_text(server: LoopbackServer) -> None:
    assert fetch(server.url("/notes.txt")).endswith("\n\nplain notes\nline two")
    body = fetch(server.url("/data.json")).split("\n\n", 1)[1]
    assert json.loads(body) == {"name": "lamp", "lit": True}


def test_the_declared_charset_is_used(server: LoopbackServer) -> None:
    text = fetch(server.url("/latin1"))
    assert "Title: Café" in text and "Crème brûlée au café." in text


@pytest.mark.parametrize("path", ["/logo.png", "/download", "/untyped"])
def test_binary_content_is_refused(server: LoopbackServer, path: str) -> None:
    with pytest.raises(ToolFailure) as info:
        fetch(server.url(path))
    assert info.value.kind == "binary" and "binary content" in str(info.value)


@pytest.mark.parametrize(("path", "status"), [("/missing", "404"), ("/gone", "410"), ("/broken", "500")])
def test_http_errors_are_tool_failures(server: LoopbackServer, path: str, status: str) -> None:
    with pytest.raises(ToolFailure) as info:
        fetch(server.url(path))
    assert f"HTTP {status}" in str(info.value) and info.value.kind == "http_error"


def test_redirects_are_followed_up_to_a_limit(server: LoopbackServer) -> None:
    text = fetch(server.url("/hop0"))
    assert f"URL: {server.url('/article')}" in text and "lighthouse keepers" in text
    with pytest.raises(ToolFailure, match="redirected too many times"):
        fetch(server.url("/loop"))
    assert sum(r.path == "/loop" for r in server.requests) == web_fetch_module.MAX_REDIRECTS + 1


def test_a_redirect_to_a_file_url_is_refused(server: LoopbackServer) -> None:
    with pytest.raises(ToolFailure) as info:
        fetch(server.url("/to-file"))
    assert "root:" not in str(info.value)
    assert info.value.kind == "invalid_url"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/html,<p>hi</p>", "javascript:alert(1)",
                                 "ftp://example.com/x", "/etc/passwd", "http://"])
def test_only_http_and_https_urls_are_fetched(url: str) -> None:
    with pytest.raises(ToolFailure) as info:
        fetch(url)
    assert info.value.kind == "invalid_url"


def test_a_slow_server_times_out(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_fetch_module, "TIMEOUT", httpx.Timeout(0.3))
    with pytest.raises(ToolFailure) as info:
        fetch(server.url("/slow"))
    assert info.value.kind == "timeout"


def test_schema() -> None:
    params = web_fetch.parameters
    assert params["required"] == ["url"]
    assert params["properties"]["max_chars"]["default"] == 8000
    assert web_fetch.wants_context and web_fetch.risk == "safe"  # ctx: the settings say whether local hosts are allowed


def test_a_bare_host_name_gets_https() -> None:
    assert web_fetch_module._check_url("example.com/page") == "https://example.com/page"
    assert web_fetch_module._check_url(" https://example.com ") == "https://example.com"
