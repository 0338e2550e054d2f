// Containment parts (src/lab/containment.h): the guest seccomp filter refuses
// what it must and nothing else a shell needs; a guest cgroup holds its limits
// and its processes and goes away; [[honeypot]] limit keys parse and errors
// name key and line. The cgroup test needs root (skipped otherwise).
#include "lab/containment.h"

#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "config/config.h"

namespace hn {
namespace {

// Runs fn in a forked child with the guest filter installed; returns fn's
// exit code (or 200 + signal when it was killed).
int InChildWithFilter(int (*fn)()) {
  auto prog = GuestSeccomp();
  EXPECT_TRUE(prog.ok()) << prog.status().message();
  if (!prog.ok()) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (prog->Install() != 0) ::_exit(99);
    ::_exit(fn());
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 200 + WTERMSIG(st);
}

TEST(ContainmentTest, GuestSeccompRefusesKernelWideCalls) {
  // Each refused call fails with EPERM (clone3: ENOSYS); a harmless one still works.
  EXPECT_EQ(InChildWithFilter([] { return ::unshare(CLONE_NEWUSER) == -1 && errno == EPERM ? 0 : 1; }), 0);
  EXPECT_EQ(InChildWithFilter([] { return ::unshare(CLONE_NEWNS) == -1 && errno == EPERM ? 0 : 1; }), 0);
  EXPECT_EQ(InChildWithFilter([] { return ::syscall(SYS_setns, 0, 0) == -1 && errno == EPERM ? 0 : 1; }), 0);
  EXPECT_EQ(InChildWithFilter([] { return ::syscall(SYS_init_module, nullptr, 0, "") == -1 && errno == EPERM ? 0 : 1; }),
            0);
  EXPECT_EQ(InChildWithFilter([] { return ::syscall(SYS_bpf, 0, nullptr, 0) == -1 && errno == EPERM ? 0 : 1; }), 0);
  EXPECT_EQ(InChildWithFilter([] { return ::syscall(SYS_keyctl, 0, 0, 0, 0, 0) == -1 && errno == EPERM ? 0 : 1; }), 0);
  EXPECT_EQ(InChildWithFilter([] { return ::syscall(SYS_clock_settime, CLOCK_REALTIME, nullptr) == -1 &&
                                                 errno == EPERM
                                             ? 0
                                             : 1; }),
            0);
  EXPECT_EQ(InChildWithFilter([] { return ::syscall(SYS_mount, "none", "/", "tmpfs", 0, nullptr) == -1 && errno == EPERM
                                             ? 0
                                             : 1; }),
            0);
  EXPECT_EQ(InChildWithFilter([] { return ::syscall(SYS_clone3, nullptr, 0) == -1 && errno == ENOSYS ? 0 : 1; }), 0);
  // clone with a namespace flag is refused; a plain fork works.
  EXPECT_EQ(InChildWithFilter([] {
              long r = ::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
              return r == -1 && errno == EPERM ? 0 : 1;
            }),
            0);
  EXPECT_EQ(InChildWithFilter([] {
              pid_t c = ::fork();
              if (c == 0) ::_exit(7);
              int st = 0;
              ::waitpid(c, &st, 0);
              return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 1;
            }),
            0);
  EXPECT_EQ(InChildWithFilter([] { return ::getpid() > 0 && ::access("/", R_OK) == 0 ? 0 : 1; }), 0);
}

TEST(ContainmentTest, GuestCgroupHoldsLimitsAndProcesses) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto layout = FindCgroups();
  if (!layout.ok()) GTEST_SKIP() << layout.status().message();
  const std::string name = "unit-test-" + std::to_string(::getpid());
  GuestLimits lim;
  lim.pids_max = 77;
  lim.memory_max = 96ll << 20;
  auto cg = GuestCgroup::Create(name, lim);
  ASSERT_TRUE(cg.ok()) << cg.status().message();
  bool pids = false, mem = false;
  for (const auto& [file, value] : cg->Read()) {
    if (file == "pids.max") pids = value == "77";
    if (file == "memory.max" || file == "memory.limit_in_bytes") mem = value == std::to_string(96 << 20);
  }
  EXPECT_TRUE(pids && mem);
  pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_TRUE(cg->Attach(child).ok());
  const std::string mine = ReadFileOrEmpty("/proc/" + std::to_string(child) + "/cgroup");
  EXPECT_NE(mine.find("honeynet/" + name), std::string::npos) << mine;
  // Remove kills what is left and removes the directories.
  ASSERT_TRUE(cg->Remove().ok());
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  for (const std::string& d : cg->Dirs()) {
    struct stat sb {};
    EXPECT_NE(::stat(d.c_str(), &sb), 0) << d << " still there";
  }
}

TEST(ContainmentTest, LimitsFromConfig) {
  auto r = ParseConfig(
      "mode = \"nat\"\n[inside]\ngateway_ip = \"10.0.0.1/24\"\n[outside]\ngateway = \"192.0.2.1\"\n"
      "[[honeypot]]\nname = \"a\"\nip = \"10.0.0.2\"\npublic_ip = \"192.0.2.10\"\nkind = \"netns\"\n"
      "pids_max = 100\nmemory_max = \"64M\"\ncpu_max = \"25%\"\ndisk_max = \"32M\"\n"
      "[[honeypot]]\nname = \"b\"\nip = \"10.0.0.3\"\npublic_ip = \"192.0.2.11\"\nmem = \"64M\"\n",
      "c.toml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  GuestLimits a = GuestLimitsFrom(r->honeypots[0]);
  EXPECT_EQ(a.pids_max, 100);
  EXPECT_EQ(a.memory_max, 64ll << 20);
  EXPECT_EQ(a.cpu_max_percent, 25);
  EXPECT_EQ(a.disk_max, 32ll << 20);
  GuestLimits b = GuestLimitsFrom(r->honeypots[1]);
  EXPECT_EQ(b.memory_max, (64ll + 256) << 20) << "uml: mem plus the UML process's own";
  EXPECT_EQ(b.cpu_max_percent, 100);
  EXPECT_EQ(b.pids_max, 512);
  // Round trip through the dumped config keeps them.
  auto back = ParseConfig(DumpConfig(*r), "d.toml");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(GuestLimitsFrom(back->honeypots[0]).disk_max, 32ll << 20);
  EXPECT_EQ(back->honeypots[0].cpu_max, 25);

  auto bad = ParseConfig(
      "mode = \"nat\"\n[inside]\ngateway_ip = \"10.0.0.1/24\"\n[outside]\ngateway = \"192.0.2.1\"\n"
      "[[honeypot]]\nname = \"a\"\nip = \"10.0.0.2\"\npublic_ip = \"192.0.2.10\"\ncpu_max = \"lots\"\n"
      "unsafe = \"yes\"\n",
      "bad.toml");
  ASSERT_FALSE(bad.ok());
  const std::string m = bad.status().message();
  EXPECT_NE(m.find("honeypot[0].cpu_max"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.toml:10: honeypot[0].cpu_max"), std::string::npos) << m;
  EXPECT_NE(m.find("honeypot[0].unsafe"), std::string::npos) << m;
}

}  // namespace
}  // namespace hn
