// Micro-benchmarks of inline rules (src/rules/): Detector::Inspect() of one
// packet against 0, 100, 1,000 and 10,000 synthetic content rules, without
// sockets. The rules are made here with the same mix as bench/rules_bench.py
// (each has a content of 8-16 random letters and digits as its fast pattern;
// per 20 rules: 11 plain, 2 nocase, 2 offset/depth, 2 with a second content at
// distance/within, 1 with a pcre behind the content, 1 udp with a |hex|
// content, 1 ip with flow:established,to_server), parsed by ParseRulesText,
// ordered by SortForDetection and built once per count. None of them matches
// the payloads (checked: a match skips the benchmark with an error), so the
// time is the inspection: the Hyperscan scan of the payload and the header work.
//
//   BM_RulesInspect/<rules>/<payload bytes>/<kind>   kind 0: random bytes
//   (what iperf3 sends), 1: ASCII text (HTTP request lines and headers, where
//   letters and digits often start a partial match of a fast pattern).
//
// Time per iteration = ns per packet. Run:
//   build-bench/micro_bench --benchmark_filter=Rules
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "rules/detect.h"
#include "rules/rule_parser.h"

namespace hn {
namespace {

constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

// n rules in the Suricata language, one per line (see the header comment).
std::string MakeRulesText(int n) {
  std::mt19937_64 rng(20260101 + uint64_t(n));
  auto uni = [&](int lo, int hi) { return int(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  std::map<std::string, bool> seen;
  auto token = [&](int len) {
    for (;;) {
      std::string t;
      for (int i = 0; i < len; i++) t += kAlnum[uni(0, 61)];
      if (seen.emplace(t, true).second) return t;
    }
  };
  std::string out;
  for (int i = 0; i < n; i++) {
    const std::string t = token(uni(8, 16));
    const int k = i % 20;
    std::string head = "alert tcp any any -> any any", body;
    if (k <= 10) {
      body = "content:\"" + t + "\";";
      if (k == 3 || k == 4) head = "alert tcp $EXTERNAL_NET any -> $HOME_NET [80,443,8080]";
      if (k == 5 || k == 6) head = "alert tcp $HOME_NET any -> $EXTERNAL_NET any";
    } else if (k <= 12) {
      body = "content:\"" + t + "\"; nocase;";
    } else if (k <= 14) {
      body = "content:\"" + t + "\"; offset:" + std::to_string(uni(0, 64)) +
             "; depth:" + std::to_string(int(t.size()) + uni(0, 200)) + ";";
    } else if (k <= 16) {
      body = "content:\"" + t + "\"; content:\"" + token(6) + "\"; distance:0; within:64;";
    } else if (k == 17) {
      body = "content:\"" + t + "\"; pcre:\"/" + t + "[0-9a-f]{2,8}\\s/i\";";
    } else if (k == 18) {
      head = "alert udp $EXTERNAL_NET any -> $HOME_NET [53,123,1900,5353]";
      char hex[16];
      std::string h = "|";
      for (int j = 0; j < 4; j++) {
        snprintf(hex, sizeof(hex), j ? " %02x" : "%02x", unsigned(uint8_t(t[j])));
        h += hex;
      }
      body = "content:\"" + h + "|" + t.substr(4) + "\";";
    } else {
      head = "alert ip any any -> any any";
      body = "flow:established,to_server; content:\"" + t + "\";";
    }
    out += head + " (msg:\"bench " + std::to_string(i) + "\"; " + body +
           " classtype:misc-activity; sid:" + std::to_string(3000000 + i) + "; rev:1;)\n";
  }
  return out;
}

// One detector per rule count, built at first use (parsing and compiling
// 10,000 rules takes a while; Google Benchmark calls a benchmark several times).
Detector* DetectorFor(int n, std::string* error) {
  static std::map<int, std::unique_ptr<Detector>> cache;
  auto it = cache.find(n);
  if (it != cache.end()) return it->second.get();
  RuleLoad load;
  RuleLoadOptions opt;
  opt.home_net = {"192.0.2.10"};
  ParseRulesText(MakeRulesText(n), "bench.rules", false, opt, &load);
  if (!load.ok() || load.skipped != 0 || load.rules.size() != size_t(n)) {
    *error = "rules did not load: " + (load.errors.empty() ? load.Coverage() : load.errors.front());
    return nullptr;
  }
  SortForDetection(&load.rules);
  auto d = Detector::Build(std::move(load.rules));
  if (!d.ok()) {
    *error = d.status().message();
    return nullptr;
  }
  return cache.emplace(n, std::move(d.value())).first->second.get();
}

std::string Payload(size_t len, int kind) {
  std::string p;
  if (kind == 0) {
    std::mt19937_64 rng(7);
    while (p.size() < len) p += char(uint8_t(rng()));
    return p;
  }
  static const char* kLines[] = {
      "GET /images/logo_small.png?v=20240117&lang=en-US HTTP/1.1\r\n",
      "Host: www.example-shop.com\r\n",
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n",
      "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n",
      "Accept-Language: en-US,en;q=0.5\r\n",
      "Accept-Encoding: gzip, deflate, br\r\n",
      "Cookie: session=8f14e45fceea167a5a36dedd4bea2543; tracking=off; theme=dark\r\n",
      "Connection: keep-alive\r\n",
      "Referer: https://www.example-shop.com/catalog/category/shoes?page=3\r\n",
  };
  for (size_t i = 0; p.size() < len; i++) p += kLines[i % (sizeof(kLines) / sizeof(kLines[0]))];
  p.resize(len);
  return p;
}

// Args: rule count, payload bytes, payload kind. An established TCP packet
// 203.0.113.5:40000 -> 192.0.2.10:80 (to the server, inbound).
void BM_RulesInspect(benchmark::State& state) {
  const int n = int(state.range(0));
  const std::string payload = Payload(size_t(state.range(1)), int(state.range(2)));
  std::string error;
  Detector* d = DetectorFor(n, &error);
  if (d == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  static constexpr uint8_t kSrc[4] = {203, 0, 113, 5}, kDst[4] = {192, 0, 2, 10};
  DetectPacket p;
  p.proto = RuleProto::kTcp;
  p.src = kSrc;
  p.dst = kDst;
  p.sport = 40000;
  p.dport = 80;
  p.payload = reinterpret_cast<const uint8_t*>(payload.data());
  p.payload_len = uint32_t(payload.size());
  p.to_server = true;
  p.established = true;
  uint64_t bits = 0;
  DetectResult res;
  d->Inspect(p, &bits, &res);
  if (!res.matched.empty()) {
    state.SkipWithError("a synthetic rule matched the payload");
    return;
  }
  for (auto _ : state) {
    d->Inspect(p, &bits, &res);
    benchmark::DoNotOptimize(res.matched.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(payload.size()));
  state.counters["always_checked"] = double(d->always_checked());
}
BENCHMARK(BM_RulesInspect)
    ->ArgNames({"rules", "bytes", "text"})
    ->ArgsProduct({{0, 100, 1000, 10000}, {64, 1400}, {0, 1}});

}  // namespace
}  // namespace hn
