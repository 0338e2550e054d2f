#!/usr/bin/env bash
# Installs the Debian packages honeynet needs to build, test and run.
# Idempotent: quiet when everything is already there. Needs root (or sudo).
set -euo pipefail

PKGS=(
  # build
  build-essential cmake ninja-build pkg-config
  # libraries (see README "Dependencies")
  libpcap-dev libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # containment: seccomp filters for namespace honeypots and the honeywall (src/lab/containment.*)
  libseccomp-dev
  # inline rules (src/rules/): multi-literal prefilter and pcre
  libhyperscan-dev libpcre2-dev
  # the operator's web view and alert webhooks (src/web/, src/alerts/): HTTP server/client, its index
  libcpp-httplib-dev libsqlite3-dev
  # browser tests of `honeynet web` (tests/integration/test_web.py)
  chromium chromium-driver python3-selenium
  # tests: real tools in network namespaces
  iproute2 iputils-ping netcat-openbsd tcpdump tshark iperf3 ethtool nftables
  python3 python3-pytest procps
  # honeypot guests and their images (src/lab: guest.cpp, image.cpp)
  user-mode-linux busybox-static uml-utilities debootstrap e2fsprogs openssl
  # the honeypot UML kernel with TTY capture (src/lab/kernel.cpp, `honeynet kernel build`)
  linux-source-6.1 flex bison bc libelf-dev xz-utils patch ccache
  # TTY capture of namespace honeypots: eBPF, CO-RE (src/capture/tty_bpf.*, bpf/)
  libbpf-dev bpftool clang
  # the lab as a service: systemctl, systemd-analyze (`honeynet service`, docs/service.md)
  systemd
  # SSH sessions into guests (tty tests); fuzzing (libFuzzer runtime)
  sshpass openssh-client libclang-rt-14-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root: sudo $0" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/honeynet-apt.log 2>&1; then
  apt-get update -q >>/tmp/honeynet-apt.log 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/honeynet-apt.log 2>&1 || {
    echo "install-deps: apt-get failed; see /tmp/honeynet-apt.log" >&2; tail -20 /tmp/honeynet-apt.log >&2; exit 1; }
fi
echo "install-deps: done"
