// A tiny authoritative DNS responder on a loopback UDP port, for tests of
// dns/ and queue/ (test-only, header-only). Answers A, AAAA and MX from a
// table; names not in the table get NXDOMAIN, known names without the
// asked type get an empty answer (NODATA); names in `servfail` get
// SERVFAIL. No compression, no TCP, no EDNS.
//
// Thread-safety: configure before Start(); `queries()` locks.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace correio::dns::testing {

class FakeDnsServer {
 public:
  struct Mx {
    uint16_t preference;
    std::string host;  // "" for the null MX "."
  };
  std::map<std::string, std::vector<Mx>> mx;
  std::map<std::string, std::vector<std::string>> a;     // "127.0.0.1"
  std::map<std::string, std::vector<std::string>> aaaa;  // "::1"
  std::set<std::string> servfail;
  std::set<std::string> exists;  // names with no records at all (NODATA)

  FakeDnsServer() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
  }
  ~FakeDnsServer() {
    Stop();
    close(fd_);
  }
  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<std::pair<std::string, int>> queries() {
    std::lock_guard lock(mu_);
    return queries_;
  }

 private:
  static void Put16(std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xff));
  }
  static void PutName(std::string& out, const std::string& name) {
    size_t start = 0;
    while (start < name.size()) {
      size_t dot = name.find('.', start);
      if (dot == std::string::npos) dot = name.size();
      out.push_back(static_cast<char>(dot - start));
      out.append(name, start, dot - start);
      start = dot + 1;
    }
    out.push_back('\0');
  }
  static std::string Lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(c));
    return s;
  }

  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      unsigned char buf[512];
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0,
                           reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 12) continue;
      // Question: name labels from offset 12, then type and class.
      size_t i = 12;
      std::string name;
      while (i < static_cast<size_t>(n) && buf[i] != 0) {
        size_t l = buf[i++];
        if (!name.empty()) name.push_back('.');
        name.append(reinterpret_cast<char*>(buf + i), l);
        i += l;
      }
      ++i;
      if (i + 4 > static_cast<size_t>(n)) continue;
      int type = buf[i] << 8 | buf[i + 1];
      size_t question_end = i + 4;
      name = Lower(name);
      {
        std::lock_guard lock(mu_);
        queries_.push_back({name, type});
      }
      std::string answers;
      int count = 0;
      int rcode = 0;
      bool known = mx.count(name) || a.count(name) || aaaa.count(name) ||
                   exists.count(name);
      if (servfail.count(name)) {
        rcode = 2;
      } else if (!known) {
        rcode = 3;
      } else {
        auto rr_head = [&](int t) {
          PutName(answers, name);
          Put16(answers, static_cast<uint16_t>(t));
          Put16(answers, 1);
          Put16(answers, 0);
          Put16(answers, 60);  // TTL
        };
        if (type == 15 && mx.count(name)) {
          for (auto& m : mx[name]) {
            std::string rdata;
            Put16(rdata, m.preference);
            PutName(rdata, m.host);
            rr_head(15);
            Put16(answers, static_cast<uint16_t>(rdata.size()));
            answers += rdata;
            ++count;
          }
        } else if (type == 1 && a.count(name)) {
          for (auto& ip : a[name]) {
            in_addr addr{};
            inet_pton(AF_INET, ip.c_str(), &addr);
            rr_head(1);
            Put16(answers, 4);
            answers.append(reinterpret_cast<char*>(&addr), 4);
            ++count;
          }
        } else if (type == 28 && aaaa.count(name)) {
          for (auto& ip : aaaa[name]) {
            in6_addr addr{};
            inet_pton(AF_INET6, ip.c_str(), &addr);
            rr_head(28);
            Put16(answers, 16);
            answers.append(reinterpret_cast<char*>(&addr), 16);
            ++count;
          }
        }
      }
      std::string out(reinterpret_cast<char*>(buf), question_end);
      out[2] = static_cast<char>(0x84 | (buf[2] & 0x01));  // QR, AA, RD
      out[3] = static_cast<char>(0x80 | rcode);            // RA, RCODE
      out[4] = 0;
      out[5] = 1;  // QDCOUNT
      out[6] = static_cast<char>(count >> 8);
      out[7] = static_cast<char>(count & 0xff);
      for (int k = 8; k < 12; ++k) out[k] = 0;
      out += answers;
      sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from),
             flen);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::pair<std::string, int>> queries_;
};

}  // namespace correio::dns::testing
