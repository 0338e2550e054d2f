// AfPacketPort: TPACKET_V2 RX and TX rings on an AF_PACKET socket.
//
// Ring protocol (Documentation/networking/packet_mmap.rst):
//  - one mmap covers both rings, RX ring first, then TX ring;
//  - RX: the kernel fills the slot at its head and sets TP_STATUS_USER; we own
//    the slot until we store TP_STATUS_KERNEL (0) back;
//  - TX: we fill a slot whose status is TP_STATUS_AVAILABLE (0), store
//    TP_STATUS_SEND_REQUEST, and send() makes the kernel transmit every
//    requested slot from its own head on; it sets the slot back to AVAILABLE
//    when the skb is freed. Without PACKET_TX_HAS_OFF, V2 frame data starts at
//    TPACKET2_HDRLEN - sizeof(sockaddr_ll) in the slot.
// Both rings have the same geometry: frames_ slots of frame_size_ bytes, laid
// out back to back (a block holds a whole number of frames), so slot i is at
// ring + i * frame_size_.
#include "io/af_packet.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <endian.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/thread_name.h"
#include "io/port_check.h"

namespace hn {
namespace {

constexpr uint32_t kEthHeader = 14;
constexpr uint32_t kVlanTag = 4;
constexpr uint16_t kTpid8021Q = 0x8100;
// The virtio-net header PACKET_VNET_HDR puts before each frame
// (include/uapi/linux/virtio_net.h, struct virtio_net_hdr; that header is not
// C++-clean). Little-endian fields on every host this runs on (vio_le()).
struct virtio_net_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(virtio_net_hdr) == 10);
constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
constexpr uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
constexpr uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;
// The segmentation instruction in the virtio-net header at vnet.
GsoInstr InstrOf(const uint8_t* vnet) {
  virtio_net_hdr vh;
  std::memcpy(&vh, vnet, sizeof vh);
  GsoInstr g;
  g.hdr_len = le16toh(vh.hdr_len);
  g.gso_size = le16toh(vh.gso_size);
  g.csum_start = le16toh(vh.csum_start);
  g.csum_offset = le16toh(vh.csum_offset);
  return g;
}
// Linear transmit of a len-byte frame (no segmentation instruction):
// hdr_len = the whole frame makes the kernel copy it into the skb's head
// instead of pointing page fragments at our buffer (see Commit()).
void SetLinear(uint8_t* vnet, uint32_t len) {
  const uint16_t whole = htole16(uint16_t(len));
  std::memcpy(vnet + offsetof(virtio_net_hdr, hdr_len), &whole, sizeof whole);
}
// Where V2 TX frame data starts in a slot (no PACKET_TX_HAS_OFF).
constexpr uint32_t kTxDataOffset = TPACKET2_HDRLEN - sizeof(sockaddr_ll);
// tp_status bit the kernel never uses; we set it on an RX slot we own once the
// stripped VLAN tag is back in the frame, so a repeated Next() does not insert it twice.
constexpr uint32_t kTagReinserted = 1u << 27;
// With a transmit thread, Flush() still sends a small batch itself when the
// port has been quiet this long: a lone frame (ping, TCP handshake,
// interactive keystroke) would otherwise wait for the thread's wakeup. Under a
// stream of frames the thread sends everything, so the forwarding thread does
// not do the receivers' work. One TCP stream through the bridge, A/B against
// the kernel bridge (docs/performance.md): batches of <= 2 frames inline
// 0.82x; every batch to the thread 0.99x but ping RTT avg 0.21 ms; this rule
// 0.92x with RTT avg 0.10 ms.
constexpr uint32_t kInlineSendMax = 2;
constexpr int64_t kQuietNs = 500'000;
// How long Commit() waits for the super-segments queued before its frame (see there).
constexpr int64_t kSuperWaitNs = 20'000'000;

int64_t MonoNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// send() errors that mean "later": socket buffer or device queue full.
bool TryAgain(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR; }

std::string Errno(int err) { return std::strerror(err); }

Status IfError(const std::string& what, const std::string& ifname, int err) {
  if (err == EPERM || err == EACCES) {
    return Status::Error("opening AF_PACKET socket on " + ifname +
                         " needs root or CAP_NET_RAW: run as root");
  }
  if (err == ENODEV || err == ENXIO) {
    return Status::Error("interface " + ifname +
                         " does not exist (create it, or fix inside.interface/outside.interface)");
  }
  return Status::Error(what + " on " + ifname + " failed: " + Errno(err));
}

uint32_t RoundUpPow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// Ring slot size for a link MTU: the kernel puts the MAC header at
// TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - 14 (it reserves at least 16 bytes for
// it), then the payload; on top we keep 4 bytes for an inner VLAN tag (QinQ)
// and 8 spare. Slots are powers of two and at least 2048.
uint32_t FrameSizeFor(uint32_t mtu, uint32_t vnet) {
  uint32_t need = TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + vnet + kVlanTag + 8 + mtu;
  need = std::max<uint32_t>(need, TPACKET2_HDRLEN + vnet + kVlanTag + kEthHeader + 8 + mtu);
  return std::max<uint32_t>(2048, RoundUpPow2(need));
}

inline tpacket2_hdr* Hdr(uint8_t* slot) { return reinterpret_cast<tpacket2_hdr*>(slot); }
inline uint32_t LoadStatus(tpacket2_hdr* h) { return __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE); }
inline void StoreStatus(tpacket2_hdr* h, uint32_t s) { __atomic_store_n(&h->tp_status, s, __ATOMIC_RELEASE); }

