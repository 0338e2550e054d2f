// The honeypot UML kernel: build, cache, choice (see kernel.h).
#include "common/fs.h"
#include "lab/kernel.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "lab/run.h"

namespace hn {
namespace {

using json = nlohmann::json;

// Bump when the build steps change what comes out (make flags, KBUILD_* values).
constexpr int kRecipeVersion = 1;
constexpr const char* kFragmentName = "config-fragment";
constexpr const char* kPatchDirName = "patches";
constexpr int kDefaultCcLines = 900;  // "CC" lines of a build, before one was measured
constexpr const char* kBuildUser = "debian-kernel";
constexpr const char* kBuildHost = "lists.debian.org";

std::string Errno() { return std::strerror(errno); }

bool IsFile(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool IsDir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::optional<std::string> ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}



// rm -rf of a directory we made under DATA/kernels (never anything else).
void RemoveTree(const std::string& dir, const std::string& kernels_dir) {
  if (dir.rfind(kernels_dir + "/", 0) != 0 || dir.find("/../") != std::string::npos) return;
  if (!IsDir(dir)) return;
  RunCommand({"rm", "-rf", "--one-file-system", dir});
}

// Moves a tree we made under DATA/kernels aside and deletes it in a detached
// process: removing a kernel tree (~70,000 files) took 2-5 minutes on a busy disk.
void RemoveTreeInBackground(const std::string& dir, const std::string& kernels_dir) {
  if (dir.rfind(kernels_dir + "/", 0) != 0 || !IsDir(dir)) return;
  std::string trash = dir;
  if (dir.substr(dir.rfind('/') + 1).rfind(".trash-", 0) != 0) {
    trash = kernels_dir + "/.trash-" + dir.substr(dir.rfind('/') + 1) + "-" + std::to_string(::getpid());
    if (::rename(dir.c_str(), trash.c_str()) != 0) {
      RemoveTree(dir, kernels_dir);
      return;
    }
  }
  pid_t a = ::fork();
  if (a == 0) {
    ::setsid();
    if (::fork() == 0) {
      int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      ::close_range(3, ~0U, 0);
      ::execlp("rm", "rm", "-rf", "--one-file-system", trash.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::_exit(0);
  }
  if (a > 0) {
    while (::waitpid(a, nullptr, 0) < 0 && errno == EINTR) {
    }
  } else {
    RemoveTree(trash, kernels_dir);
  }
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') i++;
  return s.substr(i);
}

std::string Seconds(double s) {
  char buf[32];
  if (s >= 120) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

// ---------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), for the cache hash.

class Sha256 {
 public:
  void Update(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    total_ += n;
    while (n > 0) {
      size_t take = std::min(n, sizeof buf_ - used_);
      std::memcpy(buf_ + used_, p, take);
      used_ += take;
      p += take;
      n -= take;
      if (used_ == sizeof buf_) {
        Block(buf_);
        used_ = 0;
      }
    }
  }
  std::string HexDigest() {
    const uint64_t bits = total_ * 8;
    const uint8_t one = 0x80, zero = 0;
    Update(&one, 1);
    while (used_ != 56) Update(&zero, 1);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = uint8_t(bits >> (56 - 8 * i));
    Update(len, 8);
    std::string out;
    char hex[9];
    for (uint32_t v : h_) {
      std::snprintf(hex, sizeof hex, "%08x", v);
      out += hex;
    }
    return out;
  }

 private:
  static uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void Block(const uint8_t* b) {
    static constexpr uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; i++) {
      w[i] = uint32_t(b[4 * i]) << 24 | uint32_t(b[4 * i + 1]) << 16 | uint32_t(b[4 * i + 2]) << 8 | b[4 * i + 3];
    }
    for (int i = 16; i < 64; i++) {
      uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h_[0], bb = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; i++) {
      uint32_t t1 = h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = bb;
      bb = a;
      a = t1 + t2;
    }
    h_[0] += a; h_[1] += bb; h_[2] += c; h_[3] += d;
    h_[4] += e; h_[5] += f; h_[6] += g; h_[7] += h;
  }

  uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t buf_[64] = {};
  size_t used_ = 0;
  uint64_t total_ = 0;
};

// ---------------------------------------------------------------------------
// Inputs and cache entries

std::string SelfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string p(buf, size_t(n));
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? std::string() : p.substr(0, slash);
}

bool LooksLikeKernelDir(const std::string& d) {
  return IsFile(d + "/" + kFragmentName) && IsDir(d + "/" + kPatchDirName);
}

std::string SourceVersion(const std::string& tarball) {
  RunResult r = RunCommand({"dpkg-query", "-W", "-f=${Version}", kKernelSourcePackage});
  if (r.exit_code == 0 && !Trim(r.out).empty()) return Trim(r.out);
  struct stat st {};
  ::stat(tarball.c_str(), &st);
  return "size:" + std::to_string(st.st_size);
}

std::string EntryDir(const std::string& data_dir, const std::string& hash) {
  return KernelsDir(data_dir) + "/" + hash;
}

}  // namespace

json KernelInfoJson(const KernelInfo& k) {
  return {{"hash", k.hash},
          {"path", k.path},
          {"release", k.release},
          {"source_version", k.source_version},
          {"patches", k.patches},
          {"features", k.features},
          {"built_unix", k.built_unix},
          {"build_seconds", k.build_seconds},
          {"jobs", k.jobs}};
}

namespace {

std::optional<KernelInfo> InfoFromDir(const std::string& dir) {
  auto text = ReadFile(dir + "/kernel.json");
  if (!text || !IsFile(dir + "/linux")) return std::nullopt;
  try {
    json j = json::parse(*text);
    KernelInfo k;
    k.hash = j.value("hash", "");
    k.path = dir + "/linux";
    k.release = j.value("release", "");
    k.source_version = j.value("source_version", "");
    k.patches = j.value("patches", std::vector<std::string>{});
    k.features = j.value("features", std::vector<std::string>{});
    k.built_unix = j.value("built_unix", int64_t(0));
    k.build_seconds = j.value("build_seconds", 0.0);
    k.jobs = j.value("jobs", 0);
    return k;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Serializes builds in one data directory.
class BuildLock {
 public:
  ~BuildLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Take(const std::string& dir, const KernelProgress& say) {
    const std::string path = dir + "/.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::Error("cannot open " + path + ": " + Errno());
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return Status::Ok();
    say("another kernel build runs in " + dir + "; waiting for it");
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) return Status::Error("cannot lock " + path + ": " + Errno());
    }
    return Status::Ok();
  }

 private:
  int fd_ = -1;
};

// The CC lines of the last build, for the progress estimate.
int ExpectedCcLines(const std::string& kernels_dir) {
  auto text = ReadFile(kernels_dir + "/last-build.json");
  if (!text) return kDefaultCcLines;
  try {
    int n = json::parse(*text).value("cc_lines", 0);
    return n > 100 ? n : kDefaultCcLines;
  } catch (const std::exception&) {
    return kDefaultCcLines;
  }
}

// `date`-style time of the source tarball: a fixed build timestamp, so that
// rebuilds are identical and `uname -v` names no real build time.
std::string BuildTimestamp(const std::string& tarball) {
  struct stat st {};
  time_t t = ::stat(tarball.c_str(), &st) == 0 ? st.st_mtim.tv_sec : 0;
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S UTC %Y", &tm);
  return buf;
}

// Lines of the fragment that are settings ("CONFIG_X=..." or "# CONFIG_X is not set").
std::vector<std::string> FragmentSettings(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) {
    l = Trim(l);
    if (l.rfind("CONFIG_", 0) == 0 || (l.rfind("# CONFIG_", 0) == 0 && l.find(" is not set") != std::string::npos)) {
      out.push_back(l);
    }
  }
  return out;
}

// Settings of the fragment that olddefconfig did not keep (a dependency missing).
std::vector<std::string> MissingSettings(const std::string& fragment, const std::string& config) {
  std::vector<std::string> missing;
  for (const std::string& s : FragmentSettings(fragment)) {
    bool off = s[0] == '#';
    if (off) {
      // "# CONFIG_X is not set": fine when the symbol is absent or not set.
      std::string sym = s.substr(2, s.find(' ', 2) - 2);
      if (config.find("\n" + sym + "=") == std::string::npos) continue;
      missing.push_back(s);
    } else if (config.find("\n" + s + "\n") == std::string::npos) {
      missing.push_back(s);
    }
  }
  return missing;
}

struct Env {
  std::vector<std::string> vars;
  std::string cc = "gcc";
};

std::vector<std::string> Make(const Env& env, const std::string& src, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"env"};
  argv.insert(argv.end(), env.vars.begin(), env.vars.end());
  argv.insert(argv.end(), {"make", "-C", src, "ARCH=um", "CC=" + env.cc});
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Status RunStep(const std::vector<std::string>& argv, const std::string& what, std::ofstream& log) {
  log << "\n$";
  for (const auto& a : argv) log << " " << a;
  log << "\n";
  RunResult r = RunCommandLines(argv, [&](const std::string& l) { log << l << "\n"; });
  log.flush();
  if (r.exit_code != 0) {
    std::string tail = r.out.size() > 3000 ? r.out.substr(r.out.size() - 3000) : r.out;
    return Status::Error(what + " failed (exit " + std::to_string(r.exit_code) + "):\n" + tail);
  }
  return Status::Ok();
}

}  // namespace

std::string Sha256Hex(const std::string& data) {
  Sha256 s;
  s.Update(data.data(), data.size());
  return s.HexDigest();
}

std::string KernelsDir(const std::string& data_dir) { return data_dir + "/kernels"; }

Result<std::string> FindKernelDir() {
  std::vector<std::string> tried;
  if (const char* env = std::getenv("HONEYNET_KERNEL_DIR"); env && *env) {
    if (LooksLikeKernelDir(env)) return std::string(env);
    return Status::Error(std::string("HONEYNET_KERNEL_DIR=") + env + " has no " + kFragmentName + " and " +
                         kPatchDirName + "/");
  }
  const std::string self = SelfDir();
  if (!self.empty()) {
    tried.push_back(self + "/../kernel");
    tried.push_back(self + "/../../kernel");
  }
  tried.push_back("/usr/local/share/honeynet/kernel");
  tried.push_back("/usr/share/honeynet/kernel");
  char cwd[4096];
  if (::getcwd(cwd, sizeof cwd)) tried.push_back(std::string(cwd) + "/kernel");
  for (const auto& d : tried) {
    if (LooksLikeKernelDir(d)) {
      char real[4096];
      return std::string(::realpath(d.c_str(), real) ? real : d.c_str());
    }
  }
  std::string list;
  for (const auto& d : tried) list += "\n  " + d;
  return Status::Error("cannot find the project's kernel/ directory (patches and config-fragment); tried:" + list +
                       "\nset HONEYNET_KERNEL_DIR to it");
}

Result<KernelInputs> ReadKernelInputs() {
  auto dir = FindKernelDir();
  if (!dir.ok()) return dir.status();
  KernelInputs in;
  in.kernel_dir = dir.value();
  in.tarball = kKernelSourceTarball;
  if (!IsFile(in.tarball)) {
    return Status::Error(in.tarball + " not found: apt-get install " + kKernelSourcePackage +
                         " (or run scripts/install-deps.sh)");
  }
  in.source_version = SourceVersion(in.tarball);
  const std::string pdir = in.kernel_dir + "/" + kPatchDirName;
  if (DIR* d = ::opendir(pdir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 6 && n.compare(n.size() - 6, 6, ".patch") == 0) in.patches.push_back(pdir + "/" + n);
    }
    ::closedir(d);
  }
  std::sort(in.patches.begin(), in.patches.end());
  auto fragment = ReadFile(in.kernel_dir + "/" + kFragmentName);
  if (!fragment) return Status::Error("cannot read " + in.kernel_dir + "/" + kFragmentName);
  std::string all = "honeynet-uml-kernel recipe " + std::to_string(kRecipeVersion) + "\n";
  all += "source " + std::string(kKernelSourcePackage) + " " + in.source_version + "\n";
  for (const auto& p : in.patches) {
    auto text = ReadFile(p);
    if (!text) return Status::Error("cannot read " + p);
    all += "patch " + p.substr(p.rfind('/') + 1) + " " + std::to_string(text->size()) + "\n" + *text;
  }
  all += "fragment " + std::to_string(fragment->size()) + "\n" + *fragment;
  in.hash_full = Sha256Hex(all);
  in.hash = in.hash_full.substr(0, 16);
  return in;
}

