// `correio serve`: open the store, make TLS material if needed, bind every
// listener, drop privileges, serve until SIGTERM/SIGINT (graceful) and
// reload certificates and log settings on SIGHUP.
#pragma once

#include "config/config.h"

namespace correio::app {

struct ServeOptions {
  config::Config config;
  std::string config_path;  // for SIGHUP reload; empty: defaults
  bool demo = false;        // create a demo domain and account when empty
};

// Returns the process exit code.
int Serve(ServeOptions options);

}  // namespace correio::app
