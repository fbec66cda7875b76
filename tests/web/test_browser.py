"""End to end in Debian's Chromium, driven by Playwright (the system browser: nothing is downloaded): hostile report
text renders inert; an analyst logs in, submits a report, watches it finish, corrects a technique and sees the
correction in the briefing and the STIX export; a viewer cannot see a TLP:AMBER report; screenshots of the
listing, briefing and actor pages show their content."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import PASSWORD, REPO, Site, live_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _address_space_limit() -> int | None:
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    return None if soft == resource.RLIM_INFINITY else soft


# Chromium reserves terabytes of address space up front (V8's pointer cage) and dies at start under `ulimit -v`,
# which developers set to run the suite beside other jobs: say so instead of failing every browser test.
if (_limit := _address_space_limit()) is not None and _limit < 2**40:
    pytest.skip(f"Chromium cannot start under an address-space limit (ulimit -v {_limit // 1024}); run the "
                "browser tests without it (.ci/run does)", allow_module_level=True)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SUBMITTED = (REPO / "tests" / "data" / "web" / "amber-report.md").read_text(encoding="utf-8").replace(
    "Amber Tide", "Umber Reef")              # new content (a new document), the same kind of report


@pytest.fixture(scope="module")
def base_url(site: Site, kb: Any) -> Iterator[str]:
    from threadline.web import create_app

    app = create_app(site.store, kb=kb, secret="browser-secret")     # analyses run on the background worker
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    opened.dialogs = dialogs
    yield opened
    context.close()


def _login(page: Any, base_url: str, name: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_selector(f"text=Signed in as {name}")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_hostile_text_renders_inert(page: Any, base_url: str, site: Site) -> None:
    page.goto(f"{base_url}/reports/{site.hostile}")
    page.wait_for_load_state("networkidle")
    assert page.dialogs == []                                               # no alert() ran
    assert page.evaluate("document.scripts.length") == 0                    # no <script> became an element
    for attribute in ("onerror", "onload", "onmouseover"):
        assert page.locator(f"[{attribute}]").count() == 0
    assert page.locator("iframe, svg, img").count() == 0
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert hrefs and not [h for h in hrefs if h.strip().lower().startswith(("javascript:", "data:", "vbscript:"))]
    text = page.inner_text("body")
    assert "<script>alert('title')</script>" in text                        # shown as text
    assert "\u202e" not in text and "[U+202E]" in text                      # the override shown, not obeyed
    assert "http://evil-loader.example.org" not in text and "hxxp://evil-loader" in text   # defanged
    page.goto(f"{base_url}/?q=hostile")
    assert page.dialogs == [] and page.evaluate("document.scripts.length") == 0


def test_submit_watch_correct_and_see_it_everywhere(page: Any, base_url: str) -> None:
    _login(page, base_url, "analyst")
    page.goto(f"{base_url}/submit")
    page.fill("#title", "Umber Reef supply-chain intrusion")
    page.fill("#text", SUBMITTED)
    page.select_option("#tlp", "amber")
    page.click("form[action='/submit'] button[type=submit]")
    page.wait_for_selector("#state")                                         # the job page, at once
    page.wait_for_selector("#report", timeout=180_000)                       # it refreshes itself until done
    page.click("#report")
    page.wait_for_selector("#items")
    report_url = page.url
    row = page.locator("tr", has=page.locator("input[name=kind][value=technique]")).first
    machine = row.locator("input[name=key]").get_attribute("value")
    row.locator("input[name=value]").fill("T1195.002")
    row.locator("button[value=correct]").click()
    page.wait_for_selector("#items")
    assert "corrected by analyst" in page.inner_text("#items ~ table")
    assert "T1195.002" in page.inner_text("#techniques ~ table")             # the briefing's technique table
    stix = json.loads(page.request.get(report_url + "/export/stix").text())
    ids = {ref.get("external_id") for o in stix["objects"] if o["type"] == "attack-pattern"
           for ref in o.get("external_references", [])}
    assert "T1195.002" in ids and machine not in ids
    page.click("text=Log out")
    _login(page, base_url, "viewer")
    response = page.goto(report_url)
    assert response is not None and response.status == 404                  # TLP:AMBER: not for a viewer
    page.goto(f"{base_url}/?q=umber")
    assert "Umber Reef" not in page.inner_text("body")


def _painted(page: Any, selector: str) -> str:
    """The element's text, after checking that the screenshot shows it: the element's area of a screenshot
    changes when its text is hidden (the pixels are the text, not a blank or a covered box)."""
    element = page.locator(selector).first
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    assert box is not None and box["width"] > 20 and box["height"] > 5, selector
    shown = page.screenshot(clip=box)
    element.evaluate("e => { e.dataset.was = e.style.visibility; e.style.visibility = 'hidden'; }")
    hidden = page.screenshot(clip=box)
    element.evaluate("e => { e.style.visibility = e.dataset.was; }")
    assert shown != hidden, f"{selector} is not painted in the screenshot"
    return str(element.inner_text())


# (page, element: what it must show) for the listing, the briefing and the actor page
SHOWN = {
    "/": {"h1": "Briefings", "#briefings li h2": "What You Need to Know About", "#briefings": "TLP:CLEAR"},
    "/reports/{clear}": {"h1": "What You Need to Know About", "ul.glance": "Who", "#items ~ table": "actor",
                         "mark": "Operation"},
    "/actors/G0129": {"h1": "Mustang Panda", "main ul": "RedDelta: MITRE ATT&CK G0129",
                      "main table": "T1", "ol.timeline": "Operation"},
}


@pytest.mark.parametrize("path", sorted(SHOWN))
def test_screenshots_show_the_pages(page: Any, base_url: str, site: Site, path: str, tmp_path: Path) -> None:
    page.goto(base_url + path.format(clear=site.ids["clear"]))
    heading = page.locator("h1").first
    box = heading.bounding_box()
    assert box is not None and box["y"] < 900 and box["width"] > 50          # the heading is in the screenshot
    shot = page.screenshot(path=str(tmp_path / "page.png"))
    width, height = _png_size(shot)
    assert (width, height) == (1280, 900) and len(shot) > 20_000             # a rendered page, not a blank one
    for selector, expected in SHOWN[path].items():
        text = _painted(page, selector)
        assert expected in text, (selector, text[:300])
        assert "{'" not in text and "None" not in text.split(), (selector, text[:300])
