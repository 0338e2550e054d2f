// `honeynet kernel build|status`: the project's honeypot UML kernel (TTY
// capture, fewer UML tells), built from Debian's linux-source-6.1 and cached
// under DATA/kernels/<hash>/ (src/lab/kernel.h, docs/kernel.md).
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "lab/kernel.h"

namespace hn {
namespace {

struct KernelArgs {
  std::string data_dir = "/var/lib/honeynet";
  bool force = false;
  bool keep_tree = false;
  bool json = false;
  int jobs = 0;
} g_kernel;

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "-" : out;
}

int RunKernelBuild() {
  KernelBuildOptions opt;
  opt.data_dir = g_kernel.data_dir;
  opt.force = g_kernel.force;
  opt.jobs = g_kernel.jobs;
  opt.keep_tree = g_kernel.keep_tree;
  auto r = BuildKernel(opt, [](const std::string& line) { std::cout << line << std::endl; });
  if (!r.ok()) {
    std::cerr << "honeynet kernel build: " << r.status().message() << "\n";
    return 1;
  }
  return 0;
}

int RunKernelStatus() {
  auto in = ReadKernelInputs();
  auto kernels = ListKernels(g_kernel.data_dir);
  LabKernel lab = ChooseLabKernel(g_kernel.data_dir);
  bool current_cached = false;
  if (in.ok()) {
    for (const auto& k : kernels) current_cached = current_cached || k.hash == in->hash;
  }
  if (g_kernel.json) {
    nlohmann::json j;
    j["data_dir"] = g_kernel.data_dir;
    if (in.ok()) {
      j["inputs"] = {{"hash", in->hash},          {"sha256", in->hash_full},   {"kernel_dir", in->kernel_dir},
                     {"tarball", in->tarball},    {"source_version", in->source_version},
                     {"patches", in->patches}};
      j["path"] = KernelsDir(g_kernel.data_dir) + "/" + in->hash + "/linux";
    } else {
      j["inputs_error"] = in.status().message();
    }
    j["cached"] = current_cached;
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& k : kernels) {
      nlohmann::json e = KernelInfoJson(k);
      e["current"] = in.ok() && k.hash == in->hash;
      arr.push_back(std::move(e));
    }
    j["kernels"] = arr;
    j["lab_kernel"] = {{"path", lab.path}, {"tty_log", lab.tty_log}, {"note", lab.note}};
    std::cout << j.dump(2) << std::endl;
    return current_cached ? 0 : 3;
  }
  if (in.ok()) {
    std::cout << "inputs: " << in->hash << " (" << kKernelSourcePackage << " " << in->source_version << ", "
              << in->patches.size() << " patches, " << in->kernel_dir << ")\n";
    std::cout << (current_cached ? "cached: " + KernelsDir(g_kernel.data_dir) + "/" + in->hash + "/linux"
                                 : std::string("not built: `honeynet kernel build` (10-20 minutes on 2 cores)"))
              << "\n";
  } else {
    std::cout << "inputs: " << in.status().message() << "\n";
  }
  std::cout << "guests boot: " << lab.path << "\n  " << lab.note << "\n";
  if (!kernels.empty()) {
    std::printf("\n%-16s %-10s %-8s %-9s %s\n", "HASH", "RELEASE", "BUILD", "AGE", "FEATURES");
    const int64_t now = ::time(nullptr);
    for (const auto& k : kernels) {
      char build[32], age[32];
      std::snprintf(build, sizeof build, "%dm%02ds", int(k.build_seconds) / 60, int(k.build_seconds) % 60);
      const int64_t a = now - k.built_unix;
      if (a < 7200) std::snprintf(age, sizeof age, "%lldm", static_cast<long long>(a / 60));
      else if (a < 172800) std::snprintf(age, sizeof age, "%lldh", static_cast<long long>(a / 3600));
      else std::snprintf(age, sizeof age, "%lldd", static_cast<long long>(a / 86400));
      std::printf("%-16s %-10s %-8s %-9s %s%s\n", k.hash.c_str(), k.release.c_str(), build, age,
                  Join(k.features).c_str(), in.ok() && k.hash == in->hash ? "  (current)" : "");
    }
  }
  return current_cached ? 0 : 3;
}

}  // namespace

void AddKernelCommand(CLI::App& app) {
  CLI::App* kernel = app.add_subcommand(
      "kernel", "The honeypot UML kernel with TTY capture (built from linux-source-6.1, cached under DATA/kernels)");
  kernel->require_subcommand(1);
  CLI::App* build = kernel->add_subcommand(
      "build",
      "Unpack /usr/src/linux-source-6.1.tar.xz, apply kernel/patches, configure (defconfig + kernel/config-fragment) "
      "and build `linux` for ARCH=um (10-20 minutes on 2 cores; ccache makes rebuilds faster). A kernel cached for "
      "the same inputs is reused unless --force is given. The lab boots it when present.");
  build->add_flag("--force", g_kernel.force, "Rebuild even when the cache has a kernel for these inputs");
  build->add_option("--jobs,-j", g_kernel.jobs, "Parallel compile jobs (default: the number of CPUs)");
  build->add_flag("--keep-tree", g_kernel.keep_tree, "Keep the build tree DATA/kernels/build-<hash>/ (1-2 GB)");
  build->add_option("--data-dir", g_kernel.data_dir, "Data directory")->capture_default_str();
  build->callback([] { SetRun(RunKernelBuild); });
  CLI::App* status = kernel->add_subcommand(
      "status", "The inputs' hash, whether that kernel is built (exit 0) or not (exit 3), the cached kernels, and "
                "which kernel guests boot");
  status->add_option("--data-dir", g_kernel.data_dir, "Data directory")->capture_default_str();
  status->add_flag("--json", g_kernel.json, "JSON output for scripts");
  status->callback([] { SetRun(RunKernelStatus); });
}

}  // namespace hn
