// Hostile input: pathological shapes, every truncation and seeded mutations
// of the corpus, corrupt serialized summaries, concurrent parsing. Nothing
// here measures time; each case must complete with bounded output.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "mime/message.h"
#include "mime/mime_test_util.h"

namespace correio::mime {
namespace {

using testing::ReadTestFile;

// Offsets nest: every part lies within its parent's body, siblings in order.
void CheckPart(const Part& p, uint64_t lo, uint64_t hi, int depth,
               int& max_depth) {
  max_depth = std::max(max_depth, depth);
  ASSERT_LE(lo, p.header_start);
  ASSERT_LE(p.header_start, p.body_start);
  ASSERT_LE(p.body_start, p.body_end);
  ASSERT_LE(p.body_end, hi);
  if (p.is_multipart()) {
    ASSERT_FALSE(p.children.empty());
  }
  if (p.is_message()) {
    ASSERT_EQ(p.children.size(), 1u);
  }
  uint64_t prev = p.body_start;
  for (const Part& c : p.children) {
    ASSERT_LE(prev, c.header_start);
    CheckPart(c, p.body_start, p.body_end, depth + 1, max_depth);
    prev = c.body_end;
  }
}

bool IsValidUtf8(const std::string& s) {
  return ConvertToUtf8(s, "utf-8") == s;
}

void CheckAll(std::string_view raw, const ParseLimits& limits = {}) {
  auto s = Parse(raw, limits);
  ASSERT_TRUE(s.has_value());
  int depth = 0;
  CheckPart(s->root, 0, raw.size(), 0, depth);
  ASSERT_EQ(s->root.body_end, raw.size());
  ASSERT_LE(s->part_count, limits.max_parts + limits.max_parts + 1);
  ASSERT_LE(depth, static_cast<int>(limits.max_depth) + 1);
  ASSERT_TRUE(IsValidUtf8(s->preview));
  std::string bytes = Serialize(*s);
  auto back = Deserialize(bytes);
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(*back, *s);
  SearchText st = ExtractSearchText(raw, *s);
  ASSERT_LE(st.headers.size(), kMaxSearchHeaderBytes);
  ASSERT_LE(st.Body(raw).size(), kMaxSearchBodyBytes);
}

int Depth(const Part& p) {
  int d = 0;
  for (const Part& c : p.children) d = std::max(d, Depth(c));
  return d + 1;
}

TEST(MimeLimits, TenThousandDeepMultipart) {
  constexpr int kDepth = 10000;
  std::string m = "Subject: deep\r\n";
  for (int i = 0; i < kDepth; ++i) {
    m += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) +
         "\r\n\r\n--b" + std::to_string(i) + "\r\n";
  }
  m += "Content-Type: text/plain\r\n\r\nleaf\r\n";
  for (int i = kDepth - 1; i >= 0; --i)
    m += "--b" + std::to_string(i) + "--\r\n";
  auto s = Parse(m);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->truncated);
  ParseLimits limits;
  EXPECT_EQ(Depth(s->root), static_cast<int>(limits.max_depth) + 1);
  EXPECT_EQ(s->part_count, limits.max_depth + 1);
  EXPECT_LT(Serialize(*s).size(), 64u * 1024);
  CheckAll(m);
  // The innermost part we kept is opaque, not a broken multipart.
  const Part* p = &s->root;
  while (!p->children.empty()) p = &p->children[0];
  EXPECT_TRUE(p->opaque);
  EXPECT_EQ(p->type, "application");
}

TEST(MimeLimits, TenThousandDeepMessageRfc822) {
  std::string m;
  for (int i = 0; i < 10000; ++i) {
    m += "Subject: level " + std::to_string(i) +
         "\r\nContent-Type: message/rfc822\r\n\r\n";
  }
  m += "Subject: bottom\r\n\r\ntext\r\n";
  auto s = Parse(m);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->truncated);
  EXPECT_LE(Depth(s->root), 51);
  CheckAll(m);
}

