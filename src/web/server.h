// WebServer: `honeynet web`, the operator's view of a lab in a browser.
//
// One process: an HTTP server (cpp-httplib) on the listen address, a thread
// that keeps the index (web_index.h) up with events.json, and pages rendered
// on the server from the index, the pcaps and the tty logs (pages.h). Static
// assets are compiled in (web/assets/, embedded at build time); nothing is
// fetched from anywhere at run time.
//
// Safe by default (docs/web.md):
//   - a non-loopback listen address needs a password file or a token file;
//   - a request whose Host header is not the listen address (or a name given
//     with allow_hosts) is refused: DNS rebinding;
//   - nothing is read by a path from the request: pcaps and tty logs are found
//     by address, flow id or session id, each checked before use;
//   - every page escapes what came from the capture, and sends a CSP that
//     allows scripts from the server only (no inline script), nosniff, no
//     framing, no referrer.
//
// Who may call: src/cli/cmd_web.cpp.
#pragma once
#include <string>
#include <vector>

#include "common/status.h"

namespace hn::web {

struct WebOptions {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir;       // the lab's data dir (status of the honeypots; the index under DATA/web)
  std::string capture_dir;    // default: DATA/lab/capture
  std::string password_file;  // "user:password" lines: HTTP Basic
  std::string token_file;     // one token: "Authorization: Bearer TOKEN" (or Basic with it as password)
  std::vector<std::string> allow_hosts;  // more names the Host header may carry
};

struct ListenAddr {
  std::string host;  // as given, without brackets
  int port = 0;
  bool loopback = false;
  bool wildcard = false;  // 0.0.0.0 or ::
};

// "127.0.0.1:8080", "[::1]:8080", "localhost:8080", "0.0.0.0:80"; error text says what is wrong.
Result<ListenAddr> ParseListen(const std::string& text);

// Checks the options (auth when not loopback, readable files), opens the
// index, catches up with the capture (progress on stderr) and serves until
// SIGINT/SIGTERM.
Status RunWeb(const WebOptions& opt);

}  // namespace hn::web
