#include "smtp/proto/command.h"

#include <gtest/gtest.h>

namespace correio::smtp {
namespace {

TEST(ReplyTest, Format) {
  EXPECT_EQ(FormatReply(250, "2.1.0", "Ok"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(FormatReply(220, "", "host ESMTP"), "220 host ESMTP\r\n");
  // CR/LF in text never start a new reply line.
  EXPECT_EQ(FormatReply(550, "5.1.1", "a\r\n250 ok"),
            "550 5.1.1 a  250 ok\r\n");
  EXPECT_EQ(FormatMultiline(250, "", {"host", "PIPELINING", "SIZE 10"}),
            "250-host\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
}

TEST(CommandLineTest, VerbsAreCaseInsensitive) {
  auto c = ParseCommandLine("mail FROM:<a@b>");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->spec->verb, Verb::kMail);
  EXPECT_EQ(c->args, "FROM:<a@b>");
  c = ParseCommandLine("StartTLS");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->spec->verb, Verb::kStartTls);
  EXPECT_EQ(c->args, "");
  c = ParseCommandLine("DATA ");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->args, "");
}

TEST(CommandLineTest, Errors) {
  auto c = ParseCommandLine("FOO bar");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, 500);
  EXPECT_EQ(c.error().status, "5.5.1");
  EXPECT_FALSE(ParseCommandLine(""));
  EXPECT_FALSE(ParseCommandLine(" MAIL"));
  EXPECT_FALSE(ParseCommandLine(std::string("NOOP\0x", 6)));
  EXPECT_FALSE(ParseCommandLine("NOOP a\rb"));
  EXPECT_FALSE(ParseCommandLine(std::string(40, 'A')));
}

TEST(PathTest, Plain) {
  std::string_view rest;
  auto p = ParsePath("<Bob.Smith@Example.org> SIZE=1", &rest, false, false);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->local, "Bob.Smith");
  EXPECT_EQ(p->domain, "Example.org");
  EXPECT_EQ(p->address, "Bob.Smith@Example.org");
  EXPECT_EQ(rest, " SIZE=1");
  EXPECT_FALSE(p->source_route || p->quoted || p->utf8 || p->trailing_dot);
}

TEST(PathTest, NullPath) {
  EXPECT_TRUE(ParsePath("<>", nullptr, true, false)->null);
  EXPECT_FALSE(ParsePath("<>", nullptr, false, false));
}

TEST(PathTest, Postmaster) {
  auto p = ParsePath("<Postmaster>", nullptr, false, true);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->domain, "");
  EXPECT_EQ(p->address, "postmaster");
  EXPECT_FALSE(ParsePath("<postmaster>", nullptr, false, false));
  EXPECT_FALSE(ParsePath("<bob>", nullptr, false, true));
}

TEST(PathTest, QuotedLocalParts) {
  auto p = ParsePath(R"(<"john">@example.org>)", nullptr, false, false);
  EXPECT_FALSE(p);  // the '>' ends nothing inside quotes: bad syntax after
  p = ParsePath(R"(<"john"@example.org>)", nullptr, false, false);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->quoted);
  EXPECT_EQ(p->address, "john@example.org");  // canonical: no quotes needed
  p = ParsePath(R"(<"a@b"@example.org>)", nullptr, false, false);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->local, "a@b");
  EXPECT_EQ(p->address, R"("a@b"@example.org)");
  p = ParsePath(R"(<"a\"b c"@example.org>)", nullptr, false, false);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->local, "a\"b c");
  EXPECT_EQ(p->address, R"("a\"b c"@example.org)");
  EXPECT_FALSE(ParsePath(R"(<"abc@example.org>)", nullptr, false, false));
}

TEST(PathTest, SourceRouteIsRecognised) {
  auto p = ParsePath("<@relay.example,@b.example:user@c.example>", nullptr,
                     false, false);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->source_route);
  EXPECT_EQ(p->address, "user@c.example");
  EXPECT_FALSE(ParsePath("<@relay.example user@c>", nullptr, false, false));
}