TEST(MimeLimits, HalfAMillionToHeaders) {
  std::string m = "From: a@example.com\r\n";
  m.reserve(500000 * 32);
  for (int i = 0; i < 500000; ++i) {
    m += "To: user" + std::to_string(i) + "@example.com\r\n";
  }
  size_t header_end = m.size();
  m += "Subject: late\r\n\r\nbody\r\n";
  auto s = Parse(m);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->truncated);
  // Offsets stay exact even past the examined header bytes.
  EXPECT_EQ(s->root.body_start, header_end + 17);
  EXPECT_EQ(testing::Body(m, s->root), "body\r\n");
  ASSERT_EQ(s->envelope.to.size(), 1u);  // the first To field
  EXPECT_EQ(s->envelope.to[0].mailbox, "user0");
  EXPECT_FALSE(s->envelope.subject.has_value());  // beyond the 1 MB window
  SearchText st = ExtractSearchText(m, *s);
  EXPECT_LE(st.headers.size(), kMaxSearchHeaderBytes);
  EXPECT_GT(st.headers.size(), kMaxSearchHeaderBytes / 2);
  EXPECT_EQ(st.Body(m), "body\r\n");
}

TEST(MimeLimits, HugeAddressList) {
  std::string m = "To: ";
  for (int i = 0; i < 100000; ++i) {
    m += "\"Name " + std::to_string(i) + "\" <u" + std::to_string(i) +
         "@x.org>, ";
  }
  m += "\r\n\r\n";
  auto s = Parse(m);
  ASSERT_TRUE(s.has_value());
  ASSERT_EQ(s->envelope.to.size(), ParseLimits{}.max_addresses);
  EXPECT_EQ(s->envelope.to.back().mailbox, "u999");
  EXPECT_EQ(s->envelope.to.back().name, "Name 999");
}

TEST(MimeLimits, HundredThousandRfc2231Params) {
  std::string distinct = "Content-Type: application/x-test";
  std::string sections = "Content-Type: application/x-test";
  for (int i = 0; i < 100000; ++i) {
    distinct += "; p" + std::to_string(i) + "=v";
    sections += "; f*" + std::to_string(i) + "*=%41";
  }
  for (const std::string* h : {&distinct, &sections}) {
    std::string m = *h + "\r\nContent-Disposition: attachment" + h->substr(32) +
                    "\r\n\r\nbody";
    auto s = Parse(m);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->root.subtype, "x-test");
    EXPECT_LE(s->root.params.size(), ParseLimits{}.max_params);
    EXPECT_GE(s->root.params.size(), 1u);
    EXPECT_LE(s->root.disposition_params.size(), ParseLimits{}.max_params);
    size_t total = 0;
    for (const Param& p : s->root.params) total += p.value.size();
    EXPECT_LE(total, 300u * 1024);
    EXPECT_LT(Serialize(*s).size(), 1u << 20);
    CheckAll(m);
  }
}

// Cut at 256 KiB, a quoted continuation must end at a parameter: before,
// the last section kept its opening quote and the joined value ended in a
// stray '"p12345' fragment.
TEST(MimeLimits, QuotedContinuationsCutAtAParameter) {
  std::string h = "Content-Type: application/octet-stream";
  for (int i = 0; i < 100000; ++i) {
    h += "; name*" + std::to_string(i) + "=\"p" + std::to_string(i) + ";x\"";
  }
  auto s = Parse(h + "\r\n\r\nbody");
  ASSERT_TRUE(s.has_value());
  const Param* name = nullptr;
  for (const Param& p : s->root.params) {
    if (p.name == "name") name = &p;
  }
  ASSERT_NE(name, nullptr);
  EXPECT_LE(name->value.size(), 256u * 1024);
  EXPECT_EQ(name->value.find('"'), std::string::npos);
  // Whole sections only: "p0;x" "p1;x" ... each complete.
  ASSERT_GE(name->value.size(), 4u);
  EXPECT_EQ(name->value.substr(name->value.size() - 2), ";x");
  EXPECT_EQ(name->value.substr(0, 8), "p0;xp1;x");
}

