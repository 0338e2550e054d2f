// Alert sinks and the dispatcher. See sinks.h.
#include "alerts/sinks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <httplib.h>

#include "common/clock.h"
#include "common/thread_name.h"

namespace hn {

namespace {

std::string ErrText(int e) { return std::strerror(e); }

std::string SecondsText(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g s", double(ns) / 1e9);
  return buf;
}

// ---------------------------------------------------------------------------
// command

class CommandSink final : public Sink {
 public:
  explicit CommandSink(std::string cmd) : cmd_(std::move(cmd)) {}
  std::string name() const override { return "command"; }

  Status Send(const std::string& line, int64_t timeout_ns, const std::atomic<bool>& stop) override {
    const int64_t deadline = MonoNowNs() + timeout_ns;
    int in[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return Status::Error("pipe: " + ErrText(errno));
    const char* argv[] = {"/bin/sh", "-c", cmd_.c_str(), nullptr};
    const pid_t pid = ::fork();
    if (pid < 0) {
      const int e = errno;
      ::close(in[0]);
      ::close(in[1]);
      return Status::Error("fork: " + ErrText(e));
    }
    if (pid == 0) {
      // Child: async-signal-safe calls only. Its own process group, so a
      // timeout kills whatever the command started too.
      ::setpgid(0, 0);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::signal(s, SIG_DFL);
      if (::dup2(in[0], 0) < 0) ::_exit(126);
      ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
      ::execv(argv[0], const_cast<char* const*>(argv));
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also here: no race with the kill below
    ::close(in[0]);
    std::string data = line + "\n";
    size_t off = 0;
    std::string error;
    ::fcntl(in[1], F_SETFL, O_NONBLOCK);
    while (off < data.size()) {
      const ssize_t n = ::write(in[1], data.data() + off, data.size() - off);
      if (n > 0) {
        off += size_t(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        const int64_t left = deadline - MonoNowNs();
        if (left <= 0 || stop.load()) break;
        pollfd p{in[1], POLLOUT, 0};
        ::poll(&p, 1, int(std::min<int64_t>(left / 1'000'000 + 1, 100)));
        continue;
      }
      if (n < 0 && errno == EPIPE) break;  // it did not read its stdin: its business (exit status decides)
      error = "writing its stdin: " + ErrText(errno);
      break;
    }
    ::close(in[1]);
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) {
        return Status::Error("waitpid: " + ErrText(errno));
      }
      const bool late = MonoNowNs() >= deadline;
      if (late || stop.load()) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return Status::Error(late ? "still running after " + SecondsText(timeout_ns) + " (alerts.timeout): killed"
                                  : "stopping: killed");
      }
      ::usleep(5000);
    }
    if (!error.empty()) return Status::Error(error);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
    if (WIFEXITED(status)) return Status::Error("exited with status " + std::to_string(WEXITSTATUS(status)));
    if (WIFSIGNALED(status)) return Status::Error(std::string("killed by signal ") + strsignal(WTERMSIG(status)));
    return Status::Error("ended oddly");
  }

 private:
  std::string cmd_;
};

// ---------------------------------------------------------------------------
// webhook

class WebhookSink final : public Sink {
 public:
  explicit WebhookSink(const std::string& url) {
    const size_t rest = url.find("://");
    const size_t slash = rest == std::string::npos ? std::string::npos : url.find('/', rest + 3);
    base_ = slash == std::string::npos ? url : url.substr(0, slash);
    path_ = slash == std::string::npos ? "/" : url.substr(slash);
  }
  std::string name() const override { return "webhook"; }