// Puts the tag the kernel stripped into tp_vlan_tci back between the MAC
// addresses and the EtherType, in place: the 12 address bytes move 4 bytes
// towards the slot header (the kernel leaves a gap there). Updates tp_mac,
// tp_snaplen and tp_len so the header describes the frame as it was on the
// wire. False when there is no room (never with the kernel's layout).
bool ReinsertVlan(uint8_t* slot, tpacket2_hdr* h, uint32_t status) {
  if (h->tp_mac < sizeof(tpacket2_hdr) + kVlanTag || h->tp_snaplen < 12) return false;
  uint8_t* mac = slot + h->tp_mac;
  std::memmove(mac - kVlanTag, mac, 12);
  uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) ? h->tp_vlan_tpid : kTpid8021Q;
  if (tpid == 0) tpid = kTpid8021Q;
  uint8_t* tag = mac - kVlanTag + 12;
  tag[0] = uint8_t(tpid >> 8);
  tag[1] = uint8_t(tpid);
  tag[2] = uint8_t(h->tp_vlan_tci >> 8);
  tag[3] = uint8_t(h->tp_vlan_tci);
  h->tp_mac = uint16_t(h->tp_mac - kVlanTag);
  h->tp_snaplen += kVlanTag;
  h->tp_len += kVlanTag;
  __atomic_store_n(&h->tp_status, status | kTagReinserted, __ATOMIC_RELAXED);
  return true;
}

}  // namespace

