#include "common/auth.h"

#include "absl/strings/str_split.h"
#include "common/errors.h"

namespace common {

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::Parse(absl::string_view spec) {
  TokenAuthenticator auth;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(entry, '=');
    if (kv.first.empty() || kv.second.empty()) {
      return absl::InvalidArgumentError("tokens must look like token=identity,token2=identity2");
    }
    auth.identities_[std::string(kv.first)] = std::string(kv.second);
  }
  return auth;
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
