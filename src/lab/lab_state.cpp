// Lab: the state file DATA/lab/state.json (JSON of the structs in
// lab_state.h, save, load) and the lock of a data dir (LabLock).
#include "lab/lab_internal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "common/fs.h"

namespace hn::lab_detail {
namespace {

constexpr int kStateVersion = 1;

json ProcJson(const ProcRef& p) { return {{"pid", p.pid}, {"start", p.start}}; }
ProcRef ProcFrom(const json& j) {
  ProcRef p;
  if (j.is_object()) {
    p.pid = j.value("pid", 0);
    p.start = j.value("start", int64_t(0));
  }
  return p;
}

// A UML guest's cgroup limits in the state (reset starts it with them again).
json UmlLimitsJson(const GuestLimits& l) {
  return {{"pids_max", l.pids_max},     {"memory_max", l.memory_max}, {"swap_max", l.swap_max},
          {"cpu_max_percent", l.cpu_max_percent}, {"io_weight", l.io_weight}};
}

GuestLimits UmlLimitsFrom(const json& j) {
  GuestLimits l;
  if (!j.is_object()) return l;
  l.pids_max = j.value("pids_max", l.pids_max);
  l.memory_max = j.value("memory_max", l.memory_max);
  l.swap_max = j.value("swap_max", l.swap_max);
  l.cpu_max_percent = j.value("cpu_max_percent", l.cpu_max_percent);
  l.io_weight = j.value("io_weight", l.io_weight);
  return l;
}

json SpecJson(const GuestSpec& g) {
  json dns = json::array();
  for (const Ip4& d : g.dns) dns.push_back(d.ToString());
  return {{"name", g.name},         {"image", g.image},       {"dir", g.dir},
          {"netns", g.netns},       {"tap", g.tap},           {"mac", g.mac.ToString()},
          {"ip", PrefixText(g.ip)}, {"gateway", g.gateway.ToString()}, {"hostname", g.hostname},
          {"dns", dns},             {"mem_mb", g.mem_mb},     {"kernel", g.kernel},
          {"tty_log", g.tty_log},   {"uid", g.uid},           {"cgroup", g.cgroup},
          {"limits", UmlLimitsJson(g.limits)}};
}

GuestSpec SpecFrom(const json& j) {
  GuestSpec g;
  g.name = j.value("name", "");
  g.image = j.value("image", "");
  g.dir = j.value("dir", "");
  g.netns = j.value("netns", "");
  g.tap = j.value("tap", "");
  if (auto m = Mac::Parse(j.value("mac", ""))) g.mac = *m;
  if (auto p = Ip4Prefix::Parse(j.value("ip", ""))) g.ip = *p;
  if (auto gw = Ip4::Parse(j.value("gateway", ""))) g.gateway = *gw;
  g.hostname = j.value("hostname", "");
  if (j.contains("dns") && j["dns"].is_array()) {
    for (const auto& d : j["dns"]) {
      if (auto ip = Ip4::Parse(d.get<std::string>())) g.dns.push_back(*ip);
    }
  }
  g.mem_mb = j.value("mem_mb", 64u);
  g.kernel = j.value("kernel", "/usr/bin/linux");
  g.tty_log = j.value("tty_log", "");
  g.uid = j.value("uid", 0u);
  g.cgroup = j.value("cgroup", "");
  g.limits = UmlLimitsFrom(j.value("limits", json::object()));
  return g;
}

json NsSpecJson(const NsGuestSpec& g) {
  return {{"rootfs", g.rootfs},
          {"netns", g.netns},
          {"bridge_netns", g.bridge_netns},
          {"bridge", g.bridge},
          {"veth", g.veth},
          {"unsafe", g.unsafe},
          {"limits",
           {{"pids_max", g.limits.pids_max},
            {"memory_max", g.limits.memory_max},
            {"swap_max", g.limits.swap_max},
            {"cpu_max", g.limits.cpu_max_percent},
            {"io_weight", g.limits.io_weight},
            {"disk_max", g.limits.disk_max}}}};
}

// The rest of a namespace honeypot's spec is the shared one (spec).
NsGuestSpec NsSpecFrom(const json& j, const GuestSpec& spec) {
  NsGuestSpec g;
  g.name = spec.name;
  g.image = spec.image;
  g.dir = spec.dir;
  g.mac = spec.mac;
  g.ip = spec.ip;
  g.gateway = spec.gateway;
  g.hostname = spec.hostname;
  g.dns = spec.dns;
  if (j.is_object()) {
    g.rootfs = j.value("rootfs", "");
    g.netns = j.value("netns", "");
    g.bridge_netns = j.value("bridge_netns", "");
    g.bridge = j.value("bridge", "");
    g.veth = j.value("veth", "");
    g.unsafe = j.value("unsafe", false);
    const json l = j.value("limits", json::object());
    g.limits.pids_max = l.value("pids_max", g.limits.pids_max);
    g.limits.memory_max = l.value("memory_max", g.limits.memory_max);
    g.limits.swap_max = l.value("swap_max", g.limits.swap_max);
    g.limits.cpu_max_percent = l.value("cpu_max", g.limits.cpu_max_percent);
    g.limits.io_weight = l.value("io_weight", g.limits.io_weight);
    g.limits.disk_max = l.value("disk_max", g.limits.disk_max);
  }
  return g;
}

}  // namespace

json StateJson(const LabState& s) {
  json j;
  j["version"] = kStateVersion;
  j["data_dir"] = s.data_dir;
  j["config"] = s.config_source;
  j["mode"] = s.mode;
  j["started_unix"] = s.started_unix;
  j["ready"] = s.ready;
  j["ready_seconds"] = s.ready_seconds;
  j["up"] = ProcJson(s.up);
  j["namespaces"] = s.namespaces;
  json links = json::array();
  for (const auto& [ns, name] : s.links) links.push_back({{"netns", ns}, {"name", name}});
  j["links"] = links;
  j["wall"] = ProcJson(s.wall);
  j["services"] = ProcJson(s.services);
  if (s.alerts.pid) j["alerts"] = ProcJson(s.alerts);
  j["capture_dir"] = s.capture_dir;
  json guests = json::array();
  for (const GuestRec& g : s.guests) {
    json gj = {{"kind", g.kind},
               {"spec", SpecJson(g.spec)},
               {"pid", g.st.pid},
               {"started_unix", g.st.started_unix},
               {"image_kind", g.image_kind},
               {"target", g.target.ToString()}};
    if (g.kind == kKindNetns) {
      gj["ns"] = NsSpecJson(g.ns);
      gj["pid"] = g.nst.pid;  // the host pid of its pid 1
      gj["started_unix"] = g.nst.started_unix;
      gj["start_ticks"] = g.nst.start_ticks;
      gj["pidns"] = g.nst.pidns;
      gj["tty_capture"] = ProcJson(g.tty);
    }
    if (g.public_ip) gj["public_ip"] = g.public_ip->ToString();
    guests.push_back(gj);
  }
  j["guests"] = guests;
  if (s.uplink) {
    json addrs = json::array();
    for (const auto& [name, ip] : s.uplink_addrs) addrs.push_back({{"name", name}, {"public_ip", ip}});
    j["uplink"] = {{"interface", s.uplink_iface}, {"undo", UplinkUndoJson(*s.uplink)}, {"honeypots", addrs}};
  }
  return j;
}

namespace {

Result<LabState> StateFrom(const json& j, const std::string& path) {
  if (!j.is_object() || j.value("version", 0) != kStateVersion) {
    return Status::Error(path + ": not a lab state file of this honeynet version; remove what it names by hand "
                         "or `honeynet down --force`");
  }
  LabState s;
  s.data_dir = j.value("data_dir", "");
  s.config_source = j.value("config", "");
  s.mode = j.value("mode", "");
  s.started_unix = j.value("started_unix", int64_t(0));
  s.ready = j.value("ready", false);
  s.ready_seconds = j.value("ready_seconds", 0.0);
  s.up = ProcFrom(j.value("up", json::object()));
  s.namespaces = j.value("namespaces", std::vector<std::string>{});
  for (const auto& l : j.value("links", json::array())) s.links.emplace_back(l.value("netns", ""), l.value("name", ""));
  s.wall = ProcFrom(j.value("wall", json::object()));
  s.services = ProcFrom(j.value("services", json::object()));
  s.alerts = ProcFrom(j.value("alerts", json::object()));
  s.capture_dir = j.value("capture_dir", "");
  if (j.contains("uplink") && j["uplink"].is_object()) {
    s.uplink = UplinkUndoFromJson(j["uplink"].value("undo", json::object()));
    s.uplink_iface = j["uplink"].value("interface", "");
    for (const auto& a : j["uplink"].value("honeypots", json::array()))
      s.uplink_addrs.emplace_back(a.value("name", ""), a.value("public_ip", ""));
  }
  for (const auto& gj : j.value("guests", json::array())) {
    GuestRec g;
    g.kind = gj.value("kind", std::string(kKindUml));
    g.spec = SpecFrom(gj.value("spec", json::object()));
    if (g.kind == kKindNetns) {
      g.ns = NsSpecFrom(gj.value("ns", json::object()), g.spec);
      g.nst.pid = gj.value("pid", 0);
      g.nst.started_unix = gj.value("started_unix", int64_t(0));
      g.nst.start_ticks = gj.value("start_ticks", int64_t(0));
      g.nst.pidns = gj.value("pidns", uint64_t(0));
      g.tty = ProcFrom(gj.value("tty_capture", json::object()));
    } else {
      g.st.pid = gj.value("pid", 0);
      g.st.started_unix = gj.value("started_unix", int64_t(0));
    }
    g.image_kind = gj.value("image_kind", "");
    if (gj.contains("public_ip")) g.public_ip = Ip4::Parse(gj.value("public_ip", ""));
    if (auto t = Ip4::Parse(gj.value("target", ""))) g.target = *t;
    s.guests.push_back(g);
  }
  return s;
}

}  // namespace

Status SaveState(const LabState& s) {
  return WriteFileAtomic(StatePath(s.data_dir), StateJson(s).dump(2) + "\n", 0640);
}

// The state of the lab in data dir dd; nullopt when there is none.
Result<std::optional<LabState>> LoadState(const std::string& dd) {
  const std::string path = StatePath(dd);
  auto text = ReadFile(path);
  if (!text) return std::optional<LabState>();
  try {
    auto s = StateFrom(json::parse(*text), path);
    if (!s.ok()) return s.status();
    s->data_dir = dd;
    return std::optional<LabState>(std::move(s.value()));
  } catch (const json::exception& e) {
    return Status::Error(path + ": corrupt (" + std::string(e.what()) +
                         "); `honeynet down --force` removes the lab's namespaces without it");
  }
}

// ---------------------------------------------------------------------------
// Lock: up, down and reset of one data dir never run at the same time.

Result<LabLock> LabLock::Take(const std::string& dd, const Say& say) {
  if (Status s = MakeDirs(LabDir(dd), 0750); !s.ok()) return s;
  const std::string path = LabDir(dd) + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Status::Error("cannot open " + path + ": " + Errno());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (say) say("waiting for another honeynet up/down/reset on " + dd + " to finish ...");
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        std::string e = Errno();
        ::close(fd);
        return Status::Error("cannot lock " + path + ": " + e);
      }
    }
  }
  return LabLock(fd);
}

LabLock::~LabLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace hn::lab_detail
