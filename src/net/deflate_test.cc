// DeflateStream against itself and against zlib used directly as a peer
// would: every split of the compressed input, corrupt input, and a burst
// larger than the output buffer.
#include "net/deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

namespace correio::net {
namespace {

std::string InflateAll(DeflateStream& d, size_t cap = 7) {
  std::string out;
  std::string buf(cap, '\0');
  for (;;) {
    auto n = d.Inflate(buf.data(), buf.size());
    EXPECT_TRUE(n) << n.error().message();
    if (!n || *n == 0) return out;
    out.append(buf.data(), *n);
  }
}

// What a client does: raw deflate, sync flush after each command.
std::string PeerCompress(z_stream& z, std::string_view in) {
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
  out.resize(out.size() - z.avail_out);
  return out;
}

TEST(DeflateStream, OurOutputInflatesWithZlibAfterEveryWrite) {
  auto d = DeflateStream::Create();
  ASSERT_TRUE(d);
  z_stream peer{};
  ASSERT_EQ(inflateInit2(&peer, -MAX_WBITS), Z_OK);
  for (std::string line : {"* OK hello\r\n", "a1 OK done\r\n"}) {
    std::string packed;
    ASSERT_TRUE((*d)->Compress(line, packed));
    std::string out(256, '\0');
    peer.next_in = reinterpret_cast<Bytef*>(packed.data());
    peer.avail_in = static_cast<uInt>(packed.size());
    peer.next_out = reinterpret_cast<Bytef*>(out.data());
    peer.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&peer, Z_SYNC_FLUSH);
    EXPECT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR);
    EXPECT_EQ(peer.avail_in, 0u);  // each write decodes completely
    out.resize(out.size() - peer.avail_out);
    EXPECT_EQ(out, line);
  }
  inflateEnd(&peer);
  // Nothing new to say: nothing to send.
  std::string packed;
  ASSERT_TRUE((*d)->Compress("", packed));
  EXPECT_TRUE(packed.empty());
}

TEST(DeflateStream, PeerInputSplitAtEveryOffset) {
  z_stream peer{};
  ASSERT_EQ(deflateInit2(&peer, 9, Z_DEFLATED, -MAX_WBITS, 9,
                         Z_DEFAULT_STRATEGY), Z_OK);
  std::string text = "a1 SELECT INBOX\r\na2 FETCH 1:* (FLAGS)\r\n";
  std::string packed = PeerCompress(peer, text);
  deflateEnd(&peer);
  for (size_t cut = 0; cut <= packed.size(); ++cut) {
    auto d = DeflateStream::Create();
    ASSERT_TRUE(d);
    (*d)->Feed(std::string_view(packed).substr(0, cut));
    std::string got = InflateAll(**d);
    (*d)->Feed(std::string_view(packed).substr(cut));
    got += InflateAll(**d);
    EXPECT_EQ(got, text) << "cut at " << cut;
    EXPECT_FALSE((*d)->has_input());
  }
}

TEST(DeflateStream, LargeBurstThroughSmallBuffer) {
  std::mt19937 rng(7);
  std::string text;
  for (int i = 0; i < 200000; ++i) text += static_cast<char>('a' + rng() % 6);
  auto d = DeflateStream::Create();
  ASSERT_TRUE(d);
  std::string packed;
  ASSERT_TRUE((*d)->Compress(text, packed));
  EXPECT_LT(packed.size(), text.size() / 2);
  auto e = DeflateStream::Create();
  ASSERT_TRUE(e);
  (*e)->Feed(packed);
  EXPECT_EQ(InflateAll(**e, 4096), text);
}

TEST(DeflateStream, CorruptInputIsAnError) {
  auto d = DeflateStream::Create();
  ASSERT_TRUE(d);
  (*d)->Feed(std::string("\xff\xff\xff\xff garbage", 12));
  std::string buf(64, '\0');
  auto n = (*d)->Inflate(buf.data(), buf.size());
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), ErrorCode::kInvalid);
}

}  // namespace
}  // namespace correio::net