std::vector<KernelInfo> ListKernels(const std::string& data_dir) {
  std::vector<KernelInfo> out;
  const std::string dir = KernelsDir(data_dir);
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() != 16 || n.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
      if (auto k = InfoFromDir(dir + "/" + n)) out.push_back(*k);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end(),
            [](const KernelInfo& a, const KernelInfo& b) { return a.built_unix > b.built_unix; });
  return out;
}

std::optional<KernelInfo> KernelInfoFor(const std::string& kernel_path) {
  size_t slash = kernel_path.rfind('/');
  if (slash == std::string::npos || kernel_path.substr(slash + 1) != "linux") return std::nullopt;
  return InfoFromDir(kernel_path.substr(0, slash));
}

bool KernelHasFeature(const std::string& kernel_path, const std::string& feature) {
  auto k = KernelInfoFor(kernel_path);
  return k && std::find(k->features.begin(), k->features.end(), feature) != k->features.end();
}

LabKernel ChooseLabKernel(const std::string& data_dir) {
  LabKernel lk;
  auto fill = [&](const KernelInfo& k) {
    lk.path = k.path;
    lk.tty_log = std::find(k.features.begin(), k.features.end(), "tty_log") != k.features.end();
    lk.hostfs = std::find(k.features.begin(), k.features.end(), "no_hostfs") == k.features.end();
  };
  auto in = ReadKernelInputs();
  if (in.ok()) {
    if (auto k = InfoFromDir(EntryDir(data_dir, in->hash))) {
      fill(*k);
      lk.note = "project kernel " + k->release + " (" + k->hash + "): TTY capture on";
      if (!lk.tty_log) lk.note = "project kernel " + k->hash + " has no TTY capture";
      return lk;
    }
  }
  auto all = ListKernels(data_dir);
  if (!all.empty()) {
    fill(all.front());
    lk.note = "project kernel " + all.front().hash + " (built from other patches or config than the current " +
              (in.ok() ? in->hash : std::string("ones")) + "; `honeynet kernel build` makes the current one)" +
              (lk.tty_log ? ": TTY capture on" : ": no TTY capture");
    return lk;
  }
  lk.note = "TTY capture is off: run `honeynet kernel build` (guests boot Debian's " + std::string(kStockUmlKernel) +
            ", which cannot log the attackers' terminals)";
  return lk;
}

