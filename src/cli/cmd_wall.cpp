// `honeynet wall`: runs the honeywall in the foreground.
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "common/privilege.h"
#include "config/config.h"
#include "rules/rule_parser.h"
#include "wall/honeywall.h"

namespace hn {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }
// SIGHUP: open events.json and honeywall.log again (after logrotate moved them).
std::atomic<Honeywall*> g_running_wall{nullptr};
void OnHangup(int) {
  if (Honeywall* w = g_running_wall.load()) w->RequestReopen();
}

struct WallArgs {
  std::string config;
  bool check = false;
  bool print_config = false;
} g_wall;


int RunWall() {
  auto cfg = LoadConfig(g_wall.config);
  if (!cfg.ok()) {
    std::cerr << "honeynet wall: " << cfg.status().message() << "\n";
    return 2;
  }
  if (g_wall.print_config) {
    std::cout << DumpConfig(cfg.value());
    return 0;
  }
  // Rules are read now, as root, before the capture user takes over; a
  // broken file stops the start with every error (FILE:LINE: ...).
  RuleLoad rules = LoadRules(cfg.value());
  for (const std::string& w : rules.warnings) std::cerr << "warning: " << w << "\n";
  if (!rules.ok()) {
    for (const std::string& e : rules.errors) std::cerr << e << "\n";
    std::cerr << "honeynet wall: " << rules.errors.size() << " error" << (rules.errors.size() == 1 ? "" : "s")
              << " in the rules; nothing started\n";
    return 2;
  }
  if (g_wall.check) {
    std::cout << g_wall.config << ": ok (" << cfg->honeypots.size() << " honeypot"
              << (cfg->honeypots.size() == 1 ? "" : "s") << ", " << (cfg->mode == Mode::kNat ? "nat" : "bridge")
              << " mode)\n";
    if (!cfg->rules.files.empty()) std::cout << rules.Coverage() << "\n";
    return 0;
  }
  std::unique_ptr<Detector> detector;
  if (!cfg->rules.files.empty()) {
    std::cout << rules.Coverage() << std::endl;
    SortForDetection(&rules.rules);
    auto d = Detector::Build(std::move(rules.rules));
    if (!d.ok()) {
      std::cerr << "honeynet wall: " << d.status().message() << "\n";
      return 2;
    }
    detector = std::move(d.value());
  }
  auto say = [](const std::string& line) { std::cout << line << std::endl; };
  // Least privilege (docs/security.md): the capture directory becomes the
  // capture user's while we are still root; then everything but CAP_NET_RAW and
  // CAP_NET_ADMIN goes (before Open(): the threads it starts never had more);
  // the seccomp allow-list once the sockets and files are open.
  auto seccomp = SeccompModeFromEnv();
  if (!seccomp.ok()) {
    std::cerr << "honeynet wall: " << seccomp.status().message() << "\n";
    return 2;
  }
  auto user = CaptureUser(cfg->capture.user);
  if (!user.ok()) {
    std::cerr << "honeynet wall: " << user.status().message() << "\n";
    return 2;
  }
  if (Status s = PrepareCaptureDir(cfg->capture.dir, user.value()); !s.ok()) {
    std::cerr << "honeynet wall: " << s.message() << "\n";
    return 1;
  }
  // Another user than root may not be let through the directories above
  // capture.dir (the lab's is under DATA/lab, 0750 root): the wall works in
  // it as its current directory, by relative paths.
  Config run_cfg = cfg.value();
  if (user->uid != 0) {
    if (::chdir(run_cfg.capture.dir.c_str()) != 0) {
      std::cerr << "honeynet wall: capture.dir: cannot enter " << run_cfg.capture.dir << ": " << std::strerror(errno)
                << "\n";
      return 1;
    }
    run_cfg.capture.dir = ".";
  }
  if (Status s = DropPrivileges(WallCapabilities(), &user.value()); !s.ok()) {
    std::cerr << "honeynet wall: " << s.message() << "\n";
    return 1;
  }
  auto wall = Honeywall::Open(run_cfg, say, std::move(detector));
  if (!wall.ok()) {
    std::cerr << "honeynet wall: " << wall.status().message() << "\n";
    return 1;
  }
  if (Status s = InstallSeccomp(WallSyscalls(), seccomp.value()); !s.ok()) {
    std::cerr << "honeynet wall: " << s.message() << "\n";
    return 1;
  }
  const std::string cap_eff = ProcStatusField("CapEff");
  say("privileges: capabilities kept " + CapabilityNames(std::strtoull(cap_eff.c_str(), nullptr, 16)) +
      "; no_new_privs " + (ProcStatusField("NoNewPrivs") == "1" ? "on" : "OFF") + "; seccomp " +
      (seccomp.value() == SeccompMode::kKill ? "allow-list on (unlisted calls kill the process)"
       : seccomp.value() == SeccompMode::kLog ? "allow-list in LOG mode (HONEYNET_SECCOMP=log: unlisted calls only logged)"
                                              : "OFF (HONEYNET_SECCOMP=off)") +
      "; capture files owned by " + user->name + " (0640, directories 0750)");
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  g_running_wall.store(wall.value().get());
  struct sigaction hup {};
  hup.sa_handler = OnHangup;
  sigemptyset(&hup.sa_mask);
  hup.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &hup, nullptr);

  const Config& c = cfg.value();
  Status s = wall.value()->Run(g_stop, [&] {
    std::cout << "honeywall ready: " << (c.mode == Mode::kNat ? "nat" : "bridge") << " mode, inside "
              << c.inside.interface << ", outside " << c.outside.interface << ", " << c.honeypots.size()
              << " honeypot" << (c.honeypots.size() == 1 ? "" : "s") << ", capture in " << c.capture.dir
              << std::endl;
  });
  g_running_wall.store(nullptr);  // SIGHUP from here on: nothing to reopen
  if (!s.ok()) {
    std::cerr << "honeynet wall: " << s.message() << "\n";
    return 1;
  }
  std::cout << wall.value()->Summary() << std::endl;
  return 0;
}

}  // namespace

