#include "rules/rule_parser.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

namespace hn {
namespace {

// Suricata's classification.config (name, description, priority).
struct Classtype {
  const char* name;
  std::pair<const char*, int> info;
};
const Classtype kClasstypes[] = {
    {"not-suspicious", {"Not Suspicious Traffic", 3}},
    {"unknown", {"Unknown Traffic", 3}},
    {"bad-unknown", {"Potentially Bad Traffic", 2}},
    {"attempted-recon", {"Attempted Information Leak", 2}},
    {"successful-recon-limited", {"Information Leak", 2}},
    {"successful-recon-largescale", {"Large Scale Information Leak", 2}},
    {"attempted-dos", {"Attempted Denial of Service", 2}},
    {"successful-dos", {"Denial of Service", 2}},
    {"attempted-user", {"Attempted User Privilege Gain", 1}},
    {"unsuccessful-user", {"Unsuccessful User Privilege Gain", 1}},
    {"successful-user", {"Successful User Privilege Gain", 1}},
    {"attempted-admin", {"Attempted Administrator Privilege Gain", 1}},
    {"successful-admin", {"Successful Administrator Privilege Gain", 1}},
    {"rpc-portmap-decode", {"Decode of an RPC Query", 2}},
    {"shellcode-detect", {"Executable code was detected", 1}},
    {"string-detect", {"A suspicious string was detected", 3}},
    {"suspicious-filename-detect", {"A suspicious filename was detected", 2}},
    {"suspicious-login", {"An attempted login using a suspicious username was detected", 2}},
    {"system-call-detect", {"A system call was detected", 2}},
    {"tcp-connection", {"A TCP connection was detected", 4}},
    {"trojan-activity", {"A Network Trojan was detected", 1}},
    {"unusual-client-port-connection", {"A client was using an unusual port", 2}},
    {"network-scan", {"Detection of a Network Scan", 3}},
    {"denial-of-service", {"Detection of a Denial of Service Attack", 2}},
    {"non-standard-protocol", {"Detection of a non-standard protocol or event", 2}},
    {"protocol-command-decode", {"Generic Protocol Command Decode", 3}},
    {"web-application-activity", {"access to a potentially vulnerable web application", 2}},
    {"web-application-attack", {"Web Application Attack", 1}},
    {"misc-activity", {"Misc activity", 3}},
    {"misc-attack", {"Misc Attack", 2}},
    {"icmp-event", {"Generic ICMP event", 3}},
    {"inappropriate-content", {"Inappropriate Content was Detected", 1}},
    {"policy-violation", {"Potential Corporate Privacy Violation", 1}},
    {"default-login-attempt", {"Attempt to login by a default username and password", 2}},
    {"targeted-activity", {"Targeted Malicious Activity was Detected", 1}},
    {"exploit-kit", {"Exploit Kit Activity Detected", 1}},
    {"external-ip-check", {"Device Retrieving External IP Address Detected", 2}},
    {"domain-c2", {"Domain Observed Used for C2 Detected", 1}},
    {"pup-activity", {"Possibly Unwanted Program Detected", 2}},
    {"credential-theft", {"Successful Credential Theft Detected", 1}},
    {"social-engineering", {"Possible Social Engineering Attempted", 2}},
    {"coin-mining", {"Crypto Currency Mining Activity Detected", 2}},
    {"command-and-control", {"Malware Command and Control Activity Detected", 1}},
    {"sdf", {"Sensitive Data was Transmitted Across the Network", 2}},
};

// Suricata's default variables (suricata.yaml), before [rules.vars].
const std::pair<const char*, const char*> kDefaultVars[] = {
    {"EXTERNAL_NET", "!$HOME_NET"},
    {"HTTP_SERVERS", "$HOME_NET"},   {"SMTP_SERVERS", "$HOME_NET"},  {"SQL_SERVERS", "$HOME_NET"},
    {"DNS_SERVERS", "$HOME_NET"},    {"TELNET_SERVERS", "$HOME_NET"}, {"AIM_SERVERS", "$EXTERNAL_NET"},
    {"DC_SERVERS", "$HOME_NET"},     {"DNP3_SERVER", "$HOME_NET"},   {"DNP3_CLIENT", "$HOME_NET"},
    {"MODBUS_CLIENT", "$HOME_NET"},  {"MODBUS_SERVER", "$HOME_NET"}, {"ENIP_CLIENT", "$HOME_NET"},
    {"ENIP_SERVER", "$HOME_NET"},
    {"HTTP_PORTS", "80"},            {"SHELLCODE_PORTS", "!80"},     {"ORACLE_PORTS", "1521"},
    {"SSH_PORTS", "22"},             {"DNP3_PORTS", "20000"},        {"MODBUS_PORTS", "502"},
    {"FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"}, {"FTP_PORTS", "21"}, {"GENEVE_PORTS", "6081"},
    {"VXLAN_PORTS", "4789"},         {"TEREDO_PORTS", "3544"},
};

// Keywords read for their value only (or accepted and ignored).
const std::set<std::string> kIgnoredKeywords = {"reference", "target", "rawbytes"};

std::string Trim(std::string s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) a++;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) b--;
  return s.substr(a, b - a);
}

