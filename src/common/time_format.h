// Text forms of wall-clock times (nanoseconds since 1970) for events, logs and
// the analysis commands. One place, so every output that says "the same format
// as events.json" really is. Not for the per-packet path (strftime, tz lookup).
// Times before 1970 round down to the second before (no negative fractions).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hn {

// Suricata's EVE format in local time: "2026-11-26T18:42:29.123456+0100".
std::string IsoTimeLocal(int64_t ns);
// The same in UTC, ending in `zone`: "2026-11-26T18:42:29.123456Z" by default.
std::string IsoTimeUtc(int64_t ns, std::string_view zone = "Z");
// "2026-11-26 18:42:29", local time (tables for people).
std::string LocalDateTime(int64_t ns);

}  // namespace hn
