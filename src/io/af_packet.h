// AfPacketPort: one data port of the honeywall, an AF_PACKET socket bound to a
// Linux interface with memory-mapped TPACKET_V2 rings (RX and TX).
//
// V2, not V3: V3 hands frames over in blocks that are released on a timeout,
// which adds up to that timeout to every forwarded frame (measured here: ping
// through a V3 forwarder ~1.2 ms vs ~0.25 ms with V2; Suricata's IPS mode uses
// V2 for the same reason). The port is promiscuous, ignores frames it sent
// itself (PACKET_IGNORE_OUTGOING). It bypasses the qdisc on TX only when asked
// (qdisc_bypass): frames sent that way are invisible to other packet sockets,
// so only when the honeywall captures what it sends itself (inline capture).
//
// Zero-copy receive: Next() returns a view into the RX ring that stays valid
// until Release(). Send() copies a frame into the TX ring (the one copy on the
// forwarding path); Flush() asks the kernel to transmit what was queued.
//
// Linear transmit (ports with a virtio-net header): every frame but a gso
// super-segment goes out with hdr_len = its whole length, so the kernel's
// tpacket_snd() copies it into the skb's head rather than pointing page
// fragments at the TX ring. A veth or tap has to copy fragments of a ring
// anyway before it hands the skb to the peer (skb_copy_ubufs: a page
// allocated, copied, freed per frame); one copy into a linear head is
// cheaper. Measured in docs/performance.md (stop 26): +5-10 % TCP.
//
// Transmit thread: the send() that hands queued frames to the kernel does the
// kernel's whole transmit path, and on a veth or tap also the receiver's
// (softirq runs inside it: its IP and TCP stack, the ACK it sends back). That
// was 83 % of the forwarding thread's time under one TCP stream. With
// tx_thread, Flush() hands the frames to a thread of
// the port's own that calls send(), so the forwarding thread goes on reading
// while the kernel transmits; a frame or two after a quiet spell (a ping, a
// handshake) is still sent inline, which adds no wakeup to its latency.
// Measured in docs/performance.md.
//
// Coalescing (coalesce, with tx_thread, vnet_hdr and qdisc_bypass, not gso):
// Coalesce() joins consecutive full-size segments of one TCP flow into a
// super-segment with a segmentation instruction (tcp_coalesce.h), built in
// one of kSupers buffers of the port's own and sent by the transmit thread
// with send() on a second socket, after the ring frames queued before it.
// A ring frame committed while super-segments are on their way waits for
// them (Commit), so the port's frames leave in the order they were queued.
// The receiver's stack then takes one skb for up to 45 segments and
// acknowledges once (docs/performance.md, "Stop 30").
//
// Who may call: the forwarding thread that owns the port (the transmit thread
// is private to the port).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/addr.h"
#include "common/status.h"
#include "io/tcp_coalesce.h"

namespace hn {

struct RxFrame {
  uint8_t* data = nullptr;  // frame bytes in the RX ring (writable: NAT rewrites in place)
  uint32_t len = 0;         // bytes present (snaplen)
  uint32_t wire_len = 0;    // original length; > len means the ring frame truncated it
  int64_t ts_ns = 0;        // kernel receive timestamp, wall clock
  bool csum_not_ready = false;  // TP_STATUS_CSUMNOTREADY: L4 checksum not filled in yet
  // With a virtio-net header (PACKET_VNET_HDR): where the sender left its
  // checksum to be done (RFC 1071 sum from csum_start to the end, stored at
  // csum_start + csum_offset; offsets from the frame's first byte). The field
  // holds the pseudo-header sum, not inverted. Valid when csum_start != 0.
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  // Segmentation left to offload (gso ports only): the frame is one TCP/UDP
  // super-segment, to be cut into gso_size payload pieces (VIRTIO_NET_HDR_GSO_*).
  uint8_t gso_type = 0;
  uint16_t gso_size = 0;
  uint16_t hdr_len = 0;
  bool vlan_stripped = false;   // kernel stripped an 802.1Q tag (we re-insert it: see .cpp)
};

struct PortStats {
  uint64_t rx_frames = 0;
  uint64_t tx_frames = 0;
  uint64_t tx_ring_full = 0;   // times a frame found the TX ring full (not sent; but a TCP segment
                               // already taken for joining leaves from its coalescing buffer instead)
  uint64_t tx_cut = 0;         // super-segments cut into segments here because the link has no TSO
  uint64_t rx_truncated = 0;   // frames larger than a ring slot
  uint64_t kernel_drops = 0;   // PACKET_STATISTICS tp_drops (RX ring full)
  uint64_t tx_errors = 0;      // frames refused (too short/long for the link) and send() failures
  uint64_t tx_discarded = 0;   // frames queued for transmit, then thrown away because send() failed
                               // (link down, interface gone): counted in tx_frames as well
};

// What the kernel says about an interface right now (by name).
struct LinkState {
  bool exists = false;   // an interface of that name exists
  int ifindex = 0;       // its index (a deleted and re-created interface gets a new one)
  bool up = false;       // IFF_UP: administratively up
  bool running = false;  // IFF_RUNNING: carrier (for a veth: the peer is up too)
};
LinkState ReadLinkState(const std::string& ifname);

class AfPacketPort {
 public:
  // Opens the port on `ifname`. ring_frames: slots in each ring (power of two).
  // qdisc_bypass: send with PACKET_QDISC_BYPASS (straight to the driver; the
  // frames sent are then invisible to other packet sockets on the interface,
  // tcpdump included: only for when the honeywall captures them itself).
  // tx_thread: transmit batches from a thread of the port's own (see above).
  // vnet_hdr: ask for a virtio-net header on every frame (PACKET_VNET_HDR), so a
  // frame whose sender left the checksum to offload can be sent on as it is,
  // with the same instruction (SetTxOffload), instead of being summed here and
  // again by the receiver; has_vnet_hdr() says whether the kernel agreed.
  // gso (needs vnet_hdr, refused without): slots of 68 KiB, so a GSO/TSO
  // super-segment of up to 64 KiB is received whole and sent on whole with its
  // segmentation instruction (SetTxOffload); ring_frames is then rounded to
  // whole blocks of 7 slots.
  // coalesce: join TCP segments on transmit (see above); ignored unless
  // tx_thread, qdisc_bypass and vnet_hdr are on and gso is off.
  static Result<std::unique_ptr<AfPacketPort>> Open(const std::string& ifname, uint32_t ring_frames = 1024,
                                                    bool qdisc_bypass = false, bool tx_thread = false,
                                                    bool vnet_hdr = false, bool gso = false,
                                                    bool coalesce = false);
  ~AfPacketPort();
  AfPacketPort(const AfPacketPort&) = delete;
  AfPacketPort& operator=(const AfPacketPort&) = delete;

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  int ifindex() const { return ifindex_; }
  Mac mac() const { return mac_; }
  uint32_t mtu() const { return mtu_; }
  bool has_vnet_hdr() const { return vnet_ != 0; }

