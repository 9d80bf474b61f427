#include "imap/proto/parser.h"

#include <array>
#include <cstdio>
#include <ctime>

#include "base/strings.h"

namespace correio::imap {

namespace {

constexpr std::array<const char*, 12> kMonths = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 9051 §9 ATOM-CHAR: any CHAR except atom-specials.
bool IsAtomChar(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  return std::string_view("(){%*\"\\]").find(c) == std::string_view::npos;
}
// ASTRING-CHAR = ATOM-CHAR / resp-specials ("]").
bool IsAstringChar(char c) { return c == ']' || IsAtomChar(c); }
// list-char = ATOM-CHAR / list-wildcards / resp-specials.
bool IsListChar(char c) { return IsAstringChar(c) || c == '%' || c == '*'; }
bool IsTagChar(char c) { return c != '+' && IsAstringChar(c); }

int MonthIndex(std::string_view m) {
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (EqualsIgnoreCase(m, kMonths[i])) return static_cast<int>(i) + 1;
  }
  return 0;
}

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

class Parser {
 public:
  Parser(std::string_view s, const ParseOptions& o) : s_(s), o_(o) {}

  std::expected<Command, ParseError> Run();

 private:
  // ---- low level ----
  bool Fail(std::string message) {
    if (err_.empty()) err_ = std::move(message);
    return false;
  }
  char Peek() const { return p_ < s_.size() ? s_[p_] : '\0'; }
  bool At(char c) const { return p_ < s_.size() && s_[p_] == c; }
  bool Eat(char c) {
    if (!At(c)) return false;
    ++p_;
    return true;
  }
  bool Expect(char c, const char* what) {
    if (Eat(c)) return true;
    return Fail(std::string("Expected ") + what);
  }
  bool Sp() { return Expect(' ', "space"); }
  bool AtEnd() const {
    return s_.size() - p_ == 2 && s_[p_] == '\r' && s_[p_ + 1] == '\n';
  }
  bool End() {
    if (AtEnd()) return true;
    return Fail("Unexpected extra arguments");
  }
  // An atom-like word (for keywords like FLAGS, BODY.PEEK): up to a
  // character outside `pred`.
  template <class Pred>
  std::string_view Word(Pred pred) {
    size_t start = p_;
    while (p_ < s_.size() && pred(s_[p_])) ++p_;
    return s_.substr(start, p_ - start);
  }
  // Case-insensitive keyword match (consumes on success only). Must not be
  // followed by an atom char (so "FLAGS" does not match "FLAGSX").
  bool Keyword(std::string_view kw) {
    if (s_.size() - p_ < kw.size()) return false;
    if (!EqualsIgnoreCase(s_.substr(p_, kw.size()), kw)) return false;
    size_t after = p_ + kw.size();
    if (after < s_.size() && IsAtomChar(s_[after]) && s_[after] != '[' &&
        s_[after] != '<' && s_[after] != '.')
      return false;
    p_ = after;
    return true;
  }

  bool Atom(std::string* out) {
    auto w = Word(IsAtomChar);
    if (w.empty()) return Fail("Expected atom");
    out->assign(w);
    return true;
  }
  bool Number64(uint64_t* out) {
    auto w = Word(IsDigit);
    if (w.empty()) return Fail("Expected number");
    auto n = ParseUint64(w);
    // RFC 9051 number64 is at most 2^63-1.
    if (!n || *n > static_cast<uint64_t>(INT64_MAX)) {
      return Fail("Number out of range");
    }
    *out = *n;
    return true;
  }
  bool Number(uint32_t* out) {
    uint64_t n = 0;
    if (!Number64(&n)) return false;
    if (n > UINT32_MAX) return Fail("Number out of range");
    *out = static_cast<uint32_t>(n);
    return true;
  }
  bool NzNumber(uint32_t* out) {
    if (!Number(out)) return false;
    if (*out == 0) return Fail("Number must not be zero");
    return true;
  }

  bool Quoted(std::string* out) {
    if (!Eat('"')) return Fail("Expected quoted string");
    out->clear();
    for (;;) {
      if (p_ >= s_.size()) return Fail("Unterminated quoted string");
      char c = s_[p_++];
      if (c == '"') return true;
      if (c == '\r' || c == '\n') return Fail("Unterminated quoted string");
      if (c == '\0') return Fail("NUL in quoted string");
      if (c == '\\') {
        if (p_ >= s_.size()) return Fail("Unterminated quoted string");
        c = s_[p_++];
        if (c != '"' && c != '\\') return Fail("Bad escape in quoted string");
      }
      out->push_back(c);
    }
  }
  // literal = "{" number64 ["+"] "}" CRLF *CHAR8; literal8 = "~{" ...
  bool Literal(std::string* out, bool allow_binary, bool* binary) {
    bool is8 = false;
    if (Eat('~')) {
      if (!allow_binary) return Fail("literal8 not allowed here");
      is8 = true;
    }
    if (!Eat('{')) return Fail("Expected literal");
    uint64_t n = 0;
    if (!Number64(&n)) return false;
    if (!Eat('+')) Eat('-');
    if (!Expect('}', "}") || !Expect('\r', "CRLF") || !Expect('\n', "CRLF")) {
      return false;
    }
    if (s_.size() - p_ < n) return Fail("Literal truncated");
    out->assign(s_.substr(p_, n));
    p_ += n;
    if (!is8 && out->find('\0') != std::string::npos) {
      // RFC 9051 §4.3: NUL is not allowed in a literal (only literal8).
      return Fail("NUL in literal");
    }
    if (binary) *binary = is8;
    return true;
  }
  bool String(std::string* out) {
    if (At('"')) return Quoted(out);
    if (At('{')) return Literal(out, false, nullptr);
    return Fail("Expected string");
  }
  bool AString(std::string* out) {
    if (At('"') || At('{')) return String(out);
    auto w = Word(IsAstringChar);
    if (w.empty()) return Fail("Expected astring");
    out->assign(w);
    return true;
  }
  bool NString(std::optional<std::string>* out) {
    if (Keyword("NIL")) {
      out->reset();
      return true;
    }
    std::string s;
    if (!String(&s)) return false;
    *out = std::move(s);
    return true;
  }
  bool Mailbox(std::string* out) {
    if (!AString(out)) return false;
    // RFC 9051 §5.1: INBOX is case-insensitive.
    if (EqualsIgnoreCase(*out, "INBOX")) *out = "INBOX";
    return true;
  }
  bool ListMailbox(std::string* out) {
    if (At('"') || At('{')) return String(out);
    auto w = Word(IsListChar);
    if (w.empty()) return Fail("Expected mailbox pattern");
    out->assign(w);
    return true;
  }

