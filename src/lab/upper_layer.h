// The writable layer of a contained namespace honeypot (nsguest.h): an ext4
// file of disk_max bytes (sparse: it takes what the guest wrote), its root
// owned by the guest's id range, made once and kept until reset; attached to
// a loop device that detaches itself once its last user (the guest's mount,
// inside the guest's own mount namespace) is gone. A full disk is the
// guest's alone.
//
// Who may call: nsguest (StartNsGuest).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace hn {

// Makes img (bytes long, ext4, root owned by id_base) unless it exists. Needs mke2fs.
Status MakeUpperImage(const std::string& img, int64_t bytes, uint32_t id_base);
// Attaches img to a free loop device (autoclear). Returns the open device;
// *dev is its path. The caller keeps it open until the guest has mounted it.
Result<int> AttachLoop(const std::string& img, std::string* dev);

}  // namespace hn