Result<std::unique_ptr<AfPacketPort>> AfPacketPort::Open(const std::string& ifname, uint32_t ring_frames,
                                                         bool qdisc_bypass, bool tx_thread, bool vnet_hdr,
                                                         bool gso, bool coalesce) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return Status::Error("interface name '" + ifname + "' is not valid (1 to " +
                         std::to_string(IFNAMSIZ - 1) + " characters)");
  }
  if (ring_frames == 0 || (ring_frames & (ring_frames - 1)) != 0) {
    return Status::Error("ring size " + std::to_string(ring_frames) + " for " + ifname +
                         " must be a power of two");
  }
  std::unique_ptr<AfPacketPort> p(new AfPacketPort());
  p->name_ = ifname;

  // Protocol 0: receive nothing until bind(), when the rings are in place.
  p->fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (p->fd_ < 0) return IfError("socket(AF_PACKET)", ifname, errno);

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  if (::ioctl(p->fd_, SIOCGIFINDEX, &ifr) < 0) return IfError("SIOCGIFINDEX", ifname, errno);
  p->ifindex_ = ifr.ifr_ifindex;
  if (::ioctl(p->fd_, SIOCGIFMTU, &ifr) < 0) return IfError("SIOCGIFMTU", ifname, errno);
  p->mtu_ = uint32_t(ifr.ifr_mtu);
  if (::ioctl(p->fd_, SIOCGIFHWADDR, &ifr) < 0) return IfError("SIOCGIFHWADDR", ifname, errno);
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    return Status::Error("interface " + ifname + " is not an Ethernet interface (ARPHRD type " +
                         std::to_string(ifr.ifr_hwaddr.sa_family) +
                         "); use a tap, veth or Ethernet NIC");
  }
  p->mac_ = Mac::From(reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data));

  auto setopt = [&](int level, int opt, int value, const char* name) -> Status {
    if (::setsockopt(p->fd_, level, opt, &value, sizeof(value)) < 0) {
      return IfError(std::string("setsockopt ") + name, ifname, errno);
    }
    return Status::Ok();
  };
  for (Status s : {setopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION"),
                   // No PACKET_QDISC_BYPASS: frames sent that way skip dev_queue_xmit_nit and
                   // are invisible to other packet sockets, so the capture thread (and any
                   // tcpdump on the port) would miss every frame the honeywall sends.
                   setopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING"),
                   // A frame the kernel refuses (too long, bad header) is dropped and its
                   // slot made AVAILABLE, instead of stalling the TX ring forever.
                   setopt(SOL_PACKET, PACKET_LOSS, 1, "PACKET_LOSS")}) {
    if (!s.ok()) return s;
  }
  if (qdisc_bypass) {
    if (Status s = setopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS"); !s.ok()) return s;
    p->bypass_ = true;
  }

  if (vnet_hdr) {
    // Before the rings exist (the kernel refuses it after). A kernel without
    // virtio-net headers on packet rings (< 5.8 for RX) says EINVAL: go on
    // without them; frames are then summed here as before.
    int one = 1;
    if (::setsockopt(p->fd_, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) == 0)
      p->vnet_ = sizeof(virtio_net_hdr);
  }
  if (gso && p->vnet_ == 0) {
    return Status::Error("gso = true on " + ifname +
                         " needs virtio-net headers on packet rings (PACKET_VNET_HDR, Linux 5.8 or later); "
                         "this kernel refused them: set gso = false");
  }
  p->gso_ = gso;
  p->frame_size_ = FrameSizeFor(p->mtu_, p->vnet_);
  uint32_t block_size = std::max<uint32_t>(uint32_t(::sysconf(_SC_PAGESIZE)), p->frame_size_);
  if (gso) {
    // 64 KiB of frame + the slot header + VLAN tag, in whole pages; 7 slots per
    // block: the kernel allocates a block as 2^n pages, and 7 x 68 KiB uses 476
    // of the 512 KiB it takes.
    const uint32_t page = uint32_t(::sysconf(_SC_PAGESIZE));
    p->frame_size_ = (65536 + 4096 + page - 1) / page * page;
    block_size = 7 * p->frame_size_;
  }
  uint32_t per_block = block_size / p->frame_size_;
  p->frames_ = std::max(ring_frames, per_block);
  if (gso) p->frames_ = (p->frames_ + per_block - 1) / per_block * per_block;
  tpacket_req req{};
  req.tp_block_size = block_size;
  req.tp_block_nr = p->frames_ / per_block;
  req.tp_frame_size = p->frame_size_;
  req.tp_frame_nr = p->frames_;
  if (::setsockopt(p->fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
    return IfError("setsockopt PACKET_RX_RING", ifname, errno);
  }
  if (::setsockopt(p->fd_, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0) {
    return IfError("setsockopt PACKET_TX_RING", ifname, errno);
  }
  p->ring_bytes_ = size_t(req.tp_block_size) * req.tp_block_nr;
  void* ring = ::mmap(nullptr, 2 * p->ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd_, 0);
  if (ring == MAP_FAILED) return IfError("mmap of the packet rings", ifname, errno);
  p->rx_ring_ = static_cast<uint8_t*>(ring);
  p->tx_ring_ = p->rx_ring_ + p->ring_bytes_;

  // Room in the socket send buffer for a whole TX ring in flight (best effort:
  // SO_SNDBUFFORCE needs CAP_NET_ADMIN, SO_SNDBUF is capped by wmem_max).
  int sndbuf = int(std::min<size_t>(p->ring_bytes_, 1u << 30));
  if (::setsockopt(p->fd_, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0) {
    (void)::setsockopt(p->fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  }

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = p->ifindex_;
  if (::bind(p->fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0) {
    return IfError("bind", ifname, errno);
  }
  packet_mreq mr{};
  mr.mr_ifindex = p->ifindex_;
  mr.mr_type = PACKET_MR_PROMISC;
  if (::setsockopt(p->fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
    return IfError("setsockopt PACKET_ADD_MEMBERSHIP (promiscuous mode)", ifname, errno);
  }
  if (coalesce && tx_thread && qdisc_bypass && p->vnet_ != 0 && !gso) {
    // Super-segments go out through a socket of their own, without a ring (a
    // 64 KiB slot per frame would cost the ring its depth for small frames).
    // Protocol 0: it receives nothing.
    int sfd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (sfd < 0) return IfError("socket(AF_PACKET) for super-segments", ifname, errno);
    p->sfd_ = sfd;
    int one = 1;
    if (::setsockopt(sfd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0)
      return IfError("setsockopt PACKET_VNET_HDR (super-segments)", ifname, errno);
    if (::setsockopt(sfd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0)
      return IfError("setsockopt PACKET_QDISC_BYPASS (super-segments)", ifname, errno);
    int sb = int(2 * kSupers * kSuperBuf);
    if (::setsockopt(sfd, SOL_SOCKET, SO_SNDBUFFORCE, &sb, sizeof sb) < 0)
      (void)::setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
    sockaddr_ll sl{};
    sl.sll_family = AF_PACKET;
    sl.sll_protocol = 0;
    sl.sll_ifindex = p->ifindex_;
    if (::bind(sfd, reinterpret_cast<sockaddr*>(&sl), sizeof sl) < 0)
      return IfError("bind (super-segments)", ifname, errno);
    p->supers_ = std::make_unique<uint8_t[]>(size_t(kSupers) * kSuperBuf + kCutBuf);
    // A device that takes less than 64 KiB at once (gso_max_size) gets
    // super-segments shorter than it (else each would be cut: SendSupers).
    p->super_cap_ = kSuperBuf - p->vnet_;
    if (const uint32_t most = GsoMaxSize(ifname); most > 0) p->super_cap_ = std::min(p->super_cap_, most - 1);
  }
  if (gso && qdisc_bypass) p->cut_ = std::make_unique<uint8_t[]>(p->frame_size_);  // CommitCut()
  p->CheckSegmentation();
  if (tx_thread) {
    AfPacketPort* raw = p.get();
    p->tx_thread_ = std::thread([raw] {
      NameThread("tx-" + raw->name_);
      raw->TxThreadLoop();
    });
  }
  return p;
}

AfPacketPort::~AfPacketPort() {
  if (tx_thread_.joinable()) {
    tx_stop_.store(true, std::memory_order_seq_cst);
    tx_kick_.store(1, std::memory_order_seq_cst);
    tx_kick_.notify_one();
    tx_thread_.join();
  }
  if (rx_ring_ != nullptr) ::munmap(rx_ring_, 2 * ring_bytes_);
  if (fd_ >= 0) ::close(fd_);
  if (sfd_ >= 0) ::close(sfd_);
}

bool AfPacketPort::Next(RxFrame* f) {
  for (;;) {
    uint8_t* slot = rx_ring_ + size_t(rx_idx_) * frame_size_;
    tpacket2_hdr* h = Hdr(slot);
    uint32_t status = LoadStatus(h);
    if ((status & TP_STATUS_USER) == 0) return false;
    if (!rx_held_) {
      if ((status & TP_STATUS_VLAN_VALID) && !(status & kTagReinserted)) {
        // The virtio-net header sits just before the MAC header, where the tag
        // goes: keep it, and put it back before the frame's new start with its
        // offsets moved by the tag.
        virtio_net_hdr vh{};
        const bool vh_ok = vnet_ != 0 && h->tp_mac >= sizeof(tpacket2_hdr) + kVlanTag + vnet_;
        if (vh_ok) std::memcpy(&vh, slot + h->tp_mac - vnet_, sizeof vh);
        if (vh_ok && (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
          vh.csum_start = htole16(uint16_t(le16toh(vh.csum_start) + kVlanTag));
        const bool reinserted = (vnet_ == 0 || vh_ok) && ReinsertVlan(slot, h, status);
        if (reinserted && vh_ok) std::memcpy(slot + h->tp_mac - vnet_, &vh, sizeof vh);
        if (!reinserted) {
          // Cannot show the frame as it was on the wire: drop it, count it.
          ++stats_.rx_truncated;
          StoreStatus(h, TP_STATUS_KERNEL);
          rx_idx_ = Next(rx_idx_);
          continue;
        }
        status |= kTagReinserted;
      }
      ++stats_.rx_frames;
      if (h->tp_snaplen < h->tp_len) ++stats_.rx_truncated;
      rx_held_ = true;
    }
    f->data = slot + h->tp_mac;
    f->len = h->tp_snaplen;
    f->wire_len = h->tp_len;
    f->ts_ns = int64_t(h->tp_sec) * 1000000000 + int64_t(h->tp_nsec);
    f->csum_not_ready = (status & TP_STATUS_CSUMNOTREADY) != 0;
    f->vlan_stripped = (status & TP_STATUS_VLAN_VALID) != 0;
    f->csum_start = f->csum_offset = 0;
    f->gso_type = 0;
    f->gso_size = f->hdr_len = 0;
    if (vnet_ != 0 && (f->csum_not_ready || gso_)) {
      virtio_net_hdr vh;
      std::memcpy(&vh, slot + h->tp_mac - vnet_, sizeof vh);
      if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        f->csum_start = le16toh(vh.csum_start);
        f->csum_offset = le16toh(vh.csum_offset);
      }
      if (gso_ && vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        f->gso_type = vh.gso_type;
        f->gso_size = le16toh(vh.gso_size);
        f->hdr_len = le16toh(vh.hdr_len);
      }
    }
    return true;
  }
}

void AfPacketPort::Release() {
  if (!rx_held_) return;
  StoreStatus(Hdr(rx_ring_ + size_t(rx_idx_) * frame_size_), TP_STATUS_KERNEL);
  rx_idx_ = Next(rx_idx_);
  rx_held_ = false;
}

// Longest frame the kernel will transmit: the link MTU plus the Ethernet
// header, plus 4 when the frame carries an 802.1Q tag; and what fits a slot.
static uint32_t MaxTxLen(uint32_t mtu, uint32_t room, const uint8_t* frame, uint32_t len) {
  uint32_t link = mtu + kEthHeader;
  if (len >= kEthHeader && frame[12] == 0x81 && frame[13] == 0x00) link += kVlanTag;
  return std::min(link, room);
}

bool AfPacketPort::Send(const uint8_t* frame, uint32_t len) {
  if (len < kEthHeader || len > MaxTxLen(mtu_, frame_size_ - kTxDataOffset - vnet_, frame, len)) {
    ++stats_.tx_errors;
    return false;
  }
  uint32_t max_len = 0;
  uint8_t* dst = Reserve(&max_len);
  if (dst == nullptr) return false;
  std::memcpy(dst, frame, len);
  Commit(len);
  return true;
}

bool AfPacketPort::CheckSegmentation() {
  if (!sends_supers()) return false;
  ethtool_value ev{};
  ev.cmd = ETHTOOL_GTSO;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name_.c_str(), std::min(name_.size(), size_t(IFNAMSIZ - 1)));
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  // No answer (interface gone, no ethtool): keep what was known; the link
  // checks deal with a port that went away.
  if (::ioctl(fd_, SIOCETHTOOL, &ifr) == 0) seg_ok_.store(ev.data != 0, std::memory_order_relaxed);
  return seg_ok_.load(std::memory_order_relaxed);
}

bool AfPacketPort::Coalesce(const uint8_t* frame, uint32_t len, bool partial) {
  if (sfd_ < 0 || tx_reserved_) return false;
  if (!seg_ok_.load(std::memory_order_relaxed)) {
    CloseSuper();  // joined before TSO went off: queued first, so it goes first
    return false;
  }
  if (super_stalled_) {  // see Commit()
    if (super_pushed_.load(std::memory_order_relaxed) != super_done_.load(std::memory_order_acquire)) return false;
    super_stalled_ = false;
  }
  TcpSegInfo s;
  if (!TcpCoalescer::Parse(frame, len, &s, partial) || len > mtu_ + kEthHeader) {
    CloseSuper();
    return false;
  }
  if (coal_.open()) {
    if (coal_.Append(frame, len, s)) {
      ++stats_.tx_frames;
      if (coal_.ended()) CloseSuper();
      return true;
    }
    CloseSuper();
  }
  const uint64_t n = super_pushed_.load(std::memory_order_relaxed);
  if (n - super_done_.load(std::memory_order_acquire) >= kSupers) return false;  // all in flight
  uint8_t* buf = supers_.get() + size_t(n % kSupers) * kSuperBuf + vnet_;
  if (!coal_.Start(buf, super_cap_, frame, len, s)) return false;
  coal_first_partial_ = partial;
  ++stats_.tx_frames;
  return true;
}

void AfPacketPort::CloseSuper() {
  if (!coal_.open()) return;
  const uint64_t n = super_pushed_.load(std::memory_order_relaxed);
  uint8_t* base = supers_.get() + size_t(n % kSupers) * kSuperBuf;
  virtio_net_hdr vh{};
  uint32_t len = 0;
  uint32_t segments = 1;
  if (coal_.segments() < 2) {
    // Nothing joined it: the frame goes through the ring like any other
    // (counted again there).
    len = coal_.Abandon();
    uint32_t room = 0;
    uint8_t* dst = Reserve(&room);
    if (dst != nullptr) {
      --stats_.tx_frames;
      std::memcpy(dst, base + vnet_, std::min(len, room));
      if (coal_first_partial_) SetTxOffload(34, 16);  // as it came: still left to offload
      Commit(len);
      return;
    }
    // The ring is full (counted in tx_ring_full). The frame was taken (the
    // capture has it), so it must leave: from its buffer, as a
    // "super-segment" of one, with no segmentation instruction.
    if (coal_first_partial_) {
      vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      vh.csum_start = htole16(34);
      vh.csum_offset = htole16(16);
    }
  } else {
    GsoInstr g;
    len = coal_.Finish(&g);
    segments = g.segments;
    vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    vh.hdr_len = htole16(g.hdr_len);
    vh.gso_size = htole16(g.gso_size);
    vh.csum_start = htole16(g.csum_start);
    vh.csum_offset = htole16(g.csum_offset);
  }
  std::memcpy(base, &vh, sizeof vh);
  super_desc_[n % kSupers] = SuperDesc{len, tx_idx_, segments};
  super_pushed_.store(n + 1, std::memory_order_release);
  tx_gen_.fetch_add(1, std::memory_order_seq_cst);
  if (tx_kick_.exchange(1, std::memory_order_seq_cst) == 0) tx_kick_.notify_one();
}

uint8_t* AfPacketPort::Reserve(uint32_t* max_len) {
  if (coal_.open()) CloseSuper();  // it was queued first: it goes first
  uint8_t* slot = tx_ring_ + size_t(tx_idx_) * frame_size_;
  if (!tx_reserved_) {
    tpacket2_hdr* h = Hdr(slot);
    uint32_t status = LoadStatus(h);
    if (status == TP_STATUS_SEND_REQUEST && tx_pending_ == 0) {
      // Queued but never handed to the kernel (a send() came back early with
      // "try again"): ask again, else the ring would stay full for good.
      tx_pending_ = kInlineSendMax + 1;  // with a transmit thread: let it do it
      Flush();  // may throw the queued frames away and move tx_idx_ back
      slot = tx_ring_ + size_t(tx_idx_) * frame_size_;
      h = Hdr(slot);
      status = LoadStatus(h);
    }
    if (status == TP_STATUS_WRONG_FORMAT) {
      // The kernel refused this frame (only without PACKET_LOSS); reuse the slot.
      ++stats_.tx_errors;
      StoreStatus(h, TP_STATUS_AVAILABLE);
    } else if (status != TP_STATUS_AVAILABLE) {
      ++stats_.tx_ring_full;
      return nullptr;
    }
    tx_reserved_ = true;
  }
  // gso ports: room for a super-segment (Commit() holds a frame without a
  // segmentation instruction to the link's MTU all the same).
  *max_len = max_tx_len();
  // A virtio-net header first (with vnet_): none of its offloads unless SetTxOffload() asks.
  if (vnet_ != 0) std::memset(slot + kTxDataOffset, 0, vnet_);
  return slot + kTxDataOffset + vnet_;
}

uint32_t AfPacketPort::max_tx_len() const {
  return gso_ ? frame_size_ - kTxDataOffset - vnet_
              : std::min(mtu_ + kEthHeader + kVlanTag, frame_size_ - kTxDataOffset - vnet_);
}

void AfPacketPort::SetTxOffload(uint16_t csum_start, uint16_t csum_offset, uint8_t gso_type, uint16_t gso_size,
                                uint16_t hdr_len) {
  if (!tx_reserved_ || vnet_ == 0) return;
  virtio_net_hdr vh{};
  vh.flags = csum_start != 0 ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0;
  vh.gso_type = gso_ ? gso_type : VIRTIO_NET_HDR_GSO_NONE;
  vh.csum_start = htole16(csum_start);
  vh.csum_offset = htole16(csum_offset);
  if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
    vh.gso_size = htole16(gso_size);
    vh.hdr_len = htole16(hdr_len);
  }
  std::memcpy(tx_ring_ + size_t(tx_idx_) * frame_size_ + kTxDataOffset, &vh, sizeof vh);
}

bool AfPacketPort::Commit(uint32_t len) {
  if (!tx_reserved_) return false;
  tx_reserved_ = false;
  uint8_t* slot = tx_ring_ + size_t(tx_idx_) * frame_size_;
  const uint32_t room = frame_size_ - kTxDataOffset - vnet_;
  // A super-segment (gso ports, with its instruction) may fill the slot; any
  // other frame is held to the link's MTU.
  const bool super = gso_ && slot[kTxDataOffset + 1] != VIRTIO_NET_HDR_GSO_NONE;
  if (len < kEthHeader || len > (super ? room : MaxTxLen(mtu_, room, slot + kTxDataOffset + vnet_, len))) {
    ++stats_.tx_errors;  // slot stays AVAILABLE, nothing queued
    return false;
  }
  if (super && bypass_ && !seg_ok_.load(std::memory_order_relaxed)) return CommitCut(slot, len);
  if (vnet_ != 0 && !super) {
    // Linear transmit: hdr_len = the whole frame makes tpacket_snd() copy it
    // into the skb's head instead of pointing page fragments at the ring.
    SetLinear(slot + kTxDataOffset, len);
  }
  tpacket2_hdr* h = Hdr(slot);
  h->tp_len = len + vnet_;
  // Super-segments queued before this frame leave before it: the transmit
  // thread sends them after the ring frames before them, so wait for it
  // (one send() of up to 64 KiB, usually). A link that takes nothing for
  // kSuperWaitNs ("try again" for good) costs one such wait, not one per
  // frame: the port then stops joining and waiting until the super-segments
  // are gone, and frames queued meanwhile may pass them.
  if (!super_stalled_ &&
      super_pushed_.load(std::memory_order_relaxed) != super_done_.load(std::memory_order_acquire)) {
    const int64_t deadline = MonoNs() + kSuperWaitNs;
    while (super_pushed_.load(std::memory_order_relaxed) != super_done_.load(std::memory_order_acquire)) {
      if (MonoNs() > deadline) {
        super_stalled_ = true;
        break;
      }
      ::sched_yield();
    }
  }
  StoreStatus(h, TP_STATUS_SEND_REQUEST);
  tx_idx_ = Next(tx_idx_);
  ++tx_pending_;
  ++stats_.tx_frames;
  return true;
}

// gso ports: the super-segment built in slot cannot leave whole (the device
// has no TSO, and the kernel drops what it would have to cut when sent
// without a qdisc), so it is cut here into the slots from tx_idx_ on, each
// segment a frame of its own with its checksums filled in. IPv4 TCP without
// IP options only (what TcpCoalescer::CutSegment knows); anything else is
// refused (tx_errors). All or nothing: without room for every segment, none
// is queued (tx_ring_full).
bool AfPacketPort::CommitCut(uint8_t* slot, uint32_t len) {
  const uint8_t gso_type = slot[kTxDataOffset + offsetof(virtio_net_hdr, gso_type)];
  const uint8_t* frame = slot + kTxDataOffset + vnet_;
  const GsoInstr g = InstrOf(slot + kTxDataOffset);
  if ((gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_TCPV4 || g.csum_start != kEthHeader + 20 ||
      len < kEthHeader + 20 || Load16(frame + 12) != ETH_P_IP || frame[kEthHeader] != 0x45 || g.gso_size == 0 ||
      g.hdr_len <= g.csum_start || len <= g.hdr_len) {
    ++stats_.tx_errors;
    return false;
  }
  const uint32_t n = (len - g.hdr_len + g.gso_size - 1) / g.gso_size;
  uint32_t idx = tx_idx_;
  for (uint32_t i = 0; i < n; i++, idx = Next(idx)) {
    if (i > 0 && LoadStatus(Hdr(tx_ring_ + size_t(idx) * frame_size_)) != TP_STATUS_AVAILABLE) {
      ++stats_.tx_ring_full;
      return false;
    }
  }
  std::memcpy(cut_.get(), frame, len);
  idx = tx_idx_;
  for (uint32_t i = 0; i < n; i++, idx = Next(idx)) {
    uint8_t* s = tx_ring_ + size_t(idx) * frame_size_;
    uint8_t* out = s + kTxDataOffset + vnet_;
    const uint32_t seg = TcpCoalescer::CutSegment(cut_.get(), len, g, i, out);
    std::memset(s + kTxDataOffset, 0, vnet_);
    SetLinear(s + kTxDataOffset, seg);
    Hdr(s)->tp_len = seg + vnet_;
    StoreStatus(Hdr(s), TP_STATUS_SEND_REQUEST);
    ++tx_pending_;
  }
  tx_idx_ = idx;
  ++stats_.tx_frames;
  super_cut_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void AfPacketPort::Flush() {
  if (coal_.open()) CloseSuper();  // a batch's end: nothing more will join it
  if (tx_thread_.joinable()) {
    if (int err = tx_thread_error_.exchange(0, std::memory_order_acq_rel); err != 0) {
      // The transmit thread met a hard error (link down, interface gone): the
      // kernel took none of what was queued; throw it away as below.
      ++stats_.tx_errors;
      tx_error_ = err;
      DiscardQueuedTx();
      return;
    }
    if (tx_pending_ == 0) return;
    const int64_t now = MonoNs();
    const bool quiet = now - last_flush_ns_ > kQuietNs;
    last_flush_ns_ = now;
    if (!quiet || tx_pending_ > kInlineSendMax || tx_kick_.load(std::memory_order_seq_cst) != 0) {
      // A batch, or the thread is at work anyway: it sends (no wakeup when it is running;
      // tx_gen_ tells it there is more).
      tx_pending_ = 0;
      tx_gen_.fetch_add(1, std::memory_order_seq_cst);
      if (tx_kick_.exchange(1, std::memory_order_seq_cst) == 0) tx_kick_.notify_one();
      return;
    }
  }
  if (tx_pending_ == 0) return;
  SendNow();
}

void AfPacketPort::SendNow() {
  if (::send(fd_, nullptr, 0, MSG_DONTWAIT) >= 0) {
    tx_pending_ = 0;
    return;
  }
  int err = errno;
  // Socket buffer or device queue full: the slots stay SEND_REQUEST and the
  // next Flush() asks again.
  if (TryAgain(err)) return;
  // Link down (ENETDOWN), interface gone (ENXIO, ENODEV) or anything else the
  // kernel will keep refusing: the kernel took none of the queued frames, and
  // leaving them queued would fill the ring for good. Throw them away.
  ++stats_.tx_errors;
  tx_error_ = err;
  DiscardQueuedTx();
}

// The transmit thread: sleeps until kicked, then sends until the forwarding
// thread stops queuing. "Try again" (socket buffer full) is retried after a
// yield: the frames stay queued and nobody else will ask for them.
void AfPacketPort::TxThreadLoop() {
  for (;;) {
    tx_kick_.wait(0, std::memory_order_seq_cst);
    if (tx_stop_.load(std::memory_order_seq_cst)) return;
    for (;;) {
      const uint64_t gen = tx_gen_.load(std::memory_order_seq_cst);
      int err = sfd_ >= 0 ? SendSupers() : 0;
      if (err == 0 && ::send(fd_, nullptr, 0, MSG_DONTWAIT) < 0) err = errno;
      if (tx_stop_.load(std::memory_order_relaxed)) return;
      if (TryAgain(err)) {
        ::sched_yield();
        continue;
      }
      if (err != 0) tx_thread_error_.store(err, std::memory_order_release);
      if (err == 0 && tx_gen_.load(std::memory_order_seq_cst) != gen) continue;
      tx_kick_.store(0, std::memory_order_seq_cst);
      // The forwarding thread may have queued more and seen us still running
      // (so it did not wake us): look once more after going idle.
      uint32_t idle = 0;
      if (err == 0 && tx_gen_.load(std::memory_order_seq_cst) != gen &&
          tx_kick_.compare_exchange_strong(idle, 1, std::memory_order_seq_cst))
        continue;
      break;
    }
  }
}

// Sends the super-segments queued, each once the ring frames queued before it
// are taken by the kernel (it takes slots in ring order; the owner queues no
// ring frame while a super-segment waits, see Commit()). On a hard error the
// rest are dropped (counted) so the owner never waits for them.
int AfPacketPort::SendSupers() {
  for (;;) {
    const uint64_t n = super_done_.load(std::memory_order_relaxed);
    if (n == super_pushed_.load(std::memory_order_acquire)) return 0;
    const SuperDesc d = super_desc_[n % kSupers];
    int err = 0;
    const uint32_t before = d.ring_end == 0 ? frames_ - 1 : d.ring_end - 1;
    tpacket2_hdr* last = Hdr(tx_ring_ + size_t(before) * frame_size_);  // the ring frame it must follow
    while (err == 0 && LoadStatus(last) == TP_STATUS_SEND_REQUEST) {
      if (::send(fd_, nullptr, 0, MSG_DONTWAIT) < 0 && !TryAgain(errno)) err = errno;
      else if (LoadStatus(last) == TP_STATUS_SEND_REQUEST) ::sched_yield();
      if (tx_stop_.load(std::memory_order_relaxed)) return 0;
    }
    const uint8_t* buf = supers_.get() + size_t(n % kSupers) * kSuperBuf;
    bool whole = d.segments < 2 || seg_ok_.load(std::memory_order_relaxed);
    while (err == 0 && whole && ::send(sfd_, buf, d.len + vnet_, MSG_DONTWAIT) < 0) {
      if (!TryAgain(errno)) {
        err = errno;
        break;
      }
      if (tx_stop_.load(std::memory_order_relaxed)) return 0;
      // With PACKET_QDISC_BYPASS the kernel drops (ENOBUFS) a super-segment
      // the device would have to cut itself: TSO was turned off (ethtool)
      // since it was joined, or the device takes less than 64 KiB at once.
      // A full device queue says ENOBUFS too; there is no telling them apart
      // here, and cutting is right for both: it is cut here (tx_cut). If TSO
      // is off, the port also stops joining.
      if (d.segments >= 2 && errno == ENOBUFS) {
        CheckSegmentation();
        whole = false;
      } else {
        ::sched_yield();
      }
    }
    if (err == 0 && !whole) err = SendCut(buf, d.len);
    if (err != 0) {
      // Drop this one and every other queued now: the ring frames behind them are thrown away too.
      uint64_t end = super_pushed_.load(std::memory_order_acquire);
      uint64_t segs = 0;
      for (uint64_t k = n; k < end; k++) segs += super_desc_[k % kSupers].segments;
      super_dropped_.fetch_add(segs, std::memory_order_relaxed);
      super_done_.store(end, std::memory_order_release);
      return err;
    }
    super_done_.store(n + 1, std::memory_order_release);
  }
}

// Sends the super-segment in buf (virtio-net header first, then len bytes) as the segments it
// was joined from, each with its own send() and checksums filled in (the
// link may not offload them either). Transmit thread. 0 or a hard errno.
int AfPacketPort::SendCut(const uint8_t* buf, uint32_t len) {
  const GsoInstr g = InstrOf(buf);
  uint8_t* out = supers_.get() + size_t(kSupers) * kSuperBuf;
  super_cut_.fetch_add(1, std::memory_order_relaxed);
  for (uint32_t i = 0;; i++) {
    std::memset(out, 0, vnet_);
    const uint32_t n = TcpCoalescer::CutSegment(buf + vnet_, len, g, i, out + vnet_);
    if (n == 0) return 0;
    SetLinear(out, n);
    while (::send(sfd_, out, n + vnet_, MSG_DONTWAIT) < 0) {
      if (!TryAgain(errno)) return errno;
      if (tx_stop_.load(std::memory_order_relaxed)) return 0;
      ::sched_yield();
    }
  }
}

// Waits until the transmit thread has nothing in hand (it then touches no slot).
void AfPacketPort::WaitTxThreadIdle() {
  if (!tx_thread_.joinable()) return;
  while (tx_kick_.load(std::memory_order_seq_cst) != 0) ::sched_yield();
}

// The kernel takes SEND_REQUEST slots in ring order, from its own head, and
// stops at the first slot that is not SEND_REQUEST. So the frames it has not
// taken are the run of SEND_REQUEST slots that ends just before tx_idx_, and
// the first of them is the kernel's head: making them AVAILABLE and moving
// tx_idx_ back to that head keeps our index and the kernel's in step. Safe
// only between send() calls (the kernel touches these slots only inside one),
// which holds: the port has one thread.
size_t AfPacketPort::DiscardQueuedTx() {
  if (coal_.open()) {
    stats_.tx_discarded += coal_.segments();
    coal_.Abandon();
  }
  WaitTxThreadIdle();
  tx_reserved_ = false;  // a reservation not committed is simply given up
  uint32_t idx = tx_idx_;
  size_t n = 0;
  for (uint32_t k = 0; k < frames_; k++) {
    const uint32_t prev = idx == 0 ? frames_ - 1 : idx - 1;
    tpacket2_hdr* h = Hdr(tx_ring_ + size_t(prev) * frame_size_);
    if (LoadStatus(h) != TP_STATUS_SEND_REQUEST) break;
    StoreStatus(h, TP_STATUS_AVAILABLE);
    idx = prev;
    n++;
  }
  tx_idx_ = idx;
  tx_pending_ = 0;
  stats_.tx_discarded += n;
  return n;
}

int AfPacketPort::TakeError() {
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) err = tx_error_;
  tx_error_ = 0;
  return err;
}

LinkState ReadLinkState(const std::string& ifname) {
  LinkState ls;
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return ls;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ls;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  if (::ioctl(fd, SIOCGIFINDEX, &ifr) == 0) {
    ls.exists = true;
    ls.ifindex = ifr.ifr_ifindex;
    if (::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
      ls.up = (ifr.ifr_flags & IFF_UP) != 0;
      ls.running = (ifr.ifr_flags & IFF_RUNNING) != 0;
    }
  }
  ::close(fd);
  return ls;
}

const PortStats& AfPacketPort::stats() {
  tpacket_stats ks{};
  socklen_t len = sizeof(ks);
  if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0) {
    stats_.kernel_drops += ks.tp_drops;
  }
  const uint64_t dropped = super_dropped_.load(std::memory_order_relaxed);
  stats_.tx_discarded += dropped - super_dropped_seen_;
  super_dropped_seen_ = dropped;
  stats_.tx_cut = super_cut_.load(std::memory_order_relaxed);
  return stats_;
}

}  // namespace hn