  // flag = "\Answered" / ... / keyword / flag-extension
  bool Flag(std::string* out, bool allow_star) {
    size_t start = p_;
    if (Eat('\\')) {
      if (allow_star && Eat('*')) {
        out->assign("\\*");
        return true;
      }
      auto w = Word(IsAtomChar);
      if (w.empty()) return Fail("Expected flag");
    } else {
      if (Word(IsAtomChar).empty()) return Fail("Expected flag");
    }
    out->assign(s_.substr(start, p_ - start));
    return true;
  }
  bool FlagList(std::vector<std::string>* out) {
    if (!Expect('(', "(")) return false;
    if (Eat(')')) return true;
    for (;;) {
      if (out->size() >= o_.max_items) return Fail("Too many flags");
      std::string f;
      if (!Flag(&f, false)) return false;
      out->push_back(std::move(f));
      if (Eat(')')) return true;
      if (!Sp()) return false;
    }
  }

  bool SeqNumber(uint32_t* out) {
    if (Eat('*')) {
      *out = kStar;
      return true;
    }
    return NzNumber(out);
  }
  bool SeqSet(SequenceSet* out) {
    if (Eat('$')) {
      out->saved = true;
      return true;
    }
    for (;;) {
      if (out->ranges.size() >= o_.max_set_ranges) {
        return Fail("Too many ranges in sequence set");
      }
      SeqRange r;
      if (!SeqNumber(&r.first)) return Fail("Invalid sequence set");
      r.last = r.first;
      if (Eat(':')) {
        if (!SeqNumber(&r.last)) return Fail("Invalid sequence set");
      }
      out->ranges.push_back(r);
      if (!Eat(',')) return true;
    }
  }

  bool Date(int64_t* out) {
    bool quoted = Eat('"');
    auto w = Word([](char c) { return IsAtomChar(c); });
    auto d = ParseImapDate(w);
    if (!d) return Fail("Invalid date");
    if (quoted && !Expect('"', "\"")) return false;
    *out = *d;
    return true;
  }
  bool DateTime(int64_t* out) {
    std::string q;
    if (!Quoted(&q)) return false;
    auto d = ParseImapDateTime(q);
    if (!d) return Fail("Invalid date-time");
    *out = *d;
    return true;
  }

  bool SearchKeys(SearchKey* out, int depth);  // 1*(SP key) until end/")"
  bool SearchKeyOne(SearchKey* out, int depth);
  bool SearchProgram(SearchArgs* out);
  bool FetchAtt(FetchItem* out);
  // fetch-att *(SP fetch-att) ")", after the "(".
  bool FetchAttList(std::vector<FetchItem>* out);
  bool NotifyFilter(NotifyGroup* g);
  bool NotifyMailboxes(NotifyGroup* g);
  bool NotifyEvents(NotifyGroup* g);
  bool Section(SectionSpec* out, bool binary);
  bool Partial(FetchItem* out);
  bool ReturnList(std::vector<std::string>* out);

  bool ParseArgs(Command* cmd);
  bool ParseFetch(FetchArgs* a);
  bool ParseStore(StoreArgs* a);
  bool ParseList(ListArgs* a);
  bool ParseAppend(AppendArgs* a);
  bool ParseSort(SortArgs* a);

