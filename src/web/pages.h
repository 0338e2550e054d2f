// Pages of `honeynet web`, rendered on the server from the index, the pcaps
// and the tty logs. Every value that came from the capture is escaped
// (html.h). A page function returns the whole document, or nullopt when what
// it names does not exist (the server answers 404).
//
// Who may call: src/web/server.cpp.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "web/web_index.h"

namespace hn::web {

struct PageContext {
  WebIndex* index = nullptr;
  std::string capture_dir;
  std::string data_dir;  // "" when the web view has no lab (status of honeypots left out)
};

struct SearchArgs {
  std::string q;      // an address, a port, a Community ID or a flow id
  std::string from, to;  // "YYYY-MM-DDTHH:MM" (local time, what <input type=datetime-local> sends)
  std::string type;   // one event_type, or ""
};

std::string PageHome(PageContext& c);
std::optional<std::string> PageAttacker(PageContext& c, const std::string& ip);
std::optional<std::string> PageFlow(PageContext& c, uint64_t flow_id);
std::string PageAlerts(PageContext& c);
std::string PageSearch(PageContext& c, const SearchArgs& a);
std::optional<std::string> PageTty(PageContext& c, const std::string& honeypot, const std::string& session);
std::string PageError(int code, const std::string& message);

// JSON for the page scripts: events after an id (live updates), and a tty
// session as frames {"d": delay ms, "t": output text}.
std::string ApiEvents(PageContext& c, int64_t after_id);
std::optional<std::string> ApiTty(PageContext& c, const std::string& honeypot, const std::string& session);

// Time as "2026-12-06 14:03:22" (local).
std::string ShowTime(int64_t ns);
// Local "YYYY-MM-DDTHH:MM[:SS]" -> ns; 0 when empty or not such a time.
int64_t ParseLocalTime(const std::string& s);
// A valid IPv4 or IPv6 address as text (the canonical form), or "".
std::string CanonicalIp(const std::string& s);
// A honeypot name as the lab allows it ([A-Za-z0-9_.-], 1..64) and a tty session id ("hp1:3", "hp1:3.2").
bool ValidHoneypotName(const std::string& s);

}  // namespace hn::web
