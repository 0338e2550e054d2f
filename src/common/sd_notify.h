// The sd_notify(3) protocol of systemd, without libsystemd: a service of
// Type=notify tells the service manager it is ready (READY=1), what it is
// doing (STATUS=...), that it is still alive (WATCHDOG=1) and that it is
// stopping (STOPPING=1), one datagram to the AF_UNIX socket named by
// $NOTIFY_SOCKET (a path, or "@name" for an abstract socket). Without
// $NOTIFY_SOCKET (not started by systemd) every call is a no-op. See
// docs/service.md.
//
// Who may call: the lab (lab.cpp: `honeynet up`), the tests.
#pragma once

#include <cstdint>
#include <string>

namespace hn {

// Sends state ("READY=1\nSTATUS=...": newline-separated KEY=VALUE lines) to
// $NOTIFY_SOCKET. Returns true when it was sent, false when $NOTIFY_SOCKET is
// unset (a no-op) or sending failed (never fatal: the caller goes on). Waits
// at most 2 s for a reader whose queue is full, then drops the message.
bool SdNotify(const std::string& state);

// The watchdog interval systemd expects WATCHDOG=1 within, in microseconds,
// from $WATCHDOG_USEC; 0 when the watchdog is off, the value is not a positive
// number, or $WATCHDOG_PID is set and names another process.
uint64_t SdWatchdogUsec();

// A STATUS= line for text: its first non-empty line, control characters
// dropped, at most 200 bytes ("" for no text).
std::string SdStatusText(const std::string& text);

}  // namespace hn
