#include "analysis/offline_rules.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "flow/community_id.h"

namespace hn {
namespace {

using ojson = nlohmann::ordered_json;

}  // namespace

bool OfflineRules::KeyLess::operator()(const FlowKey& a, const FlowKey& b) const {
  return std::tie(a.src, a.dst, a.sport, a.dport, a.proto, a.v6) < std::tie(b.src, b.dst, b.sport, b.dport, b.proto, b.v6);
}

void OfflineRules::OnFrame(const uint8_t* data, uint32_t len, int64_t ts_ns, std::string* out) {
  buf_.assign(data, data + len);  // Decode wants writable bytes
  Packet p;
  if (Decode(buf_.data(), len, &p) != DecodeError::kOk) return;
  if (!(p.is_ipv4() || p.is_ipv6()) || !p.has_l4) return;
  FlowKey k = MakeFlowKey(p);
  // One entry per flow, under the key of its first packet.
  auto it = flows_.find(k);
  bool reply = false;
  if (it == flows_.end()) {
    it = flows_.find(k.Reversed());
    reply = it != flows_.end();
  }
  if (it == flows_.end()) {
    FlowState st;
    st.id = next_id_++;
    st.key = k;
    it = flows_.emplace(k, st).first;
  }
  FlowState& f = it->second;
  (reply ? f.pkts_toclient : f.pkts_toserver)++;
  if (p.ip_proto == kProtoTcp) {
    const bool syn = p.tcp_flags & kSyn, ack = p.tcp_flags & kAck;
    if (!reply && syn && !ack) f.syn = true;
    if (reply && syn && ack && f.syn) f.synack = true;
    if (!reply && ack && !syn && f.synack) f.established = true;
  }
  if (f.pass || f.dropped) return;

  DetectPacket d;
  switch (p.ip_proto) {
    case kProtoTcp: d.proto = RuleProto::kTcp; break;
    case kProtoUdp: d.proto = RuleProto::kUdp; break;
    case kProtoIcmp: case kProtoIcmpv6: d.proto = RuleProto::kIcmp; break;
    default: d.proto = RuleProto::kIp;
  }
  d.v6 = p.is_ipv6();
  d.src = p.data + p.ip_src_off;
  d.dst = p.data + p.ip_dst_off;
  if (p.ip_proto == kProtoTcp || p.ip_proto == kProtoUdp) {
    d.sport = p.sport;
    d.dport = p.dport;
  }
  d.payload = p.data + p.payload_off;
  d.payload_len = p.payload_len;
  d.to_server = !reply;
  d.established = p.ip_proto == kProtoTcp ? f.established : (f.pkts_toserver > 0 && f.pkts_toclient > 0);
  det_->Inspect(d, &f.flowbits, &res_);
  if (res_.matched.empty()) return;
  if (res_.pass) {
    f.pass = true;
    return;
  }
  const std::vector<Rule>& rules = det_->rules();
  for (uint32_t idx : res_.matched) {
    const Rule& r = rules[idx];
    if (r.noalert || r.action == RuleAction::kPass) continue;
    if (std::find(f.alerted.begin(), f.alerted.end(), idx) != f.alerted.end()) continue;
    f.alerted.push_back(idx);
    alerts_++;
    const FlowKey pk = reply ? f.key.Reversed() : f.key;
    ojson j;
    j["timestamp"] = IsoTimeLocal(ts_ns);
    j["flow_id"] = f.id;
    j["event_type"] = "alert";
    j["src_ip"] = pk.SrcString();
    if (d.proto == RuleProto::kTcp || d.proto == RuleProto::kUdp) j["src_port"] = pk.sport;
    j["dest_ip"] = pk.DstString();
    if (d.proto == RuleProto::kTcp || d.proto == RuleProto::kUdp) j["dest_port"] = pk.dport;
    char pb[8];
    j["proto"] = ProtoName(pk.proto, pb);
    j["direction"] = reply ? "to_client" : "to_server";
    j["community_id"] = CommunityId(f.key, 0, p.icmp_type, p.icmp_code);
    const bool blocked = res_.drop && (r.action == RuleAction::kDrop || r.action == RuleAction::kReject);
    ojson a;
    a["action"] = blocked ? "blocked" : "allowed";
    a["gid"] = r.gid;
    a["signature_id"] = r.sid;
    a["rev"] = r.rev;
    a["signature"] = r.msg;
    a["category"] = r.category;
    a["severity"] = r.priority;
    if (!r.metadata.empty()) {
      ojson md = ojson::object();
      for (const auto& [mk, mv] : r.metadata) md[mk].push_back(mv);
      a["metadata"] = std::move(md);
    }
    if (r.HasReplace() && !res_.drop) a["replaced"] = true;
    j["alert"] = std::move(a);
    std::string printable(reinterpret_cast<const char*>(d.payload), d.payload_len);
    for (char& ch : printable)
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '.';
    j["payload_printable"] = printable;
    *out += j.dump() + "\n";
  }
  if (res_.drop) f.dropped = true;  // the honeywall would drop the rest of the flow
}

}  // namespace hn
