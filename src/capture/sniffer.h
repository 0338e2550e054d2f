// Sniffer: the capture thread. It opens its own AF_PACKET socket per data port
// (TPACKET_V3: block latency does not matter here, throughput does), sees
// every frame that enters or leaves the port, and writes them to a rotating
// pcap series per port. It never touches the forwarding path: the forwarder
// does not copy frames for it and never waits for it. Frames the kernel could
// not put into the capture ring, and frames a write failed for, are counted
// as capture drops.
//
// Both directions are captured (frames received on the port and frames sent
// out of it). VLAN tags the kernel took off (offload) are put back into the
// frame before it is written. Files: DIR/<label>-YYYYmmddTHHMMSSZ-NNNN.pcap.
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

#include "capture/pcap_writer.h"
#include "common/status.h"

namespace hn {

struct SnifferPort {
  std::string ifname;   // interface to capture on
  std::string label;    // file prefix: "inside", "outside"
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
  };
  // Opens every socket and first file; the thread is started by Start().
  static Result<std::unique_ptr<Sniffer>> Open(const Options& opt);
  ~Sniffer();  // Stop()s

  void Start();
  // Drains what the rings still hold, flushes and closes the files, joins.
  void Stop();

  // Safe to call from any thread.
  SnifferStats stats() const;
  std::vector<std::string> files() const;  // every pcap file made so far

 private:
  Sniffer() = default;
  void Run();
  struct PortState;
  size_t DrainPort(PortState& p);     // walks every ready block; returns blocks released
  size_t DrainAll();
  void DrainAtStop();                 // bounded: waits for partly filled blocks to retire
  void WriteFrame(PortState& p, const void* tpacket3_hdr);
  void FlushAll();
  void ReadKernelStats();
  void PublishCounters();
  void CloseAll();
  Options opt_;
  std::vector<std::unique_ptr<PortState>> ports_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool stopped_ = false;              // main thread only
  int wake_fd_ = -1;  // eventfd to end poll() at Stop()
  mutable std::atomic<uint64_t> frames_{0}, bytes_{0}, kdrops_{0}, wdrops_{0};
  mutable std::mutex files_mu_;
  std::vector<std::string> files_;    // guarded by files_mu_
};

}  // namespace hn
