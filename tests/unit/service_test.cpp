// Tests for `honeynet service` (lab/service.h): the unit's text (absolute
// ExecStart, Type=notify, watchdog, every capability listed with its reason),
// the checks of its options, quoting; and the lab's restart counter and disk
// use (lab/lab_health.h).
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lab/lab_health.h"
#include "lab/service.h"

namespace hn {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> v;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) v.push_back(l);
  return v;
}

// The value of the one uncommented line "KEY=..." ("" when absent; fails when twice).
std::string Key(const std::string& unit, const std::string& key) {
  std::string found;
  int n = 0;
  for (const std::string& l : Lines(unit)) {
    if (l.rfind(key + "=", 0) == 0) {
      found = l.substr(key.size() + 1);
      n++;
    }
  }
  EXPECT_LE(n, 1) << key << " appears " << n << " times";
  return found;
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/hn-service-test-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
};

ServiceOptions Opts() {
  ServiceOptions o;
  o.binary = "/usr/local/bin/honeynet";
  o.config = "/etc/honeynet/lab.toml";
  o.data_dir = "/var/lib/honeynet";
  return o;
}

TEST(ServiceUnit, ExecStartIsAbsoluteAndForeground) {
  const std::string u = ServiceUnitText(Opts());
  EXPECT_EQ(Key(u, "ExecStart"), "/usr/local/bin/honeynet up /etc/honeynet/lab.toml --data-dir /var/lib/honeynet");
  EXPECT_EQ(Key(u, "ExecStopPost"), "/usr/local/bin/honeynet down --data-dir /var/lib/honeynet");
  EXPECT_EQ(Key(u, "ExecStart").find("--detach"), std::string::npos);
  EXPECT_EQ(Key(u, "ExecStop"), "");  // SIGTERM makes `up` take the lab down
  ServiceOptions builtin = Opts();
  builtin.config.clear();
  EXPECT_EQ(Key(ServiceUnitText(builtin), "ExecStart"), "/usr/local/bin/honeynet up --data-dir /var/lib/honeynet");
}

TEST(ServiceUnit, NotifyWatchdogRestart) {
  const std::string u = ServiceUnitText(Opts());
  EXPECT_EQ(Key(u, "Type"), "notify");
  EXPECT_EQ(Key(u, "NotifyAccess"), "main");
  EXPECT_EQ(Key(u, "WatchdogSec"), "60");
  EXPECT_EQ(Key(u, "Restart"), "on-failure");
  EXPECT_EQ(Key(u, "RestartSec"), "5");
  EXPECT_EQ(Key(u, "TimeoutStartSec"), "30min");
  EXPECT_EQ(Key(u, "TimeoutStopSec"), "120");
  EXPECT_EQ(Key(u, "KillMode"), "mixed");
  EXPECT_EQ(Key(u, "After"), "network-online.target");
  EXPECT_EQ(Key(u, "Wants"), "network-online.target");
  EXPECT_EQ(Key(u, "WantedBy"), "multi-user.target");
  for (const char* sec : {"[Unit]", "[Service]", "[Install]"}) EXPECT_NE(u.find(std::string("\n") + sec + "\n"), std::string::npos) << sec;
}

TEST(ServiceUnit, CapabilitiesListedAndExplained) {
  const std::string u = ServiceUnitText(Opts());
  const std::string set = " " + Key(u, "CapabilityBoundingSet") + " ";
  for (const char* cap : {"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_SYS_CHROOT", "CAP_DAC_OVERRIDE",
                          "CAP_CHOWN", "CAP_FOWNER", "CAP_FSETID", "CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_MKNOD",
                          "CAP_SETPCAP", "CAP_NET_BIND_SERVICE"}) {
    EXPECT_NE(set.find(std::string(" ") + cap + " "), std::string::npos) << cap;
  }
  for (const char* gone : {"CAP_SYS_MODULE", "CAP_SYS_TIME", "CAP_SYS_BOOT", "CAP_SYS_RAWIO", "CAP_SYSLOG",
                           "CAP_SYS_PTRACE", "CAP_SETFCAP", "CAP_SYS_RESOURCE"}) {
    EXPECT_EQ(set.find(gone), std::string::npos) << gone;
  }
  // Each kept capability has its comment line.
  for (const auto& [cap, why] : ServiceCapabilities()) {
    EXPECT_FALSE(why.empty()) << cap;
    bool commented = false;
    for (const std::string& l : Lines(u)) commented |= l.rfind("#   " + cap + " ", 0) == 0;
    EXPECT_TRUE(commented) << cap;
  }
}

