"""Answers rendered by static/arena/markdown.js (markdown-it, DOMPurify, highlight.js, KaTeX) in Chromium.

The demo personas cannot say arbitrary text, so these tests register an OpenAI-compatible model served by a
local script server: the prompt names an entry of ``ANSWERS`` and the server streams that text in small
chunks, so every test also renders many unfinished prefixes on the way (open fences, half tables, a lone $).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from .conftest import Arena

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]

SCRIPTED = "Scripted Markdown (local)"
WIKI = "https://en.wikipedia.org/wiki/Python_(programming_language)"
CODE = 'def solve(items):\n    """Sorted, without duplicates."""\n    return sorted(set(items))'

ANSWERS = {
    "table": "Scores:\n\n| Name | Score |\n|:-----|------:|\n| Alice | 10 |\n| Bob | 7 |\n\nThat is all.",
    "nested": "- fruit\n  - apple\n  - pear\n- vegetables\n  - leek\n    - young leek\n",
    "links": f"Bare: {WIKI} and written: [the page]({WIKI}). Mail: <mailto:someone@example.org>.",
    "code": f"A minimal example:\n\n```python\n{CODE}\n```\n\nAnd inline `sorted()`.",
    "math": ("Euler: $e^{i\\pi} + 1 = 0$, also \\(a^2\\). Display:\n\n$$\n\\int_0^1 x^2\\,dx = \\frac{1}{3}\n$$\n\n"
             "Prices stay text: $5 and $10. Broken TeX: $\\frac{1}{$ ok."),
    "xss": "\n\n".join([
        "<script>window.pwned = 'raw script'</script>",
        '<img src=x onerror="window.pwned = \'raw img\'">',
        "| <img src=x onerror=window.pwned='cell'> | [cell link](javascript:window.pwned='cell link') |\n"
        "|---|---|\n| <svg onload=window.pwned='svg'> | ![cell image](x onerror=window.pwned='cell image') |",
        "[js](javascript:window.pwned='js') [JS](JaVaScRiPt:window.pwned='JS') "
        "[entity](&#106;avascript:window.pwned='entity') [tab](java\tscript:window.pwned='tab') "
        "<javascript:window.pwned='autolink'> "
        "[data](data:text/html,<script>window.pwned='data'</script>) "
        "[data64](data:text/html;base64,PHNjcmlwdD53aW5kb3cucHduZWQ9J2I2NCc8L3NjcmlwdD4=)",
        "![alt\" onerror=\"window.pwned='alt'](https://example.invalid/a.png) "
        "![t](https://example.invalid/t.png \"x\\\" onerror=\\\"window.pwned='title'\") "
        "![js image](javascript:window.pwned='image') ![data image](data:image/png;base64,iVBORw0KGgo=)",
        "`<img src=x onerror=window.pwned='code span'>`",
        "```html\n<script>window.pwned = 'fence'</script>\n<img src=x onerror=\"window.pwned='fence img'\">\n```",
        "```\"><img src=x onerror=window.pwned='info'>\nx\n```",
        "$\\href{javascript:window.pwned='href'}{click}$ $\\url{javascript:window.pwned='url'}$ "
        "$\\htmlData{onclick=window.pwned='htmlData'}{x}$ $\\htmlClass{x\" onmouseover=\"window.pwned='c'}{x}$",
        "$$\n\\includegraphics{https://example.invalid/i.png}\n$$",
        "$\\text{<img src=x onerror=window.pwned='tex text'>}$ $<script>window.pwned='tex'</script>$",
    ]),
}


class ScriptServer(BaseHTTPRequestHandler):
    """OpenAI's streaming chat completions, answering each prompt with ``ANSWERS[prompt]`` in 6-char chunks."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        text = ANSWERS.get(prompt.strip(), f"No scripted answer for {prompt!r}.")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for start in range(0, len(text), 6):
            delta = {"content": text[start : start + 6]}
            chunk = {"id": "s1", "object": "chat.completion.chunk", "model": body["model"],
                     "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.004)
        final = {"id": "s1", "object": "chat.completion.chunk", "model": body["model"],
                 "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def scripted(arena: Arena) -> Iterator[str]:
    """Register ``SCRIPTED``, an OpenAI-compatible model served by ``ScriptServer`` (never sampled)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    arena.manage("shell", "-c", (
        f"from arena.models import ArenaModel; ArenaModel.objects.update_or_create(name={SCRIPTED!r}, "
        f"defaults=dict(adapter_kind='openai', provider_model='scripted', base_url={base_url!r}, sampling_weight=0, "
        f"state='active'))"
    ))
    yield SCRIPTED
    server.shutdown()


@pytest.fixture
def watched(page: Page) -> Page:
    """The page, recording CSP violations in ``window.__csp`` (``ask`` checks there are none)."""
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                         "(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
    return page


@pytest.fixture
def image_requests(page: Page) -> list[str]:
    """Every image the page requests, but its icon (answers must load none)."""
    images: list[str] = []
    page.on("request", lambda r: images.append(r.url) if r.resource_type == "image" and "favicon" not in r.url else None)
    return images


def ask(page: Page, model: str, key: str) -> Locator:
    """Send the prompt ``key`` to ``model`` as Model A (side by side) and return A's finished answer."""
    page.goto("/")
    page.get_by_label("Side by side").check()
    page.get_by_role("combobox", name="Model A").select_option(model)
    page.get_by_role("combobox", name="Model B").select_option("Demo Pelican (offline)")
    page.get_by_label("Prompt").fill(key)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#status-a")).to_have_text("Done", timeout=20_000)
    expect(page.locator("#status-b")).to_have_text("Done", timeout=20_000)
    assert page.evaluate("window.__csp") == []
    return page.locator("#conversation-a .msg.model").last


def test_a_table_renders_as_a_table_with_header_cells(watched: Page, scripted: str) -> None:
    answer = ask(watched, scripted, "table")
    expect(answer.locator("table thead th")).to_have_text(["Name", "Score"])
    expect(answer.locator("table tbody tr")).to_have_count(2)
    expect(answer.locator("table tbody tr").first.locator("td")).to_have_text(["Alice", "10"])
    expect(answer.locator("th").nth(1)).to_have_class(re.compile(r"\balign-right\b"))  # ---: without a style attribute
    assert "|" not in answer.inner_text()
    expect(answer.locator("p").last).to_have_text("That is all.")


def test_nested_bullets_stay_nested(watched: Page, scripted: str) -> None:
    answer = ask(watched, scripted, "nested")
    expect(answer.locator(":scope > ul > li")).to_have_count(2)
    expect(answer.locator(":scope > ul > li > ul > li")).to_have_count(3)
    expect(answer.locator("ul ul ul > li")).to_have_text(["young leek"])


def test_a_url_with_parentheses_is_one_whole_link(watched: Page, scripted: str) -> None:
    answer = ask(watched, scripted, "links")
    links = answer.locator("a")
    expect(links).to_have_count(3)
    assert [links.nth(i).get_attribute("href") for i in range(3)] == [WIKI, WIKI, "mailto:someone@example.org"]
    expect(links.first).to_have_text(WIKI)
    expect(links.nth(1)).to_have_text("the page")
    for i in range(3):
        expect(links.nth(i)).to_have_attribute("rel", "noopener noreferrer nofollow")
        expect(links.nth(i)).to_have_attribute("target", "_blank")
    expect(answer).to_contain_text("the page. Mail")  # the link's closing ")" was not left behind


def test_code_is_highlighted_and_copied_by_its_button(watched: Page, scripted: str) -> None:
    watched.context.grant_permissions(["clipboard-read", "clipboard-write"])
    answer = ask(watched, scripted, "code")
    code = answer.locator("pre > code")
    expect(code).to_have_class(re.compile(r"\bhljs\b.*\blanguage-python\b|\blanguage-python\b.*\bhljs\b"))
    expect(code.locator(".hljs-keyword").first).to_have_text("def")
    expect(code.locator(".hljs-string")).to_contain_text('"""Sorted, without duplicates."""')
    expect(answer.locator(".code-lang")).to_have_text("python")
    expect(answer.locator(":not(pre) > code")).to_have_text("sorted()")

    button = answer.get_by_role("button", name="Copy code")
    expect(button).to_have_attribute("type", "button")
    button.click()
    expect(answer.get_by_role("button", name="Copied")).to_be_visible()
    assert watched.evaluate("navigator.clipboard.readText()") == CODE
    expect(answer.get_by_role("button", name="Copy code")).to_be_visible(timeout=4_000)  # back after 2 s

    watched.evaluate("navigator.clipboard.writeText('something else')")
    button.focus()
    watched.keyboard.press("Enter")  # keyboard alone works too
    expect(answer.get_by_role("button", name="Copied")).to_be_visible()
    assert watched.evaluate("navigator.clipboard.readText()") == CODE


def test_inline_and_display_math_render_as_mathml(watched: Page, scripted: str) -> None:
    answer = ask(watched, scripted, "math")
    expect(answer.locator("math")).to_have_count(3)
    expect(answer.locator("p math:not([display])")).to_have_count(2)
    expect(answer.locator(".math-block math[display='block'] mfrac")).to_have_count(1)
    expect(answer.locator("annotation").first).to_have_text("e^{i\\pi} + 1 = 0")
    expect(answer).to_contain_text("Prices stay text: $5 and $10.")
    expect(answer.locator("code.math-error")).to_have_text("$\\frac{1}{$")  # TeX that does not parse: its source
    assert answer.locator("[style]").count() == 0


def test_payloads_anywhere_in_an_answer_never_run(watched: Page, scripted: str, image_requests: list[str]) -> None:
    answer = ask(watched, scripted, "xss")
    watched.wait_for_timeout(300)  # let any onerror fire
    assert watched.evaluate("window.pwned") is None
    hostile = "script, img, svg, iframe, object, embed, mglyph, style, form, input, textarea, link, meta, base"
    assert watched.locator(f":is(#conversation-a, #conversation-b) :is({hostile})").count() == 0
    found = watched.evaluate("""() => [...document.querySelectorAll('.conversation *')].flatMap((el) =>
        [...el.attributes].filter((a) => /^on/i.test(a.name) || a.name === 'style' || a.name === 'src'
          || (/href$/i.test(a.name) && !/^(https?:|mailto:)/i.test(a.value))).map((a) => el.tagName + ' ' + a.name))""")
    assert found == []
    hrefs = [a.get_attribute("href") for a in answer.locator("a[href]").all()]
    assert hrefs and all(re.match(r"^https?://", h) for h in hrefs), hrefs
    expect(answer).to_contain_text("<script>window.pwned = 'raw script'</script>")  # raw HTML is shown as text
    expect(answer.locator("pre code").first).to_contain_text("<script>window.pwned = 'fence'</script>")
    expect(answer.locator("a.image-link").first).to_have_text(re.compile(r"^Image: alt"))
    assert answer.locator("math").count() >= 4
    assert image_requests == []  # not one image was requested


def test_unfinished_markdown_renders_at_every_length(watched: Page) -> None:
    watched.goto("/")
    text = ("# Title\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n- x\n  - y\n\n```js\nconst a = `$x$`;\n```\n\n"
            "$$\n\\sum_{i=1}^n i\n$$\n\nInline $x^2 and \\(y\\) [link](https://example.org/a_(b)) ![i](https://x.invalid/i.png)")
    result = watched.evaluate("""async (text) => {
        const { renderMarkdown } = await import('/static/arena/markdown.js');
        const failures = [];
        for (let n = 0; n <= text.length; n += 1) {
          try {
            const fragment = renderMarkdown(text.slice(0, n));
            if (!(fragment instanceof DocumentFragment)) failures.push(n + ': not a fragment');
          } catch (error) { failures.push(n + ': ' + error); }
        }
        const last = renderMarkdown(text);
        return { failures, tags: [...last.querySelectorAll('*')].map((el) => el.localName) };
    }""", text)
    assert result["failures"] == []
    for tag in ("h3", "table", "th", "ul", "pre", "math", "a"):
        assert tag in result["tags"]
    assert "img" not in result["tags"]
