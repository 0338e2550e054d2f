// `honeynet service install|uninstall|show`: the lab as a systemd service
// (lab/service.h, docs/service.md).
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "lab/lab.h"
#include "lab/service.h"

namespace hn {
namespace {

struct ServiceArgs {
  std::string config;
  std::string data_dir = kLabDefaultDataDir;
  std::string unit_dir = kSystemdUnitDir;
  std::string name = kServiceDefaultName;
  bool no_enable = false;
  bool dry_run = false;
} g_svc;

int Fail(const char* cmd, const Status& s) {
  std::cerr << "honeynet service " << cmd << ": " << s.message() << "\n";
  return 1;
}

Result<ServiceOptions> Options() {
  ServiceOptions o;
  o.config = g_svc.config;
  o.data_dir = g_svc.data_dir;
  o.unit_dir = g_svc.unit_dir;
  o.name = g_svc.name;
  return ResolveServiceOptions(o);
}

void Say(const std::string& l) { std::cout << l << std::endl; }

int RunShow() {
  auto o = Options();
  if (!o.ok()) return Fail("show", o.status());
  std::cout << ServiceUnitText(o.value());
  return 0;
}

int RunInstall() {
  auto o = Options();
  if (!o.ok()) return Fail("install", o.status());
  if (g_svc.dry_run) {
    std::cout << ServiceUnitText(o.value());
    return 0;
  }
  Status s = InstallService(o.value(), !g_svc.no_enable, Say);
  return s.ok() ? 0 : Fail("install", s);
}

int RunUninstall() {
  auto o = Options();
  if (!o.ok()) return Fail("uninstall", o.status());
  Status s = UninstallService(o.value(), Say);
  return s.ok() ? 0 : Fail("uninstall", s);
}

void AddCommon(CLI::App* c, bool with_config) {
  if (with_config) {
    c->add_option("config", g_svc.config, "The lab's TOML config (docs/config.md); default: the built-in lab");
    c->add_option("--data-dir", g_svc.data_dir, "The lab's data directory (as for `honeynet up`)")
        ->capture_default_str();
  }
  c->add_option("--name", g_svc.name, "Unit name: NAME.service")->capture_default_str();
  c->add_option("--unit-dir", g_svc.unit_dir, "Where the unit file goes")->capture_default_str();
}

}  // namespace

void AddServiceCommand(CLI::App& app) {
  CLI::App* svc = app.add_subcommand("service", "Run the lab unattended under systemd: service install|uninstall|show");
  svc->footer(
      "Installs the lab as a systemd service (Type=notify, restarted on failure, watchdog, least privilege): "
      "`honeynet service install [CONFIG]` writes /etc/systemd/system/honeynet.service and enables it; "
      "`systemctl start honeynet` starts it; `journalctl -u honeynet` shows its log. See docs/service.md.");
  svc->require_subcommand(1);

  CLI::App* install = svc->add_subcommand("install", "Write NAME.service and enable it (systemctl daemon-reload, enable)");
  AddCommon(install, true);
  install->add_flag("--no-enable", g_svc.no_enable, "Only write the unit file (no systemctl)");
  install->add_flag("--dry-run", g_svc.dry_run, "Only print the unit (writes nothing)");
  install->callback([] { SetRun(RunInstall); });

  CLI::App* uninstall = svc->add_subcommand("uninstall", "Stop and disable the service, remove NAME.service");
  AddCommon(uninstall, false);
  uninstall->callback([] { SetRun(RunUninstall); });

  CLI::App* show = svc->add_subcommand("show", "Print the unit `service install` would write");
  AddCommon(show, true);
  show->callback([] { SetRun(RunShow); });
}

}  // namespace hn
