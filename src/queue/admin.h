// `correio queue ...`: look at and steer the outbound queue from the
// command line, beside a running server (SQLite WAL lets both open
// queue.db; the server's scheduler sees changes at its next poll).
//
//   correio queue list              one line per message and recipient
//   correio queue show ID           one message in detail
//   correio queue retry ID|--all    make pending recipients due now
//   correio queue flush             same as retry --all
//   correio queue delete ID         drop a message, no bounce (alias: remove)
//
// Thread-safety: opens its own spool; call from the CLI's main thread.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "base/clock.h"
#include "config/config.h"

namespace correio::queue {

// <data_dir>/queue.db
std::string QueuePath(const config::Config& cfg);

// `args` are the words after "queue". Returns the process exit status:
// 0 ok, 1 failure (message on err), 2 usage error.
int RunQueueCommand(const config::Config& cfg,
                    const std::vector<std::string>& args, std::ostream& out,
                    std::ostream& err, const Clock& clock = SystemClock());

}  // namespace correio::queue
