#include "common/auth.h"

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/config_check.h"
#include "common/errors.h"

namespace common {

namespace {

// RFC 6750, section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool IsBearerToken(absl::string_view token) {
  size_t body = 0;
  while (body < token.size() &&
         (absl::ascii_isalnum(token[body]) ||
          absl::string_view("-._~+/").find(token[body]) != absl::string_view::npos)) {
    ++body;
  }
  return body > 0 && token.find_first_not_of('=', body) == absl::string_view::npos;
}

bool IsIdentity(absl::string_view identity) {
  if (identity.empty() || identity.size() > kMaxIdentityLength) return false;
  for (char c : identity) {
    if (!absl::ascii_isalnum(c) && absl::string_view("-._:@").find(c) == absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::Parse(absl::string_view spec) {
  TokenAuthenticator auth;
  std::map<absl::string_view, int> entry_of;  // each token's entry, to name the first of a repeat
  int n = 0;
  for (absl::string_view entry : ListEntries(spec)) {
    ++n;
    // The last '=' ends the token: a token's own '=' can only be its trailing padding.
    const size_t eq = entry.rfind('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "entry ", n, " has no '=': tokens must look like token=identity,token2=identity2"));
    }
    const absl::string_view token = entry.substr(0, eq);
    const absl::string_view identity = entry.substr(eq + 1);
    if (!IsBearerToken(token)) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", n,
                       ": the token is not an RFC 6750 bearer token (letters, digits and "
                       "- . _ ~ + /, then only '=' padding)"));
    }
    if (!IsIdentity(identity)) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", n, ": the identity must be 1-",
                                                     kMaxIdentityLength,
                                                     " letters, digits and - . _ : @"));
    }
    if (auto [it, added] = entry_of.emplace(token, n); !added) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", n, " repeats the token of entry ", it->second));
    }
    auth.identities_.emplace(token, identity);
  }
  return auth;
}

bool TokenAuthenticator::SharesATokenWith(const TokenAuthenticator& other) const {
  for (const auto& [token, identity] : identities_) {
    if (other.identities_.contains(token)) return true;
  }
  return false;
}

absl::StatusOr<std::string> TokenAuthenticator::Identify(absl::string_view token) const {
  if (identities_.empty()) return std::string("default");
  auto it = identities_.find(token);
  if (token.empty() || it == identities_.end()) {
    return ErrorWithReason(absl::StatusCode::kUnauthenticated, "UNAUTHENTICATED",
                           "a valid 'authorization: Bearer <token>' is required");
  }
  return it->second;
}

absl::StatusOr<std::string> AuthorizeAdmin(const TokenAuthenticator& admins,
                                           const TokenAuthenticator& tenants,
                                           absl::string_view token) {
  if (admins.enabled()) return admins.Identify(token);
  if (tenants.enabled()) {
    return ErrorWithReason(absl::StatusCode::kPermissionDenied, "ADMIN_CREDENTIAL_REQUIRED",
                           "operator RPCs need an admin token (--admin_tokens) when tenant "
                           "tokens are configured");
  }
  return std::string("default");
}

}  // namespace common