TEST(ServiceUnit, HardeningThatKeepsTheLabWorking) {
  const std::string u = ServiceUnitText(Opts());
  EXPECT_EQ(Key(u, "LockPersonality"), "yes");
  EXPECT_EQ(Key(u, "RestrictRealtime"), "yes");
  // Mount namespaces would hide /run/netns mounts from the host; the
  // reasons are in comments, the settings are not there.
  for (const char* off : {"NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "ProtectHostname",
                          "ProtectKernelTunables", "ProtectKernelModules", "ReadWritePaths", "PrivateDevices"}) {
    EXPECT_EQ(Key(u, off), "") << off;
    EXPECT_NE(u.find(off), std::string::npos) << off << " should be explained in a comment";
  }
}

TEST(ServiceUnit, QuotesPathsForSystemd) {
  EXPECT_EQ(SystemdQuote("/usr/bin/honeynet"), "/usr/bin/honeynet");
  EXPECT_EQ(SystemdQuote("/srv/my lab/x.toml"), "\"/srv/my lab/x.toml\"");
  EXPECT_EQ(SystemdQuote("/srv/100%/$HOME"), "/srv/100%%/$$HOME");
  EXPECT_EQ(SystemdQuote("a\"b"), "\"a\\\"b\"");
  ServiceOptions o = Opts();
  o.data_dir = "/srv/hn data";
  EXPECT_EQ(Key(ServiceUnitText(o), "ExecStopPost"), "/usr/local/bin/honeynet down --data-dir \"/srv/hn data\"");
}

TEST(ServiceOptionsCheck, ResolvesAndRefuses) {
  TempDir t;
  ServiceOptions o;
  o.data_dir = "data";
  auto r = ResolveServiceOptions(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->binary[0], '/');
  EXPECT_EQ(r->data_dir, fs::current_path().string() + "/data");
  EXPECT_EQ(r->name, "honeynet");

  o.name = "lab2.service";
  ASSERT_TRUE(ResolveServiceOptions(o).ok());
  EXPECT_EQ(ResolveServiceOptions(o)->name, "lab2");
  o.name = "bad name/x";
  EXPECT_FALSE(ResolveServiceOptions(o).ok());
  o.name = "honeynet";

  o.config = t.path + "/missing.toml";
  auto missing = ResolveServiceOptions(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.toml"), std::string::npos) << missing.status().message();

  o.config = t.path + "/bad.toml";
  std::ofstream(o.config) << "mode = \"sideways\"\n";
  EXPECT_FALSE(ResolveServiceOptions(o).ok());

  o.config = t.path + "/lab.toml";
  std::ofstream(o.config) << "mode = \"nat\"\n[inside]\ngateway_ip = \"10.0.0.1/24\"\n[outside]\ngateway = "
                             "\"192.0.2.1\"\n[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0.2\"\npublic_ip = "
                             "\"192.0.2.10\"\n";
  auto ok = ResolveServiceOptions(o);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->config, o.config);
}

