// How the lab of one data dir has been doing, for `honeynet status` and a
// lab run unattended (docs/service.md): restarts after an unclean end
// (DATA/lab/restarts.json, kept across `down`), and the disk the capture
// uses. Internal to the lab: only src/lab/*.cpp may include it.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "lab/lab_internal.h"

namespace hn::lab_detail {

// DATA/lab/restarts.json: {"restarts": N, "last": UNIX, "unclean": bool,
// "detached": bool, "up_pid": PID, "up_start": TICKS, "systemd_unit": NAME}.
struct RestartRecord {
  int64_t restarts = 0;   // starts that followed an unclean end
  int64_t last = 0;       // unix time of the latest such start
  bool unclean = false;   // an `up` started and has not ended cleanly (yet)
  bool detached = false;  // that `up` was --detach (its process is gone once ready)
  ProcRef up;             // that `up` process
  std::string systemd_unit;  // the unit it ran under ("" when not under systemd)
};

std::string RestartsPath(const std::string& dd);
// The record; an empty one when there is none or it does not parse.
RestartRecord LoadRestarts(const std::string& dd);
Status SaveRestarts(const std::string& dd, const RestartRecord& r);

// `up` starts (lock held): counts a restart when the previous lab of dd was
// left behind (left_behind) or its `up` never ended cleanly, then records
// this `up` as running. Returns the count. Never fails `up`.
int64_t NoteLabStarting(const std::string& dd, bool left_behind, bool detached);
// A clean end: the foreground `up` took its lab down, or `up` failed and took
// down what it made.
void NoteLabStopped(const std::string& dd);
// `honeynet down` (lock held): a clean end when the lab was detached or its
// foreground `up` still runs; a crashed `up` (ExecStopPost after a crash)
// stays unclean, so the next `up` counts a restart.
void NoteLabDown(const std::string& dd);

// {"capture_bytes", "free_bytes", "total_bytes", "max_total", "min_free",
// "min_free_pct"}: bytes of every file under capture_dir (recursive), its
// filesystem's free (for unprivileged users) and total bytes, and the
// retention bounds of the lab's wall config (null when unset).
nlohmann::json LabDiskJson(const std::string& dd, const std::string& capture_dir);

// What LabStatus adds to its JSON: "restarts", "restart_last_unix",
// "systemd_unit" (when `up` runs under systemd) and "disk" (LabDiskJson).
void AddLabHealth(nlohmann::json* status, const std::string& dd, const std::string& capture_dir);
// The lines FormatLabStatus shows for them: restarts (and systemd's
// NRestarts when status has "systemd"), disk use and retention bounds.
std::string FormatLabHealth(const nlohmann::json& status);

// "45s", "12m05s", "3h12m", "2d03h".
std::string UptimeText(int64_t s);
// "512 B", "1.5 KiB", "3.2 GiB".
std::string BytesText(uint64_t b);

}  // namespace hn::lab_detail
