// IDLE (RFC 2177, RFC 9051 §6.3.13): changes from other sessions are sent
// as they are posted, by IdleWriter, while this handler waits for DONE.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/strings.h"
#include "imap/server/session_internal.h"

namespace correio::imap {

namespace asio = boost::asio;

awaitable<Reply> Session::CmdIdle(Command) {
  Send("+ idling\r\n");
  ApplyPending(true);
  if (notify_) co_await ResolveNotes();
  if (!co_await Flush()) {
    state_ = SessionState::kLogout;
    co_return Reply{"", ""};
  }
  idling_ = true;
  // The read stays pending for the whole IDLE; OnChange starts IdleWriter
  // for each burst of changes (one read and one write may be outstanding
  // on a connection at a time).
  auto line = co_await conn_->ReadLine(options_.max_line_length);
  idling_ = false;
  if (idle_writer_running_) {
    asio::steady_timer wait(executor_);
    wait.expires_at(asio::steady_timer::time_point::max());
    idle_wait_ = &wait;
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    idle_wait_ = nullptr;
  }
  if (!line) {
    if (line.error().code() == ErrorCode::kTooBig) {
      co_return Reply::Bad("Expected DONE");
    }
    if (conn_->stopping()) Send("* BYE Server shutting down\r\n");
    if (conn_->timed_out()) Send("* BYE Autologout; idle for too long\r\n");
    state_ = SessionState::kLogout;
    co_return Reply{"", ""};
  }
  if (!EqualsIgnoreCase(line->text, "DONE")) co_return Reply::Bad("Expected DONE");
  co_return Reply::Ok("IDLE terminated");
}

}  // namespace correio::imap
