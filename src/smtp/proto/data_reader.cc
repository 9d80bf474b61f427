#include "smtp/proto/data_reader.h"

#include <algorithm>
#include <cstring>

namespace correio::smtp {

DataReader::DataReader(uint64_t max_size, uint64_t max_line)
    : max_size_(max_size), max_line_(max_line) {}

namespace {

// Past this, a message gets room for the largest allowed (plus
// kHeaderSlack) at once: untouched pages of the reservation cost no
// memory, while doubling would hold the old and the new buffer together
// (three times the message) at each step. Below it, doubling is cheap.
constexpr uint64_t kReserveAllAfter = 1 << 20;

void MakeRoom(std::string& message, size_t more, uint64_t max_size) {
  if (message.size() + more <= message.capacity()) return;
  if (message.size() + more >= kReserveAllAfter) {
    message.reserve(std::max<uint64_t>(message.size() + more,
                                       max_size + kHeaderSlack));
  }
}

// Counts `octets` in `size` and adds them to `message`; past `max_size`
// the message is dropped (nothing of it will be stored) and `too_big` set,
// and octets are only counted from then on.
void Keep(std::string& message, uint64_t& size, bool& too_big,
          uint64_t max_size, std::string_view octets) {
  size += octets.size();
  if (size > max_size) {
    if (!too_big) {
      too_big = true;
      std::string().swap(message);
    }
    return;
  }
  MakeRoom(message, octets.size(), max_size);
  message.append(octets);
}

}  // namespace

void DataReader::Emit(char c) {
  if (line_length_ > max_line_) return;  // see Feed
  EmitRun(std::string_view(&c, 1));
}

void DataReader::Mid(char c) {
  if (c == '\r') {
    state_ = State::kCr;  // held back until we know what follows
  } else if (c == '\n') {
    // RFC 5321 §2.3.8: LF alone is not a line end. Not a line start either,
    // so a "." after it is not an end of data.
    bare_lf_ = true;
    Emit(c);
    state_ = State::kMid;
  } else {
    Emit(c);
    state_ = State::kMid;
  }
}

void DataReader::EmitRun(std::string_view run) {
  Keep(message_, size_, too_big_, max_size_, run);
}

size_t DataReader::Feed(std::string_view in) {
  size_t i = 0;
  while (i < in.size() && !done_) {
    // Fast path: inside a line (or at the start of one not opened by "."),
    // everything up to the next CR or LF is plain text; taken as one run
    // it costs two memchr and one append instead of a state step per octet.
    if (state_ == State::kMid ||
        (state_ == State::kLineStart && in[i] != '.')) {
      const char* p = in.data() + i;
      size_t avail = in.size() - i;
      const void* cr = std::memchr(p, '\r', avail);
      size_t n = cr ? static_cast<const char*>(cr) - p : avail;
      const void* lf = std::memchr(p, '\n', n);
      if (lf) n = static_cast<const char*>(lf) - p;
      if (n > 0) {
        // Octets past the line limit are neither kept nor counted: the
        // message is refused as carrying an overlong line (500 5.5.2),
        // not as too big, however long the line, and the line costs no
        // memory (as when lines were read one by one and dropped).
        uint64_t room = line_length_ < max_line_ ? max_line_ - line_length_ : 0;
        line_length_ += n;
        if (line_length_ > max_line_) line_too_long_ = true;
        EmitRun(std::string_view(p, std::min<uint64_t>(n, room)));
        state_ = State::kMid;
        i += n;
        continue;
      }
    }
    char c = in[i++];
    if (++line_length_ > max_line_) line_too_long_ = true;
    switch (state_) {
      case State::kLineStart:
        if (c == '.') {
          state_ = State::kDot;
        } else {
          Mid(c);
        }
        break;
      case State::kMid:
        Mid(c);
        break;
      case State::kCr:
        if (c == '\n') {
          Emit('\r');
          Emit('\n');
          state_ = State::kLineStart;
          line_length_ = 0;
        } else {
          bare_cr_ = true;
          Emit('\r');
          Mid(c);
        }
        break;
      case State::kDot:
        if (c == '\r') {
          state_ = State::kDotCr;
        } else {
          // RFC 5321 §4.5.2: the first "." of a line with more on it is
          // removed.
          Mid(c);
        }
        break;
      case State::kDotCr:
        if (c == '\n') {
          done_ = true;  // CRLF "." CRLF
        } else {
          // ".<CR>x": the dot is stuffing; the CR is bare.
          bare_cr_ = true;
          Emit('\r');
          Mid(c);
        }
        break;
    }
  }
  return i;
}

void ChunkAccumulator::Feed(std::string_view in) {
  for (char c : in) {
    if (c == '\n') {
      if (!prev_cr_) bare_lf_ = true;
    } else if (prev_cr_) {
      bare_cr_ = true;
    }
    prev_cr_ = c == '\r';
  }
  Keep(message_, size_, too_big_, max_size_, in);
}

void ChunkAccumulator::Finish() {
  if (prev_cr_) bare_cr_ = true;
  prev_cr_ = false;
}

}  // namespace correio::smtp
