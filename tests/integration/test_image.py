"""`honeynet image build|list`: the guest images and their cache.

busybox: built in every run (well under a second). The image is checked from
the outside with debugfs (no mount). debian: built only where the Debian
mirror answers (else skipped, saying why); marked slow, so
`-m "not slow"` deselects it.

Run as root:  /usr/bin/python3 -m pytest -v tests/integration/test_image.py
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def binary() -> str:
    return os.environ.get("HONEYNET_BIN", "/work/main/build/honeynet")


def hn(*args, timeout=60, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run([binary(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError("honeynet %s failed (%d):\n%s\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def debugfs(img: Path, request: str) -> str:
    """Runs one debugfs request against an image, read-only, no mount."""
    p = subprocess.run(["debugfs", "-R", request, str(img)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    return p.stdout


def ls_names(img: Path, path: str) -> dict:
    """name -> (mode, size) of the entries of a directory in the image."""
    out = {}
    for line in debugfs(img, "ls -l " + path).splitlines():
        f = line.split()
        # inode mode (links) uid gid size date time name
        if len(f) >= 8 and f[1].isdigit():
            out[f[-1]] = (int(f[1], 8), f[5] if len(f) > 8 else f[4])
    return out


@pytest.fixture
def data_dir():
    d = Path(tempfile.mkdtemp(prefix="hn-img-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def busybox(data_dir):
    """A freshly built busybox image: (data_dir, image path, build output, seconds)."""
    t0 = time.monotonic()
    p = hn("image", "build", "busybox", "--data-dir", str(data_dir))
    return data_dir, data_dir / "images" / "busybox.img", p.stdout, time.monotonic() - t0


def test_embedded_guest_files_match_images_dir():
    """The binary embeds images/* through src/lab/image_files.cpp: it must be regenerated after edits."""
    p = subprocess.run(["/usr/bin/python3", str(REPO / "images" / "embed.py"), "--check"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert p.returncode == 0, p.stdout


def test_busybox_build_makes_ext4_image_with_the_tools(busybox):
    data_dir, img, out, secs = busybox
    assert img.is_file()
    assert img.stat().st_size == 16 * MiB
    assert "built " + str(img) in out, out
    print("busybox image build: %.2f s, %d bytes allocated" % (secs, img.stat().st_blocks * 512))
    assert secs < 30, "busybox build took %.1f s" % secs
    # A real ext4 file system (extents, journal), read without mounting.
    sb = subprocess.run(["dumpe2fs", "-h", str(img)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                        text=True).stdout
    assert "extent" in sb and "has_journal" in sb, sb
    assert re.search(r"Filesystem volume name:\s+hn-busybox", sb), sb

    bin_ = ls_names(img, "/bin")
    assert "busybox" in bin_ and bin_["busybox"][0] & 0o170000 == 0o100000  # regular file
    assert int(bin_["busybox"][1]) > 1_000_000
    for applet in ("sh", "login", "ping"):
        assert applet in bin_, "no /bin/%s in %s" % (applet, sorted(bin_))
        assert bin_[applet][0] & 0o170000 == 0o120000, "/bin/%s is not a symlink" % applet
    usr_bin = ls_names(img, "/usr/bin")
    for applet in ("telnet", "wget", "nc"):
        assert applet in usr_bin, applet
    assert "telnetd" in ls_names(img, "/usr/sbin")
    sbin = ls_names(img, "/sbin")
    assert "hn-init" in sbin and sbin["hn-init"][0] & 0o111, sbin.get("hn-init")
    assert "init" in sbin and "getty" in sbin

    inittab = debugfs(img, "cat /etc/inittab")
    assert "telnetd" in inittab and "/bin/login" in inittab, inittab
    shadow = debugfs(img, "cat /etc/shadow")
    assert re.match(r"root:\$6\$[^:]+:", shadow), shadow  # a real SHA-512 crypt hash, not a clear text
    assert "0600" in debugfs(img, "stat /etc/shadow").split("Mode:")[1][:12]
    init = debugfs(img, "cat /sbin/hn-init")
    assert init.startswith("#!/bin/sh") and "exec /sbin/init" in init
    assert "/dev/ubdb" in debugfs(img, "cat /lib/hn/settings.sh")

    meta = json.loads((data_dir / "images" / "busybox.json").read_text())
    assert meta["kind"] == "busybox" and re.fullmatch(r"[0-9a-f]{16}", meta["inputs_hash"])
    assert meta["size_bytes"] == 16 * MiB and abs(meta["built_unix"] - time.time()) < 120


def test_image_list_shows_size_and_age(busybox):
    data_dir, img, _, _ = busybox
    table = hn("image", "list", "--data-dir", str(data_dir)).stdout
    rows = [line.split() for line in table.splitlines()]
    assert rows[0][:4] == ["KIND", "SIZE", "USED", "AGE"], table
    row = next(r for r in rows if r[0] == "busybox")
    assert row[1] == "16.0M" and re.fullmatch(r"\d+s", row[3]) and row[-1] == str(img), row
    listing = json.loads(hn("image", "list", "--data-dir", str(data_dir), "--json").stdout)
    assert [i["kind"] for i in listing] == ["busybox"]
    entry = listing[0]
    assert entry["size_bytes"] == 16 * MiB and 0 < entry["allocated_bytes"] < 16 * MiB
    assert 0 <= entry["age_seconds"] < 120 and entry["path"] == str(img)


def test_image_list_empty_data_dir_says_how_to_build(data_dir):
    out = hn("image", "list", "--data-dir", str(data_dir)).stdout
    assert "no images" in out and "honeynet image build busybox" in out
    assert json.loads(hn("image", "list", "--data-dir", str(data_dir), "--json").stdout) == []


def test_second_build_is_a_cache_hit(busybox):
    data_dir, img, _, _ = busybox
    before = img.stat()
    t0 = time.monotonic()
    out = hn("image", "build", "busybox", "--data-dir", str(data_dir)).stdout
    secs = time.monotonic() - t0
    assert "cached image" in out and "--force rebuilds" in out, out
    assert secs < 2.0, "cache hit took %.2f s" % secs
    after = img.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_force_rebuilds(busybox):
    data_dir, img, _, _ = busybox
    before = img.stat()
    meta_before = json.loads((data_dir / "images" / "busybox.json").read_text())
    out = hn("image", "build", "busybox", "--force", "--data-dir", str(data_dir)).stdout
    assert "--force: rebuilding" in out and "built " + str(img) in out, out
    after = img.stat()
    assert after.st_ino != before.st_ino  # a new file renamed over the old one (running guests keep theirs)
    meta = json.loads((data_dir / "images" / "busybox.json").read_text())
    assert meta["inputs_hash"] == meta_before["inputs_hash"]
    assert not list((data_dir / "images").glob(".build-*")), "build tree left behind"


def test_changed_inputs_rebuild_and_say_so(busybox):
    data_dir, img, _, _ = busybox
    meta_path = data_dir / "images" / "busybox.json"
    meta = json.loads(meta_path.read_text())
    meta["inputs_hash"] = "0000000000000000"  # as if built from other inputs
    meta_path.write_text(json.dumps(meta))
    before = img.stat().st_ino
    out = hn("image", "build", "busybox", "--data-dir", str(data_dir)).stdout
    assert "inputs changed" in out and "rebuilding" in out, out
    assert img.stat().st_ino != before


def test_unknown_kind_is_refused(data_dir):
    p = hn("image", "build", "windows", "--data-dir", str(data_dir), check=False)
    assert p.returncode != 0
    assert "busybox" in p.stderr or "busybox" in p.stdout


# ---- debian ------------------------------------------------------------------

def debian_mirror() -> str:
    """The mirror the build uses (same rule as src/lab/image.cpp)."""
    if os.environ.get("HONEYNET_DEBIAN_MIRROR"):
        return os.environ["HONEYNET_DEBIAN_MIRROR"]
    for f in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        try:
            text = Path(f).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            for w in line.split():
                if w.startswith("#"):
                    break
                if w.startswith(("http://", "https://")) and w.endswith("/debian"):
                    return w
    return "http://deb.debian.org/debian"


def mirror_answers(mirror: str) -> bool:
    try:
        req = urllib.request.Request(mirror + "/dists/bookworm/Release", method="HEAD")
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status == 200
    except Exception:
        return False


@pytest.mark.slow
def test_debian_build_with_ssh_telnet_and_own_init(data_dir):
    mirror = debian_mirror()
    if not mirror_answers(mirror):
        pytest.skip("the Debian mirror %s does not answer: the debian image cannot be built here "
                    "(set HONEYNET_DEBIAN_MIRROR to a reachable mirror)" % mirror)
    t0 = time.monotonic()
    p = hn("image", "build", "debian", "--data-dir", str(data_dir), timeout=1200)
    secs = time.monotonic() - t0
    img = data_dir / "images" / "debian.img"
    print("debian image build: %.0f s, %d MiB allocated" % (secs, img.stat().st_blocks * 512 // MiB))
    out = p.stdout
    assert "debootstrap bookworm" in out and "Retrieving" in out and "built " + str(img) in out, out
    assert len(out.splitlines()) < 120, "progress floods: %d lines" % len(out.splitlines())
    assert img.stat().st_size == 1 << 30
    assert {"sshd", "hn-init", "agetty"} <= set(ls_names(img, "/usr/sbin"))  # /sbin -> usr/sbin in Debian 12
    assert "telnetd" in debugfs(img, "cat /etc/inetd.conf")
    assert "PermitRootLogin yes" in debugfs(img, "cat /etc/ssh/sshd_config.d/honeynet.conf")
    assert not [n for n in ls_names(img, "/etc/ssh") if n.startswith("ssh_host_")], "shared SSH host keys in the image"
    assert re.search(r"^root:\$6\$", debugfs(img, "cat /etc/shadow"), re.M)
    assert "Debian GNU/Linux 12" in debugfs(img, "cat /usr/lib/os-release")  # /etc/os-release is a symlink
    assert not list((data_dir / "images").glob(".build-*")), "build tree left behind"
    again = hn("image", "build", "debian", "--data-dir", str(data_dir)).stdout
    assert "cached image" in again