  std::string_view s_;
  size_t p_ = 0;
  const ParseOptions& o_;
  std::string err_;
  uint32_t keys_ = 0;
};

bool Parser::SearchKeys(SearchKey* out, int depth) {
  out->kind = SearchKey::Kind::kAnd;
  for (;;) {
    SearchKey k;
    if (!SearchKeyOne(&k, depth)) return false;
    out->children.push_back(std::move(k));
    if (AtEnd() || At(')')) return true;
    if (!Sp()) return false;
  }
}

bool Parser::SearchKeyOne(SearchKey* k, int depth) {
  using K = SearchKey::Kind;
  if (depth >= static_cast<int>(o_.max_depth)) {
    return Fail("Search keys nested too deeply");
  }
  if (++keys_ > o_.max_items) return Fail("Too many search keys");
  if (Eat('(')) {
    if (!SearchKeys(k, depth + 1)) return false;
    return Expect(')', ")");
  }
  if (IsDigit(Peek()) || At('*') || At('$')) {
    k->kind = K::kSeqSet;
    return SeqSet(&k->set);
  }
  std::string_view w = Word(IsAtomChar);
  if (w.empty()) return Fail("Expected search key");
  std::string name = AsciiUppercase(w);
  struct Simple {
    const char* name;
    K kind;
  };
  static constexpr Simple kSimple[] = {
      {"ALL", K::kAll},           {"ANSWERED", K::kAnswered},
      {"DELETED", K::kDeleted},   {"DRAFT", K::kDraft},
      {"FLAGGED", K::kFlagged},   {"NEW", K::kNew},
      {"OLD", K::kOld},           {"RECENT", K::kRecent},
      {"SEEN", K::kSeen},         {"UNANSWERED", K::kUnanswered},
      {"UNDELETED", K::kUndeleted}, {"UNDRAFT", K::kUndraft},
      {"UNFLAGGED", K::kUnflagged}, {"UNSEEN", K::kUnseen},
      {"SAVEDATESUPPORTED", K::kSaveDateSupported},
  };
  for (const auto& s : kSimple) {
    if (name == s.name) {
      k->kind = s.kind;
      return true;
    }
  }
  static constexpr Simple kString[] = {
      {"BCC", K::kBcc},   {"BODY", K::kBody},       {"CC", K::kCc},
      {"FROM", K::kFrom}, {"SUBJECT", K::kSubject}, {"TEXT", K::kText},
      {"TO", K::kTo},
  };
  for (const auto& s : kString) {
    if (name == s.name) {
      k->kind = s.kind;
      return Sp() && AString(&k->value);
    }
  }
  static constexpr Simple kDate[] = {
      {"BEFORE", K::kBefore},
      {"ON", K::kOn},
      {"SINCE", K::kSince},
      {"SENTBEFORE", K::kSentBefore},
      {"SENTON", K::kSentOn},
      {"SENTSINCE", K::kSentSince},
      {"SAVEDATEBEFORE", K::kSaveDateBefore},
      {"SAVEDATEON", K::kSaveDateOn},
      {"SAVEDATESINCE", K::kSaveDateSince},
  };
  for (const auto& s : kDate) {
    if (name == s.name) {
      k->kind = s.kind;
      return Sp() && Date(&k->date);
    }
  }
  if (name == "KEYWORD" || name == "UNKEYWORD") {
    k->kind = name == "KEYWORD" ? K::kKeyword : K::kUnkeyword;
    if (!Sp()) return false;
    auto kw = Word(IsAtomChar);
    if (kw.empty()) return Fail("Expected keyword");
    k->value.assign(kw);
    return true;
  }
  if (name == "HEADER") {
    k->kind = K::kHeader;
    return Sp() && AString(&k->field) && Sp() && AString(&k->value);
  }
  if (name == "LARGER" || name == "SMALLER") {
    k->kind = name == "LARGER" ? K::kLarger : K::kSmaller;
    return Sp() && Number64(&k->number);
  }
  if (name == "OLDER" || name == "YOUNGER") {
    k->kind = name == "OLDER" ? K::kOlder : K::kYounger;
    uint32_t n = 0;
    if (!Sp() || !NzNumber(&n)) return false;
    k->number = n;
    return true;
  }
  if (name == "UID") {
    k->kind = K::kUid;
    return Sp() && SeqSet(&k->set);
  }
  if (name == "NOT") {
    k->kind = K::kNot;
    k->children.resize(1);
    return Sp() && SearchKeyOne(&k->children[0], depth + 1);
  }
  if (name == "OR") {
    k->kind = K::kOr;
    k->children.resize(2);
    return Sp() && SearchKeyOne(&k->children[0], depth + 1) && Sp() &&
           SearchKeyOne(&k->children[1], depth + 1);
  }
  if (name == "MODSEQ") {
    // RFC 7162 §3.1.5: MODSEQ [entry-name entry-type] mod-sequence-valzer.
    k->kind = K::kModSeq;
    if (!Sp()) return false;
    if (At('"')) {
      std::string entry, type;
      if (!Quoted(&entry) || !Sp() || !Atom(&type) || !Sp()) return false;
    }
    return Number64(&k->number);
  }
  if (name == "EMAILID" || name == "THREADID") {
    k->kind = name == "EMAILID" ? K::kEmailId : K::kThreadId;
    if (!Sp()) return false;
    auto id = Word([](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) ||
             c == '_' || c == '-';
    });
    if (id.empty() || id.size() > 255) return Fail("Invalid object id");
    k->value.assign(id);
    return true;
  }
  return Fail("Unknown search key " + name.substr(0, 40));
}

bool Parser::ReturnList(std::vector<std::string>* out) {
  if (!Expect('(', "(")) return false;
  if (Eat(')')) return true;
  for (;;) {
    if (out->size() >= o_.max_items) return Fail("Too many options");
    std::string a;
    if (!Atom(&a)) return false;
    out->push_back(AsciiUppercase(a));
    if (Eat(')')) return true;
    if (!Sp()) return false;
  }
}

bool Parser::SearchProgram(SearchArgs* a) {
  // [SP "RETURN" SP "(" ... ")"] [SP "CHARSET" SP astring] 1*(SP key)
  if (!Sp()) return false;
  if (Keyword("RETURN")) {
    a->has_return = true;
    if (!Sp() || !ReturnList(&a->return_options) || !Sp()) return false;
  }
  if (Keyword("CHARSET")) {
    std::string cs;
    if (!Sp() || !AString(&cs) || !Sp()) return false;
    a->charset = cs;
  }
  return SearchKeys(&a->key, 0);
}

