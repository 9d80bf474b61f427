#include "imap/proto/sort_thread.h"

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "base/strings.h"

namespace correio::imap {
namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

bool StartsWithCi(std::string_view s, size_t pos, std::string_view p) {
  return s.size() - pos >= p.size() &&
         EqualsIgnoreCase(s.substr(pos, p.size()), p);
}

// RFC 5256 §5 subj-blob at `pos`: "[" *BLOBCHAR "]" *WSP, BLOBCHAR being
// anything but '[' and ']'. Returns the end, or npos.
size_t MatchBlob(std::string_view s, size_t pos) {
  if (pos >= s.size() || s[pos] != '[') return std::string_view::npos;
  size_t i = pos + 1;
  while (i < s.size() && s[i] != '[' && s[i] != ']') ++i;
  if (i >= s.size() || s[i] != ']') return std::string_view::npos;
  ++i;
  while (i < s.size() && IsWsp(s[i])) ++i;
  return i;
}

// subj-refwd at `pos`: ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
size_t MatchRefwd(std::string_view s, size_t pos) {
  size_t i;
  if (StartsWithCi(s, pos, "re")) {
    i = pos + 2;
  } else if (StartsWithCi(s, pos, "fwd")) {
    i = pos + 3;
  } else if (StartsWithCi(s, pos, "fw")) {
    i = pos + 2;
  } else {
    return std::string_view::npos;
  }
  while (i < s.size() && IsWsp(s[i])) ++i;
  size_t blob = MatchBlob(s, i);
  if (blob != std::string_view::npos) i = blob;
  if (i < s.size() && s[i] == ':') return i + 1;
  return std::string_view::npos;
}

}  // namespace

BaseSubjectInfo ExtractBaseSubject(std::string_view decoded) {
  BaseSubjectInfo info;
  // Step 1: tabs and line breaks to space, runs of spaces to one.
  std::string s;
  s.reserve(decoded.size());
  for (char c : decoded) {
    if (c == '\t' || c == '\r' || c == '\n') c = ' ';
    if (c == ' ' && !s.empty() && s.back() == ' ') continue;
    s.push_back(c);
  }
  size_t b = 0, e = s.size();  // the current text is s[b, e)
  while (true) {
    // Step 2: trailing subj-trailer = "(fwd)" / WSP, repeatedly.
    while (e > b) {
      if (IsWsp(s[e - 1])) {
        --e;
      } else if (e - b >= 5 &&
                 EqualsIgnoreCase(std::string_view(s).substr(e - 5, 5),
                                  "(fwd)")) {
        e -= 5;
        info.is_reply_or_forward = true;
      } else {
        break;
      }
    }
    std::string_view v(s.data(), e);  // indices stay absolute
    // Steps 3-5. `blob_fail` remembers where a run of blobs not followed by
    // subj-refwd ended: step 4 strips one blob of that run at a time, and
    // rescanning the rest each time would make "[a][a]...[a]x" quadratic.
    size_t blob_fail = std::string_view::npos;
    bool changed = true;
    while (changed && b < e) {
      changed = false;
      // Step 3: subj-leader = (*subj-blob subj-refwd) / WSP.
      while (b < e) {
        if (IsWsp(v[b])) {
          ++b;
          changed = true;
          continue;
        }
        if (v[b] == '[' && blob_fail != std::string_view::npos &&
            b < blob_fail) {
          break;  // known: the blob run from here has no refwd after it
        }
        size_t i = b;
        while (true) {
          size_t next = MatchBlob(v, i);
          if (next == std::string_view::npos) break;
          i = next;
        }
        size_t end = MatchRefwd(v, i);
        if (end == std::string_view::npos) {
          if (i > b) blob_fail = i;
          break;
        }
        b = end;
        info.is_reply_or_forward = true;
        changed = true;
        blob_fail = std::string_view::npos;
      }
      // Step 4: a leading subj-blob goes if something remains after it.
      size_t blob = MatchBlob(v, b);
      if (blob != std::string_view::npos && blob < e) {
        b = blob;
        changed = true;
      }
    }
    // Step 6: "[fwd:" ... "]" wraps a forwarded subject.
    if (e - b >= 6 && StartsWithCi(v, b, "[fwd:") && v[e - 1] == ']') {
      b += 5;
      --e;
      info.is_reply_or_forward = true;
      continue;  // back to step 2
    }
    break;
  }
  info.subject = s.substr(b, e - b);
  return info;
}

std::string BaseSubject(std::string_view decoded_subject) {
  return ExtractBaseSubject(decoded_subject).subject;
}

