// Small file-system helpers shared by the lab and capture code (never used on
// the per-packet path): mkdir -p, and whole-file writes that are atomic.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace hn {

// mkdir -p: creates path and its missing parents with mode (existing ones are kept).
// The whole content of a file; empty when it cannot be read (callers that
// must tell "empty" from "unreadable" check the file themselves).
std::string ReadFileOrEmpty(const std::string& path);

Status MakeDirs(const std::string& path, mode_t mode = 0755);

// How durable WriteFileAtomic makes a write: kNone only renames (readers still
// see whole files; a machine crash may lose the latest), kFile fsyncs the file
// before the rename, kFileAndDir also fsyncs the directory after it (the new
// name survives a crash too).
enum class Sync { kNone, kFile, kFileAndDir };

// Writes data to path atomically: a temporary file beside it, then rename.
// Readers see the old content or the new, never a part.
Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode = 0644,
                       Sync sync = Sync::kFile);

// Writes data with one write() to a file that exists (a kernel knob: a
// cgroup file, /proc/PID/uid_map): no create, no truncate, no temp file.
// The error names the file and the value.
// strerror(errno) as a string.
std::string ErrnoText();

// True when something exists at path (lstat: a symlink counts, dangling or not).
bool PathExists(const std::string& path);

Status WriteKnob(const std::string& path, const std::string& data);

}  // namespace hn
