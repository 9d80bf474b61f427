// SEARCH (RFC 9051 §6.4.4) with ESEARCH (RFC 4731), SEARCHRES (RFC 5182),
// WITHIN (RFC 5032), SAVEDATE (RFC 8514), OBJECTID (RFC 8474); SORT and
// THREAD (RFC 5256), ESORT (RFC 5267).
//
// BODY and TEXT are answered from the store's full-text index (SearchText);
// flags, UIDs and sequence numbers from the view; dates and sizes from the
// message rows; header keys from the stored header bytes, decoded, read
// only for the messages the index names as candidates (HeaderCandidates).
#include <ctime>
#include <map>

#include "base/strings.h"
#include "imap/proto/sequence.h"
#include "imap/proto/sort_thread.h"
#include "imap/server/session_internal.h"
#include "mime/message.h"

namespace correio::imap {

namespace {

using K = SearchKey::Kind;

struct TextHits {
  const SearchKey* key;
  std::vector<store::Uid> uids;  // sorted
};

struct Input {
  ViewEntries entries;  // shares the session's array
  std::unordered_map<store::Uid, std::vector<std::string>> keywords;
  std::vector<store::Uid> saved;
  std::vector<TextHits> text;
  std::vector<TextHits> header_candidates;
  int64_t now = 0;
  store::MailboxId mailbox = 0;
  bool need_row = false;
  // A key needs every message's header (SENT*, a header key without a
  // value): no index pre-filter applies.
  bool header_all = false;
};

// A header key whose value the index can pre-filter on.
bool HasHeaderValue(const SearchKey& k) {
  switch (k.kind) {
    case K::kBcc: case K::kCc: case K::kFrom: case K::kTo: case K::kSubject:
    case K::kHeader:
      return !k.value.empty();
    default:
      return false;
  }
}

// Collects the BODY/TEXT keys (answered by the index) and the header keys
// with a value (pre-filtered by it).
void Walk(const SearchKey& k, Input& in, std::vector<const SearchKey*>& text,
          std::vector<const SearchKey*>& headers) {
  if (HasHeaderValue(k)) headers.push_back(&k);
  switch (k.kind) {
    case K::kBody:
    case K::kText:
      if (!k.value.empty()) text.push_back(&k);
      break;
    case K::kBefore: case K::kOn: case K::kSince: case K::kLarger:
    case K::kSmaller: case K::kOlder: case K::kYounger:
    case K::kSaveDateBefore: case K::kSaveDateOn: case K::kSaveDateSince:
    case K::kEmailId:
      in.need_row = true;
      break;
    case K::kBcc: case K::kCc: case K::kFrom: case K::kTo: case K::kSubject:
    case K::kHeader: case K::kSentBefore: case K::kSentOn: case K::kSentSince:
      in.need_row = true;
      if (!HasHeaderValue(k)) in.header_all = true;
      break;
    default:
      break;
  }
  for (const auto& c : k.children) Walk(c, in, text, headers);
}

// The index's header text of a message is capped (mime
// kMaxSearchHeaderBytes, 256 KiB); decoding can grow a header up to 3x
// (8-bit octets become U+FFFD). A message up to this size therefore has
// all of its header in the index, and one the index does not name cannot
// match a header key; larger ones are always read.
constexpr uint64_t kHeaderIndexComplete = 64 * 1024;

int64_t Day(int64_t t) { return (t >= 0 ? t : t - 86399) / 86400 * 86400; }

struct Message {
  View::Entry entry;
  uint32_t seq = 0;
  const store::MessageRow* row = nullptr;
  // The raw header block, read by RunSearch for every message a header key
  // may look at (see may_need_header there). Null when not read, or when
  // the message went away meanwhile: it then matches no header key.
  const std::string* Header() const { return header ? &*header : nullptr; }
  std::optional<std::string> header;
};

bool InSet(const SequenceSet& set, uint32_t n, uint32_t star) {
  for (const auto& [a, b] : NormalizeRanges(set, star)) {
    if (n >= a && n <= b) return true;
  }
  return false;
}

// Whether the decoded field value `raw` contains `needle` (ASCII case
// folded). Memory stays bounded for any field size: a value longer than
// kWindow octets (a 47 MB To: field is within the message size limit) is
// decoded a window at a time, each cut at folding whitespace and carrying
// the previous window's last octets, so a needle across a cut is found. A
// cut joins the two sides with one space, as unfolding would (a run of
// spaces there counts as one).
bool ValueContains(std::string_view raw, const std::string& needle) {
  constexpr size_t kWindow = 1 << 20;
  std::string carry;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t end = raw.size();
    bool cut = false;
    if (end - pos > kWindow) {
      end = pos + kWindow;
      size_t space = raw.find_last_of(" \t", end);
      if (space != std::string_view::npos && space > pos) {
        end = space;
        cut = true;
      }
    }
    std::string text = carry;
    text += mime::DecodeHeaderValue(raw.substr(pos, end - pos));
    text = AsciiLowercase(text);
    if (text.find(needle) != std::string::npos) return true;
    if (cut) text += ' ';
    size_t keep = std::min(text.size(), needle.size());
    carry = text.substr(text.size() - keep);
    pos = end;
  }
  return false;
}

bool HeaderContains(const std::string& header, std::string_view field,
                    std::string_view value) {
  std::string needle = AsciiLowercase(value);
  for (auto v : mime::FindHeaders(header, field)) {
    if (value.empty() || ValueContains(v, needle)) return true;
  }
  return false;
}

// A header key: first the index (a message it does not name cannot match,
// kHeaderIndexComplete), then the header itself.
bool MatchHeader(const SearchKey& k, std::string_view field, const Message& m,
                 const Input& in) {
  if (HasHeaderValue(k) && m.row->size <= kHeaderIndexComplete) {
    for (const auto& c : in.header_candidates) {
      if (c.key == &k &&
          !std::binary_search(c.uids.begin(), c.uids.end(), m.entry.uid())) {
        return false;
      }
    }
  }
  const std::string* header = m.Header();
  return header != nullptr && HeaderContains(*header, field, k.value);
}

bool Match(const SearchKey& k, const Message& m, const Input& in) {
  const View::Entry& e = m.entry;
  auto sys = [&](uint32_t f) { return (e.system & f) != 0; };
  auto sent_day = [&]() -> std::optional<int64_t> {
    const std::string* header = m.Header();
    if (header == nullptr) return std::nullopt;
    auto dates = mime::FindHeaders(*header, "Date");
    if (dates.empty()) return std::nullopt;
    auto dt = mime::ParseDateTime(mime::UnfoldHeaderValue(dates[0]));
    if (!dt) return std::nullopt;
    // RFC 9051 §6.4.4: the date in the sender's time zone.
    return Day(dt->unix_seconds + dt->tz_offset_minutes * 60);
  };
  switch (k.kind) {
    case K::kAnd:
      for (const auto& c : k.children) {
        if (!Match(c, m, in)) return false;
      }
      return true;
    case K::kAll: return true;
    case K::kNot: return !Match(k.children[0], m, in);
    case K::kOr:
      return Match(k.children[0], m, in) || Match(k.children[1], m, in);
    case K::kAnswered: return sys(store::kFlagAnswered);
    case K::kDeleted: return sys(store::kFlagDeleted);
    case K::kDraft: return sys(store::kFlagDraft);
    case K::kFlagged: return sys(store::kFlagFlagged);
    case K::kSeen: return sys(store::kFlagSeen);
    case K::kUnanswered: return !sys(store::kFlagAnswered);
    case K::kUndeleted: return !sys(store::kFlagDeleted);
    case K::kUndraft: return !sys(store::kFlagDraft);
    case K::kUnflagged: return !sys(store::kFlagFlagged);
    case K::kUnseen: return !sys(store::kFlagSeen);
    // \Recent is not kept (RFC 9051 removed it): nothing is recent.
    case K::kRecent: return false;
    case K::kNew: return false;
    case K::kOld: return true;
    case K::kKeyword:
    case K::kUnkeyword: {
      bool has = false;
      if (auto it = in.keywords.find(e.uid()); it != in.keywords.end()) {
        for (const auto& kw : it->second) {
          if (EqualsIgnoreCase(kw, k.value)) has = true;
        }
      }
      return k.kind == K::kKeyword ? has : !has;
    }
    case K::kSeqSet:
      if (k.set.saved) {
        return std::find(in.saved.begin(), in.saved.end(), e.uid()) !=
               in.saved.end();
      }
      return InSet(k.set, m.seq, static_cast<uint32_t>(in.entries.size()));
    case K::kUid:
      if (k.set.saved) {
        return std::find(in.saved.begin(), in.saved.end(), e.uid()) !=
               in.saved.end();
      }
      return InSet(k.set, e.uid(),
                   in.entries.empty() ? 0 : in.entries.back().uid());
    case K::kModSeq: return e.modseq() >= k.number;
    case K::kSaveDateSupported: return true;
    case K::kThreadId: return false;
    case K::kBody:
    case K::kText: {
      if (k.value.empty()) return true;
      for (const auto& t : in.text) {
        if (t.key == &k) {
          return std::binary_search(t.uids.begin(), t.uids.end(), e.uid());
        }
      }
      return false;
    }
    default:
      break;
  }
  if (!m.row) return false;  // expunged meanwhile
  const store::MessageRow& r = *m.row;
  switch (k.kind) {
    case K::kBefore: return Day(r.internal_date) < k.date;
    case K::kOn: return Day(r.internal_date) == k.date;
    case K::kSince: return Day(r.internal_date) >= k.date;
    case K::kSaveDateBefore: return Day(r.save_date) < k.date;
    case K::kSaveDateOn: return Day(r.save_date) == k.date;
    case K::kSaveDateSince: return Day(r.save_date) >= k.date;
    case K::kLarger: return r.size > k.number;
    case K::kSmaller: return r.size < k.number;
    // RFC 5032 §3: OLDER n = internal date at least n seconds ago.
    case K::kOlder: return r.internal_date <= in.now - static_cast<int64_t>(k.number);
    case K::kYounger: return r.internal_date >= in.now - static_cast<int64_t>(k.number);
    case K::kEmailId: return k.value == "M" + std::to_string(r.id);
    case K::kFrom: return MatchHeader(k, "From", m, in);
    case K::kTo: return MatchHeader(k, "To", m, in);
    case K::kCc: return MatchHeader(k, "Cc", m, in);
    case K::kBcc: return MatchHeader(k, "Bcc", m, in);
    case K::kSubject: return MatchHeader(k, "Subject", m, in);
    case K::kHeader: return MatchHeader(k, k.field, m, in);
    case K::kSentBefore: {
      auto d = sent_day();
      return d && *d < k.date;
    }
    case K::kSentOn: {
      auto d = sent_day();
      return d && *d == k.date;
    }
    case K::kSentSince: {
      auto d = sent_day();
      return d && *d >= k.date;
    }
    default:
      return false;
  }
}


Result<std::vector<uint32_t>> RunSearch(store::Store* store,
                                        const SearchKey& key, Input in) {
  std::vector<store::MessageRow> rows;
  if (in.need_row && !in.entries.empty()) {
    store::UidSet all{{in.entries.front().uid(), in.entries.back().uid()}};
    auto r = store->GetMessages(in.mailbox, all);
    if (!r) return Fail(r.error());
    rows = std::move(*r);
  }
  // Whether a header key may need this message's header: every message
  // for header_all, else the index's candidates and the messages too large
  // for the index to be complete.
  auto may_need_header = [&](const Message& m) {
    if (in.header_all || m.row->size > kHeaderIndexComplete) return true;
    for (const auto& c : in.header_candidates) {
      if (std::binary_search(c.uids.begin(), c.uids.end(), m.entry.uid())) {
        return true;
      }
    }
    return false;
  };
  bool headers = in.header_all || !in.header_candidates.empty();
  // In chunks: the headers a chunk needs are read in one store snapshot
  // (ReadBlobHeads), not two reads per message.
  constexpr size_t kChunk = 256;
  std::vector<uint32_t> out;
  for (size_t base = 0; base < in.entries.size(); base += kChunk) {
    size_t end = std::min(in.entries.size(), base + kChunk);
    std::vector<Message> chunk(end - base);
    std::vector<store::BlobId> ids;
    std::vector<size_t> slot;
    for (size_t i = base; i < end; ++i) {
      Message& m = chunk[i - base];
      m.entry = in.entries[i];
      m.seq = static_cast<uint32_t>(i + 1);
      if (!in.need_row) continue;
      auto it = std::lower_bound(
          rows.begin(), rows.end(), m.entry.uid(),
          [](const store::MessageRow& r, store::Uid u) { return r.uid < u; });
      if (it != rows.end() && it->uid == m.entry.uid()) m.row = &*it;
      if (headers && m.row && may_need_header(m)) {
        ids.push_back(m.row->blob);
        slot.push_back(i - base);
      }
    }
    if (!ids.empty()) {
      Status bad;
      auto length = [&](size_t, const store::BlobInfo& info) -> uint64_t {
        auto s = mime::DeserializeRootOffsets(info.summary);
        if (!s) {
          if (bad) bad = Fail(s.error());
          return 0;
        }
        return s->root.body_start;
      };
      auto got = [&](size_t j, Result<store::BlobInfo> info, std::string data) {
        Message& m = chunk[slot[j]];
        if (info) {
          m.header = std::move(data);
        } else if (info.error().code() != ErrorCode::kNotFound && bad) {
          // kNotFound: expunged meanwhile, matches no header key.
          bad = Fail(info.error());
        }
      };
      if (auto st = store->ReadBlobHeads(ids, length, got); !st) {
        return Fail(st.error());
      }
      if (!bad) return Fail(bad.error());
    }
    for (size_t i = base; i < end; ++i) {
      const Message& m = chunk[i - base];
      if (Match(key, m, in)) out.push_back(static_cast<uint32_t>(i));
    }
  }
  return out;
}

}  // namespace

