"""The dashboard in a real browser: headless Chromium against a live server, with data sent
through the real ingestion API. Screenshots (1400x900) land in docs/screenshots/."""

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import requests
from selenium.webdriver import Chrome
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from dashboard.services import member_add
from infraprism.services import api_key_create, organization_create
from sessions.services import session_rollup_drain
from tests.dashboard import browser
from tests.dashboard.conftest import PASSWORD
from tests.factories import event
from tests.guide_traffic import (
    AGENT_SESSION,
    AGENT_STEPS,
    CHATBOT_SESSION,
    agent_calls,
    chatbot_calls,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OWNER = "owner@acme.example"  # owner of acme, plain member of globex
MEMBER = "member@globex.example"  # member of globex only
GLOBEX_SESSION = "globex-support-chat-1"
LONG_SESSION = "acme-corp:batch-summaries/2025-03 run #1"  # long, with awkward characters
LONG_CALLS = 300
DOTS_SESSION = ".."  # a browser would resolve it as a path segment


def _long_session_time(i: int) -> str:
    """Calls every 20 s or so from 08:00, then a pause of about an hour after call 150."""
    hour = 8 + (i >= 150)
    return f"2025-03-06T{hour:02d}:{(i % 150) // 6 * 2:02d}:{(i * 7) % 60:02d}Z"


@pytest.fixture(scope="module")
def driver() -> Iterator[Chrome]:
    missing = browser.missing_binaries()
    if missing:
        pytest.fail(
            f"browser tests need {', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
    with browser.chromium() as chrome:
        yield chrome


class World:
    """Two organizations with guide-shaped sessions, sent over HTTP to the live server."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.acme = organization_create(slug="acme", name="Acme Corp")
        self.globex = organization_create(slug="globex", name="Globex")
        self.empty = organization_create(slug="fresh", name="Fresh Start")
        self.acme_key = api_key_create(
            organization=self.acme, name="seed", scopes=["ingest", "read"]
        )[1]
        self.globex_key = api_key_create(
            organization=self.globex, name="seed", scopes=["ingest", "read"]
        )[1]
        member_add(organization=self.acme, email=OWNER, role="owner", password=PASSWORD)
        member_add(organization=self.globex, email=OWNER, role="member", password=PASSWORD)
        member_add(organization=self.empty, email=OWNER, role="owner", password=PASSWORD)
        member_add(organization=self.globex, email=MEMBER, role="member", password=PASSWORD)
        long_calls = [
            event(
                # Bursts of calls with a long pause in the middle: gaps must stay readable.
                timestamp=_long_session_time(i),
                model="gpt-4o-mini" if i % 3 else "gpt-4o",
                provider="openai",
                entity_type="customer",
                entity_id="acme-corp",
                session_id=LONG_SESSION,
                tags={"feature": "batch"},
                input_tokens=1200 + 10 * i,
                output_tokens=200,
                latency_ms=700,
            )
            for i in range(LONG_CALLS)
        ]
        dots = [event(timestamp="2025-03-01T12:00:00Z", session_id=DOTS_SESSION, cost=0.25)]
        self.post(self.acme_key, chatbot_calls() + agent_calls() + long_calls + dots)
        self.post(self.globex_key, chatbot_calls(session_id=GLOBEX_SESSION, customer="globex-co"))
        session_rollup_drain()

    def post(self, key: str, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), 1000):
            response = requests.post(
                f"{self.base}/v1/events/batch",
                json={"events": events[start : start + 1000]},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            assert response.status_code == 202, response.text[:500]

    def api(self, path: str, params: Any = None, key: str | None = None) -> requests.Response:
        response = requests.get(
            f"{self.base}{path}",
            params=params,
            headers={"Authorization": f"Bearer {key or self.acme_key}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text[:500]
        return response


@pytest.fixture
def world(live_server: Any, driver: Chrome) -> World:
    driver.delete_all_cookies()
    return World(live_server.url)


def wait_for(driver: Chrome, css: str, timeout: float = 10) -> Any:
    return WebDriverWait(driver, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def sign_in(driver: Chrome, base: str, email: str = OWNER, shot: str | None = None) -> None:
    driver.get(f"{base}/")
    wait_for(driver, "form[data-testid=login-form]")
    driver.find_element(By.NAME, "username").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    if shot:
        browser.screenshot(driver, shot)
    driver.find_element(By.CSS_SELECTOR, "form[data-testid=login-form] button").click()
    WebDriverWait(driver, 10).until(lambda d: "/o/" in d.current_url)


def console_problems(driver: Chrome) -> list[str]:
    """Errors the page logged: a script error or a Content-Security-Policy violation."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def listed_sessions(driver: Chrome) -> list[str]:
    # Read in one script: htmx may swap the table between two WebDriver calls.
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll("
            "'table[data-testid=sessions-table] tbody tr')).map(r => r.dataset.sessionId)"
        )
    )


def chart_marks(driver: Chrome, canvas_id: str) -> int:
    """How many marks the chart on that canvas draws in its first dataset, once it is drawn."""
    marks = WebDriverWait(driver, 10).until(
        lambda d: d.execute_script(
            "const canvas = document.getElementById(arguments[0]);"
            "const chart = canvas && Chart.getChart(canvas);"
            "return chart ? chart.getDatasetMeta(0).data.length : null;",
            canvas_id,
        )
    )
    return int(marks)


def test_sign_in_shows_the_guides_sessions(world: World, driver: Chrome) -> None:
    sign_in(driver, world.base, shot="sign-in")
    assert driver.current_url == f"{world.base}/o/acme/sessions/"
    wait_for(driver, "table[data-testid=sessions-table]")
    assert set(listed_sessions(driver)) == {
        CHATBOT_SESSION,
        AGENT_SESSION,
        LONG_SESSION,
        DOTS_SESSION,
    }
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-session-id="{CHATBOT_SESSION}"]')
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[2] == "3"  # turns
    chatbot = world.api(f"/v1/analytics/sessions/{CHATBOT_SESSION}").json()["data"]
    money = row.find_element(By.CSS_SELECTOR, ".money")
    assert money.text == f"${Decimal(str(chatbot['total_cost'])):.4f}"  # the guide's format
    assert Decimal(money.get_attribute("data-usd") or "") == Decimal(str(chatbot["total_cost"]))
    assert (money.get_attribute("title") or "").startswith("$")  # the exact value on hover
    browser.screenshot(driver, "sessions")
    assert console_problems(driver) == []


