#include "net/tls.h"

#include <string_view>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

namespace correio::net {

namespace {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

struct FileCloser {
  void operator()(FILE* f) const { fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

// RFC 7301 §3.2: `in` is the client's list, each id prefixed by its length.
int SelectAlpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  const auto* want =
      static_cast<const std::string*>(SSL_get_ex_data(ssl, AlpnExDataIndex()));
  if (want == nullptr || want->empty()) return SSL_TLSEXT_ERR_NOACK;
  for (unsigned int i = 0; i < inlen;) {
    unsigned int n = in[i];
    if (n == 0 || i + 1 + n > inlen) break;  // malformed: refuse below
    std::string_view offered(reinterpret_cast<const char*>(in + i + 1), n);
    if (offered == *want) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

int AlpnExDataIndex() {
  static const int index =
      SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

Result<std::shared_ptr<boost::asio::ssl::context>> TlsContext::Build(
    const std::string& cert_file, const std::string& key_file) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* raw = ctx->native_handle();
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(raw, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(raw, SelectAlpn, nullptr);
  // TLS 1.2: ECDHE with AEAD only. TLS 1.3 suites are all AEAD.
  if (SSL_CTX_set_cipher_list(
          raw,
          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    return Fail(ErrorCode::kInternal, "cipher list: " + OpenSslError());
  }
  if (SSL_CTX_use_certificate_chain_file(raw, cert_file.c_str()) != 1) {
    return Fail(ErrorCode::kInvalid,
                "cannot load certificate " + cert_file + ": " + OpenSslError());
  }
  if (SSL_CTX_use_PrivateKey_file(raw, key_file.c_str(), SSL_FILETYPE_PEM) !=
      1) {
    return Fail(ErrorCode::kInvalid,
                "cannot load key " + key_file + ": " + OpenSslError());
  }
  if (SSL_CTX_check_private_key(raw) != 1) {
    return Fail(ErrorCode::kInvalid, "key " + key_file +
                                         " does not match certificate " +
                                         cert_file);
  }
  return ctx;
}

Result<std::shared_ptr<TlsContext>> TlsContext::Load(
    const std::string& cert_file, const std::string& key_file) {
  auto ctx = Build(cert_file, key_file);
  if (!ctx) return Fail(ctx.error());
  auto t = std::make_shared<TlsContext>();
  t->cert_file_ = cert_file;
  t->key_file_ = key_file;
  t->ctx_ = std::move(*ctx);
  return t;
}

Status TlsContext::Reload() {
  auto ctx = Build(cert_file_, key_file_);
  if (!ctx) return Fail(ctx.error());
  std::lock_guard lock(mu_);
  ctx_ = std::move(*ctx);
  return {};
}

std::shared_ptr<boost::asio::ssl::context> TlsContext::Current() const {
  std::lock_guard lock(mu_);
  return ctx_;
}

Status GenerateSelfSigned(const std::string& cert_file,
                          const std::string& key_file,
                          const std::string& hostname) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return Fail(ErrorCode::kInternal, "keygen: " + OpenSslError());
  std::unique_ptr<X509, decltype(&X509_free)> x509(X509_new(), X509_free);
  X509_set_version(x509.get(), 2);
  // A random 64-bit serial: clients reject two certs with one serial+issuer.
  unsigned char serial[8];
  FILE* ur = fopen("/dev/urandom", "rb");
  if (!ur || fread(serial, 1, sizeof serial, ur) != sizeof serial) {
    if (ur) fclose(ur);
    return Fail(ErrorCode::kInternal, "cannot read /dev/urandom");
  }
  fclose(ur);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x509.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x509.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(x509.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x509.get());
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(
      name, "O", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>("correio self-signed"), -1, -1, 0);
  X509_set_issuer_name(x509.get(), name);
  std::string san = "DNS:" + hostname + ",DNS:localhost,IP:127.0.0.1";
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x509.get(), x509.get(), nullptr, nullptr, 0);
  for (auto [nid, value] :
       {std::pair{NID_subject_alt_name, san.c_str()},
        std::pair{NID_basic_constraints, "critical,CA:FALSE"},
        std::pair{NID_ext_key_usage, "serverAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (!ext) return Fail(ErrorCode::kInternal, "x509 ext: " + OpenSslError());
    X509_add_ext(x509.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x509.get(), key.get(), EVP_sha256()) == 0) {
    return Fail(ErrorCode::kInternal, "x509 sign: " + OpenSslError());
  }
  {
    mode_t old = umask(077);
    File kf(fopen(key_file.c_str(), "wb"));
    umask(old);
    if (!kf) return Fail(ErrorCode::kPerm, "cannot write " + key_file);
    if (PEM_write_PrivateKey(kf.get(), key.get(), nullptr, nullptr, 0, nullptr,
                             nullptr) != 1) {
      return Fail(ErrorCode::kInternal, "write key: " + OpenSslError());
    }
  }
  File cf(fopen(cert_file.c_str(), "wb"));
  if (!cf) return Fail(ErrorCode::kPerm, "cannot write " + cert_file);
  if (PEM_write_X509(cf.get(), x509.get()) != 1) {
    return Fail(ErrorCode::kInternal, "write cert: " + OpenSslError());
  }
  return {};
}

Result<std::string> CertificateFingerprint(const std::string& cert_file) {
  File f(fopen(cert_file.c_str(), "rb"));
  if (!f) return Fail(ErrorCode::kNotFound, "cannot open " + cert_file);
  std::unique_ptr<X509, decltype(&X509_free)> x509(
      PEM_read_X509(f.get(), nullptr, nullptr, nullptr), X509_free);
  if (!x509) return Fail(ErrorCode::kInvalid, "not a PEM certificate");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(x509.get(), EVP_sha256(), md, &n);
  std::string out;
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned i = 0; i < n; ++i) {
    if (i) out.push_back(':');
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

}  // namespace correio::net