Result<KernelInfo> BuildKernel(const KernelBuildOptions& opt, const KernelProgress& say_in) {
  KernelProgress say = say_in ? say_in : [](const std::string&) {};
  auto in = ReadKernelInputs();
  if (!in.ok()) return in.status();
  const std::string kdir = KernelsDir(opt.data_dir);
  if (Status s = MakeDirs(kdir); !s.ok()) return s;
  BuildLock lock;
  if (Status s = lock.Take(kdir, say); !s.ok()) return s;

  const std::string entry = EntryDir(opt.data_dir, in->hash);
  if (auto cached = InfoFromDir(entry); cached && !opt.force) {
    say("kernel " + in->hash + ": cached " + cached->path + " (" + cached->release + ", built in " +
        Seconds(cached->build_seconds) + "); --force rebuilds it");
    return *cached;
  }
  for (const char* tool : {"make", "gcc", "flex", "bison", "bc", "tar", "xz", "patch", "perl"}) {
    if (!HaveProgram(tool)) {
      return Status::Error(std::string("building the kernel needs `") + tool +
                           "`: run scripts/install-deps.sh (apt-get install build-essential flex bison bc "
                           "xz-utils patch libelf-dev)");
    }
  }
  const int jobs = opt.jobs > 0 ? opt.jobs : std::max(1, int(std::thread::hardware_concurrency()));
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

  // Leftover trees of interrupted builds (we hold the lock), and trees a
  // background removal did not finish.
  if (DIR* d = ::opendir(kdir.c_str())) {
    std::vector<std::string> old;
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.rfind("build-", 0) == 0 || n.rfind(".trash-", 0) == 0 || n.rfind(".new-", 0) == 0) {
        old.push_back(kdir + "/" + n);
      }
    }
    ::closedir(d);
    for (const auto& o : old) {
      say("removing (in the background) the tree of an earlier build: " + o);
      RemoveTreeInBackground(o, kdir);
    }
  }
  const std::string tree = kdir + "/build-" + in->hash;
  const std::string src = tree + "/linux";
  if (Status s = MakeDirs(src); !s.ok()) return s;
  const std::string log_path = tree + "/build.log";
  std::ofstream log(log_path);
  say("kernel " + in->hash + ": building in " + tree + " with -j" + std::to_string(jobs) + " (log: " + log_path +
      "); takes 10-20 minutes on 2 cores, less with a warm ccache");

  say("[1/5] unpacking " + in->tarball + " (" + kKernelSourcePackage + " " + in->source_version + ")");
  if (Status s = RunStep({"tar", "-xf", in->tarball, "-C", src, "--strip-components=1"}, "unpacking", log); !s.ok()) {
    return s;
  }
  say("[2/5] applying " + std::to_string(in->patches.size()) + " patch(es)");
  for (const auto& p : in->patches) {
    say("  " + p.substr(p.rfind('/') + 1));
    if (Status s = RunStep({"patch", "-p1", "-N", "--batch", "-d", src, "-i", p}, "patch " + p, log); !s.ok()) {
      return s;
    }
  }

  Env env;
  env.vars = {"KBUILD_BUILD_USER=" + std::string(kBuildUser), "KBUILD_BUILD_HOST=" + std::string(kBuildHost),
              "KBUILD_BUILD_TIMESTAMP=" + BuildTimestamp(in->tarball), "KBUILD_BUILD_VERSION=1", "LC_ALL=C"};
  if (HaveProgram("ccache")) {
    const std::string cache = kdir + "/ccache";
    if (Status s = MakeDirs(cache); !s.ok()) return s;
    env.cc = "ccache gcc";
    env.vars.insert(env.vars.end(), {"CCACHE_DIR=" + cache, "CCACHE_BASEDIR=" + src, "CCACHE_NOHASHDIR=1",
                                     "CCACHE_MAXSIZE=3G"});
  }
  say("[3/5] configuring: defconfig + kernel/" + std::string(kFragmentName) + ", olddefconfig");
  if (Status s = RunStep(Make(env, src, {"defconfig"}), "make defconfig", log); !s.ok()) return s;
  auto fragment = ReadFile(in->kernel_dir + "/" + kFragmentName);
  auto config = ReadFile(src + "/.config");
  if (!fragment || !config) return Status::Error("cannot read the fragment or " + src + "/.config");
  if (Status s = WriteFileAtomic(src + "/.config", *config + "\n# honeynet kernel/config-fragment\n" + *fragment); !s.ok()) {
    return s;
  }
  if (Status s = RunStep(Make(env, src, {"olddefconfig"}), "make olddefconfig", log); !s.ok()) return s;
  config = ReadFile(src + "/.config");
  if (!config) return Status::Error("cannot read " + src + "/.config");
  if (auto missing = MissingSettings(*fragment, "\n" + *config); !missing.empty()) {
    std::string m;
    for (const auto& x : missing) m += "\n  " + x;
    say("  warning: these settings of the fragment did not survive olddefconfig (a dependency is off):" + m);
  }

  const int expect = ExpectedCcLines(kdir);
  say("[4/5] compiling (make ARCH=um -j" + std::to_string(jobs) + " linux" +
      (env.cc == "gcc" ? "" : ", ccache") + "), about " + std::to_string(expect) + " files");
  int cc = 0, shown_pct = -1;
  auto last_line = std::chrono::steady_clock::now();
  std::vector<std::string> argv = Make(env, src, {"-j" + std::to_string(jobs), "linux"});
  log << "\n$ make ... linux\n";
  RunResult r = RunCommandLines(argv, [&](const std::string& l) {
    log << l << "\n";
    if (l.rfind("  CC ", 0) == 0) cc++;
    const int pct = std::min(99, cc * 100 / expect);
    const auto now = std::chrono::steady_clock::now();
    if ((pct / 5 != shown_pct / 5 && pct > shown_pct) || now - last_line > std::chrono::seconds(60)) {
      shown_pct = pct;
      last_line = now;
      say("  " + std::to_string(pct) + "% (" + std::to_string(cc) + " files compiled, " + Seconds(elapsed()) + ")");
    }
    if (l.rfind("  LD      linux", 0) == 0) say("  linking linux");
  });
  log.flush();
  if (r.exit_code != 0 || !IsFile(src + "/linux")) {
    std::string tail = r.out.size() > 4000 ? r.out.substr(r.out.size() - 4000) : r.out;
    return Status::Error("make ARCH=um linux failed (exit " + std::to_string(r.exit_code) + "); the tree stays in " +
                         tree + " and the full log in " + log_path + ":\n" + tail);
  }

  say("[5/5] checking and caching the kernel");
  KernelInfo k;
  k.hash = in->hash;
  k.source_version = in->source_version;
  for (const auto& p : in->patches) k.patches.push_back(p.substr(p.rfind('/') + 1));
  k.jobs = jobs;
  RunResult rel = RunCommand(Make(env, src, {"-s", "kernelrelease"}));
  k.release = rel.exit_code == 0 ? Trim(rel.out) : "";
  if (size_t nl = k.release.rfind('\n'); nl != std::string::npos) k.release = k.release.substr(nl + 1);
  RunResult help = RunCommand({src + "/linux", "--help"});
  if (help.out.find("tty_log_fd=") != std::string::npos) k.features.push_back("tty_log");
  for (const auto& p : k.patches) {
    if (p.find("hide-uml") != std::string::npos) k.features.push_back("hide_uml");
  }
  if (config->find("# CONFIG_HOSTFS is not set") != std::string::npos) k.features.push_back("no_hostfs");
  if (std::find(k.features.begin(), k.features.end(), "tty_log") == k.features.end()) {
    say("  warning: this kernel does not take tty_log_fd= (`linux --help` does not list it): no TTY capture");
  }

  const std::string tmp_entry = kdir + "/.new-" + in->hash;
  RemoveTree(tmp_entry, kdir);
  if (Status s = MakeDirs(tmp_entry); !s.ok()) return s;
  if (Status s = RunStep({"cp", src + "/linux", tmp_entry + "/linux"}, "copying the kernel", log); !s.ok()) return s;
  ::chmod((tmp_entry + "/linux").c_str(), 0755);
  RunCommand({"cp", src + "/.config", tmp_entry + "/config"});
  k.built_unix = ::time(nullptr);
  k.build_seconds = elapsed();
  k.path = entry + "/linux";
  if (Status s = WriteFileAtomic(tmp_entry + "/kernel.json", KernelInfoJson(k).dump(2) + "\n"); !s.ok()) return s;
  RemoveTree(entry, kdir);  // --force over an existing entry
  if (::rename(tmp_entry.c_str(), entry.c_str()) != 0) {
    return Status::Error("cannot move " + tmp_entry + " to " + entry + ": " + Errno());
  }
  (void)WriteFileAtomic(kdir + "/last-build.json",
                  json{{"cc_lines", cc}, {"hash", k.hash}, {"seconds", k.build_seconds}}.dump() + "\n");
  if (!opt.keep_tree) RemoveTreeInBackground(tree, kdir);
  std::string features;
  for (const auto& x : k.features) features += (features.empty() ? "" : ", ") + x;
  say("kernel " + k.hash + " built in " + Seconds(k.build_seconds) + " (" + std::to_string(cc) + " files compiled): " +
      k.path + " (" + k.release + "; " + (features.empty() ? std::string("no features") : features) + ")" +
      (opt.keep_tree ? "; the tree stays in " + tree : "; its build tree is removed in the background"));
  return k;
}

}  // namespace hn
