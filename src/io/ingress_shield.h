// IngressShield: keeps the host's own network stack away from the frames
// that arrive on the honeywall's data ports.
//
// The honeywall reads its ports with AF_PACKET, which sees a frame before the
// kernel's ingress hooks do; without a shield the kernel then also hands
// every frame to its own stack. port_check.h makes sure that stack cannot
// forward or answer them (no address, no forwarding, no IPv6), but it still
// parses each one: in nat mode the frames are addressed to the port's own MAC,
// so every one costs an IP input and a failed route lookup in the sender's
// softirq. A drop at the netdev ingress hook ends that, and with it the host
// stack as attack surface for what a honeypot or the internet sends.
//
// The rules live in an nftables table of the netdev family with the owner
// flag (NFT_TABLE_F_OWNER, Linux 5.12): the kernel deletes it when the
// netlink socket that made it closes, so a stopped, killed or crashed wall
// leaves nothing behind, and nothing else can change it meanwhile. Each port
// gets a base chain on its ingress hook with policy drop and no rules.
// Spoken in nfnetlink directly (no nft binary: the wall runs without exec,
// under seccomp, as the capture user with CAP_NET_ADMIN).
//
// Measured in docs/performance.md (stop 26). Optional: when the kernel lacks
// nf_tables or the owner flag, the wall says so and runs without it.
//
// Who may call: the honeywall's main thread (Open at start, Cover at start and
// when a port's interface comes back).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace hn {

class IngressShield {
 public:
  // Opens the netlink socket and creates the table `table` (owned by it).
  static Result<std::unique_ptr<IngressShield>> Open(const std::string& table);
  // Closes the socket: the kernel removes the table and its chains.
  ~IngressShield();
  IngressShield(const IngressShield&) = delete;
  IngressShield& operator=(const IngressShield&) = delete;

  // Adds a chain with policy drop on ifname's ingress hook. Call again for an
  // interface that was deleted and re-created (a chain holds the device it
  // was made for); each call makes a chain of its own.
  Status Cover(const std::string& ifname);

  const std::string& table() const { return table_; }

 private:
  IngressShield() = default;
  // Sends one nftables batch (buf, built by the .cpp, with sequence numbers
  // from first_seq up to seq_) holding one acknowledged request, and waits
  // for the kernel's answer to it.
  Status Transact(const std::string& what, const void* buf, size_t len, uint32_t first_seq);
  int fd_ = -1;
  uint32_t seq_ = 1;
  std::map<std::string, uint32_t> covered_;  // chains made per interface name
  std::string table_;
};

}  // namespace hn
