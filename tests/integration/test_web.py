"""`honeynet web` in a real browser (issue 18 items 1, 2 and 4; docs/web.md).

One NAT lab (built-in busybox UML image on the project kernel, so TTY
capture is on; one honeypot; a rules file with an alert rule), real traffic
from the attacker host (192.0.2.66 in hn-inet): a telnet login that types an
XSS attempt and a marker, then `honeynet selftest` (9 outbound TCP attempts
allowed, 3 blocked by the budget). `honeynet web` runs on 127.0.0.1 and
Debian's chromium (headless, through chromedriver and selenium) looks at it
as a person would:

- test_attacker_story_in_browser: the start page lists the attacker as a
  link whose href contains the address and the honeypot with its state and
  budget; live rows arrive without a reload; the attacker's page shows what
  was typed (the marker), the 3 blocked attempts, the rule alert; the XSS
  text shows as text and nothing runs (no dialog, no injected element, a
  canary global stays unset); the TTY replay shows the session; the alert
  inbox groups the alert; search by port and Community ID finds events; the
  pcap links (per attacker and per flow) serve pcaps that tshark reads and
  that hold only those packets. Screenshots of the main pages are saved
  (into docs/ when HONEYNET_WEB_SCREENSHOTS=docs).
- test_refusals: a foreign Host header (421), paths that try to leave the
  data dir (404, nothing of /etc/passwd), POST (405), security headers, a
  non-loopback --listen without auth (exit 2, clear error), and with a token
  in a namespace the lab made (hn-inet): 401 without it, 200 with it.

Traffic goes only between the lab's own namespaces and over loopback; the
browser gets a dead proxy for anything that is not loopback.
"""
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import labtools
import netlab as nl
from labtools import hn
from test_tty import link_project_kernel

UML_KERNEL = "/usr/bin/linux"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ATTACKER = "192.0.2.66"
PUBLIC = "192.0.2.10"
MARK = "HNWEBMARK7"
XSS1 = "<script>window.hnPwned=1;alert(1)</script>"
XSS2 = "<img src=x onerror=window.hnPwned=2>"
DOCS = Path(__file__).resolve().parents[2] / "docs"