  Status Send(const std::string& line, int64_t timeout_ns, const std::atomic<bool>& stop) override {
    if (stop.load()) return Status::Error("stopping");
    auto cli = std::make_shared<httplib::Client>(base_);
    const time_t sec = time_t(timeout_ns / 1'000'000'000);
    const time_t usec = time_t((timeout_ns % 1'000'000'000) / 1000);
    cli->set_connection_timeout(sec, usec);
    cli->set_read_timeout(sec, usec);
    cli->set_write_timeout(sec, usec);
    cli->set_keep_alive(false);
    if (base_.rfind("https://", 0) == 0 && ::access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
      cli->set_ca_cert_path("/etc/ssl/certs/ca-certificates.crt");
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      active_ = cli;
    }
    httplib::Headers headers = {{"User-Agent", "honeynet-alerts"}};
    auto res = cli->Post(path_, headers, line, "application/json");
    {
      std::lock_guard<std::mutex> l(mu_);
      active_.reset();
    }
    if (!res) return Status::Error("POST " + base_ + path_ + ": " + httplib::to_string(res.error()));
    if (res->status < 200 || res->status > 299) {
      return Status::Error("POST " + base_ + path_ + ": HTTP status " + std::to_string(res->status));
    }
    return Status::Ok();
  }

  void Abort() override {
    std::lock_guard<std::mutex> l(mu_);
    if (active_) active_->stop();
  }

 private:
  std::string base_, path_;
  std::mutex mu_;
  std::shared_ptr<httplib::Client> active_;
};

// ---------------------------------------------------------------------------
// syslog

class SyslogSink final : public Sink {
 public:
  SyslogSink() { ::openlog("honeynet-alert", LOG_PID | LOG_NDELAY, LOG_DAEMON); }
  std::string name() const override { return "syslog"; }
  Status Send(const std::string& line, int64_t, const std::atomic<bool>&) override {
    ::syslog(LOG_DAEMON | LOG_WARNING, "%s", line.c_str());
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Sink> MakeCommandSink(const std::string& command) { return std::make_unique<CommandSink>(command); }
std::unique_ptr<Sink> MakeWebhookSink(const std::string& url) { return std::make_unique<WebhookSink>(url); }
std::unique_ptr<Sink> MakeSyslogSink() { return std::make_unique<SyslogSink>(); }

std::vector<std::unique_ptr<Sink>> MakeSinks(const AlertsConfig& a) {
  std::vector<std::unique_ptr<Sink>> out;
  if (!a.command.empty()) out.push_back(MakeCommandSink(a.command));
  if (!a.webhook.empty()) out.push_back(MakeWebhookSink(a.webhook));
  if (a.syslog) out.push_back(MakeSyslogSink());
  return out;
}

// ---------------------------------------------------------------------------
// Dispatcher

Dispatcher::Dispatcher(std::vector<std::unique_ptr<Sink>> sinks, int64_t timeout_ns, size_t queue_max)
    : timeout_ns_(timeout_ns), queue_max_(queue_max) {
  for (auto& s : sinks) {
    auto lane = std::make_unique<Lane>();
    lane->sink = std::move(s);
    lanes_.push_back(std::move(lane));
  }
  for (auto& lane : lanes_) {
    Lane* l = lane.get();
    l->thread = std::thread([this, l] {
      NameThread("alert-" + l->sink->name());
      Run(l);
    });
  }
}

Dispatcher::~Dispatcher() {
  if (!stop_.load()) Stop(2000);
  for (auto& lane : lanes_) {
    if (lane->thread.joinable()) {
      if (lane->done.load()) {
        lane->thread.join();
      } else {
        lane->thread.detach();  // still stuck in a call: the process is exiting
      }
    }
  }
}

void Dispatcher::Post(AlertKind kind, const std::string& line) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& lane : lanes_) {
    if (lane->queue.size() >= queue_max_) {
      lane->dropped++;
      lane->kinds[size_t(kind)].dropped++;
      continue;
    }
    lane->queue.emplace_back(kind, line);
  }
  cv_.notify_all();
}

void Dispatcher::Run(Lane* lane) {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stop_.load() || !lane->queue.empty(); });
    if (stop_.load()) break;
    auto [kind, line] = std::move(lane->queue.front());
    lane->queue.pop_front();
    lane->busy = true;
    l.unlock();
    Status s = lane->sink->Send(line, timeout_ns_, stop_);
    l.lock();
    lane->busy = false;
    if (s.ok()) {
      lane->sent++;
      lane->kinds[size_t(kind)].sent++;
    } else {
      lane->failed++;
      lane->kinds[size_t(kind)].failed++;
      lane->last_error = s.message();
      const int64_t now_ms = MonoNowNs() / 1'000'000;
      if (now_ms - lane->last_log_ms >= 1000) {
        std::string more = lane->unlogged ? " (" + std::to_string(lane->unlogged) + " more failures not shown)" : "";
        std::fprintf(stderr, "honeynet alerts: %s sink failed for a %s alert: %s%s\n", lane->sink->name().c_str(),
                     AlertKindName(kind), s.message().c_str(), more.c_str());
        std::fflush(stderr);
        lane->last_log_ms = now_ms;
        lane->unlogged = 0;
      } else {
        lane->unlogged++;
      }
    }
    idle_cv_.notify_all();
  }
  lane->done.store(true);
  idle_cv_.notify_all();
}

bool Dispatcher::Drain(int timeout_ms) {
  std::unique_lock<std::mutex> l(mu_);
  return idle_cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] {
    for (auto& lane : lanes_) {
      if (!lane->queue.empty() || lane->busy) return false;
    }
    return true;
  });
}

bool Dispatcher::Stop(int grace_ms) {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_.store(true);
    cv_.notify_all();
  }
  for (auto& lane : lanes_) lane->sink->Abort();
  const int64_t end = MonoNowNs() + int64_t(grace_ms) * 1'000'000;
  bool all = true;
  for (auto& lane : lanes_) {
    while (!lane->done.load() && MonoNowNs() < end) ::usleep(5000);
    if (lane->done.load()) {
      if (lane->thread.joinable()) lane->thread.join();
    } else {
      all = false;
    }
  }
  return all;
}

nlohmann::json Dispatcher::Counters() const {
  std::lock_guard<std::mutex> l(mu_);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& lane : lanes_) {
    nlohmann::json kinds = nlohmann::json::object();
    for (size_t k = 0; k < size_t(AlertKind::kCount); k++) {
      const PerKind& p = lane->kinds[k];
      if (p.sent || p.failed || p.dropped) {
        kinds[AlertKindName(AlertKind(k))] = {{"sent", p.sent}, {"failed", p.failed}, {"dropped", p.dropped}};
      }
    }
    nlohmann::json j = {{"sent", lane->sent},
                        {"failed", lane->failed},
                        {"dropped", lane->dropped},
                        {"queued", lane->queue.size() + (lane->busy ? 1 : 0)},
                        {"kinds", kinds}};
    if (!lane->last_error.empty()) j["last_error"] = lane->last_error;
    out[lane->sink->name()] = j;
  }
  return out;
}

}  // namespace hn
