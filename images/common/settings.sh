# hn-settings: shared by the images' init scripts (sourced, POSIX sh / busybox ash).
#
# The guest's settings arrive on the second disk (/dev/ubdb, written by the
# host before boot): "KEY=VALUE" lines, NUL-padded to a whole number of
# sectors. Nothing of it is on the kernel command line, so an attacker reading
# /proc/cmdline does not see them. Known keys:
#   HN_IP=10.0.0.2/24   HN_GW=10.0.0.1   HN_HOSTNAME=hp1   HN_DNS="192.0.2.53 ..."
# Values are taken literally (never evaluated), only from these keys.
# A namespace honeypot (src/lab/nsguest.h) has no disk: the lab writes the
# same lines to /run/hn-settings before its init runs (hn_read_settings_file).

# To the console; a namespace honeypot has none (its output is the host's log).
hn_log() {
  if [ -c /dev/console ]; then echo "hn-init: $*" > /dev/console 2>/dev/null && return; fi
  echo "hn-init: $*"
}

hn_read_settings() {
  dev=/dev/ubdb
  [ -b "$dev" ] || mknod /dev/ubdb b 98 16 2>/dev/null
  if [ ! -b "$dev" ]; then HN_IP= HN_GW= HN_HOSTNAME= HN_DNS=; hn_log "no settings disk ($dev): network left unconfigured"; return 1; fi
  tr -d '\000' < "$dev" > /run/hn-settings 2>/dev/null
  hn_read_settings_file /run/hn-settings
}

# Reads KEY=VALUE lines from the file, then removes it.
hn_read_settings_file() {
  HN_IP= HN_GW= HN_HOSTNAME= HN_DNS=
  if [ ! -f "$1" ]; then hn_log "no settings ($1): network left unconfigured"; return 1; fi
  while IFS= read -r line; do
    key=${line%%=*}
    val=${line#*=}
    case "$key" in
      HN_IP) HN_IP=$val ;;
      HN_GW) HN_GW=$val ;;
      HN_HOSTNAME) HN_HOSTNAME=$val ;;
      HN_DNS) HN_DNS=$val ;;
    esac
  done < "$1"
  rm -f "$1"
  return 0
}

# Host name, /etc/hosts, DNS: the files of the guest's own settings.
hn_apply_names() {
  if [ -n "$HN_HOSTNAME" ]; then
    hostname "$HN_HOSTNAME" 2>/dev/null
    echo "$HN_HOSTNAME" > /etc/hostname
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$HN_HOSTNAME" > /etc/hosts
  fi
  if [ -n "$HN_DNS" ]; then
    # Short timeouts: telnetd looks up every caller's name, and a silent
    # server would hold each login prompt back 10 s with the defaults.
    echo "options timeout:2 attempts:1" > /etc/resolv.conf
    for ns in $(echo "$HN_DNS" | tr ',' ' '); do echo "nameserver $ns" >> /etc/resolv.conf; done
  fi
}

hn_apply_settings() {
  ip link set lo up
  ip addr add 127.0.0.1/8 dev lo 2>/dev/null
  hn_apply_names
  ip link set eth0 up 2>/dev/null || { hn_log "no eth0"; return 1; }
  [ -n "$HN_IP" ] && ip addr add "$HN_IP" dev eth0
  [ -n "$HN_GW" ] && ip route add default via "$HN_GW"
  hn_log "eth0 up"
  return 0
}

hn_mount_basics() {
  mount -t proc proc /proc 2>/dev/null
  mount -t sysfs sysfs /sys 2>/dev/null
  grep -q ' /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev 2>/dev/null
  mkdir -p /dev/pts /dev/shm
  mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts 2>/dev/null
  [ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm 2>/dev/null
  mount -o remount,rw / 2>/dev/null
  mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run 2>/dev/null
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp 2>/dev/null
}
