"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Run: .venv/bin/python -m pytest -q tests/browser -p no:xdist
Every test is marked ``browser`` and ``xdist_group("browser")``: with ``-n N --dist loadgroup`` they share one worker
(one Chromium, one live server).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The live server runs in a thread while Playwright's sync API runs an event loop in this one;
# Django would otherwise refuse database access from "an async context".
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import conftest as root  # noqa: E402  (the repository's root conftest: build_town, PASSWORD)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artefacts" / "screenshots"
DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = root.PASSWORD

# Reports Content-Security-Policy violations to Python; init scripts are injected by the
# browser (not the page), so the CSP under test does not block this listener.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__jiedaoCsp(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " +
                     e.sourceFile + ":" + e.lineNumber);
});
"""


def pytest_configure(config):
    # Known even under ``-p no:xdist`` (the suite runs with --strict-markers).
    config.addinivalue_line("markers", "xdist_group(name): run the group's tests in one pytest-xdist worker")


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"Browser tests need Debian's Chromium at {CHROMIUM}: make browser-deps")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Browser tests need the playwright package")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def town(transactional_db):
    """The root conftest's town, committed so that the live server's thread sees it."""
    return root.build_town("T1", "甲街道", 121.50, 31.33, 1)


@dataclass
class Problems:
    """Console errors, uncaught page errors and CSP violations seen by one browser context."""

    items: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.items.append(what)

    def forgive(self, pattern: str) -> None:
        """Drop the reports matching ``pattern`` (a regex), e.g. the console line of an expected 401."""
        self.items = [p for p in self.items if not re.search(pattern, p)]

    def assert_none(self) -> None:
        assert not self.items, "browser reported problems:\n" + "\n".join(self.items)


@dataclass
class Session:
    """One browser context (its own cookies) with a page and the problems it reported."""

    base_url: str
    context: object
    page: object
    problems: Problems

    def goto(self, path: str):
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.ok, f"GET {path} -> {response and response.status}"
        return response

    def login(self, user, password: str = PASSWORD) -> None:
        page = self.page
        page.goto(self.base_url + "/accounts/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.url == self.base_url + "/", f"login of {user.username} ended at {page.url}"

    def shot(self, name: str, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_no_horizontal_overflow(self) -> None:
        widths = self.page.evaluate(
            "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
        assert widths["scroll"] <= widths["inner"] + 1, f"page overflows horizontally: {widths}"


@pytest.fixture
def open_session(browser, live_server):
    """Factory: ``open_session(viewport=PHONE)`` gives a fresh context; all are closed after the test."""
    contexts = []

    def make(viewport=DESKTOP, mobile: bool = False) -> Session:
        context = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile, locale="zh-CN",
                                      timezone_id="Asia/Shanghai", device_scale_factor=1)
        context.set_default_timeout(10_000)
        problems = Problems()
        context.expose_function("__jiedaoCsp", lambda text: problems.add(f"CSP violation: {text}"))
        context.add_init_script(_CSP_LISTENER)
        page = context.new_page()
        page.on("console", lambda msg: problems.add(f"console.{msg.type}: {msg.text} @ {msg.location}")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.add(f"page error: {exc}"))
        contexts.append(context)
        return Session(base_url=live_server.url, context=context, page=page, problems=problems)

    yield make
    for context in contexts:
        context.close()
