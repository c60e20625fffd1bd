#include "common/tls.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace common {

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string what = absl::StrCat("cannot read ", path, ": ", std::strerror(err));
    return err == EACCES ? absl::PermissionDeniedError(what) : absl::NotFoundError(what);
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view what) {
  auto text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  if (!absl::StrContains(*text, "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a PEM ", what));
  }
  return text;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsConfig& config) {
  if (!config.enabled()) {
    if (!config.key_file.empty() || !config.client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls_key and --tls_client_ca need --tls_cert");
    }
    return grpc::InsecureServerCredentials();
  }
  if (config.key_file.empty()) return absl::InvalidArgumentError("--tls_cert needs --tls_key");
  auto cert = ReadPem(config.cert_file, "certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(config.key_file, "private key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!config.client_ca_file.empty()) {
    auto ca = ReadPem(config.client_ca_file, "CA certificate");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    options.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsConfig& config) {
  if (!config.enabled) return grpc::InsecureChannelCredentials();
  if (config.cert_file.empty() != config.key_file.empty()) {
    return absl::InvalidArgumentError("a client certificate needs both its cert and key files");
  }
  grpc::SslCredentialsOptions options;
  if (!config.ca_file.empty()) {
    auto ca = ReadPem(config.ca_file, "CA certificate");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  if (!config.cert_file.empty()) {
    auto cert = ReadPem(config.cert_file, "certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(config.key_file, "private key");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *cert;
    options.pem_private_key = *key;
  }
  return grpc::SslCredentials(options);
}

void ApplyTlsChannelArgs(const ClientTlsConfig& config, grpc::ChannelArguments* args) {
  if (config.enabled && !config.server_name.empty()) {
    args->SetSslTargetNameOverride(config.server_name);
  }
}

}  // namespace common
