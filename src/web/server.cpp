#include "web/server.h"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include <httplib.h>

#include "lab/lab.h"
#include "web/capture_query.h"
#include "web/html.h"
#include "web/pages.h"
#include "web/web_index.h"

namespace hn::web {

extern const char kAppJs[];
extern const char kStyleCss[];

namespace {

std::atomic<httplib::Server*> g_server{nullptr};

void OnSignal(int) {
  if (httplib::Server* s = g_server.load()) s->stop();
}

bool IsLoopbackIp(const std::string& host) {
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return host == "localhost";
}

// Constant-time comparison (the secret's length is not hidden).
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); i++) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

std::string Base64Decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, acc = 0;
  for (char c : in) {
    const int v = val(c);
    if (v < 0) break;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

Result<std::string> ReadSecretFile(const std::string& path, const char* what) {
  std::ifstream f(path);
  if (!f) return Status::Error("cannot read the " + std::string(what) + " " + path + ": " + strerror(errno));
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0)
    fprintf(stderr, "honeynet web: warning: %s %s can be read by other users (chmod 600 it)\n", what, path.c_str());
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return all;
}

struct Auth {
  std::vector<std::pair<std::string, std::string>> users;  // user, password
  std::string token;
  bool enabled() const { return !users.empty() || !token.empty(); }

  bool Allows(const httplib::Request& req) const {
    if (!enabled()) return true;
    const std::string h = req.get_header_value("Authorization");
    if (h.rfind("Bearer ", 0) == 0) return !token.empty() && SameSecret(h.substr(7), token);
    if (h.rfind("Basic ", 0) == 0) {
      const std::string up = Base64Decode(h.substr(6));
      const size_t colon = up.find(':');
      if (colon == std::string::npos) return false;
      const std::string u = up.substr(0, colon), p = up.substr(colon + 1);
      bool ok = false;
      for (const auto& [uu, pp] : users) ok |= (SameSecret(u, uu) & SameSecret(p, pp));
      if (!token.empty()) ok |= SameSecret(p, token);
      return ok;
    }
    return false;
  }
};

void SendHtml(httplib::Response& res, int code, const std::string& body) {
  res.status = code;
  res.set_content(body, "text/html; charset=utf-8");
}

}  // namespace

Result<ListenAddr> ParseListen(const std::string& text) {
  ListenAddr a;
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return Status::Error("--listen " + text + ": write an IPv6 address as [ADDR]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return Status::Error("--listen " + text + ": give ADDR:PORT, e.g. 127.0.0.1:8080");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
      std::stoi(port) < 1 || std::stoi(port) > 65535)
    return Status::Error("--listen " + text + ": give ADDR:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8080");
  a.host = host;
  a.port = std::stoi(port);
  a.loopback = IsLoopbackIp(host);
  a.wildcard = host == "0.0.0.0" || host == "::";
  if (!a.loopback && host != "localhost" && CanonicalIp(host).empty())
    return Status::Error("--listen " + text + ": " + host + " is not an IP address (give the address to bind)");
  return a;
}

