#include "mail/deliver.h"

#include <gtest/gtest.h>

#include "mime/message.h"
#include "store/memory/memory_store.h"

namespace correio::mail {
namespace {

class DeliverTest : public testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemoryStore(&hub_);
    ASSERT_TRUE(store_->AddDomain("example.org"));
    ASSERT_TRUE(store_->AddDomain("other.example"));
    alice_ = Add("alice@example.org");
    bob_ = Add("bob@example.org");
  }
  store::Account Add(const std::string& address) {
    store::Account a;
    a.address = address;
    auto created = store_->CreateAccount(a);
    EXPECT_TRUE(created) << created.error().message();
    return created.value_or(store::Account{});
  }

  store::LocalChangeHub hub_;
  std::unique_ptr<store::Store> store_;
  store::Account alice_, bob_;
};

TEST_F(DeliverTest, ResolvesAccountsCaseInsensitively) {
  auto r = ResolveRecipient(*store_, "Alice@Example.ORG");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->local.size(), 1u);
  EXPECT_EQ(r->local[0].id, alice_.id);
  EXPECT_TRUE(r->remote.empty());
}

TEST_F(DeliverTest, UnknownLocalUserIsNotFoundAndForeignDomainIsPerm) {
  auto r = ResolveRecipient(*store_, "nobody@example.org");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  auto f = ResolveRecipient(*store_, "someone@elsewhere.example");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), ErrorCode::kPerm);
  auto bad = ResolveRecipient(*store_, "no-at-sign");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalid);
}

TEST_F(DeliverTest, AliasesExpandWithCatchAllCyclesAndRemoteTargets) {
  ASSERT_TRUE(store_->AddAlias(
      {"team@example.org",
       {"alice@example.org", "bob@example.org", "ext@remote.example",
        "loop@example.org"}}));
  ASSERT_TRUE(store_->AddAlias({"loop@example.org", {"team@example.org"}}));
  ASSERT_TRUE(store_->AddAlias({"@other.example", {"bob@example.org"}}));

  auto team = ResolveRecipient(*store_, "team@example.org");
  ASSERT_TRUE(team) << team.error().message();
  EXPECT_EQ(team->local.size(), 2u);
  ASSERT_EQ(team->remote.size(), 1u);
  EXPECT_EQ(team->remote[0], "ext@remote.example");

  auto any = ResolveRecipient(*store_, "whoever@other.example");
  ASSERT_TRUE(any) << any.error().message();
  ASSERT_EQ(any->local.size(), 1u);
  EXPECT_EQ(any->local[0].id, bob_.id);
}

TEST_F(DeliverTest, OwnsOwnAddressAndAliasesOnly) {
  ASSERT_TRUE(store_->AddAlias({"sales@example.org", {"alice@example.org"}}));
  EXPECT_TRUE(*OwnsAddress(*store_, alice_, "ALICE@example.org"));
  EXPECT_TRUE(*OwnsAddress(*store_, alice_, "sales@example.org"));
  EXPECT_FALSE(*OwnsAddress(*store_, bob_, "sales@example.org"));
  EXPECT_FALSE(*OwnsAddress(*store_, alice_, "bob@example.org"));
}

TEST_F(DeliverTest, OneBlobIntoEveryInbox) {
  std::string raw =
      "From: a@example.net\r\nTo: alice@example.org\r\nSubject: =?utf-8?q?"
      "Caf=C3=A9?=\r\n\r\nHello searchable body\r\n";
  auto blob = PrepareBlob(raw);
  ASSERT_TRUE(blob) << blob.error().message();
  EXPECT_EQ(blob->data, raw);
  EXPECT_NE(blob->SearchBody().find("searchable"), std::string::npos);
  EXPECT_NE(blob->search_headers.find("Café"), std::string::npos);
  auto summary = mime::Deserialize(blob->summary);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->root.body_end, raw.size());

  auto delivered =
      DeliverToInboxes(*store_, *blob, {alice_.id, bob_.id}, 1700000000, 7);
  ASSERT_TRUE(delivered) << delivered.error().message();
  ASSERT_EQ(delivered->size(), 2u);
  for (auto id : {alice_.id, bob_.id}) {
    auto inbox = store_->GetMailbox(id, "INBOX");
    ASSERT_TRUE(inbox);
    auto view = store_->ListView(inbox->id);
    ASSERT_TRUE(view);
    ASSERT_EQ(view->entries.size(), 1u);
    auto hits = store_->SearchText(inbox->id, store::TextField::kBody,
                                   "SEARCHABLE");
    ASSERT_TRUE(hits);
    EXPECT_EQ(hits->size(), 1u);
  }
}

// The body text is kept as a place in the message when it is the octets
// of one part as sent, and as a copy only when decoding changed it.
TEST(PrepareBlob, BodyTextIsASliceOnlyWhereItStandsAsSent) {
  std::string plain =
      "Subject: x\r\n\r\nJust text, caf\xC3\xA9 included\r\n";
  auto a = PrepareBlob(plain);
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->search_text_in_data.has_value());
  EXPECT_TRUE(a->search_text.empty());
  EXPECT_EQ(a->search_text_in_data->offset, plain.find("Just"));
  EXPECT_EQ(a->SearchBody(), "Just text, caf\xC3\xA9 included\r\n");

  std::string qp =
      "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
      "caf=C3=A9 soft=\r\nbreak\r\n";
  auto b = PrepareBlob(qp);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->search_text_in_data.has_value());
  EXPECT_EQ(b->SearchBody(), b->search_text);
  EXPECT_NE(b->search_text.find("caf\xC3\xA9 softbreak"), std::string::npos);

  // One text part among attachments: the slice is that part's body.
  std::string one_text =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
      "Content-Type: application/pdf\r\n\r\n%PDF-1\r\n--b\r\n"
      "Content-Type: text/plain\r\n\r\nthe only text\r\n--b--\r\n";
  auto c = PrepareBlob(one_text);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->search_text_in_data.has_value());
  EXPECT_EQ(c->SearchBody().substr(0, 13), "the only text");

  // Two text parts: the text is both, joined; no single place holds it.
  std::string two_texts =
      "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n"
      "Content-Type: text/plain\r\n\r\nfirst\r\n--b\r\n"
      "Content-Type: text/plain\r\n\r\nsecond\r\n--b--\r\n";
  auto d = PrepareBlob(two_texts);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->search_text_in_data.has_value());
  EXPECT_NE(d->search_text.find("first"), std::string::npos);
  EXPECT_NE(d->search_text.find("second"), std::string::npos);
}

TEST_F(DeliverTest, OverQuotaDeliversToNobody) {
  ASSERT_TRUE(store_->SetQuota(bob_.id, 10, 0));
  auto blob = PrepareBlob("Subject: x\r\n\r\nmore than ten bytes\r\n");
  ASSERT_TRUE(blob);
  auto delivered = DeliverToInboxes(*store_, *blob, {alice_.id, bob_.id}, 0);
  ASSERT_FALSE(delivered);
  EXPECT_EQ(delivered.error().code(), ErrorCode::kOverQuota);
  auto inbox = store_->GetMailbox(alice_.id, "INBOX");
  EXPECT_TRUE(store_->ListView(inbox->id)->entries.empty());
}

TEST(ReturnPath, NullSender) {
  EXPECT_EQ(ReturnPathHeader(""), "Return-Path: <>\r\n");
  EXPECT_EQ(ReturnPathHeader("a@b"), "Return-Path: <a@b>\r\n");
}

}  // namespace
}  // namespace correio::mail
