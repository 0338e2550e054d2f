// `honeynet up|down|status|reset|console|selftest|audit`, and the hidden
// `honeynet lab-services` (the outside hosts' servers the lab runs in hn-inet).
#include <atomic>
#include <csignal>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/term.h"
#include "lab/audit.h"
#include "lab/lab.h"
#include "lab/run.h"
#include "lab/selftest.h"
#include "lab/service.h"
#include "lab/services.h"

namespace hn {
namespace {

struct LabArgs {
  std::string data_dir = kLabDefaultDataDir;
  std::string config;
  bool detach = false;
  bool json = false;
  bool force = false;
  std::string name;
  bool raw = false;
  std::string honeypot;
  std::string tcp, udp, bind = "0.0.0.0";
} g_lab;

void Say(const std::string& line) { std::cout << line << std::endl; }

int Fail(const char* cmd, const Status& s) {
  std::cerr << "honeynet " << cmd << ": " << s.message() << "\n";
  return 1;
}

int RunUp() {
  if (Status m = LeaveIpNetnsExecMountNs(); !m.ok()) return Fail("up", m);
  LabOptions o;
  o.data_dir = g_lab.data_dir;
  o.config_path = g_lab.config;
  o.detach = g_lab.detach;
  Status s = LabUp(o, Say);
  return s.ok() ? 0 : Fail("up", s);
}

int RunDown() {
  if (Status m = LeaveIpNetnsExecMountNs(); !m.ok()) return Fail("down", m);
  Status s = LabDown(g_lab.data_dir, Say, g_lab.force);
  return s.ok() ? 0 : Fail("down", s);
}

int RunStatus() {
  if (Status m = LeaveIpNetnsExecMountNs(); !m.ok()) return Fail("status", m);
  auto st = LabStatus(g_lab.data_dir);
  if (!st.ok()) return Fail("status", st.status());
  AddServiceRestarts(&st.value());  // systemd's NRestarts, when the lab runs as a service
  if (g_lab.json) {
    std::cout << st->dump(2) << std::endl;
  } else {
    std::cout << FormatLabStatus(st.value());
  }
  return st->value("up", false) ? 0 : 3;
}

// Exit 0: no risk; 1: at least one risk (or an error); 3: no lab is up.
int RunAudit() {
  if (Status m = LeaveIpNetnsExecMountNs(); !m.ok()) return Fail("audit", m);
  auto facts = GatherAuditFacts(g_lab.data_dir);
  if (!facts.ok()) return Fail("audit", facts.status());
  const auto sections = AuditFindings(facts.value());
  if (g_lab.json) {
    std::cout << AuditJson(facts.value(), sections).dump(2) << std::endl;
  } else {
    std::cout << FormatAudit(facts.value(), sections, UseColour(stdout));
  }
  if (!facts->up) return 3;
  return AuditCount(sections, AuditSeverity::kRisk) > 0 ? 1 : 0;
}

int RunReset() {
  if (Status m = LeaveIpNetnsExecMountNs(); !m.ok()) return Fail("reset", m);
  Status s = LabReset(g_lab.data_dir, g_lab.name, Say);
  return s.ok() ? 0 : Fail("reset", s);
}

int RunConsole() {
  if (Status m = LeaveIpNetnsExecMountNs(); !m.ok()) return Fail("console", m);
  Status s = LabConsole(g_lab.data_dir, g_lab.name, g_lab.raw);
  return s.ok() ? 0 : Fail("console", s);
}

int RunSelftestCmd() {
  if (Status m = LeaveIpNetnsExecMountNs(); !m.ok()) return Fail("selftest", m);
  SelftestOptions o;
  o.data_dir = g_lab.data_dir;
  o.honeypot = g_lab.honeypot;
  auto r = RunSelftest(o, [](const std::string& l) { std::cout << "selftest: " << l << std::endl; });
  if (!r.ok()) return Fail("selftest", r.status());
  std::cout << "\n" << FormatSelftest(r.value());
  for (const auto& c : r.value()) {
    if (!c.pass) return 1;
  }
  return 0;
}

std::atomic<bool> g_services_stop{false};
void OnServicesSignal(int) { g_services_stop.store(true); }

int RunLabServices() {
  auto tcp = ParsePortList(g_lab.tcp);
  auto udp = ParsePortList(g_lab.udp);
  if (!tcp || !udp) {
    std::cerr << "honeynet lab-services: --tcp/--udp take comma-separated port numbers like 21,80\n";
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = OnServicesSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  ServicesOptions o;
  o.tcp_ports = *tcp;
  o.udp_ports = *udp;
  o.bind_ip = g_lab.bind;
  Status s = RunServices(o, g_services_stop, [&](const ServicesBound& b) {
    std::cout << "lab services ready on " << o.bind_ip << ": tcp";
    for (uint16_t p : b.tcp_ports) std::cout << " " << p;
    std::cout << ", udp";
    for (uint16_t p : b.udp_ports) std::cout << " " << p;
    std::cout << std::endl;
  });
  if (!s.ok()) return Fail("lab-services", s);
  std::cout << "lab services stopped" << std::endl;
  return 0;
}

void AddDataDir(CLI::App* c) {
  c->add_option("--data-dir", g_lab.data_dir, "Data directory (images, guests, the lab's state and capture)")
      ->capture_default_str();
}

}  // namespace

void AddLabCommands(CLI::App& app) {
  CLI::App* up = app.add_subcommand("up", "Bring up the virtual honeynet (honeywall, UML honeypots, an 'internet'); needs root");
  up->footer(
      "Brings up the virtual honeynet: the honeywall, UML honeypot guests on taps behind it, and an 'internet' "
      "namespace (hn-inet) with an attacker host (192.0.2.66) and outside hosts with services (192.0.2.20-31). "
      "Without CONFIG: the built-in lab (one busybox honeypot hp1, NAT, 10.0.0.2 = public 192.0.2.10). Runs in the "
      "foreground with a live status line until Ctrl-C (then takes everything down), or with --detach returns once "
      "every guest answers telnet. Needs root. One lab per machine (fixed namespace names hn-wall, hn-inet). "
      "See docs/lab.md.");
  up->add_option("config", g_lab.config, "Honeywall TOML config naming the honeypots (docs/config.md); default: built-in lab")
      ->check(CLI::ExistingFile);
  up->add_flag("-d,--detach", g_lab.detach, "Return once the lab is ready and leave it running (stop: honeynet down)");
  AddDataDir(up);
  up->callback([] { SetRun(RunUp); });

  CLI::App* down = app.add_subcommand("down", "Take the lab down and remove everything it made (also after a crash)");
  down->footer(
      "Takes the lab down: halt the guests (then kill them after 10 s), stop the honeywall and the services, delete "
      "the namespaces and every interface in them, remove the state. Works after a crash of `up` too; with nothing "
      "up it says so and exits 0. Guest disks (COW files) are kept: `honeynet reset` makes a guest pristine.");
  down->add_flag("--force", g_lab.force,
                 "Also remove hn-wall/hn-inet when this data dir has no state for them (a lab of another data dir, "
                 "or left behind)");
  AddDataDir(down);
  down->callback([] { SetRun(RunDown); });

  CLI::App* status = app.add_subcommand("status", "Show the lab: honeypots, budgets, honeywall counters, capture files");
  status->footer(
      "Shows the lab: each honeypot (running, address, public address, uptime, Data Control budgets used/left per "
      "protocol), the honeywall's counters (frames, drops, capture drops) and the capture files. Exit code 3 when "
      "no lab is up.");
  status->add_flag("--json", g_lab.json, "Print JSON (for scripts)");
  AddDataDir(status);
  status->callback([] { SetRun(RunStatus); });

  CLI::App* audit =
      app.add_subcommand("audit", "Per honeypot: what contains less than it could (risks) and what gives it away (tells)");
  audit->footer(
      "Looks at the running lab from the host: per honeypot its containment (netns: unsafe, uid map, seccomp, "
      "capabilities, cgroup, disk limit, /proc masks; uml: the UML processes' uid and network namespace, cgroup, the "
      "kernel in use and its config) and the tells an attacker inside sees (MAC range, UML devices and disk names, "
      "/proc/cpuinfo, /proc/cmdline, ...), each with its fix; and the honeywall's privileges. Exit status: 0 no risk, "
      "1 at least one risk, 3 no lab is up. See docs/audit.md.");
  audit->add_flag("--json", g_lab.json, "Print JSON (for scripts)");
  AddDataDir(audit);
  audit->callback([] { SetRun(RunAudit); });

  CLI::App* reset = app.add_subcommand("reset", "Make a honeypot pristine again (drop its disk changes, reboot)");
  reset->footer("Halts a honeypot's guest, drop its disk changes (the COW file) and boot it pristine; returns once it "
               "answers telnet again.");
  reset->add_option("name", g_lab.name, "Honeypot name (see honeynet status)")->required();
  AddDataDir(reset);
  reset->callback([] { SetRun(RunReset); });

  CLI::App* console = app.add_subcommand("console", "Attach this terminal to a honeypot's console (Ctrl-] leaves)");
  console->footer("Attaches this terminal to a honeypot's console (a host pty of the UML guest). Ctrl-] leaves; the "
                 "guest keeps running.");
  console->add_option("name", g_lab.name, "Honeypot name")->required();
  console->add_flag("--raw", g_lab.raw,
                    "Pass the guest's output through unchanged (by default OSC, DCS, APC, PM, SOS, terminal "
                    "queries and risky mode changes are dropped, colours and cursor movement kept)");
  AddDataDir(console);
  console->callback([] { SetRun(RunConsole); });

  CLI::App* selftest = app.add_subcommand("selftest", "Run the paper's Part V against the running lab (spends budget)");
  selftest->footer(
      "Runs the paper's Part V against the running lab, from inside a real guest: telnet in from the attacker host "
      "and log in (root/root), make 12 outbound TCP connections (exactly the TCP budget must get through, the rest "
      "be blocked), check every attempt is in events.json and honeywall.log, ping 3 times with a payload pattern "
      "and find the payloads in the pcap files. Prints a table of checks; exit code 1 on any failure. NOTE: it "
      "spends the honeypot's Data Control budget (up to 12 TCP connections and 1 ICMP flow per run), as an "
      "attacker would; a second run within the window expects the remaining budget.");
  selftest->add_option("--honeypot", g_lab.honeypot, "Honeypot to test (default: the lab's first)");
  AddDataDir(selftest);
  selftest->callback([] { SetRun(RunSelftestCmd); });

  CLI::App* services = app.add_subcommand(
      "lab-services", "Internal: the lab's outside services (TCP banner + echo, UDP echo); `up` runs it in hn-inet.");
  services->group("");  // hidden
  services->add_option("--tcp", g_lab.tcp, "TCP ports, comma-separated");
  services->add_option("--udp", g_lab.udp, "UDP ports, comma-separated");
  services->add_option("--bind", g_lab.bind, "IPv4 address to listen on")->capture_default_str();
  services->callback([] { SetRun(RunLabServices); });
}

}  // namespace hn
