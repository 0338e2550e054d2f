// `honeynet audit`'s pure part: findings from gathered facts (no lab), and
// the parsers of /proc and kernel config text.
#include "lab/audit.h"

#include <string>

#include <gtest/gtest.h>

namespace hn {
namespace {

const AuditFinding* Find(const AuditSection& s, const std::string& check) {
  for (const auto& f : s.findings) {
    if (f.check == check) return &f;
  }
  return nullptr;
}

AuditProc Contained(int pid) {
  AuditProc p;
  p.pid = pid;
  p.readable = true;
  p.uid = 805306368;
  p.seccomp = 2;
  p.cap_bnd = 0x00000000a80425fbull;  // Docker's default set: no SYS_ADMIN, NET_ADMIN, SYS_MODULE
  return p;
}

AuditGuest ContainedNetns() {
  AuditGuest g;
  g.name = "ns1";
  g.kind = "netns";
  g.running = true;
  g.mac = "00:1b:21:4e:00:02";
  g.uid_map = "         0  805306368      65536\n";
  g.mountinfo_read = true;
  g.proc_sys_ro = true;
  g.disk_image = true;
  g.disk_bytes = 64ll << 20;
  g.procs = {Contained(100), Contained(101)};
  g.cgroup = {{"pids.max", "512"}, {"memory.max", "268435456"}, {"cpu.max", "50000 100000"}};
  return g;
}

AuditFacts Lab(std::vector<AuditGuest> guests) {
  AuditFacts f;
  f.up = true;
  f.data_dir = "/var/lib/honeynet";
  f.guests = std::move(guests);
  f.wall_running = true;
  f.wall.readable = true;
  f.wall.pid = 42;
  f.wall.seccomp = 2;
  f.wall.no_new_privs = true;
  f.wall.cap_eff = (1ull << kCapNetRaw) | (1ull << kCapNetAdmin);
  return f;
}

TEST(Audit, NoLabNoSections) {
  AuditFacts f;
  EXPECT_TRUE(AuditFindings(f).empty());
  EXPECT_NE(FormatAudit(f, {}, false).find("no lab is up"), std::string::npos);
}

TEST(Audit, ContainedNetnsHasNoRisk) {
  auto secs = AuditFindings(Lab({ContainedNetns()}));
  ASSERT_EQ(secs.size(), 2u);  // ns1, honeywall
  EXPECT_EQ(secs[0].subject, "ns1");
  EXPECT_EQ(secs[0].Count(AuditSeverity::kRisk), 0) << FormatAudit(Lab({ContainedNetns()}), secs, false);
  EXPECT_EQ(secs[1].subject, "honeywall");
  EXPECT_EQ(secs[1].Count(AuditSeverity::kRisk), 0);
  // A vendor MAC: no MAC tell; the host-kernel tell of a namespace honeypot stays.
  EXPECT_EQ(Find(secs[0], "mac_oui")->severity, AuditSeverity::kOk);
  EXPECT_EQ(Find(secs[0], "netns_host_kernel")->severity, AuditSeverity::kTell);
}

TEST(Audit, UnsafeNetnsIsARiskOnEveryCount) {
  AuditGuest g = ContainedNetns();
  g.unsafe = true;
  g.uid_map = "         0          0 4294967295\n";
  g.proc_sys_ro = false;
  g.disk_image = false;
  g.cgroup.clear();
  for (auto& p : g.procs) {
    p.uid = 0;
    p.seccomp = 0;
    p.cap_bnd = 0x000001ffffffffffull;
  }
  auto secs = AuditFindings(Lab({g}));
  for (const char* check : {"unsafe", "uid_map", "seccomp", "capabilities", "cgroup", "disk", "proc_masks"}) {
    const AuditFinding* f = Find(secs[0], check);
    ASSERT_NE(f, nullptr) << check;
    EXPECT_EQ(f->severity, AuditSeverity::kRisk) << check;
    EXPECT_FALSE(f->fix.empty()) << check;
  }
  EXPECT_NE(Find(secs[0], "unsafe")->fix.find("remove `unsafe = true`"), std::string::npos);
}

TEST(Audit, CgroupV1WithoutMemoryLimitIsARisk) {
  AuditGuest g = ContainedNetns();
  g.cgroup = {{"pids.max", "512"}, {"memory.limit_in_bytes", "9223372036854771712"}};
  auto secs = AuditFindings(Lab({g}));
  EXPECT_EQ(Find(secs[0], "cgroup")->severity, AuditSeverity::kRisk);
  g.cgroup["memory.limit_in_bytes"] = "268435456";
  secs = AuditFindings(Lab({g}));
  EXPECT_EQ(Find(secs[0], "cgroup")->severity, AuditSeverity::kOk);
}

TEST(Audit, QemuMacIsATellWithItsFix) {
  AuditGuest g = ContainedNetns();
  g.mac = "52:54:00:4E:00:02";
  auto secs = AuditFindings(Lab({g}));
  const AuditFinding* f = Find(secs[0], "mac_oui");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, AuditSeverity::kTell);
  EXPECT_NE(f->fix.find("mac = "), std::string::npos);
}

TEST(Audit, UmlOnStockKernel) {
  AuditGuest g;
  g.name = "hp2";
  g.kind = "uml";
  g.running = true;
  g.mac = "52:54:00:4e:00:03";
  g.wall_netns = 4026532000;
  AuditProc p = Contained(200);
  p.uid = 0;
  p.netns = 4026532000;  // in hn-wall
  g.procs = {p};
  g.cgroup = {{"pids.max", "512"}, {"memory.max", "max"}};
  g.kernel.path = "/usr/bin/linux";
  g.kernel.stock = true;
  auto secs = AuditFindings(Lab({g}));
  const auto& s = secs[0];
  EXPECT_EQ(Find(s, "uid")->severity, AuditSeverity::kRisk);
  EXPECT_EQ(Find(s, "netns")->severity, AuditSeverity::kRisk);
  EXPECT_EQ(Find(s, "privileges")->severity, AuditSeverity::kRisk);  // no no_new_privs
  EXPECT_EQ(Find(s, "cgroup")->severity, AuditSeverity::kRisk);  // memory.max max
  EXPECT_EQ(Find(s, "kernel")->severity, AuditSeverity::kRisk);
  EXPECT_NE(Find(s, "kernel")->fix.find("honeynet kernel build"), std::string::npos);
  EXPECT_EQ(Find(s, "cpuinfo")->severity, AuditSeverity::kTell);
  EXPECT_EQ(Find(s, "cmdline")->severity, AuditSeverity::kTell);
  EXPECT_EQ(Find(s, "platform_devices")->severity, AuditSeverity::kTell);
  EXPECT_EQ(Find(s, "disk_names")->severity, AuditSeverity::kTell);
  EXPECT_EQ(Find(s, "irq_chips")->severity, AuditSeverity::kTell);
  EXPECT_EQ(Find(s, "mac_oui")->severity, AuditSeverity::kTell);
}

TEST(Audit, UmlOnProjectKernel) {
  AuditGuest g;
  g.name = "hp2";
  g.kind = "uml";
  g.running = true;
  g.mac = "00:1b:21:4e:00:03";
  g.wall_netns = 4026532000;
  AuditProc p = Contained(200);
  p.netns = 4026532111;  // its own
  p.uid = 536870912;
  p.cap_eff = 0;
  p.no_new_privs = true;
  p.seccomp = 2;  // not yet true of the lab's UML guests (docs/security.md)
  g.procs = {p};
  g.cgroup = {{"pids.max", "512"}, {"memory.max", "268435456"}};
  g.kernel.path = "/var/lib/honeynet/kernels/abc/linux";
  g.kernel.stock = false;
  g.kernel.hash = "abc";
  g.kernel.features = {"tty_log", "hide_uml", "no_hostfs"};
  g.kernel.config_read = true;
  g.kernel.config = ParseKernelConfig("# CONFIG_MODULES is not set\n# CONFIG_HOSTFS is not set\nCONFIG_TTY=y\n");
  g.kernel.shows_uml_blkdev = false;
  g.kernel.shows_uml_netdev = false;
  g.kernel.shows_signal_irqs = false;
  auto secs = AuditFindings(Lab({g}));
  const auto& s = secs[0];
  EXPECT_EQ(s.Count(AuditSeverity::kRisk), 0) << FormatAudit(Lab({g}), secs, false);
  EXPECT_EQ(Find(s, "cpuinfo")->severity, AuditSeverity::kOk);
  EXPECT_EQ(Find(s, "uid")->severity, AuditSeverity::kOk);
  EXPECT_EQ(Find(s, "privileges")->severity, AuditSeverity::kOk);
  EXPECT_EQ(Find(s, "platform_devices")->severity, AuditSeverity::kOk);
  EXPECT_EQ(Find(s, "irq_chips")->severity, AuditSeverity::kOk);
  EXPECT_EQ(Find(s, "disk_names")->severity, AuditSeverity::kTell);  // left, with its reason

  // A kernel with modules on is a risk.
  g.kernel.config["CONFIG_MODULES"] = "y";
  secs = AuditFindings(Lab({g}));
  EXPECT_EQ(Find(secs[0], "kernel_config")->severity, AuditSeverity::kRisk);
  EXPECT_NE(Find(secs[0], "kernel_config")->what.find("CONFIG_MODULES"), std::string::npos);
}

TEST(Audit, WallPrivileges) {
  AuditFacts f = Lab({});
  f.wall.cap_eff = 0x000001ffffffffffull;
  f.wall.seccomp = 0;
  f.wall.no_new_privs = false;
  auto secs = AuditFindings(f);
  ASSERT_EQ(secs.size(), 1u);
  EXPECT_EQ(secs[0].Count(AuditSeverity::kRisk), 3);
  f.wall_running = false;
  secs = AuditFindings(f);
  EXPECT_EQ(Find(secs[0], "running")->severity, AuditSeverity::kRisk);
}

TEST(Audit, OutputEscapesGuestTextAndCounts) {
  AuditGuest g = ContainedNetns();
  g.name = "ns\x1b]0;pwned\x07";
  g.unsafe = true;
  AuditFacts f = Lab({g});
  auto secs = AuditFindings(f);
  const std::string text = FormatAudit(f, secs, false);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("\\x1b"), std::string::npos);
  for (const auto& line : AuditSummaryLines(secs)) EXPECT_EQ(line.find('\x1b'), std::string::npos);
  const auto lines = AuditSummaryLines(secs);
  EXPECT_NE(lines.back().find("run `honeynet audit` for details"), std::string::npos);
  EXPECT_NE(lines.front().find("WARNING"), std::string::npos);
  auto j = AuditJson(f, secs);
  EXPECT_GE(j["risks"].get<int>(), 1);
  EXPECT_EQ(j["sections"][0]["findings"][0]["severity"], "risk");
  // Colour only when asked.
  EXPECT_NE(FormatAudit(f, secs, true).find("\x1b[31;1m"), std::string::npos);
}

