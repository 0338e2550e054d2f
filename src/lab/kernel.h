// The honeypot UML kernel: the project's own User-Mode Linux kernel, built
// from Debian's linux-source-6.1 with the patches in kernel/patches/ (TTY
// capture to a host file descriptor, fewer UML tells) and the options in
// kernel/config-fragment, cached under DATA/kernels/<hash>/linux where hash is
// the SHA-256 of the inputs (source package version, patches, fragment, build
// recipe). Guests boot it when it is there; Debian's /usr/bin/linux stays the
// fallback (no TTY capture). See docs/kernel.md.
//
// Who may call: the CLI (`honeynet kernel build|status`) and the lab (which
// kernel a guest boots).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace hn {

inline constexpr const char* kStockUmlKernel = "/usr/bin/linux";
inline constexpr const char* kKernelSourceTarball = "/usr/src/linux-source-6.1.tar.xz";
inline constexpr const char* kKernelSourcePackage = "linux-source-6.1";

// What a build is made of; the hash names the cache entry.
struct KernelInputs {
  std::string kernel_dir;            // the project's kernel/ directory (patches, fragment)
  std::string tarball;               // kKernelSourceTarball
  std::string source_version;        // Debian version of kKernelSourcePackage (or the tarball's size)
  std::vector<std::string> patches;  // kernel/patches/*.patch, in the order applied
  std::string hash;                  // first 16 hex digits of the SHA-256 of everything above
  std::string hash_full;             // all 64
};

// A built kernel in the cache (DATA/kernels/<hash>/, described by kernel.json).
struct KernelInfo {
  std::string hash;
  std::string path;                  // DATA/kernels/<hash>/linux
  std::string release;               // `make kernelrelease`, e.g. 6.1.192
  std::string source_version;
  std::vector<std::string> patches;  // file names
  std::vector<std::string> features; // "tty_log", "hide_uml", "no_hostfs"
  int64_t built_unix = 0;
  double build_seconds = 0;
  int jobs = 0;
};

// A kernel's description as JSON (kernel.json in its cache entry; `kernel status --json`).
nlohmann::json KernelInfoJson(const KernelInfo& k);

struct KernelBuildOptions {
  std::string data_dir = "/var/lib/honeynet";
  bool force = false;   // rebuild even when the cache has this hash
  int jobs = 0;         // make -jN; 0: the number of CPUs
  bool keep_tree = false;  // keep DATA/kernels/build-<hash>/ after a successful build
};

using KernelProgress = std::function<void(const std::string&)>;

// DATA/kernels
std::string KernelsDir(const std::string& data_dir);
// The kernel/ directory: $HONEYNET_KERNEL_DIR, else next to the honeynet
// binary (../kernel, ../../kernel: a build directory of the source tree),
// else /usr/local/share/honeynet/kernel, /usr/share/honeynet/kernel, ./kernel.
Result<std::string> FindKernelDir();
// Finds kernel/, reads the patches and fragment, hashes them with the source version.
Result<KernelInputs> ReadKernelInputs();
// Unpacks, patches, configures and builds the kernel (progress lines to say),
// or returns the cached one for the same inputs unless force. One build per
// data directory at a time (a lock). Uses ccache (DATA/kernels/ccache) when
// installed.
Result<KernelInfo> BuildKernel(const KernelBuildOptions& opt, const KernelProgress& say);
// Every kernel in the cache, newest first.
std::vector<KernelInfo> ListKernels(const std::string& data_dir);
// The cache entry of a kernel binary path (DATA/kernels/<hash>/linux), if it is one.
std::optional<KernelInfo> KernelInfoFor(const std::string& kernel_path);
// True when the kernel at this path is a project kernel with that feature.
bool KernelHasFeature(const std::string& kernel_path, const std::string& feature);

// The kernel the lab boots its guests with.
struct LabKernel {
  std::string path = kStockUmlKernel;
  bool tty_log = false;  // tty_log_fd= works: TTY capture on
  bool hostfs = true;    // the kernel has hostfs (guests need hostfs=<missing dir>)
  std::string note;      // why this one (a warning when TTY capture is off)
};
// The project kernel for the current inputs when cached; else the newest
// cached project kernel (with a note that it is from other inputs); else the
// stock kernel with the warning "TTY capture is off: run `honeynet kernel build`".
LabKernel ChooseLabKernel(const std::string& data_dir);

// SHA-256 of data as 64 hex digits (exposed for tests).
std::string Sha256Hex(const std::string& data);

}  // namespace hn