bool Parser::Section(SectionSpec* out, bool binary) {
  using SK = SectionSpec::Kind;
  if (!Expect('[', "[")) return false;
  if (Eat(']')) return true;
  // section-part: nz-number *("." nz-number)
  while (IsDigit(Peek())) {
    uint32_t n = 0;
    if (!NzNumber(&n)) return false;
    if (out->part.size() >= 100) return Fail("Section nested too deeply");
    out->part.push_back(n);
    if (!Eat('.')) break;
    if (!IsDigit(Peek())) break;  // ".HEADER" etc. follows
  }
  bool dot = !out->part.empty() && s_[p_ - 1] == '.';
  if (binary) return !dot && Expect(']', "]");
  if (dot && At(']')) return Fail("Bad section");
  if (!At(']')) {
    if (!out->part.empty() && s_[p_ - 1] != '.') return Fail("Bad section");
    bool is_not = Keyword("HEADER.FIELDS.NOT");
    if (is_not || Keyword("HEADER.FIELDS")) {
      out->kind = is_not ? SK::kHeaderFieldsNot : SK::kHeaderFields;
      if (!Sp() || !Expect('(', "(")) return false;
      for (;;) {
        if (out->fields.size() >= o_.max_items) return Fail("Too many fields");
        std::string f;
        if (!AString(&f)) return false;
        out->fields.push_back(std::move(f));
        if (Eat(')')) break;
        if (!Sp()) return false;
      }
    } else if (Keyword("HEADER")) {
      out->kind = SK::kHeader;
    } else if (Keyword("TEXT")) {
      out->kind = SK::kText;
    } else if (Keyword("MIME")) {
      if (out->part.empty()) return Fail("MIME needs a part number");
      out->kind = SK::kMime;
    } else {
      return Fail("Bad section");
    }
  }
  return Expect(']', "]");
}

bool Parser::Partial(FetchItem* out) {
  if (!Eat('<')) return true;
  uint32_t origin = 0, count = 0;
  if (!Number(&origin) || !Expect('.', ".") || !NzNumber(&count) ||
      !Expect('>', ">")) {
    return Fail("Bad partial");
  }
  out->partial = std::make_pair(origin, count);
  return true;
}

bool Parser::FetchAtt(FetchItem* it) {
  using FK = FetchItem::Kind;
  auto w = Word([](char c) { return IsAtomChar(c) && c != '[' && c != '<'; });
  std::string name = AsciiUppercase(w);
  struct Simple {
    const char* name;
    FK kind;
  };
  static constexpr Simple kSimple[] = {
      {"ENVELOPE", FK::kEnvelope},
      {"FLAGS", FK::kFlags},
      {"INTERNALDATE", FK::kInternalDate},
      {"RFC822", FK::kRfc822},
      {"RFC822.HEADER", FK::kRfc822Header},
      {"RFC822.SIZE", FK::kRfc822Size},
      {"RFC822.TEXT", FK::kRfc822Text},
      {"BODYSTRUCTURE", FK::kBodyStructure},
      {"UID", FK::kUid},
      {"MODSEQ", FK::kModSeq},
      {"SAVEDATE", FK::kSaveDate},
      {"EMAILID", FK::kEmailId},
      {"THREADID", FK::kThreadId},
  };
  for (const auto& s : kSimple) {
    if (name == s.name) {
      it->kind = s.kind;
      return true;
    }
  }
  if (name == "PREVIEW") {
    it->kind = FK::kPreview;
    // RFC 8970 §3: optional (LAZY) modifier; we always have a preview.
    if (At(' ') && p_ + 1 < s_.size() && s_[p_ + 1] == '(') {
      size_t save = p_;
      ++p_;
      std::vector<std::string> mods;
      if (!ReturnList(&mods)) {
        p_ = save;
        err_.clear();
        return true;
      }
      for (const auto& m : mods) {
        if (m != "LAZY") return Fail("Unknown PREVIEW modifier");
      }
    }
    return true;
  }
  if (name == "BODY" || name == "BODY.PEEK") {
    if (!At('[')) {
      if (name == "BODY.PEEK") return Fail("BODY.PEEK needs a section");
      it->kind = FK::kBody;
      return true;
    }
    it->kind = FK::kBodySection;
    it->peek = name == "BODY.PEEK";
    return Section(&it->section, false) && Partial(it);
  }
  if (name == "BINARY" || name == "BINARY.PEEK" || name == "BINARY.SIZE") {
    it->kind = name == "BINARY.SIZE" ? FK::kBinarySize : FK::kBinary;
    it->peek = name != "BINARY";
    if (!Section(&it->section, true)) return false;
    if (it->kind == FK::kBinary) return Partial(it);
    return true;
  }
  return Fail("Unknown fetch attribute " + name.substr(0, 40));
}

bool Parser::ParseFetch(FetchArgs* a) {
  using FK = FetchItem::Kind;
  if (!Sp() || !SeqSet(&a->set) || !Sp()) return false;
  auto add = [&](FK k) {
    FetchItem it;
    it.kind = k;
    a->items.push_back(it);
  };
  // RFC 9051 §6.4.5 macros.
  if (Keyword("ALL")) {
    for (FK k : {FK::kFlags, FK::kInternalDate, FK::kRfc822Size, FK::kEnvelope})
      add(k);
  } else if (Keyword("FAST")) {
    for (FK k : {FK::kFlags, FK::kInternalDate, FK::kRfc822Size}) add(k);
  } else if (Keyword("FULL")) {
    for (FK k : {FK::kFlags, FK::kInternalDate, FK::kRfc822Size,
                 FK::kEnvelope, FK::kBody})
      add(k);
  } else if (Eat('(')) {
    if (!FetchAttList(&a->items)) return false;
  } else {
    FetchItem it;
    if (!FetchAtt(&it)) return false;
    a->items.push_back(std::move(it));
  }
  if (Eat(' ')) {
    // fetch-modifiers, RFC 7162 §3.1.4 / §3.2.6.
    if (!Expect('(', "(")) return false;
    for (;;) {
      if (Keyword("CHANGEDSINCE")) {
        uint64_t n = 0;
        if (!Sp() || !Number64(&n)) return false;
        a->changed_since = n;
      } else if (Keyword("VANISHED")) {
        a->vanished = true;
      } else {
        return Fail("Unknown fetch modifier");
      }
      if (Eat(')')) break;
      if (!Sp()) return false;
    }
  }
  return End();
}

