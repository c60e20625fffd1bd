// Request metadata as the adapters parse it, from arbitrary bytes: the idempotency-key values
// (common::ValidateIdempotencyKey, also through a ServerContext with common::IdempotencyKeyOf),
// the authorization header (common::BearerTokenOf), and the token specs of --tokens and
// --admin_tokens with the identities they give (common::TokenAuthenticator, AuthorizeAdmin).
//
// Invariants:
// - a key is accepted exactly when there is one value of 1-255 visible ASCII characters other
//   than ',' (the documented alphabet, common/idempotency.h), and is returned unchanged; else
//   INVALID_ARGUMENT IDEMPOTENCY_KEY_MISSING (no value) or IDEMPOTENCY_KEY_INVALID;
// - the bearer token is what follows "Bearer " (any case) in the one authorization value;
// - a spec parses exactly when it follows the documented rule (common/auth.h: RFC 6750 tokens,
//   the last '=' of an entry ends its token, no token twice), and a bad one is INVALID_ARGUMENT;
//   one that parses gives each token its identity and refuses every other token with
//   UNAUTHENTICATED; an operator RPC is open only when neither tenant nor admin tokens are
//   configured.
#include <fuzzer/FuzzedDataProvider.h>

#include <map>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/auth.h"
#include "common/errors.h"
#include "common/grpc_metadata.h"
#include "common/idempotency.h"
#include "fuzz_support.h"
#include "grpcpp/server_context.h"
#include "grpcpp/test/server_context_test_spouse.h"

namespace {

bool InKeyAlphabet(const std::string& key) {
  if (key.empty() || key.size() > common::kMaxIdempotencyKeyLength) return false;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

void CheckKeys(const std::vector<std::string>& values) {
  std::vector<absl::string_view> views(values.begin(), values.end());
  absl::StatusOr<std::string> key = common::ValidateIdempotencyKey(views);
  const bool expected = values.size() == 1 && InKeyAlphabet(values[0]);
  FUZZ_CHECK(key.ok() == expected, "key accepted=%d, the documented rule says %d", key.ok(),
             expected);
  if (key.ok()) {
    FUZZ_CHECK(*key == values[0], "the key was changed");
  } else {
    FUZZ_CHECK(key.status().code() == absl::StatusCode::kInvalidArgument, "key refused with %s",
               key.status().ToString().c_str());
    const std::string reason = common::ErrorReason(key.status()).value_or("");
    FUZZ_CHECK(reason == (values.empty() ? "IDEMPOTENCY_KEY_MISSING" : "IDEMPOTENCY_KEY_INVALID"),
               "key refused with reason %s", reason.c_str());
  }
  // The same values through a ServerContext, as the adapters read them.
  grpc::ServerContext context;
  grpc::testing::ServerContextTestSpouse spouse(&context);
  for (const std::string& v : values) spouse.AddClientMetadata(common::kIdempotencyKeyHeader, v);
  absl::StatusOr<std::string> from_context = common::IdempotencyKeyOf(context);
  FUZZ_CHECK(from_context.ok() == key.ok() && (!key.ok() || *from_context == *key),
             "the adapter's reading differs from the rule");
}

void CheckBearer(const std::vector<std::string>& values) {
  grpc::ServerContext context;
  grpc::testing::ServerContextTestSpouse spouse(&context);
  for (const std::string& v : values) spouse.AddClientMetadata("authorization", v);
  const std::string token = common::BearerTokenOf(context);
  std::string expected;
  if (values.size() == 1 && absl::StartsWithIgnoreCase(values[0], "Bearer ")) {
    expected = values[0].substr(7);
  }
  FUZZ_CHECK(token == expected, "bearer token read wrongly");
}

void CheckTokens(const std::string& spec, const std::string& admin_spec,
                 const std::string& presented) {
  absl::StatusOr<common::TokenAuthenticator> auth = common::TokenAuthenticator::Parse(spec);
  absl::StatusOr<common::TokenAuthenticator> admins = common::TokenAuthenticator::Parse(admin_spec);
  // The documented rule (common/auth.h), restated with regular expressions: entries separated
  // by commas, trimmed, blank ones skipped; the last '=' ends the token, an RFC 6750 b64token; an
  // identity of 1-64 letters, digits and - . _ : @; a token given twice is refused.
  static const std::regex kToken("[A-Za-z0-9._~+/-]+=*");
  static const std::regex kIdentity("[A-Za-z0-9._:@-]{1,64}");
  std::map<std::string, std::string> expected;
  bool well_formed = true;
  for (absl::string_view entry : absl::StrSplit(spec, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;
    const size_t eq = entry.rfind('=');
    if (eq == absl::string_view::npos) {
      well_formed = false;
      break;
    }
    const std::string token(entry.substr(0, eq));
    const std::string identity(entry.substr(eq + 1));
    if (!std::regex_match(token, kToken) || !std::regex_match(identity, kIdentity) ||
        !expected.emplace(token, identity).second) {
      well_formed = false;
      break;
    }
  }
  FUZZ_CHECK(auth.ok() == well_formed, "spec parsed=%d, the documented shape says %d", auth.ok(),
             well_formed);
  if (!auth.ok()) {
    FUZZ_CHECK(auth.status().code() == absl::StatusCode::kInvalidArgument,
               "a bad spec is a configuration error");
    return;
  }
  FUZZ_CHECK(auth->enabled() == !expected.empty(), "enabled() disagrees with the spec");
  for (const auto& [token, identity] : expected) {
    FUZZ_CHECK(auth->Identify(token).value_or("") == identity, "a configured token was refused");
  }
  absl::StatusOr<std::string> who = auth->Identify(presented);
  if (expected.empty()) {
    FUZZ_CHECK(who.ok() && *who == "default", "an open service names the caller 'default'");
  } else if (auto it = expected.find(presented); it != expected.end()) {
    FUZZ_CHECK(who.ok() && *who == it->second, "a configured token was refused");
  } else {
    FUZZ_CHECK(!who.ok() && who.status().code() == absl::StatusCode::kUnauthenticated,
               "an unknown token was not UNAUTHENTICATED");
    fuzz::CheckRefusal(who.status());
  }
  if (!admins.ok()) return;
  absl::StatusOr<std::string> op = common::AuthorizeAdmin(*admins, *auth, presented);
  if (!op.ok()) {
    fuzz::CheckRefusal(op.status());
  } else if (admins->enabled()) {
    FUZZ_CHECK(admins->Identify(presented).ok(), "an operator RPC opened without an admin token");
  } else {
    FUZZ_CHECK(!auth->enabled() && *op == "default", "an operator RPC opened with tenant tokens");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<std::string> keys(in.ConsumeIntegralInRange<int>(0, 3));
  for (std::string& k : keys) k = in.ConsumeRandomLengthString(300);
  CheckKeys(keys);
  std::vector<std::string> authorization(in.ConsumeIntegralInRange<int>(0, 2));
  for (std::string& a : authorization) a = in.ConsumeRandomLengthString(64);
  CheckBearer(authorization);
  const std::string spec = in.ConsumeRandomLengthString(128);
  const std::string admin_spec = in.ConsumeRandomLengthString(64);
  CheckTokens(spec, admin_spec, in.ConsumeRemainingBytesAsString());
  return 0;
}
