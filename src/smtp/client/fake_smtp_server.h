// A scripted SMTP server on loopback for tests of smtp/client and queue/
// (test-only, header-only; not linked into the server). One thread accepts,
// one thread per connection answers line by line, which also serves
// pipelined commands in order.
//
// Thread-safety: the accessors lock; configure before the first connection.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace correio::smtp::client::testing {

struct ReceivedMessage {
  std::string mail_line;  // "MAIL FROM:<a@b> SIZE=12"
  std::vector<std::string> rcpt_lines;
  std::string data;  // dot-unstuffed, with CRLF
};

class FakeSmtpServer {
 public:
  // Behaviour, set before connections arrive.
  std::vector<std::string> ehlo_keywords = {
      "PIPELINING", "8BITMIME", "SIZE 10000000", "DSN", "ENHANCEDSTATUSCODES"};
  std::string greeting = "220 fake.test ESMTP";
  bool refuse_ehlo = false;  // answer EHLO with 502: client must use HELO
  // Per recipient address (lowercase): the RCPT reply; default 250.
  std::map<std::string, std::string> rcpt_replies;
  // Replies to successive end-of-data; when exhausted, "250 2.0.0 queued".
  std::vector<std::string> data_replies;
  std::string mail_reply = "250 2.1.0 OK";
  bool drop_in_data = false;   // close the connection after the DATA 354
  bool endless_reply = false;  // answer EHLO with a never-ending reply
  std::string auth_reply = "235 2.7.0 OK";

  FakeSmtpServer() : acceptor_(io_) {
    using boost::asio::ip::tcp;
    tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
  }
  ~FakeSmtpServer() { Stop(); }

  void Start() {
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  void Stop() {
    if (stopped_.exchange(true)) return;
    boost::system::error_code ec;
    {
      // A blocking accept does not wake on close(): connect to it instead.
      boost::asio::io_context io;
      Socket wake(io);
      wake.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    acceptor_.close(ec);
    {
      std::lock_guard lock(mu_);
      for (auto& s : sockets_) {
        s->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
      }
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    for (auto& t : threads_) t.join();
  }
  uint16_t port() const { return port_; }

  std::vector<ReceivedMessage> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  std::vector<std::string> commands() {
    std::lock_guard lock(mu_);
    return commands_;
  }
  int connections() const { return connections_.load(); }

 private:
  using Socket = boost::asio::ip::tcp::socket;

  void AcceptLoop() {
    for (;;) {
      auto sock = std::make_shared<Socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*sock, ec);
      if (ec || stopped_) return;
      ++connections_;
      std::lock_guard lock(mu_);
      sockets_.push_back(sock);
      threads_.emplace_back([this, sock] { Serve(*sock); });
    }
  }

  static bool Send(Socket& s, const std::string& text) {
    boost::system::error_code ec;
    boost::asio::write(s, boost::asio::buffer(text), ec);
    return !ec;
  }

  void Serve(Socket& s) {
    boost::asio::streambuf buf;
    boost::system::error_code ec;
    auto read_line = [&](std::string* line) {
      boost::asio::read_until(s, buf, "\n", ec);
      if (ec) return false;
      std::istream in(&buf);
      std::getline(in, *line);
      if (!line->empty() && line->back() == '\r') line->pop_back();
      return true;
    };
    if (!Send(s, greeting + "\r\n")) return;
    ReceivedMessage current;
    std::string line;
    while (read_line(&line)) {
      {
        std::lock_guard lock(mu_);
        commands_.push_back(line);
      }
      std::string upper;
      for (char c : line.substr(0, 10)) upper.push_back(std::toupper(c));
      std::string reply;
      if (upper.starts_with("EHLO")) {
        if (endless_reply) {
          while (!stopped_ && Send(s, "250-endless\r\n")) {
          }
          return;
        }
        if (refuse_ehlo) {
          reply = "502 5.5.2 no EHLO here";
        } else {
          reply = "250-fake.test";
          for (auto& k : ehlo_keywords) reply += "\r\n250-" + k;
          reply += "\r\n250 HELP";
        }
      } else if (upper.starts_with("HELO")) {
        reply = "250 fake.test";
      } else if (upper.starts_with("MAIL")) {
        current = ReceivedMessage{};
        current.mail_line = line;
        reply = mail_reply;
      } else if (upper.starts_with("RCPT")) {
        size_t lt = line.find('<'), gt = line.find('>');
        std::string addr = lt != std::string::npos && gt != std::string::npos
                               ? line.substr(lt + 1, gt - lt - 1)
                               : "";
        for (auto& c : addr) c = std::tolower(c);
        auto it = rcpt_replies.find(addr);
        reply = it != rcpt_replies.end() ? it->second : "250 2.1.5 OK";
        if (reply[0] == '2') current.rcpt_lines.push_back(line);
      } else if (upper.starts_with("DATA")) {
        if (current.rcpt_lines.empty()) {
          reply = "554 5.5.1 no valid recipients";
        } else {
          if (!Send(s, "354 go ahead\r\n")) return;
          if (drop_in_data) {
            s.shutdown(Socket::shutdown_both, ec);
            return;
          }
          std::string data;
          while (read_line(&line)) {
            if (line == ".") break;
            if (!line.empty() && line[0] == '.') line.erase(0, 1);
            data += line + "\r\n";
          }
          if (ec) return;
          current.data = data;
          std::lock_guard lock(mu_);
          if (!data_replies.empty()) {
            reply = data_replies.front();
            data_replies.erase(data_replies.begin());
          } else {
            reply = "250 2.0.0 queued";
          }
          if (reply[0] == '2') messages_.push_back(current);
          current = ReceivedMessage{};
        }
      } else if (upper.starts_with("AUTH")) {
        reply = auth_reply;
      } else if (upper.starts_with("RSET")) {
        current = ReceivedMessage{};
        reply = "250 2.0.0 OK";
      } else if (upper.starts_with("QUIT")) {
        Send(s, "221 2.0.0 bye\r\n");
        return;
      } else {
        reply = "502 5.5.2 unknown";
      }
      if (!Send(s, reply + "\r\n")) return;
    }
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<Socket>> sockets_;
  std::vector<ReceivedMessage> messages_;
  std::vector<std::string> commands_;
};

}  // namespace correio::smtp::client::testing
