// Sniffer: the capture threads, one per data port, each writing the port's
// rotating pcap series. Two ways to get the frames:
//
// - inline (Options::inline_feed, the honeywall's default, capture.method =
//   "inline"): the forwarding thread hands every frame it reads from a port
//   and every frame it sends out of it to Offer(), which copies it once into
//   the port's FrameRing (capture.ring_mb) and never waits; the port's thread
//   writes them. No extra sockets, so the kernel does not clone each frame
//   for the capture and the forwarder may bypass the qdisc layer.
// - socket (capture.method = "socket"): each thread opens its own AF_PACKET
//   socket on its port (TPACKET_V3: block latency does not matter here,
//   throughput does) and sees every frame that enters or leaves the port,
//   whoever sent it; the forwarder does nothing for it.
//
// Frames that did not fit the capture ring (kernel's or ours), and frames a
// write failed for, are counted as capture drops (kernel_drops, write_drops).
//
// Both directions are captured (frames received on the port and frames sent
// out of it). VLAN tags the kernel took off (offload) are put back into the
// frame before it is written. Files: DIR/<label>-YYYYmmddTHHMMSSZ-NNNN.pcap.
//
// Faults (socket mode): a link that goes down and up again keeps its socket
// (the kernel resumes delivery at up). An interface that is deleted is noticed
// within a second (its frames so far are written); when an interface of the
// same name appears again, the capture opens a socket on it. (Inline mode
// follows the forwarder, which reopens its ports itself.) A pcap write that fails
// (disk full) loses frames, counted in write_drops, until a new file can be
// written (tried once a second). Each of these is reported by TakeNotices().
//
// Who may call: the honeywall (Start/Stop from the main thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "capture/frame_ring.h"
#include "capture/pcap_writer.h"
#include "common/status.h"

namespace hn {

class CaptureDisk;

struct SnifferPort {
  std::string ifname;   // interface to capture on
  std::string label;    // file prefix: "inside", "outside"
};

// Something about the capture the user should hear of (the honeywall logs it).
struct SnifferNotice {
  std::string what;     // capture_write_failed, capture_write_resumed, capture_file_deleted,
                        // capture_repaired, capture_port_gone, capture_port_reopened
  std::string iface;    // the port's interface
  std::string message;  // one line for people
};

struct SnifferStats {
  uint64_t frames = 0;         // frames written
  uint64_t bytes = 0;
  uint64_t kernel_drops = 0;   // frames the capture ring lost
  uint64_t write_drops = 0;    // frames a pcap write failed for
};

class Sniffer {
 public:
  struct Options {
    std::vector<SnifferPort> ports;
    std::string dir;             // pcap files go to DIR (made if missing)
    uint64_t rotate_bytes = 100ULL << 20;
    int64_t rotate_ns = 3600LL * 1'000'000'000;
    uint32_t ring_mb = 32;       // per port
    bool direct_io = false;      // pcap writes with O_DIRECT (PcapWriter::Options::direct_io)
    bool inline_feed = false;    // frames come from Offer(), not from sockets
    CaptureDisk* disk = nullptr; // retention (capture/retention.h), or nullptr
  };
  // Opens every socket and first file; the thread is started by Start().
  static Result<std::unique_ptr<Sniffer>> Open(const Options& opt);
  ~Sniffer();  // Stop()s, closes space_fd

  void Start();

  // Inline mode: a frame seen on port (index into Options::ports), received or
  // sent. Copies it into the port's ring; false when the ring is full (counted
  // as a kernel_drop of the capture). Forwarding thread only; never blocks.
  bool Offer(size_t port, int64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t wire_len) {
    return rings_[port]->Push(ts_ns, data, caplen, wire_len);
  }
  bool inline_feed() const { return opt_.inline_feed; }

  // Capture-first (inline mode; capture.policy, see docs/capture.md): would
  // Offer(port, ..., caplen) succeed now? Forwarding thread only.
  bool HasRoom(size_t port, uint32_t caplen) const { return rings_[port]->HasRoom(caplen); }
  // Capture-first: the forwarder holds a frame because port's ring is full.
  // Marks it as waiting and makes sure the port's writer is awake; the writer
  // signals space_fd() once it has emptied the ring to half. Returns true when
  // the ring had room again after all (no wait needed). Forwarding thread only.
  bool WaitForRoom(size_t port, uint32_t caplen);
  // Readable (POLLIN) after a WaitForRoom(); the forwarder polls it while it
  // holds frames and calls ClearSpace() when it fires.
  int space_fd() const { return space_fd_; }
  void ClearSpace();
  // Inline mode: wakes writers that sleep while their ring holds frames: at
  // once when a ring is an eighth full, else at most every 10 ms, so a quiet
  // capture costs no wakeups and a busy one no syscalls. The forwarder calls
  // it once per loop turn (cheap: a few relaxed loads). mono_ns: MonoNowNs().
  void Nudge(int64_t mono_ns);
  // Drains what the rings still hold, flushes and closes the files, joins.
  void Stop();

  // Safe to call from any thread.
  SnifferStats stats() const;
  std::vector<std::string> files() const;  // every pcap file made so far
  // Notices since the last call, oldest first. Cheap when there are none.
  std::vector<SnifferNotice> TakeNotices();
  // Index of the interface the capture socket for ifname is bound to, 0 when
  // none (not a port of ours, or its interface is gone). The honeywall waits for
  // this to match a re-created interface before it forwards on it again.
  unsigned CapturingIndex(const std::string& ifname) const;
  // Asks the capture threads to look at their interfaces now (not at their
  // next once-a-second check): after the honeywall saw an interface come back.
  void Poke();

 private:
  Sniffer() = default;
  struct PortState;
  void Run(PortState& p);              // one thread per port
  size_t DrainPort(PortState& p);     // walks every ready block; returns blocks released
  void DrainAtStop(PortState& p);     // bounded: waits for partly filled blocks to retire
  void WriteFrame(PortState& p, const void* tpacket3_hdr);
  void FlushPort(PortState& p);
  void CopyNewFiles(PortState& p);
  void ReadKernelStats(PortState& p);
  void PublishCounters(PortState& p);
  void CloseAll();
  void CheckWriter(PortState& p);     // notices when writing starts/stops failing
  bool CheckInterface(PortState& p);  // reopens the socket of a re-created interface; true if fd changed
  void ClosePortSocket(PortState& p);
  void Notify(const std::string& what, const std::string& iface, const std::string& message);
  Options opt_;
  std::vector<std::unique_ptr<PortState>> ports_;
  std::vector<std::unique_ptr<FrameRing>> rings_;  // inline mode: one per port
  void RunInline(PortState& p, FrameRing& ring);
  size_t DrainRing(PortState& p, FrameRing& ring);
  std::atomic<bool> stop_{false};
  int space_fd_ = -1;                 // eventfd: a writer made room for a waiting forwarder
  std::vector<int64_t> last_nudge_;   // forwarding thread only: per port, MonoNowNs() of the last Nudge wake
  bool started_ = false;              // main thread only
  bool stopped_ = false;              // main thread only
  mutable std::mutex files_mu_;
  std::vector<std::string> files_;    // guarded by files_mu_
  std::mutex notices_mu_;
  std::vector<SnifferNotice> notices_;  // guarded by notices_mu_
  std::atomic<bool> have_notices_{false};
};

}  // namespace hn