TEST(MimeLimits, TooManyParts) {
  std::string m = "Content-Type: multipart/mixed; boundary=x\r\n\r\n";
  for (int i = 0; i < 20000; ++i) m += "--x\r\n\r\np\r\n";
  m += "--x--\r\n";
  auto s = Parse(m);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->truncated);
  EXPECT_EQ(s->part_count, ParseLimits{}.max_parts);
  ParseLimits small;
  small.max_parts = 10;
  auto t = Parse(m, small);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->root.children.size(), 9u);
  CheckAll(m, small);
}

TEST(MimeLimits, HeaderFieldLimit) {
  std::string m;
  for (int i = 0; i < 100; ++i) m += "X-F: " + std::to_string(i) + "\r\n";
  m += "Subject: after\r\n\r\n";
  ParseLimits l;
  l.max_header_fields = 50;
  auto s = Parse(m, l);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->truncated);
  EXPECT_FALSE(s->envelope.subject.has_value());
  EXPECT_EQ(s->root.body_start, m.size());
}

TEST(MimeLimits, FieldCrossingTheHeaderWindowKeepsItsStart) {
  std::string m =
      "Subject: 0123456789abcdef\r\n continued\r\nTo: late@x.org\r\n\r\nbody";
  ParseLimits l;
  l.max_header_bytes = 20;  // ends inside the Subject value
  auto s = Parse(m, l);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->truncated);
  EXPECT_EQ(s->envelope.subject, "0123456789a");
  EXPECT_TRUE(s->envelope.to.empty());
  EXPECT_EQ(testing::Body(m, s->root), "body");
  // A header that fits exactly is not truncated.
  l.max_header_bytes = m.size() - 4;
  auto t = Parse(m, l);
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(t->truncated);
  EXPECT_EQ(t->envelope.subject, "0123456789abcdef continued");
  ASSERT_EQ(t->envelope.to.size(), 1u);
}

