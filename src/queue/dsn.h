// Delivery Status Notifications (RFC 3464): the multipart/report the queue
// sends to a message's sender when it gives up on recipients (failed),
// warns that delivery is late (delayed) or, for NOTIFY=SUCCESS, reports
// success (delivered, relayed), honouring the RFC 3461 envelope
// parameters ENVID, ORCPT and RET (a success report returns the headers
// only, whatever RET says, as Postfix does). For SMTPUTF8 mail the report uses the
// internationalized types of RFC 6533 (message/global-delivery-status,
// message/global).
//
// Pure function, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "queue/queue.h"

namespace correio::queue {

struct DsnRecipient {
  std::string address;      // Final-Recipient
  std::string orcpt;        // "rfc822;addr" or ""
  std::string action;       // "failed" | "delayed" | "delivered" | "relayed"
  std::string status;       // "5.1.1"
  std::string diagnostic;   // the SMTP reply "550 5.1.1 ..." or ""
  std::string remote_mta;   // "mx.example.net" or ""
  std::string explanation;  // human text when there is no SMTP reply
  int64_t last_attempt = 0;
};

struct DsnInput {
  std::string reporting_mta;    // our host name
  std::string original_sender;  // the bounce goes To: this address
  std::string envid;
  Ret ret = Ret::kDefault;
  bool smtputf8 = false;
  int64_t arrival = 0;  // unix seconds the message entered the queue
  int64_t now = 0;
  std::vector<DsnRecipient> recipients;
  std::string_view original;  // the message as queued
  std::string unique;         // makes Message-ID and boundary unique ("q17.3")
};

// Largest original returned whole; above it only the headers (RFC 3461
// §4.3 allows the MTA to truncate).
inline constexpr size_t kMaxReturnedMessage = 1 << 20;

// One report: every recipient in it has the same kind of action (failed,
// delayed, or delivered/relayed), which sets its Subject and text.
std::string BuildDsn(const DsnInput& input);

// The envelope of a report to `sender`: null reverse path (never a report
// about a report, RFC 3461 §6.2) and NOTIFY=NEVER.
Envelope DsnEnvelope(const std::string& sender, bool smtputf8);

// The header fields of a message (up to the line before the empty one);
// the whole message when it has no body.
std::string_view HeaderBlock(std::string_view message);

// "Wed, 02 Dec 2026 16:47:26 +0000" (RFC 5322 §3.3), UTC.
std::string FormatRfc5322Date(int64_t unix_seconds);

}  // namespace correio::queue
