// Delivery and recipient resolution: what SMTP (RCPT, end of DATA), IMAP
// (APPEND) and the queue (bounces) share (ARCHITECTURE "Inbound mail").
//
// A message is parsed once here (mime::Parse) into the NewBlob the store
// keeps beside the bytes: the serialized summary IMAP answers FETCH from,
// and the decoded text the full-text index is built from.
//
// All functions block (store access): call them through net::RunBlocking.
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "store/store.h"
#include "store/types.h"

namespace correio::mail {

// Parses `data` (exact octets, CRLF line ends) and builds the blob to store.
// Never fails on malformed mail (best effort, as mime::Parse); fails with
// kTooBig only for input no store could hold.
Result<store::NewBlob> PrepareBlob(std::string data);

// Where mail for one address goes after aliases are followed.
struct Resolution {
  std::vector<store::Account> local;  // distinct accounts (by id)
  std::vector<std::string> remote;    // alias targets outside our domains
};

// Resolves a recipient address: an account, else an exact alias, else the
// domain's catch-all alias "@domain". Alias targets are resolved again, up
// to kMaxAliasDepth levels, cycles ignored. Errors: kNotFound when the
// domain is local but nobody has the address (SMTP 550 5.1.1); kPerm when
// the domain is not local (the caller decides: relay or refuse).
inline constexpr int kMaxAliasDepth = 8;
Result<Resolution> ResolveRecipient(store::Store& store,
                                    std::string_view address);

// True when `address` belongs to `account`: its own address or an alias
// (not a catch-all) whose targets include it. Submission uses this for the
// envelope sender check (553 5.7.1).
Result<bool> OwnsAddress(store::Store& store, const store::Account& account,
                         std::string_view address);

// Delivers one prepared blob into the INBOX of each account, in one store
// transaction (all or nothing; kOverQuota if any account is over quota).
Result<std::vector<store::Delivered>> DeliverToInboxes(
    store::Store& store, const store::NewBlob& blob,
    const std::vector<store::AccountId>& accounts, int64_t internal_date,
    uint64_t origin = 0);

// Prepends trace headers: "Return-Path: <sender>" at final delivery
// (RFC 5321 §4.4). `sender` empty means the null reverse-path "<>".
std::string ReturnPathHeader(std::string_view sender);

}  // namespace correio::mail
