// Lab services: see services.h.
#include "lab/services.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

namespace hn {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Errno() { return std::strerror(errno); }

struct Listener {
  int fd = -1;
  uint16_t port = 0;
  bool tcp = true;
};

struct Client {
  int fd = -1;
  int64_t last_ms = 0;
  std::string pending;  // echo bytes the socket did not take yet
};

// A bound (and for TCP listening) non-blocking socket on ip:port.
Result<Listener> Bind(const std::string& ip, uint16_t port, bool tcp) {
  Listener l;
  l.tcp = tcp;
  l.fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l.fd < 0) return Status::Error("socket: " + Errno());
  int one = 1;
  setsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) {
    close(l.fd);
    return Status::Error("not an IPv4 address to listen on: " + ip);
  }
  if (bind(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || (tcp && listen(l.fd, 64) != 0)) {
    std::string e = Errno();
    close(l.fd);
    return Status::Error(std::string("cannot listen on ") + (tcp ? "TCP " : "UDP ") + ip + ":" +
                         std::to_string(port) + ": " + e + " (is another server using it?)");
  }
  socklen_t len = sizeof a;
  getsockname(l.fd, reinterpret_cast<sockaddr*>(&a), &len);
  l.port = ntohs(a.sin_port);
  return l;
}

// Sends what it can of data; keeps the rest in c.pending. False: the client is gone.
bool SendSome(Client& c, const char* data, size_t n) {
  c.pending.append(data, n);
  while (!c.pending.empty()) {
    ssize_t w = send(c.fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (w <= 0) return false;
    c.pending.erase(0, size_t(w));
  }
  return c.pending.size() < (1u << 20);  // a client that never reads is dropped
}

// The banner a new TCP client gets: the address and port it reached.
std::string Banner(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  uint16_t port = ntohs(a.sin_port);
  return "hn-outside " + std::string(ip) + ":" + std::to_string(port) + " " + ServiceName(port, true) +
         " (lab service: echoes what you send)\r\n";
}

void EchoUdp(int fd) {
  char buf[65536];
  for (int i = 0; i < 64; i++) {  // bounded: other sockets get their turn
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;
    sendto(fd, buf, size_t(n), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), len);
  }
}

}  // namespace

std::optional<std::vector<uint16_t>> ParsePortList(const std::string& s) {
  std::vector<uint16_t> out;
  if (s.empty()) return out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    const char* b = s.data() + pos;
    const char* e = s.data() + comma;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec != std::errc() || p != e || b == e || v > 65535) return std::nullopt;
    out.push_back(uint16_t(v));
    pos = comma + 1;
    if (comma == s.size()) break;
  }
  return out;
}

std::string ServiceName(uint16_t port, bool tcp) {
  if (!tcp) {
    switch (port) {
      case 7: return "echo";
      case 53: return "domain";
      default: return "udp";
    }
  }
  switch (port) {
    case 21: return "ftp";
    case 22: return "ssh";
    case 23: return "telnet";
    case 25: return "smtp";
    case 80: return "http";
    case 443: return "https";
    case 6667: return "irc";
    default: return "tcp";
  }
}

Status RunServices(const ServicesOptions& opt, const std::atomic<bool>& stop,
                   const std::function<void(const ServicesBound&)>& on_ready) {
  std::vector<Listener> listeners;
  auto close_all = [&] {
    for (Listener& l : listeners) close(l.fd);
  };
  ServicesBound bound;
  for (bool tcp : {true, false}) {
    for (uint16_t port : tcp ? opt.tcp_ports : opt.udp_ports) {
      auto l = Bind(opt.bind_ip, port, tcp);
      if (!l.ok()) {
        close_all();
        return l.status();
      }
      listeners.push_back(l.value());
      (tcp ? bound.tcp_ports : bound.udp_ports).push_back(l->port);
    }
  }
  if (on_ready) on_ready(bound);

  std::vector<Client> clients;
  std::vector<pollfd> pfd;
  char buf[16384];
  while (!stop.load(std::memory_order_relaxed)) {
    pfd.clear();
    for (const Listener& l : listeners) pfd.push_back({l.fd, POLLIN, 0});
    for (const Client& c : clients) {
      pfd.push_back({c.fd, short(POLLIN | (c.pending.empty() ? 0 : POLLOUT)), 0});
    }
    int n = poll(pfd.data(), pfd.size(), 200);
    if (n < 0 && errno != EINTR) {
      close_all();
      return Status::Error("poll: " + Errno());
    }
    const int64_t now = NowMs();
    std::vector<Client> fresh;
    for (size_t i = 0; i < listeners.size(); i++) {
      if (!(pfd[i].revents & POLLIN)) continue;
      const Listener& l = listeners[i];
      if (!l.tcp) {
        EchoUdp(l.fd);
        continue;
      }
      for (;;) {
        int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (clients.size() + fresh.size() >= size_t(kMaxClients)) {
          close(fd);
          continue;
        }
        Client c{fd, now, {}};
        std::string banner = Banner(fd);
        if (SendSome(c, banner.data(), banner.size())) {
          fresh.push_back(std::move(c));
        } else {
          close(fd);
        }
      }
    }
    // Clients: echo, close on EOF, error or idleness.
    size_t base = listeners.size();
    std::vector<Client> keep;
    keep.reserve(clients.size() + fresh.size());
    for (size_t i = 0; i < clients.size(); i++) {
      Client& c = clients[i];
      short re = pfd[base + i].revents;
      bool alive = true;
      if (re & POLLIN) {
        ssize_t r = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) {
          c.last_ms = now;
          alive = SendSome(c, buf, size_t(r));
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          alive = false;  // the client closed (or its half): we close too
        }
      } else if (re & (POLLERR | POLLHUP | POLLNVAL)) {
        alive = false;
      }
      if (alive && (re & POLLOUT)) alive = SendSome(c, nullptr, 0);
      if (alive && now - c.last_ms > opt.idle_timeout_ms) alive = false;
      if (alive) {
        keep.push_back(std::move(c));
      } else {
        close(c.fd);
      }
    }
    for (Client& c : fresh) keep.push_back(std::move(c));
    clients.swap(keep);
  }
  for (Client& c : clients) close(c.fd);
  close_all();
  return Status::Ok();
}

}  // namespace hn
