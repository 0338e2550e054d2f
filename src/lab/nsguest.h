// Namespace honeypots (kind = "netns"): the light guest kind beside the UML
// guests (guest.h). A honeypot is a process tree on the host kernel in its own
// namespaces, running the busybox image's userland:
//
//   network   its own namespace NETNS (hn-g-<name>), made anew at every start:
//             IPv6 off, lo up, and eth0 = one end of a veth pair whose other
//             end (VETH, hn-vethN) is in the lab's wall namespace, a port of
//             the lab bridge like a UML guest's tap; eth0 has the honeypot's
//             fixed MAC. Address, gateway, host name and DNS are the same
//             settings a UML guest reads from its settings disk: here the
//             image's init reads them from /run/hn-settings (written by the
//             host before init runs, removed by init).
//   pid, mount, uts, ipc, cgroup
//             new namespaces; pid 1 is the image's /sbin/hn-init ("netns"
//             mode), which execs busybox init (telnetd -F -l /bin/login, no
//             getty: there is no console). Its host pid is NsGuestState.pid.
//   files     root = overlayfs: lower = the image's tree (NsRootfs, extracted
//             once per image build with `debugfs rdump`, shared read-only),
//             upper/work = DATA/guests/<name>/{upper,work}. Mounted inside
//             the guest's own mount namespace only (the host's mount table
//             never shows it) with relative layer names, then pivot_root
//             (not chroot: the host's tree is detached, not just hidden).
//             /proc (its pid namespace), /sys (read-only), a tmpfs /dev with
//             null zero full random urandom tty, a new devpts instance
//             (ptmxmode=0666, /dev/ptmx -> pts/ptmx), /dev/shm, /run, /tmp.
//   output    pid 1's stdout/stderr: DATA/guests/<name>/console.log.
//
// Start holds the new pid 1 at a gate once its namespaces and files are
// ready, runs the caller's before_init (the lab records the pid in its state
// and starts TTY capture on the pid namespace), then lets it exec init; the
// guest runs detached (own session, nobody's child here). Stop is SIGKILL of
// pid 1: the kernel ends every process of the pid namespace with it, and the
// mount namespace (the overlay) goes with the last of them. No disk to sync:
// writes are in upper/ already. Reset = stop, delete upper/ and work/, start.
//
// Containment (docs/security.md), unless the honeypot says unsafe = true:
//   user      after its files are set up, pid 1 enters a new user namespace
//             whose root is host uid/gid kNsGuestIdBase (65536 ids): root in
//             the guest is an unprivileged user on the host. Every other
//             namespace is owned by the host's, so root in the guest holds no
//             capability over its mounts, its network (the lab configures
//             eth0 from outside; ports below 1024 and ping sockets are opened
//             to it by the namespace's sysctls), its host name, the clock,
//             sysctls, modules, devices or BPF. The image's tree is owned by
//             that range (NsRootfs shifts it), so root inside owns its files.
//   seccomp   GuestSeccomp() (containment.h) on pid 1 before init: inherited
//             by every process of the guest, not removable.
//   masks     /proc/sys, /proc/bus, /proc/fs, /proc/irq read-only;
//             /proc/kcore, keys, timer_list, sched_debug, sysrq-trigger hidden
//             (/dev/null over them), /proc/acpi, /proc/scsi and /sys/firmware
//             empty.
//   cgroup    honeynet/<name> (GuestCgroup): pids, memory (+swap), cpu, io.
//   disk      the writable layer is an ext4 file of disk_max bytes
//             (DATA/guests/<name>/upper.img, sparse), loop-mounted inside the
//             guest's mount namespace only: a full disk is the guest's alone.
// With unsafe = true: real root, all capabilities, no limits (as before).
//
// Who may call: the lab (up/down/reset/status/console).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/addr.h"
#include "common/status.h"
#include "lab/containment.h"