bool ParseInt(const std::string& s, int64_t lo, int64_t hi, int64_t* out) {
  std::string t = Trim(s);
  if (t.empty()) return false;
  size_t i = 0;
  bool neg = false;
  if (t[0] == '-' || t[0] == '+') {
    neg = t[0] == '-';
    i = 1;
  }
  if (i >= t.size()) return false;
  int64_t v = 0;
  for (; i < t.size(); i++) {
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) return false;
    v = v * 10 + (t[i] - '0');
    if (v > 1'000'000'000) return false;
  }
  if (neg) v = -v;
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}

// One rule being parsed: where it is, and what went wrong.
struct Ctx {
  const std::string& file;
  int line;
  const RuleLoadOptions& opt;
  bool turn_around;
  std::vector<std::string> errors;    // of this rule
  std::string unsupported;            // first keyword outside the subset
  std::map<std::string, std::string> var_values;  // resolved variable texts

  void Error(const std::string& m) { errors.push_back(file + ":" + std::to_string(line) + ": " + m); }
  void Unsupported(const std::string& k) {
    if (unsupported.empty()) unsupported = k;
  }
};

// ---------------------------------------------------------------- addresses and ports

// Splits a list body "a,b,[c,d]" at top-level commas.
std::vector<std::string> SplitTop(const std::string& s) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char ch : s) {
    if (ch == '[') depth++;
    if (ch == ']') depth--;
    if (ch == ',' && depth == 0) {
      out.push_back(Trim(cur));
      cur.clear();
      continue;
    }
    cur += ch;
  }
  out.push_back(Trim(cur));
  return out;
}

const std::string* LookupVar(Ctx& c, const std::string& name) {
  auto it = c.var_values.find(name);
  return it == c.var_values.end() ? nullptr : &it->second;
}

std::optional<AddrRange> ParseCidr(const std::string& s) {
  AddrRange r;
  std::string a = s;
  int bits = -1;
  if (size_t slash = s.find('/'); slash != std::string::npos) {
    a = s.substr(0, slash);
    int64_t b;
    if (!ParseInt(s.substr(slash + 1), 0, 128, &b)) return std::nullopt;
    bits = int(b);
  }
  if (a.find(':') != std::string::npos) {
    if (::inet_pton(AF_INET6, a.c_str(), r.addr.data()) != 1) return std::nullopt;
    r.v6 = true;
    if (bits < 0) bits = 128;
    if (bits > 128) return std::nullopt;
  } else {
    if (::inet_pton(AF_INET, a.c_str(), r.addr.data()) != 1) return std::nullopt;
    if (bits < 0) bits = 32;
    if (bits > 32) return std::nullopt;
  }
  r.bits = uint8_t(bits);
  return r;
}

// Adds the addresses of text (negated when neg) to set. depth guards variable loops.
bool AddAddresses(Ctx& c, const std::string& text, bool neg, int depth, bool top, AddrSet* set) {
  std::string s = Trim(text);
  if (depth > 16) {
    c.Error("variables refer to each other in a loop (at '" + s + "')");
    return false;
  }
  if (s.empty()) {
    c.Error("empty address");
    return false;
  }
  if (s[0] == '!') return AddAddresses(c, s.substr(1), !neg, depth + 1, top, set);
  if (s[0] == '[') {
    if (s.back() != ']') {
      c.Error("address list '" + s + "' has no closing ]");
      return false;
    }
    std::vector<std::string> items = SplitTop(s.substr(1, s.size() - 2));
    // [a, !b] (not negated): include a, exclude b. ![a, b]: exclude both.
    for (const std::string& it : items) {
      if (!AddAddresses(c, it, neg, depth + 1, false, set)) return false;
    }
    return true;
  }
  if (s[0] == '$') {
    std::string name = s.substr(1);
    if (c.turn_around && top && depth == 0) {
      if (name == "HOME_NET") name = "EXTERNAL_NET";
      else if (name == "EXTERNAL_NET") name = "HOME_NET";
    }
    const std::string* v = LookupVar(c, name);
    if (!v) {
      c.Error("unknown variable $" + name + " (set it in [rules.vars])");
      return false;
    }
    if (name == "EXTERNAL_NET" && Trim(*v) == "!$HOME_NET" && !neg) {
      // !$HOME_NET: every address but the honeypots'.
      return AddAddresses(c, *v, neg, depth + 1, false, set);
    }
    return AddAddresses(c, *v, neg, depth + 1, false, set);
  }
  if (s == "any") {
    if (neg) {
      c.Error("!any matches nothing");
      return false;
    }
    return true;  // include list stays as it is ("any" adds no restriction)
  }
  auto r = ParseCidr(s);
  if (!r) {
    c.Error("'" + s + "' is not an address, a network (CIDR), any, a list or a $variable");
    return false;
  }
  (neg ? set->exclude : set->include).push_back(*r);
  return true;
}

