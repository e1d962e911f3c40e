"""The page in headless Chromium (Debian's chromium and chromium-driver, installed by
scripts/install-browser.sh when missing): a dead letter replayed from the page succeeds, a group
is resolved, a page updates itself without a reload, and every page is photographed at 1280x800
into build/screenshots/ (not committed)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

import httpx
import pytest
from ui_helpers import ENV, ROOT, copy_acme, listing_status_stub, seed

from engine.flow.runner import FlowRun, Merchant
from engine.state import open_store
from engine.ui import Access, Operations, standalone_app
from simulators.common import LoopbackServer

pytestmark = pytest.mark.slow

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = ROOT / "build" / "screenshots"
WAIT = 20


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser, installed with apt-get by scripts/install-browser.sh if it is missing."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)):
        done = subprocess.run(["sh", str(ROOT / "scripts" / "install-browser.sh")], capture_output=True, text=True,
                              timeout=900)
        if done.returncode != 0 or not os.access(CHROMIUM, os.X_OK):
            pytest.skip(f"headless Chromium could not be installed (scripts/install-browser.sh: "
                        f"{(done.stderr or done.stdout).strip()[-300:] or done.returncode})")
    pytest.importorskip("selenium", reason="selenium is in the dev extras: pip install -e '.[dev]'")
    return CHROMIUM


@pytest.fixture(scope="module")
def site(chromium, tmp_path_factory):
    """The page over an acme copy with seeded dead letters and one listing-status dead letter that
    TikTok now serves (so its replay succeeds), on a loopback port."""
    merchant_file = copy_acme(tmp_path_factory.mktemp("browser") / "acme")
    seeded = seed(merchant_file)
    refused = {"171"}
    transports = {"tiktok_us": httpx.MockTransport(listing_status_stub(refused))}
    store = open_store(str(merchant_file.parent / ".state" / "acme.db"))
    for i in range(3):
        store.map_id("product", "tiktok_us", f"shop-{i}", f"17{i}")
    store.close()
    merchant = Merchant(merchant_file, environ=ENV, transports=transports)
    assert FlowRun(merchant, "listing_status").run().counts.get("dead_letter") == 1
    refused.clear()
    ops = Operations({"acme": merchant}, Access("127.0.0.1"), poll_seconds=2)
    with LoopbackServer(standalone_app(ops)) as http:
        yield {"url": http.url, "merchant": merchant, "poll": ops.poll_seconds, **seeded}
    merchant.close()


@pytest.fixture(scope="module")
def browser(chromium):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_window_size(1280, 800)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(browser, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT, poll_frequency=0.1).until(condition, message)


def note(browser) -> str:
    from selenium.webdriver.common.by import By

    return wait_for(browser, lambda d: d.find_elements(By.ID, "note") and d.find_element(By.ID, "note").text,
                    "no message after the action")


def shoot(browser, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SHOTS / f"{name}.png"))


def test_a_dead_letter_replayed_from_the_page_succeeds(site, browser) -> None:
    from selenium.webdriver.common.by import By

    letter = next(row for row in site["merchant"].store.list_dead_letters(merchant="acme")
                  if row["flow"] == "listing_status")
    browser.get(f"{site['url']}/ui/m/acme/dlq")
    shoot(browser, "dlq")
    row = browser.find_element(By.ID, f"letter-{letter['id']}")
    assert "Trail Product 1" in row.text
    row.find_element(By.CSS_SELECTOR, "button.replay").click()
    assert "all replayed" in note(browser)
    assert site["merchant"].store.get_dead_letter(letter["id"])["status"] == "replayed"
    assert not browser.find_elements(By.ID, f"letter-{letter['id']}")
    [entry] = [e for e in site["merchant"].store.list_audit_entries("acme") if e["action"] == "replay"]
    assert entry["target"] == f"dead_letter:{letter['id']}"


def test_a_group_is_resolved_from_the_page(site, browser) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{site['url']}/ui/m/acme/dlq")
    group = next(g for g in browser.find_elements(By.CSS_SELECTOR, "section.group")
                 if g.get_attribute("data-ids") == ",".join(map(str, site["auth"])))
    group.find_element(By.NAME, "note").send_keys("key rotated")
    group.find_element(By.CSS_SELECTOR, "button.resolve-group").click()
    assert "Resolved 2 dead letters." in note(browser)
    for dlq_id in site["auth"]:
        assert site["merchant"].store.get_dead_letter(dlq_id)["status"] == "resolved"
    assert all(g.get_attribute("data-ids") != ",".join(map(str, site["auth"]))
               for g in browser.find_elements(By.CSS_SELECTOR, "section.group"))


def test_the_page_updates_without_a_reload(site, browser) -> None:
    browser.get(f"{site['url']}/ui/m/acme/dlq")
    browser.execute_script("window.notReloaded = true;")
    site["merchant"].store.add_dead_letter(None, "acme", "catalog", "push", "catalog_to_tiktok", "live-1",
                                           {"title": "Arrived Meanwhile", "variants": [{"sku": "LIVE-1"}]},
                                           {"message": "HTTP 500", "type": "HttpCallError",
                                            "label": "Arrived Meanwhile (SKU LIVE-1)"})
    wait_for(browser, lambda d: "Arrived Meanwhile (SKU LIVE-1)" in d.page_source, "the new dead letter never showed")
    assert browser.execute_script("return window.notReloaded === true;")


def test_a_note_being_written_is_not_swept_away_by_an_update(site, browser) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{site['url']}/ui/m/acme/dlq")
    browser.find_element(By.CSS_SELECTOR, "section.group input[name=note]").send_keys("checking with the brand")
    site["merchant"].store.add_dead_letter(None, "acme", "catalog", "push", "catalog_to_tiktok", "live-2",
                                           {"title": "Second Arrival"}, {"message": "HTTP 502", "type": "HttpCallError"})
    time.sleep(3 * site["poll"])  # three polls skipped while the note is being written
    assert "Second Arrival" not in browser.page_source
    assert browser.find_element(By.CSS_SELECTOR, "section.group input[name=note]").get_attribute("value") == \
        "checking with the brand"
    browser.find_element(By.CSS_SELECTOR, "section.group input[name=note]").clear()
    browser.find_element(By.TAG_NAME, "h1").click()  # done writing: updates resume
    wait_for(browser, lambda d: "Second Arrival" in d.page_source, "updates did not resume")


def test_every_page_renders_and_is_photographed(site, browser) -> None:
    from selenium.webdriver.common.by import By

    first = site["too_long"][0]
    pages = {"home": "/ui/", "health": "/ui/m/acme/health", "runs": "/ui/m/acme/runs",
             "run": f"/ui/m/acme/runs/{site['run']}", "dlq": "/ui/m/acme/dlq", "letter": f"/ui/m/acme/dlq/{first}",
             "listings": "/ui/m/acme/listings", "orders": "/ui/m/acme/orders", "stock": "/ui/m/acme/stock",
             "audit": "/ui/m/acme/audit"}
    for name, path in pages.items():
        browser.get(site["url"] + path)
        heading = browser.find_element(By.TAG_NAME, "h1").text
        assert heading, name
        errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"] \
            if "browser" in getattr(browser, "log_types", []) else []
        assert not errors, (name, errors)
        time.sleep(0.1)
        shoot(browser, name)
    assert {p.stem for p in SHOTS.glob("*.png")} >= set(pages)
