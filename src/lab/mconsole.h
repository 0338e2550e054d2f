// A client for User-Mode Linux's management console (mconsole): one command
// ("halt", "version", "config con1", ...) to a running guest, its reply back.
//
// UML listens on a unix datagram socket at UML_DIR/UMID/mconsole and answers
// to the sender's address. uml_mconsole binds an *abstract* address, which
// belongs to a network namespace: from outside the guest's namespace its
// replies never arrive. This client binds a pathname socket next to the
// guest's directory instead, so it works from any network namespace.
//
// Who may call: src/lab (guest.cpp) only.
#pragma once

#include <string>

#include "common/status.h"

namespace hn {

// Where the client's own (reply) socket is. netns set (the guest's network
// namespace): an abstract address made in that namespace, which only its
// processes reach and which needs no file, permission or path: what the lab
// uses, so an unprivileged guest can answer whatever the modes of the
// directories above its files. Else a pathname socket in dir (default: the
// one above the socket's directory); reply_uid >= 0 gives that file to the
// uid (root's socket files are 0755: no one else may send to them).
struct MconsoleClient {
  std::string netns;
  std::string dir;
  int reply_uid = -1;
};

// Sends cmd to the mconsole socket sock and returns the reply text (all parts
// joined). An error reply from UML ("unknown command") is an error Status.
Result<std::string> MconsoleCommand(const std::string& sock, const std::string& cmd, int timeout_ms = 3000,
                                    const MconsoleClient& client = {});

}  // namespace hn