namespace {

// Deeper threads than this are flattened below the node at this depth, so
// the recursive ThreadNode type stays cheap to build, render and destroy
// even for hostile References chains.
constexpr size_t kMaxThreadDepth = 500;

struct Container {
  int msg = -1;  // index into the message vector; -1 = dummy
  int parent = -1;
  std::vector<int> children;
};

std::string_view NormalizeId(std::string_view id) {
  id = TrimWhitespace(id);
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') {
    id = id.substr(1, id.size() - 2);
    id = TrimWhitespace(id);
  }
  return id;
}

class ReferencesThreader {
 public:
  explicit ReferencesThreader(std::vector<ThreadMessage> msgs)
      : msgs_(std::move(msgs)) {}

  std::vector<ThreadNode> Run() {
    // Mailbox order decides ties and which duplicate Message-ID wins.
    std::stable_sort(msgs_.begin(), msgs_.end(),
                     [](const ThreadMessage& a, const ThreadMessage& b) {
                       return a.id < b.id;
                     });
    for (size_t i = 0; i < msgs_.size(); ++i) LinkMessage(static_cast<int>(i));
    ids_.clear();  // step 3
    std::vector<int> roots;
    for (size_t i = 0; i < c_.size(); ++i) {
      if (c_[i].parent < 0) roots.push_back(static_cast<int>(i));
    }
    roots = Prune(roots);
    SortAll(roots);  // a dummy's "first child" below is then its earliest
    roots = GroupBySubject(roots);
    SortAll(roots);
    std::vector<ThreadNode> out;
    out.reserve(roots.size());
    for (int r : roots) out.push_back(Convert(r, 0));
    return out;
  }

 private:
  int NewContainer(int msg) {
    c_.push_back(Container{msg, -1, {}});
    return static_cast<int>(c_.size() - 1);
  }

  int Lookup(std::string_view id) {
    auto [it, inserted] = ids_.try_emplace(std::string(id), -1);
    if (inserted) it->second = NewContainer(-1);
    return it->second;
  }

  // Whether `node` is `ancestor` or below it.
  bool IsUnder(int node, int ancestor) const {
    for (int n = node; n >= 0; n = c_[n].parent) {
      if (n == ancestor) return true;
    }
    return false;
  }

  void Unlink(int child) {
    int p = c_[child].parent;
    if (p < 0) return;
    auto& kids = c_[p].children;
    kids.erase(std::find(kids.begin(), kids.end(), child));
    c_[child].parent = -1;
  }

  void Link(int parent, int child) {
    c_[child].parent = parent;
    c_[parent].children.push_back(child);
  }

  // RFC 5256 §3 REFERENCES step 1.
  void LinkMessage(int m) {
    std::string_view id = NormalizeId(msgs_[m].message_id);
    int self = -1;
    if (!id.empty()) {
      auto it = ids_.find(std::string(id));
      if (it == ids_.end()) {
        self = NewContainer(m);
        ids_.emplace(std::string(id), self);
      } else if (c_[it->second].msg < 0) {
        self = it->second;
        c_[self].msg = m;
      }
    }
    // Missing or duplicate Message-ID: a container nobody can reference.
    if (self < 0) self = NewContainer(m);

    // 1.B: chain the references parent -> child, never creating a loop and
    // never moving a container that already has a parent.
    int prev = -1;
    for (const std::string& ref : msgs_[m].references) {
      std::string_view r = NormalizeId(ref);
      if (r.empty()) continue;
      int cur = Lookup(r);
      if (cur == self) continue;  // a message cannot reference itself
      if (prev >= 0 && prev != cur && c_[cur].parent < 0 &&
          !IsUnder(prev, cur)) {
        Link(prev, cur);
      }
      prev = cur;
    }
    // 1.C: the last reference is the parent; this message's own References
    // beat a link made from another message's (probably truncated) list.
    if (prev < 0) {
      Unlink(self);
    } else if (c_[self].parent != prev && !IsUnder(prev, self)) {
      Unlink(self);
      Link(prev, self);
    }
  }