def test_filtering_sorting_and_the_csv_download(world: World, driver: Chrome) -> None:
    sign_in(driver, world.base)
    tag_input = driver.find_elements(
        By.CSS_SELECTOR, "form[data-testid=session-filters] input[name=tag]"
    )[-1]
    tag_input.send_keys("feature:agent")
    driver.find_element(
        By.CSS_SELECTOR, "form[data-testid=session-filters] button[type=submit]"
    ).click()
    WebDriverWait(driver, 10).until(lambda d: listed_sessions(d) == [AGENT_SESSION])
    assert "tag=feature%3Aagent" in driver.current_url  # htmx pushed the filtered URL

    driver.get(f"{world.base}/o/acme/sessions/?order_by=-total_cost&entity_type=customer")
    wait_for(driver, "table[data-testid=sessions-table]")
    api = world.api(
        "/v1/analytics/sessions", {"order_by": "-total_cost", "entity_type": "customer"}
    )
    assert listed_sessions(driver) == [s["session_id"] for s in api.json()["data"]]

    # "Download CSV" carries the page's filters and equals the API's CSV for them.
    href = driver.find_element(By.CSS_SELECTOR, "[data-testid=download-csv]").get_attribute("href")
    assert href and "order_by=-total_cost" in href and "entity_type=customer" in href
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    download = requests.get(href, cookies=cookies, timeout=30)
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    expected = world.api(
        "/v1/analytics/sessions",
        {"order_by": "-total_cost", "entity_type": "customer", "format": "csv"},
    )
    assert download.content == expected.content
    rows = list(csv.reader(io.StringIO(download.text)))
    assert len(rows) == 1 + 3