bool Parser::FetchAttList(std::vector<FetchItem>* out) {
  for (;;) {
    if (out->size() >= o_.max_items) return Fail("Too many items");
    FetchItem it;
    if (!FetchAtt(&it)) return false;
    out->push_back(std::move(it));
    if (Eat(')')) return true;
    if (!Sp()) return false;
  }
}

bool Parser::NotifyFilter(NotifyGroup* g) {
  using F = NotifyGroup::Filter;
  if (Keyword("SELECTED-DELAYED")) {
    g->filter = F::kSelectedDelayed;
  } else if (Keyword("SELECTED")) {
    g->filter = F::kSelected;
  } else if (Keyword("INBOXES")) {
    g->filter = F::kInboxes;
  } else if (Keyword("PERSONAL")) {
    g->filter = F::kPersonal;
  } else if (Keyword("SUBSCRIBED")) {
    g->filter = F::kSubscribed;
  } else if (Keyword("SUBTREE")) {
    g->filter = F::kSubtree;
    return NotifyMailboxes(g);
  } else if (Keyword("MAILBOXES")) {
    g->filter = F::kMailboxes;
    return NotifyMailboxes(g);
  } else {
    return Fail("Unknown NOTIFY filter");
  }
  return true;
}

bool Parser::NotifyMailboxes(NotifyGroup* g) {
  // SP one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
  if (!Sp()) return false;
  bool list = Eat('(');
  for (;;) {
    if (g->mailboxes.size() >= o_.max_items) return Fail("Too many mailboxes");
    std::string m;
    if (!Mailbox(&m)) return false;
    g->mailboxes.push_back(std::move(m));
    if (!list || Eat(')')) return true;
    if (!Sp()) return false;
  }
}

bool Parser::NotifyEvents(NotifyGroup* g) {
  if (Keyword("NONE")) return true;
  // The grammar says "(" event *(SP event) ")"; the RFC's own examples
  // (and clients copying them) write the events bare inside the group:
  // "(selected MessageNew MessageExpunge)". Both are accepted.
  bool paren = Eat('(');
  for (;;) {
    auto w = Word(IsAtomChar);
    if (w.empty()) return Fail("Expected event");
    static constexpr std::pair<const char*, uint32_t> kEvents[] = {
        {"MESSAGENEW", kEvMessageNew},
        {"MESSAGEEXPUNGE", kEvMessageExpunge},
        {"FLAGCHANGE", kEvFlagChange},
        {"ANNOTATIONCHANGE", kEvAnnotationChange},
        {"MAILBOXNAME", kEvMailboxName},
        {"SUBSCRIPTIONCHANGE", kEvSubscriptionChange},
        {"MAILBOXMETADATACHANGE", kEvMailboxMetadataChange},
        {"SERVERMETADATACHANGE", kEvServerMetadataChange}};
    uint32_t bit = 0;
    for (const auto& [name, b] : kEvents) {
      if (EqualsIgnoreCase(w, name)) bit = b;
    }
    if (bit == 0) {
      if (g->unknown.size() < 100) g->unknown.emplace_back(w);
    }
    g->events |= bit;
    if (bit == kEvMessageNew && At(' ') && s_.size() > p_ + 1 &&
        s_[p_ + 1] == '(') {
      p_ += 2;  // " ("
      if (!FetchAttList(&g->new_fetch)) return false;
    }
    if (At(')')) {
      if (paren) ++p_;
      return true;
    }
    if (!Sp()) return false;
  }
}

bool Parser::ParseStore(StoreArgs* a) {
  if (!Sp() || !SeqSet(&a->set) || !Sp()) return false;
  if (Eat('(')) {
    if (!Keyword("UNCHANGEDSINCE")) return Fail("Unknown store modifier");
    uint64_t n = 0;
    if (!Sp() || !Number64(&n) || !Expect(')', ")") || !Sp()) return false;
    a->unchanged_since = n;
  }
  if (Eat('+')) {
    a->op = StoreOp::kAdd;
  } else if (Eat('-')) {
    a->op = StoreOp::kRemove;
  } else {
    a->op = StoreOp::kReplace;
  }
  auto w = Word(IsAtomChar);
  std::string name = AsciiUppercase(w);
  if (name == "FLAGS.SILENT") {
    a->silent = true;
  } else if (name != "FLAGS") {
    return Fail("Expected FLAGS, +FLAGS or -FLAGS");
  }
  if (!Sp()) return false;
  if (At('(')) {
    if (!FlagList(&a->flags)) return false;
  } else {
    for (;;) {
      if (a->flags.size() >= o_.max_items) return Fail("Too many flags");
      std::string f;
      if (!Flag(&f, false)) return false;
      a->flags.push_back(std::move(f));
      if (!Eat(' ')) break;
    }
  }
  return End();
}

