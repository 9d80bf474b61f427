#include "dns/resolver.h"

#include <gtest/gtest.h>

#include "dns/fake_dns_server.h"

namespace correio::dns {
namespace {

using testing::FakeDnsServer;

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dns_.mx["example.net"] = {{20, "mx2.example.net"}, {10, "mx1.example.net"}};
    dns_.a["mx1.example.net"] = {"127.0.0.2"};
    dns_.a["mx2.example.net"] = {"127.0.0.3", "127.0.0.4"};
    dns_.aaaa["mx2.example.net"] = {"::1"};
    dns_.a["nomx.example"] = {"127.0.0.5"};
    dns_.mx["null.example"] = {{0, ""}};
    dns_.servfail.insert("broken.example");
    dns_.exists.insert("empty.example");
    dns_.Start();
    ResolverOptions o;
    o.servers = {dns_.address()};
    o.timeout = std::chrono::milliseconds(500);
    o.tries = 1;
    resolver_ = std::make_unique<Resolver>(o);
  }
  FakeDnsServer dns_;
  std::unique_ptr<Resolver> resolver_;
};

TEST_F(ResolverTest, MxSortedByPreference) {
  auto mx = resolver_->LookupMx("Example.NET");
  ASSERT_TRUE(mx) << mx.error().message();
  EXPECT_FALSE(mx->null_mx);
  ASSERT_EQ(mx->records.size(), 2u);
  EXPECT_EQ(mx->records[0], (MxRecord{10, "mx1.example.net"}));
  EXPECT_EQ(mx->records[1], (MxRecord{20, "mx2.example.net"}));
  auto hosts = resolver_->MailHosts("example.net");
  ASSERT_TRUE(hosts);
  EXPECT_EQ(*hosts,
            (std::vector<std::string>{"mx1.example.net", "mx2.example.net"}));
}

TEST_F(ResolverTest, AddressesV4ThenV6) {
  auto addrs = resolver_->LookupAddresses("mx2.example.net");
  ASSERT_TRUE(addrs) << addrs.error().message();
  EXPECT_EQ(*addrs,
            (std::vector<std::string>{"127.0.0.3", "127.0.0.4", "::1"}));
}

TEST_F(ResolverTest, NoMxFallsBackToDomain) {
  // RFC 5321 §5.1: the implicit MX.
  auto hosts = resolver_->MailHosts("nomx.example");
  ASSERT_TRUE(hosts) << hosts.error().message();
  EXPECT_EQ(*hosts, (std::vector<std::string>{"nomx.example"}));
  auto addrs = resolver_->LookupAddresses("nomx.example");
  ASSERT_TRUE(addrs);
  EXPECT_EQ(*addrs, (std::vector<std::string>{"127.0.0.5"}));
}

TEST_F(ResolverTest, NullMxIsPermanent) {
  auto mx = resolver_->LookupMx("null.example");
  ASSERT_TRUE(mx);
  EXPECT_TRUE(mx->null_mx);
  auto hosts = resolver_->MailHosts("null.example");
  ASSERT_FALSE(hosts);
  EXPECT_EQ(hosts.error().code(), ErrorCode::kPerm);
}

TEST_F(ResolverTest, NxdomainIsNotFound) {
  auto hosts = resolver_->MailHosts("nowhere.example");
  ASSERT_FALSE(hosts);
  EXPECT_EQ(hosts.error().code(), ErrorCode::kNotFound);
  auto addrs = resolver_->LookupAddresses("nowhere.example");
  ASSERT_FALSE(addrs);
  EXPECT_EQ(addrs.error().code(), ErrorCode::kNotFound);
}

TEST_F(ResolverTest, NodataGivesEmptyAddressList) {
  auto addrs = resolver_->LookupAddresses("empty.example");
  ASSERT_TRUE(addrs);
  EXPECT_TRUE(addrs->empty());
}

TEST_F(ResolverTest, ServfailIsTemporary) {
  auto hosts = resolver_->MailHosts("broken.example");
  ASSERT_FALSE(hosts);
  EXPECT_EQ(hosts.error().code(), ErrorCode::kTemp);
}

TEST(ResolverNoServerTest, TimeoutIsTemporary) {
  uint16_t port;
  {
    FakeDnsServer gone;  // bound, never answers (not started)
    port = gone.port();
  }
  ResolverOptions o;
  o.servers = {"127.0.0.1:" + std::to_string(port)};
  o.timeout = std::chrono::milliseconds(200);
  o.tries = 1;
  Resolver r(o);
  auto hosts = r.MailHosts("example.net");
  ASSERT_FALSE(hosts);
  EXPECT_EQ(hosts.error().code(), ErrorCode::kTemp);
}

}  // namespace
}  // namespace correio::dns
