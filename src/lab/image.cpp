// Guest images: build, cache, list (see image.h).
#include "common/fs.h"
#include "lab/image.h"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lab/image_files.h"
#include "lab/run.h"

namespace hn {
namespace {

// Bump when the build recipe changes in a way the inputs below do not show.
constexpr const char* kRecipeVersion = "hn-image-recipe-3";
constexpr const char* kRootPassword = "root";  // like the seed's image: root/root
constexpr const char* kBusyboxSize = "16M";
constexpr const char* kDebianSize = "1G";
constexpr const char* kDebianSuite = "bookworm";
constexpr const char* kDebianMirrorDefault = "http://deb.debian.org/debian";
// openssh-server: sshd; inetutils-telnetd + inetutils-inetd: telnet with login
// (openbsd-inetd conflicts with the inetd that inetutils-telnetd pulls in);
// the rest: the tools an attacker (and the selftest) expect.
constexpr const char* kDebianPackages =
    "openssh-server,inetutils-telnetd,inetutils-inetd,iproute2,iputils-ping,netcat-openbsd,"
    "wget,procps,less,nano,psmisc";

// ---- small file helpers ----------------------------------------------------

bool Exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

Status WriteText(const std::string& p, std::string_view text, mode_t mode = 0644) {
  ::unlink(p.c_str());
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return Status::Error("cannot write " + p + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Status::Error("cannot write " + p + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);  // not reduced by the umask
  ::close(fd);
  return Status::Ok();
}


// The embedded text of images/<name> (empty if missing: a build error).
std::string_view Embedded(std::string_view name) {
  for (const auto& f : EmbeddedImageFiles()) {
    if (f.name == name) return f.text;
  }
  return {};
}

// FNV-1a, 64 bit: enough to notice that a build input changed.
struct Hasher {
  uint64_t h = 1469598103934665603ull;
  void Add(std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    Add1(0xff);
  }
  void Add1(unsigned char c) {
    h ^= c;
    h *= 1099511628211ull;
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

std::string HumanBytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", b / double(1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

std::string HumanAge(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 2 * 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

std::string Trim(std::string s) {
  while (!s.empty() && isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// ---- removing a build tree safely ------------------------------------------

// Unmounts whatever is mounted below dir (debootstrap mounts proc and sys in
// its target; an interrupted run can leave them), deepest first.
void UnmountBelow(const std::string& dir) {
  std::ifstream f("/proc/self/mounts");
  std::string dev, mnt, rest;
  std::vector<std::string> below;
  while (f >> dev >> mnt && std::getline(f, rest)) {
    if (mnt.rfind(dir + "/", 0) == 0) below.push_back(mnt);
  }
  std::sort(below.begin(), below.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& m : below) ::umount2(m.c_str(), MNT_DETACH);
}

int RemoveOne(const char* path, const struct stat*, int type, FTW*) {
  if (type == FTW_DP) ::rmdir(path);
  else ::unlink(path);
  return 0;
}

// rm -rf that never leaves the file system dir is on (FTW_MOUNT): a mount
// left inside a debootstrap tree cannot take host files with it.
void RemoveTree(const std::string& dir) {
  if (dir.empty() || dir == "/" || !Exists(dir)) return;
  UnmountBelow(dir);
  ::nftw(dir.c_str(), RemoveOne, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

// ---- shared build steps -----------------------------------------------------

// A SHA-512 crypt hash of the root password, made on the build host.
Result<std::string> PasswordHash() {
  RunResult r;
  if (HaveProgram("openssl")) r = RunCommand({"openssl", "passwd", "-6", kRootPassword});
  if (r.exit_code != 0 && HaveProgram("busybox")) r = RunCommand({"busybox", "mkpasswd", "-m", "sha512", kRootPassword});
  std::string h = Trim(r.out);
  if (r.exit_code != 0 || h.rfind("$6$", 0) != 0) {
    return Status::Error("cannot make a password hash (openssl passwd -6 or busybox mkpasswd): " + h +
                         "; apt-get install openssl");
  }
  return h;
}

// Installs the project's init (images/<kind>/init) and its shared functions.
Status InstallInit(const std::string& tree, const std::string& kind) {
  std::string_view init = Embedded(kind + "/init");
  std::string_view common = Embedded("common/settings.sh");
  if (init.empty() || common.empty()) return Status::Error("build is missing images/" + kind + "/init");
  if (Status s = MakeDirs(tree + "/lib/hn"); !s.ok()) return s;
  if (Status s = WriteText(tree + "/sbin/hn-init", init, 0755); !s.ok()) return s;
  return WriteText(tree + "/lib/hn/settings.sh", common, 0644);
}

Status MakeExt4(const std::string& tree, const std::string& out, const char* size, const std::string& label) {
  ::unlink(out.c_str());
  return RunChecked({"mke2fs", "-q", "-F", "-t", "ext4", "-L", label, "-d", tree, out, size}, "e2fsprogs");
}

// ---- busybox ---------------------------------------------------------------

std::string BusyboxBinary() {
  if (Exists("/bin/busybox")) return "/bin/busybox";
  return FindProgram("busybox");
}

// True when the ELF file has no program interpreter (statically linked).
bool IsStaticElf(const std::string& path) {
  std::string b = ReadFileOrEmpty(path);
  if (b.size() < sizeof(Elf64_Ehdr) || std::memcmp(b.data(), ELFMAG, SELFMAG) != 0) return false;
  Elf64_Ehdr eh;
  std::memcpy(&eh, b.data(), sizeof eh);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) return false;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    size_t off = eh.e_phoff + size_t(i) * eh.e_phentsize;
    if (off + sizeof(Elf64_Phdr) > b.size()) return false;
    Elf64_Phdr ph;
    std::memcpy(&ph, b.data() + off, sizeof ph);
    if (ph.p_type == PT_INTERP) return false;
  }
  return true;
}

std::string BusyboxInputs(Hasher* h) {
  std::string bb = BusyboxBinary();
  h->Add(kRecipeVersion);
  h->Add("busybox");
  h->Add(kBusyboxSize);
  h->Add(Embedded("busybox/init"));
  h->Add(Embedded("busybox/inittab"));
  h->Add(Embedded("common/settings.sh"));
  h->Add(ReadFileOrEmpty(bb));
  return "recipe " + std::string(kRecipeVersion) + ", " + bb + ", images/busybox/*, images/common/*";
}

Status BuildBusyboxTree(const std::string& tree, const Progress& say) {
  const std::string bb = BusyboxBinary();
  if (bb.empty()) return Status::Error("busybox not found: apt-get install busybox-static");
  if (!IsStaticElf(bb)) {
    return Status::Error(bb + " is not statically linked: apt-get install busybox-static");
  }
  for (const char* d : {"bin", "sbin", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "run", "var/log",
                        "home", "mnt", "lib/hn", "root", "tmp"}) {
    if (Status s = MakeDirs(tree + "/" + d); !s.ok()) return s;
  }
  ::chmod((tree + "/tmp").c_str(), 01777);
  ::chmod((tree + "/root").c_str(), 0700);
  if (::symlink("../run", (tree + "/var/run").c_str()) != 0) {
    return Status::Error("symlink var/run: " + std::string(std::strerror(errno)));
  }
  if (Status s = RunChecked({"cp", bb, tree + "/bin/busybox"}); !s.ok()) return s;
  ::chmod((tree + "/bin/busybox").c_str(), 0755);

  RunResult list = RunCommand({bb, "--list-full"});
  if (list.exit_code != 0) return Status::Error(bb + " --list-full failed: " + list.out);
  std::stringstream ss(list.out);
  std::string applet;
  int links = 0;
  while (std::getline(ss, applet)) {
    applet = Trim(applet);
    if (applet.empty() || applet == "bin/busybox" || applet.find("..") != std::string::npos) continue;
    const std::string link = tree + "/" + applet;
    if (Exists(link)) continue;
    size_t slash = link.rfind('/');
    if (Status s = MakeDirs(link.substr(0, slash)); !s.ok()) return s;
    if (::symlink("/bin/busybox", link.c_str()) != 0) {
      return Status::Error("symlink " + link + ": " + std::strerror(errno));
    }
    ++links;
  }
  say("busybox: " + std::to_string(links) + " applets linked");

  auto hash = PasswordHash();
  if (!hash.ok()) return hash.status();
  struct F {
    const char* path;
    std::string text;
    mode_t mode;
  };
  const std::vector<F> files = {
      {"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644},
      {"/etc/shadow", "root:" + hash.value() + ":19700:0:99999:7:::\n", 0600},
      {"/etc/group", "root:x:0:\ntty:x:5:\n", 0644},
      {"/etc/hostname", "localhost\n", 0644},
      {"/etc/hosts", "127.0.0.1\tlocalhost\n", 0644},
      {"/etc/resolv.conf", "", 0644},
      {"/etc/issue", "\n", 0644},
      {"/etc/profile",
       "export PATH=/sbin:/bin:/usr/sbin:/usr/bin\nexport PS1='\\u@\\h:\\w\\$ '\nexport HOME=/root\n", 0644},
      {"/etc/inittab", std::string(Embedded("busybox/inittab")), 0644},
  };
  for (const auto& f : files) {
    if (Status s = WriteText(tree + f.path, f.text, f.mode); !s.ok()) return s;
  }
  return InstallInit(tree, "busybox");
}

// ---- debian ----------------------------------------------------------------

// The Debian mirror: $HONEYNET_DEBIAN_MIRROR, else the first Debian archive
// URI in the host's apt sources, else deb.debian.org.
std::string DebianMirror() {
  if (const char* m = std::getenv("HONEYNET_DEBIAN_MIRROR"); m && *m) return m;
  std::vector<std::string> files = {"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"};
  for (const auto& f : files) {
    std::stringstream ss(ReadFileOrEmpty(f));
    std::string line;
    while (std::getline(ss, line)) {
      std::stringstream ls(line);
      std::string w;
      while (ls >> w) {
        if (w.rfind("#", 0) == 0) break;
        if ((w.rfind("http://", 0) == 0 || w.rfind("https://", 0) == 0) && w.size() > 7 &&
            w.compare(w.size() - 7, 7, "/debian") == 0) {
          return w;
        }
      }
    }
  }
  return kDebianMirrorDefault;
}

std::string DebianInputs(Hasher* h) {
  std::string mirror = DebianMirror();
  h->Add(kRecipeVersion);
  h->Add("debian");
  h->Add(kDebianSize);
  h->Add(kDebianSuite);
  h->Add(kDebianPackages);
  h->Add(mirror);
  h->Add(Embedded("debian/init"));
  h->Add(Embedded("common/settings.sh"));
  return "recipe " + std::string(kRecipeVersion) + ", " + kDebianSuite + " from " + mirror + ", packages " +
         kDebianPackages + ", images/debian/*, images/common/*";
}

// Shows debootstrap's progress without flooding: the first line of each kind
// of step, then every 25th (Retrieving, Unpacking, Configuring ...
// alternate with Validating, which is not shown).
Progress DebootstrapFilter(const Progress& say) {
  auto counts = std::make_shared<std::map<std::string, int>>();
  return [counts, say](const std::string& line) {
    if (line.rfind("W: ", 0) == 0 || line.rfind("E: ", 0) == 0) {
      say("debian: " + line);
      return;
    }
    if (line.rfind("I: ", 0) != 0) return;
    std::string rest = line.substr(3);
    std::string verb = rest.substr(0, rest.find(' '));
    if (verb == "Validating") return;
    int n = ++(*counts)[verb];
    if (n == 1) say("debian: " + rest);
    else if (n % 25 == 0) say("debian: " + rest + " (" + std::to_string(n) + ")");
  };
}

// Replaces the line of file starting with prefix (or appends it).
Status SetLine(const std::string& file, const std::string& prefix, const std::string& line, mode_t mode) {
  std::stringstream in(ReadFileOrEmpty(file));
  std::string out, l;
  bool done = false;
  while (std::getline(in, l)) {
    if (!done && l.rfind(prefix, 0) == 0) {
      out += line + "\n";
      done = true;
    } else {
      out += l + "\n";
    }
  }
  if (!done) out += line + "\n";
  return WriteText(file, out, mode);
}

Status ConfigureDebianTree(const std::string& tree) {
  auto hash = PasswordHash();
  if (!hash.ok()) return hash.status();
  if (Status s = SetLine(tree + "/etc/shadow", "root:", "root:" + hash.value() + ":19700:0:99999:7:::", 0640);
      !s.ok()) {
    return s;
  }
  ::chown((tree + "/etc/shadow").c_str(), 0, 42);  // group shadow, as Debian has it
  if (Status s = MakeDirs(tree + "/etc/ssh/sshd_config.d"); !s.ok()) return s;
  if (Status s = WriteText(tree + "/etc/ssh/sshd_config.d/honeynet.conf",
                           "# root/root, like the seed's honeypot\nPermitRootLogin yes\nPasswordAuthentication yes\n"
                           "UseDNS no\n");
      !s.ok()) {
    return s;
  }
  // No SSH host keys in the image: each guest makes its own at first boot.
  RunCommand({"sh", "-c", "rm -f '" + tree + "'/etc/ssh/ssh_host_*"});
  // telnet through inetd (the package's postinst adds it when inetd is there; make sure).
  std::string inetd = ReadFileOrEmpty(tree + "/etc/inetd.conf");
  if (inetd.find("telnetd") == std::string::npos || inetd.find("#<off># telnet") != std::string::npos) {
    if (Status s = SetLine(tree + "/etc/inetd.conf", "telnet", "telnet\tstream\ttcp\tnowait\troot\t/usr/sbin/telnetd\ttelnetd", 0644);
        !s.ok()) {
      return s;
    }
  }
  const std::vector<std::pair<const char*, const char*>> files = {
      {"/etc/hostname", "localhost\n"},
      {"/etc/hosts", "127.0.0.1\tlocalhost\n"},
      {"/etc/fstab", "/dev/ubda\t/\text4\tdefaults\t0 1\n"},
      // debootstrap copies the build host's resolv.conf: neither leak it nor
      // wait on its servers (telnetd's reverse lookup would hang 10 s).
      {"/etc/resolv.conf", ""},
  };
  for (const auto& [p, t] : files) {
    if (Status s = WriteText(tree + p, t); !s.ok()) return s;
  }
  RunCommand({"sh", "-c", "rm -rf '" + tree + "'/var/cache/apt/archives/*.deb '" + tree + "'/var/lib/apt/lists/*_*"});
  return InstallInit(tree, "debian");
}

Status BuildDebianTree(const std::string& data_dir, const std::string& tree, const Progress& say) {
  if (::geteuid() != 0) return Status::Error("building the Debian image needs root (debootstrap)");
  if (!HaveProgram("debootstrap")) return Status::Error("debootstrap not found: apt-get install debootstrap");
  const std::string cache = data_dir + "/cache/debootstrap";
  if (Status s = MakeDirs(cache); !s.ok()) return s;
  const std::string mirror = DebianMirror();
  say("debian: debootstrap " + std::string(kDebianSuite) + " from " + mirror + " (a few minutes)");
  RunResult r = RunCommandLines({"debootstrap", "--variant=minbase", std::string("--include=") + kDebianPackages,
                                 "--cache-dir=" + cache, kDebianSuite, tree, mirror},
                                DebootstrapFilter(say));
  UnmountBelow(tree);
  if (r.exit_code != 0) {
    std::string log = ReadFileOrEmpty(tree + "/debootstrap/debootstrap.log");
    std::string tail = log.size() > 1500 ? log.substr(log.size() - 1500) : log;
    return Status::Error("debootstrap failed (exit " + std::to_string(r.exit_code) + "); the end of its log:\n" +
                         (tail.empty() ? r.out.substr(r.out.size() > 1500 ? r.out.size() - 1500 : 0) : tail) +
                         "\n(if it could not download: is the Debian mirror " + mirror +
                         " reachable? HONEYNET_DEBIAN_MIRROR picks another)");
  }
  say("debian: configuring (root password, sshd, telnet, init)");
  return ConfigureDebianTree(tree);
}

// ---- cache -----------------------------------------------------------------

std::string MetaPath(const std::string& data_dir, const std::string& kind) {
  return data_dir + "/images/" + kind + ".json";
}

ImageInfo InfoFromDisk(const std::string& data_dir, const std::string& kind, std::string* inputs_hash) {
  ImageInfo info;
  info.kind = kind;
  info.path = ImagePath(data_dir, kind);
  struct stat st {};
  if (::stat(info.path.c_str(), &st) == 0) {
    info.size_bytes = static_cast<uint64_t>(st.st_size);
    info.allocated_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
    info.built_unix = st.st_mtim.tv_sec;
  }
  try {
    auto j = nlohmann::json::parse(ReadFileOrEmpty(MetaPath(data_dir, kind)));
    info.built_unix = j.value("built_unix", info.built_unix);
    info.build_seconds = j.value("build_seconds", 0.0);
    if (inputs_hash) *inputs_hash = j.value("inputs_hash", "");
  } catch (const std::exception&) {
    if (inputs_hash) inputs_hash->clear();
  }
  return info;
}

// Holds an exclusive lock on DATA/images/.<kind>.lock (one build at a time).
struct BuildLock {
  int fd = -1;
  ~BuildLock() {
    if (fd >= 0) ::close(fd);
  }
};

Status Lock(const std::string& dir, const std::string& kind, BuildLock* lock, const Progress& say) {
  const std::string p = dir + "/." + kind + ".lock";
  lock->fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock->fd < 0) return Status::Error("cannot open " + p + ": " + std::strerror(errno));
  if (::flock(lock->fd, LOCK_EX | LOCK_NB) != 0) {
    say(kind + ": another build of this image is running; waiting for it");
    if (::flock(lock->fd, LOCK_EX) != 0) return Status::Error("cannot lock " + p + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::string> ImageKinds() { return {"busybox", "debian"}; }

std::string ImagePath(const std::string& data_dir, const std::string& kind) {
  return data_dir + "/images/" + kind + ".img";
}

Result<ImageInfo> BuildImage(const std::string& data_dir, const std::string& kind, bool force, const Progress& say_in) {
  Progress say = say_in ? say_in : [](const std::string&) {};
  auto kinds = ImageKinds();
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    return Status::Error("unknown image kind '" + kind + "': use busybox or debian");
  }
  const std::string dir = data_dir + "/images";
  if (Status s = MakeDirs(dir); !s.ok()) return s;
  BuildLock lock;
  if (Status s = Lock(dir, kind, &lock, say); !s.ok()) return s;

  Hasher h;
  const std::string inputs = kind == "busybox" ? BusyboxInputs(&h) : DebianInputs(&h);
  const std::string img = ImagePath(data_dir, kind);
  std::string cached_hash;
  ImageInfo cached = InfoFromDisk(data_dir, kind, &cached_hash);
  const int64_t now = ::time(nullptr);
  if (Exists(img) && !force) {
    if (cached_hash == h.Hex()) {
      say(kind + ": cached image " + img + " (built " + HumanAge(now - cached.built_unix) +
          " ago, inputs unchanged); --force rebuilds it");
      return cached;
    }
    say(kind + ": inputs changed since the cached image was built (" + (cached_hash.empty() ? "no record" : cached_hash) +
        " -> " + h.Hex() + "); rebuilding");
  } else if (force && Exists(img)) {
    say(kind + ": --force: rebuilding " + img);
  }

  const auto t0 = std::chrono::steady_clock::now();
  // Leftovers of an interrupted build of this kind (we hold the lock).
  if (DIR* d = ::opendir(dir.c_str())) {
    const std::string prefix = ".build-" + kind + "-";
    std::vector<std::string> old;
    while (dirent* e = ::readdir(d)) {
      if (std::string(e->d_name).rfind(prefix, 0) == 0) old.push_back(dir + "/" + e->d_name);
    }
    ::closedir(d);
    for (const auto& o : old) RemoveTree(o);
  }
  const std::string tree = dir + "/.build-" + kind + "-" + std::to_string(::getpid());
  RemoveTree(tree);
  if (Status s = MakeDirs(tree); !s.ok()) return s;
  struct Cleanup {
    std::string t;
    ~Cleanup() { RemoveTree(t); }
  } cleanup{tree};

  say(kind + ": building the root file system in " + tree);
  Status built = kind == "busybox" ? BuildBusyboxTree(tree, say) : BuildDebianTree(data_dir, tree, say);
  if (!built.ok()) return built;

  const char* size = kind == "busybox" ? kBusyboxSize : kDebianSize;
  say(kind + ": making the ext4 image (mke2fs -d, " + size + ")");
  const std::string tmp = img + ".tmp";
  if (Status s = MakeExt4(tree, tmp, size, "hn-" + kind); !s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  ::chmod(tmp.c_str(), 0444);  // the shared base is never written (guests write their COW files)
  // rename: running guests keep the old image (they hold it open).
  if (::rename(tmp.c_str(), img.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::Error("cannot move " + tmp + " to " + img + ": " + std::strerror(errno));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json meta = {{"kind", kind},        {"path", img},          {"built_unix", now},
                         {"build_seconds", secs}, {"inputs_hash", h.Hex()}, {"inputs", inputs}};
  ImageInfo info = InfoFromDisk(data_dir, kind, nullptr);
  meta["size_bytes"] = info.size_bytes;
  meta["allocated_bytes"] = info.allocated_bytes;
  if (Status s = WriteText(MetaPath(data_dir, kind), meta.dump(2) + "\n"); !s.ok()) return s;
  info.built_unix = now;
  info.build_seconds = secs;
  char took[32];
  std::snprintf(took, sizeof took, "%.1f s", secs);
  say(kind + ": built " + img + " (" + HumanBytes(info.size_bytes) + ", " + HumanBytes(info.allocated_bytes) +
      " used) in " + took);
  return info;
}

std::vector<ImageInfo> ListImages(const std::string& data_dir) {
  std::vector<ImageInfo> out;
  for (const auto& kind : ImageKinds()) {
    if (Exists(ImagePath(data_dir, kind))) out.push_back(InfoFromDisk(data_dir, kind, nullptr));
  }
  return out;
}

}  // namespace hn
