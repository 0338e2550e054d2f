// Tests for the alerts (src/alerts/, docs/alerts.md): the [alerts] config
// (errors name file, line and key; DumpConfig round trip), event -> alert
// mapping for each kind, the JSON line, the rate limiter, and the command
// sink's timeout and the dispatcher's isolation of a hanging sink.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "alerts/alert.h"
#include "alerts/sinks.h"
#include "common/clock.h"
#include "config/config.h"

namespace hn {
namespace {

using json = nlohmann::json;

const std::string kBase =
    "[[honeypot]]\n"                // 1
    "name = \"hp1\"\n"              // 2
    "ip = \"10.0.0.2\"\n";          // 3

testing::AssertionResult HasError(const std::string& text, int line, const std::string& key,
                                  const std::string& fragment = "") {
  auto r = ParseConfig(text, "cfg.toml");
  if (r.ok()) return testing::AssertionFailure() << "parsed without error:\n" << text;
  const std::string& msg = r.status().message();
  const std::string where = "cfg.toml:" + std::to_string(line) + ": " + key + ":";
  if (msg.find(where) == std::string::npos) return testing::AssertionFailure() << "no '" << where << "' in:\n" << msg;
  if (msg.find(fragment) == std::string::npos) return testing::AssertionFailure() << "no '" << fragment << "' in:\n" << msg;
  return testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------
// Config

TEST(AlertsConfig, DefaultsAndEveryKey) {
  auto none = ParseConfig(kBase, "cfg.toml");
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_FALSE(none->alerts.has_value());

  auto r = ParseConfig(kBase + "[alerts]\ncommand = \"cat >> /tmp/a.jsonl\"\n", "cfg.toml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->alerts.has_value());
  EXPECT_EQ(r->alerts->command, "cat >> /tmp/a.jsonl");
  EXPECT_EQ(r->alerts->rate, 10);
  EXPECT_EQ(r->alerts->burst, 5);
  EXPECT_EQ(r->alerts->timeout_ns, 10 * kNsPerSec);
  EXPECT_DOUBLE_EQ(r->alerts->disk_full_pct, 90);
  EXPECT_FALSE(r->alerts->syslog);
  EXPECT_TRUE(r->alerts->kinds.empty());

  auto full = ParseConfig(kBase +
                              "[alerts]\n"
                              "webhook = \"https://hooks.example.org/x?y=1\"\n"
                              "syslog = true\n"
                              "kinds = [\"new_attacker\", \"login\", \"disk_full\"]\n"
                              "rate = 30\nburst = 2\ntimeout = \"1500ms\"\ndisk_full = \"75.5%\"\n",
                          "cfg.toml");
  ASSERT_TRUE(full.ok()) << full.status().message();
  const AlertsConfig& a = *full->alerts;
  EXPECT_EQ(a.webhook, "https://hooks.example.org/x?y=1");
  EXPECT_TRUE(a.syslog);
  EXPECT_EQ(a.kinds, (std::vector<std::string>{"new_attacker", "login", "disk_full"}));
  EXPECT_EQ(a.rate, 30);
  EXPECT_EQ(a.burst, 2);
  EXPECT_EQ(a.timeout_ns, 1500 * 1'000'000LL);
  EXPECT_DOUBLE_EQ(a.disk_full_pct, 75.5);

  // DumpConfig (what `up` writes as the lab's wall.toml) reads back the same.
  auto back = ParseConfig(DumpConfig(*full), "dump.toml");
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << DumpConfig(*full);
  ASSERT_TRUE(back->alerts.has_value());
  EXPECT_EQ(*back->alerts, a);
  EXPECT_EQ(DumpConfig(*back), DumpConfig(*full));
}

TEST(AlertsConfig, ErrorsNameLineAndKey) {
  // 4: [alerts]  5: first key  6: second key ...
  EXPECT_TRUE(HasError(kBase + "[alerts]\nrate = 10\n", 4, "alerts", "has no sink"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\nsyslog = false\n", 4, "alerts", "has no sink"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"x\"\nkinds = [\"login\", \"new_atacker\"]\n", 6,
                       "alerts.kinds[1]", "unknown alert kind"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"x\"\nkinds = \"login\"\n", 6, "alerts.kinds", "must be a list"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"x\"\nrate = 0\n", 6, "alerts.rate", "from 1 to 60000"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"x\"\nrate = \"10/min\"\n", 6, "alerts.rate"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"x\"\nburst = -1\n", 6, "alerts.burst"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"x\"\ntimeout = \"soon\"\n", 6, "alerts.timeout", "duration"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"x\"\ndisk_full = \"120%\"\n", 6, "alerts.disk_full"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"x\"\ndisk_full = \"90\"\n", 6, "alerts.disk_full"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\nwebhook = \"ftp://x/y\"\n", 5, "alerts.webhook", "http:// or https://"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\nwebhook = \"http://\"\n", 5, "alerts.webhook"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"  \"\n", 5, "alerts.command"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"x\"\nsink = \"y\"\n", 6, "alerts.sink", "unknown key"));
  EXPECT_TRUE(HasError(kBase + "[alerts]\ncommand = \"x\"\ncomand = \"y\"\n", 6, "alerts.comand", "did you mean 'command'"));
  EXPECT_TRUE(HasError("alerts = 5\n" + kBase, 1, "alerts", "must be a table"));
}

// ---------------------------------------------------------------------------
// Event -> alert

json Ev(const std::string& text) { return json::parse(text); }

const char* kInbound =
    R"({"timestamp":"2026-11-26T18:42:29.123456+0100","flow_id":17,"in_iface":"hw-out","event_type":"honeywall",)"
    R"("src_ip":"192.0.2.66","src_port":40000,"dest_ip":"10.0.0.2","dest_port":23,"proto":"TCP",)"
    R"("community_id":"1:abc","honeypot":"hp1","honeywall":{"action":"allowed","direction":"inbound","reason":"inbound"}})";

std::string Outbound(const std::string& action, const std::string& reason, int used, int left, int port) {
  return R"({"timestamp":"2026-11-26T18:43:00.000001+0100","flow_id":)" + std::to_string(100 + port) +
         R"(,"in_iface":"hw-in","event_type":"honeywall","src_ip":"10.0.0.2","src_port":41000,"dest_ip":"192.0.2.20",)"
         R"("dest_port":)" + std::to_string(port) + R"(,"proto":"TCP","community_id":"1:x","honeypot":"hp1",)"
         R"("honeywall":{"action":")" + action + R"(","direction":"outbound","reason":")" + reason +
         R"(","budget":{"class":"TCP","used":)" + std::to_string(used) + R"(,"left":)" + std::to_string(left) +
         R"(,"limit":9}}})";
}

TEST(AlertsMap, NewAttackerOncePerSource) {
  EventMapper m;
  auto a = m.Map(Ev(kInbound));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, AlertKind::kNewAttacker);
  EXPECT_EQ(a[0].key, "192.0.2.66");
  EXPECT_EQ(a[0].fields["src_ip"], "192.0.2.66");
  EXPECT_EQ(a[0].fields["dest_port"], 23);
  EXPECT_EQ(a[0].fields["honeypot"], "hp1");
  EXPECT_EQ(a[0].fields["community_id"], "1:abc");
  EXPECT_EQ(a[0].timestamp, "2026-11-26T18:42:29.123456+0100");
  EXPECT_NE(a[0].message.find("192.0.2.66"), std::string::npos);
  EXPECT_TRUE(m.Map(Ev(kInbound)).empty());  // the same source again: known

  // Known across a restart.
  EventMapper m2;
  m2.Load(json::parse(m.Save().dump()));
  EXPECT_TRUE(m2.Map(Ev(kInbound)).empty());
  json other = Ev(kInbound);
  other["src_ip"] = "198.51.100.9";
  EXPECT_EQ(m2.Map(other).size(), 1u);
}

TEST(AlertsMap, SourcesAreBounded) {
  EventMapper m;
  json e = Ev(kInbound);
  for (size_t i = 0; i < EventMapper::kMaxSources + 10; i++) {
    e["src_ip"] = "s" + std::to_string(i);
    ASSERT_EQ(m.Map(e).size(), 1u);
  }
  EXPECT_EQ(m.sources(), EventMapper::kMaxSources);
  e["src_ip"] = "s0";  // the oldest was forgotten
  EXPECT_EQ(m.Map(e).size(), 1u);
}

TEST(AlertsMap, OutboundBlockedAndBudgetExhaustedOncePerExhaustion) {
  EventMapper m;
  EXPECT_TRUE(m.Map(Ev(Outbound("allowed", "outbound", 9, 0, 21))).empty());
  auto a = m.Map(Ev(Outbound("dropped", "budget_exhausted", 9, 0, 22)));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].kind, AlertKind::kOutboundBlocked);
  EXPECT_EQ(a[0].key, "hp1");
  EXPECT_EQ(a[0].fields["reason"], "budget_exhausted");
  EXPECT_EQ(a[0].fields["dest_port"], 22);
  EXPECT_EQ(a[0].fields["honeypot"], "hp1");
  EXPECT_EQ(a[1].kind, AlertKind::kBudgetExhausted);
  EXPECT_EQ(a[1].fields["class"], "TCP");
  EXPECT_EQ(a[1].fields["limit"], 9);
  // Further drops: blocked each time, exhausted not again ...
  a = m.Map(Ev(Outbound("dropped", "budget_exhausted", 9, 0, 23)));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, AlertKind::kOutboundBlocked);
  // ... until it had room again.
  EXPECT_TRUE(m.Map(Ev(Outbound("allowed", "outbound", 9, 0, 24))).empty());
  a = m.Map(Ev(Outbound("dropped", "budget_exhausted", 9, 0, 25)));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1].kind, AlertKind::kBudgetExhausted);
  // Other drop reasons: blocked only.
  a = m.Map(Ev(Outbound("dropped", "roach_motel", 0, 0, 26)));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].fields["reason"], "roach_motel");
  // Allowed inbound/outbound flows and flow ends raise nothing else.
  EXPECT_TRUE(m.Map(Ev(R"({"event_type":"flow","src_ip":"10.0.0.2","flow":{"state":"closed"}})")).empty());
  EXPECT_TRUE(m.Map(Ev(R"({"event_type":"stats","stats":{}})")).empty());
  EXPECT_TRUE(m.Map(Ev(R"({"event_type":"notice","notice":{"what":"link_up"}})")).empty());
  EXPECT_TRUE(m.Map(Ev(R"([1,2])")).empty());
}

