// Bearer-token identities: "token=identity,..." maps a caller's token to its tenant (orders) or
// caller name (payments). With no tokens configured every caller is `default`, so a local
// grpcurl works out of the box.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace common {

// An identity (a tenant, a caller name) in a token spec is at most this long.
inline constexpr int kMaxIdentityLength = 64;

class TokenAuthenticator {
 public:
  // `spec`: "token=identity" entries separated by commas; whitespace around an entry and blank
  // entries are ignored; "" configures no tokens (every caller is `default`). A token is an RFC
  // 6750 (section 2.1) b64token: letters, digits and - . _ ~ + /, then only '=' padding, so the
  // last '=' of an entry ends its token ("abc==" maps with "abc===acme"). An identity is 1 to
  // kMaxIdentityLength letters, digits and - . _ : @. INVALID_ARGUMENT, naming the entry by its
  // position (never echoing a token, which is a secret), for an entry without '=', a token or an
  // identity outside those rules ("a=b=c": the token "a=b"), or a token given twice (which of
  // its identities would be meant?).
  static absl::StatusOr<TokenAuthenticator> Parse(absl::string_view spec);

  // The identity for `token`, or UNAUTHENTICATED (reason UNAUTHENTICATED).
  absl::StatusOr<std::string> Identify(absl::string_view token) const;
  bool enabled() const { return !identities_.empty(); }
  // Whether a token of this spec is also one of `other`'s: a tenant's token that is also an
  // operator's would open OutboxAdmin to that tenant, which the separate credential exists to
  // prevent (order_service refuses such a configuration at start).
  bool SharesATokenWith(const TokenAuthenticator& other) const;

 private:
  std::map<std::string, std::string, std::less<>> identities_;
};

// Operator RPCs (OutboxAdmin) have a credential of their own: a tenant's token never opens them,
// and they list every tenant's events. With admin tokens configured, `token` must be one of them
// (else UNAUTHENTICATED, reason UNAUTHENTICATED). With tenant tokens but no admin tokens they are
// closed: PERMISSION_DENIED, reason ADMIN_CREDENTIAL_REQUIRED. With neither (a local, single
// tenant setup) they are open. Returns the operator's identity ("default" when open).
absl::StatusOr<std::string> AuthorizeAdmin(const TokenAuthenticator& admins,
                                           const TokenAuthenticator& tenants,
                                           absl::string_view token);

}  // namespace common
