// The writable layer of a contained namespace honeypot (see upper_layer.h).
#include "lab/upper_layer.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/fd.h"
#include "common/fs.h"
#include "lab/run.h"

namespace hn {

Status MakeUpperImage(const std::string& img, int64_t bytes, uint32_t id_base) {
  if (PathExists(img)) return Status::Ok();
  const std::string tmp = img + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Error("cannot create " + tmp + ": " + ErrnoText());
  const bool sized = ::ftruncate(fd, bytes) == 0;
  const int err = errno;
  ::close(fd);
  if (!sized) return Status::Error("cannot size " + tmp + ": " + std::strerror(err));
  const std::string owner = std::to_string(id_base) + ":" + std::to_string(id_base);
  RunResult r = RunCommand({"mke2fs", "-q", "-F", "-t", "ext4", "-m", "0", "-L", "hn-upper", "-E",
                            "root_owner=" + owner + ",lazy_itable_init=1,lazy_journal_init=1", tmp});
  if (r.exit_code != 0) {
    ::unlink(tmp.c_str());
    return Status::Error("mke2fs " + tmp + " (apt-get install e2fsprogs): " + r.out);
  }
  if (::rename(tmp.c_str(), img.c_str()) != 0) return Status::Error("cannot rename " + tmp + ": " + ErrnoText());
  return Status::Ok();
}

Result<int> AttachLoop(const std::string& img, std::string* dev) {
  Fd ctl(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (ctl.fd < 0) {
    return Status::Error("no loop devices (/dev/loop-control: " + ErrnoText() +
                         "): run `modprobe loop`, or set unsafe = true for this honeypot (no disk limit)");
  }
  Fd file(::open(img.c_str(), O_RDWR | O_CLOEXEC));
  if (file.fd < 0) return Status::Error("cannot open " + img + ": " + ErrnoText());
  for (int attempt = 0; attempt < 32; attempt++) {
    const int n = ::ioctl(ctl.fd, LOOP_CTL_GET_FREE);
    if (n < 0) return Status::Error("no free loop device: " + ErrnoText());
    const std::string path = "/dev/loop" + std::to_string(n);
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && ::mknod(path.c_str(), S_IFBLK | 0660, makedev(7, unsigned(n))) == 0) {
      fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    }
    if (fd < 0) return Status::Error("cannot open " + path + ": " + ErrnoText());
    struct loop_config cfg {};
    cfg.fd = uint32_t(file.fd);
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    std::snprintf(reinterpret_cast<char*>(cfg.info.lo_file_name), sizeof cfg.info.lo_file_name, "%s", img.c_str());
    if (::ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
      *dev = path;
      return fd;
    }
    const int err = errno;
    ::close(fd);
    if (err != EBUSY) return Status::Error("cannot attach " + img + " to " + path + ": " + std::strerror(err));
  }
  return Status::Error("cannot find a free loop device for " + img);
}

}  // namespace hn
