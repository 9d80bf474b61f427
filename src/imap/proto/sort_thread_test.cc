#include "imap/proto/sort_thread.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace correio::imap {
namespace {

TEST(BaseSubjectTest, ReplyAndForwardLeaders) {
  EXPECT_EQ(BaseSubject("Re: test"), "test");
  EXPECT_EQ(BaseSubject("RE: Re: re:test"), "test");
  EXPECT_EQ(BaseSubject("Fwd: test"), "test");
  EXPECT_EQ(BaseSubject("FW: test"), "test");
  EXPECT_EQ(BaseSubject("fw : test"), "test");    // subj-refwd allows *WSP
  EXPECT_EQ(BaseSubject("Re[2]: test"), "test");  // optional subj-blob
  EXPECT_EQ(BaseSubject("Re [list]: test"), "test");
  EXPECT_EQ(BaseSubject("[list] Re: test"), "test");
  EXPECT_EQ(BaseSubject("[list] [x] Re: [list] Fwd: test"), "test");
  EXPECT_EQ(BaseSubject("Re: "), "");
  EXPECT_EQ(BaseSubject("Re:"), "");
  // Not leaders: a word that merely starts with "re" or lacks the colon.
  EXPECT_EQ(BaseSubject("Report: Q3"), "Report: Q3");
  EXPECT_EQ(BaseSubject("Re test"), "Re test");
  EXPECT_EQ(BaseSubject("Fwdx: test"), "Fwdx: test");
}

TEST(BaseSubjectTest, TrailersWhitespaceAndBlobs) {
  EXPECT_EQ(BaseSubject("test (fwd)"), "test");
  EXPECT_EQ(BaseSubject("test (FWD) (fwd)  "), "test");
  EXPECT_EQ(BaseSubject("  many\t\tspaces   inside  "), "many spaces inside");
  EXPECT_EQ(BaseSubject("folded\r\n subject"), "folded subject");
  EXPECT_EQ(BaseSubject("[PATCH 1/2] fix it"), "fix it");
  EXPECT_EQ(BaseSubject("[PATCH]"), "[PATCH]");  // step 4: nothing left
  EXPECT_EQ(BaseSubject("[a] [b]"), "[b]");
  EXPECT_EQ(BaseSubject("[unclosed test"), "[unclosed test");
  EXPECT_EQ(BaseSubject(""), "");
}

TEST(BaseSubjectTest, ForwardWrapper) {
  EXPECT_EQ(BaseSubject("[fwd: test]"), "test");
  EXPECT_EQ(BaseSubject("[Fwd: Re: test (fwd)]"), "test");
  EXPECT_EQ(BaseSubject("Re: [fwd: [fwd: hello]]"), "hello");
  EXPECT_EQ(BaseSubject("[fwd: ]"), "");
  // The case is kept (comparison is case-insensitive elsewhere).
  EXPECT_EQ(BaseSubject("RE: Hello World"), "Hello World");
}

TEST(BaseSubjectTest, ReplyFlag) {
  EXPECT_FALSE(ExtractBaseSubject("hello").is_reply_or_forward);
  EXPECT_FALSE(ExtractBaseSubject("[list] hello").is_reply_or_forward);
  EXPECT_TRUE(ExtractBaseSubject("Re: hello").is_reply_or_forward);
  EXPECT_TRUE(ExtractBaseSubject("hello (fwd)").is_reply_or_forward);
  EXPECT_TRUE(ExtractBaseSubject("[fwd: hello]").is_reply_or_forward);
}

TEST(BaseSubjectTest, HostileInputIsLinear) {
  // Many blobs without a refwd after them, and many leaders: these would
  // be quadratic with naive rescanning; here they just finish.
  std::string blobs;
  for (int i = 0; i < 100000; ++i) blobs += "[a]";
  blobs += "x";
  EXPECT_EQ(BaseSubject(blobs), "x");
  std::string leaders;
  for (int i = 0; i < 100000; ++i) leaders += "Re: ";
  leaders += "y";
  EXPECT_EQ(BaseSubject(leaders), "y");
}

ThreadMessage Msg(uint32_t id, std::string mid, std::vector<std::string> refs,
                  std::string subject, int64_t date) {
  BaseSubjectInfo b = ExtractBaseSubject(subject);
  ThreadMessage m{id, std::move(mid), std::move(refs), b.subject, date};
  m.subject_is_reply = b.is_reply_or_forward;
  return m;
}

std::string Refs(std::vector<ThreadMessage> msgs) {
  return RenderThreads(ThreadReferences(std::move(msgs)));
}

std::vector<uint32_t> AllIds(const std::vector<ThreadNode>& roots) {
  std::vector<uint32_t> ids;
  std::function<void(const ThreadNode&)> walk = [&](const ThreadNode& n) {
    if (n.id != 0) ids.push_back(n.id);
    for (const ThreadNode& c : n.children) walk(c);
  };
  for (const ThreadNode& r : roots) walk(r);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(RenderThreadsTest, RfcExamples) {
  // RFC 5256 §4: (2)(3 6 (4 23)(44 7 96))
  ThreadNode n96{96, {}}, n7{7, {n96}}, n44{44, {n7}}, n23{23, {}},
      n4{4, {n23}}, n6{6, {n4, n44}}, n3{3, {n6}}, n2{2, {}};
  EXPECT_EQ(RenderThreads({n2, n3}), "(2)(3 6 (4 23)(44 7 96))");
  // A dummy root holding two threads: ((3)(5)).
  EXPECT_EQ(RenderThreads({ThreadNode{0, {{3, {}}, {5, {}}}}}), "((3)(5))");
  EXPECT_EQ(RenderThreads({}), "");
}

TEST(ThreadReferencesTest, ChainAndSiblings) {
  EXPECT_EQ(
      Refs({Msg(1, "<a@x>", {}, "s", 1), Msg(2, "<b@x>", {"<a@x>"}, "Re: s", 2),
            Msg(3, "<c@x>", {"<a@x>", "<b@x>"}, "Re: s", 3)}),
      "(1 2 3)");
  EXPECT_EQ(
      Refs({Msg(1, "<a@x>", {}, "s", 1), Msg(2, "<b@x>", {"<a@x>"}, "Re: s", 2),
            Msg(3, "<c@x>", {"<a@x>"}, "Re: s", 3)}),
      "(1 (2)(3))");
}

TEST(ThreadReferencesTest, RfcShapedMailbox) {
  // Builds the RFC 5256 §4 example thread from headers.
  EXPECT_EQ(
      Refs({Msg(2, "<m2>", {}, "lonely", 10), Msg(3, "<m3>", {}, "topic", 11),
            Msg(4, "<m4>", {"<m3>", "<m6>"}, "Re: topic", 13),
            Msg(6, "<m6>", {"<m3>"}, "Re: topic", 12),
            Msg(7, "<m7>", {"<m3>", "<m6>", "<m44>"}, "Re: topic", 16),
            Msg(23, "<m23>", {"<m3>", "<m6>", "<m4>"}, "Re: topic", 14),
            Msg(44, "<m44>", {"<m3>", "<m6>"}, "Re: topic", 15),
            Msg(96, "<m96>", {"<m44>", "<m7>"}, "Re: topic", 17)}),
      "(2)(3 6 (4 23)(44 7 96))");
}

TEST(ThreadReferencesTest, MissingParents) {
  // One child of a missing parent: the dummy goes, the child is a root.
  EXPECT_EQ(Refs({Msg(2, "<b>", {"<gone>"}, "x", 1)}), "(2)");
  // Two children of a missing root: the dummy root stays.
  EXPECT_EQ(Refs({Msg(2, "<b>", {"<gone>"}, "Re: x", 1),
                  Msg(3, "<c>", {"<gone>"}, "Re: y", 2)}),
            "((2)(3))");
  // A missing message in the middle of a chain is skipped.
  EXPECT_EQ(Refs({Msg(1, "<a>", {}, "x", 1),
                  Msg(3, "<c>", {"<a>", "<gone>"}, "Re: x", 3)}),
            "(1 3)");
  // ... and its two children become siblings under the grandparent.
  EXPECT_EQ(Refs({Msg(1, "<a>", {}, "x", 1),
                  Msg(3, "<c>", {"<a>", "<gone>"}, "Re: x", 3),
                  Msg(4, "<d>", {"<a>", "<gone>"}, "Re: x", 2)}),
            "(1 (4)(3))");
}

TEST(ThreadReferencesTest, CyclesTerminate) {
  // Each claims the other as parent.
  auto roots = ThreadReferences(
      {Msg(1, "<a>", {"<b>"}, "p", 1), Msg(2, "<b>", {"<a>"}, "q", 2)});
  EXPECT_EQ(AllIds(roots), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(RenderThreads(roots), "(2 1)");
  // References that loop on themselves and name the message itself.
  roots = ThreadReferences(
      {Msg(1, "<a>", {"<a>"}, "s", 1),
       Msg(2, "<b>", {"<x>", "<y>", "<x>", "<b>", "<y>"}, "t", 2),
       Msg(3, "<c>", {"<c>", "<b>", "<c>"}, "u", 3)});
  EXPECT_EQ(AllIds(roots), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(RenderThreads(roots), "(1)(2 3)");
  // A three-way cycle.
  roots = ThreadReferences({Msg(1, "<a>", {"<c>"}, "a", 1),
                            Msg(2, "<b>", {"<a>"}, "b", 2),
                            Msg(3, "<c>", {"<b>"}, "c", 3)});
  EXPECT_EQ(AllIds(roots), (std::vector<uint32_t>{1, 2, 3}));
}

TEST(ThreadReferencesTest, OwnReferencesOverrideTruncatedOnes) {
  // 3 says a -> c -> b; later 2 (b) says its parent is a: b moves.
  EXPECT_EQ(Refs({Msg(1, "<a>", {}, "s", 1), Msg(3, "<c>", {"<a>"}, "Re: s", 2),
                  Msg(4, "<d>", {"<a>", "<c>", "<b>"}, "Re: s", 4),
                  Msg(2, "<b>", {"<a>"}, "Re: s", 3)}),
            "(1 (3)(2 4))");
}

TEST(ThreadReferencesTest, DuplicateAndMissingMessageIds) {
  // The second <a> cannot be referenced; replies attach to the first.
  EXPECT_EQ(Refs({Msg(1, "<a>", {}, "one", 1), Msg(2, "<a>", {}, "two", 2),
                  Msg(3, "<r>", {"<a>"}, "Re: one", 3)}),
            "(1 3)(2)");
  EXPECT_EQ(Refs({Msg(1, "", {}, "one", 1), Msg(2, "", {}, "two", 2)}),
            "(1)(2)");
  // Brackets and surrounding space don't matter.
  EXPECT_EQ(Refs({Msg(1, " <a@x> ", {}, "s", 1),
                  Msg(2, "<b@x>", {"a@x"}, "Re: s", 2)}),
            "(1 2)");
}

TEST(ThreadReferencesTest, SubjectGrouping) {
  // A reply without References joins the original by subject.
  EXPECT_EQ(
      Refs({Msg(1, "<a>", {}, "hello", 1), Msg(2, "<b>", {}, "Re: HELLO", 2)}),
      "(1 2)");
  // The same even when the reply comes first in the mailbox.
  EXPECT_EQ(
      Refs({Msg(1, "<b>", {}, "Re: hello", 2), Msg(2, "<a>", {}, "hello", 1)}),
      "(2 1)");
  // Two originals with the same subject: a dummy holds both.
  EXPECT_EQ(
      Refs({Msg(1, "<a>", {}, "hello", 1), Msg(2, "<b>", {}, "hello", 2)}),
      "((1)(2))");
  // Empty subjects are never grouped.
  EXPECT_EQ(Refs({Msg(1, "<a>", {}, "", 1), Msg(2, "<b>", {}, "Re:", 2)}),
            "(1)(2)");
  // A dummy root (two replies to a missing message) absorbs a same-subject
  // root message.
  EXPECT_EQ(Refs({Msg(2, "<b>", {"<gone>"}, "Re: topic", 2),
                  Msg(3, "<c>", {"<gone>"}, "Re: topic", 3),
                  Msg(4, "<d>", {}, "topic", 4)}),
            "((2)(3)(4))");
}

TEST(ThreadReferencesTest, SortedByDateThenId) {
  EXPECT_EQ(
      Refs({Msg(1, "<a>", {}, "s", 100), Msg(2, "<b>", {"<a>"}, "Re: s", 300),
            Msg(3, "<c>", {"<a>"}, "Re: s", 200),
            Msg(4, "<d>", {}, "other", 50),
            Msg(5, "<e>", {"<a>"}, "Re: s", 200)}),
      "(4)(1 (3)(5)(2))");
}

TEST(ThreadReferencesTest, DeepChainIsCappedNotCrashing) {
  std::vector<ThreadMessage> msgs;
  const uint32_t n = 3000;
  for (uint32_t i = 1; i <= n; ++i) {
    std::vector<std::string> refs;
    if (i > 1) refs.push_back("<m" + std::to_string(i - 1) + ">");
    msgs.push_back(Msg(i, "<m" + std::to_string(i) + ">", refs, "deep", i));
  }
  auto roots = ThreadReferences(msgs);
  ASSERT_EQ(roots.size(), 1u);
  std::vector<uint32_t> want(n);
  for (uint32_t i = 0; i < n; ++i) want[i] = i + 1;
  EXPECT_EQ(AllIds(roots), want);
  std::string out = RenderThreads(roots);
  EXPECT_EQ(out.substr(0, 8), "(1 2 3 4");
}

TEST(ThreadOrderedSubjectTest, GroupsBySubjectThenDate) {
  auto roots = ThreadOrderedSubject(
      {Msg(1, "", {}, "hello", 10), Msg(2, "", {}, "Re: hello", 20),
       Msg(3, "", {}, "other", 5), Msg(4, "", {}, "HELLO", 15),
       Msg(5, "", {}, "Fwd: other", 5)});
  EXPECT_EQ(RenderThreads(roots), "(3 5)(1 (4)(2))");
  EXPECT_EQ(RenderThreads(ThreadOrderedSubject({})), "");
}

}  // namespace
}  // namespace correio::imap

namespace correio::imap {
namespace {

// Structural invariants on random mailboxes full of loops, self-references,
// duplicates and missing parents: every message exactly once, no empty
// dummies, no dummy below the root, nothing deeper than it can be.
void CheckTree(const ThreadNode& n, bool root, std::vector<uint32_t>& ids) {
  if (n.id == 0) {
    EXPECT_TRUE(root) << "dummy below the root";
    EXPECT_GE(n.children.size(), 2u) << "dummy root with < 2 children";
  } else {
    ids.push_back(n.id);
  }
  for (const ThreadNode& c : n.children) CheckTree(c, false, ids);
}

TEST(ThreadReferencesPropertyTest, RandomMailboxes) {
  std::mt19937 rng(4242);
  const char* const subjects[] = {"a", "Re: a", "b", "Fwd: b", "", "[x] a"};
  for (int round = 0; round < 300; ++round) {
    std::vector<ThreadMessage> msgs;
    uint32_t n = 1 + rng() % 40;
    for (uint32_t i = 1; i <= n; ++i) {
      std::vector<std::string> refs;
      size_t nrefs = rng() % 5;
      for (size_t r = 0; r < nrefs; ++r) {
        refs.push_back("<" + std::to_string(rng() % (n + 5)) + ">");
      }
      std::string mid =
          rng() % 10 == 0 ? "" : "<" + std::to_string(rng() % (n + 2)) + ">";
      msgs.push_back(Msg(i, mid, refs, subjects[rng() % 6],
                         static_cast<int64_t>(rng() % 20)));
    }
    for (bool by_refs : {true, false}) {
      auto roots =
          by_refs ? ThreadReferences(msgs) : ThreadOrderedSubject(msgs);
      std::vector<uint32_t> ids;
      for (const ThreadNode& r : roots) CheckTree(r, true, ids);
      std::sort(ids.begin(), ids.end());
      std::vector<uint32_t> want(n);
      for (uint32_t i = 0; i < n; ++i) want[i] = i + 1;
      ASSERT_EQ(ids, want) << "round " << round;
      std::string out = RenderThreads(roots);
      EXPECT_EQ(std::count(out.begin(), out.end(), '('),
                std::count(out.begin(), out.end(), ')'));
    }
  }
}

}  // namespace
}  // namespace correio::imap

namespace correio::imap {
namespace {

mime::Summary Parsed(std::string_view raw) {
  auto s = mime::Parse(raw);
  EXPECT_TRUE(s.has_value());
  return s.has_value() ? *s : mime::Summary{};
}

TEST(ParseMsgIdsTest, Cases) {
  EXPECT_EQ(ParseMsgIds("<a@x> <b@y>\r\n <c@z>"),
            (std::vector<std::string>{"<a@x>", "<b@y>", "<c@z>"}));
  EXPECT_EQ(ParseMsgIds("Your message of ... <a@x> (comment)"),
            (std::vector<std::string>{"<a@x>"}));
  EXPECT_EQ(ParseMsgIds("<broken <ok@x>"),
            (std::vector<std::string>{"<ok@x>"}));
  EXPECT_EQ(ParseMsgIds("<> <unterminated"), (std::vector<std::string>{}));
}

TEST(MakeThreadMessageTest, FromSummary) {
  mime::Summary s = Parsed(
      "Date: Mon, 1 Jan 2024 10:00:00 +0100\r\n"
      "Subject: =?utf-8?q?Re=3A_Gr=C3=BC=C3=9Fe?=\r\n"
      "Message-ID: <me@x>\r\n"
      "In-Reply-To: <parent@x> (sent earlier)\r\n\r\n");
  ThreadMessage m = MakeThreadMessage(7, s, std::nullopt, 42);
  EXPECT_EQ(m.id, 7u);
  EXPECT_EQ(m.message_id, "<me@x>");
  EXPECT_EQ(m.references, (std::vector<std::string>{"<parent@x>"}));
  EXPECT_EQ(m.base_subject,
            "Gr\xc3\xbc\xc3\x9f"
            "e");
  EXPECT_TRUE(m.subject_is_reply);
  EXPECT_EQ(m.date, 1704099600);
  // References win over In-Reply-To; an unparsable Date falls back.
  mime::Summary t = Parsed("Date: garbage\r\nIn-Reply-To: <p>\r\n\r\n");
  ThreadMessage n = MakeThreadMessage(8, t, std::string("<r1> <r2>"), 42);
  EXPECT_EQ(n.references, (std::vector<std::string>{"<r1>", "<r2>"}));
  EXPECT_EQ(n.date, 42);
  EXPECT_EQ(n.message_id, "");
}

TEST(SortMessagesTest, CriteriaReverseAndTieBreak) {
  mime::Summary a = Parsed(
      "From: Zed <alice@x>\r\nTo: bob@y\r\nSubject: Re: beta\r\n"
      "Date: Tue, 2 Jan 2024 00:00:00 +0000\r\n\r\n");
  mime::Summary b = Parsed(
      "From: \"=?utf-8?q?Andr=C3=A9?=\" <zoe@x>\r\nTo: Amy <amy@y>\r\n"
      "Subject: alpha\r\nDate: Wed, 3 Jan 2024 00:00:00 +0000\r\n\r\n");
  mime::Summary c = Parsed("From: MALLORY@x\r\nSubject: [list] Beta\r\n\r\n");
  std::vector<SortMessage> msgs = {MakeSortMessage(1, a, 500, 300),
                                   MakeSortMessage(2, b, 100, 100),
                                   MakeSortMessage(3, c, 1704067100, 200)};
  using K = SortKey;
  auto sort = [&](std::vector<SortCriterion> c) {
    return SortMessages(msgs, c);
  };
  EXPECT_EQ(sort({{K::kArrival}}), (std::vector<uint32_t>{2, 1, 3}));
  EXPECT_EQ(sort({{K::kSize}}), (std::vector<uint32_t>{2, 3, 1}));
  EXPECT_EQ(sort({{K::kSize, true}}), (std::vector<uint32_t>{1, 3, 2}));
  // Message 3 has no Date: its INTERNALDATE (just before 2 Jan) counts.
  EXPECT_EQ(sort({{K::kDate}}), (std::vector<uint32_t>{3, 1, 2}));
  EXPECT_EQ(sort({{K::kFrom}}), (std::vector<uint32_t>{1, 3, 2}));
  // Messages without To sort first (empty key).
  EXPECT_EQ(sort({{K::kTo}}), (std::vector<uint32_t>{3, 2, 1}));
  EXPECT_EQ(sort({{K::kDisplayFrom}}), (std::vector<uint32_t>{2, 3, 1}));
  // Subjects "beta", "alpha", "Beta": 1 and 3 tie, then by id...
  EXPECT_EQ(sort({{K::kSubject}}), (std::vector<uint32_t>{2, 1, 3}));
  // ... or by the next criterion; REVERSE applies to one criterion only.
  EXPECT_EQ(sort({{K::kSubject, true}, {K::kSize, true}}),
            (std::vector<uint32_t>{1, 3, 2}));
  EXPECT_EQ(sort({{K::kSubject, true}}), (std::vector<uint32_t>{1, 3, 2}));
  EXPECT_EQ(sort({}), (std::vector<uint32_t>{1, 2, 3}));
}

}  // namespace
}  // namespace correio::imap