TEST(PathTest, TrailingDotIsFlagged) {
  auto p = ParsePath("<user@example.org.>", nullptr, false, false);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->trailing_dot);
  EXPECT_EQ(p->domain, "example.org");
  EXPECT_FALSE(ParsePath("<user@example..org>", nullptr, false, false));
  EXPECT_FALSE(ParsePath("<user@.>", nullptr, false, false));
}

TEST(PathTest, PercentAndBangAreSyntacticallyValid) {
  auto p = ParsePath("<user%other.example@example.org>", nullptr, false, false);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->local, "user%other.example");
  p = ParsePath("<other.example!user@example.org>", nullptr, false, false);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->local, "other.example!user");
}

TEST(PathTest, Utf8) {
  auto p = ParsePath(
      "<j\xC3\xB6rg@b\xC3\xBC"
      "cher.example>",
      nullptr, false, false);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->utf8);
  EXPECT_EQ(p->address,
            "j\xC3\xB6rg@b\xC3\xBC"
            "cher.example");
}

TEST(PathTest, AddressLiteral) {
  auto p = ParsePath("<u@[192.0.2.1]>", nullptr, false, false);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->address_literal);
  EXPECT_EQ(p->domain, "[192.0.2.1]");
  EXPECT_TRUE(ParsePath("<u@[IPv6:2001:db8::1]>", nullptr, false, false));
  EXPECT_FALSE(ParsePath("<u@[]>", nullptr, false, false));
}

TEST(PathTest, Malformed) {
  for (std::string_view bad :
       {"", "<", "a@b", "<a@b", "<a@>", "<@>", "<a b@c>", "<.a@b>", "<a.@b>",
        "<a..b@c>", "<a@-b.c>", "<a@b-.c>", "<a@b_c>", "<a@@b>", "<a@b>>"}) {
    std::string_view rest;
    auto p = ParsePath(bad, &rest, true, true);
    EXPECT_TRUE(!p || !rest.empty()) << bad;
  }
  std::string long_local = "<" + std::string(65, 'a') + "@b.c>";
  EXPECT_FALSE(ParsePath(long_local, nullptr, false, false));
  // A 255-octet domain is fine on its own, but the path is then over 256.
  std::string domain = std::string(63, 'b') + "." + std::string(63, 'b') + "." +
                       std::string(63, 'b') + "." + std::string(63, 'b');
  ASSERT_EQ(domain.size(), 255u);
  EXPECT_TRUE(ParsePath("<a@" + domain.substr(4) + ">", nullptr, false, false));
  std::string long_path = "<a@" + domain + ">";
  EXPECT_FALSE(ParsePath(long_path, nullptr, false, false));
}

TEST(XtextTest, RoundTrip) {
  EXPECT_EQ(DecodeXtext("a+2Bb+3D"), "a+b=");
  EXPECT_FALSE(DecodeXtext("a+2"));
  EXPECT_FALSE(DecodeXtext("a+2b"));  // lower-case hex is not xtext
  EXPECT_FALSE(DecodeXtext("a=b"));
  EXPECT_EQ(EncodeXtext("a+b= c"), "a+2Bb+3D+20c");
  EXPECT_EQ(DecodeXtext(EncodeXtext("x\x01y")), "x\x01y");
}

TEST(MailTest, Params) {
  auto m = ParseMail(
      "FROM:<a@b.example> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS "
      "ENVID=QQ+2B1 REQUIRETLS AUTH=<>");
  ASSERT_TRUE(m) << m.error().text;
  EXPECT_EQ(m->path.address, "a@b.example");
  EXPECT_EQ(m->size, 1000u);
  EXPECT_EQ(m->body, Body::k8BitMime);
  EXPECT_TRUE(m->smtputf8);
  EXPECT_TRUE(m->require_tls);
  EXPECT_EQ(m->ret, Ret::kHeaders);
  EXPECT_EQ(m->envid, "QQ+1");
  EXPECT_TRUE(m->has_params);
}

TEST(MailTest, SpaceAfterColonAndNullSender) {
  auto m = ParseMail("from: <>");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->path.null);
  EXPECT_FALSE(m->has_params);
}

