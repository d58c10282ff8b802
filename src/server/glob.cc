// Glob matching with Redis's semantics (util.c stringmatchlen), iterative with backtracking
// only to the last '*', so a pattern cannot blow up.
#include "server/glob.h"

#include <cctype>

namespace kvcache::server {
namespace {

char Fold(char c, bool nocase) {
  return nocase ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
}

// Matches one pattern element at p against c; sets *next to the element's end. Returns -1 if
// the element is malformed as a class (treated literally by the caller).
bool MatchOne(std::string_view pat, size_t p, char c, bool nocase, size_t* next) {
  char pc = pat[p];
  if (pc == '?') {
    *next = p + 1;
    return true;
  }
  if (pc == '\\' && p + 1 < pat.size()) {
    *next = p + 2;
    return Fold(pat[p + 1], nocase) == Fold(c, nocase);
  }
  if (pc == '[') {
    size_t i = p + 1;
    bool negate = i < pat.size() && pat[i] == '^';
    if (negate) ++i;
    bool match = false;
    for (; i < pat.size() && pat[i] != ']'; ++i) {
      if (pat[i] == '\\' && i + 1 < pat.size()) {
        ++i;
        if (Fold(pat[i], nocase) == Fold(c, nocase)) match = true;
      } else if (i + 2 < pat.size() && pat[i + 1] == '-') {
        // As Redis: a range even when it ends in ']', which then does not close the class.
        char lo = Fold(pat[i], nocase), hi = Fold(pat[i + 2], nocase), x = Fold(c, nocase);
        if (lo > hi) std::swap(lo, hi);
        if (x >= lo && x <= hi) match = true;
        i += 2;
      } else if (Fold(pat[i], nocase) == Fold(c, nocase)) {
        match = true;
      }
    }
    *next = i < pat.size() ? i + 1 : i;  // an unterminated class runs to the end, as in Redis
    return negate ? !match : match;
  }
  *next = p + 1;
  return Fold(pc, nocase) == Fold(c, nocase);
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text, bool nocase) {
  // Redis's matcher looks at the pattern only while there is text: an empty text matches only
  // the empty pattern (KEYS and SCAN let a lone '*' list everything without matching).
  if (text.empty()) return pattern.empty();
  size_t p = 0, t = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      while (p < pattern.size() && pattern[p] == '*') ++p;
      if (p == pattern.size()) return true;
      star_p = p;
      star_t = t;
      continue;
    }
    size_t next;
    if (p < pattern.size() && MatchOne(pattern, p, text[t], nocase, &next)) {
      p = next;
      ++t;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace kvcache::server
