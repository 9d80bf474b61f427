// correio: one binary for the server and its admin commands.
//
//   correio serve [--config FILE] [--data DIR] [--demo]
//   correio domain add|list|remove NAME
//   correio user add ADDRESS [--password-stdin] [--quota SIZE]
//   correio user list | passwd ADDRESS | remove ADDRESS | show ADDRESS
//   correio alias add ADDRESS TARGET... | list | remove ADDRESS
//   correio store check | reindex
//   correio config check FILE | default
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "app/admin.h"
#include "app/serve.h"
#include "config/config.h"
#include "queue/admin.h"

namespace {

using namespace correio;

// Loads --config (or defaults) and applies --data. Prints every problem.
bool LoadSettings(const std::string& config_path, const std::string& data_dir,
                  config::Config* out) {
  if (!config_path.empty()) {
    std::vector<config::Problem> problems;
    auto cfg = config::LoadConfig(config_path, &problems);
    if (!cfg) {
      for (auto& p : problems) {
        std::cerr << config_path << ": " << p.ToString() << "\n";
      }
      if (problems.empty()) {
        std::cerr << "correio: " << cfg.error().message() << "\n";
      }
      return false;
    }
    *out = std::move(*cfg);
  }
  if (!data_dir.empty()) out->data_dir = data_dir;
  return true;
}

int Main(int argc, char** argv) {
  CLI::App app{"correio: SMTP, POP3 and IMAP from one binary over one store",
               "correio"};
  app.require_subcommand(1);
  // `correio serve --data DIR` and `correio --data DIR serve` both work:
  // subcommands hand options they do not know to the parent.
  app.fallthrough();
  app.set_version_flag("--version", CORREIO_VERSION);
  std::string config_path, data_dir;
  app.add_option("--config", config_path, "Configuration file (TOML)")
      ->check(CLI::ExistingFile);
  app.add_option("--data", data_dir,
                 "Data directory (overrides data_dir in the config)");

  auto* serve = app.add_subcommand("serve", "Run the server in the foreground");
  bool demo = false;
  serve->add_flag("--demo", demo,
                  "Create a demo domain and account when the store is empty");

  auto* domain = app.add_subcommand("domain", "Manage local domains");
  domain->require_subcommand(1);
  std::string name;
  auto* domain_add = domain->add_subcommand("add", "Add a local domain");
  domain_add->add_option("NAME", name)->required();
  auto* domain_list = domain->add_subcommand("list", "List local domains");
  auto* domain_remove = domain->add_subcommand("remove", "Remove a domain");
  domain_remove->add_option("NAME", name)->required();

  auto* user = app.add_subcommand("user", "Manage accounts");
  user->require_subcommand(1);
  app::UserAddOptions add;
  std::string address, quota;
  bool password_stdin = false;
  auto* user_add = user->add_subcommand("add", "Add an account");
  user_add->add_option("ADDRESS", add.address)->required();
  user_add->add_flag("--password-stdin", add.password_stdin,
                     "Read the password from standard input");
  user_add->add_option("--quota", add.quota, "Quota, e.g. 2G (default none)");
  auto* user_list = user->add_subcommand("list", "List accounts");
  auto* user_passwd = user->add_subcommand("passwd", "Set a new password");
  user_passwd->add_option("ADDRESS", address)->required();
  user_passwd->add_flag("--password-stdin", password_stdin,
                        "Read the password from standard input");
  auto* user_remove = user->add_subcommand(
      "remove", "Remove an account with all its mail");
  user_remove->add_option("ADDRESS", address)->required();
  auto* user_show = user->add_subcommand(
      "show", "Show quota use, mailboxes and message counts");
  user_show->add_option("ADDRESS", address)->required();
  auto* user_quota = user->add_subcommand("quota", "Set an account's quota");
  user_quota->add_option("ADDRESS", address)->required();
  user_quota->add_option("SIZE", quota, "e.g. 2G, or unlimited")->required();

  auto* alias = app.add_subcommand("alias", "Manage aliases");
  alias->require_subcommand(1);
  std::vector<std::string> targets;
  auto* alias_add = alias->add_subcommand(
      "add", "Add an alias (ADDRESS or catch-all @domain) to TARGET...");
  alias_add->add_option("ADDRESS", address)->required();
  alias_add->add_option("TARGET", targets)->required();
  auto* alias_list = alias->add_subcommand("list", "List aliases");
  auto* alias_remove = alias->add_subcommand("remove", "Remove an alias");
  alias_remove->add_option("ADDRESS", address)->required();

  auto* store_cmd = app.add_subcommand("store", "Check or repair the store");
  store_cmd->require_subcommand(1);
  auto* store_check = store_cmd->add_subcommand(
      "check",
      "Check the store's consistency, printing every problem (reads the "
      "whole store: minutes on a large one)");
  auto* store_reindex = store_cmd->add_subcommand(
      "reindex",
      "Queue every message the search index lacks (after losing or "
      "replacing correio-search.db) for the server's indexer, and drop "
      "the index's rows of deleted messages");
  bool reindex_all = false;
  store_reindex->add_flag("--all", reindex_all,
                          "Queue every message, indexed or not (after an "
                          "upgrade that decodes text differently)");

  auto* config_cmd = app.add_subcommand("config", "Check or print config");
  config_cmd->require_subcommand(1);
  std::string check_path;
  auto* config_check = config_cmd->add_subcommand(
      "check", "Check a config file, printing every problem with its line");
  config_check->add_option("FILE", check_path)->required();
  auto* config_default = config_cmd->add_subcommand(
      "default", "Print the commented default configuration");

  auto* queue_cmd = app.add_subcommand(
      "queue", "Outbound queue: list | show ID | retry ID|--all | flush | "
               "remove ID");
  // The words after `queue` go to queue::RunQueueCommand as they are.
  std::vector<std::string> queue_args;
  queue_cmd->add_option("ARGS", queue_args, "subcommand and its arguments");
  queue_cmd->allow_extras();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (config_check->parsed()) return app::ConfigCheck(check_path);
  if (config_default->parsed()) return app::ConfigDefault();

  config::Config cfg;
  if (!LoadSettings(config_path, data_dir, &cfg)) return 2;

  if (serve->parsed()) {
    app::ServeOptions options;
    options.config = std::move(cfg);
    options.config_path = config_path;
    options.demo = demo;
    return app::Serve(std::move(options));
  }
  if (domain_add->parsed()) return app::DomainAdd(cfg, name);
  if (domain_list->parsed()) return app::DomainList(cfg);
  if (domain_remove->parsed()) return app::DomainRemove(cfg, name);
  if (user_add->parsed()) return app::UserAdd(cfg, add);
  if (user_list->parsed()) return app::UserList(cfg);
  if (user_passwd->parsed()) return app::UserPasswd(cfg, address, password_stdin);
  if (user_remove->parsed()) return app::UserRemove(cfg, address);
  if (user_show->parsed()) return app::UserShow(cfg, address);
  if (user_quota->parsed()) return app::UserQuota(cfg, address, quota);
  if (alias_add->parsed()) return app::AliasAdd(cfg, address, targets);
  if (alias_list->parsed()) return app::AliasList(cfg);
  if (alias_remove->parsed()) return app::AliasRemove(cfg, address);
  if (store_check->parsed()) return app::StoreCheck(cfg);
  if (store_reindex->parsed()) return app::StoreReindex(cfg, reindex_all);
  if (queue_cmd->parsed()) {
    std::vector<std::string> args = queue_args;
    for (auto& extra : queue_cmd->remaining()) args.push_back(extra);
    return queue::RunQueueCommand(cfg, args, std::cout, std::cerr);
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    // Never a stack trace: say what broke and exit non-zero.
    std::cerr << "correio: fatal: " << e.what() << "\n";
    return 1;
  }
}