TEST(AlertsMap, HoneywallSummaryOfDrops) {
  EventMapper m;
  auto a = m.Map(Ev(R"({"timestamp":"t","event_type":"honeywall","honeypot":"hp1","honeywall":{"action":"dropped",)"
                    R"("reason":"budget_exhausted","suppressed":4211,"what":"flows","period":"1s"}})"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, AlertKind::kOutboundBlocked);
  EXPECT_EQ(a[0].fields["count"], 4211);
}

TEST(AlertsMap, RuleAlert) {
  EventMapper m;
  auto a = m.Map(Ev(R"({"timestamp":"t","flow_id":5,"event_type":"alert","src_ip":"10.0.0.2","src_port":4444,)"
                    R"("dest_ip":"192.0.2.20","dest_port":6667,"proto":"TCP","honeypot":"hp1","direction":"to_server",)"
                    R"("alert":{"action":"blocked","gid":1,"signature_id":9000001,"rev":1,"signature":"IRC NICK",)"
                    R"("category":"","severity":1}})"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, AlertKind::kRuleAlert);
  EXPECT_EQ(a[0].severity, 1);
  EXPECT_EQ(a[0].fields["signature"], "IRC NICK");
  EXPECT_EQ(a[0].fields["signature_id"], 9000001);
  EXPECT_EQ(a[0].fields["action"], "blocked");
  EXPECT_EQ(a[0].key, "10.0.0.2");
}

TEST(AlertsMap, LoginFromTtyAttributedToLatestInbound) {
  EventMapper m;
  (void)m.Map(Ev(kInbound));
  auto tty = [](const std::string& action, const std::string& session, const std::string& name,
                const std::string& argv0) {
    json t = {{"id", 3}, {"session", session}, {"name", name}, {"action", action}};
    if (!argv0.empty()) {
      t["command"] = argv0;
      t["argv"] = json::array({argv0});
    }
    return json{{"timestamp", "t"}, {"event_type", "tty"}, {"honeypot", "hp1"}, {"tty", t}};
  };
  EXPECT_TRUE(m.Map(tty("open", "hp1:3", "pts/0", "")).empty());
  EXPECT_TRUE(m.Map(tty("exec", "hp1:3", "pts/0", "/bin/login")).empty());  // the prompt, not a login yet
  auto a = m.Map(tty("exec", "hp1:3", "pts/0", "-sh"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, AlertKind::kLogin);
  EXPECT_EQ(a[0].fields["src_ip"], "192.0.2.66");
  EXPECT_EQ(a[0].fields["src_port"], 40000);
  EXPECT_EQ(a[0].fields["session"], "hp1:3");
  EXPECT_EQ(a[0].key, "192.0.2.66");
  EXPECT_TRUE(m.Map(tty("exec", "hp1:3", "pts/0", "/usr/bin/wget")).empty());  // same session
  EXPECT_TRUE(m.Map(tty("exec", "hp1:1", "tty1", "-sh")).empty());             // the console: the operator
  EXPECT_EQ(m.Map(tty("exec", "hp1:4", "pts/1", "-sh")).size(), 1u);
}

TEST(AlertsLine, OneAsciiLineWithFields) {
  Alert a;
  a.kind = AlertKind::kLogin;
  a.severity = 1;
  a.timestamp = "2026-11-26T18:42:29.123456+0100";
  a.message = "login\non hp1 \x1b[31m \xc3\xa9 \xff";
  a.fields["src_ip"] = "192.0.2.66";
  a.fields["command"] = "$(rm -rf /); `id` 'x' \"y\"";
  const std::string line = AlertLine(a, 3, "wall1");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  for (unsigned char c : line) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << int(c);
  const json j = json::parse(line);
  EXPECT_EQ(j["kind"], "login");
  EXPECT_EQ(j["severity"], 1);
  EXPECT_EQ(j["src_ip"], "192.0.2.66");
  EXPECT_EQ(j["command"], "$(rm -rf /); `id` 'x' \"y\"");
  EXPECT_EQ(j["suppressed"], 3);
  EXPECT_EQ(j["host"], "wall1");
  EXPECT_EQ(line.rfind("{\"timestamp\":", 0), 0u);
  EXPECT_FALSE(json::parse(AlertLine(a, 0, "")).contains("suppressed"));
}

TEST(AlertsKinds, NamesRoundTrip) {
  for (const char* n : kAlertKinds) {
    auto k = AlertKindFromName(n);
    ASSERT_TRUE(k.has_value()) << n;
    EXPECT_STREQ(AlertKindName(*k), n);
  }
  EXPECT_EQ(std::size(kAlertKinds), size_t(AlertKind::kCount));
  EXPECT_FALSE(AlertKindFromName("nope").has_value());
}

// ---------------------------------------------------------------------------
// Rate limiter

TEST(AlertsRate, BurstThenRefillAndSuppressedCounts) {
  RateLimiter r(10, 5);  // 10 a minute: one every 6 s
  int64_t t = 1'000 * kNsPerSec;
  for (int i = 0; i < 5; i++) EXPECT_TRUE(r.Take(AlertKind::kOutboundBlocked, "hp1", t).send) << i;
  for (int i = 0; i < 7; i++) EXPECT_FALSE(r.Take(AlertKind::kOutboundBlocked, "hp1", t).send);
  EXPECT_EQ(r.suppressed_total(AlertKind::kOutboundBlocked), 7u);
  // Another key and another kind have their own buckets.
  EXPECT_TRUE(r.Take(AlertKind::kOutboundBlocked, "hp2", t).send);
  EXPECT_TRUE(r.Take(AlertKind::kBudgetExhausted, "hp1", t).send);
  // 5.9 s later: still nothing; 6 s: one, carrying the 7 (+1) held back.
  EXPECT_FALSE(r.Take(AlertKind::kOutboundBlocked, "hp1", t + 5'900'000'000).send);
  auto d = r.Take(AlertKind::kOutboundBlocked, "hp1", t + 6 * kNsPerSec + 1);
  EXPECT_TRUE(d.send);
  EXPECT_EQ(d.suppressed, 8u);
  d = r.Take(AlertKind::kOutboundBlocked, "hp1", t + 13 * kNsPerSec);
  EXPECT_TRUE(d.send);
  EXPECT_EQ(d.suppressed, 0u);
  // A long quiet spell refills to the burst, not beyond.
  int sent = 0;
  for (int i = 0; i < 20; i++) sent += r.Take(AlertKind::kOutboundBlocked, "hp1", t + 3600 * kNsPerSec).send;
  EXPECT_EQ(sent, 5);
}

TEST(AlertsRate, ManySourcesAreCappedPerKind) {
  RateLimiter r(10, 5);
  const int64_t t = 50 * kNsPerSec;
  int sent = 0;
  for (int i = 0; i < 1000; i++) sent += r.Take(AlertKind::kNewAttacker, "src" + std::to_string(i), t).send;
  EXPECT_EQ(sent, 5 * RateLimiter::kKindFactor);
  EXPECT_EQ(r.suppressed_total(AlertKind::kNewAttacker), uint64_t(1000 - sent));
}

TEST(AlertsRate, TableIsBounded) {
  RateLimiter r(60, 1, 8);
  int64_t t = kNsPerSec;
  for (int i = 0; i < 100; i++) {
    r.Take(AlertKind::kLogin, "k" + std::to_string(i), t);
    t += 2 * kNsPerSec;  // the kind-wide bucket keeps up
    EXPECT_LE(r.keys(), 8u);
  }
  // A key with held-back alerts is kept over a full, idle one.
  RateLimiter q(1, 1, 2);
  EXPECT_TRUE(q.Take(AlertKind::kLogin, "busy", t).send);
  EXPECT_FALSE(q.Take(AlertKind::kLogin, "busy", t).send);  // 1 held back
  EXPECT_TRUE(q.Take(AlertKind::kLogin, "idle", t - kNsPerSec).send);
  EXPECT_TRUE(q.Take(AlertKind::kLogin, "new", t + 3600 * kNsPerSec).send);  // evicts "idle" (full again)
  auto d = q.Take(AlertKind::kLogin, "busy", t + 3600 * kNsPerSec);
  EXPECT_TRUE(d.send);
  EXPECT_EQ(d.suppressed, 1u);
}

// ---------------------------------------------------------------------------
// Sinks

std::string TempDir() {
  char tmpl[] = "/tmp/hn-alerts-test-XXXXXX";
  return ::mkdtemp(tmpl);
}

TEST(AlertsSink, CommandGetsTheLineOnStdin) {
  const std::string dir = TempDir();
  auto sink = MakeCommandSink("cat >> " + dir + "/out");
  std::atomic<bool> stop{false};
  ASSERT_TRUE(sink->Send("{\"a\":1}", kNsPerSec * 5, stop).ok());
  ASSERT_TRUE(sink->Send("{\"a\":2}", kNsPerSec * 5, stop).ok());
  std::ifstream f(dir + "/out");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all, "{\"a\":1}\n{\"a\":2}\n");
  Status s = MakeCommandSink("exit 3")->Send("{}", kNsPerSec * 5, stop);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("status 3"), std::string::npos) << s.message();
  std::filesystem::remove_all(dir);
}

TEST(AlertsSink, CommandPastTheTimeoutIsKilledWithItsChildren) {
  const std::string dir = TempDir();
  auto sink = MakeCommandSink("sleep 600 & echo $! > " + dir + "/pid; sleep 600");
  std::atomic<bool> stop{false};
  const int64_t t0 = MonoNowNs();
  Status s = sink->Send("{}", 300'000'000, stop);
  const int64_t took = MonoNowNs() - t0;
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("killed"), std::string::npos) << s.message();
  EXPECT_LT(took, 3 * kNsPerSec);
  std::ifstream f(dir + "/pid");
  int pid = 0;
  f >> pid;
  ASSERT_GT(pid, 0);
  // The background sleep was in the same process group: gone too (reaped by init).
  const int64_t end = MonoNowNs() + 5 * kNsPerSec;
  while (::kill(pid, 0) == 0 && MonoNowNs() < end) {
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(st)), std::istreambuf_iterator<char>());
    if (all.find(") Z ") != std::string::npos) break;  // a zombie waiting for its reaper
    ::usleep(10000);
  }
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(st)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(all.empty() || all.find(") Z ") != std::string::npos) << all;
  std::filesystem::remove_all(dir);
}

