#include "queue/dsn.h"

#include <gtest/gtest.h>

#include "mime/message.h"

namespace correio::queue {
namespace {

DsnInput Input() {
  DsnInput in;
  in.reporting_mta = "mail.example.org";
  in.original_sender = "alice@example.org";
  in.envid = "ENV-1";
  in.arrival = 1700000000;
  in.now = 1700000100;
  in.unique = "7.1";
  in.original =
      "From: alice@example.org\r\nSubject: hello\r\n\r\nsecret body\r\n";
  DsnRecipient r;
  r.address = "bob@example.net";
  r.orcpt = "rfc822;Bob@Example.NET";
  r.action = "failed";
  r.status = "5.1.1";
  r.diagnostic = "550 5.1.1 no such user";
  r.remote_mta = "mx.example.net";
  r.last_attempt = 1700000100;
  in.recipients.push_back(r);
  return in;
}

TEST(DsnTest, FailedReportHasRfc3464Fields) {
  auto in = Input();
  std::string dsn = BuildDsn(in);
  for (std::string_view want :
       {"To: <alice@example.org>\r\n", "Auto-Submitted: auto-replied\r\n",
        "multipart/report; report-type=delivery-status",
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.example.org\r\n"
        "Original-Envelope-Id: ENV-1\r\n"
        "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n"
        "Original-Recipient: rfc822;Bob@Example.NET\r\n"
        "Final-Recipient: rfc822; bob@example.net\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "Remote-MTA: dns; mx.example.net\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n",
        "Content-Type: text/rfc822-headers\r\n\r\nFrom: alice@example.org\r\n"
        "Subject: hello\r\n"}) {
    EXPECT_NE(dsn.find(want), std::string::npos) << want << "\n---\n" << dsn;
  }
  // Default RET: headers only, never the body.
  EXPECT_EQ(dsn.find("secret body"), std::string::npos);
  EXPECT_EQ(dsn.find("\n\n"), std::string::npos);  // CRLF only
  for (size_t i = 0; i < dsn.size(); ++i) {
    if (dsn[i] == '\n') {
      ASSERT_EQ(dsn[i - 1], '\r') << i;
    }
  }
}

TEST(DsnTest, RetFullIncludesMessage) {
  auto in = Input();
  in.ret = Ret::kFull;
  std::string dsn = BuildDsn(in);
  EXPECT_NE(dsn.find("Content-Type: message/rfc822\r\n\r\nFrom: "
                     "alice@example.org\r\nSubject: hello\r\n\r\nsecret "
                     "body\r\n"),
            std::string::npos);
}

TEST(DsnTest, ParsesAsMultipartReport) {
  auto in = Input();
  in.ret = Ret::kFull;
  std::string dsn = BuildDsn(in);
  auto parsed = mime::Parse(dsn);
  ASSERT_TRUE(parsed);
  const auto& root = parsed->root;
  EXPECT_EQ(root.type, "multipart");
  EXPECT_EQ(root.subtype, "report");
  ASSERT_EQ(root.children.size(), 3u);
  EXPECT_EQ(root.children[0].subtype, "plain");
  EXPECT_EQ(root.children[1].type, "message");
  EXPECT_EQ(root.children[1].subtype, "delivery-status");
  EXPECT_TRUE(root.children[2].is_message());
  ASSERT_TRUE(parsed->envelope.subject);
  EXPECT_EQ(*parsed->envelope.subject, "Undelivered Mail Returned to Sender");
}

TEST(DsnTest, DelayedAndUtf8) {
  auto in = Input();
  in.recipients[0].action = "delayed";
  in.recipients[0].status = "4.4.1";
  in.smtputf8 = true;
  std::string dsn = BuildDsn(in);
  EXPECT_NE(dsn.find("Subject: Delayed Mail"), std::string::npos);
  EXPECT_NE(dsn.find("Action: delayed"), std::string::npos);
  EXPECT_NE(dsn.find("message/global-delivery-status"), std::string::npos);
  EXPECT_NE(dsn.find("Final-Recipient: utf-8; bob@example.net"),
            std::string::npos);
}

TEST(DsnTest, DateFormat) {
  EXPECT_EQ(FormatRfc5322Date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(FormatRfc5322Date(1700000000), "Tue, 14 Nov 2023 22:13:20 +0000");
}

}  // namespace
}  // namespace correio::queue