bool AddPorts(Ctx& c, const std::string& text, bool neg, int depth, PortSet* set) {
  std::string s = Trim(text);
  if (depth > 16) {
    c.Error("variables refer to each other in a loop (at '" + s + "')");
    return false;
  }
  if (s.empty()) {
    c.Error("empty port");
    return false;
  }
  if (s[0] == '!') return AddPorts(c, s.substr(1), !neg, depth + 1, set);
  if (s[0] == '[') {
    if (s.back() != ']') {
      c.Error("port list '" + s + "' has no closing ]");
      return false;
    }
    for (const std::string& it : SplitTop(s.substr(1, s.size() - 2))) {
      if (!AddPorts(c, it, neg, depth + 1, set)) return false;
    }
    return true;
  }
  if (s[0] == '$') {
    const std::string* v = LookupVar(c, s.substr(1));
    if (!v) {
      c.Error("unknown variable " + s + " (set it in [rules.vars])");
      return false;
    }
    return AddPorts(c, *v, neg, depth + 1, set);
  }
  if (s == "any") {
    if (neg) {
      c.Error("!any matches no port");
      return false;
    }
    return true;
  }
  int64_t lo = 0, hi = 65535;
  if (size_t colon = s.find(':'); colon != std::string::npos) {
    const std::string a = s.substr(0, colon), b = s.substr(colon + 1);
    if ((!a.empty() && !ParseInt(a, 0, 65535, &lo)) || (!b.empty() && !ParseInt(b, 0, 65535, &hi)) ||
        (a.empty() && b.empty()) || lo > hi) {
      c.Error("'" + s + "' is not a port range (like 1024:65535, :1023 or 6000:)");
      return false;
    }
  } else if (!ParseInt(s, 0, 65535, &lo)) {
    c.Error("'" + s + "' is not a port (0-65535), a range, any, a list or a $variable");
    return false;
  } else {
    hi = lo;
  }
  (neg ? set->exclude : set->include).emplace_back(uint16_t(lo), uint16_t(hi));
  return true;
}

// ---------------------------------------------------------------- options

// Removes surrounding quotes; unescapes \; \" \\ and \: (and, for pcre,
// keeps every other backslash for PCRE2).
bool Unquote(Ctx& c, const std::string& kw, const std::string& v, bool keep_other_escapes, std::string* out) {
  std::string s = Trim(v);
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') {
    c.Error(kw + ": the value must be in double quotes, got " + (s.empty() ? "nothing" : "'" + s + "'"));
    return false;
  }
  s = s.substr(1, s.size() - 2);
  out->clear();
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char n = s[i + 1];
      if (n == ';' || n == '"' || n == ':' || (n == '\\' && !keep_other_escapes)) {
        out->push_back(n);
        i++;
        continue;
      }
      if (!keep_other_escapes) {
        c.Error(kw + ": unknown escape \\" + std::string(1, n) + " (only \\; \\\" \\\\ \\: are escapes; use |hex|)");
        return false;
      }
      out->push_back('\\');
      out->push_back(n);
      i++;
      continue;
    }
    if (s[i] == '"' && !keep_other_escapes) {
      c.Error(kw + ": a \" inside the value must be escaped as \\\"");
      return false;
    }
    out->push_back(s[i]);
  }
  return true;
}

// "abc|41 42|d" -> bytes.
bool DecodeContent(Ctx& c, const std::string& kw, const std::string& s, std::string* out) {
  out->clear();
  bool hex = false;
  int nib = -1;
  for (char ch : s) {
    if (ch == '|') {
      if (hex && nib >= 0) {
        c.Error(kw + ": odd number of hex digits in |...|");
        return false;
      }
      hex = !hex;
      continue;
    }
    if (!hex) {
      out->push_back(ch);
      continue;
    }
    if (ch == ' ') {
      if (nib >= 0) {
        c.Error(kw + ": a hex byte in |...| is two digits");
        return false;
      }
      continue;
    }
    if (!std::isxdigit(static_cast<unsigned char>(ch))) {
      c.Error(kw + ": '" + std::string(1, ch) + "' is not a hex digit in |...|");
      return false;
    }
    const int d = std::isdigit(static_cast<unsigned char>(ch)) ? ch - '0' : (std::tolower(ch) - 'a' + 10);
    if (nib < 0) {
      nib = d;
    } else {
      out->push_back(char(nib * 16 + d));
      nib = -1;
    }
  }
  if (hex) {
    c.Error(kw + ": |hex| is not closed");
    return false;
  }
  return true;
}

ContentMatch* LastContent(Ctx& c, Rule& r, const std::string& kw) {
  for (auto it = r.matches.rbegin(); it != r.matches.rend(); ++it) {
    if (it->kind == PayloadMatch::kContent) return &it->content;
  }
  c.Error(kw + " needs a content before it");
  return nullptr;
}

