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

struct Recipient {
  std::string address;  // as given in RCPT TO (not lowercased)
  uint8_t notify = kNotifyDefault;
  std::string orcpt;  // RFC 3461 ORCPT, "rfc822;addr" decoded xtext, or ""
};

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
  // Local delivery done: queues a "delivered" report (RFC 3464) to
  // envelope.mail_from for envelope.recipients, the ones that asked with
  // NOTIFY=SUCCESS. `message` is what was delivered (its header is
  // returned). Nothing for the null sender.
  virtual Status ReportDelivered(const Envelope& envelope,
                                 std::string_view message) = 0;
};

}  // namespace correio::queue
