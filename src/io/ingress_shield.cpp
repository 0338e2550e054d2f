// IngressShield: an nftables netdev table owned by the wall's netlink socket,
// one drop-everything ingress chain per data port (see ingress_shield.h).
#include "io/ingress_shield.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#ifndef NFT_TABLE_F_OWNER
#define NFT_TABLE_F_OWNER 0x2
#endif

namespace hn {
namespace {

// One nfnetlink batch under construction: netlink messages with an nfgenmsg
// header and attributes, each 4-byte aligned.
class Batch {
 public:
  explicit Batch(uint32_t* seq) : seq_(seq) {}

  void Begin(uint16_t type, uint16_t flags, uint8_t family, uint16_t res_id) {
    at_ = b_.size();
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = (*seq_)++;
    Put(&h, sizeof h);
    nfgenmsg g{};
    g.nfgen_family = family;
    g.version = NFNETLINK_V0;
    g.res_id = htons(res_id);
    Put(&g, sizeof g);
    Align();
  }
  void End() {
    const uint32_t len = uint32_t(b_.size() - at_);
    std::memcpy(b_.data() + at_, &len, sizeof len);  // nlmsg_len is the header's first field
  }
  // An nftables request that the kernel acknowledges.
  void Request(uint16_t msg, uint16_t flags) {
    Begin(uint16_t((NFNL_SUBSYS_NFTABLES << 8) | msg), uint16_t(NLM_F_REQUEST | NLM_F_ACK | flags), NFPROTO_NETDEV,
          0);
  }
  void Str(uint16_t type, const std::string& s) { Attr(type, s.c_str(), s.size() + 1); }
  void Be32(uint16_t type, uint32_t v) {
    const uint32_t be = htonl(v);
    Attr(type, &be, sizeof be);
  }
  size_t Nest(uint16_t type) {
    const size_t at = b_.size();
    nlattr a{};
    a.nla_type = uint16_t(type | NLA_F_NESTED);
    Put(&a, sizeof a);
    return at;
  }
  void EndNest(size_t at) {
    const uint16_t len = uint16_t(b_.size() - at);
    std::memcpy(b_.data() + at, &len, sizeof len);  // nla_len is the attribute's first field
  }
  const uint8_t* data() const { return b_.data(); }
  size_t size() const { return b_.size(); }

 private:
  void Attr(uint16_t type, const void* v, size_t len) {
    nlattr a{};
    a.nla_len = uint16_t(NLA_HDRLEN + len);
    a.nla_type = type;
    Put(&a, sizeof a);
    Put(v, len);
    Align();
  }
  void Put(const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    b_.insert(b_.end(), c, c + n);
  }
  void Align() { b_.resize(NLMSG_ALIGN(b_.size()), 0); }
  std::vector<uint8_t> b_;
  size_t at_ = 0;
  uint32_t* seq_;
};

// Wraps the requests built by fill() in a batch's begin and end messages.
template <typename Fill>
Batch MakeBatch(uint32_t* seq, Fill fill) {
  Batch b(seq);
  b.Begin(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
  b.End();
  fill(b);
  b.Begin(NFNL_MSG_BATCH_END, NLM_F_REQUEST, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
  b.End();
  return b;
}

std::string Explain(int err) {
  switch (err) {
    case EPERM:
      return "not permitted (needs CAP_NET_ADMIN)";
    case EOPNOTSUPP:
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
      return fmt::format("{} (needs nf_tables with netdev tables and owned tables, Linux 5.12 or later: "
                         "modprobe nf_tables)", std::strerror(err));
    default:
      return std::strerror(err);
  }
}

}  // namespace

Result<std::unique_ptr<IngressShield>> IngressShield::Open(const std::string& table) {
  std::unique_ptr<IngressShield> s(new IngressShield());
  s->table_ = table;
  s->fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (s->fd_ < 0) return Status::Error("netfilter netlink socket: " + Explain(errno));
  // The kernel answers a batch at once; a bound wait keeps a wedged kernel
  // module from hanging the wall's start.
  timeval tv{2, 0};
  ::setsockopt(s->fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const uint32_t first = s->seq_;
  Batch b = MakeBatch(&s->seq_, [&](Batch& m) {
    m.Request(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL);
    m.Str(NFTA_TABLE_NAME, table);
    m.Be32(NFTA_TABLE_FLAGS, NFT_TABLE_F_OWNER);
    m.End();
  });
  Status st = s->Transact("table netdev " + table, b.data(), b.size(), first);
  if (!st.ok()) return st;
  return s;
}

IngressShield::~IngressShield() {
  if (fd_ >= 0) ::close(fd_);
}

Status IngressShield::Cover(const std::string& ifname) {
  // The first chain on an interface name is named after it; those for the
  // same name re-created get _2, _3, ...
  uint32_t& n = covered_[ifname];
  const std::string chain = n == 0 ? ifname : fmt::format("{}_{}", ifname, n + 1);
  const uint32_t first = seq_;
  Batch b = MakeBatch(&seq_, [&](Batch& m) {
    m.Request(NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL);
    m.Str(NFTA_CHAIN_TABLE, table_);
    m.Str(NFTA_CHAIN_NAME, chain);
    const size_t hook = m.Nest(NFTA_CHAIN_HOOK);
    m.Be32(NFTA_HOOK_HOOKNUM, NF_NETDEV_INGRESS);
    m.Be32(NFTA_HOOK_PRIORITY, 0);
    m.Str(NFTA_HOOK_DEV, ifname);
    m.EndNest(hook);
    m.Be32(NFTA_CHAIN_POLICY, NF_DROP);
    m.Str(NFTA_CHAIN_TYPE, "filter");
    m.End();
  });
  Status st = Transact("ingress chain on " + ifname, b.data(), b.size(), first);
  if (st.ok()) n++;
  return st;
}

Status IngressShield::Transact(const std::string& what, const void* buf, size_t len, uint32_t first_seq) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_, buf, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) != ssize_t(len))
    return Status::Error(fmt::format("nftables {}: send: {}", what, Explain(errno)));
  alignas(nlmsghdr) uint8_t reply[8192];
  for (;;) {
    const ssize_t n = ::recv(fd_, reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Error(fmt::format("nftables {}: no answer from the kernel: {}", what, Explain(errno)));
    }
    size_t left = size_t(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) continue;
      // Only an answer to this batch (an earlier batch that timed out may
      // have left a late one in the socket). The kernel answers the request
      // (0: done), or whichever message of the batch it refused.
      if (h->nlmsg_seq < first_seq || h->nlmsg_seq >= seq_) continue;
      const int err = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
      if (err != 0) return Status::Error(fmt::format("nftables {}: {}", what, Explain(err)));
      return Status::Ok();
    }
  }
}

}  // namespace hn
