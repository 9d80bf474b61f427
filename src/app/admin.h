// Admin subcommands: domain, user, alias, store, config. Each opens the data
// directory's store directly, so they work while the server runs (SQLite
// serialises writers across processes).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace correio::app {

// Each returns the process exit code and prints to stdout/stderr.
int DomainAdd(const config::Config& cfg, const std::string& name);
int DomainList(const config::Config& cfg);
int DomainRemove(const config::Config& cfg, const std::string& name);

struct UserAddOptions {
  std::string address;
  bool password_stdin = false;
  std::string quota;  // "" = unlimited, else a size like "2G"
};
int UserAdd(const config::Config& cfg, const UserAddOptions& options);
int UserList(const config::Config& cfg);
int UserPasswd(const config::Config& cfg, const std::string& address,
               bool password_stdin);
int UserRemove(const config::Config& cfg, const std::string& address);
int UserShow(const config::Config& cfg, const std::string& address);
int UserQuota(const config::Config& cfg, const std::string& address,
              const std::string& quota);

int AliasAdd(const config::Config& cfg, const std::string& source,
             const std::vector<std::string>& targets);
int AliasList(const config::Config& cfg);
int AliasRemove(const config::Config& cfg, const std::string& source);

// `store check`: the store's consistency (Store::CheckIntegrity), each
// problem on a line; exit 1 if there is any. `store reindex`: drops the
// search index's rows of bodies that are gone and queues every stored
// body it lacks (a lost or replaced correio-search.db), or with `all`
// every stored body, for the server's indexer (Store::Reindex).
int StoreCheck(const config::Config& cfg);
int StoreReindex(const config::Config& cfg, bool all);

int ConfigCheck(const std::string& path);
int ConfigDefault();

}  // namespace correio::app
