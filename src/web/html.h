// Html: escaping for the pages of `honeynet web`. Every string that came from
// the capture (addresses are checked, but payloads, tty data, signatures, file
// names are attacker-controlled) goes through one of these before it reaches
// a page. Pages never put data into <script>, style or event-handler
// attributes; dynamic data reaches scripts only as JSON from /api (and the
// scripts insert it with textContent), so HTML-escaping text and attribute
// values is all a page needs.
//
// Who may call: src/web only.
#pragma once
#include <string>
#include <string_view>

namespace hn::web {

// Text or a double-quoted attribute value: & < > " ' escaped; bytes that are
// not printable ASCII or valid UTF-8 text become U+FFFD, control characters
// other than tab and newline become "·" (so a terminal escape or a NUL shows
// as a visible mark, never as markup).
std::string Esc(std::string_view s);
// A path segment or query value: everything but [A-Za-z0-9._~-] as %XX.
std::string UrlEncode(std::string_view s);
// Decodes %XX and '+' (query strings); invalid escapes are kept as they are.
std::string UrlDecode(std::string_view s);

}  // namespace hn::web
