// OfflineRules: the honeywall's inline rules run over packets read from
// capture files (`honeynet read --rules FILE`): what the rules would raise,
// as EVE alert lines, without forwarding anything. Flows are tracked as the
// honeywall does for rules: direction (to_server: from the flow's first
// sender), TCP established after the handshake, flowbits, one alert per
// rule and flow.
//
// Who may call: the CLI. Allocates per flow (offline, not the per-packet path).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "flow/flow_key.h"
#include "rules/detect.h"

namespace hn {

class OfflineRules {
 public:
  explicit OfflineRules(std::unique_ptr<Detector> d) : det_(std::move(d)) {}
  // One Ethernet frame at ts_ns; appends EVE JSON lines (with "\n") to *out.
  void OnFrame(const uint8_t* data, uint32_t len, int64_t ts_ns, std::string* out);
  uint64_t alerts() const { return alerts_; }

 private:
  struct FlowState {
    uint64_t id = 0;
    FlowKey key;  // as its first packet ran
    bool syn = false, synack = false, established = false;
    uint64_t pkts_toserver = 0, pkts_toclient = 0;
    uint64_t flowbits = 0;
    bool pass = false, dropped = false;
    std::vector<uint32_t> alerted;
  };
  std::unique_ptr<Detector> det_;
  struct KeyLess {
    bool operator()(const FlowKey& a, const FlowKey& b) const;
  };
  std::map<FlowKey, FlowState, KeyLess> flows_;
  std::vector<uint8_t> buf_;
  DetectResult res_;
  uint64_t next_id_ = 1, alerts_ = 0;
};

}  // namespace hn
