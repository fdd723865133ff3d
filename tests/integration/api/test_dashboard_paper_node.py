"""The dashboard on a running paper node in headless Chromium: what a user following the README sees.

The ``paper_stack`` fixture starts the README's processes (``nautilus-ai live paper`` replaying the
bundled AAPL bars with ``--redis-url``, ``nautilus-ai api serve``); nothing is written into Redis by the
test. In the browser (Selenium, ``/usr/bin/chromium``): an admin logs in with a key and sees the overview
filled by the node (trading state, regime of the instrument, equity, positions), a new signal arriving on the
signals page without a reload, the risk, models, runs and system-map pages; halts trading from the page
(after its confirmation), sees HALTED, and resumes; promotes a model version from the models page and
sees the node's signals switch to it; a read key sees the same pages without any control. Every page's
screenshot is saved in the test's tmp dir (``screenshots/``) and copied to
``$NAUTILUS_AI_ARTIFACTS_DIR/dashboard-paper-node/`` when that variable is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dashboard_driver import browser_available, confirm_control, controls, live, login, screenshot, text, wait
from paper_stack import INSTRUMENT, PaperStack, redis_up

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not redis_up(), reason="needs redis-server on 127.0.0.1:6379"),
    pytest.mark.skipif(
        not browser_available(),
        reason="needs /usr/bin/chromium and /usr/bin/chromedriver (make browser)",
    ),
]
ARTIFACTS = "dashboard-paper-node"


def _shot(driver: Any, tmp_path: Path, name: str) -> None:
    screenshot(driver, tmp_path / "screenshots", name, ARTIFACTS)


def _signal_row(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#signals-table tbody tr")
    return next((str(r.text) for r in rows if INSTRUMENT in r.text), "")


def _shows_the_node_positions(driver: Any, http: Any) -> bool:
    """Return whether the overview's positions table lists the node's open positions (or "none")."""
    held = [p for p in http.get("/execution/positions").json() if p["side"] != "FLAT"]
    table = text(driver, "positions-table")
    if not held:
        return "none" in table
    return all(p["position_id"] in table and p["side"] in table for p in held)


def _champion(stack: PaperStack) -> str:
    with stack.http("read") as http:
        models = http.get("/learning/models").json()
    return next(m["version_id"] for m in models if m["status"] == "champion")


def test_admin_sees_the_running_node_and_a_signal_arrives_live(
    paper_stack: PaperStack, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    stack, driver = paper_stack, browser
    login(driver, stack.base_url, stack.keys["admin"])
    live(driver)
    assert stack.trader_id in driver.find_element(By.TAG_NAME, "header").text
    wait(driver, lambda d: text(d, "ov-state") == "ACTIVE" and text(d, "trading-state") == "ACTIVE")
    # the node's regime of the instrument, and its equity (a risk snapshot every five seconds)
    regimes = wait(driver, lambda d: INSTRUMENT in (t := text(d, "regimes-table")) and t, timeout=60)
    assert "small-direction-regime" in regimes
    wait(driver, lambda d: text(d, "ov-equity").endswith("USD"), timeout=30)
    assert {b.get_attribute("id") for b in controls(driver)} == {"btn-halt", "btn-resume"}
    _shot(driver, tmp_path, "overview")

    driver.get(stack.base_url + "/ui/signals")
    live(driver)
    before = wait(driver, _signal_row, timeout=60)
    assert "small-direction-" in before
    driver.execute_script("window.__sameDocument = 'yes';")
    after = wait(driver, lambda d: (row := _signal_row(d)) != before and row, timeout=30)
    assert driver.execute_script("return window.__sameDocument") == "yes", "the page must not reload"
    assert before.split()[-2:] != after.split()[-2:], "a newer signal (its time) replaced the row"
    assert driver.find_elements(By.CSS_SELECTOR, "#signal-charts circle.dot")
    _shot(driver, tmp_path, "signals")

    driver.get(stack.base_url + "/ui/risk")
    live(driver)
    wait(driver, lambda d: INSTRUMENT in text(d, "decisions-table"), timeout=60)
    wait(driver, lambda d: text(d, "rk-gross").endswith("USD"), timeout=30)
    _shot(driver, tmp_path, "risk")

    driver.get(stack.base_url + "/ui/models")
    row = driver.find_element(By.CSS_SELECTOR, f"tr[data-version='{_champion(stack)}']")
    assert "champion" in row.text
    _shot(driver, tmp_path, "models")

    driver.get(stack.base_url + "/ui/runs")
    assert driver.find_element(By.LINK_TEXT, "wf")
    _shot(driver, tmp_path, "runs")

    driver.get(stack.base_url + "/ui/map")
    wait(
        driver,
        lambda d: d.execute_script(
            "const i = document.getElementById('system-map'); return i.complete && i.naturalWidth > 0;"
        ),
    )
    _shot(driver, tmp_path, "map")
    stack.check_running()


def test_admin_halts_and_resumes_trading_from_the_page(
    paper_stack: PaperStack, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    stack, driver = paper_stack, browser
    login(driver, stack.base_url, stack.keys["admin"])
    live(driver)
    wait(driver, lambda d: text(d, "ov-state") == "ACTIVE")
    reason = driver.find_element(By.ID, "control-reason")
    reason.clear()
    reason.send_keys("browser halt drill")
    assert stack.trader_id in confirm_control(driver, "btn-halt")
    wait(driver, lambda d: text(d, "ov-state") == "HALTED" and text(d, "trading-state") == "HALTED")
    assert "browser halt drill" in text(driver, "ov-state-reason")
    with stack.http("read") as http:  # the node's own state and positions, as the API reads them
        assert http.get("/risk/state").json()["state"] == "HALTED"
        stack.wait_for("the node's positions on the page", lambda: _shows_the_node_positions(driver, http))
    _shot(driver, tmp_path, "overview-halted")

    reason = driver.find_element(By.ID, "control-reason")
    reason.clear()
    reason.send_keys("browser drill over")
    confirm_control(driver, "btn-resume")
    wait(driver, lambda d: text(d, "ov-state") == "ACTIVE")
    assert "browser drill over" in text(driver, "ov-state-reason")
    _shot(driver, tmp_path, "overview-resumed")
    stack.check_running()


def test_admin_promotes_a_model_from_the_page_and_the_node_serves_it(
    paper_stack: PaperStack, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    stack, driver = paper_stack, browser
    champion = _champion(stack)
    candidate = stack.challenger if champion != stack.challenger else stack.champion
    login(driver, stack.base_url, stack.keys["admin"])
    driver.get(stack.base_url + "/ui/models")
    live(driver)
    driver.find_element(By.CSS_SELECTOR, f"button.promote[data-version='{candidate}']").click()
    alert = wait(driver, lambda d: d.switch_to.alert)
    assert candidate in alert.text
    alert.accept()
    wait(  # the page reloads after the node's ok
        driver,
        lambda d: "champion" in d.find_element(By.CSS_SELECTOR, f"tr[data-version='{candidate}']").text,
        timeout=30,
    )
    _shot(driver, tmp_path, "models-promoted")
    driver.get(stack.base_url + "/ui/signals")
    live(driver)
    wait(driver, lambda d: candidate in _signal_row(d), timeout=30)
    _shot(driver, tmp_path, "signals-promoted")
    stack.check_running()


def test_read_only_key_sees_the_node_but_no_controls(
    paper_stack: PaperStack, browser: Any, tmp_path: Path
) -> None:
    stack, driver = paper_stack, browser
    login(driver, stack.base_url, stack.keys["read"])
    live(driver)
    wait(driver, lambda d: text(d, "ov-state") in ("ACTIVE", "HALTED"))
    assert controls(driver) == []
    for page in ("signals", "risk", "models"):
        driver.get(f"{stack.base_url}/ui/{page}")
        assert controls(driver) == [], page
    _shot(driver, tmp_path, "models-read-only")
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/ui/actions/halt', {method: 'POST', headers: {'Content-Type': 'application/json',"
        " 'X-UI-CSRF': document.body.dataset.csrf}, body: JSON.stringify({reason: 'x'})})"
        ".then(r => done(r.status));"
    )
    assert status == 403
    with stack.http("read") as http:
        assert http.get("/risk/state").json()["state"] != "HALTED"