def test_session_details_list_the_calls_and_draw_one_mark_per_call(
    world: World, driver: Chrome
) -> None:
    sign_in(driver, world.base)
    driver.find_element(By.CSS_SELECTOR, f'tr[data-session-id="{AGENT_SESSION}"] a').click()
    wait_for(driver, "canvas[data-marks]")
    assert driver.current_url.endswith(f"/o/acme/sessions/{quote(AGENT_SESSION, safe='')}/")
    calls = driver.find_elements(By.CSS_SELECTOR, "table[data-testid=calls-table] tbody tr")
    api = world.api(f"/v1/analytics/sessions/{quote(AGENT_SESSION, safe='')}").json()["data"]
    assert [c.get_attribute("data-event-id") for c in calls] == [
        c["event_id"] for c in api["calls"]
    ]
    assert len(calls) == AGENT_STEPS
    assert chart_marks(driver, "timeline-chart") == AGENT_STEPS

    # Hovering the third call shows its model, tokens and cost.
    point = driver.execute_script(
        "const c = Chart.getChart(document.getElementById('timeline-chart'));"
        "const p = c.getDatasetMeta(0).data[2]; const r = c.canvas.getBoundingClientRect();"
        "return [p.x - r.width / 2, p.y - r.height / 2];"
    )
    canvas = driver.find_element(By.ID, "timeline-chart")
    ActionChains(driver).move_to_element_with_offset(canvas, int(point[0]), int(point[1])).perform()
    tooltip = WebDriverWait(driver, 5).until(
        lambda d: d.execute_script(
            "const t = Chart.getChart(document.getElementById('timeline-chart')).tooltip;"
            "if (!(t.opacity > 0 && t.title.length)) return null;"
            "return [t.title.join(' '), t.body.map(b => b.lines.join(' ')).join(' ')];"
        )
    )
    third = api["calls"][2]
    assert "Call #3" in tooltip[0] and third["model"] in tooltip[0]
    assert f"{third['input_tokens']:,} in" in tooltip[1]
    assert f"${Decimal(str(third['cost'])):.4f}" in tooltip[1]
    browser.screenshot(driver, "session")
    assert console_problems(driver) == []


def test_awkward_session_ids_open_from_the_list(world: World, driver: Chrome) -> None:
    sign_in(driver, world.base)
    for session_id in (DOTS_SESSION, LONG_SESSION):
        driver.get(f"{world.base}/o/acme/sessions/")
        link = wait_for(driver, f'tr[data-session-id="{session_id}"] a')
        link.click()
        title = wait_for(driver, "[data-testid=session-id]")
        assert title.text == session_id


def test_a_long_session_stays_readable(world: World, driver: Chrome) -> None:
    sign_in(driver, world.base)
    driver.get(f"{world.base}/o/acme/sessions/{quote(LONG_SESSION, safe='')}/")
    wait_for(driver, "canvas[data-marks]")
    assert driver.find_element(By.CSS_SELECTOR, "[data-testid=session-id]").text == LONG_SESSION
    assert chart_marks(driver, "timeline-chart") == LONG_CALLS
    rows = driver.find_elements(By.CSS_SELECTOR, "table[data-testid=calls-table] tbody tr")
    assert len(rows) == LONG_CALLS
    browser.screenshot(driver, "session-long")
    driver.find_element(By.CSS_SELECTOR, "[data-axis=step]").click()
    max_x = driver.execute_script(
        "return Chart.getChart(document.getElementById('timeline-chart')).scales.x.max"
    )
    assert max_x >= LONG_CALLS  # by call number, evenly spread
    browser.screenshot(driver, "session-long-by-call")


def test_metrics_page_shows_the_apis_numbers(world: World, driver: Chrome) -> None:
    sign_in(driver, world.base)
    for query in ({}, {"tag": "feature:chatbot", "tz": "America/New_York"}):
        driver.get(
            f"{world.base}/o/acme/metrics/?" + "&".join(f"{k}={quote(v)}" for k, v in query.items())
        )
        wait_for(driver, "canvas#series-chart")
        api = world.api("/v1/analytics/session-metrics", query).json()["data"]
        for name, value in api.items():
            cell = driver.find_element(By.CSS_SELECTOR, f'[data-metric="{name}"]')
            shown = cell.get_attribute("data-value") or cell.find_element(
                By.CSS_SELECTOR, ".money"
            ).get_attribute("data-usd")
            assert Decimal(str(shown)) == Decimal(str(value)), (query, name, shown, value)
        wait_for(driver, "canvas#cost-histogram")  # htmx brings the histograms just after
        assert chart_marks(driver, "cost-histogram") > 0
    driver.get(f"{world.base}/o/acme/metrics/")
    wait_for(driver, "canvas#series-chart")
    wait_for(driver, "canvas#cost-histogram")
    browser.screenshot(driver, "metrics")
    driver.execute_script("document.getElementById('cost-histogram').scrollIntoView()")
    browser.screenshot(driver, "metrics-histograms")
    assert console_problems(driver) == []


