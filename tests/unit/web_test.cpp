// Tests for `honeynet web`'s pure parts (src/web/, docs/web.md): escaping of
// attacker-controlled strings, URL coding, the listen address check, and the
// SQLite index over events.json (attackers, sessions, the story's outbound
// attempts, rotation, bad lines counted).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "web/html.h"
#include "web/server.h"
#include "web/web_index.h"

namespace hn::web {
namespace {

namespace fs = std::filesystem;

TEST(WebHtml, EscapesMarkupAndQuotes) {
  EXPECT_EQ(Esc("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
  EXPECT_EQ(Esc("<img src=x onerror=\"alert('2')\">"),
            "&lt;img src=x onerror=&quot;alert(&#39;2&#39;)&quot;&gt;");
  EXPECT_EQ(Esc("a&b"), "a&amp;b");
  // No byte of the output can open a tag or end an attribute.
  const std::string nasty = "\"'<>&\x1b[31m\x00\xff\xfe<svg/onload=x>";
  const std::string out = Esc(std::string_view(nasty.data(), nasty.size()));
  EXPECT_EQ(out.find('<'), std::string::npos);
  EXPECT_EQ(out.find('>'), std::string::npos);
  EXPECT_EQ(out.find('"'), std::string::npos);
  EXPECT_EQ(out.find('\''), std::string::npos);
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_EQ(out.find('\0'), std::string::npos);
}

TEST(WebHtml, KeepsTextAndUtf8) {
  EXPECT_EQ(Esc("root@hp1:~# ls\n\tx"), "root@hp1:~# ls\n\tx");
  EXPECT_EQ(Esc("caf\xc3\xa9"), "caf\xc3\xa9");
  // An overlong encoding of '<' is not valid UTF-8: replaced, never decoded.
  EXPECT_EQ(Esc("\xc0\xbc").find('<'), std::string::npos);
}

TEST(WebHtml, UrlCoding) {
  EXPECT_EQ(UrlEncode("1:UT2i/Dbl+69=="), "1%3AUT2i%2FDbl%2B69%3D%3D");
  EXPECT_EQ(UrlEncode("../etc"), "..%2Fetc");
  EXPECT_EQ(UrlDecode("1%3AUT2i%2FDbl%2B69%3D%3D"), "1:UT2i/Dbl+69==");
  EXPECT_EQ(UrlDecode("a+b%2"), "a b%2");
}

TEST(WebServer, ParseListen) {
  auto a = ParseListen("127.0.0.1:8080");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_TRUE(a->loopback);
  auto b = ParseListen("[::1]:9000");
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->host, "::1");
  EXPECT_TRUE(b->loopback);
  auto c = ParseListen("0.0.0.0:80");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->loopback);
  EXPECT_TRUE(c->wildcard);
  auto d = ParseListen("192.0.2.5:8080");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->loopback);
  EXPECT_FALSE(ParseListen("127.0.0.1").ok());
  EXPECT_FALSE(ParseListen("127.0.0.1:0").ok());
  EXPECT_FALSE(ParseListen("127.0.0.1:70000").ok());
  EXPECT_FALSE(ParseListen("127.0.0.1:80x").ok());
  EXPECT_FALSE(ParseListen(":8080").ok());
}

TEST(WebServer, NonLoopbackWithoutAuthIsRefused) {
  WebOptions o;
  o.listen = "0.0.0.0:18099";
  o.data_dir = "/nonexistent";
  const Status s = RunWeb(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("authentication"), std::string::npos) << s.message();
}

class WebIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hn-web-test-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "capture");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Append(const std::string& file, const std::string& lines) {
    std::ofstream f(dir_ / "capture" / file, std::ios::app);
    f << lines;
  }
  std::unique_ptr<WebIndex> Open() {
    auto ix = WebIndex::Open((dir_ / "index.sqlite").string(), (dir_ / "capture").string());
    EXPECT_TRUE(ix.ok()) << ix.status().message();
    return ix.ok() ? std::move(ix.value()) : nullptr;
  }

  fs::path dir_;
};

