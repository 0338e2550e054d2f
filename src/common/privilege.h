// Privilege: how a long-running honeynet process that parses hostile input
// (the honeywall, the eBPF tty capture) gives up what it no longer needs once
// its sockets and files are open (issue 14, docs/security.md):
//
//   CaptureUser      the user its capture files belong to (capture.user).
//   PrepareCaptureDir  the capture directory and what is in it made that
//                    user's, directories 0750, files 0640 (while still root).
//   DropPrivileges   every capability but a few kept ones gone (effective,
//                    permitted, inheritable, ambient, bounding set), the uid
//                    and gid switched to the capture user, no_new_privs set.
//   SyscallAllowList + InstallSeccomp
//                    a seccomp filter for every thread of the process: the
//                    calls listed (some only with given arguments) run, any
//                    other kills the whole process (SIGSYS), so a hijacked
//                    thread cannot execve, ptrace, mount, load BPF or modules.
//
// HONEYNET_SECCOMP=log (environment) makes unlisted calls only logged by the
// kernel (audit/dmesg "type=1326") instead of fatal, =off installs no filter;
// both are for debugging a missed syscall and say so on stdout.
//
// Who may call: `honeynet wall` (src/wall/honeywall.cpp) and `honeynet tty
// capture` (src/capture/tty_bpf.cpp), once, from the main thread; tests.
// Never a process that must exec later (the lab, `honeynet up`).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace hn {

struct RunAs {
  std::string name;  // user name ("root", "honeynet")
  uid_t uid = 0;
  gid_t gid = 0;     // the user's primary group
};

// name: the user capture files belong to; "" means the default: the user
// "honeynet" when it exists on this machine, else root. Error: no such user.
Result<RunAs> CaptureUser(const std::string& name);

// Creates dir (mode 0750) and makes it and what the capture writes in it
// (pcap files, events.json, honeywall.log, stats.json, budgets.json,
// tty-offsets.json, and tty/ with its *.ttylog) owned by user, directories
// 0750, files 0640. Anything else in dir is left alone (it may be a data
// directory with images in it), and so are symlinks (never followed).
// Needs root (CAP_CHOWN, CAP_FOWNER) unless all is user's already.
Status PrepareCaptureDir(const std::string& dir, const RunAs& user);

// Keeps only the capabilities `keep` (numbers from <linux/capability.h>, e.g.
// CAP_NET_RAW) in the effective and permitted sets, clears the inheritable and
// ambient sets and the bounding set, switches to user (setgroups, setresgid,
// setresuid; capabilities in keep survive it) when user is not null and not
// who we are, and sets no_new_privs. Affects the calling thread (and the uid
// change every thread): call it before starting threads. Error: a step the
// kernel refused (the process may then be half-dropped: exit).
Status DropPrivileges(const std::vector<int>& keep, const RunAs* user);

// What the process runs with now, from /proc/self/status: "CapEff", "Seccomp",
// "NoNewPrivs" as the kernel shows them ("" when the field is missing).
std::string ProcStatusField(const std::string& field);
// "net_raw,net_admin" for a capability mask (hex from CapEff); "none" for 0.
std::string CapabilityNames(uint64_t mask);

enum class SeccompMode { kKill, kLog, kOff };
// From HONEYNET_SECCOMP: unset or "kill" -> kKill, "log", "off"; anything else
// is an error naming the variable.
Result<SeccompMode> SeccompModeFromEnv();
const char* SeccompModeName(SeccompMode m);

class SyscallAllowList {
 public:
  // The calls any thread of a C++ program with files, sockets, signals, timers
  // and std::thread makes (memory, futex, clone, signals, clocks, poll, read/
  // write/openat/close/stat/rename/unlink/fsync/mkdir/getdents64, send/recv,
  // setsockopt/getsockopt/bind/connect, exit). No socket(), no ioctl(): add
  // them with the arguments the process needs.
  static SyscallAllowList Base();

  // Allows these calls with any arguments. A name this architecture lacks is
  // skipped.
  SyscallAllowList& Allow(std::initializer_list<const char*> names);
  // Allows name only when its argument number arg (0-based) is one of values
  // (compared as 32-bit values: socket families, ioctl requests, bpf commands).
  SyscallAllowList& AllowIf(const char* name, unsigned arg, std::vector<uint32_t> values);

  size_t size() const { return rules_.size(); }

 private:
  friend Status InstallSeccomp(const SyscallAllowList& list, SeccompMode mode);
  struct Rule {
    std::string name;
    bool any = true;
    unsigned arg = 0;
    std::vector<uint32_t> values;
  };
  std::vector<Rule> rules_;
};

// Loads the filter for every thread of the process (SECCOMP_FILTER_FLAG_TSYNC;
// threads started later inherit it). Unlisted calls kill the process (kKill)
// or are logged by the kernel and allowed (kLog); kOff does nothing. Sets
// no_new_privs if not yet set. Error: libseccomp or the kernel refused.
Status InstallSeccomp(const SyscallAllowList& list, SeccompMode mode);

}  // namespace hn