void ParseContentModifier(Ctx& c, Rule& r, const std::string& kw, const std::string& val, bool has_val) {
  ContentMatch* m = LastContent(c, r, kw);
  if (!m) return;
  // The previous payload keyword must be this content for modifiers to apply to it.
  if (!r.matches.empty() && r.matches.back().kind != PayloadMatch::kContent) {
    c.Error(kw + " must follow its content (a pcre came between)");
    return;
  }
  const int32_t len = int32_t(m->bytes.size());
  auto need_value = [&]() {
    if (!has_val) c.Error(kw + " needs a value");
    return has_val;
  };
  auto no_value = [&]() {
    if (has_val) c.Error(kw + " takes no value");
    return !has_val;
  };
  const bool absolute = m->offset || m->depth || m->startswith;
  const bool relative = m->distance || m->within;
  if (kw == "nocase") {
    if (no_value()) {
      if (m->nocase) c.Error("nocase given twice for one content");
      m->nocase = true;
    }
  } else if (kw == "offset" || kw == "depth" || kw == "distance" || kw == "within") {
    if (!need_value()) return;
    int64_t v;
    const bool signed_ok = kw == "distance";
    if (!ParseInt(val, signed_ok ? -65535 : 0, 65535, &v)) {
      c.Error(kw + ": must be a whole number" + std::string(signed_ok ? "" : " >= 0") + ", got '" + Trim(val) + "'");
      return;
    }
    std::optional<int32_t>* slot = kw == "offset" ? &m->offset : kw == "depth" ? &m->depth
                                   : kw == "distance" ? &m->distance : &m->within;
    if (*slot) {
      c.Error(kw + " given twice for one content");
      return;
    }
    const bool is_rel = kw == "distance" || kw == "within";
    if ((is_rel && absolute) || (!is_rel && relative)) {
      c.Error(kw + ": offset/depth (absolute) and distance/within (relative) cannot be mixed on one content");
      return;
    }
    if (m->startswith || m->endswith) {
      if (kw != "distance" || m->endswith) {
        c.Error(kw + " cannot be combined with startswith/endswith");
        return;
      }
    }
    if ((kw == "depth" || kw == "within") && v < len) {
      c.Error(kw + ": " + std::to_string(v) + " is smaller than the content's length (" + std::to_string(len) +
              "): it could never match");
      return;
    }
    *slot = int32_t(v);
  } else if (kw == "startswith") {
    if (!no_value()) return;
    if (absolute || relative) {
      c.Error("startswith cannot be combined with offset, depth, distance or within");
      return;
    }
    m->startswith = true;
  } else if (kw == "endswith") {
    if (!no_value()) return;
    if (m->depth || m->within) {
      c.Error("endswith cannot be combined with depth or within");
      return;
    }
    m->endswith = true;
  } else if (kw == "fast_pattern") {
    m->fast_pattern = true;  // "only" and "N,M" forms: a hint, the match is exact anyway
  } else if (kw == "replace") {
    if (!need_value()) return;
    std::string q, b;
    if (!Unquote(c, kw, val, false, &q) || !DecodeContent(c, kw, q, &b)) return;
    if (m->negated) {
      c.Error("replace cannot follow a negated content");
      return;
    }
    if (b.size() != m->bytes.size()) {
      c.Error("replace: must be as long as its content (" + std::to_string(m->bytes.size()) + " bytes), got " +
              std::to_string(b.size()) + " bytes");
      return;
    }
    if (m->replace) {
      c.Error("replace given twice for one content");
      return;
    }
    m->replace = b;
  }
}

void ParsePcre(Ctx& c, Rule& r, const std::string& val) {
  std::string s = Trim(val);
  PcreMatch p;
  if (!s.empty() && s[0] == '!') {
    p.negated = true;
    s = Trim(s.substr(1));
  }
  std::string body;
  if (!Unquote(c, "pcre", s, true, &body)) return;
  if (body.size() < 2 || body[0] != '/') {
    c.Error("pcre: must look like \"/regex/flags\", got '" + body + "'");
    return;
  }
  const size_t last = body.rfind('/');
  if (last == 0) {
    c.Error("pcre: no closing / in '" + body + "'");
    return;
  }
  p.pattern = body.substr(1, last - 1);
  p.flags = body.substr(last + 1);
  uint32_t opts = 0;
  for (char f : p.flags) {
    switch (f) {
      case 'i': opts |= PCRE2_CASELESS; break;
      case 's': opts |= PCRE2_DOTALL; break;
      case 'm': opts |= PCRE2_MULTILINE; break;
      case 'x': opts |= PCRE2_EXTENDED; break;
      case 'A': opts |= PCRE2_ANCHORED; break;
      case 'E': opts |= PCRE2_DOLLAR_ENDONLY; break;
      case 'G': opts |= PCRE2_UNGREEDY; break;
      case 'R': p.relative = true; break;
      case 'O': case 'B': break;  // match limits / raw bytes: no difference for a packet payload
      default:
        if (std::isalpha(static_cast<unsigned char>(f))) {
          // U, I, P, H, D, M, C, S, Y, V, W, Z...: HTTP buffers we do not have.
          c.Unsupported("pcre/" + std::string(1, f));
        } else {
          c.Error("pcre: '" + std::string(1, f) + "' is not a pcre flag");
        }
        return;
    }
  }
  p.options = opts;
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.pattern.data()), p.pattern.size(), opts, &err, &off,
                                   nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    c.Error("pcre: /" + p.pattern + "/ does not compile at offset " + std::to_string(off) + ": " +
            reinterpret_cast<const char*>(msg));
    return;
  }
  pcre2_code_free(code);
  PayloadMatch pm;
  pm.kind = PayloadMatch::kPcre;
  pm.pcre = std::move(p);
  r.matches.push_back(std::move(pm));
}

