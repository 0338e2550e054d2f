// Guest images: root filesystems the honeypots boot from, built by the
// project and cached under DATA/images/ (rebuilt only on request).
//
//  busybox  busybox-static userland, telnetd + login (root/root), ping, telnet,
//           nc, wget; ext4 made with `mke2fs -d` (no loop mount), seconds.
//  debian   Debian 12 by debootstrap (openssh-server, telnetd, iproute2,
//           iputils-ping, netcat, root/root), minutes; per-guest SSH host keys.
//
// Images are generic: a guest learns its address, gateway, hostname from a
// small settings disk (ubd1) at boot (guest.h), not from /proc/cmdline. Both
// boot through the project's own init (images/<kind>/init), not sysvinit.
//
// Who may call: the CLI (`honeynet image ...`) and the lab.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace hn {

struct ImageInfo {
  std::string kind;       // "busybox" | "debian"
  std::string path;       // DATA/images/<kind>.img
  uint64_t size_bytes = 0;      // apparent size
  uint64_t allocated_bytes = 0; // on disk
  int64_t built_unix = 0;       // when it was built (seconds)
  double build_seconds = 0;     // how long the build took
};

using Progress = std::function<void(const std::string&)>;

// Kinds BuildImage knows.
std::vector<std::string> ImageKinds();
// DATA/images/<kind>.img
std::string ImagePath(const std::string& data_dir, const std::string& kind);
// Builds (or with force=false returns the cached) image. Progress lines go to say.
Result<ImageInfo> BuildImage(const std::string& data_dir, const std::string& kind, bool force, const Progress& say);
// The images present, with size and age.
std::vector<ImageInfo> ListImages(const std::string& data_dir);

}  // namespace hn
