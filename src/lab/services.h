// Lab services: the outside hosts' servers in the lab's "internet" namespace,
// so that honeypots (and the selftest) have something real to connect to.
//
// One process (`honeynet lab-services`, a hidden subcommand the lab starts in
// hn-inet) listens on every given TCP port and UDP port of every address of the
// namespace (0.0.0.0). TCP: on accept, one banner line naming the address,
// port and service ("hn-outside 192.0.2.20:80 http\r\n"), then it echoes
// what it gets until the client closes (or 120 s of silence). UDP: echoes each
// datagram to its sender. One thread, poll(); at most kMaxClients connections
// at a time (more are accepted and closed at once).
//
// Who may call: the CLI (lab-services) and tests.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace hn {

// The ports the lab's outside hosts serve (lab.h lists them too).
inline const std::vector<uint16_t> kLabTcpPorts = {21, 22, 23, 25, 80, 443, 6667};
inline const std::vector<uint16_t> kLabUdpPorts = {7, 53};

struct ServicesOptions {
  std::vector<uint16_t> tcp_ports;  // 0: any free port (tests)
  std::vector<uint16_t> udp_ports;
  std::string bind_ip = "0.0.0.0";  // IPv4 address to listen on
  int idle_timeout_ms = 120000;     // a silent TCP client is closed after this
};

struct ServicesBound {
  std::vector<uint16_t> tcp_ports;  // the ports really bound, in the order asked
  std::vector<uint16_t> udp_ports;
};

inline constexpr int kMaxClients = 512;

// "21,22,80" -> {21,22,80}; nullopt on anything else (empty list is "").
std::optional<std::vector<uint16_t>> ParsePortList(const std::string& s);
// Short service name for a port ("http" for 80), or "tcp"/"udp".
std::string ServiceName(uint16_t port, bool tcp);

// Binds every port (an error names the port that failed), calls on_ready with
// the bound ports, then serves until stop is set. Returns Ok after a stop.
Status RunServices(const ServicesOptions& opt, const std::atomic<bool>& stop,
                   const std::function<void(const ServicesBound&)>& on_ready);

}  // namespace hn
