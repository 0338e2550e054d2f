// `honeynet web`: the operator's view of a lab in a browser (src/web/,
// docs/web.md).
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "lab/lab.h"
#include "web/server.h"

namespace hn {
namespace {

web::WebOptions g_web;

int RunWeb() {
  Status s = web::RunWeb(g_web);
  if (!s.ok()) {
    std::cerr << "honeynet web: " << s.message() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace

void AddWebCommand(CLI::App& app) {
  g_web.data_dir = kLabDefaultDataDir;
  CLI::App* w = app.add_subcommand(
      "web",
      "The operator's view in a browser: attackers and their story (flows, typed sessions, tty replay, what the "
      "honeypot tried next, blocked or not), alerts, search, pcap download, live updates");
  w->add_option("--listen", g_web.listen,
                "ADDR:PORT to serve on (default 127.0.0.1:8080). Anything but loopback needs --password-file or "
                "--token-file")
      ->capture_default_str();
  w->add_option("--data-dir", g_web.data_dir, "The lab's data dir: its capture and honeypots; the index goes to DATA/web")
      ->capture_default_str();
  w->add_option("--capture-dir", g_web.capture_dir,
                "A capture directory to show instead of the lab's (e.g. a `honeynet wall`'s capture.dir)");
  w->add_option("--password-file", g_web.password_file, "USER:PASSWORD lines: HTTP Basic authentication");
  w->add_option("--token-file", g_web.token_file,
                "A token (16+ characters): 'Authorization: Bearer TOKEN', or Basic with it as the password");
  w->add_option("--allow-host", g_web.allow_hosts,
                "Another name the Host header may carry (a reverse proxy's name; repeat for more)");
  w->callback([] { SetRun(RunWeb); });
}

}  // namespace hn
