// Tests for the namespace honeypots' parts that need no lab: the rootfs tree
// (extracted from an ext4 image with debugfs: contents, modes, set-id and
// sticky bits, cache by image, prune), the state questions on a guest that
// is not running, and what the lab's config refuses for kind = "netns".
// The guest itself (namespaces, overlay, init) is tested end to end in
// tests/integration/test_nsguest.py.
#include "lab/nsguest.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"
#include "lab/lab.h"
#include "lab/run.h"

namespace hn {
namespace {

namespace fs = std::filesystem;

class NsRootfsTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!HaveProgram("mke2fs") || !HaveProgram("debugfs")) GTEST_SKIP() << "e2fsprogs (mke2fs, debugfs) not installed";
    dir_ = fs::temp_directory_path() / ("hn-nsrootfs-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data" / "images");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // A small image: /sbin/hn-init, a sticky /tmp, a set-uid file, a symlink.
  std::string MakeImage(const std::string& name, const std::string& init_text) {
    const fs::path tree = dir_ / ("tree-" + name);
    fs::remove_all(tree);
    fs::create_directories(tree / "sbin");
    fs::create_directories(tree / "tmp");
    fs::create_directories(tree / "usr" / "bin");
    std::ofstream(tree / "sbin" / "hn-init") << init_text;
    std::ofstream(tree / "usr" / "bin" / "su") << "x";
    ::chmod((tree / "sbin" / "hn-init").c_str(), 0755);
    ::chmod((tree / "tmp").c_str(), 01777);
    ::chmod((tree / "usr" / "bin" / "su").c_str(), 04755);
    fs::create_symlink("/sbin/hn-init", tree / "init");
    const std::string img = (dir_ / "data" / "images" / (name + ".img")).string();
    RunResult r = RunCommand({"mke2fs", "-q", "-F", "-t", "ext4", "-d", tree.string(), img, "4M"});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return img;
  }

  static mode_t ModeOf(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mode;
  }

  fs::path dir_;
};

TEST_F(NsRootfsTest, ExtractsTheImageWithItsModesAndReusesIt) {
  const std::string img = MakeImage("busybox", "#!/bin/sh\necho one\n");
  const std::string data = (dir_ / "data").string();
  auto tree = NsRootfs(data, "busybox", img);
  ASSERT_TRUE(tree.ok()) << tree.status().message();
  EXPECT_EQ(fs::path(tree.value()).parent_path(), dir_ / "data" / "images" / "rootfs");
  EXPECT_EQ(fs::path(tree.value()).filename().string().rfind("busybox-", 0), 0u) << tree.value();
  std::ifstream f(fs::path(tree.value()) / "sbin" / "hn-init");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "#!/bin/sh\necho one\n");
  EXPECT_EQ(ModeOf(fs::path(tree.value()) / "sbin" / "hn-init") & 07777, 0755u);
  EXPECT_EQ(ModeOf(fs::path(tree.value()) / "tmp") & 07777, 01777u);          // sticky: debugfs drops it, we do not
  EXPECT_EQ(ModeOf(fs::path(tree.value()) / "usr" / "bin" / "su") & 07777, 04755u);  // set-uid too
  EXPECT_TRUE(S_ISLNK(ModeOf(fs::path(tree.value()) / "init")));
  EXPECT_EQ(fs::read_symlink(fs::path(tree.value()) / "init"), "/sbin/hn-init");
  EXPECT_EQ(ModeOf(tree.value()) & 07777, 0755u);

  // Same image: the same tree, not extracted again (a file put there stays).
  std::ofstream(fs::path(tree.value()) / "stamp") << "kept";
  auto again = NsRootfs(data, "busybox", img);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again.value(), tree.value());
  EXPECT_TRUE(fs::exists(fs::path(tree.value()) / "stamp"));
  // No temporary trees or command files are left beside it.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "data" / "images" / "rootfs")) {
    if (e.path().filename() != ".lock") ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(NsRootfsTest, ARebuiltImageGetsANewTreeAndPruneDropsTheOld) {
  const std::string data = (dir_ / "data").string();
  const std::string img = MakeImage("busybox", "#!/bin/sh\necho one\n");
  auto first = NsRootfs(data, "busybox", img);
  ASSERT_TRUE(first.ok()) << first.status().message();
  MakeImage("busybox", "#!/bin/sh\necho two\n");  // rebuilt in place
  auto second = NsRootfs(data, "busybox", img);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_NE(second.value(), first.value());
  std::ifstream f(fs::path(second.value()) / "sbin" / "hn-init");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "#!/bin/sh\necho two\n");
  // Another kind's tree is not touched by a prune of busybox.
  fs::create_directories(dir_ / "data" / "images" / "rootfs" / "debian-0123");
  PruneNsRootfs(data, "busybox", {second.value()});
  EXPECT_FALSE(fs::exists(first.value()));
  EXPECT_TRUE(fs::exists(second.value()));
  EXPECT_TRUE(fs::exists(dir_ / "data" / "images" / "rootfs" / "debian-0123"));
}

