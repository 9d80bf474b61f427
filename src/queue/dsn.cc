#include "queue/dsn.h"

#include <fmt/format.h>
#include <time.h>

namespace correio::queue {

std::string_view HeaderBlock(std::string_view message) {
  size_t end = message.find("\r\n\r\n");
  if (end == std::string_view::npos) return message;
  return message.substr(0, end + 2);
}

namespace {

std::string EnsureCrlf(std::string_view text) {
  std::string out(text);
  if (out.size() < 2 || out.substr(out.size() - 2) != "\r\n") out += "\r\n";
  return out;
}

}  // namespace

std::string FormatRfc5322Date(int64_t unix_seconds) {
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed",
                                "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
                     kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

Envelope DsnEnvelope(const std::string& sender, bool smtputf8) {
  Envelope e;
  e.mail_from = "";
  e.recipients.push_back({sender, kNotifyNever, ""});
  e.smtputf8 = smtputf8;
  e.eight_bit = true;
  return e;
}

std::string BuildDsn(const DsnInput& in) {
  bool delayed_only = true;
  bool success = !in.recipients.empty();
  for (const auto& r : in.recipients) {
    if (r.action != "delayed") delayed_only = false;
    if (r.action != "delivered" && r.action != "relayed") success = false;
  }
  std::string boundary = fmt::format("=_correio_{}_{}", in.unique, in.now);
  std::string out;
  // RFC 3464 §2: From a postmaster-ish address; RFC 3834 §5:
  // Auto-Submitted so that auto-responders stay quiet.
  out += fmt::format("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n",
                     in.reporting_mta);
  out += fmt::format("To: <{}>\r\n", in.original_sender);
  out += success        ? "Subject: Successful Mail Delivery Report\r\n"
         : delayed_only ? "Subject: Delayed Mail (still being retried)\r\n"
                        : "Subject: Undelivered Mail Returned to Sender\r\n";
  out += fmt::format("Date: {}\r\n", FormatRfc5322Date(in.now));
  out += fmt::format("Message-ID: <dsn.{}.{}@{}>\r\n", in.unique, in.now,
                     in.reporting_mta);
  out += "Auto-Submitted: auto-replied\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += fmt::format(
      "Content-Type: multipart/report; report-type=delivery-status;\r\n"
      "\tboundary=\"{}\"\r\n\r\n",
      boundary);
  out += "This is a MIME-encapsulated delivery status notification.\r\n\r\n";

  // Part 1: for people (RFC 3464 §2.1, RFC 6522).
  out += "--" + boundary + "\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  out += fmt::format("This is the mail system at host {}.\r\n\r\n",
                     in.reporting_mta);
  if (success) {
    out +=
        "Your message was delivered to the recipients below, as you "
        "asked\r\nwhen you sent it (NOTIFY=SUCCESS). \"relayed\" means it "
        "went on to a\r\nmail system that sends no such reports; you may "
        "hear nothing more.\r\n\r\n";
  } else if (delayed_only) {
    out +=
        "Your message could not be delivered yet to the recipients "
        "below.\r\nIt is still in the queue and will be retried; you do "
        "not need to send it again.\r\n\r\n";
  } else {
    out +=
        "Your message could not be delivered to one or more "
        "recipients.\r\nIt has been returned to you with the reasons "
        "below.\r\n\r\n";
  }
  for (const auto& r : in.recipients) {
    out += fmt::format("<{}>: ", r.address);
    if (!r.diagnostic.empty()) {
      out += r.remote_mta.empty()
                 ? r.diagnostic
                 : fmt::format("host {} said: {}", r.remote_mta, r.diagnostic);
    } else {
      out += r.explanation;
    }
    out += "\r\n";
  }
  out += "\r\n";

  // Part 2: for machines (RFC 3464 §2.2, §2.3).
  out += "--" + boundary + "\r\n";
  out += in.smtputf8 ? "Content-Type: message/global-delivery-status\r\n\r\n"
                     : "Content-Type: message/delivery-status\r\n\r\n";
  out += fmt::format("Reporting-MTA: dns; {}\r\n", in.reporting_mta);
  if (!in.envid.empty()) {
    out += fmt::format("Original-Envelope-Id: {}\r\n", in.envid);
  }
  out += fmt::format("Arrival-Date: {}\r\n", FormatRfc5322Date(in.arrival));
  for (const auto& r : in.recipients) {
    out += "\r\n";
    if (!r.orcpt.empty()) {
      out += fmt::format("Original-Recipient: {}\r\n", r.orcpt);
    }
    // RFC 6533 §3: utf-8 address type for internationalized addresses.
    out += fmt::format("Final-Recipient: {}; {}\r\n",
                       in.smtputf8 ? "utf-8" : "rfc822", r.address);
    out += fmt::format("Action: {}\r\n", r.action);
    out += fmt::format("Status: {}\r\n", r.status);
    if (!r.remote_mta.empty()) {
      out += fmt::format("Remote-MTA: dns; {}\r\n", r.remote_mta);
    }
    if (!r.diagnostic.empty()) {
      out += fmt::format("Diagnostic-Code: smtp; {}\r\n", r.diagnostic);
    }
    if (r.last_attempt) {
      out += fmt::format("Last-Attempt-Date: {}\r\n",
                         FormatRfc5322Date(r.last_attempt));
    }
    if (r.action == "delayed") {
      // RFC 3464 §2.3.8 Will-Retry-Until is optional; omitted.
    }
  }
  out += "\r\n";

  // Part 3: the original (RFC 3461 §4.3 RET). Without RET we return the
  // headers only, as a large bounce of a large message helps nobody.
  out += "--" + boundary + "\r\n";
  bool full = !success && in.ret == Ret::kFull &&
              in.original.size() <= kMaxReturnedMessage;
  if (full) {
    out += in.smtputf8 ? "Content-Type: message/global\r\n\r\n"
                       : "Content-Type: message/rfc822\r\n\r\n";
    out += EnsureCrlf(in.original);
  } else {
    out += in.smtputf8 ? "Content-Type: message/global-headers\r\n\r\n"
                       : "Content-Type: text/rfc822-headers\r\n\r\n";
    out += EnsureCrlf(HeaderBlock(in.original));
  }
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

}  // namespace correio::queue
