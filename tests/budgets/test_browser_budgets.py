"""The Budgets page in headless Chromium against a live server: an owner creates a budget with
the form, spend sent through the real ingestion API crosses it, and the alert shows."""

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from dashboard.services import member_add
from infraprism.services import api_key_create, organization_create
from tests.budgets.helpers import call
from tests.dashboard import browser
from tests.dashboard.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
OWNER = "owner@budgets.example"


@pytest.fixture(scope="module")
def driver() -> Iterator[Chrome]:
    missing = browser.missing_binaries()
    if missing:
        pytest.fail(
            f"browser tests need {', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
    with browser.chromium() as chrome:
        yield chrome


def wait_for(driver: Chrome, css: str) -> Any:
    return WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_owner_creates_a_budget_and_sees_the_alert(
    live_server: Any, driver: Chrome, settings: Any
) -> None:
    settings.ROLLUP_IN_PROCESS = True  # the live server evaluates right after each ingest
    org = organization_create(slug="acme", name="Acme Corp")
    key = api_key_create(organization=org, name="seed", scopes=["ingest"])[1]
    member_add(organization=org, email=OWNER, role="owner", password=PASSWORD)
    driver.delete_all_cookies()
    driver.get(f"{live_server.url}/")
    wait_for(driver, "form[data-testid=login-form]")
    driver.find_element(By.NAME, "username").send_keys(OWNER)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[data-testid=login-form] button").click()
    WebDriverWait(driver, 10).until(lambda d: "/o/" in d.current_url)
    driver.find_element(By.LINK_TEXT, "Budgets").click()
    form = wait_for(driver, "form[data-testid=create-budget]")
    form.find_element(By.NAME, "name").send_keys("Daily spend")
    form.find_element(By.NAME, "limit").send_keys("1.00")
    form.find_element(By.NAME, "thresholds").send_keys("0.5, 1")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    row = wait_for(driver, "table[data-testid=budgets-table] tr[data-budget-id]")
    assert "Daily spend" in row.text
    answer = requests.post(
        f"{live_server.url}/v1/events/batch",
        json={"events": [call("0.4"), call("0.3")]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    driver.refresh()
    alerts = wait_for(driver, "table[data-testid=alerts-table] tbody")
    assert "budget.threshold_crossed" in alerts.text and "Daily spend" in alerts.text
    spend = driver.find_element(By.CSS_SELECTOR, "tr[data-budget-id] [data-testid=spend] .money")
    assert spend.get_attribute("data-usd") == "0.7"
    browser.screenshot(driver, "budgets")
    problems = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert problems == []