  // Step 4: drop childless dummies; replace dummies by their children,
  // except at the root where a dummy with several children stays. Works
  // bottom-up with an explicit stack (chains may be very deep).
  std::vector<int> Prune(const std::vector<int>& roots) {
    std::vector<int> order;  // post-order
    std::vector<std::pair<int, size_t>> stack;
    for (int r : roots) {
      stack.emplace_back(r, 0);
      while (!stack.empty()) {
        auto& [n, next] = stack.back();
        if (next < c_[n].children.size()) {
          int child = c_[n].children[next++];
          stack.emplace_back(child, 0);
        } else {
          order.push_back(n);
          stack.pop_back();
        }
      }
    }
    for (int n : order) {
      std::vector<int> kids;
      for (int k : c_[n].children) Absorb(k, n, kids);
      c_[n].children = std::move(kids);
    }
    std::vector<int> out;
    for (int r : roots) {
      if (c_[r].msg < 0 && c_[r].children.size() == 1) {
        // Promoting a single child to the root is allowed.
        int only = c_[r].children[0];
        c_[only].parent = -1;
        c_[r].children.clear();
        out.push_back(only);
      } else if (c_[r].msg >= 0 || !c_[r].children.empty()) {
        out.push_back(r);
      }
    }
    return out;
  }

  // Adds child `k` (already pruned) of `parent` to `kids`, or its children
  // in its place when it is a dummy.
  void Absorb(int k, int parent, std::vector<int>& kids) {
    if (c_[k].msg >= 0) {
      kids.push_back(k);
      return;
    }
    for (int g : c_[k].children) {
      c_[g].parent = parent;
      kids.push_back(g);
    }
    c_[k].children.clear();
    c_[k].parent = -1;
  }

  // The message that stands for a container in sorting and subject
  // grouping: itself, or a dummy's first child (RFC 5256 §3 steps 5, 6).
  int Representative(int n) const {
    while (n >= 0 && c_[n].msg < 0) {
      if (c_[n].children.empty()) return -1;
      n = c_[n].children[0];
    }
    return n < 0 ? -1 : c_[n].msg;
  }

  std::tuple<int64_t, uint32_t> SortKey(int n) const {
    int m = Representative(n);
    if (m < 0) return {INT64_MAX, UINT32_MAX};
    return {msgs_[m].date, msgs_[m].id};
  }

  void SortList(std::vector<int>& list) {
    std::vector<std::pair<std::tuple<int64_t, uint32_t>, int>> keyed;
    keyed.reserve(list.size());
    for (int n : list) keyed.emplace_back(SortKey(n), n);
    std::stable_sort(
        keyed.begin(), keyed.end(),
        [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < list.size(); ++i) list[i] = keyed[i].second;
  }

  // Step 6: siblings by sent date, then mailbox order. A dummy sorts by
  // its first child, so its children are sorted before it is.
  void SortAll(std::vector<int>& roots) {
    for (Container& c : c_) {
      if (c.msg >= 0) SortList(c.children);
    }
    for (Container& c : c_) {
      if (c.msg < 0) SortList(c.children);
    }
    SortList(roots);
  }

  // Step 5: gather root-level threads with the same base subject.
  std::vector<int> GroupBySubject(std::vector<int> roots) {
    auto subject_of = [&](int n) -> std::string {
      int m = Representative(n);
      return m < 0 ? std::string() : AsciiLowercase(msgs_[m].base_subject);
    };
    auto is_reply = [&](int n) {
      return c_[n].msg >= 0 && msgs_[c_[n].msg].subject_is_reply;
    };
    std::vector<std::string> subjects;
    subjects.reserve(roots.size());
    for (int r : roots) subjects.push_back(subject_of(r));
    // 5.C: the table entry prefers a dummy, then a non-reply.
    std::unordered_map<std::string, size_t> table;  // -> index in roots
    for (size_t i = 0; i < roots.size(); ++i) {
      if (subjects[i].empty()) continue;
      auto [it, inserted] = table.try_emplace(subjects[i], i);
      if (inserted) continue;
      int old = roots[it->second];
      int cur = roots[i];
      if (c_[old].msg >= 0 &&
          (c_[cur].msg < 0 || (is_reply(old) && !is_reply(cur)))) {
        it->second = i;
      }
    }
    // 5.D: merge every other root into the table's.
    std::vector<bool> removed(roots.size(), false);
    for (size_t i = 0; i < roots.size(); ++i) {
      if (subjects[i].empty()) continue;
      size_t t = table.at(subjects[i]);
      if (t == i) continue;
      int cur = roots[i];
      int tab = roots[t];
      if (c_[cur].msg < 0 && c_[tab].msg < 0) {
        for (int k : c_[cur].children) Link(tab, k);
        c_[cur].children.clear();
      } else if (c_[tab].msg < 0 || (is_reply(cur) && !is_reply(tab))) {
        Link(tab, cur);
      } else {
        int dummy = NewContainer(-1);
        Link(dummy, tab);
        Link(dummy, cur);
        roots[t] = dummy;
      }
      removed[i] = true;
    }
    std::vector<int> out;
    for (size_t i = 0; i < roots.size(); ++i) {
      if (!removed[i]) out.push_back(roots[i]);
    }
    return out;
  }

  ThreadNode Convert(int n, size_t depth) const {
    ThreadNode node;
    node.id = c_[n].msg < 0 ? 0 : msgs_[c_[n].msg].id;
    if (depth + 1 < kMaxThreadDepth) {
      for (int k : c_[n].children)
        node.children.push_back(Convert(k, depth + 1));
      return node;
    }
    // Depth cap: the rest of the subtree becomes leaves, in pre-order.
    std::vector<int> stack(c_[n].children.rbegin(), c_[n].children.rend());
    while (!stack.empty()) {
      int k = stack.back();
      stack.pop_back();
      if (c_[k].msg >= 0)
        node.children.push_back(ThreadNode{msgs_[c_[k].msg].id, {}});
      stack.insert(stack.end(), c_[k].children.rbegin(), c_[k].children.rend());
    }
    return node;
  }

  std::vector<ThreadMessage> msgs_;
  std::vector<Container> c_;
  std::unordered_map<std::string, int> ids_;
};

void AppendMembers(std::string& out, const ThreadNode& n) {
  if (n.id != 0) {
    out += std::to_string(n.id);
    if (n.children.empty()) return;
    out += ' ';
  }
  if (n.children.size() == 1) {
    AppendMembers(out, n.children[0]);
    return;
  }
  // thread-nested = 2*thread-list
  for (const ThreadNode& c : n.children) {
    out += '(';
    AppendMembers(out, c);
    out += ')';
  }
}

}  // namespace

