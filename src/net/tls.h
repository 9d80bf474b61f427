// TLS for every listener: one server context, reloadable on SIGHUP.
//
// Policy: TLS 1.2 and 1.3 only, AEAD ciphers with forward secrecy, no
// renegotiation, no compression. Buffers are released while a connection
// is idle (SSL_MODE_RELEASE_BUFFERS) to keep idle IMAP connections small.
//
// Thread-safety: TlsContext::Current() and Reload() may race; readers get
// the old or the new context, each valid for as long as they hold it.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <mutex>
#include <string>

#include "base/error.h"

namespace correio::net {

class TlsContext {
 public:
  // Loads cert (chain, PEM) and key (PEM); checks they match.
  static Result<std::shared_ptr<TlsContext>> Load(const std::string& cert_file,
                                                  const std::string& key_file);
  // Loads the files again; on failure the old context stays in use.
  Status Reload();
  std::shared_ptr<boost::asio::ssl::context> Current() const;
  const std::string& cert_file() const { return cert_file_; }

 private:
  static Result<std::shared_ptr<boost::asio::ssl::context>> Build(
      const std::string& cert_file, const std::string& key_file);

  std::string cert_file_, key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
};

// ALPN (RFC 7301) as a guard against cross-protocol attacks (ALPACA: a
// browser's HTTPS request sent to a mail port): each connection carries
// the protocol id of its listener ("imap", "pop3", "smtp") in the SSL
// object's ex_data at this index (Connection::SetAlpn). A client that
// offers ALPN without that id is refused with a fatal
// no_application_protocol alert; one that offers it gets it; one that
// offers none is served as before (mail clients rarely send ALPN).
int AlpnExDataIndex();

// Writes a fresh self-signed certificate (EC P-256, SHA-256, SAN = hostname
// and localhost, valid 10 years) and its key (mode 0600).
Status GenerateSelfSigned(const std::string& cert_file,
                          const std::string& key_file,
                          const std::string& hostname);

// The SHA-256 fingerprint of a PEM certificate file, "AB:CD:..." (printed at
// start so users can check what their client shows).
Result<std::string> CertificateFingerprint(const std::string& cert_file);

}  // namespace correio::net