namespace hn {

struct NsGuestSpec {
  std::string name;          // honeypot name (1-32 of A-Z a-z 0-9 _ . -)
  std::string image;         // the image file the tree came from (messages)
  std::string rootfs;        // the read-only tree (NsRootfs): the overlay's lower layer
  std::string dir;           // DATA/guests/<name>: upper/, work/, root/, console.log
  std::string netns;         // the guest's own network namespace (made by Start)
  std::string bridge_netns;  // where the veth's host end goes (the lab's hn-wall)
  std::string bridge;        // the bridge it joins there (hn-br)
  std::string veth;          // the veth's host end (at most 15 characters)
  Mac mac;                   // eth0's fixed MAC
  Ip4Prefix ip;              // eth0's address
  Ip4 gateway;               // default route
  std::string hostname;
  std::vector<Ip4> dns;
  bool unsafe = false;       // no user namespace, seccomp, cgroup or disk limit
  GuestLimits limits;        // its cgroup's limits and disk_max
};

struct NsGuestState {
  int pid = 0;               // host pid of the guest's pid 1 (0: not running)
  int64_t start_ticks = 0;   // its start time (/proc/PID/stat field 22): a reused pid is not it
  uint64_t pidns = 0;        // inode of its pid namespace
  int64_t started_unix = 0;
};

// The network namespace name of a honeypot: "hn-g-<name>".
std::string NsGuestNetnsName(const std::string& honeypot);

// The image's tree for namespace honeypots, extracted from the ext4 image
// (debugfs rdump; set-id and sticky bits restored from the image) into
// DATA/images/rootfs/<kind>-<key>/, key = a hash of the image file's path,
// size, mtime and inode: a rebuilt image gets a new tree, an unchanged one
// reuses it. Every file's owner is shifted by id_base (kNsGuestIdBase for
// contained guests, 0 for unsafe ones: two trees). Returns the tree's path.
// Needs debugfs (e2fsprogs).
Result<std::string> NsRootfs(const std::string& data_dir, const std::string& kind, const std::string& image_path,
                             uint32_t id_base = kNsGuestIdBase);
// Removes the trees of kind other than keep (call only when no namespace
// honeypot of this data dir runs: a tree under a live overlay must not change).
void PruneNsRootfs(const std::string& data_dir, const std::string& kind, const std::vector<std::string>& keep);

// Makes the guest's network (NETNS anew, the veth pair into the bridge) and
// starts its pid 1, held before init until before_init(state) returns Ok
// (an error there kills the guest and is returned). Returns once init runs.
Result<NsGuestState> StartNsGuest(const NsGuestSpec& g, const std::function<Status(const NsGuestState&)>& before_init);
// SIGKILL of pid 1, then waits up to timeout_ms until no process of the pid
// namespace is left. Leaves the network namespace (the lab deletes it).
Status StopNsGuest(const NsGuestSpec& g, const NsGuestState& s, int timeout_ms = 5000);
// Stop, delete upper/ and work/ (everything the guest changed), start.
Result<NsGuestState> ResetNsGuest(const NsGuestSpec& g, const NsGuestState& s,
                                  const std::function<Status(const NsGuestState&)>& before_init);
// True when pid 1 of this guest (pid, start time, pid namespace) is alive.
bool NsGuestRunning(const NsGuestState& s);
// Host pids of every live process in the guest's pid namespace (empty when
// none or the state names no namespace; zombies are not counted).
std::vector<int> NsGuestProcesses(const NsGuestState& s);

// True when a TCP socket listens on port in the guest's network namespace
// (seen through /proc/PID/net/tcp of its pid 1): the lab probes telnet only
// then, not into a network that is not up yet.
bool NsGuestListening(const NsGuestState& s, uint16_t port);

// Files of a guest, all under g.dir.
std::string NsGuestConsoleLog(const NsGuestSpec& g);  // pid 1's output (the previous start's: .1)
std::string NsGuestUpperDir(const NsGuestSpec& g);    // what the guest changed (unsafe: a directory)
std::string NsGuestUpperImage(const NsGuestSpec& g);  // what the guest changed (contained: an ext4 file,
                                                      // its files under upper/ in it)

}  // namespace hn