bool Parser::ParseList(ListArgs* a) {
  if (!Sp()) return false;
  if (!a->lsub && At('(')) {
    // RFC 5258 list-select-opts.
    a->extended = true;
    if (!ReturnList(&a->selection) || !Sp()) return false;
  }
  if (!Mailbox(&a->reference) || !Sp()) return false;
  if (!a->lsub && Eat('(')) {
    a->extended = true;
    for (;;) {
      if (a->patterns.size() >= o_.max_items) return Fail("Too many patterns");
      std::string pat;
      if (!ListMailbox(&pat)) return false;
      a->patterns.push_back(std::move(pat));
      if (Eat(')')) break;
      if (!Sp()) return false;
    }
  } else {
    std::string pat;
    if (!ListMailbox(&pat)) return false;
    a->patterns.push_back(std::move(pat));
  }
  if (!a->lsub && Eat(' ')) {
    if (!Keyword("RETURN") || !Sp() || !Expect('(', "(")) {
      return Fail("Expected RETURN");
    }
    a->extended = true;
    if (!Eat(')')) {
      for (;;) {
        std::string opt;
        if (!Atom(&opt)) return false;
        opt = AsciiUppercase(opt);
        if (a->return_options.size() >= o_.max_items) {
          return Fail("Too many options");
        }
        a->return_options.push_back(opt);
        if (opt == "STATUS") {
          // RFC 5819: STATUS (status-att ...)
          if (!Sp() || !ReturnList(&a->status_items)) return false;
          if (a->status_items.empty()) return Fail("Empty STATUS list");
        }
        if (Eat(')')) break;
        if (!Sp()) return false;
      }
    }
  }
  return End();
}

bool Parser::ParseAppend(AppendArgs* a) {
  if (!Sp() || !Mailbox(&a->mailbox)) return false;
  // RFC 3502 MULTIAPPEND: 1*append-message, each [flags] [date] literal.
  for (;;) {
    if (!Sp()) return false;
    if (a->messages.size() >= o_.max_items) return Fail("Too many messages");
    AppendMessage m;
    if (At('(')) {
      if (!FlagList(&m.flags) || !Sp()) return false;
    }
    if (At('"')) {
      int64_t t = 0;
      if (!DateTime(&t) || !Sp()) return false;
      m.internal_date = t;
    }
    if (Keyword("UTF8")) {
      // RFC 6855 §4: UTF8 (literal8).
      if (!Sp() || !Expect('(', "(") ||
          !Literal(&m.data, true, &m.binary) || !Expect(')', ")")) {
        return false;
      }
    } else if (!Literal(&m.data, true, &m.binary)) {
      return false;
    }
    a->messages.push_back(std::move(m));
    if (AtEnd()) return true;
  }
}

bool Parser::ParseSort(SortArgs* a) {
  using SK = SortArgKey::Kind;
  if (!Sp()) return false;
  if (Keyword("RETURN")) {
    a->has_return = true;
    if (!Sp() || !ReturnList(&a->return_options) || !Sp()) return false;
  }
  if (!Expect('(', "(")) return false;
  for (;;) {
    if (a->keys.size() >= 32) return Fail("Too many sort keys");
    SortArgKey k;
    std::string w;
    if (!Atom(&w)) return false;
    w = AsciiUppercase(w);
    if (w == "REVERSE") {
      k.reverse = true;
      if (!Sp() || !Atom(&w)) return false;
      w = AsciiUppercase(w);
    }
    static constexpr std::pair<const char*, SK> kKeys[] = {
        {"ARRIVAL", SK::kArrival}, {"CC", SK::kCc},
        {"DATE", SK::kDate},       {"FROM", SK::kFrom},
        {"SIZE", SK::kSize},       {"SUBJECT", SK::kSubject},
        {"TO", SK::kTo},           {"DISPLAYFROM", SK::kDisplayFrom},
        {"DISPLAYTO", SK::kDisplayTo},
    };
    bool found = false;
    for (const auto& [n, kind] : kKeys) {
      if (w == n) {
        k.kind = kind;
        found = true;
      }
    }
    if (!found) return Fail("Unknown sort key");
    a->keys.push_back(k);
    if (Eat(')')) break;
    if (!Sp()) return false;
  }
  if (!Sp() || !AString(&a->charset) || !Sp()) return false;
  return SearchKeys(&a->key, 0) && End();
}

