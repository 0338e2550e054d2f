// common/privilege: capability drop, capture dir ownership, seccomp allow-lists.
// Everything that changes the process runs in a forked child.
#include "common/privilege.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "config/config.h"
#include "wall/honeywall.h"

namespace hn {
namespace {

// Runs fn in a forked child; returns its wait status. fn returns the exit code.
int InChild(const std::function<int()>& fn) {
  // No core files from the SIGSYS children.
  pid_t pid = fork();
  if (pid == 0) {
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    _exit(fn());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

bool KilledBySigsys(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS; }
bool ExitedWith(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

TEST(Privilege, WallAllowListLoadsAndEverydayCallsStillWork) {
  const int st = InChild([] {
    if (!InstallSeccomp(WallSyscalls(), SeccompMode::kKill).ok()) return 10;
    if (ProcStatusField("Seccomp") != "2" || ProcStatusField("NoNewPrivs") != "1") return 11;
    // files, threads, sockets of the allowed families, stat, rename, unlink
    char tmpl[] = "/tmp/hn-priv-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 12;
    const std::string dir = tmpl;
    { std::ofstream(dir + "/a") << "x"; }
    if (rename((dir + "/a").c_str(), (dir + "/b").c_str()) != 0) return 13;
    struct stat sb{};
    if (stat((dir + "/b").c_str(), &sb) != 0 || sb.st_size != 1) return 14;
    int ok = 0;
    std::thread t([&] { ok = 1; });
    t.join();
    if (!ok) return 15;
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return 16;
    close(s);
    unlink((dir + "/b").c_str());
    unlinkat(AT_FDCWD, dir.c_str(), AT_REMOVEDIR);  // rmdir() itself is not on the list
    return 0;
  });
  EXPECT_TRUE(ExitedWith(st, 0)) << "status " << st;
}

TEST(Privilege, ExecveUnderTheFilterKillsTheProcess) {
  const int st = InChild([] {
    if (!InstallSeccomp(WallSyscalls(), SeccompMode::kKill).ok()) return 10;
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    execv("/bin/true", argv);
    return 20;  // execve failed without killing us
  });
  EXPECT_TRUE(KilledBySigsys(st)) << "status " << st;
}

TEST(Privilege, ExecveFromAThreadKillsTheWholeProcess) {
  const int st = InChild([] {
    // A thread started before the filter: TSYNC gives it the filter too.
    std::atomic<bool> go{false};
    std::thread t([&] {
      while (!go.load()) std::this_thread::yield();
      char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
      execv("/bin/true", argv);
    });
    if (!InstallSeccomp(WallSyscalls(), SeccompMode::kKill).ok()) return 10;
    go = true;
    t.join();
    return 20;
  });
  EXPECT_TRUE(KilledBySigsys(st)) << "status " << st;
}

TEST(Privilege, SocketOfAnotherFamilyAndUnlistedCallsKill) {
  EXPECT_TRUE(KilledBySigsys(InChild([] {
    if (!InstallSeccomp(WallSyscalls(), SeccompMode::kKill).ok()) return 10;
    (void)socket(AF_INET6, SOCK_DGRAM, 0);
    return 20;
  })));
  EXPECT_TRUE(KilledBySigsys(InChild([] {
    if (!InstallSeccomp(WallSyscalls(), SeccompMode::kKill).ok()) return 10;
    (void)syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
    return 20;
  })));
  EXPECT_TRUE(KilledBySigsys(InChild([] {
    if (!InstallSeccomp(WallSyscalls(), SeccompMode::kKill).ok()) return 10;
    (void)syscall(SYS_bpf, 0, 0, 0);
    return 20;
  })));
}

TEST(Privilege, DropKeepsOnlyTheListedCapabilities) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const int st = InChild([] {
    if (!DropPrivileges(WallCapabilities(), nullptr).ok()) return 10;
    const uint64_t want = (1ULL << CAP_NET_RAW) | (1ULL << CAP_NET_ADMIN);
    if (std::strtoull(ProcStatusField("CapEff").c_str(), nullptr, 16) != want) return 11;
    if (std::strtoull(ProcStatusField("CapPrm").c_str(), nullptr, 16) != want) return 12;
    if (std::strtoull(ProcStatusField("CapBnd").c_str(), nullptr, 16) != 0) return 13;
    if (std::strtoull(ProcStatusField("CapAmb").c_str(), nullptr, 16) != 0) return 14;
    if (ProcStatusField("NoNewPrivs") != "1") return 15;
    // The kept ones still work: an AF_PACKET socket needs CAP_NET_RAW.
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s < 0) return 16;
    close(s);
    // And the dropped ones are gone: chown needs CAP_CHOWN.
    char tmpl[] = "/tmp/hn-priv-XXXXXX";
    int fd = mkstemp(tmpl);
    const bool chowned = fd >= 0 && fchown(fd, 1, 1) == 0;
    unlink(tmpl);
    return chowned ? 17 : 0;
  });
  EXPECT_TRUE(ExitedWith(st, 0)) << "status " << st;
}

TEST(Privilege, DropToAnotherUserKeepsTheCapabilities) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const int st = InChild([] {
    RunAs nobody{"nobody", 65534, 65534};
    if (!DropPrivileges({CAP_NET_RAW}, &nobody).ok()) return 10;
    if (getuid() != 65534 || geteuid() != 65534 || getgid() != 65534) return 11;
    if (std::strtoull(ProcStatusField("CapEff").c_str(), nullptr, 16) != (1ULL << CAP_NET_RAW)) return 12;
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s < 0) return 13;
    close(s);
    return 0;
  });
  EXPECT_TRUE(ExitedWith(st, 0)) << "status " << st;
}

TEST(Privilege, CaptureUser) {
  auto def = CaptureUser("");
  ASSERT_TRUE(def.ok());
  EXPECT_TRUE(def->name == "honeynet" || (def->name == "root" && def->uid == 0));
  auto root = CaptureUser("root");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->uid, 0u);
  auto none = CaptureUser("hn-no-such-user");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("capture.user"), std::string::npos);
}

