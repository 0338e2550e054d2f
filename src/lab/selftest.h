// Selftest: the paper's Part V ("Testing"), automated, against a running lab.
//
// From the attacker host (192.0.2.66 in hn-inet) it logs into a honeypot by
// telnet (root/root by default) and, from INSIDE the guest:
//   1. inbound telnet login       the attacker gets a shell (inbound is never limited)
//   2. outbound TCP budget        `nc -w 2` to 12 outside address/port pairs
//                                 (192.0.2.20-31, ports with lab services): exactly
//                                 min(12, TCP budget left) connect, in order, the rest
//                                 are blocked (left is read from stats.json first)
//   3. events.json                every attempt is there (allowed / dropped budget_exhausted)
//   4. honeywall.log              every attempt is there (OUTBOUND TCP / Drop TCP > N attempts),
//                                 and the inbound login (INBOUND TCP ... DPT=23)
//   5. ping payload in capture    `ping -c 3 -s 56 -p XX` to an outside host; the 3
//                                 echo requests with that payload are in the inside pcaps
//                                 (and, when the ICMP budget allowed them, in the outside pcaps)
// It spends the honeypot's budget like an attacker would (up to 12 TCP, 1 ICMP flow).
//
// Who may call: the CLI (`honeynet selftest`).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "lab/lab.h"

namespace hn {

struct SelftestOptions {
  std::string data_dir = kLabDefaultDataDir;
  std::string honeypot;          // empty: the lab's first honeypot
  std::string user = "root";
  std::string password = "root";
  int attempts = 12;             // outbound TCP attempts
};

struct SelftestCheck {
  std::string name;
  bool pass = false;
  std::string detail;
};

// Runs the checks. An error Status only when the selftest cannot run at all
// (no lab up, unknown honeypot); failed checks are in the result.
Result<std::vector<SelftestCheck>> RunSelftest(const SelftestOptions& opt, const Say& progress);

// The table "check | result | detail" for people.
std::string FormatSelftest(const std::vector<SelftestCheck>& checks);

// Telnet protocol: the replies that refuse every option in the bytes so far
// (DO x -> WONT x, WILL x -> DONT x) and the data bytes without commands.
// State carries over between calls (a command may be split across reads).
struct TelnetParser {
  int state = 0;        // 0 data, 1 after IAC, 2 option byte, 3 in SB, 4 IAC in SB
  unsigned char cmd = 0;
  void Feed(const unsigned char* p, size_t n, std::string* data, std::string* replies);
};

// Echo requests (`request`: type 8) or replies (type 0) from src to dst (as
// IPv4 text, empty = any) with at least min_run bytes of pattern in a row in
// the ICMP payload, at or after since_ns, in the pcap files given. Files it
// cannot read count nothing (a file being written ends mid-record: the
// records before it count).
int CountPingPayloads(const std::vector<std::string>& pcaps, const std::string& src, const std::string& dst,
                      bool request, unsigned char pattern, size_t min_run, int64_t since_ns);

}  // namespace hn
