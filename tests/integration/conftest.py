"""Fixtures of the honeywall's integration tests.

Each test gets a fresh namespace topology (netlab.NetLab) and a fresh capture
directory; the topology is removed after the test whatever happens. At the end
of the session a guard checks that no namespace or host interface made by this
run is left.

Run as root:  /usr/bin/python3 -m pytest -v tests/integration
Binary under test: $HONEYNET_BIN (default /work/main/build/honeynet).
"""
import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab as nl  # noqa: E402

RUN_TAG = "-%d-" % os.getpid()   # netlab names: hn-hp-<pid>-<n>, hn-wall-<pid>-<n>, hn-out-<pid>-<n>
MODES = nl.MODES


def _ours(name: str) -> bool:
    return name.startswith(("hn-", "hw-")) and RUN_TAG in name + "-"


def _interrupt(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


def pytest_configure(config):
    # SIGTERM/SIGHUP (a CI timeout, a closed terminal) unwind like Ctrl-C, so
    # every NetLab's teardown runs and no namespace is left behind.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    config.addinivalue_line("markers", "slow: builds the Debian image (minutes); skipped when the mirror does not answer")


@pytest.fixture(scope="session", autouse=True)
def no_leftovers():
    """Session guard: nothing named hn-*/hw-* from this run may be left."""
    if os.geteuid() != 0:
        pytest.exit("the integration tests build network namespaces: run them as root", returncode=4)
    links_before = set(nl.root_links())
    yield
    left_ns = [n for n in nl.list_netns() if _ours(n)]
    new_links = [n for n in set(nl.root_links()) - links_before if n.startswith(("hn", "hw"))]
    assert not left_ns and not new_links, (
        "left behind by this run: namespaces %s, host interfaces %s" % (left_ns, new_links))


@pytest.fixture(scope="session")
def honeynet_bin() -> str:
    path = nl.binary_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("honeynet binary not found at %s: build it first (ninja -C build honeynet) "
                    "or point HONEYNET_BIN at it" % path, pytrace=False)
    return path


@pytest.fixture
def mode() -> str:
    """Overridden by @pytest.mark.parametrize("mode", MODES) in tests that run in both."""
    return "bridge"


@pytest.fixture
def capture_dir(tmp_path) -> Path:
    d = tmp_path / "capture"
    d.mkdir()
    return d


@pytest.fixture
def lab(mode, request):
    """A fresh topology with the standard services, torn down after the test."""
    with nl.NetLab(mode) as the_lab:
        request.node._hn_lab = the_lab
        yield the_lab


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failing test, attach what the honeywall printed and wrote."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    the_lab = getattr(item, "_hn_lab", None)
    if the_lab is None:
        return
    for i, p in enumerate(the_lab.procs):
        if isinstance(p, nl.Wall):
            report.sections.append(("honeynet wall #%d (%s)" % (i, " ".join(p.argv[4:])), p.output()))
            cap = p.capture_dir
            files = sorted(x.name for x in cap.iterdir()) if cap.exists() else []
            report.sections.append(("capture dir %s" % cap, "\n".join(files)))
            log = nl.read_log(cap)
            report.sections.append(("honeywall.log (last 40 lines)", "\n".join(log[-40:])))
            ev = (cap / "events.json")
            if ev.exists():
                lines = ev.read_text(errors="replace").splitlines()
                report.sections.append(("events.json (last 40 lines)", "\n".join(lines[-40:])))
