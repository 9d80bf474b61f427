#include "dns/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <mutex>

#include "base/strings.h"

namespace correio::dns {

namespace {

constexpr int kTypeA = 1;
constexpr int kTypeMx = 15;
constexpr int kTypeAaaa = 28;
constexpr int kClassIn = 1;

void InitLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

struct Answer {
  int status = ARES_ETIMEOUT;
  std::vector<unsigned char> buf;
  bool done = false;
};

// Runs one query to completion on a private channel. Returns the ares
// status and the raw answer.
Result<Answer> Query(const ResolverOptions& options, const std::string& name,
                     int type) {
  InitLibrary();
  ares_channel channel;
  ares_options opts{};
  opts.timeout = static_cast<int>(options.timeout.count());
  opts.tries = options.tries;
  // No search list: mail domains are absolute (RFC 5321 §2.3.5).
  opts.flags = ARES_FLAG_NOSEARCH;
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
  if (ares_init_options(&channel, &opts, mask) != ARES_SUCCESS) {
    return Fail(ErrorCode::kTemp, "cannot initialise the resolver");
  }
  struct Closer {
    ares_channel c;
    ~Closer() { ares_destroy(c); }
  } closer{channel};
  if (!options.servers.empty()) {
    std::string csv;
    for (const auto& s : options.servers) {
      if (!csv.empty()) csv += ",";
      csv += s;
    }
    if (ares_set_servers_ports_csv(channel, csv.c_str()) != ARES_SUCCESS) {
      return Fail(ErrorCode::kInvalid, "bad DNS server list: " + csv);
    }
  }
  Answer answer;
  ares_query(
      channel, name.c_str(), kClassIn, type,
      [](void* arg, int status, int, unsigned char* abuf, int alen) {
        auto* a = static_cast<Answer*>(arg);
        a->status = status;
        if (abuf && alen > 0) a->buf.assign(abuf, abuf + alen);
        a->done = true;
      },
      &answer);
  // poll(), not select(): a busy server has descriptors above FD_SETSIZE.
  while (!answer.done) {
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events) fds.push_back({socks[i], events, 0});
    }
    if (fds.empty()) break;
    timeval tv{};
    timeval* tvp = ares_timeout(channel, nullptr, &tv);
    int ms =
        tvp ? static_cast<int>(tvp->tv_sec * 1000 + tvp->tv_usec / 1000) : 1000;
    int n = poll(fds.data(), fds.size(), ms);
    if (n <= 0) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      continue;
    }
    for (auto& p : fds) {
      ares_process_fd(
          channel,
          p.revents & (POLLIN | POLLERR | POLLHUP) ? p.fd : ARES_SOCKET_BAD,
          p.revents & POLLOUT ? p.fd : ARES_SOCKET_BAD);
    }
  }
  return answer;
}

// Maps a failed query: NXDOMAIN is permanent, everything else transient.
std::unexpected<Error> QueryError(int status, const std::string& name) {
  if (status == ARES_ENOTFOUND) {
    return Fail(ErrorCode::kNotFound, name + ": no such domain");
  }
  return Fail(ErrorCode::kTemp,
              name + ": DNS lookup failed: " + ares_strerror(status));
}

std::string StripDot(std::string host) {
  if (!host.empty() && host.back() == '.') host.pop_back();
  return host;
}

}  // namespace

Resolver::Resolver(ResolverOptions options) : options_(std::move(options)) {}

Result<MxAnswer> Resolver::LookupMx(const std::string& domain) const {
  auto answer = Query(options_, domain, kTypeMx);
  if (!answer) return Fail(answer.error());
  MxAnswer out;
  if (answer->status == ARES_ENODATA) return out;
  if (answer->status != ARES_SUCCESS) return QueryError(answer->status, domain);
  ares_mx_reply* mx = nullptr;
  int st = ares_parse_mx_reply(answer->buf.data(),
                               static_cast<int>(answer->buf.size()), &mx);
  if (st == ARES_ENODATA) return out;
  if (st != ARES_SUCCESS) return QueryError(st, domain);
  for (ares_mx_reply* p = mx; p; p = p->next) {
    out.records.push_back(
        {p->priority, AsciiLowercase(StripDot(p->host ? p->host : ""))});
  }
  ares_free_data(mx);
  std::stable_sort(out.records.begin(), out.records.end(),
                   [](const MxRecord& a, const MxRecord& b) {
                     return a.preference < b.preference;
                   });
  // RFC 7505 §3: a single MX whose exchange is the root "." means the
  // domain accepts no mail.
  if (out.records.size() == 1 && out.records[0].host.empty()) {
    out.null_mx = true;
  }
  return out;
}

Result<std::vector<std::string>> Resolver::LookupAddresses(
    const std::string& host) const {
  std::vector<std::string> out;
  int failed = ARES_SUCCESS;
  bool exists = false;
  for (int type : {kTypeA, kTypeAaaa}) {
    auto answer = Query(options_, host, type);
    if (!answer) return Fail(answer.error());
    if (answer->status == ARES_ENODATA) {
      exists = true;
      continue;
    }
    if (answer->status != ARES_SUCCESS) {
      failed = answer->status;
      continue;
    }
    exists = true;
    char text[INET6_ADDRSTRLEN];
    const auto* buf = answer->buf.data();
    int len = static_cast<int>(answer->buf.size());
    if (type == kTypeA) {
      ares_addrttl addrs[32];
      int n = 32;
      hostent* he = nullptr;
      if (ares_parse_a_reply(buf, len, &he, addrs, &n) != ARES_SUCCESS) {
        continue;
      }
      if (he) ares_free_hostent(he);
      for (int i = 0; i < n; ++i) {
        inet_ntop(AF_INET, &addrs[i].ipaddr, text, sizeof text);
        out.emplace_back(text);
      }
    } else {
      ares_addr6ttl addrs[32];
      int n = 32;
      hostent* he = nullptr;
      if (ares_parse_aaaa_reply(buf, len, &he, addrs, &n) != ARES_SUCCESS) {
        continue;
      }
      if (he) ares_free_hostent(he);
      for (int i = 0; i < n; ++i) {
        inet_ntop(AF_INET6, &addrs[i].ip6addr, text, sizeof text);
        out.emplace_back(text);
      }
    }
  }
  if (out.empty() && !exists) return QueryError(failed, host);
  if (out.empty() && failed != ARES_SUCCESS && failed != ARES_ENOTFOUND) {
    return QueryError(failed, host);
  }
  return out;
}

Result<std::vector<std::string>> Resolver::MailHosts(
    const std::string& domain) const {
  auto mx = LookupMx(domain);
  if (!mx) return Fail(mx.error());
  if (mx->null_mx) {
    return Fail(ErrorCode::kPerm, domain + " accepts no mail (null MX)");
  }
  std::vector<std::string> hosts;
  for (const auto& r : mx->records) {
    // A stray root exchange among real ones is meaningless; skip it.
    if (!r.host.empty()) hosts.push_back(r.host);
  }
  // RFC 5321 §5.1: no MX records: the domain itself is the implicit MX.
  if (hosts.empty()) hosts.push_back(AsciiLowercase(domain));
  return hosts;
}

}  // namespace correio::dns