void AddWallCommand(CLI::App& app) {
  CLI::App* w = app.add_subcommand("wall", "Run the honeywall in the foreground (Data Control + Data Capture)");
  w->footer(
      "Forwards frames between the inside (honeypot) and outside ports in bridge or nat mode, limits\n"
      "the honeypots' new outbound connections per protocol and window, and records every frame\n"
      "(pcap per port), every connection (events.json, honeywall.log) and the budgets (budgets.json)\n"
      "in capture.dir. Prints a line containing 'ready' once it forwards; SIGINT or SIGTERM stop it\n"
      "cleanly (files flushed, exit 0). Needs root (AF_PACKET sockets, ethtool); once its sockets and files\n"
      "are open it keeps only CAP_NET_RAW and CAP_NET_ADMIN, runs as capture.user (default: user 'honeynet'\n"
      "when it exists, else root), sets no_new_privs and a seccomp allow-list (HONEYNET_SECCOMP=log or off\n"
      "to debug a missed system call; docs/security.md). While it runs, an nftables table of its own\n"
      "(netdev honeynet_wall_PID) drops what arrives on the two ports after the wall has read it, so the\n"
      "host's own network stack never sees those frames; the kernel removes it when the wall exits.\n"
      "Exit codes: 0 stopped cleanly, 1 could not start or failed, 2 bad config.\n"
      "Config keys: docs/config.md; examples: examples/bridge.toml, examples/nat.toml.");
  w->add_option("-c,--config", g_wall.config, "TOML config file (see docs/config.md, examples/)")
      ->required()
      ->check(CLI::ExistingFile);
  w->add_flag("--check", g_wall.check, "Check the config file and exit (0 when valid)");
  w->add_flag("--print-config", g_wall.print_config, "Print the config with every default filled in, and exit");
  w->callback([] { SetRun(RunWall); });
}

}  // namespace hn
