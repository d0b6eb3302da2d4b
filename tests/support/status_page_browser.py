#!/usr/bin/env python3
"""Drives the watcher's status page in a real headless Chromium (selenium +
chromium-driver), for tests/e2e/test_status_page.sh.

usage: status_page_browser.py URL STATE_DIR DEPLOY_SH ALARM_TOKEN SHOTS_DIR
       status_page_browser.py --locked URL READ_TOKEN SHOTS_DIR

Checks, in order: the page loads with no console error (a CSP violation is
one); it shows the policy's state; it follows a fault injected into the demo
wiki without a reload (watching -> mitigated); the button without a token
says what is missing and journals nothing; with the token it raises an alarm
(incident at the file sink, alarm_raised with the reason and who); a second
press for the same scope updates the same incident; pause and resume through
the confirmation; the page fits a phone's width; the incident's review opens.
A screenshot of each state goes to SHOTS_DIR (paths printed).

--locked: the watcher has a read token: the page shows no data and asks for
it; entered, the page shows the policies (the token kept for the tab).
"""
import json
import os
import subprocess
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

locked = sys.argv[1] == "--locked"
if locked:
    url, read_token, shots = sys.argv[2:5]
else:
    url, state, deploy_sh, token, shots = sys.argv[1:6]
    journal = os.path.join(state, "journal.jsonl")
    incidents = os.path.join(state, "incidents.jsonl")
os.makedirs(shots, exist_ok=True)
console = []


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    try:
        shot("failure")
        print(driver.find_element(By.TAG_NAME, "body").text[:3000], file=sys.stderr)
    except Exception:
        pass
    sys.exit(1)


def records(kind=None):
    out = []
    with open(journal) as f:
        for line in f:
            if line.endswith("\n"):
                r = json.loads(line)
                if kind is None or r["kind"] == kind:
                    out.append(r)
    return out


def wait(what, fn, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.1)
    fail("timed out waiting for " + what)


def collect_console():
    for e in driver.get_log("browser"):
        console.append(e)


def shot(name):
    path = os.path.join(shots, f"status-page-{name}.png")
    driver.save_screenshot(path)
    print("screenshot: " + path)


def badge(policy="editor_initializes"):
    return driver.find_element(By.CSS_SELECTOR, f'article.policy[data-policy="{policy}"] .badge').text


def result_text():
    return driver.find_element(By.ID, "alarm-result").text


opts = Options()
opts.add_argument("--headless=new")
if os.getuid() == 0:
    opts.add_argument("--no-sandbox")  # Chromium refuses to run as root with its sandbox
opts.add_argument("--disable-gpu")
opts.add_argument("--disable-dev-shm-usage")
opts.add_argument("--window-size=1280,1400")
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
if locked:
    try:
        driver.get(url + "/")
        wait("the read token form", lambda: driver.find_element(By.ID, "read-token"))
        if driver.find_elements(By.CSS_SELECTOR, "article.policy"):
            fail("the locked page shows data")
        driver.find_element(By.ID, "read-token").send_keys(read_token)
        driver.find_element(By.CSS_SELECTOR, "#read-form button").click()
        wait("the policies with the read token", lambda: badge())
        if driver.execute_script("return sessionStorage.getItem('deployguard.read_token')") != read_token:
            fail("the read token is kept for the tab")
        shot("8-read-token")
        collect_console()
        # The document's own 401 is the only error the browser may report.
        errors = [e for e in console if e.get("level") == "SEVERE" and "status of 401" not in e.get("message", "")]
        if errors:
            fail("console errors: " + json.dumps(errors))
        print("browser: the locked page asked for the read token and showed the status with it")
    finally:
        driver.quit()
    sys.exit(0)