void ParseFlow(Ctx& c, Rule& r, const std::string& val) {
  for (const std::string& raw : SplitTop(val)) {
    const std::string w = Trim(raw);
    if (w == "established") r.flow.established = true;
    else if (w == "not_established") r.flow.not_established = true;
    else if (w == "stateless") r.flow.stateless = true;
    else if (w == "to_server" || w == "from_client") {
      if (r.flow.to_server == 0) c.Error("flow: to_server and to_client both given");
      r.flow.to_server = 1;
    } else if (w == "to_client" || w == "from_server") {
      if (r.flow.to_server == 1) c.Error("flow: to_server and to_client both given");
      r.flow.to_server = 0;
    } else if (w == "only_stream" || w == "no_stream") {
      // we match each packet's payload: both mean the same here
    } else if (w == "only_frag" || w == "no_frag") {
      c.Unsupported("flow:" + w);
    } else {
      c.Error("flow: '" + w + "' is not one of established, not_established, stateless, to_server, to_client, "
              "from_server, from_client");
    }
  }
  if (r.flow.established && r.flow.not_established) c.Error("flow: established and not_established both given");
}

void ParseDsize(Ctx& c, Rule& r, const std::string& val) {
  std::string s = Trim(val);
  int64_t a, b;
  auto bad = [&] { c.Error("dsize: must be N, <N, >N, <=N, >=N, !N or N<>M, got '" + s + "'"); };
  if (size_t p = s.find("<>"); p != std::string::npos) {
    if (!ParseInt(s.substr(0, p), 0, 65535, &a) || !ParseInt(s.substr(p + 2), 0, 65535, &b) || a >= b) return bad();
    r.dsize = {Dsize::kRange, uint32_t(a), uint32_t(b)};
    return;
  }
  Dsize::Op op = Dsize::kEq;
  size_t skip = 0;
  if (s.rfind("<=", 0) == 0) op = Dsize::kLe, skip = 2;
  else if (s.rfind(">=", 0) == 0) op = Dsize::kGe, skip = 2;
  else if (s.rfind("<", 0) == 0) op = Dsize::kLt, skip = 1;
  else if (s.rfind(">", 0) == 0) op = Dsize::kGt, skip = 1;
  else if (s.rfind("!", 0) == 0) op = Dsize::kNe, skip = 1;
  else if (s.rfind("=", 0) == 0) op = Dsize::kEq, skip = 1;
  if (!ParseInt(s.substr(skip), 0, 65535, &a)) return bad();
  r.dsize = {op, uint32_t(a), 0};
}

bool ValidFlowbitName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (unsigned char ch : n)
    if (!(std::isalnum(ch) || ch == '_' || ch == '.' || ch == '-')) return false;
  return true;
}

void ParseFlowbits(Ctx& c, Rule& r, const std::string& val, std::map<std::string, uint8_t>* names) {
  const std::string s = Trim(val);
  const size_t comma = s.find(',');
  const std::string cmd = Trim(s.substr(0, comma));
  FlowbitOp op;
  if (cmd == "noalert") {
    if (comma != std::string::npos) c.Error("flowbits:noalert takes no name");
    r.noalert = true;
    return;
  }
  if (cmd == "set") op.cmd = FlowbitOp::kSet;
  else if (cmd == "unset") op.cmd = FlowbitOp::kUnset;
  else if (cmd == "toggle") op.cmd = FlowbitOp::kToggle;
  else if (cmd == "isset") op.cmd = FlowbitOp::kIsSet;
  else if (cmd == "isnotset") op.cmd = FlowbitOp::kIsNotSet;
  else {
    c.Error("flowbits: '" + cmd + "' is not set, unset, toggle, isset, isnotset or noalert");
    return;
  }
  if (comma == std::string::npos) {
    c.Error("flowbits:" + cmd + " needs a name");
    return;
  }
  std::string list = Trim(s.substr(comma + 1));
  const bool has_or = list.find('|') != std::string::npos, has_and = list.find('&') != std::string::npos;
  if (has_or && has_and) {
    c.Error("flowbits: mix of | and & in '" + list + "'");
    return;
  }
  if ((has_or || has_and) && (op.cmd != FlowbitOp::kIsSet && op.cmd != FlowbitOp::kIsNotSet)) {
    // Suricata allows set a|b as setting both; keep it to one name for setters.
    c.Error("flowbits:" + cmd + " takes one name");
    return;
  }
  op.any = has_or;
  std::string cur;
  std::vector<std::string> items;
  for (char ch : list + "|") {
    if (ch == '|' || ch == '&') {
      items.push_back(Trim(cur));
      cur.clear();
    } else {
      cur += ch;
    }
  }
  for (const std::string& n : items) {
    if (!ValidFlowbitName(n)) {
      c.Error("flowbits: '" + n + "' is not a valid name (letters, digits, _ . -)");
      return;
    }
    auto it = names->find(n);
    if (it == names->end()) {
      if (names->size() >= 64) {
        c.Error("flowbits: more than 64 different names in the rule set");
        return;
      }
      it = names->emplace(n, uint8_t(names->size())).first;
    }
    op.bits.push_back(it->second);
  }
  r.flowbits.push_back(std::move(op));
}