TEST(MimeLimits, EveryTruncationOfTheCorpus) {
  for (const char* name : testing::kCorpus) {
    std::string raw = ReadTestFile(name);
    for (size_t n = 0; n <= raw.size(); ++n) {
      SCOPED_TRACE(std::string(name) + " prefix " + std::to_string(n));
      CheckAll(std::string_view(raw).substr(0, n));
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(MimeLimits, SeededMutationsOfTheCorpus) {
  std::mt19937 rng(20240601);
  static constexpr std::string_view kInserts[] = {
      "--",
      "\r\n",
      "\n",
      "\r\n\r\n",
      "--ALT\r\n",
      "--outer--\r\n",
      "=?",
      "?=",
      ";",
      "\"",
      "\\",
      "<",
      ">",
      "(",
      ")",
      ":",
      "=",
      "*0*=",
      std::string_view("\0", 1),
      "\xff",
      "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n",
      "Content-Type: message/rfc822\r\n\r\n",
      "Content-Transfer-Encoding: base64\r\n"};
  int runs = 0;
  for (int round = 0; round < 250; ++round) {
    for (const char* name : testing::kCorpus) {
      std::string m = ReadTestFile(name);
      int edits = 1 + static_cast<int>(rng() % 6);
      for (int e = 0; e < edits; ++e) {
        size_t pos = m.empty() ? 0 : rng() % (m.size() + 1);
        switch (rng() % 5) {
          case 0:  // flip a byte
            if (!m.empty() && pos < m.size()) m[pos] = static_cast<char>(rng());
            break;
          case 1:  // delete a range
            m.erase(pos, rng() % 64);
            break;
          case 2: {  // insert a token
            auto ins = kInserts[rng() % std::size(kInserts)];
            m.insert(pos, ins);
            break;
          }
          case 3: {  // duplicate a range
            std::string piece = m.substr(pos, rng() % 200);
            m.insert(rng() % (m.size() + 1), piece);
            break;
          }
          default:  // truncate
            m.resize(pos);
        }
      }
      SCOPED_TRACE(std::string(name) + " round " + std::to_string(round));
      CheckAll(m);
      if (::testing::Test::HasFatalFailure()) return;
      ++runs;
    }
  }
  EXPECT_EQ(runs, 250 * static_cast<int>(std::size(testing::kCorpus)));
}

TEST(MimeLimits, CorruptSerializedSummaries) {
  auto s = Parse(ReadTestFile("rfc822_attachment.eml"));
  ASSERT_TRUE(s.has_value());
  std::string good = Serialize(*s);
  ASSERT_TRUE(Deserialize(good).has_value());
  EXPECT_FALSE(Deserialize("").has_value());
  EXPECT_FALSE(Deserialize(std::string_view("\x02", 1)).has_value());
  EXPECT_FALSE(Deserialize(good + "x").has_value());  // trailing bytes
  // Every truncation fails cleanly.
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(Deserialize(std::string_view(good).substr(0, n)).has_value());
  }
  // Random byte flips: either rejected or a structurally sane summary.
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string bad = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      bad[rng() % bad.size()] = static_cast<char>(rng());
    }
    auto r = Deserialize(bad);
    if (r.has_value()) {
      int depth = 0;
      CheckPart(r->root, 0, UINT64_MAX, 0, depth);
      EXPECT_EQ(Deserialize(Serialize(*r)).value(), *r);
    }
  }
  // A huge declared count must not allocate: version, flags, parts, then a
  // preview length of 2^62.
  std::string huge("\x00\x00\x01\x80\x80\x80\x80\x80\x80\x80\x80\x40", 12);
  huge[0] = static_cast<char>(kSummaryFormatVersion);
  EXPECT_FALSE(Deserialize(huge).has_value());
  // Deep nesting of children is capped: a well-formed chain of `depth`
  // multiparts around one leaf is accepted when shallow, refused when deep.
  auto nested = [](int depth) {
    std::string d;
    d.push_back(static_cast<char>(kSummaryFormatVersion));
    d.push_back(0);  // flags
    uint64_t parts = static_cast<uint64_t>(depth) + 1;
    while (parts >= 0x80) {
      d.push_back(static_cast<char>(parts | 0x80));
      parts >>= 7;
    }
    d.push_back(static_cast<char>(parts));
    d.push_back(0);              // empty preview
    d += std::string(10, '\0');  // empty envelope
    auto part = [&](bool multipart) {
      d += std::string(3, '\0');  // offsets
      d += multipart ? std::string("\x09multipart\x05mixed", 16)
                     : std::string("\x04text\x05plain", 11);
      d += std::string(11, '\0');  // params .. flags
    };
    for (int i = 0; i < depth; ++i) {
      part(true);
      d.push_back(1);  // one child
    }
    part(false);
    d.push_back(0);  // no children
    return d;
  };
  auto shallow = Deserialize(nested(100));
  ASSERT_TRUE(shallow.has_value());
  EXPECT_EQ(shallow->part_count, 101u);
  EXPECT_EQ(Depth(shallow->root), 101);
  EXPECT_FALSE(Deserialize(nested(2000)).has_value());
  // Shapes IMAP could not print are refused: a multipart without children.
  std::string childless = nested(0);
  Summary leaf = Deserialize(childless).value();
  leaf.root.type = "multipart";
  EXPECT_FALSE(Deserialize(Serialize(leaf)).has_value());
}

TEST(MimeLimits, ConcurrentParsing) {
  std::vector<std::string> corpus;
  std::vector<std::string> expected;
  for (const char* name : testing::kCorpus) {
    corpus.push_back(ReadTestFile(name));
    auto s = Parse(corpus.back());
    ASSERT_TRUE(s.has_value());
    expected.push_back(
        Serialize(*s) +
        std::string(ExtractSearchText(corpus.back(), *s).Body(corpus.back())));
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < corpus.size(); ++i) {
          auto s = Parse(corpus[i]);
          if (!s ||
              Serialize(*s) +
                      std::string(
                          ExtractSearchText(corpus[i], *s).Body(corpus[i])) !=
                  expected[i]) {
            ++mismatches;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace correio::mime