try:
    driver.set_page_load_timeout(20)
    driver.get(url + "/")
    wait("the page", lambda: badge())
    if badge() != "watching":
        fail("the policy starts watching, the page says " + badge())
    # The script ran (no CSP block): it says the page is live.
    wait("the live status line", lambda: "live" in driver.find_element(By.ID, "live-status").text)
    collect_console()
    shot("1-watching")

    # A fault in the demo wiki: release 2 breaks the editor for zero-plugin tenants.
    subprocess.run([deploy_sh, state, "2"], check=True, stdout=subprocess.DEVNULL)
    seen = set()

    def mitigated():
        seen.add(badge())
        return badge() == "mitigated"

    wait("the page to show the mitigation (without a reload)", mitigated, timeout=25)
    wait("the incident link", lambda: driver.find_element(By.CSS_SELECTOR, 'article.policy a[href^="/incidents/"]'))
    shot("2-mitigated")
    print("states seen on the page: " + ", ".join(sorted(seen)))

    # The button without a token: it says what is missing; nothing is journaled.
    before = len(records())
    driver.find_element(By.ID, "alarm-reason").send_keys("the editor is empty for acme (from the page)")
    driver.find_element(By.ID, "alarm-scope").send_keys("tenant acme")
    driver.find_element(By.ID, "raise").click()
    wait("the missing-token message", lambda: "token" in result_text())
    if "Not sent" not in result_text():
        fail("without a token the page must say it did not send: " + result_text())
    time.sleep(0.5)
    if len(records()) != before or records("alarm_raised"):
        fail("an alarm without a token journaled something")
    shot("3-no-token")

    # With the token (entered once, kept for the tab).
    driver.find_element(By.ID, "alarm-token").send_keys(token)
    driver.find_element(By.ID, "alarm-who").send_keys("carol")
    driver.find_element(By.ID, "raise").click()
    wait("the alarm to be raised", lambda: "Alarm raised" in result_text())
    key = result_text().split("incident ")[1].split(" ")[0]
    alarms = records("alarm_raised")
    if len(alarms) != 1:
        fail(f"one alarm_raised expected, found {len(alarms)}")
    d = alarms[0]["data"]
    if d["reason"] != "the editor is empty for acme (from the page)" or "carol" not in d["who"] or d["incident"] != key:
        fail("alarm_raised record: " + json.dumps(d))
    if d["scope"] != "tenant acme":
        fail("alarm scope: " + json.dumps(d))
    wait("the incident at the sink", lambda: any(json.loads(l).get("dedup_key") == key for l in open(incidents)))
    if driver.execute_script("return sessionStorage.getItem('deployguard.alarm_token')") != token:
        fail("the token is kept in sessionStorage for the tab")
    if not driver.find_element(By.ID, "token-kept").is_displayed():
        fail("the page says the token is kept")
    wait("the open incident on the page", lambda: driver.find_element(By.CSS_SELECTOR, f'article.incident[data-incident="{key}"]'))
    shot("4-alarm-raised")

    # A second press for the same scope updates the same incident.
    reason = driver.find_element(By.ID, "alarm-reason")
    reason.clear()
    reason.send_keys("still empty")
    driver.find_element(By.ID, "raise").click()
    wait("the second press", lambda: "Alarm raised" in result_text() and len(records("alarm_raised")) == 2)
    if key not in result_text():
        fail("the second press updates the same incident: " + result_text())
    second = records("alarm_raised")[1]["data"]
    if second["incident"] != key or not second.get("updated"):
        fail("the second press: " + json.dumps(second))

    # Pause through the confirmation: dismissed first (nothing happens), then accepted.
    def click_action(action):
        driver.find_element(By.CSS_SELECTOR, f'button[data-action="{action}"][data-policy="editor_initializes"]').click()
        return wait("the confirmation", lambda: driver.switch_to.alert)

    alert = click_action("pause")
    if "Pause policy editor_initializes" not in alert.text:
        fail("confirmation text: " + alert.text)
    alert.dismiss()
    time.sleep(0.5)
    if records("policy_paused"):
        fail("a dismissed confirmation paused the policy")
    click_action("pause").accept()
    wait("the paused state", lambda: badge() == "paused")
    paused = records("policy_paused")
    if len(paused) != 1 or "carol" not in paused[0]["data"]["who"]:
        fail("policy_paused: " + json.dumps([p["data"] for p in paused]))
    shot("5-paused")
    click_action("resume").accept()
    wait("the resumed state", lambda: badge() == "mitigated")
    if len(records("policy_resumed")) != 1:
        fail("one policy_resumed")

    # A phone: nothing wider than the screen.
    driver.set_window_size(390, 844)
    time.sleep(0.3)
    width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1] + 1:
        fail(f"the page is wider than a phone's screen: {width}")
    shot("6-phone")
    driver.set_window_size(1280, 1400)

    # The incident's review, from the watcher's journal (its CSP allows its one style by hash).
    collect_console()
    driver.get(url + "/incidents/" + key)
    wait("the review", lambda: "Post-incident review" in driver.title)
    text = driver.find_element(By.TAG_NAME, "body").text
    for section in ["Summary", "Impact", "Detection", "Response and recovery", "Timeline", "Contributing factors"]:
        if section not in text:
            fail("review section missing: " + section)
    if not driver.find_elements(By.CSS_SELECTOR, "svg"):
        fail("the review has its SVG timeline")
    if driver.execute_script("return getComputedStyle(document.body).maxWidth") == "none":
        fail("the review's style was blocked")
    shot("7-review")
    collect_console()
    errors = [e for e in console if e.get("level") == "SEVERE"]
    if errors:
        fail("console errors: " + json.dumps(errors))
    try:
        driver.switch_to.alert
        fail("an alert was left open")
    except NoAlertPresentException:
        pass
    print(f"browser: {len(console)} console message(s), none an error; incident {key}")
    print("KEY=" + key)
finally:
    driver.quit()