// Lines as the honeywall writes them (tests/integration/test_web.py checks
// the same against a real lab).
const char* kInbound =
    R"({"timestamp":"2026-12-06T10:00:00.000000+0000","flow_id":1,"event_type":"honeywall","src_ip":"192.0.2.66","src_port":40000,"dest_ip":"10.0.0.2","dest_port":23,"proto":"TCP","community_id":"1:aaa=","honeypot":"hp1","honeywall":{"direction":"inbound","action":"allowed"}})"
    "\n";
const char* kInboundEnd =
    R"({"timestamp":"2026-12-06T10:00:20.000000+0000","flow_id":1,"event_type":"flow","src_ip":"192.0.2.66","src_port":40000,"dest_ip":"10.0.0.2","dest_port":23,"proto":"TCP","community_id":"1:aaa=","honeypot":"hp1","flow":{"pkts_toserver":23,"pkts_toclient":18,"bytes_toserver":1716,"bytes_toclient":1721,"state":"closed","reason":"closed","action":"allowed"}})"
    "\n";
// A probe: handshake and FIN only (74 + 4 x 66 bytes), no payload.
const char* kProbe =
    R"({"timestamp":"2026-12-06T10:00:01.000000+0000","flow_id":2,"event_type":"honeywall","src_ip":"192.0.2.66","src_port":40001,"dest_ip":"10.0.0.2","dest_port":22,"proto":"TCP","community_id":"1:bbb=","honeypot":"hp1","honeywall":{"direction":"inbound","action":"allowed"}})"
    "\n"
    R"({"timestamp":"2026-12-06T10:00:02.000000+0000","flow_id":2,"event_type":"flow","src_ip":"192.0.2.66","src_port":40001,"dest_ip":"10.0.0.2","dest_port":22,"proto":"TCP","community_id":"1:bbb=","honeypot":"hp1","flow":{"pkts_toserver":5,"pkts_toclient":4,"bytes_toserver":338,"bytes_toclient":284,"state":"closed","reason":"closed","action":"allowed"}})"
    "\n";
const char* kOutbound =
    R"({"timestamp":"2026-12-06T10:00:30.000000+0000","flow_id":3,"event_type":"honeywall","src_ip":"10.0.0.2","src_port":50000,"dest_ip":"192.0.2.20","dest_port":21,"proto":"TCP","community_id":"1:ccc=","honeypot":"hp1","honeywall":{"direction":"outbound","action":"allowed"}})"
    "\n"
    R"({"timestamp":"2026-12-06T10:00:31.000000+0000","flow_id":4,"event_type":"honeywall","src_ip":"10.0.0.2","src_port":50001,"dest_ip":"192.0.2.21","dest_port":25,"proto":"TCP","community_id":"1:ddd=","honeypot":"hp1","honeywall":{"direction":"outbound","action":"dropped","reason":"budget_exhausted"}})"
    "\n";
// An outbound attempt of another honeypot the attacker never touched.
const char* kOtherHoneypot =
    R"({"timestamp":"2026-12-06T10:00:32.000000+0000","flow_id":5,"event_type":"honeywall","src_ip":"10.0.0.3","src_port":50002,"dest_ip":"192.0.2.22","dest_port":25,"proto":"TCP","community_id":"1:eee=","honeypot":"hp2","honeywall":{"direction":"outbound","action":"dropped","reason":"budget_exhausted"}})"
    "\n";