  // The next received frame, or false when the RX ring has none ready.
  bool Next(RxFrame* f);
  // Gives the frame returned by the last Next() back to the kernel.
  void Release();

  // Queues a copy of frame[0,len) for transmit. False (and counted) when the TX ring is full
  // or the frame does not fit a slot.
  bool Send(const uint8_t* frame, uint32_t len);
  // Takes frame[0,len) for transmit by joining it to a TCP super-segment
  // (copied into the port's buffer): true when taken (sent with the
  // super-segment), false when the caller must Send() or Reserve() it as
  // usual. Always false without coalescing. A frame that cannot join ends
  // the open super-segment first, so order is kept.
  // partial: the frame's TCP checksum is left to offload (csum_start = its
  // TCP header, csum_offset 16); it is then not verified here.
  bool Coalesce(const uint8_t* frame, uint32_t len, bool partial);
  bool coalescing() const { return sfd_ >= 0; }
  // Sends TCP super-segments (coalescing, or gso): whether the device has
  // TSO matters (CheckSegmentation).
  bool sends_supers() const { return sfd_ >= 0 || gso_; }
  // Asks the device whether it segments TCP itself (TSO, which ethtool may
  // turn off at any time) and returns that. A super-segment sent with
  // PACKET_QDISC_BYPASS to a device that would have to cut it is dropped by
  // the kernel, so without TSO a coalescing port joins nothing (and cuts
  // what it had joined), and a gso port cuts the super-segments it is
  // given (IPv4 TCP; others are refused, tx_errors). One ethtool ioctl (takes
  // the RTNL lock): the owner calls it with its link checks; the transmit
  // thread when the kernel refused a super-segment.
  bool CheckSegmentation();
  // Reserves a TX slot and returns where to write up to max_len bytes, for building
  // a frame in place (ARP replies, ICMP errors); Commit(len) queues it.
  uint8_t* Reserve(uint32_t* max_len);
  // Between Reserve() and Commit(): the frame's L4 checksum is left for the
  // kernel/receiver to finish (csum_start/csum_offset as in RxFrame), and with
  // gso_type != 0 (gso ports) it is a super-segment to be cut into gso_size
  // pieces. Only with has_vnet_hdr(); ignored otherwise.
  void SetTxOffload(uint16_t csum_start, uint16_t csum_offset, uint8_t gso_type = 0, uint16_t gso_size = 0,
                    uint16_t hdr_len = 0);
  // The most bytes Reserve() offers for one frame (its *max_len).
  uint32_t max_tx_len() const;
  // True when the frame was queued (false: bad length, counted in tx_errors).
  bool Commit(uint32_t len);
  // Kicks the kernel to send queued frames (non-blocking). Cheap when nothing is queued.
  // When the kernel refuses for good (link down: ENETDOWN, interface gone: ENXIO/ENODEV,
  // any error but "try again"), the queued frames are thrown away (tx_discarded) so the
  // TX ring never stalls, and the error is kept for TakeError().
  void Flush();
  // Frames queued that the last Flush() could not hand to the kernel ("try
  // again": socket buffer or device queue full). The owner should Flush()
  // again soon rather than sleep.
  bool tx_stalled() const { return tx_pending_ != 0; }
  // Throws away every frame queued but not yet taken by the kernel; returns how many.
  size_t DiscardQueuedTx();

