#include "store/store.h"

namespace correio::store {

const std::vector<DefaultMailbox>& DefaultMailboxes() {
  static const std::vector<DefaultMailbox> kDefaults = {
      {"INBOX", SpecialUse::kNone},    {"Sent", SpecialUse::kSent},
      {"Drafts", SpecialUse::kDrafts}, {"Trash", SpecialUse::kTrash},
      {"Junk", SpecialUse::kJunk},     {"Archive", SpecialUse::kArchive},
  };
  return kDefaults;
}

const char* SpecialUseAttribute(SpecialUse use) {
  switch (use) {
    case SpecialUse::kNone:
      return "";
    case SpecialUse::kAll:
      return "\\All";
    case SpecialUse::kArchive:
      return "\\Archive";
    case SpecialUse::kDrafts:
      return "\\Drafts";
    case SpecialUse::kFlagged:
      return "\\Flagged";
    case SpecialUse::kJunk:
      return "\\Junk";
    case SpecialUse::kSent:
      return "\\Sent";
    case SpecialUse::kTrash:
      return "\\Trash";
  }
  return "";
}

}  // namespace correio::store