bool Parser::ParseArgs(Command* c) {
  const std::string& n = c->name;
  auto no_args = [&] {
    c->args = NoArgs{};
    return End();
  };
  if (c->uid) {
    if (n == "FETCH") {
      FetchArgs a;
      if (!ParseFetch(&a)) return false;
      c->args = std::move(a);
      return true;
    }
    if (n == "STORE") {
      StoreArgs a;
      if (!ParseStore(&a)) return false;
      c->args = std::move(a);
      return true;
    }
    if (n == "COPY" || n == "MOVE") {
      CopyArgs a;
      if (!Sp() || !SeqSet(&a.set) || !Sp() || !Mailbox(&a.mailbox)) {
        return false;
      }
      c->args = std::move(a);
      return End();
    }
    if (n == "SEARCH") {
      SearchArgs a;
      if (!SearchProgram(&a)) return false;
      c->args = std::move(a);
      return End();
    }
    if (n == "EXPUNGE") {
      UidExpungeArgs a;
      if (!Sp() || !SeqSet(&a.set)) return false;
      c->args = std::move(a);
      return End();
    }
    if (n == "SORT") {
      SortArgs a;
      if (!ParseSort(&a)) return false;
      c->args = std::move(a);
      return true;
    }
    if (n == "THREAD") {
      ThreadArgs a;
      if (!Sp() || !Atom(&a.algorithm) || !Sp() || !AString(&a.charset) ||
          !Sp() || !SearchKeys(&a.key, 0)) {
        return false;
      }
      a.algorithm = AsciiUppercase(a.algorithm);
      c->args = std::move(a);
      return End();
    }
    return Fail("Unknown UID command");
  }
  if (n == "CAPABILITY" || n == "NOOP" || n == "LOGOUT" || n == "STARTTLS" ||
      n == "CHECK" || n == "CLOSE" || n == "UNSELECT" || n == "EXPUNGE" ||
      n == "NAMESPACE" || n == "IDLE") {
    return no_args();
  }
  if (n == "LOGIN") {
    LoginArgs a;
    if (!Sp() || !AString(&a.user) || !Sp() || !AString(&a.password)) {
      return false;
    }
    c->args = std::move(a);
    return End();
  }
  if (n == "AUTHENTICATE") {
    AuthenticateArgs a;
    if (!Sp() || !Atom(&a.mechanism)) return false;
    a.mechanism = AsciiUppercase(a.mechanism);
    if (Eat(' ')) {
      // RFC 4959: initial-response = base64 / "=".
      auto w = Word([](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               IsDigit(c) || c == '+' || c == '/' || c == '=';
      });
      if (w.empty()) return Fail("Expected initial response");
      a.initial_response = std::string(w);
    }
    c->args = std::move(a);
    return End();
  }
  if (n == "ID") {
    IdArgs a;
    if (!Sp()) return false;
    if (!Keyword("NIL")) {
      if (!Expect('(', "(")) return false;
      a.params.emplace();
      if (!Eat(')')) {
        for (;;) {
          if (a.params->size() >= 30) return Fail("Too many ID fields");
          std::string k;
          std::optional<std::string> v;
          if (!String(&k) || !Sp() || !NString(&v)) return false;
          a.params->emplace_back(std::move(k), std::move(v));
          if (Eat(')')) break;
          if (!Sp()) return false;
        }
      }
    }
    c->args = std::move(a);
    return End();
  }
  if (n == "ENABLE") {
    EnableArgs a;
    do {
      if (!Sp()) return false;
      std::string cap;
      if (!Atom(&cap)) return false;
      if (a.capabilities.size() >= 100) return Fail("Too many capabilities");
      a.capabilities.push_back(AsciiUppercase(cap));
    } while (!AtEnd());
    c->args = std::move(a);
    return End();
  }
  if (n == "SELECT" || n == "EXAMINE") {
    SelectArgs a;
    if (!Sp() || !Mailbox(&a.mailbox)) return false;
    if (Eat(' ')) {
      if (!Expect('(', "(")) return false;
      for (;;) {
        if (Keyword("CONDSTORE")) {
          a.condstore = true;
        } else if (Keyword("QRESYNC")) {
          QresyncParams q;
          if (!Sp() || !Expect('(', "(") || !NzNumber(&q.uid_validity) ||
              !Sp() || !Number64(&q.modseq) || q.modseq == 0) {
            return Fail("Bad QRESYNC parameters");
          }
          if (Eat(' ')) {
            if (Eat('(')) {
              q.match_seqs.emplace();
              q.match_uids.emplace();
              if (!SeqSet(&*q.match_seqs) || !Sp() ||
                  !SeqSet(&*q.match_uids) || !Expect(')', ")")) {
                return false;
              }
            } else {
              q.known_uids.emplace();
              if (!SeqSet(&*q.known_uids)) return false;
              if (Eat(' ')) {
                q.match_seqs.emplace();
                q.match_uids.emplace();
                if (!Expect('(', "(") || !SeqSet(&*q.match_seqs) || !Sp() ||
                    !SeqSet(&*q.match_uids) || !Expect(')', ")")) {
                  return false;
                }
              }
            }
          }
          if (!Expect(')', ")")) return false;
          a.qresync = std::move(q);
        } else {
          return Fail("Unknown select parameter");
        }
        if (Eat(')')) break;
        if (!Sp()) return false;
      }
    }
    c->args = std::move(a);
    return End();
  }
  if (n == "DELETE" || n == "SUBSCRIBE" || n == "UNSUBSCRIBE" ||
      n == "GETQUOTAROOT") {
    MailboxArgs a;
    if (!Sp() || !Mailbox(&a.mailbox)) return false;
    c->args = std::move(a);
    return End();
  }
  if (n == "CREATE") {
    CreateArgs a;
    if (!Sp() || !Mailbox(&a.mailbox)) return false;
    if (Eat(' ')) {
      // RFC 6154 §3: CREATE name (USE (\Drafts ...)).
      if (!Expect('(', "(") || !Keyword("USE") || !Sp() ||
          !FlagList(&a.special_use) || !Expect(')', ")")) {
        return Fail("Bad CREATE parameters");
      }
    }
    c->args = std::move(a);
    return End();
  }
  if (n == "RENAME") {
    RenameArgs a;
    if (!Sp() || !Mailbox(&a.from) || !Sp() || !Mailbox(&a.to)) return false;
    c->args = std::move(a);
    return End();
  }
  if (n == "LIST" || n == "LSUB") {
    ListArgs a;
    a.lsub = n == "LSUB";
    if (!ParseList(&a)) return false;
    c->args = std::move(a);
    return true;
  }
  if (n == "STATUS") {
    StatusArgs a;
    if (!Sp() || !Mailbox(&a.mailbox) || !Sp() || !ReturnList(&a.items)) {
      return false;
    }
    if (a.items.empty()) return Fail("Empty STATUS list");
    c->args = std::move(a);
    return End();
  }
  if (n == "APPEND") {
    AppendArgs a;
    if (!ParseAppend(&a)) return false;
    c->args = std::move(a);
    return End();
  }
  if (n == "FETCH") {
    FetchArgs a;
    if (!ParseFetch(&a)) return false;
    c->args = std::move(a);
    return true;
  }
  if (n == "STORE") {
    StoreArgs a;
    if (!ParseStore(&a)) return false;
    c->args = std::move(a);
    return true;
  }
  if (n == "COPY" || n == "MOVE") {
    CopyArgs a;
    if (!Sp() || !SeqSet(&a.set) || !Sp() || !Mailbox(&a.mailbox)) {
      return false;
    }
    c->args = std::move(a);
    return End();
  }
  if (n == "SEARCH") {
    SearchArgs a;
    if (!SearchProgram(&a)) return false;
    c->args = std::move(a);
    return End();
  }
  if (n == "SORT") {
    SortArgs a;
    if (!ParseSort(&a)) return false;
    c->args = std::move(a);
    return true;
  }
  if (n == "THREAD") {
    ThreadArgs a;
    if (!Sp() || !Atom(&a.algorithm) || !Sp() || !AString(&a.charset) ||
        !Sp() || !SearchKeys(&a.key, 0)) {
      return false;
    }
    a.algorithm = AsciiUppercase(a.algorithm);
    c->args = std::move(a);
    return End();
  }
  if (n == "GETQUOTA") {
    QuotaArgs a;
    if (!Sp() || !AString(&a.root)) return false;
    c->args = std::move(a);
    return End();
  }
  if (n == "NOTIFY") {
    NotifyArgs a;
    if (!Sp()) return false;
    if (Keyword("NONE")) {
      a.none = true;
      c->args = std::move(a);
      return End();
    }
    if (!Keyword("SET")) return Fail("Expected SET or NONE");
    if (!Sp()) return false;
    if (Keyword("STATUS")) {
      a.status = true;
      if (!Sp()) return false;
    }
    for (;;) {
      if (a.groups.size() >= 100) return Fail("Too many event groups");
      NotifyGroup g;
      if (!Expect('(', "(") || !NotifyFilter(&g) || !Sp() ||
          !NotifyEvents(&g) || !Expect(')', ")")) {
        return false;
      }
      a.groups.push_back(std::move(g));
      if (AtEnd()) break;
      if (!Sp()) return false;
    }
    c->args = std::move(a);
    return End();
  }
  if (n == "COMPRESS") {
    CompressArgs a;
    if (!Sp() || !Atom(&a.mechanism)) return false;
    a.mechanism = AsciiUppercase(a.mechanism);
    c->args = std::move(a);
    return End();
  }
  return Fail("Unknown command");
}

