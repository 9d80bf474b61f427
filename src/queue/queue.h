// The outbound queue (ARCHITECTURE "Outbound mail"): mail for remote
// recipients waits here, durably, until smtp/client hands it to the next
// server, retrying with backoff and bouncing (RFC 3464 DSN) when it gives up.
//
// The SMTP server only sees this interface: Enqueue() returns after the
// message and its envelope are on disk (fsynced), so the session may then
// answer 250. Delivery attempts happen on the queue's own schedule.
//
// Thread-safety: Enqueue may be called from any thread; it blocks (disk),
// so sessions call it through net::RunBlocking.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace correio::queue {

// RFC 3461 NOTIFY for one recipient.
enum Notify : uint8_t {
  kNotifyDefault = 0,  // no NOTIFY given: failure (and delay) DSNs
  kNotifyNever = 1,
  kNotifySuccess = 2,
  kNotifyFailure = 4,
  kNotifyDelay = 8,
};

// The success report (if any) an alias or account owes a NOTIFY=SUCCESS
// sender once the message reached its targets: "delivered" into local
// mailboxes only; "" when it forwards to exactly one other address (which
// carries the NOTIFY on and reports itself); "expanded" when it fans out to
// several targets, one of them at least remote.
inline const char* SuccessAction(size_t local_targets, size_t remote_targets) {
  if (remote_targets == 0) return local_targets ? "delivered" : "";
  if (remote_targets == 1 && local_targets == 0) return "";
  return "expanded";
}

struct Recipient {
  std::string address;  // as given in RCPT TO (not lowercased)
  uint8_t notify = kNotifyDefault;
  std::string orcpt;  // RFC 3461 ORCPT, "rfc822;addr" decoded xtext, or ""
};

// The copy an alias `alias` (asked with `notify` and `orcpt`) forwards to
// `target`, one of its local_targets + remote_targets. ORCPT names the
// address the sender used (RFC 3461 4.2). When the alias itself reports
// "expanded" (RFC 3461 6.2.7), the copy asks for no second success report;
// failure and delay reports still flow, and SUCCESS alone becomes NEVER.
inline Recipient ForwardedRecipient(std::string target, uint8_t notify,
                                    const std::string& orcpt,
                                    std::string_view alias,
                                    size_t local_targets,
                                    size_t remote_targets) {
  if (std::string_view(SuccessAction(local_targets, remote_targets)) ==
          "expanded" &&
      notify != kNotifyDefault && (notify & kNotifySuccess)) {
    notify &= static_cast<uint8_t>(~kNotifySuccess);
    if (notify == 0) notify = kNotifyNever;
  }
  return {std::move(target), notify,
          !orcpt.empty() ? orcpt : "rfc822;" + std::string(alias)};
}

enum class Ret : uint8_t { kDefault, kFull, kHeaders };

struct Envelope {
  std::string mail_from;  // "" is the null reverse-path <>
  std::vector<Recipient> recipients;
  std::string envid;  // RFC 3461 ENVID (decoded), or ""
  Ret ret = Ret::kDefault;
  bool smtputf8 = false;     // RFC 6531
  bool eight_bit = false;    // BODY=8BITMIME
  bool require_tls = false;  // RFC 8689 REQUIRETLS
  std::string authenticated_user;  // submission login, "" for relayed mail
  std::string client_ip;
};

class Queue {
 public:
  virtual ~Queue() = default;
  // Durably stores one message (exact octets, CRLF, trace headers already
  // added) for the envelope's recipients. Returns the queue id.
  virtual Result<uint64_t> Enqueue(const Envelope& envelope,
                                   std::string_view data) = 0;
  // Local delivery done: queues a success report (RFC 3464) to
  // envelope.mail_from for envelope.recipients, the ones that asked with
  // NOTIFY=SUCCESS, each with `action` ("delivered" or "expanded").
  // `message` is the header of what was delivered (returned in the
  // report). Nothing for the null sender.
  virtual Status ReportDelivered(const Envelope& envelope,
                                 std::string_view message,
                                 std::string_view action) = 0;
};

}  // namespace correio::queue