TEST_F(NsRootfsTest, ErrorsSayWhatIsWrong) {
  const std::string data = (dir_ / "data").string();
  auto missing = NsRootfs(data, "busybox", (dir_ / "nope.img").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("honeynet image build busybox"), std::string::npos)
      << missing.status().message();
  // Not an ext4 image: debugfs cannot read it, and nothing is left behind.
  const std::string junk = (dir_ / "junk.img").string();
  std::ofstream(junk) << std::string(8192, 'x');
  auto bad = NsRootfs(data, "busybox", junk);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("debugfs"), std::string::npos) << bad.status().message();
  for (const auto& e : fs::directory_iterator(dir_ / "data" / "images" / "rootfs")) {
    EXPECT_EQ(e.path().filename(), ".lock") << "left behind: " << e.path();
  }
}

TEST(NsGuest, AGuestThatNeverRanIsNotRunningAndHasNoProcesses) {
  NsGuestState none;
  EXPECT_FALSE(NsGuestRunning(none));
  EXPECT_TRUE(NsGuestProcesses(none).empty());
  EXPECT_FALSE(NsGuestListening(none, 23));
  // A live pid that is not the recorded guest (another start time) is not it.
  NsGuestState other;
  other.pid = ::getpid();
  other.start_ticks = 1;
  other.pidns = 1;
  EXPECT_FALSE(NsGuestRunning(other));
  EXPECT_EQ(NsGuestNetnsName("hp1"), "hn-g-hp1");
}

TEST(NsGuest, StartRefusesABadSpecBeforeMakingAnything) {
  NsGuestSpec g;
  g.name = "../x";
  auto r = StartNsGuest(g, [](const NsGuestState&) { return Status::Ok(); });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("invalid guest name"), std::string::npos) << r.status().message();
  g.name = "ns1";
  g.dir = "/nonexistent/hn-guests/ns1";
  g.rootfs = "/nonexistent/hn-rootfs";
  r = StartNsGuest(g, [](const NsGuestState&) { return Status::Ok(); });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/sbin/hn-init"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists("/nonexistent/hn-guests"));
}

// The lab's config checks for kind = "netns".
TEST(NsGuestLabConfig, NetnsRunsBusyboxOnlyAndVethNamesAreTheLabs) {
  const std::string head =
      "mode = \"nat\"\n[inside]\ngateway_ip = \"10.0.0.1/24\"\n[outside]\ngateway = \"192.0.2.1\"\n"
      "[[honeypot]]\nname = \"ns1\"\nip = \"10.0.0.2\"\npublic_ip = \"192.0.2.10\"\nkind = \"netns\"\n";
  auto ok = ParseConfig(head, "lab.toml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  auto wc = LabWallConfig(ok.value(), "/d");
  ASSERT_TRUE(wc.ok()) << wc.status().message();
  EXPECT_EQ(wc->honeypots[0].kind, "netns");
  EXPECT_EQ(wc->honeypots[0].mac, LabGuestMac(0));  // a netns guest has the fixed MAC too

  auto deb = ParseConfig(head + "image = \"debian\"\n", "lab.toml");
  ASSERT_TRUE(deb.ok()) << deb.status().message();
  auto r = LabWallConfig(deb.value(), "/d");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ns1: kind = \"netns\" runs the busybox image only"), std::string::npos)
      << r.status().message();

  Config c = ok.value();
  c.inside.interface = "hn-veth3";
  r = LabWallConfig(c, "/d");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("hn-vethN"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace hn