std::vector<ThreadNode> ThreadOrderedSubject(std::vector<ThreadMessage> msgs) {
  struct Keyed {
    std::string subject;  // case-folded
    const ThreadMessage* m;
  };
  std::vector<Keyed> k;
  k.reserve(msgs.size());
  for (const ThreadMessage& m : msgs) {
    k.push_back(Keyed{AsciiLowercase(m.base_subject), &m});
  }
  std::sort(k.begin(), k.end(), [](const Keyed& a, const Keyed& b) {
    return std::tie(a.subject, a.m->date, a.m->id) <
           std::tie(b.subject, b.m->date, b.m->id);
  });
  struct Thread {
    int64_t date;
    uint32_t first_id;
    ThreadNode node;
  };
  std::vector<Thread> threads;
  for (size_t i = 0; i < k.size(); ++i) {
    if (i == 0 || k[i].subject != k[i - 1].subject) {
      threads.push_back(Thread{k[i].m->date, k[i].m->id, {k[i].m->id, {}}});
    } else {
      threads.back().node.children.push_back(ThreadNode{k[i].m->id, {}});
    }
  }
  std::sort(
      threads.begin(), threads.end(), [](const Thread& a, const Thread& b) {
        return std::tie(a.date, a.first_id) < std::tie(b.date, b.first_id);
      });
  std::vector<ThreadNode> out;
  out.reserve(threads.size());
  for (Thread& t : threads) out.push_back(std::move(t.node));
  return out;
}

std::vector<ThreadNode> ThreadReferences(std::vector<ThreadMessage> msgs) {
  return ReferencesThreader(std::move(msgs)).Run();
}

std::vector<std::string> ParseMsgIds(std::string_view v) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < v.size()) {
    size_t open = v.find('<', pos);
    if (open == std::string_view::npos) break;
    size_t close = v.find('>', open + 1);
    if (close == std::string_view::npos) break;
    size_t inner_open = v.find('<', open + 1);
    if (inner_open < close) {  // "<junk <id>": restart at the inner '<'
      pos = inner_open;
      continue;
    }
    std::string id;
    for (char c : v.substr(open, close - open + 1)) {
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') id += c;
    }
    if (id.size() > 2) out.push_back(std::move(id));
    pos = close + 1;
  }
  return out;
}

int64_t SentDate(const mime::Summary& s, int64_t internal_date) {
  if (s.envelope.date) {
    if (auto d = mime::ParseDate(*s.envelope.date)) return *d;
  }
  return internal_date;
}

