#include "imap/proto/parser.h"

#include <gtest/gtest.h>

#include <string>

using namespace std::string_literals;

#include "imap/proto/assembler.h"
#include "imap/proto/sequence.h"
#include "imap/proto/writer.h"

namespace correio::imap {
namespace {

struct Assembled {
  CommandAssembler::State state;
  std::string command;
  std::string error;
  std::string error_tag;
  int continuations = 0;
  size_t consumed = 0;
};

// Feeds `wire` in the pieces given by `cuts` (offsets), as the session does.
Assembled FeedPieces(std::string_view wire, std::vector<size_t> cuts,
                     AssemblerLimits limits = {}) {
  CommandAssembler a(limits);
  Assembled r;
  cuts.push_back(wire.size());
  size_t pos = 0;
  for (size_t cut : cuts) {
    while (pos < cut) {
      size_t n = a.Feed(wire.substr(pos, cut - pos));
      pos += n;
      if (a.state() == CommandAssembler::State::kNeedContinuation) {
        ++r.continuations;
      }
      if (a.state() == CommandAssembler::State::kComplete ||
          a.state() == CommandAssembler::State::kError) {
        r.state = a.state();
        r.error = a.error();
        r.error_tag = a.error_tag();
        r.command = a.command();
        r.consumed = pos;
        return r;
      }
      if (n == 0 && a.state() != CommandAssembler::State::kNeedContinuation) {
        break;
      }
    }
  }
  r.state = a.state();
  r.consumed = pos;
  return r;
}

// Every split offset and one byte at a time (STYLE 23) must give the same
// complete command as one piece.
std::string AssembleEverySplit(std::string_view wire, int* continuations) {
  Assembled whole = FeedPieces(wire, {});
  EXPECT_EQ(whole.state, CommandAssembler::State::kComplete) << wire;
  for (size_t k = 1; k < wire.size(); ++k) {
    Assembled r = FeedPieces(wire, {k});
    EXPECT_EQ(r.state, CommandAssembler::State::kComplete) << "split " << k;
    EXPECT_EQ(r.command, whole.command) << "split " << k;
    EXPECT_EQ(r.continuations, whole.continuations) << "split " << k;
  }
  std::vector<size_t> bytes;
  for (size_t k = 1; k < wire.size(); ++k) bytes.push_back(k);
  Assembled b = FeedPieces(wire, bytes);
  EXPECT_EQ(b.command, whole.command);
  if (continuations) *continuations = whole.continuations;
  return whole.command;
}

Command MustParse(std::string_view wire) {
  std::string bytes = AssembleEverySplit(wire, nullptr);
  auto c = ParseCommand(bytes);
  EXPECT_TRUE(c.has_value()) << wire << " -> "
                             << (c ? "" : c.error().message);
  return c ? *c : Command{};
}

ParseError MustFail(std::string_view wire) {
  auto c = ParseCommand(wire);
  EXPECT_FALSE(c.has_value()) << wire;
  return c ? ParseError{} : c.error();
}

TEST(AssemblerTest, SimpleLineAtEverySplit) {
  auto cmd = AssembleEverySplit("a1 NOOP\r\n", nullptr);
  EXPECT_EQ(cmd, "a1 NOOP\r\n");
}

TEST(AssemblerTest, LiteralsAtEverySplit) {
  int cont = 0;
  std::string wire = "a LOGIN {5}\r\nalice {6}\r\nsecret\r\n";
  auto cmd = AssembleEverySplit(wire, &cont);
  EXPECT_EQ(cmd, wire);
  EXPECT_EQ(cont, 2);  // two synchronising literals: two "+" invitations
  wire = "a LOGIN {5+}\r\nalice {6-}\r\nsecret\r\n";
  cmd = AssembleEverySplit(wire, &cont);
  EXPECT_EQ(cmd, wire);
  EXPECT_EQ(cont, 0);  // LITERAL+ needs no invitation
}

TEST(AssemblerTest, StopsAfterCommandLeavingPipelinedBytes) {
  Assembled r = FeedPieces("a NOOP\r\nb NOOP\r\n", {});
  EXPECT_EQ(r.state, CommandAssembler::State::kComplete);
  EXPECT_EQ(r.consumed, 8u);
}

TEST(AssemblerTest, LiteralContainingCrlfAndBraces) {
  std::string wire = "a APPEND x {9}\r\n{3}\r\nab\r\n\r\n";
  EXPECT_EQ(AssembleEverySplit(wire, nullptr), wire);
}

TEST(AssemblerTest, RefusesOversizedSynchronisingLiteral) {
  AssemblerLimits lim;
  lim.max_literal = 10;
  Assembled r = FeedPieces("t1 APPEND INBOX {11}\r\n", {}, lim);
  EXPECT_EQ(r.state, CommandAssembler::State::kError);
  EXPECT_EQ(r.error, "Literal too big");
  EXPECT_EQ(r.error_tag, "t1");
  EXPECT_EQ(r.continuations, 0);
}

TEST(AssemblerTest, DiscardsOversizedNonSynchronisingLiteral) {
  AssemblerLimits lim;
  lim.max_literal = 10;
  std::string wire = "t2 APPEND INBOX {12+}\r\nhello world!\r\nt3 NOOP\r\n";
  for (size_t k = 1; k < wire.size(); ++k) {
    Assembled r = FeedPieces(wire, {k}, lim);
    EXPECT_EQ(r.state, CommandAssembler::State::kError) << k;
    EXPECT_EQ(r.error_tag, "t2");
    // The literal and the rest of the command are consumed, not the next.
    EXPECT_EQ(r.consumed, wire.find("t3")) << k;
  }
}

TEST(AssemblerTest, RefusesBareLfAndLongLines) {
  Assembled r = FeedPieces("a NOOP\n", {});
  EXPECT_EQ(r.state, CommandAssembler::State::kError);
  AssemblerLimits lim;
  lim.max_line = 20;
  std::string wire = "a2 NOOP " + std::string(100, 'x') + "\r\nb NOOP\r\n";
  r = FeedPieces(wire, {5, 30}, lim);
  EXPECT_EQ(r.state, CommandAssembler::State::kError);
  EXPECT_EQ(r.error, "Line too long");
  EXPECT_EQ(r.error_tag, "a2");
  EXPECT_EQ(r.consumed, wire.find("b NOOP"));
}

TEST(AssemblerTest, CommandTotalLimitCountsLiterals) {
  AssemblerLimits lim;
  lim.max_command = 30;
  Assembled r = FeedPieces("a LOGIN {20}\r\n", {}, lim);
  EXPECT_EQ(r.state, CommandAssembler::State::kError);
}

TEST(ParserTest, TagAndSimpleCommands) {
  Command c = MustParse("abc.1 capability\r\n");
  EXPECT_EQ(c.tag, "abc.1");
  EXPECT_EQ(c.name, "CAPABILITY");
  EXPECT_TRUE(std::holds_alternative<NoArgs>(c.args));
  EXPECT_EQ(MustFail("+a NOOP\r\n").tag, "");
  EXPECT_EQ(MustFail("a NOOP extra\r\n").tag, "a");
  EXPECT_EQ(MustFail("a BOGUS\r\n").message, "Unknown command");
  EXPECT_EQ(MustFail("\r\n").tag, "");
}

TEST(ParserTest, LoginWithQuotedAndLiteral) {
  Command c = MustParse("a LOGIN \"al\\\"ice\" {6}\r\nse cr\"\r\n");
  auto& a = std::get<LoginArgs>(c.args);
  EXPECT_EQ(a.user, "al\"ice");
  EXPECT_EQ(a.password, "se cr\"");
  MustFail("a LOGIN \"bad\\x\" p\r\n");
  MustFail("a LOGIN {3}\r\na\0b p\r\n");
}

TEST(ParserTest, SequenceSets) {
  Command c = MustParse("a UID FETCH 1:3,5,*:7 FLAGS\r\n");
  MustFail("a UID FETCH 1,$ FLAGS\r\n");
  EXPECT_TRUE(MustFail("a FETCH 1:3,0 FLAGS\r\n").message.size());
  c = MustParse("a FETCH 2,4:*,* (FLAGS)\r\n");
  EXPECT_FALSE(c.uid);
  auto& f = std::get<FetchArgs>(c.args);
  ASSERT_EQ(f.set.ranges.size(), 3u);
  EXPECT_EQ(f.set.ranges[1], (SeqRange{4, kStar}));
  c = MustParse("a UID STORE $ +FLAGS (\\Seen)\r\n");
  EXPECT_TRUE(std::get<StoreArgs>(c.args).set.saved);
}

TEST(ParserTest, FetchItemsMacrosSectionsPartials) {
  Command c = MustParse("a FETCH 1 ALL\r\n");
  EXPECT_EQ(std::get<FetchArgs>(c.args).items.size(), 4u);
  c = MustParse("a FETCH 1 FULL\r\n");
  EXPECT_EQ(std::get<FetchArgs>(c.args).items.size(), 5u);
  c = MustParse(
      "a FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From \"To\")]"
      " BODY[1.2.MIME] BODY[]<0.100> BINARY.PEEK[1]<5.10> BINARY.SIZE[2]"
      " body[3.text] BODYSTRUCTURE BODY PREVIEW MODSEQ) (CHANGEDSINCE 5)\r\n");
  auto& f = std::get<FetchArgs>(c.args);
  ASSERT_EQ(f.items.size(), 12u);
  EXPECT_EQ(f.items[2].kind, FetchItem::Kind::kBodySection);
  EXPECT_TRUE(f.items[2].peek);
  EXPECT_EQ(f.items[2].section.kind, SectionSpec::Kind::kHeaderFields);
  EXPECT_EQ(f.items[2].section.fields,
            (std::vector<std::string>{"From", "To"}));
  EXPECT_EQ(f.items[3].section.part, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(f.items[3].section.kind, SectionSpec::Kind::kMime);
  EXPECT_EQ(f.items[4].partial, std::make_pair(0u, 100u));
  EXPECT_EQ(f.items[5].kind, FetchItem::Kind::kBinary);
  EXPECT_EQ(f.items[6].kind, FetchItem::Kind::kBinarySize);
  EXPECT_EQ(f.items[7].section.kind, SectionSpec::Kind::kText);
  EXPECT_EQ(f.items[9].kind, FetchItem::Kind::kBody);
  EXPECT_EQ(f.changed_since, 5u);
  c = MustParse("a FETCH 1 BODY[HEADER.FIELDS.NOT (Received)]\r\n");
  EXPECT_EQ(std::get<FetchArgs>(c.args).items[0].section.kind,
            SectionSpec::Kind::kHeaderFieldsNot);
  MustFail("a FETCH 1 BODY[MIME]\r\n");
  MustFail("a FETCH 1 BODY[1.]\r\n");
  MustFail("a FETCH 1 BODY[]<1.0>\r\n");
  MustFail("a FETCH 1 (FLAGS\r\n");
  MustFail("a FETCH 1 BODY.PEEK\r\n");
  MustFail("a FETCH 1 FLAGSX\r\n");
}

TEST(ParserTest, SearchKeysNesting) {
  Command c = MustParse(
      "a UID SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR (FROM \"bob\" "
      "SINCE 1-Feb-1994) NOT SEEN 1:5 HEADER X-Foo {3}\r\nbar LARGER 100 "
      "UID 3:* YOUNGER 60\r\n");
  auto& s = std::get<SearchArgs>(c.args);
  EXPECT_TRUE(s.has_return);
  EXPECT_EQ(s.return_options, (std::vector<std::string>{"MIN", "COUNT"}));
  EXPECT_EQ(s.charset, "UTF-8");
  ASSERT_EQ(s.key.children.size(), 6u);
  const SearchKey& orkey = s.key.children[0];
  EXPECT_EQ(orkey.kind, SearchKey::Kind::kOr);
  EXPECT_EQ(orkey.children[0].kind, SearchKey::Kind::kAnd);
  EXPECT_EQ(orkey.children[0].children[1].kind, SearchKey::Kind::kSince);
  EXPECT_EQ(orkey.children[0].children[1].date, 760060800);
  EXPECT_EQ(orkey.children[1].kind, SearchKey::Kind::kNot);
  EXPECT_EQ(s.key.children[1].kind, SearchKey::Kind::kSeqSet);
  EXPECT_EQ(s.key.children[2].field, "X-Foo");
  EXPECT_EQ(s.key.children[2].value, "bar");
  EXPECT_EQ(s.key.children[3].number, 100u);
  EXPECT_EQ(s.key.children[5].kind, SearchKey::Kind::kYounger);
  MustFail("a SEARCH\r\n");
  MustFail("a SEARCH BOGUS\r\n");
  MustFail("a SEARCH SINCE 31-Feb-2020\r\n");
  MustFail("a SEARCH (SEEN\r\n");
}

TEST(ParserTest, DeepNestingIsRefusedNotRecursed) {
  std::string deep = "a SEARCH " + std::string(100000, '(') + "ALL" +
                     std::string(100000, ')') + "\r\n";
  EXPECT_EQ(MustFail(deep).message, "Search keys nested too deeply");
  std::string nots = "a SEARCH ";
  for (int i = 0; i < 100000; ++i) nots += "NOT ";
  nots += "ALL\r\n";
  EXPECT_EQ(MustFail(nots).tag, "a");
}

TEST(ParserTest, StoreForms) {
  Command c = MustParse("a STORE 1 +FLAGS.SILENT (\\Seen $Label)\r\n");
  auto& s = std::get<StoreArgs>(c.args);
  EXPECT_EQ(s.op, StoreOp::kAdd);
  EXPECT_TRUE(s.silent);
  EXPECT_EQ(s.flags, (std::vector<std::string>{"\\Seen", "$Label"}));
  c = MustParse("a STORE 1 -FLAGS \\Deleted \\Seen\r\n");
  EXPECT_EQ(std::get<StoreArgs>(c.args).op, StoreOp::kRemove);
  EXPECT_EQ(std::get<StoreArgs>(c.args).flags.size(), 2u);
  c = MustParse("a STORE 1 (UNCHANGEDSINCE 7) FLAGS ()\r\n");
  EXPECT_EQ(std::get<StoreArgs>(c.args).unchanged_since, 7u);
  MustFail("a STORE 1 +FLAG (\\Seen)\r\n");
}

TEST(ParserTest, AppendAndMultiappend) {
  Command c = MustParse(
      "a APPEND saved-messages (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" "
      "{5}\r\nhello (\\Draft) {3+}\r\nabc ~{3}\r\na\0c\r\n"s);
  auto& a = std::get<AppendArgs>(c.args);
  EXPECT_EQ(a.mailbox, "saved-messages");
  ASSERT_EQ(a.messages.size(), 3u);
  EXPECT_EQ(a.messages[0].data, "hello");
  EXPECT_EQ(a.messages[0].internal_date, 760686745);
  EXPECT_EQ(a.messages[1].flags, (std::vector<std::string>{"\\Draft"}));
  EXPECT_TRUE(a.messages[2].binary);
  EXPECT_EQ(a.messages[2].data, std::string("a\0c", 3));
  c = MustParse("a APPEND inbox UTF8 (~{2}\r\nhi)\r\n");
  EXPECT_EQ(std::get<AppendArgs>(c.args).mailbox, "INBOX");
  MustFail("a APPEND INBOX\r\n");
  MustFail("a APPEND INBOX \"bad date\" {1}\r\nx\r\n");
}

TEST(ParserTest, ListExtended) {
  Command c = MustParse(
      "a LIST (SUBSCRIBED) \"\" (\"INBOX\" %/*) RETURN (CHILDREN STATUS "
      "(MESSAGES UNSEEN))\r\n");
  auto& l = std::get<ListArgs>(c.args);
  EXPECT_TRUE(l.extended);
  EXPECT_EQ(l.selection, (std::vector<std::string>{"SUBSCRIBED"}));
  EXPECT_EQ(l.patterns, (std::vector<std::string>{"INBOX", "%/*"}));
  EXPECT_EQ(l.return_options,
            (std::vector<std::string>{"CHILDREN", "STATUS"}));
  EXPECT_EQ(l.status_items.size(), 2u);
  c = MustParse("a LSUB \"\" *\r\n");
  EXPECT_TRUE(std::get<ListArgs>(c.args).lsub);
}

TEST(ParserTest, MiscCommands) {
  Command c = MustParse("a AUTHENTICATE plain AGFsaWNlAHNlY3JldA==\r\n");
  auto& au = std::get<AuthenticateArgs>(c.args);
  EXPECT_EQ(au.mechanism, "PLAIN");
  EXPECT_EQ(au.initial_response, "AGFsaWNlAHNlY3JldA==");
  c = MustParse("a ID (\"name\" \"x\" \"version\" NIL)\r\n");
  EXPECT_EQ(std::get<IdArgs>(c.args).params->size(), 2u);
  c = MustParse("a ID NIL\r\n");
  EXPECT_FALSE(std::get<IdArgs>(c.args).params.has_value());
  c = MustParse("a ENABLE utf8=accept CONDSTORE\r\n");
  EXPECT_EQ(std::get<EnableArgs>(c.args).capabilities[0], "UTF8=ACCEPT");
  c = MustParse("a SELECT Inbox (CONDSTORE)\r\n");
  EXPECT_TRUE(std::get<SelectArgs>(c.args).condstore);
  EXPECT_EQ(std::get<SelectArgs>(c.args).mailbox, "INBOX");
  // RFC 7162 §3.2.5.2 examples.
  c = MustParse(
      "A02 SELECT INBOX (QRESYNC (67890007 90060115194045000 "
      "41:211,214:541))\r\n");
  auto q = std::get<SelectArgs>(c.args).qresync;
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->uid_validity, 67890007u);
  EXPECT_EQ(q->modseq, 90060115194045000u);
  ASSERT_TRUE(q->known_uids.has_value());
  EXPECT_EQ(q->known_uids->ranges.size(), 2u);
  EXPECT_FALSE(q->match_seqs.has_value());
  c = MustParse(
      "B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 "
      "(5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976:29979)"
      "))\r\n");
  q = std::get<SelectArgs>(c.args).qresync;
  ASSERT_TRUE(q.has_value() && q->match_seqs && q->match_uids);
  EXPECT_EQ(q->match_seqs->ranges.size(), 4u);
  c = MustParse("a EXAMINE INBOX (CONDSTORE QRESYNC (1 2))\r\n");
  EXPECT_TRUE(std::get<SelectArgs>(c.args).condstore);
  EXPECT_FALSE(std::get<SelectArgs>(c.args).qresync->known_uids);
  // RFC 5465 §3.1 examples.
  c = MustParse(
      "a notify set status (selected MessageNew (uid "
      "body.peek[header.fields (from to subject)]) MessageExpunge) "
      "(subtree Lists MessageNew) (mailboxes (misc \"Other box\") "
      "(MessageNew FlagChange)) (personal (MailboxName SubscriptionChange "
      "Bogus))\r\n");
  auto& n = std::get<NotifyArgs>(c.args);
  EXPECT_TRUE(n.status);
  ASSERT_EQ(n.groups.size(), 4u);
  EXPECT_EQ(n.groups[0].filter, NotifyGroup::Filter::kSelected);
  EXPECT_EQ(n.groups[0].events, kEvMessageNew | kEvMessageExpunge);
  EXPECT_EQ(n.groups[0].new_fetch.size(), 2u);
  EXPECT_EQ(n.groups[1].filter, NotifyGroup::Filter::kSubtree);
  EXPECT_EQ(n.groups[1].mailboxes, std::vector<std::string>{"Lists"});
  EXPECT_EQ(n.groups[2].mailboxes.size(), 2u);
  EXPECT_EQ(n.groups[3].events, kEvMailboxName | kEvSubscriptionChange);
  EXPECT_EQ(n.groups[3].unknown, std::vector<std::string>{"Bogus"});
  c = MustParse("a NOTIFY NONE\r\n");
  EXPECT_TRUE(std::get<NotifyArgs>(c.args).none);
  c = MustParse("a NOTIFY SET (selected-delayed NONE) (inboxes NONE)\r\n");
  EXPECT_EQ(std::get<NotifyArgs>(c.args).groups[0].filter,
            NotifyGroup::Filter::kSelectedDelayed);
  for (const char* bad : {"a NOTIFY SET\r\n", "a NOTIFY SET ()\r\n",
                          "a NOTIFY SET (nowhere NONE)\r\n",
                          "a NOTIFY SET (subtree NONE\r\n",
                          "a NOTIFY\r\n"}) {
    EXPECT_FALSE(ParseCommand(bad)) << bad;
  }
  for (const char* bad : {"a SELECT INBOX (QRESYNC (0 5))\r\n",
                          "a SELECT INBOX (QRESYNC (1 0))\r\n",
                          "a SELECT INBOX (QRESYNC (1))\r\n",
                          "a SELECT INBOX (QRESYNC (1 2 3:4 (1)))\r\n"}) {
    EXPECT_FALSE(ParseCommand(bad)) << bad;
  }
  c = MustParse("a CREATE Drafts2 (USE (\\Drafts))\r\n");
  EXPECT_EQ(std::get<CreateArgs>(c.args).special_use.size(), 1u);
  c = MustParse("a STATUS blurdybloop (UIDNEXT MESSAGES)\r\n");
  EXPECT_EQ(std::get<StatusArgs>(c.args).items.size(), 2u);
  c = MustParse("a UID MOVE 1:2 Trash\r\n");
  EXPECT_TRUE(c.uid);
  EXPECT_EQ(c.name, "MOVE");
  c = MustParse("a UID EXPUNGE 3000:3002\r\n");
  EXPECT_EQ(std::get<UidExpungeArgs>(c.args).set.ranges.size(), 1u);
  c = MustParse("a SORT (REVERSE ARRIVAL SUBJECT) UTF-8 ALL\r\n");
  EXPECT_TRUE(std::get<SortArgs>(c.args).keys[0].reverse);
  c = MustParse("a UID THREAD references UTF-8 SINCE 5-MAR-2000\r\n");
  EXPECT_EQ(std::get<ThreadArgs>(c.args).algorithm, "REFERENCES");
  c = MustParse("a GETQUOTAROOT INBOX\r\n");
  c = MustParse("a RENAME \"a b\" c/d\r\n");
  EXPECT_EQ(std::get<RenameArgs>(c.args).from, "a b");
}

TEST(DateTest, Formats) {
  EXPECT_EQ(ParseImapDate("1-Jan-1970"), 0);
  EXPECT_EQ(ParseImapDate("29-Feb-2000"), 951782400);
  EXPECT_FALSE(ParseImapDate("29-Feb-1900"));
  EXPECT_FALSE(ParseImapDate("1-Foo-2000"));
  EXPECT_EQ(ParseImapDateTime("17-Jul-1996 02:44:25 -0700"), 837596665);
  EXPECT_EQ(FormatImapDateTime(837596665), "17-Jul-1996 09:44:25 +0000");
}

TEST(SequenceTest, ResolveAndFormat) {
  SequenceSet s{{{2, 4}, {kStar, kStar}, {3, 3}}, false};
  auto r = ResolveSequenceSet(s, 10);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<uint32_t>{1, 2, 3, 9}));
  EXPECT_FALSE(ResolveSequenceSet(SequenceSet{{{11, 11}}, false}, 10));
  EXPECT_FALSE(ResolveSequenceSet(SequenceSet{{{kStar, kStar}}, false}, 0));
  std::vector<uint32_t> uids = {3, 5, 9, 20};
  EXPECT_EQ(ResolveUidSet(SequenceSet{{{4, 9}}, false}, uids),
            (std::vector<uint32_t>{1, 2}));
  // RFC 9051 §6.4.8: "30:*" still names the highest UID.
  EXPECT_EQ(ResolveUidSet(SequenceSet{{{30, kStar}}, false}, uids),
            (std::vector<uint32_t>{3}));
  EXPECT_EQ(ResolveUidSet(SequenceSet{{{21, 25}}, false}, uids),
            (std::vector<uint32_t>{}));
  std::vector<uint32_t> nums = {1, 2, 3, 5, 7, 8};
  EXPECT_EQ(FormatNumberSet(nums), "1:3,5,7:8");
}

TEST(WriterTest, StringForms) {
  std::string out;
  AppendAstring(out, "INBOX");
  out += ' ';
  AppendAstring(out, "a \"b\"");
  out += ' ';
  AppendAstring(out, "nil");
  out += ' ';
  AppendAstring(out, "line\r\nbreak");
  out += ' ';
  AppendQuotedOrLiteral(out, "caf\xc3\xa9", true);
  out += ' ';
  AppendQuotedOrLiteral(out, "caf\xc3\xa9", false);
  EXPECT_EQ(out,
            "INBOX \"a \\\"b\\\"\" \"nil\" {11}\r\nline\r\nbreak "
            "\"caf\xc3\xa9\" {5}\r\ncaf\xc3\xa9");
}

}  // namespace
}  // namespace correio::imap