TEST(MailTest, Errors) {
  auto m = ParseMail("FROM:a@b");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, 501);
  EXPECT_EQ(m.error().status, "5.1.7");
  m = ParseMail("TO:<a@b>");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, 501);
  m = ParseMail("FROM:<a@b> FOO=1");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, 555);
  m = ParseMail("FROM:<a@b> BODY=BINARYMIME");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, 555);
  for (std::string_view bad :
       {"FROM:<a@b> SIZE=x", "FROM:<a@b> SIZE=99999999999999999999999",
        "FROM:<a@b> SIZE", "FROM:<a@b> SIZE=1 SIZE=2", "FROM:<a@b> RET=ALL",
        "FROM:<a@b> ENVID=a+zz", "FROM:<a@b> SMTPUTF8=yes", "FROM:<a@b>SIZE=1",
        "FROM:<a@b> =1", "FROM:<a@b> SIZE="}) {
    auto r = ParseMail(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, 501) << bad;
  }
}

TEST(RcptTest, DsnParams) {
  auto r = ParseRcpt(
      "TO:<u@example.org> NOTIFY=SUCCESS,DELAY "
      "ORCPT=rfc822;u+40example.org");
  ASSERT_TRUE(r) << r.error().text;
  EXPECT_EQ(r->notify, kNotifySuccess | kNotifyDelay);
  EXPECT_EQ(r->orcpt, "rfc822;u@example.org");
  r = ParseRcpt("TO:<u@example.org> NOTIFY=NEVER");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->notify, kNotifyNever);
  for (std::string_view bad :
       {"TO:<u@e> NOTIFY=NEVER,SUCCESS", "TO:<u@e> NOTIFY=SOMETIMES",
        "TO:<u@e> NOTIFY=DELAY,DELAY", "TO:<u@e> ORCPT=rfc822",
        "TO:<u@e> ORCPT=;x", "TO:<>", "TO:<u@e> NOTIFY"}) {
    EXPECT_FALSE(ParseRcpt(bad)) << bad;
  }
  auto e = ParseRcpt("TO:<u@e> SIZE=1");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, 555);
  e = ParseRcpt("TO:<bad address>");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().status, "5.1.3");
}

TEST(BdatTest, Args) {
  auto b = ParseBdat("100");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size, 100u);
  EXPECT_FALSE(b->last);
  b = ParseBdat("0 last");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->last);
  EXPECT_FALSE(ParseBdat(""));
  EXPECT_FALSE(ParseBdat("-1"));
  EXPECT_FALSE(ParseBdat("10 LAST x"));
  EXPECT_FALSE(ParseBdat("10 FIRST"));
  EXPECT_FALSE(ParseBdat("99999999999999999999999"));
}

TEST(AuthTest, Args) {
  auto a = ParseAuth("plain AGFsaWNlAHNlY3JldA==");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mechanism, "PLAIN");
  EXPECT_EQ(a->initial, "AGFsaWNlAHNlY3JldA==");
  a = ParseAuth("SCRAM-SHA-256");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->initial);
  EXPECT_FALSE(ParseAuth(""));
  EXPECT_FALSE(ParseAuth("PL/AIN"));
  EXPECT_FALSE(ParseAuth("PLAIN a b"));
  EXPECT_FALSE(ParseAuth(std::string(21, 'A')));
}

TEST(HeloTest, Args) {
  EXPECT_EQ(ParseHelo("client.example"), "client.example");
  EXPECT_EQ(ParseHelo("[127.0.0.1]"), "[127.0.0.1]");
  EXPECT_FALSE(ParseHelo(""));
  EXPECT_FALSE(ParseHelo("a b"));
}

TEST(ScanHeaderTest, CountsAndFinds) {
  auto h = ScanHeader(
      "Received: from a\r\n\tby b\r\nreceived: x\r\nMessage-Id: <1@x>\r\n"
      "Subject: Date: no\r\n\r\nReceived: in body\r\n");
  EXPECT_EQ(h.received, 2u);
  EXPECT_TRUE(h.has_message_id);
  EXPECT_FALSE(h.has_date);
  EXPECT_TRUE(h.complete);
  h = ScanHeader("Date: today\r\n");
  EXPECT_TRUE(h.has_date);
  EXPECT_FALSE(h.complete);
  h = ScanHeader("");
  EXPECT_EQ(h.received, 0u);
}

}  // namespace
}  // namespace correio::smtp
