// The guest-side files of the images (init scripts, inittab, shared shell
// functions), embedded into the binary from images/ by images/embed.py, so
// images build the same from any working directory.
//
// Who may call: src/lab/image.cpp.
#pragma once

#include <string_view>
#include <vector>

namespace hn {

struct EmbeddedFile {
  std::string_view name;  // path below images/, e.g. "busybox/init"
  std::string_view text;
};

const std::vector<EmbeddedFile>& EmbeddedImageFiles();

}  // namespace hn