def test_costs_page_chart_and_csv(world: World, driver: Chrome) -> None:
    sign_in(driver, world.base)
    driver.get(f"{world.base}/o/acme/costs/?group_by=model")
    wait_for(driver, "canvas#costs-chart")
    api = world.api("/v1/analytics/costs", {"group_by": "model"}).json()["data"]
    rows = driver.find_elements(By.CSS_SELECTOR, "table[data-testid=costs-table] tbody tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == [i["key"] for i in api]
    assert chart_marks(driver, "costs-chart") == len(api)
    href = driver.find_element(By.CSS_SELECTOR, "[data-testid=download-costs-csv]").get_attribute(
        "href"
    )
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    download = requests.get(href or "", cookies=cookies, timeout=30)
    expected = world.api("/v1/analytics/costs", {"group_by": "model", "format": "csv"})
    assert download.content == expected.content
    browser.screenshot(driver, "costs")
    assert console_problems(driver) == []


def test_switching_organization_shows_only_its_data(world: World, driver: Chrome) -> None:
    sign_in(driver, world.base)
    wait_for(driver, "table[data-testid=sessions-table]")
    driver.find_element(By.CSS_SELECTOR, "[data-testid=org-switcher] summary").click()
    driver.find_element(By.CSS_SELECTOR, '[data-testid=org-switcher] a[data-org="globex"]').click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/o/globex/sessions/"))
    assert listed_sessions(driver) == [GLOBEX_SESSION]
    assert (
        "Globex" in driver.find_element(By.CSS_SELECTOR, "[data-testid=org-switcher] summary").text
    )
    # Acme's session does not exist here.
    driver.get(f"{world.base}/o/globex/sessions/{quote(AGENT_SESSION, safe='')}/")
    assert "Not found" in driver.find_element(By.TAG_NAME, "h1").text
    # A plain member of globex has no key page there.
    assert not driver.find_elements(By.CSS_SELECTOR, 'nav.sections a[href="/o/globex/keys/"]')


def test_a_member_cannot_open_the_keys_page(world: World, driver: Chrome) -> None:
    sign_in(driver, world.base, email=MEMBER)
    assert driver.current_url == f"{world.base}/o/globex/sessions/"
    assert not driver.find_elements(By.CSS_SELECTOR, 'a[href="/o/globex/keys/"]')
    driver.get(f"{world.base}/o/globex/keys/")
    assert (
        "Only owners and admins"
        in driver.find_element(By.CSS_SELECTOR, "[data-testid=forbidden]").text
    )
    driver.get(f"{world.base}/o/acme/sessions/")  # not a member of acme at all
    assert "Not found" in driver.find_element(By.TAG_NAME, "h1").text


def test_an_owner_creates_a_key_shown_once(world: World, driver: Chrome) -> None:
    sign_in(driver, world.base)
    driver.get(f"{world.base}/o/acme/keys/")
    driver.find_element(By.NAME, "name").send_keys("production ingest")
    driver.find_element(By.CSS_SELECTOR, "form[data-testid=create-key] button[type=submit]").click()
    plaintext = wait_for(driver, "[data-testid=new-key-plaintext]").text
    assert plaintext.startswith("ip-")
    # The key works against the API...
    ok = requests.get(
        f"{world.base}/v1/analytics/sessions",
        headers={"Authorization": f"Bearer {plaintext}"},
        timeout=30,
    )
    assert ok.status_code == 200
    browser.screenshot(driver, "keys")
    # ...and is never shown again.
    driver.get(f"{world.base}/o/acme/keys/")
    assert plaintext not in driver.page_source
    assert plaintext[:11] in driver.page_source


def test_an_empty_organization_is_shown_how_to_send_its_first_event(
    world: World, driver: Chrome
) -> None:
    sign_in(driver, world.base)
    driver.get(f"{world.base}/o/fresh/sessions/")
    snippet = wait_for(driver, "[data-testid=curl-snippet]").text
    assert f"curl -X POST {world.base}/v1/events" in snippet
    assert (
        "InfraPrismOpenAI()"
        in driver.find_element(By.CSS_SELECTOR, "[data-testid=sdk-snippet]").text
    )
    browser.screenshot(driver, "onboarding")


def test_signing_out_ends_access(world: World, driver: Chrome) -> None:
    sign_in(driver, world.base)
    driver.find_element(By.CSS_SELECTOR, "[data-testid=sign-out]").click()
    WebDriverWait(driver, 10).until(lambda d: "/accounts/login/" in d.current_url)
    driver.get(f"{world.base}/o/acme/sessions/")
    assert "/accounts/login/" in driver.current_url
    assert not driver.find_elements(By.CSS_SELECTOR, "table[data-testid=sessions-table]")