TEST(AuditParse, ProcStatus) {
  const std::string text =
      "Name:\tsh\nUid:\t805306368\t805306368\t805306368\t805306368\nNoNewPrivs:\t1\nSeccomp:\t2\n"
      "CapEff:\t0000000000003000\nCapBnd:\t00000000a80425fb\n";
  AuditProc p = ParseProcStatus(text);
  EXPECT_TRUE(p.readable);
  EXPECT_EQ(p.uid, 805306368);
  EXPECT_TRUE(p.no_new_privs);
  EXPECT_EQ(p.seccomp, 2);
  EXPECT_EQ(p.cap_eff, 0x3000u);
  EXPECT_FALSE(p.cap_bnd & (1ull << kCapSysAdmin));
  EXPECT_FALSE(ParseProcStatus("").readable);
}

TEST(AuditParse, MountinfoProcSys) {
  const std::string ro =
      "300 299 0:60 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
      "301 300 0:60 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw\n";
  EXPECT_TRUE(MountinfoProcSysReadOnly(ro));
  EXPECT_FALSE(MountinfoProcSysReadOnly("300 299 0:60 / /proc rw,nosuid - proc proc rw\n"));
}

TEST(AuditParse, UidMap) {
  EXPECT_TRUE(UidMapRootIsHostRoot("         0          0 4294967295\n"));
  EXPECT_FALSE(UidMapRootIsHostRoot("         0  805306368      65536\n"));
  EXPECT_FALSE(UidMapRootIsHostRoot(""));
}

TEST(AuditParse, KernelConfig) {
  auto m = ParseKernelConfig("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\"\n# comment\n");
  EXPECT_EQ(m["CONFIG_A"], "y");
  EXPECT_EQ(m["CONFIG_B"], "n");
  EXPECT_EQ(m["CONFIG_C"], "\"x\"");
}

}  // namespace
}  // namespace hn
