#include "imap/proto/mutf7.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace correio::imap {
namespace {

TEST(Mutf7Test, RfcExample) {
  // RFC 3501 §5.1.3: "~peter/mail/台北/日本語".
  const std::string utf8 =
      "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
  EXPECT_EQ(EncodeMutf7(utf8), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  EXPECT_EQ(DecodeMutf7("~peter/mail/&U,BTFw-/&ZeVnLIqe-"), utf8);
}

TEST(Mutf7Test, AsciiAndAmpersand) {
  EXPECT_EQ(EncodeMutf7("INBOX"), "INBOX");
  EXPECT_EQ(EncodeMutf7("Tom & Jerry"), "Tom &- Jerry");
  EXPECT_EQ(DecodeMutf7("Tom &- Jerry"), "Tom & Jerry");
  EXPECT_EQ(EncodeMutf7(""), "");
  EXPECT_EQ(DecodeMutf7(""), "");
  EXPECT_EQ(EncodeMutf7("&&"), "&-&-");
}

TEST(Mutf7Test, Latin1AndControls) {
  // "Entwürfe" as Dovecot and Thunderbird name it.
  EXPECT_EQ(EncodeMutf7("Entw\xc3\xbcrfe"), "Entw&APw-rfe");
  EXPECT_EQ(DecodeMutf7("Entw&APw-rfe"), "Entw\xc3\xbcrfe");
  // A tab is not printable: it is encoded, not sent raw.
  EXPECT_EQ(EncodeMutf7("a\tb"), "a&AAk-b");
  EXPECT_EQ(DecodeMutf7("a&AAk-b"), "a\tb");
}

TEST(Mutf7Test, SupplementaryPlaneUsesSurrogatePair) {
  const std::string grin = "\xf0\x9f\x98\x80";  // U+1F600
  std::string enc = EncodeMutf7(grin);
  EXPECT_EQ(enc, "&2D3eAA-");
  EXPECT_EQ(DecodeMutf7(enc), grin);
}

TEST(Mutf7Test, InvalidUtf8BecomesReplacementCharacter) {
  std::string enc = EncodeMutf7(
      "a\xff"
      "b");
  EXPECT_EQ(enc, "a&,,0-b");
  EXPECT_EQ(DecodeMutf7(enc),
            "a\xef\xbf\xbd"
            "b");
}

TEST(Mutf7Test, RoundTrips) {
  const char* const samples[] = {
      "Gesendete Objekte",
      "\xd0\x92\xd1\x85\xd0\xbe\xd0\xb4\xd1\x8f\xd1\x89"
      "\xd0\xb8\xd0\xb5",                                  // Входящие
      "\xe5\x9e\x83\xe5\x9c\xbe\xe9\x82\xae\xe4\xbb\xb6",  // 垃圾邮件
      "a&b\xc3\xa9&c",
      "\xc3\xa9",
      "\xc3\xa9\xc3\xa9\xc3\xa9",
      "x\xf0\x9f\x98\x80y\xc3\xa9z",
      "Stra\xc3\x9f"
      "e/&/~",
  };
  for (const char* s : samples) {
    std::string enc = EncodeMutf7(s);
    for (char c : enc) {
      EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << s;
    }
    EXPECT_EQ(DecodeMutf7(enc), std::string(s)) << enc;
  }
}

TEST(Mutf7Test, RejectsMalformed) {
  const char* const bad[] = {
      "&",                   // unterminated shift
      "&U,BTFw",             // unterminated run
      "a\xc3\xa9",           // raw 8-bit
      "a\tb",                // raw control
      "&AGE-",               // 'a' encoded: printable ASCII must be direct
      "&ACY-",               // '&' encoded instead of "&-"
      "&U,BTFw-&ZeVnLIqe-",  // two adjacent runs
      "&U,BTFx-",            // non-zero padding bits
      "&AOkA-",              // excess bits (a whole extra sextet)
      "&A-",                 // fewer than 16 bits
      "&2D0-",               // lone high surrogate
      "&3gA-",               // lone low surrogate
      "&AAA-",               // U+0000
      "&U/BTFw-",            // '/' is not in the modified alphabet
      "&U=BTFw-",            // padding is not allowed
  };
  for (const char* s : bad) {
    EXPECT_EQ(DecodeMutf7(s), std::nullopt) << s;
  }
}

TEST(Mutf7Test, RunsSeparatedByTextAreFine) {
  EXPECT_EQ(DecodeMutf7("&AOk-x&AOk-"), "\xc3\xa9x\xc3\xa9");
  // An encoded run followed by "&-" is two tokens, not two runs.
  EXPECT_EQ(DecodeMutf7("&AOk-&-"), "\xc3\xa9&");
}

}  // namespace
}  // namespace correio::imap

namespace correio::imap {
namespace {

// Every string the decoder accepts must be the one canonical spelling:
// re-encoding what it decoded gives the input back. Random strings over an
// alphabet dense in edge cases exercise the rejection rules.
TEST(Mutf7PropertyTest, AcceptedInputIsCanonical) {
  const std::string alphabet = "&-AAAgZz09+,/ a~\x7f\xc3";
  std::mt19937 rng(12345);
  int accepted = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    size_t len = rng() % 10;
    std::string s;
    for (size_t i = 0; i < len; ++i) s += alphabet[rng() % alphabet.size()];
    auto decoded = DecodeMutf7(s);
    if (!decoded) continue;
    ++accepted;
    EXPECT_EQ(EncodeMutf7(*decoded), s);
  }
  EXPECT_GT(accepted, 1000);
}

TEST(Mutf7PropertyTest, EncodeThenDecodeIsIdentityOnValidUtf8) {
  std::mt19937 rng(777);
  const uint32_t ranges[][2] = {{0x20, 0x7e},     {0x01, 0x1f},
                                {0x80, 0x7ff},    {0x800, 0xd7ff},
                                {0xe000, 0xfffd}, {0x10000, 0x10ffff}};
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    size_t len = rng() % 8;
    for (size_t i = 0; i < len; ++i) {
      const auto& r = ranges[rng() % 6];
      uint32_t cp = r[0] + rng() % (r[1] - r[0] + 1);
      if (cp < 0x80) {
        s += static_cast<char>(cp);
      } else if (cp < 0x800) {
        s += static_cast<char>(0xc0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3f));
      } else if (cp < 0x10000) {
        s += static_cast<char>(0xe0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        s += static_cast<char>(0x80 | (cp & 0x3f));
      } else {
        s += static_cast<char>(0xf0 | (cp >> 18));
        s += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        s += static_cast<char>(0x80 | (cp & 0x3f));
      }
    }
    EXPECT_EQ(DecodeMutf7(EncodeMutf7(s)), s);
  }
}

}  // namespace
}  // namespace correio::imap