TEST(ServiceInstall, WritesTheUnitWithoutSystemctlOutsideSystemdsDir) {
  TempDir t;
  ServiceOptions o = Opts();
  o.unit_dir = t.path;
  o.name = "hn-test";
  std::vector<std::string> said;
  Status s = InstallService(o, true, [&](const std::string& l) { said.push_back(l); });
  ASSERT_TRUE(s.ok()) << s.message();
  std::ifstream f(t.path + "/hn-test.service");
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), ServiceUnitText(o));
  bool not_enabled = false;
  for (const std::string& l : said) not_enabled |= l.find("not enabled") != std::string::npos;
  EXPECT_TRUE(not_enabled);
  ASSERT_TRUE(UninstallService(o, [](const std::string&) {}).ok());
  EXPECT_FALSE(fs::exists(t.path + "/hn-test.service"));
  EXPECT_TRUE(UninstallService(o, [](const std::string&) {}).ok());  // nothing left: still fine
}

TEST(LabHealth, RestartsCountUncleanEndsOnly) {
  using namespace lab_detail;
  TempDir t;
  const std::string dd = t.path;
  EXPECT_EQ(LoadRestarts(dd).restarts, 0);
  EXPECT_EQ(NoteLabStarting(dd, false, false), 0);  // first start
  NoteLabStopped(dd);                                // clean end
  EXPECT_EQ(NoteLabStarting(dd, false, false), 0);
  // This foreground `up` "crashed": it is this test process, still alive,
  // so `down` takes it as a clean end ...
  NoteLabDown(dd);
  EXPECT_FALSE(LoadRestarts(dd).unclean);
  EXPECT_EQ(NoteLabStarting(dd, false, false), 0);
  // ... but a recorded `up` that is gone is a crash: the next start counts.
  RestartRecord r = LoadRestarts(dd);
  r.up.pid = 0;
  ASSERT_TRUE(SaveRestarts(dd, r).ok());
  NoteLabDown(dd);
  EXPECT_TRUE(LoadRestarts(dd).unclean);
  EXPECT_EQ(NoteLabStarting(dd, false, false), 1);
  EXPECT_GT(LoadRestarts(dd).last, 0);
  // A state left behind (machine reboot) counts too; a detached lab's `down` is clean.
  EXPECT_EQ(NoteLabStarting(dd, true, true), 2);
  NoteLabDown(dd);
  EXPECT_EQ(NoteLabStarting(dd, false, true), 2);
}

TEST(LabHealth, DiskCountsCaptureFilesRecursively) {
  using namespace lab_detail;
  TempDir t;
  const std::string cap = t.path + "/lab/capture";
  fs::create_directories(cap + "/tty");
  std::ofstream(cap + "/a.pcap") << std::string(1000, 'a');
  std::ofstream(cap + "/tty/hp1.ttylog") << std::string(234, 'b');
  const auto d = LabDiskJson(t.path, cap);
  EXPECT_EQ(d["capture_bytes"].get<uint64_t>(), 1234u);
  EXPECT_GT(d["total_bytes"].get<uint64_t>(), 0u);
  EXPECT_TRUE(d["max_total"].is_null());
  std::ofstream(t.path + "/lab/wall.toml")
      << "mode = \"nat\"\n[inside]\ngateway_ip = \"10.0.0.1/24\"\n[outside]\ngateway = \"192.0.2.1\"\n"
         "[capture]\nmax_total = \"16G\"\nmin_free = \"2G\"\n[[honeypot]]\nname = \"hp1\"\nip = \"10.0.0.2\"\n"
         "public_ip = \"192.0.2.10\"\n";
  const auto d2 = LabDiskJson(t.path, cap);
  EXPECT_EQ(d2["max_total"].get<uint64_t>(), 16ULL << 30) << d2.dump();
  EXPECT_EQ(d2["min_free"].get<uint64_t>(), 2ULL << 30) << d2.dump();
  EXPECT_EQ(UptimeText(45), "45s");
  EXPECT_EQ(UptimeText(3 * 3600 + 12 * 60 + 5), "3h12m");
  EXPECT_EQ(UptimeText(2 * 86400 + 3 * 3600), "2d03h");
  EXPECT_EQ(BytesText(512), "512 B");
  EXPECT_EQ(BytesText(1536), "1.5 KiB");
}

}  // namespace
}  // namespace hn
