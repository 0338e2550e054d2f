// BpfFilter: see bpf_filter.h.
#include "analysis/bpf_filter.h"

namespace hn {

namespace {
constexpr int kFilterSnaplen = 262144;
}

BpfFilter::~BpfFilter() {
  for (auto& [lt, prog] : progs_) pcap_freecode(&prog);
}

const bpf_program* BpfFilter::For(int linktype, std::string* error) {
  auto it = progs_.find(linktype);
  if (it != progs_.end()) return &it->second;
  pcap_t* dead = pcap_open_dead(linktype, kFilterSnaplen);
  if (dead == nullptr) {
    *error = "cannot compile the filter for link type " + std::to_string(linktype);
    return nullptr;
  }
  bpf_program prog{};
  if (pcap_compile(dead, &prog, expr_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    const char* name = pcap_datalink_val_to_name(linktype);
    *error = "bad filter expression '" + expr_ + "': " + pcap_geterr(dead) + " (link type " +
             (name ? name : std::to_string(linktype)) + "; the syntax is pcap-filter(7), as for tcpdump)";
    pcap_close(dead);
    return nullptr;
  }
  pcap_close(dead);
  return &progs_.emplace(linktype, prog).first->second;
}

int BpfFilter::Matches(int linktype, const uint8_t* data, uint32_t caplen, uint32_t len, std::string* error) {
  if (empty()) return 1;
  const bpf_program* prog = For(linktype, error);
  if (prog == nullptr) return -1;
  pcap_pkthdr h{};
  h.caplen = caplen;
  h.len = len;
  return pcap_offline_filter(prog, &h, data) != 0 ? 1 : 0;
}

}  // namespace hn
