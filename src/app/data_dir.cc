#include "app/data_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <openssl/rand.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "net/tls.h"
#include "store/sqlite/sqlite_store.h"

namespace correio::app {

namespace fs = std::filesystem;

Status PrepareDataDir(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      return Fail(ErrorCode::kInvalid,
                  "data directory " + dir + " exists and is not a directory");
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec) {
      return Fail(ErrorCode::kPerm, "cannot create data directory " + dir +
                                        ": " + ec.message());
    }
    ::chmod(dir.c_str(), 0700);
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return Fail(ErrorCode::kPerm, "data directory " + dir +
                                      " is not writable: " + strerror(errno));
  }
  return {};
}

Result<std::string> LoadOrCreateSaslSecret(const std::string& dir) {
  std::string path = dir + "/sasl-secret";
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::string secret((std::istreambuf_iterator<char>(in)),
                       std::istreambuf_iterator<char>());
    if (secret.size() >= 32) return secret;
  }
  std::string secret(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), 32) != 1) {
    return Fail(ErrorCode::kInternal, "no randomness for the SASL secret");
  }
  int fd = ::open((path + ".tmp").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return Fail(ErrorCode::kPerm, "cannot write " + path);
  bool ok = ::write(fd, secret.data(), secret.size()) ==
                static_cast<ssize_t>(secret.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    return Fail(ErrorCode::kPerm, "cannot write " + path);
  }
  return secret;
}

Result<std::unique_ptr<store::Store>> OpenStore(const config::Config& config,
                                                store::ChangeHub* hub,
                                                bool background_work) {
  if (config.store != "sqlite") {
    return Fail(ErrorCode::kInvalid, "store backend '" + config.store +
                                         "' is not available in this build");
  }
  auto st = PrepareDataDir(config.data_dir);
  if (!st) return Fail(st.error());
  store::SqliteOptions options;
  options.path = (fs::path(config.data_dir) / "correio.db").string();
  options.background_index = background_work;
  options.index_delay = std::chrono::seconds(config.search.index_delay_seconds);
  return store::OpenSqliteStore(options, hub);
}

Result<TlsFiles> EnsureTlsFiles(const config::Config& config,
                                const std::string& hostname) {
  TlsFiles files;
  if (!config.tls.cert_file.empty()) {
    files.cert = config.tls.cert_file;
    files.key = config.tls.key_file;
    return files;
  }
  fs::path dir = fs::path(config.data_dir) / "tls";
  files.cert = (dir / "cert.pem").string();
  files.key = (dir / "key.pem").string();
  std::error_code ec;
  if (fs::exists(files.cert, ec) && fs::exists(files.key, ec)) return files;
  fs::create_directories(dir, ec);
  if (ec) {
    return Fail(ErrorCode::kPerm,
                "cannot create " + dir.string() + ": " + ec.message());
  }
  auto st = net::GenerateSelfSigned(files.cert, files.key, hostname);
  if (!st) return Fail(st.error());
  files.generated = true;
  return files;
}

std::string ResolveHostname(const config::Config& config) {
  if (!config.hostname.empty()) return config.hostname;
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
  return "localhost";
}

}  // namespace correio::app
