// `honeynet alerts`: runs the [alerts] of a lab or of a standalone honeywall
// (src/alerts/, docs/alerts.md).
#include <string>

#include "alerts/runner.h"
#include "cli/commands.h"
#include "lab/lab.h"

namespace hn {
namespace {

AlertsOptions g_alerts;

}  // namespace

void AddAlertsCommand(CLI::App& app) {
  CLI::App* c = app.add_subcommand(
      "alerts",
      "Send the operator alerts ([alerts] in the config: command, webhook, syslog) for new attackers, logins, "
      "blocked outbound attempts, exhausted budgets, rule alerts, a honeypot or the honeywall down, a full disk. "
      "`honeynet up` runs it for a lab with [alerts]; beside `honeynet wall` run it with --config");
  c->add_option("--data-dir", g_alerts.data_dir,
                "A lab's data directory: its wall.toml, state and capture (what `honeynet up` starts)");
  c->add_option("--config", g_alerts.config_path,
                "A honeywall config with [alerts]: follow capture.dir/events.json of a standalone `honeynet wall`");
  c->add_option("--state-dir", g_alerts.state_dir,
                "Where alerts-state.json and alerts-stats.json go (default: DATA/lab, or capture.dir/alerts)");
  c->add_flag("--test,--send-test", g_alerts.test,
              "Send one test alert through every sink, say for each whether it worked, and exit (1 if one failed)");
  c->footer(
      "Examples:\n"
      "  honeynet alerts --config /etc/honeynet/wall.toml --test    # try the sinks\n"
      "  honeynet alerts --config /etc/honeynet/wall.toml           # beside `honeynet wall --config ...`\n"
      "  honeynet alerts --data-dir /var/lib/honeynet               # a lab's (`honeynet up` starts this itself)\n"
      "Alerts are one JSON object per line (docs/alerts.md).");
  c->callback([] { SetRun([] { return RunAlerts(g_alerts); }); });
}

}  // namespace hn