// Splits "(k: v; k2; ...)" contents into (keyword, value, has_value) at
// unescaped semicolons outside quotes.
bool SplitOptions(Ctx& c, const std::string& body, std::vector<std::tuple<std::string, std::string, bool>>* out) {
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < body.size(); i++) {
    const char ch = body[i];
    if (ch == '\\' && i + 1 < body.size()) {
      cur += ch;
      cur += body[++i];
      continue;
    }
    if (ch == '"') quoted = !quoted;
    if (ch == ';' && !quoted) {
      const std::string opt = Trim(cur);
      cur.clear();
      if (opt.empty()) continue;
      const size_t colon = opt.find(':');
      if (colon == std::string::npos) {
        out->emplace_back(opt, "", false);
      } else {
        out->emplace_back(Trim(opt.substr(0, colon)), Trim(opt.substr(colon + 1)), true);
      }
      continue;
    }
    cur += ch;
  }
  if (quoted) {
    c.Error("a quoted value is not closed");
    return false;
  }
  if (!Trim(cur).empty()) {
    c.Error("the last option '" + Trim(cur) + "' does not end with ;");
    return false;
  }
  return true;
}

// Header tokens, keeping [lists] (which may hold spaces) whole.
std::vector<std::string> HeaderTokens(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char ch : s) {
    if (ch == '[') depth++;
    if (ch == ']') depth--;
    if (std::isspace(static_cast<unsigned char>(ch)) && depth <= 0) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += ch;
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

void ParseRule(Ctx& c, const std::string& text, std::map<std::string, uint8_t>* flowbit_names, Rule* r) {
  const size_t open = text.find('(');
  if (open == std::string::npos || text.back() != ')') {
    c.Error("a rule is 'action proto src sport -> dst dport (options;)': no (options) found");
    return;
  }
  const std::vector<std::string> h = HeaderTokens(text.substr(0, open));
  if (h.size() != 7) {
    c.Error("the header must have 7 parts (action proto src sport -> dst dport), got " + std::to_string(h.size()));
    return;
  }
  const std::string& act = h[0];
  if (act == "alert") r->action = RuleAction::kAlert;
  else if (act == "drop") r->action = RuleAction::kDrop;
  else if (act == "pass") r->action = RuleAction::kPass;
  else if (act == "reject" || act == "rejectsrc" || act == "rejectdst" || act == "rejectboth") r->action = RuleAction::kReject;
  else if (act == "sdrop") r->action = RuleAction::kDrop;
  else {
    c.Error("action '" + act + "' is not alert, drop, pass or reject");
    return;
  }
  if (c.turn_around && r->action == RuleAction::kAlert) r->action = RuleAction::kDrop;
  const std::string& proto = h[1];
  if (proto == "tcp" || proto == "tcp-pkt") r->proto = RuleProto::kTcp;
  else if (proto == "udp") r->proto = RuleProto::kUdp;
  else if (proto == "icmp") r->proto = RuleProto::kIcmp;
  else if (proto == "ip" || proto == "pkthdr") r->proto = RuleProto::kIp;
  else if (proto == "tcp-stream" || proto == "icmpv4" || proto == "icmpv6" || proto == "sctp" ||
           std::all_of(proto.begin(), proto.end(), [](unsigned char ch) { return std::isalnum(ch) || ch == '-' || ch == '_'; })) {
    c.Unsupported("protocol " + proto);  // app-layer protocols (http, dns, tls, ...) need parsers we do not have
  } else {
    c.Error("'" + proto + "' is not a protocol");
    return;
  }
  if (h[4] == "->") r->bidirectional = false;
  else if (h[4] == "<>") r->bidirectional = true;
  else {
    c.Error("direction must be -> or <>, got '" + h[4] + "'");
    return;
  }
  AddAddresses(c, h[2], false, 0, true, &r->src);
  AddAddresses(c, h[5], false, 0, true, &r->dst);
  AddPorts(c, h[3], false, 0, &r->sport);
  AddPorts(c, h[6], false, 0, &r->dport);
  if ((r->proto == RuleProto::kIcmp || r->proto == RuleProto::kIp) &&
      (!r->sport.include.empty() || !r->sport.exclude.empty() || !r->dport.include.empty() ||
       !r->dport.exclude.empty())) {
    c.Error(std::string("ports must be any for ") + (r->proto == RuleProto::kIcmp ? "icmp" : "ip") + " rules");
  }

  std::vector<std::tuple<std::string, std::string, bool>> opts;
  if (!SplitOptions(c, text.substr(open + 1, text.size() - open - 2), &opts)) return;
  bool have_sid = false, have_msg = false, have_rev = false, have_class = false, have_prio = false;
  for (auto& [kw, val, has_val] : opts) {
    if (kw == "msg") {
      if (have_msg) c.Error("msg given twice");
      have_msg = true;
      std::string m;
      if (Unquote(c, kw, val, false, &m)) r->msg = m;
    } else if (kw == "sid" || kw == "rev" || kw == "gid") {
      int64_t v;
      if (!has_val || !ParseInt(val, kw == "rev" ? 0 : 1, 4294967295LL / 2, &v)) {
        c.Error(kw + ": must be a whole number" + std::string(kw == "rev" ? "" : " > 0") + ", got '" + val + "'");
        if (kw == "sid") have_sid = true;  // one error for it is enough
        continue;
      }
      if (kw == "sid") {
        if (have_sid) c.Error("sid given twice");
        have_sid = true;
        r->sid = uint32_t(v);
      } else if (kw == "rev") {
        if (have_rev) c.Error("rev given twice");
        have_rev = true;
        r->rev = uint32_t(v);
      } else {
        r->gid = uint32_t(v);
      }
    } else if (kw == "classtype") {
      const auto* ct = FindClasstype(Trim(val));
      if (!ct) {
        c.Error("classtype: '" + Trim(val) + "' is not a known classtype (see Suricata's classification.config)");
        continue;
      }
      have_class = true;
      r->classtype = Trim(val);
      r->category = ct->first;
      if (!have_prio) r->priority = ct->second;
    } else if (kw == "priority") {
      int64_t v;
      if (!ParseInt(val, 1, 255, &v)) {
        c.Error("priority: must be a whole number from 1 to 255, got '" + val + "'");
        continue;
      }
      have_prio = true;
      r->priority = int(v);
    } else if (kw == "metadata") {
      for (const std::string& item : SplitTop(val)) {
        const std::string t = Trim(item);
        if (t.empty()) continue;
        const size_t sp = t.find(' ');
        r->metadata.emplace_back(Trim(t.substr(0, sp)), sp == std::string::npos ? "" : Trim(t.substr(sp + 1)));
      }
    } else if (kIgnoredKeywords.count(kw)) {
      // nothing to do for a packet payload
    } else if (kw == "content") {
      if (!has_val) {
        c.Error("content needs a value");
        continue;
      }
      std::string v = Trim(val);
      ContentMatch m;
      if (!v.empty() && v[0] == '!') {
        m.negated = true;
        v = Trim(v.substr(1));
      }
      std::string q;
      if (!Unquote(c, kw, v, false, &q) || !DecodeContent(c, kw, q, &m.bytes)) continue;
      if (m.bytes.empty()) {
        c.Error("content: must not be empty");
        continue;
      }
      if (m.bytes.size() > 65535) {
        c.Error("content: longer than 65535 bytes");
        continue;
      }
      PayloadMatch pm;
      pm.content = std::move(m);
      r->matches.push_back(std::move(pm));
    } else if (kw == "nocase" || kw == "offset" || kw == "depth" || kw == "distance" || kw == "within" ||
               kw == "startswith" || kw == "endswith" || kw == "fast_pattern" || kw == "replace") {
      ParseContentModifier(c, *r, kw, val, has_val);
    } else if (kw == "pcre") {
      if (!has_val) c.Error("pcre needs a value");
      else ParsePcre(c, *r, val);
    } else if (kw == "flow") {
      if (!has_val) c.Error("flow needs a value");
      else ParseFlow(c, *r, val);
    } else if (kw == "dsize") {
      if (!has_val) c.Error("dsize needs a value");
      else ParseDsize(c, *r, val);
    } else if (kw == "flowbits") {
      if (!has_val) c.Error("flowbits needs a value");
      else ParseFlowbits(c, *r, val, flowbit_names);
    } else {
      bool ok = !kw.empty();
      for (unsigned char ch : kw) ok = ok && (std::isalnum(ch) || ch == '_' || ch == '.' || ch == '-');
      if (!ok) c.Error("'" + kw + "' is not a keyword");
      else c.Unsupported(kw);
    }
  }
  if (!have_sid) c.Error("the rule has no sid");
  (void)have_class;
  for (const PayloadMatch& m : r->matches) {
    if (m.kind == PayloadMatch::kContent && m.content.endswith && m.content.offset && m.content.depth) {
      c.Error("endswith cannot be combined with depth");
    }
  }
  // Relative keywords on the first payload match refer to the payload start: fine, as in Suricata.
}

}  // namespace

