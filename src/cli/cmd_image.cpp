// `honeynet image build|list`, and the hidden `honeynet guest ...` (one UML
// guest by hand: for tests and debugging; the lab starts guests itself).
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "lab/guest.h"
#include "lab/image.h"

namespace hn {
namespace {

constexpr const char* kDefaultDataDir = "/var/lib/honeynet";

struct ImageArgs {
  std::string kind;
  bool force = false;
  bool json = false;
  std::string data_dir = kDefaultDataDir;
} g_img;

std::string Human(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1fG", b / double(1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1fM", b / double(1ull << 20));
  else std::snprintf(buf, sizeof buf, "%.0fK", b / 1024.0);
  return buf;
}

std::string Age(int64_t s) {
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

int RunImageBuild() {
  auto say = [](const std::string& line) { std::cout << line << std::endl; };
  auto r = BuildImage(g_img.data_dir, g_img.kind, g_img.force, say);
  if (!r.ok()) {
    std::cerr << "honeynet image build: " << r.status().message() << "\n";
    return 1;
  }
  return 0;
}

int RunImageList() {
  auto images = ListImages(g_img.data_dir);
  const int64_t now = ::time(nullptr);
  if (g_img.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& i : images) {
      arr.push_back({{"kind", i.kind},
                     {"path", i.path},
                     {"size_bytes", i.size_bytes},
                     {"allocated_bytes", i.allocated_bytes},
                     {"built_unix", i.built_unix},
                     {"age_seconds", now - i.built_unix},
                     {"build_seconds", i.build_seconds}});
    }
    std::cout << arr.dump(2) << std::endl;
    return 0;
  }
  if (images.empty()) {
    std::cout << "no images in " << g_img.data_dir << "/images: build one with `honeynet image build busybox`\n";
    return 0;
  }
  std::printf("%-8s %7s %7s %6s %8s  %s\n", "KIND", "SIZE", "USED", "AGE", "BUILD", "PATH");
  for (const auto& i : images) {
    char took[16];
    std::snprintf(took, sizeof took, "%.1fs", i.build_seconds);
    std::printf("%-8s %7s %7s %6s %8s  %s\n", i.kind.c_str(), Human(i.size_bytes).c_str(),
                Human(i.allocated_bytes).c_str(), Age(now - i.built_unix).c_str(), took, i.path.c_str());
  }
  return 0;
}

// ---- hidden: honeynet guest start|stop|status|console|mconsole --------------

struct GuestArgs {
  std::string name, image = "busybox", netns, tap, ip, gw, hostname, mac, kernel = "/usr/bin/linux";
  std::vector<std::string> dns;
  uint32_t mem_mb = 64;
  uint32_t uid = 0;
  int timeout_ms = 10000;
  std::string data_dir = kDefaultDataDir;
  std::vector<std::string> command;
} g_guest;

std::string GuestDir() { return g_guest.data_dir + "/guests/" + g_guest.name; }
std::string StatePath() { return GuestDir() + "/guest.json"; }

nlohmann::json ToJson(const GuestSpec& g, const GuestState& s) {
  nlohmann::json dns = nlohmann::json::array();
  for (const auto& d : g.dns) dns.push_back(d.ToString());
  return {{"name", g.name},
          {"image", g.image},
          {"dir", g.dir},
          {"netns", g.netns},
          {"tap", g.tap},
          {"mac", g.mac.ToString()},
          {"ip", g.ip.addr.ToString() + "/" + std::to_string(g.ip.len)},
          {"gateway", g.gateway.ToString()},
          {"hostname", g.hostname},
          {"dns", dns},
          {"mem_mb", g.mem_mb},
          {"kernel", g.kernel},
          {"uid", g.uid},
          {"pid", s.pid},
          {"started_unix", s.started_unix},
          {"console_log", GuestConsoleLog(g)}};
}

// The spec and state `guest start` saved in DATA/guests/NAME/guest.json.
bool LoadSaved(GuestSpec* g, GuestState* s) {
  std::ifstream f(StatePath());
  if (!f) {
    std::cerr << "honeynet guest: no " << StatePath() << ": was the guest started with `honeynet guest start`?\n";
    return false;
  }
  try {
    nlohmann::json j = nlohmann::json::parse(f);
    g->name = j.at("name");
    g->image = j.at("image");
    g->dir = j.at("dir");
    g->netns = j.value("netns", "");
    g->tap = j.value("tap", "");
    if (auto m = Mac::Parse(j.value("mac", ""))) g->mac = *m;
    if (auto p = Ip4Prefix::Parse(j.value("ip", ""))) g->ip = *p;
    if (auto a = Ip4::Parse(j.value("gateway", ""))) g->gateway = *a;
    g->hostname = j.value("hostname", "");
    g->mem_mb = j.value("mem_mb", 64u);
    g->kernel = j.value("kernel", "/usr/bin/linux");
    g->uid = j.value("uid", 0u);
    s->pid = j.value("pid", 0);
    s->started_unix = j.value("started_unix", int64_t{0});
  } catch (const std::exception& e) {
    std::cerr << "honeynet guest: cannot read " << StatePath() << ": " << e.what() << "\n";
    return false;
  }
  return true;
}

int RunGuestStart() {
  GuestSpec g;
  g.name = g_guest.name;
  g.dir = GuestDir();
  g.netns = g_guest.netns;
  g.tap = g_guest.tap;
  g.hostname = g_guest.hostname.empty() ? g_guest.name : g_guest.hostname;
  g.mem_mb = g_guest.mem_mb;
  g.kernel = g_guest.kernel;
  g.uid = g_guest.uid;
  const auto kinds = ImageKinds();
  bool is_kind = std::find(kinds.begin(), kinds.end(), g_guest.image) != kinds.end();
  g.image = is_kind ? ImagePath(g_guest.data_dir, g_guest.image) : g_guest.image;
  auto ip = Ip4Prefix::Parse(g_guest.ip);
  if (!ip) {
    std::cerr << "honeynet guest start: --ip must look like 10.0.0.2/24\n";
    return 2;
  }
  g.ip = *ip;
  if (!g_guest.gw.empty()) {
    auto gw = Ip4::Parse(g_guest.gw);
    if (!gw) {
      std::cerr << "honeynet guest start: bad --gw " << g_guest.gw << "\n";
      return 2;
    }
    g.gateway = *gw;
  }
  for (const auto& d : g_guest.dns) {
    auto a = Ip4::Parse(d);
    if (!a) {
      std::cerr << "honeynet guest start: bad --dns " << d << "\n";
      return 2;
    }
    g.dns.push_back(*a);
  }
  if (!g_guest.mac.empty()) {
    auto m = Mac::Parse(g_guest.mac);
    if (!m) {
      std::cerr << "honeynet guest start: bad --mac " << g_guest.mac << "\n";
      return 2;
    }
    g.mac = *m;
  } else {
    // UML's own convention: fe:fd followed by the IPv4 address.
    uint8_t b[6] = {0xfe, 0xfd, 0, 0, 0, 0};
    g.ip.addr.ToNet(b + 2);
    g.mac = Mac::From(b);
  }
  auto st = StartGuest(g);
  if (!st.ok()) {
    std::cerr << "honeynet guest start: " << st.status().message() << "\n";
    return 1;
  }
  nlohmann::json j = ToJson(g, st.value());
  std::ofstream(StatePath()) << j.dump(2) << "\n";
  std::cout << j.dump() << std::endl;
  return 0;
}

int RunGuestStop() {
  GuestSpec g;
  GuestState s;
  if (!LoadSaved(&g, &s)) return 1;
  Status st = StopGuest(g, s, g_guest.timeout_ms);
  if (!st.ok()) {
    std::cerr << "honeynet guest stop: " << st.message() << "\n";
    return 1;
  }
  std::cout << "guest " << g.name << " stopped\n";
  return 0;
}

int RunGuestReset() {
  GuestSpec g;
  GuestState s;
  if (!LoadSaved(&g, &s)) return 1;
  auto st = ResetGuest(g, s);
  if (!st.ok()) {
    std::cerr << "honeynet guest reset: " << st.status().message() << "\n";
    return 1;
  }
  nlohmann::json j = ToJson(g, st.value());
  std::ofstream(StatePath()) << j.dump(2) << "\n";
  std::cout << j.dump() << std::endl;
  return 0;
}

int RunGuestStatus() {
  GuestSpec g;
  GuestState s;
  if (!LoadSaved(&g, &s)) return 1;
  nlohmann::json j = ToJson(g, s);
  j["running"] = GuestRunning(g, s);
  j["processes"] = GuestProcesses(g);
  std::cout << j.dump(2) << std::endl;
  return j["running"].get<bool>() ? 0 : 3;
}

int RunGuestConsole() {
  GuestSpec g;
  GuestState s;
  if (!LoadSaved(&g, &s)) return 1;
  Status st = AttachConsole(g);
  if (!st.ok()) {
    std::cerr << "honeynet guest console: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

int RunGuestMconsole() {
  GuestSpec g;
  GuestState s;
  if (!LoadSaved(&g, &s)) return 1;
  std::string cmd;
  for (const auto& w : g_guest.command) cmd += (cmd.empty() ? "" : " ") + w;
  auto r = GuestMconsole(g, cmd);
  if (!r.ok()) {
    std::cerr << "honeynet guest mconsole: " << r.status().message() << "\n";
    return 1;
  }
  std::cout << r.value() << std::endl;
  return 0;
}

void AddGuestCommand(CLI::App& app) {
  CLI::App* guest = app.add_subcommand("guest", "One UML guest by hand (tests, debugging)");
  guest->group("");  // hidden from --help
  guest->require_subcommand(1);
  auto common = [](CLI::App* c) {
    c->add_option("--name", g_guest.name, "Guest name (UML umid)")->required();
    c->add_option("--data-dir", g_guest.data_dir, "Data directory")->capture_default_str();
  };
  CLI::App* start = guest->add_subcommand("start", "Boot a guest detached; prints its state as JSON");
  common(start);
  start->add_option("--image", g_guest.image, "Image kind (busybox, debian) or path")->capture_default_str();
  start->add_option("--netns", g_guest.netns, "Network namespace holding the tap")->required();
  start->add_option("--tap", g_guest.tap, "Tap interface (made beforehand)")->required();
  start->add_option("--ip", g_guest.ip, "Guest address with prefix, e.g. 10.0.0.2/24")->required();
  start->add_option("--gw", g_guest.gw, "Default gateway");
  start->add_option("--hostname", g_guest.hostname, "Hostname (default: the name)");
  start->add_option("--mac", g_guest.mac, "MAC of eth0 (default fe:fd:<ip>)");
  start->add_option("--dns", g_guest.dns, "DNS server (repeatable)");
  start->add_option("--mem", g_guest.mem_mb, "Guest memory in MiB")->capture_default_str();
  start->add_option("--kernel", g_guest.kernel, "UML kernel binary")->capture_default_str();
  start->add_option("--uid", g_guest.uid,
                    "Run the UML processes as this uid = gid (the tap must be its: ip tuntap add ... user UID); "
                    "0: as the caller");
  start->callback([] { SetRun(RunGuestStart); });
  CLI::App* stop = guest->add_subcommand("stop", "mconsole halt, then kill after a deadline");
  common(stop);
  stop->add_option("--timeout-ms", g_guest.timeout_ms, "Wait this long for the halt")->capture_default_str();
  stop->callback([] { SetRun(RunGuestStop); });
  CLI::App* reset = guest->add_subcommand("reset", "Stop, drop the COW file, boot pristine");
  common(reset);
  reset->callback([] { SetRun(RunGuestReset); });
  CLI::App* status = guest->add_subcommand("status", "Running or not (exit 0 / 3), as JSON");
  common(status);
  status->callback([] { SetRun(RunGuestStatus); });
  CLI::App* console = guest->add_subcommand("console", "Attach to console 1 (Ctrl-] leaves)");
  common(console);
  console->callback([] { SetRun(RunGuestConsole); });
  CLI::App* mc = guest->add_subcommand("mconsole", "Send one mconsole command (version, config con1, ...)");
  common(mc);
  mc->add_option("command", g_guest.command, "The command")->required();
  mc->callback([] { SetRun(RunGuestMconsole); });
}

}  // namespace

void AddImageCommand(CLI::App& app) {
  CLI::App* image = app.add_subcommand(
      "image", "Build and list the honeypots' root file system images (cached under DATA/images)");
  image->require_subcommand(1);
  CLI::App* build = image->add_subcommand(
      "build",
      "Build an image: busybox (seconds: busybox userland, telnetd, root/root) or debian (debootstrap bookworm "
      "with openssh-server and telnetd, root/root; minutes, needs the Debian mirror). A cached image is reused "
      "unless --force is given or its build inputs changed.");
  build->add_option("kind", g_img.kind, "busybox | debian")->required()->check(CLI::IsMember(ImageKinds()));
  build->add_flag("--force", g_img.force, "Rebuild even when the cached image is up to date");
  build->add_option("--data-dir", g_img.data_dir, "Data directory")->capture_default_str();
  build->callback([] { SetRun(RunImageBuild); });
  CLI::App* list = image->add_subcommand("list", "Show the built images with size and age");
  list->add_option("--data-dir", g_img.data_dir, "Data directory")->capture_default_str();
  list->add_flag("--json", g_img.json, "JSON output for scripts");
  list->callback([] { SetRun(RunImageList); });
  AddGuestCommand(app);
}

}  // namespace hn