awaitable<Result<std::vector<uint32_t>>> Session::Evaluate(const SearchKey& key) {
  Input in;
  std::vector<const SearchKey*> text, headers;
  Walk(key, in, text, headers);
  in.entries = view_->entries;
  in.keywords = view_->keywords;
  in.saved = saved_;
  in.now = static_cast<int64_t>(std::time(nullptr));
  in.mailbox = view_->mailbox.id;
  auto* store = env_.store;
  // The key tree is copied into the blocking call; text hits are keyed by
  // the copy's addresses, so the walk happens there.
  co_return co_await Blocking(
      [&]()
      -> Result<std::vector<uint32_t>> {
        std::vector<const SearchKey*> keys, header_keys;
        Input scratch;
        Walk(key, scratch, keys, header_keys);
        for (const SearchKey* k : keys) {
          auto hits = store->SearchText(
              in.mailbox,
              k->kind == K::kBody ? store::TextField::kBody
                                  : store::TextField::kText,
              k->value);
          if (!hits) return Fail(hits.error());
          std::sort(hits->begin(), hits->end());
          in.text.push_back({k, std::move(*hits)});
        }
        for (const SearchKey* k : header_keys) {
          // A superset (what the indexer has not reached yet included);
          // MatchHeader checks the header itself.
          auto hits = store->HeaderCandidates(in.mailbox, k->value,
                                              in.entries.size());
          if (!hits) return Fail(hits.error());
          std::sort(hits->begin(), hits->end());
          in.header_candidates.push_back({k, std::move(*hits)});
        }
        return RunSearch(store, key, std::move(in));
      });
}