RULES = r'''alert tcp any any -> $HOME_NET 23 (msg:"web test <b>marker</b> typed"; content:"%s"; classtype:attempted-admin; sid:9100001; rev:1;)
''' % MARK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, host=None, method="GET", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Host": host or "127.0.0.1:%d" % port}
    h.update(headers or {})
    c.request(method, path, headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def tshark(path, *args) -> list:
    p = subprocess.run(["tshark", "-r", str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert p.returncode == 0, "tshark could not read %s: %s" % (path, p.stderr)
    return [l for l in p.stdout.splitlines() if l.strip()]


class NoCapture:
    """Stands in for capsys in a module fixture: the kernel build's progress is shown as it is."""

    def disabled(self):
        return contextlib.nullcontext()


class Web:
    """A `honeynet web` process; stopped (SIGTERM, then SIGKILL) by close()."""

    def __init__(self, binary, data_dir, listen, *extra, netns=None):
        cmd = [binary, "web", "--listen", listen, "--data-dir", str(data_dir), *map(str, extra)]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.log = Path(str(data_dir) + "-web-%s.log" % listen.replace(":", "_"))
        self.f = open(self.log, "w")
        self.p = subprocess.Popen(cmd, stdout=self.f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def output(self) -> str:
        self.f.flush()
        return self.log.read_text()

    def close(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.f.close()


@pytest.fixture(scope="module")
def lab(honeynet_bin, tmp_path_factory):
    """The lab with traffic, and `honeynet web` on it: (data dir, port, web)."""
    if not (os.access(UML_KERNEL, os.X_OK) and os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("needs user-mode-linux, chromium and chromium-driver (scripts/install-deps.sh installs them)")
    present = labtools.lab_namespaces()
    if present:
        pytest.skip("a lab is running on this machine (%s): stop it with `honeynet down` first" % ", ".join(present))
    tmp = tmp_path_factory.mktemp("web")
    d = tmp / "data"
    webs = []
    try:
        link_project_kernel(honeynet_bin, d, NoCapture())
        (tmp / "web.rules").write_text(RULES)
        config = tmp / "lab.toml"
        config.write_text(labtools.NAT_LAB_HEAD + """
[[honeypot]]
name = "hp1"
ip = "10.0.0.2"
public_ip = "%s"

[rules]
files = ["web.rules"]
""" % PUBLIC)
        hn(honeynet_bin, "image", "build", "busybox", "--data-dir", d, timeout=300)
        r = hn(honeynet_bin, "up", config, "--detach", "--data-dir", d, timeout=180)
        assert "lab ready" in r.stdout, r.stdout
        port = free_port()
        web = Web(honeynet_bin, d, "127.0.0.1:%d" % port)
        webs.append(web)

        def up():
            if web.p.poll() is not None:
                raise AssertionError("honeynet web exited (%s):\n%s" % (web.p.returncode, web.output()))
            try:
                return get(port, "/")[0] == 200
            except OSError:
                return False
        nl.wait_until(up, 30, what="honeynet web to answer")
        yield {"data": d, "port": port, "web": web, "tmp": tmp, "webs": webs}
    finally:
        for w in webs:
            w.close()
        r = hn(honeynet_bin, "down", "--force", "--data-dir", d, check=False, timeout=90)
        if r.returncode != 0:
            print("teardown: honeynet down --force:\n" + r.stdout, file=sys.stderr)
        assert not labtools.lab_namespaces(), labtools.lab_namespaces()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    o = Options()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
              "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-default-apps", "--disable-extensions",
              # Anything that is not loopback goes to a dead proxy: the browser reaches nothing else.
              "--proxy-server=127.0.0.1:9"):
        o.add_argument(a)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def no_script_ran(driver):
    """Nothing the attacker typed ran: no dialog, the canary global unset, no injected element."""
    from selenium.common.exceptions import NoAlertPresentException
    try:
        text = driver.switch_to.alert.text
        raise AssertionError("a dialog opened: %r" % text)
    except NoAlertPresentException:
        pass
    assert driver.execute_script("return window.hnPwned === undefined"), "attacker script ran"
    from selenium.webdriver.common.by import By
    assert not driver.find_elements(By.CSS_SELECTOR, "main script, main img, main iframe, main b"), \
        "attacker markup became elements"


def shot(driver, tmp: Path, name: str):
    driver.save_screenshot(str(tmp / name))
    if os.environ.get("HONEYNET_WEB_SCREENSHOTS") == "docs":
        shutil.copy(tmp / name, DOCS / name)


def test_attacker_story_in_browser(lab, browser, honeynet_bin):
    from selenium.webdriver.common.by import By
    port, tmp = lab["port"], lab["tmp"]
    base = "http://127.0.0.1:%d" % port

    # The start page, open before the attack: live rows must arrive without a reload.
    browser.get(base + "/")
    live_before = len(browser.find_elements(By.CSS_SELECTOR, "#live tbody tr"))
    browser.execute_script("window.hnNoReload = 1")

    labtools.telnet(PUBLIC, ['echo "%s" %s' % (XSS1, MARK), 'echo "%s"' % XSS2, "echo done"])
    r = hn(honeynet_bin, "selftest", "--data-dir", lab["data"], timeout=300)
    assert "passed" in r.stdout, r.stdout

    def live_blocked():
        rows = browser.find_elements(By.CSS_SELECTOR, "#live tbody tr.bad")
        return len(browser.find_elements(By.CSS_SELECTOR, "#live tbody tr")) > live_before and \
            any("outbound blocked" in row.text for row in rows)
    nl.wait_until(live_blocked, 30, what="the live table to show the blocked outbound attempts")
    assert browser.execute_script("return window.hnNoReload === 1"), "the page was reloaded"

    # Attackers: a link whose href contains the address; the honeypot with state and budget.
    browser.get(base + "/")
    links = [a for a in browser.find_elements(By.CSS_SELECTOR, "table.attackers a") if ATTACKER in a.get_attribute("href")]
    assert links, "no attacker link for %s" % ATTACKER
    hp_row = [tr.text for tr in browser.find_elements(By.CSS_SELECTOR, "table.honeypots tbody tr")]
    assert any(t.startswith("hp1") and "running" in t and "9/9" in t for t in hp_row), hp_row
    shot(browser, tmp, "web-attackers.png")

    # The attacker's story.
    links[0].click()
    nl.wait_until(lambda: ("Attacker " + ATTACKER) in browser.title, 10, what="the attacker page")
    typed = "\n".join(p.text for p in browser.find_elements(By.CSS_SELECTOR, "pre.typed"))
    assert MARK in typed, "the marker is not in the typed text:\n" + typed
    assert XSS1 in typed and XSS2 in typed, "the XSS attempts should show as text:\n" + typed
    timeline = [tr.text for tr in browser.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")]
    blocked = [t for t in timeline if "outbound blocked" in t and "budget_exhausted" in t]
    assert len(blocked) == 3, "want the 3 attempts selftest had blocked:\n" + "\n".join(timeline)
    assert sum("outbound allowed" in t for t in timeline) >= 9, "\n".join(timeline)
    alerts = [t for t in timeline if "web test <b>marker</b> typed" in t]
    assert alerts, "the rule alert (with its markup as text) is not in the timeline:\n" + "\n".join(timeline)
    no_script_ran(browser)
    shot(browser, tmp, "web-attacker.png")

    # Pcap per attacker: only its packets, and what it typed.
    pcap_links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a")
                  if "pcap" in (a.get_attribute("href") or "")]
    attacker_pcap = [h for h in pcap_links if ATTACKER in h]
    assert attacker_pcap, pcap_links
    st, hdr, body = get(port, attacker_pcap[0][len(base):])
    assert st == 200 and len(body) > 24, (st, len(body))
    (tmp / "attacker.pcap").write_bytes(body)
    pairs = tshark(tmp / "attacker.pcap", "-T", "fields", "-e", "ip.src", "-e", "ip.dst")
    assert len(pairs) > 20, pairs
    assert all(ATTACKER in p.split("\t") for p in pairs), [p for p in pairs if ATTACKER not in p.split("\t")][:5]
    assert tshark(tmp / "attacker.pcap", "-Y", 'frame contains "%s"' % MARK), "the marker is not in the pcap"

    # Pcap per flow: a blocked attempt's flow holds that 5-tuple only.
    row = [tr for tr in browser.find_elements(By.CSS_SELECTOR, "#timeline tbody tr") if "outbound blocked" in tr.text][0]
    flow_pcap = [a.get_attribute("href") for a in row.find_elements(By.CSS_SELECTOR, "a") if "pcap" in a.get_attribute("href")]
    assert flow_pcap, row.text
    st, _, body = get(port, flow_pcap[0][len(base):])
    assert st == 200, st
    (tmp / "flow.pcap").write_bytes(body)
    tuples = set(tshark(tmp / "flow.pcap", "-T", "fields", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst",
                        "-e", "tcp.dstport"))
    assert tuples and len(tuples) <= 2, tuples  # the SYN (and retransmissions), maybe nothing back
    for t in tuples:
        assert "10.0.0.2" in t.split("\t"), tuples

    # TTY replay of the login session.
    replays = [a for a in browser.find_elements(By.CSS_SELECTOR, "a") if "/tty/" in (a.get_attribute("href") or "")]
    assert replays, "no TTY replay link (TTY capture is on with the project kernel)"
    hrefs = [a.get_attribute("href") for a in replays]
    found = False
    for h in hrefs:
        browser.get(h)
        browser.find_element(By.ID, "tty-all").click()
        try:
            nl.wait_until(lambda: MARK in browser.find_element(By.ID, "tty").text, 5, what="the replayed session")
        except AssertionError:
            continue
        found = True
        assert XSS1 in browser.find_element(By.ID, "tty").text
        no_script_ran(browser)
        shot(browser, tmp, "web-tty.png")
        break
    assert found, "no replay shows %s: %s" % (MARK, hrefs)

    # Alert inbox: grouped by signature, source and destination.
    browser.get(base + "/alerts")
    groups = [tr.text for tr in browser.find_elements(By.CSS_SELECTOR, "table tbody tr")]
    mine = [g for g in groups if "web test <b>marker</b> typed" in g and ATTACKER in g]
    assert len(mine) == 1, groups
    no_script_ran(browser)
    shot(browser, tmp, "web-alerts.png")

    # Search: a port and a Community ID.
    browser.get(base + "/search?q=23")
    assert ATTACKER in browser.find_element(By.TAG_NAME, "main").text
    events = [json.loads(l) for l in (lab["data"] / "lab" / "capture" / "events.json").read_text().splitlines()
              if l.strip()]
    cid = next(e["community_id"] for e in events if e.get("src_ip") == ATTACKER and e.get("community_id"))
    st, _, body = get(port, "/search?q=" + cid.replace(":", "%3A").replace("/", "%2F").replace("+", "%2B")
                      .replace("=", "%3D"))
    assert st == 200 and ATTACKER.encode() in body and b"0 events" not in body, body[-2000:]


def test_refusals(lab, honeynet_bin):
    port, d, tmp = lab["port"], lab["data"], lab["tmp"]
    st, hdr, _ = get(port, "/")
    assert st == 200
    csp = hdr.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    assert hdr.get("x-content-type-options") == "nosniff" and hdr.get("x-frame-options") == "DENY", hdr
    assert hdr.get("referrer-policy") == "no-referrer", hdr

    # DNS rebinding: a name that is not the listen address.
    for host in ("evil.example", "evil.example:%d" % port, "127.0.0.1.evil.example:%d" % port):
        assert get(port, "/", host=host)[0] == 421, host
    # Leaving the data dir.
    for path in ("/static/../../../../etc/passwd", "/static/..%2f..%2f..%2fetc%2fpasswd",
                 "/attacker/..%2f..%2f..%2fetc%2fpasswd", "/pcap/attacker/..%2f..%2fetc%2fpasswd.pcap",
                 "/pcap/flow/..%2f..%2fetc%2fpasswd.pcap", "/tty/hp1/..%2f..%2f..%2fetc%2fpasswd",
                 "/tty/..%2f..%2f/x", "/api/tty/hp1/%2fetc%2fpasswd", "//etc/passwd"):
        st, _, body = get(port, path)
        assert st in (400, 404), (path, st)
        assert b"root:" not in body, path
    assert get(port, "/", method="POST")[0] == 405

    # A non-loopback address without authentication: refused, saying why.
    p = subprocess.run([honeynet_bin, "web", "--listen", "0.0.0.0:%d" % free_port(), "--data-dir", str(d)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    assert p.returncode == 2, (p.returncode, p.stdout)
    assert "authentication" in p.stdout and "--password-file" in p.stdout and "--token-file" in p.stdout, p.stdout

    # With a token, on the attacker namespace's address (a namespace the lab made).
    token = tmp / "token"
    token.write_text("s3cret-token-%d\n" % os.getpid())
    token.chmod(0o600)
    web = Web(honeynet_bin, d, "%s:8080" % ATTACKER, "--token-file", token, netns="hn-inet")
    lab["webs"].append(web)
    client = r'''
import http.client, sys, time
tok = sys.argv[1]
deadline = time.time() + 30
while True:
    try:
        c = http.client.HTTPConnection("192.0.2.66", 8080, timeout=5); c.request("GET", "/"); r = c.getresponse(); r.read(); break
    except OSError:
        if time.time() > deadline: raise
        time.sleep(0.1)
out = [r.status]
for h in ({"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + tok}):
    c = http.client.HTTPConnection("192.0.2.66", 8080, timeout=5); c.request("GET", "/", headers=h)
    r = c.getresponse(); r.read(); out.append(r.status)
print(out)
'''
    r = subprocess.run(["ip", "netns", "exec", "hn-inet", nl.PYTHON, "-c", client, token.read_text().strip()],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + "\n" + web.output()
    assert r.stdout.strip() == "[401, 401, 200]", r.stdout + "\n" + web.output()
    web.close()