  // The socket's pending error (SO_ERROR, which clears it; ENETDOWN after the link went
  // down or the interface was deleted), else the last error Flush() met; 0 when none.
  // poll() reports POLLERR until the socket's error is read: call this on POLLERR.
  int TakeError();

  // Refreshes kernel_drops from PACKET_STATISTICS (which resets the kernel's counter).
  const PortStats& stats();

 private:
  AfPacketPort() = default;
  void SendNow();        // one non-blocking send() of everything queued, on this thread
  void TxThreadLoop();   // the transmit thread
  void WaitTxThreadIdle();
  void CloseSuper();          // queues the open super-segment (or rings a lone segment)
  int SendSupers();                               // transmit thread: queued super-segments, in order; 0 or a hard errno
  int SendCut(const uint8_t* buf, uint32_t len);  // transmit thread: a super-segment as its segments
  bool CommitCut(uint8_t* slot, uint32_t len);    // gso ports without TSO: a super-segment cut into ring slots
  int fd_ = -1;
  std::string name_;
  int ifindex_ = 0;
  Mac mac_;
  uint32_t mtu_ = 1500;
  uint8_t* rx_ring_ = nullptr;
  uint8_t* tx_ring_ = nullptr;
  size_t ring_bytes_ = 0;  // each ring
  uint32_t frame_size_ = 0;
  uint32_t frames_ = 0;
  uint32_t vnet_ = 0;  // bytes of virtio-net header before each frame in both rings (0 or 10)
  bool gso_ = false;   // slots hold 64 KiB super-segments
  bool bypass_ = false;  // PACKET_QDISC_BYPASS: the kernel cuts no super-segment for us
  std::unique_ptr<uint8_t[]> cut_;  // gso ports with bypass_: a super-segment being cut (CommitCut)
  uint32_t Next(uint32_t idx) const { return idx + 1 == frames_ ? 0 : idx + 1; }
  uint32_t rx_idx_ = 0;
  uint32_t tx_idx_ = 0;
  uint32_t tx_pending_ = 0;
  int tx_error_ = 0;          // last hard send() error, for TakeError()
  bool rx_held_ = false;      // Next() returned the frame at rx_idx_ and it is not released yet
  bool tx_reserved_ = false;  // Reserve() handed out the slot at tx_idx_, Commit() pending
  PortStats stats_;

  // Transmit thread (tx_thread): the forwarding thread bumps tx_gen_ after
  // queuing and sets tx_kick_ to 1 to wake it; the thread sends until tx_gen_
  // stops moving, then stores 0 and sleeps (std::atomic::wait, a futex).
  std::thread tx_thread_;
  std::atomic<uint32_t> tx_kick_{0};
  std::atomic<uint64_t> tx_gen_{0};
  std::atomic<int> tx_thread_error_{0};  // a hard send() error the thread met; the owner discards
  std::atomic<bool> tx_stop_{false};
  int64_t last_flush_ns_ = 0;  // monotonic time of the last Flush() that had frames (owner thread only)

  // Coalescing. Super-segment n is built in buffer n % kSupers (after room
  // for the virtio-net header); the owner writes its length and the ring
  // index it must follow, then bumps super_pushed_; the transmit thread
  // sends it and bumps super_done_. The buffer is free again after that.
  static constexpr uint32_t kSupers = 8;
  static constexpr uint32_t kSuperBuf = 68 * 1024;
  struct SuperDesc {
    uint32_t len = 0;       // frame bytes (after the virtio-net header)
    uint32_t ring_end = 0;  // the ring slot after the last frame queued before it
    uint32_t segments = 0;
  };
  int sfd_ = -1;  // second socket (no ring, virtio-net header) for super-segments; -1: not coalescing
  std::unique_ptr<uint8_t[]> supers_;
  SuperDesc super_desc_[kSupers];
  std::atomic<uint64_t> super_pushed_{0};
  std::atomic<uint64_t> super_done_{0};
  std::atomic<uint64_t> super_dropped_{0};  // segments in super-segments the kernel refused for good
  uint64_t super_dropped_seen_ = 0;         // owner: already added to stats_.tx_discarded
  TcpCoalescer coal_;
  uint32_t super_cap_ = 0;                  // the longest super-segment the device takes whole (bytes)
  std::atomic<bool> seg_ok_{false};         // the device has TSO on (CheckSegmentation)
  std::atomic<uint64_t> super_cut_{0};      // super-segments cut here (SendCut)
  static constexpr uint32_t kCutBuf = kSuperBuf;   // after the super buffers: one cut segment (any MTU)
  bool super_stalled_ = false;       // a Commit() waited kSuperWaitNs in vain: no joining, no waiting until they are gone
  bool coal_first_partial_ = false;  // the open super-segment's first frame had its checksum left to offload
};

}  // namespace hn