ThreadMessage MakeThreadMessage(
    uint32_t id, const mime::Summary& s,
    const std::optional<std::string>& references_header,
    int64_t internal_date) {
  std::vector<std::string> refs;
  if (references_header) refs = ParseMsgIds(*references_header);
  if (refs.empty() && s.envelope.in_reply_to) {
    std::vector<std::string> irt = ParseMsgIds(*s.envelope.in_reply_to);
    if (!irt.empty()) refs.push_back(std::move(irt[0]));
  }
  std::string mid;
  if (s.envelope.message_id) {
    std::vector<std::string> ids = ParseMsgIds(*s.envelope.message_id);
    if (!ids.empty()) mid = std::move(ids[0]);
  }
  BaseSubjectInfo b = ExtractBaseSubject(
      s.envelope.subject ? mime::DecodeHeaderValue(*s.envelope.subject)
                         : std::string());
  ThreadMessage m{id, std::move(mid), std::move(refs), std::move(b.subject),
                  SentDate(s, internal_date)};
  m.subject_is_reply = b.is_reply_or_forward;
  return m;
}

namespace {

// The first real address (group markers skipped).
const mime::Address* FirstAddress(const std::vector<mime::Address>& list) {
  for (const mime::Address& a : list) {
    if (a.host) return &a;
  }
  return nullptr;
}

std::string MailboxKey(const std::vector<mime::Address>& list) {
  const mime::Address* a = FirstAddress(list);
  return a && a->mailbox ? *a->mailbox : std::string();
}

// RFC 5957 §3: the decoded display name, or the addr-spec without one.
std::string DisplayKey(const std::vector<mime::Address>& list) {
  const mime::Address* a = FirstAddress(list);
  if (a == nullptr) return {};
  if (a->name) {
    std::string name(TrimWhitespace(mime::DecodeHeaderValue(*a->name)));
    if (!name.empty()) return name;
  }
  std::string spec = a->mailbox.value_or("");
  if (a->host && !a->host->empty()) spec += "@" + *a->host;
  return spec;
}

// i;ascii-casemap (RFC 4790 §9.2): a-z as A-Z, then octet order.
int CompareCasemap(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (x >= 'a' && x <= 'z') x -= 32;
    if (y >= 'a' && y <= 'z') y -= 32;
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

template <class T>
int Compare3(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

}  // namespace

SortMessage MakeSortMessage(uint32_t id, const mime::Summary& s,
                            int64_t internal_date, uint64_t size) {
  SortMessage m;
  m.id = id;
  m.arrival = internal_date;
  m.date = SentDate(s, internal_date);
  m.size = size;
  m.subject = BaseSubject(s.envelope.subject
                              ? mime::DecodeHeaderValue(*s.envelope.subject)
                              : std::string());
  m.from = MailboxKey(s.envelope.from);
  m.to = MailboxKey(s.envelope.to);
  m.cc = MailboxKey(s.envelope.cc);
  m.display_from = DisplayKey(s.envelope.from);
  m.display_to = DisplayKey(s.envelope.to);
  return m;
}

std::vector<uint32_t> SortMessages(std::vector<SortMessage> msgs,
                                   const std::vector<SortCriterion>& criteria) {
  auto cmp = [&](const SortMessage& a, const SortMessage& b) {
    for (const SortCriterion& c : criteria) {
      int r = 0;
      switch (c.key) {
        case SortKey::kArrival:
          r = Compare3(a.arrival, b.arrival);
          break;
        case SortKey::kDate:
          r = Compare3(a.date, b.date);
          break;
        case SortKey::kSize:
          r = Compare3(a.size, b.size);
          break;
        case SortKey::kSubject:
          r = CompareCasemap(a.subject, b.subject);
          break;
        case SortKey::kFrom:
          r = CompareCasemap(a.from, b.from);
          break;
        case SortKey::kTo:
          r = CompareCasemap(a.to, b.to);
          break;
        case SortKey::kCc:
          r = CompareCasemap(a.cc, b.cc);
          break;
        case SortKey::kDisplayFrom:
          r = CompareCasemap(a.display_from, b.display_from);
          break;
        case SortKey::kDisplayTo:
          r = CompareCasemap(a.display_to, b.display_to);
          break;
      }
      if (r != 0) return c.reverse ? r > 0 : r < 0;
    }
    return a.id < b.id;
  };
  std::sort(msgs.begin(), msgs.end(), cmp);
  std::vector<uint32_t> out;
  out.reserve(msgs.size());
  for (const SortMessage& m : msgs) out.push_back(m.id);
  return out;
}

std::string RenderThreads(const std::vector<ThreadNode>& roots) {
  std::string out;
  for (const ThreadNode& r : roots) {
    out += '(';
    AppendMembers(out, r);
    out += ')';
  }
  return out;
}

}  // namespace correio::imap
