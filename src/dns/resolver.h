// DNS for outbound mail (RFC 5321 §5.1): MX lookup with preference order,
// the implicit MX (A/AAAA of the domain) when there is no MX, and null MX
// (RFC 7505). Built on c-ares, used synchronously: every call blocks for up
// to timeout x tries, so callers on a network thread go through
// net::RunBlocking (STYLE 13).
//
// Errors: kNotFound when the name does not exist (NXDOMAIN: bounce);
// kPerm for a null MX; kTemp for timeouts, SERVFAIL, refused (retry).
//
// Thread-safety: a Resolver is immutable after construction; each call
// makes its own c-ares channel, so calls may run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"

namespace correio::dns {

struct ResolverOptions {
  // "ip" or "ip:port" ("[::1]:53"); empty: /etc/resolv.conf.
  std::vector<std::string> servers;
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};
  int tries = 2;
};

struct MxRecord {
  uint16_t preference = 0;
  std::string host;  // without the trailing dot; "" for the null MX
  bool operator==(const MxRecord&) const = default;
};

struct MxAnswer {
  bool null_mx = false;           // RFC 7505: the domain accepts no mail
  std::vector<MxRecord> records;  // sorted by preference; empty: no MX
};

class Resolver {
 public:
  explicit Resolver(ResolverOptions options);

  // MX records of `domain`, sorted by preference (ties keep DNS order).
  Result<MxAnswer> LookupMx(const std::string& domain) const;
  // IPv4 then IPv6 addresses of `host`, as text. Empty when the name exists
  // but has neither.
  Result<std::vector<std::string>> LookupAddresses(
      const std::string& host) const;
  // The hosts to try for mail to `domain`, in order: MX hosts by
  // preference, or the domain itself when it has no MX (RFC 5321 §5.1).
  // kPerm for a null MX (RFC 7505 §3), kNotFound when the domain does not
  // exist.
  Result<std::vector<std::string>> MailHosts(const std::string& domain) const;

 private:
  ResolverOptions options_;
};

}  // namespace correio::dns