TEST_F(WebIndexTest, AttackerSessionsAndStory) {
  Append("events.json", std::string(kInbound) + kProbe + kInboundEnd + kOutbound + kOtherHoneypot);
  auto ix = Open();
  ASSERT_TRUE(ix);
  auto n = ix->Refresh();
  ASSERT_TRUE(n.ok()) << n.status().message();

  auto a = ix->Attacker("192.0.2.66");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->flows, 2);
  EXPECT_EQ(a->sessions, 1) << "the probe without payload is not a session";
  ASSERT_EQ(a->honeypots.size(), 1u);
  EXPECT_EQ(a->honeypots[0], "hp1");
  ASSERT_EQ(a->ports.size(), 2u);
  EXPECT_EQ(a->blocked, 1);

  const auto story = ix->Story(*a, 100);
  bool outbound_allowed = false, outbound_blocked = false, other_hp = false;
  for (const auto& e : story) {
    if (e.honeypot == "hp2") other_hp = true;
    if (e.direction == "outbound" && e.action == "allowed" && e.dst == "192.0.2.20") outbound_allowed = true;
    if (e.direction == "outbound" && e.action == "dropped" && e.reason == "budget_exhausted") outbound_blocked = true;
  }
  EXPECT_TRUE(outbound_allowed);
  EXPECT_TRUE(outbound_blocked);
  EXPECT_FALSE(other_hp) << "hp2's attempts are not this attacker's story";
  for (size_t i = 1; i < story.size(); i++) EXPECT_LE(story[i - 1].ts_ns, story[i].ts_ns);

  EXPECT_FALSE(ix->Attacker("10.0.0.2").has_value()) << "a honeypot is not an attacker";
  EXPECT_EQ(ix->Attackers(10).size(), 1u);
}

TEST_F(WebIndexTest, FollowsAppendsAndRotationWithoutDoubles) {
  Append("events.json", kInbound);
  auto ix = Open();
  ASSERT_TRUE(ix);
  ASSERT_TRUE(ix->Refresh().ok());
  EXPECT_EQ(ix->Totals().events, 1);
  // A half-written line is not read until it is complete.
  const std::string probe = kProbe;
  const size_t nl = probe.find('\n');
  Append("events.json", probe.substr(0, nl / 2));
  ASSERT_TRUE(ix->Refresh().ok());
  EXPECT_EQ(ix->Totals().events, 1);
  Append("events.json", probe.substr(nl / 2));
  ASSERT_TRUE(ix->Refresh().ok());
  EXPECT_EQ(ix->Totals().events, 3);
  // Rotation: the old file gets a time suffix, a new one starts.
  fs::rename(dir_ / "capture" / "events.json", dir_ / "capture" / "events.json.20261206T100100Z");
  Append("events.json", kOutbound);
  ASSERT_TRUE(ix->Refresh().ok());
  EXPECT_EQ(ix->Totals().events, 5);
  ASSERT_TRUE(ix->Refresh().ok());
  EXPECT_EQ(ix->Totals().events, 5);

  // The index is a cache: a new one over the same files finds the same.
  ix.reset();
  fs::remove(dir_ / "index.sqlite");
  auto again = Open();
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->Refresh().ok());
  EXPECT_EQ(again->Totals().events, 5);
  EXPECT_EQ(again->Attacker("192.0.2.66")->flows, 2);
}

TEST_F(WebIndexTest, BadLinesAreCountedNotFatal) {
  Append("events.json", std::string("not json\n{\"event_type\":7}\n\xff\xfe\n") + kInbound);
  auto ix = Open();
  ASSERT_TRUE(ix);
  ASSERT_TRUE(ix->Refresh().ok());
  const auto t = ix->Totals();
  EXPECT_EQ(t.events, 1);
  EXPECT_GE(t.bad_lines, 2);
  EXPECT_TRUE(ix->Attacker("192.0.2.66").has_value());
}

TEST_F(WebIndexTest, QueryByPortCidAndAfter) {
  Append("events.json", std::string(kInbound) + kProbe + kInboundEnd + kOutbound);
  auto ix = Open();
  ASSERT_TRUE(ix);
  ASSERT_TRUE(ix->Refresh().ok());
  EventQuery q;
  q.port = 22;
  EXPECT_EQ(ix->Query(q).size(), 2u);
  EventQuery c;
  c.cid = "1:aaa=";
  EXPECT_EQ(ix->Query(c).size(), 2u);
  EventQuery after;
  after.after_id = ix->Totals().max_id - 1;
  EXPECT_EQ(ix->Query(after).size(), 1u);
  EventQuery f;
  f.flow_id = 4;
  const auto rows = ix->Query(f);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].reason, "budget_exhausted");
}

}  // namespace
}  // namespace hn::web
