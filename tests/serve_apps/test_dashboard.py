"""The web dashboard in a real browser: Debian's Chromium, driven by Playwright, against the API served by
uvicorn over running shards. Screenshots of every page go to ``test-artifacts/dashboard``."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fleetray.services.ports import free_port
from serve_apps.api.app import create_app
from serve_apps.api.context import ApiContext
from tests.serve_apps.conftest import World

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("FLEETRAY_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
LIVE_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def site(live_api_context: ApiContext, world: World) -> Iterator[str]:
    """The platform's API (and so the dashboard) served over HTTP, its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(live_api_context), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


class Session:
    """A browser tab logged in with one key, collecting the page's script errors."""

    def __init__(self, browser: Any, url: str, token: str, *, width: int = 1280) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        # A refused request is the page's to show (and the tests check it does); a script error is a defect.
        self.page.on("console", lambda m: self._console(m.type, m.text))
        self.url = url
        self.page.goto(f"{url}/")
        self.page.get_by_label("API key").fill(token)
        self.page.get_by_role("button", name="Log in").click()
        self.page.get_by_role("navigation", name="Pages").wait_for()

    def _console(self, kind: str, text: str) -> None:
        if kind == "error" and not text.startswith("Failed to load resource"):
            self.errors.append(text)

    def go(self, route: str) -> Any:
        self.page.goto(f"{self.url}/{route}")
        return self.page

    def shot(self, name: str) -> None:
        folder = ARTIFACTS / "dashboard"
        folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.page.close()
        assert not self.errors, self.errors


def _telemetry(site: str, world: World, status: str, seq: int) -> httpx.Response:
    """A sample from acme's robot, sent as the robot would over HTTPS."""
    sample = {
        "tenant_id": "acme",
        "robot_id": "acme-r1",
        "ts": datetime.now(UTC).isoformat(),
        "seq": seq,
        "status": status,
        "battery": {"soc": 0.42, "charging": status == "charging"},
        "pose": {"x": 3.0, "y": 4.0, "theta": 0.0},
    }
    return httpx.post(f"{site}/v1/device/telemetry", json=sample, headers=world.auth("acme", "device"))


def test_a_viewer_logs_in_sees_only_its_fleet_and_watches_a_status_change_live(
    browser: Any, site: str, world: World
) -> None:
    from playwright.sync_api import expect

    tab = Session(browser, site, world.tokens[("acme", "viewer")])
    page = tab.page
    row = page.locator(".grid-row", has_text="acme-r1")
    expect(row).to_be_visible()
    expect(page.locator("#who")).to_have_text("acme · viewer")
    assert "globex" not in page.content()
    token = world.tokens[("acme", "viewer")]
    assert token not in page.url and page.evaluate("localStorage.length") == 0  # only the tab's sessionStorage
    assert page.evaluate("sessionStorage.getItem('fleetray.token')") == token
    tab.shot("fleet")
    # The robot reports every second, as robots do; the shards begin to publish a tenant's updates within a
    # tick of a viewer subscribing to it.
    for seq in range(5000, 5040):
        answer = _telemetry(site, world, "charging", seq)
        assert answer.status_code < 300, answer.text
        if row.locator(".status", has_text="charging").count():
            break
        time.sleep(1)
    expect(row.locator(".status")).to_have_text("charging")
    expect(row).to_contain_text("42%")
    tab.shot("fleet-live-update")
    page.get_by_label("Status", exact=True).select_option("error")
    expect(page.locator(".grid-row")).to_have_count(0)
    page.get_by_label("Status", exact=True).select_option("charging")
    expect(page.locator(".grid-row")).to_have_count(1)
    tab.close()


def test_the_robot_page_shows_its_telemetry_components_and_events(browser: Any, site: str, world: World) -> None:
    from playwright.sync_api import expect

    tab = Session(browser, site, world.tokens[("acme", "viewer")])
    page = tab.go("#/robot/acme-r1")
    expect(page.get_by_role("heading", name="Robot acme-r1")).to_be_visible()
    chart = page.locator("#telemetry-chart")
    expect(chart).to_have_attribute("aria-label", "battery.soc over the last 1 hour: 3 points")
    expect(page.get_by_role("cell", name="E_BRUSH_JAM")).to_be_visible()
    expect(page.get_by_role("cell", name="main_brush")).to_be_visible()
    page.get_by_label("Resolution", exact=True).select_option("raw")
    expect(chart).to_have_attribute("aria-label", "battery.soc over the last 1 hour: 30 points")
    tab.shot("robot")
    expect(tab.go("#/robot/globex-r1").get_by_role("alert")).to_contain_text("robot 'globex-r1' not found")
    tab.close()


def test_an_operator_acknowledges_an_alert(browser: Any, site: str, world: World) -> None:
    from playwright.sync_api import expect

    tab = Session(browser, site, world.tokens[("acme", "operator")])
    page = tab.go("#/alerts")
    alert_id = world.alert_ids["acme"]
    button = page.get_by_role("button", name=f"Acknowledge alert {alert_id} (battery_low on acme-r1)")
    expect(button).to_be_visible()
    tab.shot("alerts")
    button.click()
    expect(page.get_by_role("status")).to_have_text(f"alert {alert_id} acknowledged")
    stored = httpx.get(f"{site}/v1/alerts/{alert_id}", headers=world.auth("acme", "viewer")).json()
    assert stored["state"] == "acknowledged" and stored["acknowledged_by"].startswith("key:")
    tab.close()
    viewer = Session(browser, site, world.tokens[("acme", "viewer")])
    viewer.go("#/alerts").get_by_label("State", exact=True).select_option("")
    expect(viewer.page.get_by_role("cell", name="acknowledged")).to_be_visible()
    assert viewer.page.get_by_role("button", name="Resolve").count() == 0  # a viewer reads, and only reads
    viewer.close()