TEST(Privilege, PrepareCaptureDirSetsModesAndLeavesSymlinksAlone) {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("hn-capdir-" + std::to_string(getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "cap" / "tty");
  { std::ofstream(base / "cap" / "events.json") << "{}\n"; }
  { std::ofstream(base / "cap" / "tty" / "hp.ttylog") << "x"; }
  { std::ofstream(base / "outside") << "y"; }
  chmod((base / "cap").c_str(), 0755);
  chmod((base / "cap" / "tty").c_str(), 0777);
  chmod((base / "cap" / "events.json").c_str(), 0644);
  chmod((base / "outside").c_str(), 0644);
  fs::create_symlink(base / "outside", base / "cap" / "link");
  fs::create_symlink(base / "outside", base / "cap" / "stats.json");  // a capture name, still a symlink
  fs::create_directories(base / "cap" / "images" / "rootfs");          // not the capture's: left alone
  { std::ofstream(base / "cap" / "images" / "rootfs" / "sh") << "z"; }
  { std::ofstream(base / "cap" / "notes.txt") << "n"; }
  chmod((base / "cap" / "images").c_str(), 0755);
  chmod((base / "cap" / "images" / "rootfs" / "sh").c_str(), 04755);
  chmod((base / "cap" / "notes.txt").c_str(), 0644);

  RunAs me{"me", geteuid(), getegid()};
  ASSERT_TRUE(PrepareCaptureDir((base / "cap" / "new").string(), me).ok());
  ASSERT_TRUE(PrepareCaptureDir((base / "cap").string(), me).ok());
  auto mode = [](const fs::path& p) {
    struct stat sb{};
    lstat(p.c_str(), &sb);
    return sb.st_mode & 07777;
  };
  EXPECT_EQ(mode(base / "cap"), 0750u);
  EXPECT_EQ(mode(base / "cap" / "new"), 0750u);
  EXPECT_EQ(mode(base / "cap" / "tty"), 0750u);
  EXPECT_EQ(mode(base / "cap" / "events.json"), 0640u);
  EXPECT_EQ(mode(base / "cap" / "tty" / "hp.ttylog"), 0640u);
  EXPECT_EQ(mode(base / "outside"), 0644u) << "a symlink's target must not be touched";
  EXPECT_EQ(mode(base / "cap" / "images"), 0755u);
  EXPECT_EQ(mode(base / "cap" / "images" / "rootfs" / "sh"), 04755u);
  EXPECT_EQ(mode(base / "cap" / "notes.txt"), 0644u);
  fs::remove_all(base);
}

TEST(Privilege, SeccompModeFromEnv) {
  unsetenv("HONEYNET_SECCOMP");
  EXPECT_EQ(SeccompModeFromEnv().value(), SeccompMode::kKill);
  setenv("HONEYNET_SECCOMP", "log", 1);
  EXPECT_EQ(SeccompModeFromEnv().value(), SeccompMode::kLog);
  setenv("HONEYNET_SECCOMP", "off", 1);
  EXPECT_EQ(SeccompModeFromEnv().value(), SeccompMode::kOff);
  setenv("HONEYNET_SECCOMP", "yes", 1);
  EXPECT_FALSE(SeccompModeFromEnv().ok());
  unsetenv("HONEYNET_SECCOMP");
}

TEST(Privilege, CapabilityNames) {
  EXPECT_EQ(CapabilityNames(0), "none");
  EXPECT_EQ(CapabilityNames((1ULL << CAP_NET_RAW) | (1ULL << CAP_NET_ADMIN)), "net_admin,net_raw");
}

TEST(Privilege, ConfigCaptureUser) {
  auto ok = ParseConfig("[[honeypot]]\nname = \"a\"\nip = \"192.0.2.10\"\n[capture]\nuser = \"root\"\n", "w.toml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->capture.user, "root");
  auto again = ParseConfig(DumpConfig(ok.value()), "dump.toml");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->capture.user, "root");
  auto missing = ParseConfig("[[honeypot]]\nname = \"a\"\nip = \"192.0.2.10\"\n[capture]\nuser = \"hn-no-such-user\"\n",
                             "w.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("w.toml:5: capture.user: no such user"), std::string::npos)
      << missing.status().message();
  auto bad = ParseConfig("[[honeypot]]\nname = \"a\"\nip = \"192.0.2.10\"\n[capture]\nuser = \"a b\"\n", "w.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("w.toml:5: capture.user: must be the name of a user"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace hn