TEST(AlertsDispatcher, AHangingSinkDoesNotDelayTheOthers) {
  const std::string dir = TempDir();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(MakeCommandSink("sleep 600"));
  sinks.push_back(MakeCommandSink("cat >> " + dir + "/out"));
  Dispatcher d(std::move(sinks), 60 * kNsPerSec, 4);
  const int64_t t0 = MonoNowNs();
  for (int i = 0; i < 10; i++) d.Post(AlertKind::kOutboundBlocked, "{\"n\":" + std::to_string(i) + "}");
  EXPECT_LT(MonoNowNs() - t0, kNsPerSec / 2);  // Post never waits on a sink
  // The working sink gets what fit in its queue (4) plus what it took meanwhile.
  int lines = 0;
  const int64_t end = MonoNowNs() + 10 * kNsPerSec;
  while (MonoNowNs() < end) {
    std::ifstream f(dir + "/out");
    std::string l;
    lines = 0;
    while (std::getline(f, l)) lines++;
    const json c = d.Counters();
    if (c["command"]["queued"].get<uint64_t>() == 0 && lines > 0) break;
    ::usleep(20000);
  }
  EXPECT_GE(lines, 4);
  const int64_t s0 = MonoNowNs();
  EXPECT_TRUE(d.Stop(2000));  // the hanging call is killed at stop
  EXPECT_LT(MonoNowNs() - s0, 2 * kNsPerSec);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hn