Status RunWeb(const WebOptions& opt_in) {
  WebOptions opt = opt_in;
  auto la = ParseListen(opt.listen);
  if (!la.ok()) return la.status();
  Auth auth;
  if (!opt.password_file.empty()) {
    auto t = ReadSecretFile(opt.password_file, "password file");
    if (!t.ok()) return t.status();
    size_t pos = 0;
    int line = 0;
    while (pos < t->size()) {
      size_t nl = t->find('\n', pos);
      if (nl == std::string::npos) nl = t->size();
      std::string l = t->substr(pos, nl - pos);
      pos = nl + 1;
      line++;
      while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.pop_back();
      if (l.empty() || l[0] == '#') continue;
      const size_t colon = l.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == l.size())
        return Status::Error(opt.password_file + ":" + std::to_string(line) + ": expected USER:PASSWORD");
      auth.users.emplace_back(l.substr(0, colon), l.substr(colon + 1));
    }
    if (auth.users.empty()) return Status::Error(opt.password_file + ": no USER:PASSWORD line");
  }
  if (!opt.token_file.empty()) {
    auto t = ReadSecretFile(opt.token_file, "token file");
    if (!t.ok()) return t.status();
    std::string tok = *t;
    while (!tok.empty() && isspace(static_cast<unsigned char>(tok.back()))) tok.pop_back();
    if (tok.size() < 16) return Status::Error(opt.token_file + ": the token is shorter than 16 characters");
    auth.token = tok;
  }
  if (!la->loopback && !auth.enabled())
    return Status::Error("refusing to listen on " + opt.listen +
                         " without authentication: anyone who reaches it would read the capture. Give "
                         "--password-file FILE (USER:PASSWORD lines) or --token-file FILE, or listen on "
                         "127.0.0.1 and reach it through `ssh -L 8080:127.0.0.1:8080 HOST`");

  if (opt.capture_dir.empty()) opt.capture_dir = opt.data_dir + "/lab/capture";
  struct stat st {};
  if (stat(opt.capture_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::Error("no capture directory at " + opt.capture_dir +
                         (opt_in.capture_dir.empty() ? " (start a lab with `honeynet up --data-dir " + opt.data_dir +
                                                           "`, or name a honeywall's capture dir with --capture-dir)"
                                                     : ""));
  // The index: DATA/web/index-<capture dir inode>.sqlite (a new capture dir starts a new index).
  const std::string web_dir = opt.data_dir + "/web";
  mkdir(opt.data_dir.c_str(), 0750);
  if (mkdir(web_dir.c_str(), 0750) != 0 && errno != EEXIST)
    return Status::Error("cannot make " + web_dir + ": " + strerror(errno));
  const std::string db = web_dir + "/index-" + std::to_string(uint64_t(st.st_dev)) + "-" +
                         std::to_string(uint64_t(st.st_ino)) + ".sqlite";
  auto ix = WebIndex::Open(db, opt.capture_dir);
  if (!ix.ok()) return ix.status();
  WebIndex* index = ix->get();

  // Catch up before serving, so the first page shows what is there.
  {
    uint64_t n = 0;
    bool more = true;
    const auto t0 = std::chrono::steady_clock::now();
    while (more) {
      auto r = index->Refresh(16u << 20, &more);
      if (!r.ok()) return r.status();
      n += *r;
      if (more) fprintf(stderr, "\rhoneynet web: indexing %s: %llu events", opt.capture_dir.c_str(), (unsigned long long)n);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fprintf(stderr, "%shoneynet web: index %s: %llu new events in %.1f s\n", n ? "\r" : "", db.c_str(),
            (unsigned long long)n, secs);
  }

  PageContext ctx{index, opt.capture_dir, opt.data_dir};
  httplib::Server svr;
  svr.set_payload_max_length(64 * 1024);
  svr.set_read_timeout(10);
  svr.set_keep_alive_max_count(100);
  svr.new_task_queue = [] { return new httplib::ThreadPool(4); };
  svr.set_default_headers({
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
      {"Permissions-Policy", "camera=(), microphone=(), geolocation=()"},
      {"Cache-Control", "no-store"},
  });

  // Host names the Host header may carry (with the port).
  std::vector<std::string> hosts;
  const std::string port = std::to_string(la->port);
  auto add_host = [&](const std::string& h) {
    const bool v6 = h.find(':') != std::string::npos;
    hosts.push_back((v6 ? "[" + h + "]" : h) + ":" + port);
    if (la->port == 80) hosts.push_back(v6 ? "[" + h + "]" : h);
  };
  add_host(la->host);
  if (la->loopback) add_host(la->host.find(':') != std::string::npos ? "::1" : "127.0.0.1");
  if (la->loopback) add_host("localhost");
  // A name given with --allow-host is taken as given too (a reverse proxy in
  // front sends its public name, without our port or with its own).
  for (std::string h : opt.allow_hosts) {
    for (auto& ch : h) ch = char(tolower(static_cast<unsigned char>(ch)));
    hosts.push_back(h);
    if (h.find(':') == std::string::npos) add_host(h);
  }

  svr.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    std::string host = req.get_header_value("Host");
    for (auto& ch : host) ch = char(tolower(static_cast<unsigned char>(ch)));
    bool ok = std::find(hosts.begin(), hosts.end(), host) != hosts.end();
    if (!ok && la->wildcard) {
      // Bound to every address: an address literal of this host is fine, a name only when allowed.
      std::string h = host;
      if (!h.empty() && h[0] == '[') h = h.substr(1, h.find(']') - 1);
      else if (h.find(':') != std::string::npos) h = h.substr(0, h.rfind(':'));
      ok = !CanonicalIp(h).empty() && (host.size() > port.size() && host.compare(host.size() - port.size() - 1, port.size() + 1, ":" + port) == 0);
    }
    if (!ok) {
      SendHtml(res, 421, PageError(421, "This server answers only to Host " + hosts.front() +
                                            " (a foreign Host header is how DNS rebinding reaches a local server)."));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!auth.Allows(req)) {
      res.set_header("WWW-Authenticate", "Basic realm=\"honeynet\", charset=\"UTF-8\"");
      SendHtml(res, 401, PageError(401, "Authentication required."));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      SendHtml(res, 405, PageError(405, "This view is read-only."));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  svr.Get("/", [&](const httplib::Request&, httplib::Response& res) { SendHtml(res, 200, PageHome(ctx)); });
  svr.Get("/static/app.js", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kAppJs, "text/javascript; charset=utf-8");
  });
  svr.Get("/static/style.css", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kStyleCss, "text/css; charset=utf-8");
  });
  svr.Get(R"(/attacker/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string ip = CanonicalIp(req.matches[1]);
    if (ip.empty()) return SendHtml(res, 404, PageError(404, "Not an address."));
    auto page = PageAttacker(ctx, ip);
    if (!page) return SendHtml(res, 404, PageError(404, "No inbound connection from " + ip + " in the capture."));
    SendHtml(res, 200, *page);
  });
  svr.Get(R"(/flow/(\d{1,20}))", [&](const httplib::Request& req, httplib::Response& res) {
    auto page = PageFlow(ctx, std::stoull(req.matches[1]));
    if (!page) return SendHtml(res, 404, PageError(404, "No such flow in the events."));
    SendHtml(res, 200, *page);
  });
  svr.Get("/alerts", [&](const httplib::Request&, httplib::Response& res) { SendHtml(res, 200, PageAlerts(ctx)); });
  svr.Get("/search", [&](const httplib::Request& req, httplib::Response& res) {
    SearchArgs a;
    a.q = req.get_param_value("q");
    a.from = req.get_param_value("from");
    a.to = req.get_param_value("to");
    a.type = req.get_param_value("type");
    while (!a.q.empty() && a.q.back() == ' ') a.q.pop_back();
    while (!a.q.empty() && a.q.front() == ' ') a.q.erase(0, 1);
    SendHtml(res, 200, PageSearch(ctx, a));
  });
  svr.Get(R"(/tty/([^/]+)/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    auto page = PageTty(ctx, req.matches[1], req.matches[2]);
    if (!page) return SendHtml(res, 404, PageError(404, "No such terminal session."));
    SendHtml(res, 200, *page);
  });
  svr.Get(R"(/api/tty/([^/]+)/([^/]+))", [&](const httplib::Request& req, httplib::Response& res) {
    auto body = ApiTty(ctx, req.matches[1], req.matches[2]);
    if (!body) {
      res.status = 404;
      return res.set_content("{\"error\":\"no such session\"}", "application/json");
    }
    res.set_content(*body, "application/json");
  });
  svr.Get("/api/events", [&](const httplib::Request& req, httplib::Response& res) {
    int64_t after = 0;
    const std::string a = req.get_param_value("after");
    if (!a.empty() && a.size() < 19 && a.find_first_not_of("0123456789") == std::string::npos) after = std::stoll(a);
    res.set_content(ApiEvents(ctx, after), "application/json");
  });
  auto serve_pcap = [&](httplib::Response& res, const std::string& filter, int64_t from, int64_t to,
                        const std::string& name) {
    auto x = PcapExtract::Open(opt.capture_dir, filter, from, to);
    if (!x.ok()) return SendHtml(res, 500, PageError(500, x.status().message()));
    std::shared_ptr<PcapExtract> px(std::move(*x));
    res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
    res.set_chunked_content_provider("application/vnd.tcpdump.pcap", [px](size_t, httplib::DataSink& sink) {
      std::string chunk;
      const bool more = px->Next(&chunk);
      if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;
      if (!more) sink.done();
      return true;
    });
  };
  svr.Get(R"(/pcap/attacker/([^/]+)\.pcap)", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string ip = CanonicalIp(req.matches[1]);
    if (ip.empty()) return SendHtml(res, 404, PageError(404, "Not an address."));
    auto a = index->Attacker(ip);
    if (!a) return SendHtml(res, 404, PageError(404, "No inbound connection from " + ip + " in the capture."));
    std::string safe = ip;
    for (char& ch : safe)
      if (ch == ':') ch = '_';
    serve_pcap(res, "host " + ip, 0, 0, "honeynet-" + safe + ".pcap");
  });
  svr.Get(R"(/pcap/flow/(\d{1,20})\.pcap)", [&](const httplib::Request& req, httplib::Response& res) {
    const uint64_t id = std::stoull(req.matches[1]);
    const auto ev = index->Flow(id);
    if (ev.empty()) return SendHtml(res, 404, PageError(404, "No such flow in the events."));
    const EventRow& f = ev.front();
    if (CanonicalIp(f.src).empty() || CanonicalIp(f.dst).empty())
      return SendHtml(res, 404, PageError(404, "The flow has no addresses."));
    std::string filter = "host " + f.src + " and host " + f.dst;
    std::string proto = f.proto;
    for (char& ch : proto) ch = char(tolower(static_cast<unsigned char>(ch)));
    if ((proto == "tcp" || proto == "udp") && f.sport >= 0 && f.dport >= 0)
      filter += " and " + proto + " port " + std::to_string(f.sport) + " and " + proto + " port " +
                std::to_string(f.dport);
    else if (proto == "icmp")
      filter += " and icmp";
    int64_t end = f.ts_ns;
    for (const auto& e : ev) end = std::max(end, e.ts_ns);
    // From a second before the verdict to a second after the flow's end
    // (an open flow: up to now).
    bool ended = false;
    for (const auto& e : ev) ended |= e.type == "flow";
    serve_pcap(res, filter, f.ts_ns - 1'000'000'000, ended ? end + 1'000'000'000 : 0,
               "honeynet-flow-" + std::to_string(id) + ".pcap");
  });
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) SendHtml(res, res.status, PageError(res.status, res.status == 404 ? "Not found." : "Error."));
  });

  // Follows events.json while serving.
  std::atomic<bool> stop{false};
  std::thread follower([&] {
    while (!stop.load()) {
      bool more = false;
      if (auto r = index->Refresh(4u << 20, &more); !r.ok())
        fprintf(stderr, "honeynet web: index: %s\n", r.status().message().c_str());
      if (!more)
        for (int i = 0; i < 10 && !stop.load(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  if (!svr.bind_to_port(la->host == "localhost" ? "127.0.0.1" : la->host, la->port)) {
    stop = true;
    follower.join();
    return Status::Error("cannot listen on " + opt.listen + ": " + strerror(errno) +
                         " (is another program on that port? choose another with --listen)");
  }
  g_server = &svr;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  const std::string shown = (la->host.find(':') != std::string::npos ? "[" + la->host + "]" : la->host) + ":" + port;
  printf("honeynet web: http://%s/ (capture %s)%s; Ctrl-C stops it\n", shown.c_str(), opt.capture_dir.c_str(),
         auth.enabled() ? ", authentication on" : "");
  fflush(stdout);
  svr.listen_after_bind();
  g_server = nullptr;
  stop = true;
  follower.join();
  return Status::Ok();
}

}  // namespace hn::web
