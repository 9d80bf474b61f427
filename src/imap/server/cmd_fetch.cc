// FETCH (RFC 9051 §6.4.5): FLAGS, INTERNALDATE, RFC822.*, ENVELOPE, BODY,
// BODYSTRUCTURE, BODY[section]<partial>, BODY.PEEK, BINARY[.PEEK|.SIZE]
// (RFC 3516), UID, MODSEQ and CHANGEDSINCE (RFC 7162), SAVEDATE (RFC 8514),
// PREVIEW (RFC 8970), EMAILID/THREADID (RFC 8474).
//
// Answers come from the message row and the summary stored at delivery;
// a message is never parsed again (ARCHITECTURE "IMAP FETCH").
#include <spdlog/spdlog.h>

#include "imap/proto/bodystructure.h"
#include "imap/proto/envelope.h"
#include "imap/proto/parser.h"
#include "imap/proto/section.h"
#include "imap/proto/writer.h"
#include "imap/server/session_internal.h"

namespace correio::imap {

namespace {

using FK = FetchItem::Kind;

struct Needs {
  bool row = false;
  bool summary = false;
  bool raw = false;
  // Every raw item is a top-level header (BODY[HEADER], HEADER.FIELDS,
  // RFC822.HEADER): only the header block is read from the store. This is
  // what clients fetch for a message list, 50 at a time.
  bool header_only = true;
  // ENVELOPE, BODY[STRUCTURE], PREVIEW or a part section need the whole
  // summary; top-level header sections only the root's offsets
  // (mime::DeserializeRootOffsets).
  bool full_summary = false;
  bool seen = false;  // a non-peek body item sets \Seen (§6.4.5)
};

bool IsTopLevelHeader(const FetchItem& it) {
  if (it.kind == FK::kRfc822Header) return true;
  if (it.kind != FK::kBodySection || !it.section.part.empty()) return false;
  return it.section.kind == SectionSpec::Kind::kHeader ||
         it.section.kind == SectionSpec::Kind::kHeaderFields ||
         it.section.kind == SectionSpec::Kind::kHeaderFieldsNot;
}

Needs NeedsOf(const std::vector<FetchItem>& items) {
  Needs n;
  for (const auto& it : items) {
    switch (it.kind) {
      case FK::kInternalDate:
      case FK::kRfc822Size:
      case FK::kSaveDate:
      case FK::kEmailId:
        n.row = true;
        break;
      case FK::kEnvelope:
      case FK::kBody:
      case FK::kBodyStructure:
      case FK::kPreview:
        n.row = n.summary = n.full_summary = true;
        break;
      case FK::kRfc822:
      case FK::kRfc822Text:
      case FK::kBodySection:
      case FK::kBinary:
      case FK::kBinarySize:
      case FK::kRfc822Header:
        n.row = n.summary = n.raw = true;
        if (!IsTopLevelHeader(it)) {
          n.header_only = false;
          n.full_summary = true;
        }
        if (!it.peek && it.kind != FK::kRfc822Header &&
            it.kind != FK::kBinarySize) {
          n.seen = true;
        }
        break;
      default:
        break;
    }
  }
  return n;
}

Section ToSection(const SectionSpec& s) {
  Section out;
  out.part = s.part;
  out.fields = s.fields;
  switch (s.kind) {
    case SectionSpec::Kind::kWhole: out.kind = Section::Kind::kWhole; break;
    case SectionSpec::Kind::kHeader: out.kind = Section::Kind::kHeader; break;
    case SectionSpec::Kind::kHeaderFields:
      out.kind = Section::Kind::kHeaderFields;
      break;
    case SectionSpec::Kind::kHeaderFieldsNot:
      out.kind = Section::Kind::kHeaderFieldsNot;
      break;
    case SectionSpec::Kind::kText: out.kind = Section::Kind::kText; break;
    case SectionSpec::Kind::kMime: out.kind = Section::Kind::kMime; break;
  }
  return out;
}

std::string PartString(const std::vector<uint32_t>& part) {
  std::string s;
  for (size_t i = 0; i < part.size(); ++i) {
    if (i) s += '.';
    s += std::to_string(part[i]);
  }
  return s;
}

// The section as echoed in the response: "1.2.HEADER.FIELDS (FROM TO)".
std::string SectionName(const SectionSpec& s) {
  std::string out = PartString(s.part);
  const char* kind = nullptr;
  switch (s.kind) {
    case SectionSpec::Kind::kWhole: break;
    case SectionSpec::Kind::kHeader: kind = "HEADER"; break;
    case SectionSpec::Kind::kHeaderFields: kind = "HEADER.FIELDS"; break;
    case SectionSpec::Kind::kHeaderFieldsNot: kind = "HEADER.FIELDS.NOT"; break;
    case SectionSpec::Kind::kText: kind = "TEXT"; break;
    case SectionSpec::Kind::kMime: kind = "MIME"; break;
  }
  if (kind) {
    if (!out.empty()) out += '.';
    out += kind;
  }
  if (!s.fields.empty()) {
    out += " (";
    for (size_t i = 0; i < s.fields.size(); ++i) {
      if (i) out += ' ';
      AppendAstring(out, s.fields[i]);
    }
    out += ')';
  }
  return out;
}

std::string_view ApplyPartial(std::string_view data, const FetchItem& it) {
  if (!it.partial) return data;
  uint64_t origin = it.partial->first, count = it.partial->second;
  if (origin >= data.size()) return {};
  return data.substr(origin, std::min<uint64_t>(count, data.size() - origin));
}

std::string PartialLabel(const FetchItem& it) {
  if (!it.partial) return "";
  return "<" + std::to_string(it.partial->first) + ">";
}

struct Msg {
  uint32_t seq = 0;
  store::Uid uid = 0;
  std::string flags;  // "(\Seen ...)"
  store::ModSeq modseq = 0;
  bool add_flags = false;  // \Seen was just set: report FLAGS too
  bool add_modseq = false;  // ... and MODSEQ, CONDSTORE being on
  bool add_uid = false;     // ... and UID, QRESYNC being on
};

struct Batch {
  std::string text;
  bool expunged = false;  // some message of the view is gone from the store
  bool unknown_cte = false;
};

Result<Batch> RenderBatch(store::Store* store, store::MailboxId mailbox,
                          const std::vector<FetchItem>& items, Needs needs,
                          const std::vector<Msg>& msgs, bool utf8) {
  Batch out;
  std::vector<store::MessageRow> rows;
  if (needs.row) {
    store::UidSet set;
    for (const auto& m : msgs) {
      if (!set.empty() && set.back().last + 1 == m.uid) {
        set.back().last = m.uid;
      } else {
        set.push_back({m.uid, m.uid});
      }
    }
    auto r = store->GetMessages(mailbox, set);
    if (!r) return Fail(r.error());
    rows = std::move(*r);
  }
  auto row_of = [&](store::Uid uid) -> const store::MessageRow* {
    auto it = std::lower_bound(
        rows.begin(), rows.end(), uid,
        [](const store::MessageRow& r, store::Uid u) { return r.uid < u; });
    return it == rows.end() || it->uid != uid ? nullptr : &*it;
  };
  // Summaries and header blocks of the whole batch in one store read (one
  // snapshot instead of two per message): what a message list fetches.
  // Whole bodies are still read one message at a time (memory).
  struct Head {
    bool done = false;
    bool gone = false;
    mime::Summary summary;
    std::string raw;
  };
  std::vector<Head> heads(msgs.size());
  if (needs.summary && (!needs.raw || needs.header_only)) {
    std::vector<store::BlobId> ids;
    std::vector<size_t> slot;
    for (size_t i = 0; i < msgs.size(); ++i) {
      if (const auto* row = row_of(msgs[i].uid)) {
        ids.push_back(row->blob);
        slot.push_back(i);
      }
    }
    Status bad;
    // The summary is deserialized once, here: it says where the header
    // block ends.
    auto length = [&](size_t i, const store::BlobInfo& info) -> uint64_t {
      auto s = needs.full_summary ? mime::Deserialize(info.summary)
                                  : mime::DeserializeRootOffsets(info.summary);
      if (!s) {
        if (bad) bad = Fail(s.error());
        return 0;
      }
      Head& h = heads[slot[i]];
      h.summary = std::move(*s);
      return needs.raw ? h.summary.root.body_start : 0;
    };
    auto got = [&](size_t i, Result<store::BlobInfo> info, std::string data) {
      Head& h = heads[slot[i]];
      h.done = true;
      if (!info) {
        if (info.error().code() == ErrorCode::kNotFound) {
          h.gone = true;
        } else if (bad) {
          bad = Fail(info.error());
        }
        return;
      }
      h.raw = std::move(data);
    };
    if (auto st = store->ReadBlobHeads(ids, length, got); !st) {
      return Fail(st.error());
    }
    if (!bad) return Fail(bad.error());
  }
  for (size_t mi = 0; mi < msgs.size(); ++mi) {
    const Msg& m = msgs[mi];
    const store::MessageRow* row = nullptr;
    if (needs.row) {
      row = row_of(m.uid);
      if (row == nullptr) {
        out.expunged = true;
        continue;
      }
    }
    mime::Summary summary;
    std::string raw;
    if (heads[mi].done) {
      if (heads[mi].gone) {
        // Expunged by another session (body freed) since the rows were
        // read: as a row already gone ([EXPUNGEISSUED], RFC 9051 §7.1).
        out.expunged = true;
        continue;
      }
      summary = std::move(heads[mi].summary);
      raw = std::move(heads[mi].raw);
    } else if (needs.summary) {
      auto info = store->GetBlobInfo(row->blob);
      if (!info && info.error().code() == ErrorCode::kNotFound) {
        // Expunged by another session (body freed) since the rows were
        // read: as a row already gone ([EXPUNGEISSUED], RFC 9051 §7.1).
        out.expunged = true;
        continue;
      }
      if (!info) return Fail(info.error());
      auto s = mime::Deserialize(info->summary);
      if (!s) return Fail(s.error());
      summary = std::move(*s);
    }
    if (needs.raw && !heads[mi].done) {
      uint64_t length = needs.header_only
                            ? std::min<uint64_t>(summary.root.body_start,
                                                 row->size)
                            : row->size;
      auto data = store->ReadBlob(row->blob, 0, length);
      if (!data && data.error().code() == ErrorCode::kNotFound) {
        out.expunged = true;
        continue;
      }
      if (!data) return Fail(data.error());
      raw = std::move(*data);
    }
    std::string line = "* " + std::to_string(m.seq) + " FETCH (";
    bool first = true;
    auto sep = [&] {
      if (!first) line += ' ';
      first = false;
    };
    if (m.add_uid) {
      // RFC 7162 §3.2.4: with QRESYNC a flag change always names its UID.
      sep();
      line += "UID " + std::to_string(m.uid);
    }
    if (m.add_flags) {
      sep();
      line += "FLAGS " + m.flags;
      // RFC 7162 §3.1: a flag change reported with CONDSTORE on carries
      // its MODSEQ (unless the client asked for MODSEQ anyway).
      if (m.add_modseq) line += " MODSEQ (" + std::to_string(m.modseq) + ")";
    }
    for (const auto& it : items) {
      if (it.kind == FK::kFlags && m.add_flags) continue;  // sent already
      sep();
      switch (it.kind) {
        case FK::kUid:
          line += "UID " + std::to_string(m.uid);
          break;
        case FK::kFlags:
          line += "FLAGS " + m.flags;
          break;
        case FK::kModSeq:
          line += "MODSEQ (" + std::to_string(m.modseq) + ")";
          break;
        case FK::kInternalDate:
          line += "INTERNALDATE \"" + FormatImapDateTime(row->internal_date) +
                  "\"";
          break;
        case FK::kSaveDate:
          line += "SAVEDATE ";
          line += row->save_date
                      ? "\"" + FormatImapDateTime(row->save_date) + "\""
                      : std::string("NIL");
          break;
        case FK::kRfc822Size:
          line += "RFC822.SIZE " + std::to_string(row->size);
          break;
        case FK::kEmailId:
          line += "EMAILID (M" + std::to_string(row->id) + ")";
          break;
        case FK::kThreadId:
          line += "THREADID NIL";  // RFC 8474 §5.2: no thread ids kept
          break;
        case FK::kEnvelope:
          line += "ENVELOPE " + RenderEnvelope(summary, utf8);
          break;
        case FK::kBody:
          line += "BODY " + RenderBodyStructure(summary, false, utf8);
          break;
        case FK::kBodyStructure:
          line += "BODYSTRUCTURE " + RenderBodyStructure(summary, true, utf8);
          break;
        case FK::kPreview:
          line += "PREVIEW ";
          AppendQuotedOrLiteral(line, summary.preview, utf8);
          break;
        case FK::kRfc822:
          line += "RFC822 ";
          AppendLiteral(line, raw);
          break;
        case FK::kRfc822Header: {
          SectionSpec s;
          s.kind = SectionSpec::Kind::kHeader;
          line += "RFC822.HEADER ";
          AppendLiteral(line, ExtractSection(raw, summary, ToSection(s)));
          break;
        }
        case FK::kRfc822Text: {
          SectionSpec s;
          s.kind = SectionSpec::Kind::kText;
          line += "RFC822.TEXT ";
          AppendLiteral(line, ExtractSection(raw, summary, ToSection(s)));
          break;
        }
        case FK::kBodySection: {
          line += "BODY[" + SectionName(it.section) + "]" + PartialLabel(it) +
                  " ";
          if (it.section.part.empty() &&
              it.section.kind == SectionSpec::Kind::kWhole) {
            AppendLiteral(line, ApplyPartial(raw, it));
          } else {
            std::string data =
                ExtractSection(raw, summary, ToSection(it.section));
            AppendLiteral(line, ApplyPartial(data, it));
          }
          break;
        }
        case FK::kBinary:
        case FK::kBinarySize: {
          auto data = ExtractBinary(raw, summary, it.section.part);
          if (!data) {
            out.unknown_cte = true;
            return out;
          }
          std::string part = PartString(it.section.part);
          if (it.kind == FK::kBinarySize) {
            line += "BINARY.SIZE[" + part + "] " + std::to_string(data->size());
          } else {
            std::string_view d = ApplyPartial(*data, it);
            line += "BINARY[" + part + "]" + PartialLabel(it) + " ";
            // RFC 3516 §4.3: literal8 only when the data needs it.
            AppendLiteral(line, d, d.find('\0') != std::string_view::npos);
          }
          break;
        }
      }
    }
    line += ")\r\n";
    out.text += line;
  }
  return out;
}

}  // namespace

awaitable<Reply> Session::CmdFetch(Command cmd) {
  auto& a = std::get<FetchArgs>(cmd.args);
  if (a.vanished && (!cmd.uid || !qresync_ || !a.changed_since)) {
    // RFC 7162 §3.2.6: UID FETCH only, with CHANGEDSINCE, after ENABLE.
    co_return Reply::Bad("VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC");
  }
  auto indexes = Resolve(a.set, cmd.uid);
  if (!indexes) co_return Reply::Bad(indexes.error().message());
  std::vector<FetchItem> items = a.items;
  auto has = [&](FK k) {
    return std::any_of(items.begin(), items.end(),
                       [k](const FetchItem& i) { return i.kind == k; });
  };
  if (a.changed_since || has(FK::kModSeq)) EnableCondstore();
  if (a.vanished) {
    // The UIDs of the requested set expunged since the given modseq.
    auto* store = env_.store;
    store::MailboxId mb = view_->mailbox.id;
    uint64_t since = *a.changed_since;
    auto log = co_await Blocking(
        [&] { return ReadExpungeLog(store, mb, since); });
    if (!log) co_return ErrorReply(log.error(), "FETCH");
    std::string set =
        VanishedSet(*log, NormalizeRanges(a.set, view_->uid_next - 1));
    if (!set.empty()) Send("* VANISHED (EARLIER) " + set + "\r\n");
  }
  // RFC 9051 §6.4.9: UID FETCH always reports UID.
  auto item = [](FK k) {
    FetchItem i;
    i.kind = k;
    return i;
  };
  if (cmd.uid && !has(FK::kUid)) items.insert(items.begin(), item(FK::kUid));
  if (a.changed_since) {
    // RFC 7162 §3.1.4.1: only messages changed since; MODSEQ implied.
    std::erase_if(*indexes, [&](uint32_t i) {
      return view_->entries[i].modseq() <= *a.changed_since;
    });
    if (!has(FK::kModSeq)) items.push_back(item(FK::kModSeq));
  }
  Needs needs = NeedsOf(items);
  std::vector<bool> seen_now;
  if (needs.seen && !view_->read_only) {
    std::vector<uint32_t> unseen;
    for (uint32_t i : *indexes) {
      if (!(view_->entries[i].system & store::kFlagSeen)) unseen.push_back(i);
    }
    if (!unseen.empty()) {
      store::FlagUpdate up;
      up.op = store::FlagOp::kAdd;
      up.flags.system = store::kFlagSeen;
      auto r = co_await UpdateFlags(unseen, up);
      if (!r) co_return ErrorReply(r.error(), "FETCH");
      seen_now.assign(view_->entries.size(), false);
      for (uint32_t i : unseen) seen_now[i] = true;
    }
  }
  // Batches bound memory: a few messages when bodies are read.
  const size_t batch_size = needs.raw ? 16 : 500;
  bool expunged = false;
  for (size_t start = 0; start < indexes->size(); start += batch_size) {
    std::vector<Msg> msgs;
    size_t end = std::min(indexes->size(), start + batch_size);
    for (size_t k = start; k < end; ++k) {
      uint32_t i = (*indexes)[k];
      Msg m;
      m.seq = i + 1;
      m.uid = view_->entries[i].uid();
      m.modseq = view_->entries[i].modseq();
      m.flags = FlagsString(view_->FlagsAt(i));
      m.add_flags = !seen_now.empty() && seen_now[i];
      m.add_modseq = m.add_flags && condstore_ && !has(FK::kModSeq);
      m.add_uid = m.add_flags && qresync_ && !has(FK::kUid);
      msgs.push_back(std::move(m));
    }
    auto* store = env_.store;
    store::MailboxId mb = view_->mailbox.id;
    bool utf8 = utf8_;
    // FLAGS, UID, MODSEQ only (a client's resync of a large mailbox) come
    // from the view: rendered here, without two thread hops per batch.
    // (No co_await inside a conditional expression: docs/coroutines.md.)
    auto render = [&] {
      return RenderBatch(store, mb, items, needs, msgs, utf8);
    };
    Result<Batch> batch = Fail(ErrorCode::kInternal, "not rendered");
    if (!needs.row && !needs.summary && !needs.raw) {
      batch = render();
    } else {
      batch = co_await Blocking(render);
    }
    if (!batch) co_return ErrorReply(batch.error(), "FETCH");
    if (batch->unknown_cte) {
      Send(batch->text);
      co_return Reply::No("[UNKNOWN-CTE] Cannot decode the content");
    }
    expunged = expunged || batch->expunged;
    Send(batch->text);
    if (out_.size() >= kFlushAt) {
      if (!co_await Flush()) {
        state_ = SessionState::kLogout;
        co_return Reply{"", ""};
      }
    }
  }
  if (expunged) {
    co_return Reply::Ok("[EXPUNGEISSUED] Some messages were expunged");
  }
  co_return Reply::Ok("FETCH completed");
}

}  // namespace correio::imap
