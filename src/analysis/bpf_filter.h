// BpfFilter: a tcpdump-style filter expression (pcap-filter(7)) for the
// analysis commands, compiled by libpcap once per link type met (one capture
// set may mix link types) and run on each packet with pcap_offline_filter.
//
// Who may call: the analysis commands; one filter per thread.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <map>
#include <string>

namespace hn {

class BpfFilter {
 public:
  explicit BpfFilter(std::string expr) : expr_(std::move(expr)) {}
  ~BpfFilter();
  BpfFilter(const BpfFilter&) = delete;
  BpfFilter& operator=(const BpfFilter&) = delete;

  // No expression: every packet matches.
  bool empty() const { return expr_.empty(); }

  // The program for linktype, compiled on first use; nullptr with *error set
  // (libpcap's message, the link type, where the syntax is described) when
  // libpcap rejects the expression.
  const bpf_program* For(int linktype, std::string* error);

  // 1 when the packet matches, 0 when not, -1 with *error set when the
  // expression cannot be compiled for linktype. An empty filter matches all.
  int Matches(int linktype, const uint8_t* data, uint32_t caplen, uint32_t len, std::string* error);

 private:
  std::string expr_;
  std::map<int, bpf_program> progs_;
};

}  // namespace hn
