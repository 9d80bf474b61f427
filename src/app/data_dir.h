// The embedded data directory: one place for the store file, the TLS
// material the server made for itself, and the demo credentials.
//
//   <data>/correio.db            SQLite store (+ -wal, -shm)
//   <data>/correio-search.db     its full-text index (+ -wal, -shm)
//   <data>/correio-directory.version  a counter the processes share
//                                (Store::DirectoryVersion)
//   <data>/queue.db              the outbound queue's spool
//   <data>/sasl-secret           LoadOrCreateSaslSecret below
//   <data>/tls/cert.pem, key.pem self-signed, made when none is configured
//   <data>/demo-credentials.txt  written once by `serve --demo`
//
// Admin commands and the server open the same directory at once; SQLite's
// locking makes that safe.
#pragma once

#include <memory>
#include <string>

#include "base/error.h"
#include "config/config.h"
#include "store/change_hub.h"
#include "store/store.h"

namespace correio::app {

// Creates the directory (mode 0700) if missing; fails clearly when the path
// is a file or not writable.
Status PrepareDataDir(const std::string& dir);

// Reads <dir>/sasl-secret, creating it (32 random bytes, mode 0600) on
// first use: the key behind the fake SCRAM salts of unknown users, kept so
// they do not change on restart (auth::SetSaslSecret).
Result<std::string> LoadOrCreateSaslSecret(const std::string& dir);

// Opens the configured store backend in the data directory. The server
// passes background_work = true (the full-text indexer runs in it); the
// admin CLI false.
Result<std::unique_ptr<store::Store>> OpenStore(const config::Config& config,
                                                store::ChangeHub* hub,
                                                bool background_work);

struct TlsFiles {
  std::string cert, key;
  bool generated = false;
};
// The configured cert/key, or the self-signed pair in <data>/tls (made now
// if missing).
Result<TlsFiles> EnsureTlsFiles(const config::Config& config,
                                const std::string& hostname);

// The machine's host name when config.hostname is empty.
std::string ResolveHostname(const config::Config& config);

}  // namespace correio::app