const std::pair<const char*, int>* FindClasstype(const std::string& name) {
  for (const Classtype& c : kClasstypes)
    if (name == c.name) return &c.info;
  return nullptr;
}

std::string RuleLoad::Coverage() const {
  std::string s = "rules: " + std::to_string(rules.size()) + " loaded, " + std::to_string(skipped) + " skipped";
  if (!skipped_by_keyword.empty()) {
    std::vector<std::pair<size_t, std::string>> by;
    for (const auto& [k, n] : skipped_by_keyword) by.emplace_back(n, k);
    std::sort(by.begin(), by.end(), [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    s += " by keyword (";
    for (size_t i = 0; i < by.size() && i < 12; i++) s += (i ? ", " : "") + by[i].second + " " + std::to_string(by[i].first);
    if (by.size() > 12) s += ", ...";
    s += ")";
  }
  return s;
}

void ParseRulesText(const std::string& text, const std::string& file, bool turn_around, const RuleLoadOptions& opt,
                    RuleLoad* into) {
  // Variables: defaults, then the config's.
  std::map<std::string, std::string> vars;
  std::string home = "any";
  if (!opt.home_net.empty()) {
    home = "[";
    for (size_t i = 0; i < opt.home_net.size(); i++) home += (i ? "," : "") + opt.home_net[i];
    home += "]";
  }
  vars["HOME_NET"] = home;
  for (const auto& [k, v] : kDefaultVars) vars[k] = v;
  // No honeypots known (a rules file alone): everything is home and away.
  if (opt.home_net.empty()) vars["EXTERNAL_NET"] = "any";
  for (const auto& [k, v] : opt.vars) vars[k] = v;

  // Flowbit names and sids are shared by every file of one load.
  std::map<std::string, uint8_t>& bit_names = into->flowbit_ids;
  std::set<std::pair<uint32_t, uint32_t>> sids;
  for (const Rule& r : into->rules) sids.emplace(r.gid, r.sid);

  std::istringstream in(text);
  std::string line, rule;
  int lineno = 0, rule_line = 0;
  while (std::getline(in, line)) {
    lineno++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string t = Trim(line);
    if (rule.empty()) {
      if (t.empty() || t[0] == '#') continue;
      rule_line = lineno;
    }
    if (!t.empty() && t.back() == '\\') {
      rule += t.substr(0, t.size() - 1) + " ";
      continue;
    }
    rule += t;
    const std::string whole = Trim(rule);
    rule.clear();
    Ctx c{file, rule_line, opt, turn_around, {}, {}, vars};
    Rule r;
    r.file = file;
    r.line = rule_line;
    r.text = whole;
    ParseRule(c, whole, &bit_names, &r);
    if (!c.unsupported.empty()) {
      const std::string sid = r.sid ? "sid " + std::to_string(r.sid) : "no sid";
      const std::string msg = file + ":" + std::to_string(rule_line) + ": " + sid + ": keyword '" + c.unsupported +
                              "' is not supported: rule skipped";
      if (opt.strict) {
        into->errors.push_back(msg + " (--strict)");
      } else {
        into->warnings.push_back(msg);
        into->skipped++;
        into->skipped_by_keyword[c.unsupported]++;
      }
      continue;
    }
    if (!c.errors.empty()) {
      into->errors.insert(into->errors.end(), c.errors.begin(), c.errors.end());
      continue;
    }
    if (!sids.emplace(r.gid, r.sid).second) {
      std::string where;
      for (const Rule& o : into->rules)
        if (o.gid == r.gid && o.sid == r.sid) where = o.file + ":" + std::to_string(o.line);
      into->errors.push_back(file + ":" + std::to_string(rule_line) + ": sid " + std::to_string(r.sid) +
                             " is already used by the rule at " + where);
      continue;
    }
    into->rules.push_back(std::move(r));
  }
  if (!rule.empty()) {
    into->errors.push_back(file + ":" + std::to_string(rule_line) + ": the file ends inside a rule (a last line ends with \\)");
  }
}

RuleLoadOptions RuleOptionsFor(const Config& cfg) {
  RuleLoadOptions o;
  o.vars = cfg.rules.vars;
  for (const HoneypotConfig& h : cfg.honeypots) {
    o.home_net.push_back(h.ip.ToString());
    if (h.public_ip && !(*h.public_ip == h.ip)) o.home_net.push_back(h.public_ip->ToString());
    for (const Ip6& a : h.ip6) o.home_net.push_back(a.ToString());
  }
  return o;
}

RuleLoad LoadRules(const Config& cfg, bool strict) {
  RuleLoad load;
  RuleLoadOptions opt = RuleOptionsFor(cfg);
  opt.strict = strict;
  for (const RulesFileConfig& f : cfg.rules.files) {
    std::ifstream in(f.path);
    if (!in) {
      load.errors.push_back(cfg.source + ":" + std::to_string(f.line) + ": rules.files: cannot read " + f.path + ": " +
                            std::strerror(errno));
      continue;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    ParseRulesText(ss.str(), f.path, f.turn_around, opt, &load);
  }
  return load;
}

}  // namespace hn