std::expected<Command, ParseError> Parser::Run() {
  Command c;
  if (s_.size() < 2 || s_.substr(s_.size() - 2) != "\r\n") {
    return std::unexpected(ParseError{"", "Missing CRLF"});
  }
  auto tag = Word(IsTagChar);
  if (tag.empty() || !At(' ')) {
    return std::unexpected(ParseError{"", "Missing or invalid tag"});
  }
  c.tag.assign(tag);
  ++p_;
  auto name = Word([](char c) { return IsAtomChar(c); });
  if (name.empty()) {
    return std::unexpected(ParseError{c.tag, "Missing command"});
  }
  c.name = AsciiUppercase(name);
  if (c.name == "UID") {
    c.uid = true;
    if (!Eat(' ')) return std::unexpected(ParseError{c.tag, "Missing command"});
    c.name = AsciiUppercase(Word([](char c) { return IsAtomChar(c); }));
  }
  if (!ParseArgs(&c)) {
    return std::unexpected(ParseError{c.tag, err_.empty() ? "Syntax error" : err_});
  }
  return c;
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // H. Hinnant's days_from_civil.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::optional<int64_t> ParseImapDate(std::string_view t) {
  // date-day "-" date-month "-" date-year; date-day = 1*2DIGIT
  size_t dash1 = t.find('-');
  if (dash1 == std::string_view::npos || dash1 == 0 || dash1 > 2) {
    return std::nullopt;
  }
  auto day = ParseUint64(t.substr(0, dash1));
  if (t.size() != dash1 + 1 + 3 + 1 + 4 || t[dash1 + 4] != '-') {
    return std::nullopt;
  }
  int month = MonthIndex(t.substr(dash1 + 1, 3));
  auto year = ParseUint64(t.substr(dash1 + 5, 4));
  if (!day || !year || month == 0 || *day == 0 ||
      *day > DaysInMonth(static_cast<int64_t>(*year), month)) {
    return std::nullopt;
  }
  return DaysFromCivil(static_cast<int64_t>(*year), month,
                       static_cast<unsigned>(*day)) *
         86400;
}

std::optional<int64_t> ParseImapDateTime(std::string_view t) {
  // date-day-fixed "-" date-month "-" date-year SP time SP zone
  // "dd-MMM-yyyy hh:mm:ss +zzzz" = 26 characters.
  if (t.size() != 26) return std::nullopt;
  std::string day(t.substr(0, 2));
  if (day[0] == ' ') day = day.substr(1);
  std::string date = day + std::string(t.substr(2, 9));
  auto d = ParseImapDate(date);
  if (!d || t[11] != ' ' || t[14] != ':' || t[17] != ':' || t[20] != ' ') {
    return std::nullopt;
  }
  auto hh = ParseUint64(t.substr(12, 2));
  auto mm = ParseUint64(t.substr(15, 2));
  auto ss = ParseUint64(t.substr(18, 2));
  char sign = t[21];
  auto zh = ParseUint64(t.substr(22, 2));
  auto zm = ParseUint64(t.substr(24, 2));
  if (!hh || !mm || !ss || !zh || !zm || *hh > 23 || *mm > 59 || *ss > 60 ||
      *zm > 59 || (sign != '+' && sign != '-')) {
    return std::nullopt;
  }
  int64_t zone = static_cast<int64_t>(*zh * 60 + *zm) * 60;
  int64_t local = *d + static_cast<int64_t>(*hh * 3600 + *mm * 60 + *ss);
  return sign == '+' ? local - zone : local + zone;
}

std::string FormatImapDateTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02d-%s-%04d %02d:%02d:%02d +0000",
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf;
}

std::expected<Command, ParseError> ParseCommand(std::string_view bytes,
                                                const ParseOptions& options) {
  Parser p(bytes, options);
  return p.Run();
}

}  // namespace correio::imap