namespace {

bool CharsetOk(const std::optional<std::string>& cs) {
  return !cs || EqualsIgnoreCase(*cs, "UTF-8") ||
         EqualsIgnoreCase(*cs, "US-ASCII");
}

bool HasOpt(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Keys are bounded in depth by the parser (max_depth), so recursion is too.
bool UsesModSeq(const SearchKey& k) {
  if (k.kind == SearchKey::Kind::kModSeq) return true;
  return std::any_of(k.children.begin(), k.children.end(), UsesModSeq);
}

}  // namespace

awaitable<Reply> Session::CmdSearch(Command cmd) {
  auto& a = std::get<SearchArgs>(cmd.args);
  if (!CharsetOk(a.charset)) {
    co_return Reply::No("[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
  }
  for (const auto& o : a.return_options) {
    if (o != "MIN" && o != "MAX" && o != "COUNT" && o != "ALL" && o != "SAVE") {
      co_return Reply::Bad("Unknown RETURN option");
    }
  }
  bool save = HasOpt(a.return_options, "SAVE");
  bool modseq_key = UsesModSeq(a.key);
  if (modseq_key) EnableCondstore();
  // RFC 5182 §2.1: a failed SEARCH ... SAVE leaves "$" empty.
  if (save) saved_.clear();
  auto r = co_await Evaluate(a.key);
  if (!r) co_return ErrorReply(r.error(), "SEARCH");
  std::vector<uint32_t> nums;  // what the client sees: UIDs or seqs
  store::ModSeq highest = 0;   // RFC 7162 §3.1.5: of the messages found
  for (uint32_t i : *r) {
    nums.push_back(cmd.uid ? view_->entries[i].uid() : i + 1);
    highest = std::max(highest, view_->entries[i].modseq());
  }
  if (!a.has_return && !rev2_) {
    std::string line = "* SEARCH";
    for (uint32_t n : nums) line += " " + std::to_string(n);
    if (modseq_key && !nums.empty()) {
      line += " (MODSEQ " + std::to_string(highest) + ")";
    }
    Send(line + "\r\n");
    co_return Reply::Ok("SEARCH completed");
  }
  std::vector<std::string> opts = a.return_options;
  // RFC 4731 §3.1: RETURN () means ALL.
  if (opts.empty() || (!a.has_return)) opts = {"ALL"};
  bool min = HasOpt(opts, "MIN"), max = HasOpt(opts, "MAX"),
       count = HasOpt(opts, "COUNT"), all = HasOpt(opts, "ALL");
  if (save) {
    // RFC 5182 §2.4: with only MIN and/or MAX, only those are saved.
    std::vector<uint32_t> keep;
    if ((min || max) && !all && !count) {
      if (!r->empty()) {
        if (min) keep.push_back(r->front());
        if (max && (!min || r->size() > 1)) keep.push_back(r->back());
      }
    } else {
      keep = *r;
    }
    for (uint32_t i : keep) saved_.push_back(view_->entries[i].uid());
  }
  if (save && !min && !max && !count && !all) {
    co_return Reply::Ok("SEARCH completed, result saved");
  }
  std::string line = "* ESEARCH (TAG ";
  line += "\"" + cmd.tag + "\")";
  if (cmd.uid) line += " UID";
  if (min && !nums.empty()) line += " MIN " + std::to_string(nums.front());
  if (max && !nums.empty()) line += " MAX " + std::to_string(nums.back());
  if (count) line += " COUNT " + std::to_string(nums.size());
  if (all && !nums.empty()) line += " ALL " + FormatNumberSet(nums);
  // RFC 7162 §3.1.5 / RFC 4731: MODSEQ when a MODSEQ key was used.
  if (modseq_key && !nums.empty()) line += " MODSEQ " + std::to_string(highest);
  Send(line + "\r\n");
  co_return Reply::Ok("SEARCH completed");
}

namespace {

struct Loaded {
  uint32_t index = 0;
  store::MessageRow row;
  mime::Summary summary;
  std::optional<std::string> references;  // unfolded References header
};

Result<std::vector<Loaded>> LoadMessages(store::Store* store,
                                         store::MailboxId mailbox,
                                         const ViewEntries& entries,
                                         std::vector<uint32_t> indexes,
                                         bool references) {
  std::vector<Loaded> out;
  if (indexes.empty()) return out;
  store::UidSet set;
  for (uint32_t i : indexes) {
    store::Uid u = entries[i].uid();
    if (!set.empty() && set.back().last + 1 == u) {
      set.back().last = u;
    } else {
      set.push_back({u, u});
    }
  }
  auto rows = store->GetMessages(mailbox, set);
  if (!rows) return Fail(rows.error());
  for (uint32_t i : indexes) {
    auto it = std::lower_bound(
        rows->begin(), rows->end(), entries[i].uid(),
        [](const store::MessageRow& r, store::Uid u) { return r.uid < u; });
    if (it == rows->end() || it->uid != entries[i].uid()) continue;
    auto info = store->GetBlobInfo(it->blob);
    // Expunged by another session since the rows were read: left out, as
    // a row already gone is.
    if (!info && info.error().code() == ErrorCode::kNotFound) continue;
    if (!info) return Fail(info.error());
    auto s = mime::Deserialize(info->summary);
    if (!s) return Fail(s.error());
    Loaded l;
    l.index = i;
    l.row = *it;
    if (references) {
      auto header = store->ReadBlob(it->blob, 0, s->root.body_start);
      if (!header && header.error().code() == ErrorCode::kNotFound) continue;
      if (!header) return Fail(header.error());
      auto refs = mime::FindHeaders(*header, "References");
      if (!refs.empty()) l.references = mime::UnfoldHeaderValue(refs[0]);
    }
    l.summary = std::move(*s);
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace

awaitable<Reply> Session::CmdSort(Command cmd) {
  auto& a = std::get<SortArgs>(cmd.args);
  if (!CharsetOk(a.charset)) {
    co_return Reply::No("[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
  }
  auto r = co_await Evaluate(a.key);
  if (!r) co_return ErrorReply(r.error(), "SORT");
  auto* store = env_.store;
  store::MailboxId mb = view_->mailbox.id;
  ViewEntries entries = view_->entries;  // immutable while shared
  const auto& idx = *r;
  auto data = co_await Blocking(
      [&] { return LoadMessages(store, mb, entries, idx, false); });
  if (!data) co_return ErrorReply(data.error(), "SORT");
  std::vector<SortCriterion> criteria;
  for (const auto& k : a.keys) {
    using SK = SortArgKey::Kind;
    SortKey key = SortKey::kArrival;
    switch (k.kind) {
      case SK::kArrival: key = SortKey::kArrival; break;
      case SK::kCc: key = SortKey::kCc; break;
      case SK::kDate: key = SortKey::kDate; break;
      case SK::kFrom: key = SortKey::kFrom; break;
      case SK::kSize: key = SortKey::kSize; break;
      case SK::kSubject: key = SortKey::kSubject; break;
      case SK::kTo: key = SortKey::kTo; break;
      case SK::kDisplayFrom: key = SortKey::kDisplayFrom; break;
      case SK::kDisplayTo: key = SortKey::kDisplayTo; break;
    }
    criteria.push_back({key, k.reverse});
  }
  std::vector<SortMessage> msgs;
  for (const auto& l : *data) {
    uint32_t id = cmd.uid ? view_->entries[l.index].uid() : l.index + 1;
    msgs.push_back(
        MakeSortMessage(id, l.summary, l.row.internal_date, l.row.size));
  }
  std::vector<uint32_t> nums = SortMessages(std::move(msgs), criteria);
  if (a.has_return) {
    // RFC 5267 §3.2 ESORT: MIN/MAX/COUNT/ALL over the sorted result, ALL in
    // sort order.
    std::string line = "* ESEARCH (TAG \"" + cmd.tag + "\")";
    if (cmd.uid) line += " UID";
    auto opts = a.return_options;
    if (opts.empty()) opts = {"ALL"};
    if (HasOpt(opts, "MIN") && !nums.empty()) {
      line += " MIN " + std::to_string(*std::min_element(nums.begin(), nums.end()));
    }
    if (HasOpt(opts, "MAX") && !nums.empty()) {
      line += " MAX " + std::to_string(*std::max_element(nums.begin(), nums.end()));
    }
    if (HasOpt(opts, "COUNT")) line += " COUNT " + std::to_string(nums.size());
    if (HasOpt(opts, "ALL") && !nums.empty()) {
      std::string all;
      for (uint32_t n : nums) {
        if (!all.empty()) all += ',';
        all += std::to_string(n);
      }
      line += " ALL " + all;
    }
    Send(line + "\r\n");
  } else {
    std::string line = "* SORT";
    for (uint32_t n : nums) line += " " + std::to_string(n);
    Send(line + "\r\n");
  }
  co_return Reply::Ok("SORT completed");
}

awaitable<Reply> Session::CmdThread(Command cmd) {
  auto& a = std::get<ThreadArgs>(cmd.args);
  if (a.algorithm != "ORDEREDSUBJECT" && a.algorithm != "REFERENCES") {
    co_return Reply::Bad("Unknown threading algorithm");
  }
  if (!CharsetOk(a.charset)) {
    co_return Reply::No("[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
  }
  auto r = co_await Evaluate(a.key);
  if (!r) co_return ErrorReply(r.error(), "THREAD");
  bool refs = a.algorithm == "REFERENCES";
  auto* store = env_.store;
  store::MailboxId mb = view_->mailbox.id;
  ViewEntries entries = view_->entries;  // immutable while shared
  const auto& idx = *r;
  auto data = co_await Blocking(
      [&] { return LoadMessages(store, mb, entries, idx, refs); });
  if (!data) co_return ErrorReply(data.error(), "THREAD");
  std::vector<ThreadMessage> msgs;
  for (const auto& l : *data) {
    uint32_t id = cmd.uid ? view_->entries[l.index].uid() : l.index + 1;
    msgs.push_back(MakeThreadMessage(id, l.summary, l.references,
                                     l.row.internal_date));
  }
  auto roots = refs ? ThreadReferences(std::move(msgs))
                    : ThreadOrderedSubject(std::move(msgs));
  Send("* THREAD " + RenderThreads(roots) + "\r\n");
  co_return Reply::Ok("THREAD completed");
}

}  // namespace correio::imap
