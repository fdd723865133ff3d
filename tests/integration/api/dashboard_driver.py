"""Driving the dashboard in headless Chromium with Selenium: the shared steps of the browser tests.

The ``browser`` fixture (in ``conftest.py``) starts Debian's ``/usr/bin/chromium`` through
``/usr/bin/chromedriver``; these functions log in, wait for the live event stream, read elements and
save screenshots (into a test's folder and, when ``NAUTILUS_AI_ARTIFACTS_DIR`` is set, a copy there).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from nautilus_ai.test_kit import CHROMEDRIVER, CHROMIUM, headless_chromium

ARTIFACTS_ENV = "NAUTILUS_AI_ARTIFACTS_DIR"
"""Environment variable naming a folder that receives a copy of every screenshot (CI artifacts)."""


def browser_available() -> bool:
    """Return whether Chromium and its WebDriver are installed (``make browser``)."""
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


def start_browser(profile: Path) -> Any:
    """Return a headless Chromium WebDriver with its profile in ``profile`` and the browser log on."""
    return headless_chromium(profile)


def wait(driver: Any, condition: Any, timeout: float = 15.0) -> Any:
    """Return ``condition(driver)`` once truthy (missing, stale elements and absent alerts are retried)."""
    from selenium.common.exceptions import (
        NoAlertPresentException,
        NoSuchElementException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException, NoAlertPresentException)
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(condition)


def login(driver: Any, base_url: str, key: str) -> None:
    """Open ``/ui/``, get redirected to the login page, log in with ``key`` and wait for the overview."""
    from selenium.webdriver.common.by import By

    driver.get(base_url + "/ui/")
    assert driver.current_url.endswith("/ui/login")
    driver.find_element(By.ID, "api-key").send_keys(key)
    driver.find_element(By.ID, "login-submit").click()
    wait(driver, lambda d: d.current_url.endswith("/ui/") and d.find_elements(By.ID, "ov-state"))


def text(driver: Any, element_id: str) -> str:
    """Return the visible text of the element with id ``element_id``."""
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


def live(driver: Any) -> None:
    """Wait until the page's event stream (``/ui/events``) is open; fail with the browser log if not."""
    from selenium.common.exceptions import TimeoutException

    try:
        wait(driver, lambda d: text(d, "live-status") == "live")
    except TimeoutException as error:
        raise AssertionError(
            f"the event stream did not open; browser log: {driver.get_log('browser')}"
        ) from error


def controls(driver: Any) -> list[Any]:
    """Return the page's control buttons (``[data-control]``)."""
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, "[data-control]"))


def confirm_control(driver: Any, button_id: str) -> str:
    """Click the control ``button_id``, accept its confirmation dialog and return the dialog's text."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, button_id).click()
    alert = wait(driver, lambda d: d.switch_to.alert)
    message = str(alert.text)
    alert.accept()
    return message


def screenshot(driver: Any, folder: Path, name: str, artifact_group: str) -> Path:
    """Save a screenshot as ``folder/name.png``; copy it to ``$NAUTILUS_AI_ARTIFACTS_DIR/artifact_group/``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot saved at {path}"
    artifacts = os.environ.get(ARTIFACTS_ENV)
    if artifacts:
        target = Path(artifacts) / artifact_group
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / path.name)
    return path