def test_a_planner_runs_a_schedule_and_sees_it_per_robot(browser: Any, site: str, world: World) -> None:
    from playwright.sync_api import expect

    tab = Session(browser, site, world.tokens[("acme", "planner")], width=820)  # a tablet's width
    page = tab.go("#/schedules")
    expect(page.get_by_label("Request (JSON, as POST /v1/schedules:optimize takes it)")).to_have_value(
        re.compile('"id": "acme-r1"')  # the example starts from the tenant's own robots
    )
    request = page.get_by_label("Request (JSON, as POST /v1/schedules:optimize takes it)")
    request.fill(request.input_value().replace('"time_limit_s": 5', '"time_limit_s": 0.5'))  # this platform's limit
    page.get_by_role("button", name="Plan").click()
    expect(page.locator("#gantt svg")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#gantt svg rect.task").first).to_be_visible()
    expect(page.get_by_role("heading", name="Dropped tasks")).to_be_visible()
    tab.shot("schedules")
    request.fill('{"robots": []}')
    page.get_by_role("button", name="Plan").click()
    expect(page.get_by_role("alert")).to_contain_text("locations")  # the API's problem, naming the field
    tab.close()


def test_settings_show_an_admin_keys_webhooks_and_connections_and_a_viewer_only_the_connections(
    browser: Any, site: str, world: World
) -> None:
    from playwright.sync_api import expect

    admin = Session(browser, site, world.tokens[("acme", "admin")])
    page = admin.go("#/settings")
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.get_by_role("cell", name="this key")).to_be_visible()
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator(".token-once")).to_contain_text("fr_")
    page.get_by_label("API base URL").fill("https://api.nimbus-robotics.example")
    page.get_by_label("API token").fill("nimbus-token")
    page.get_by_label("Poll every (s)").fill("60")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("cell", name="Nimbus Robotics")).to_be_visible()
    expect(page.locator(".token-once").last).to_contain_text("whsec_")
    admin.shot("settings")
    admin.go("#/reports").get_by_role("button", name="Last week").click()
    expect(page.get_by_role("cell", name="weekly job").or_(page.get_by_role("cell", name="on demand"))).to_be_visible()
    admin.shot("reports")
    admin.close()
    viewer = Session(browser, site, world.tokens[("acme", "viewer")])
    expect(viewer.go("#/settings").get_by_role("heading", name="Sites")).to_be_visible()
    assert viewer.page.get_by_role("heading", name="API keys").count() == 0
    expect(viewer.page.get_by_role("cell", name="Nimbus Robotics")).to_be_visible()  # seen, not changed
    assert viewer.page.get_by_role("button", name="Connect").count() == 0
    assert viewer.page.get_by_role("button", name="Disconnect nimbus").count() == 0
    viewer.close()


def test_a_device_key_or_a_wrong_key_does_not_open_it(browser: Any, site: str, world: World) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(f"{site}/")
    for token, message in (
        (world.tokens[("acme", "device")], "device keys reach only the /v1/device routes"),
        ("fr_0123456789abcdef_" + "x" * 43, "That key was refused."),
    ):
        page.get_by_label("API key").fill(token)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#login-error")).to_contain_text(message)
        assert page.evaluate("sessionStorage.length") == 0
    page.close()


def test_an_admin_changes_the_alert_rules_and_is_told_what_cannot_hold(browser: Any, site: str, world: World) -> None:
    from playwright.sync_api import expect

    tab = Session(browser, site, world.tokens[("acme", "admin")])
    page = tab.go("#/alerts")
    page.get_by_label("battery_low_raise", exact=True).fill("0.3")
    page.get_by_role("button", name="Save rules").click()
    expect(page.get_by_role("status")).to_contain_text("battery_low_clear")  # 0.25 would clear below 0.3
    page.get_by_label("battery_low_clear", exact=True).fill("0.4")
    page.get_by_role("button", name="Save rules").click()
    expect(page.get_by_role("status")).to_have_text("alert rules for all models saved")
    rules = httpx.get(f"{site}/v1/alert-rules", headers=world.auth("acme", "viewer")).json()["items"]
    assert rules[0]["overrides"] == {"battery_low_raise": 0.3, "battery_low_clear": 0.4}
    tab.shot("alert-rules")
    tab.close()


UNNAMED_CONTROLS = """() => [...document.querySelectorAll("input, select, textarea, button, [role=table], canvas, svg")]
  .filter((element) => !(element.labels && element.labels.length) && !element.getAttribute("aria-label")
    && !element.textContent.trim())
  .map((element) => element.outerHTML.slice(0, 120))"""


def test_every_page_works_from_the_keyboard_and_names_every_control(browser: Any, site: str, world: World) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{site}/")
    expect(page.get_by_label("API key")).to_be_focused()  # the login form takes the keyboard at once
    page.keyboard.type(world.tokens[("acme", "admin")])
    page.keyboard.press("Enter")
    navigation = page.get_by_role("navigation", name="Pages")
    expect(navigation).to_be_visible()
    for name, heading in (
        ("Fleet", "Fleet"),
        ("Alerts", "Alerts"),
        ("Schedules", "Schedules"),
        ("Reports", "Weekly reports"),
        ("Settings", "Settings"),
    ):
        navigation.get_by_role("link", name=name).focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.evaluate(UNNAMED_CONTROLS) == [], f"{name}: controls without a name"
    navigation.get_by_role("link", name="Fleet").focus()
    page.keyboard.press("Enter")
    page.get_by_role("link", name="acme-r1").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Robot acme-r1")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.evaluate(UNNAMED_CONTROLS) == [], "robot page: controls without a name"
    page.close()
