"""The auditors' page in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

An auditor logs in with a token, looks at the dashboard, filters the conflict list, opens a
conflict, takes it into review, confirms it, and sees its status change. The app runs in
uvicorn on a free port over a SQLite database filled with realistic conflicts
(``tests/support/case_samples.py``).

Skipped, with the reason, only when Chromium or its driver is not installed; with
``PENSIONX_REQUIRE_ALL_TIERS=1`` (CI) that skip is a failure. The dashboard's screenshot is
saved under the test's tmp dir, and to ``docs/dashboard.png`` (the README's picture) when
``PENSIONX_UPDATE_SCREENSHOT=1``: a test run should not rewrite a tracked file.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from pensionx.broker import free_port
from pensionx.core.cases import Role
from pensionx.db import make_engine, migrate
from pensionx.web.api import make_app
from pensionx.web.tokens import create_token
from tests.conftest import _skip_or_fail
from tests.support.case_samples import NOW, populate

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
WIDTH = 1400
WAIT_S = 15.0
# No first-run pages, no component or safe-browsing downloads, no QUIC: the test talks to
# 127.0.0.1 only, on a machine that may have no other network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--force-device-scale-factor=1",
    f"--window-size={WIDTH},1000",
)


def browser_problem() -> str | None:
    """Why the browser tier cannot run here, or None."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return (
            f"browser tier skipped: {', '.join(missing)} not installed "
            "(apt-get install chromium chromium-driver)"
        )
    if importlib.util.find_spec("selenium") is None:
        return (
            "browser tier skipped: the selenium package is not installed (pip install -e .[test])"
        )
    return None


@dataclass
class Site:
    url: str
    engine: Engine
    auditor_token: str


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The app on a free port, in a thread, over a populated SQLite database."""
    import uvicorn

    engine = make_engine(f"sqlite:///{tmp_path / 'pensionx.db'}")
    migrate(engine)
    populate(engine)
    create_token(engine, Role.AUDITOR, "li.na")
    token = create_token(engine, Role.AUDITOR, "wang.li")
    port = free_port()
    config = uvicorn.Config(make_app(engine, clock=lambda: NOW), host="127.0.0.1", port=port,
                            log_config=None, access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Site(f"http://127.0.0.1:{port}", engine, token)
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    problem = browser_problem()
    if problem:
        _skip_or_fail(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(2)
    try:
        yield driver
    finally:
        driver.quit()


def full_page_screenshot(driver: Any, path: Path) -> None:
    """The whole page, not just the first screenful: the window is grown to fit it."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, height + 20)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.set_window_size(WIDTH, 1000)


def test_an_auditor_filters_opens_and_confirms_a_conflict(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, WAIT_S)

    # Log in: the page sends us to the login form first, and back afterwards.
    browser.get(site.url + "/")
    wait.until(ec.presence_of_element_located((By.ID, "token"))).send_keys(site.auditor_token)
    browser.find_element(By.ID, "login").click()
    active = wait.until(ec.presence_of_element_located((By.ID, "kpi-active")))
    assert int(active.text) > 0
    assert "数据源新鲜度" in browser.page_source
    shot = tmp_path / "dashboard.png"
    full_page_screenshot(browser, shot)
    assert shot.stat().st_size > 50_000
    if os.environ.get("PENSIONX_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)

    # Filter the list: one rule, HIGH severity, undecided.
    browser.find_element(By.ID, "nav-cases").click()
    rule = "BENEFIT_AFTER_DEATH"
    Select(wait.until(ec.presence_of_element_located((By.ID, "rule")))).select_by_value(rule)
    Select(browser.find_element(By.ID, "severity")).select_by_value("HIGH")
    browser.find_element(By.ID, "apply").click()
    wait.until(ec.url_contains(f"rule={rule}"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.case-row")
    assert rows
    assert all("死亡后继续领取待遇" in row.text and "HIGH" in row.text for row in rows)
    open_row = next(r for r in rows if "待处理" in r.find_element(By.CSS_SELECTOR, ".status").text)
    conflict_id = open_row.get_attribute("data-conflict")

    # Open it, take it into review, confirm it.
    open_row.find_element(By.CSS_SELECTOR, "a.case-link").click()
    status = wait.until(ec.presence_of_element_located((By.ID, "case-status")))
    assert "待处理" in status.text
    assert "证据时间线" in browser.page_source
    browser.find_element(By.ID, "btn-review").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "case-status"), "核查中"))
    browser.find_element(By.ID, "btn-confirm").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "case-status"), "已确认 Confirmed"))
    history = browser.find_element(By.ID, "history").text
    assert "确认" in history
    assert "wang.li" in history
    assert not browser.find_elements(By.ID, "btn-confirm")

    # And the list shows it confirmed.
    browser.get(f"{site.url}/cases?status=CONFIRMED&q={conflict_id}")
    [row] = browser.find_elements(By.CSS_SELECTOR, "tr.case-row")
    assert "已确认" in row.find_element(By.CSS_SELECTOR, ".status").text
