// TLS and mutual TLS from PEM files, for servers (common/grpc_server) and for clients (the order
// service's channel to payments, the client library, orderctl).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class ChannelArguments;
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace common {

struct ServerTlsConfig {
  std::string cert_file;       // PEM certificate chain; TLS is on when set
  std::string key_file;        // PEM private key of cert_file
  std::string client_ca_file;  // when set: mTLS, clients must present a certificate signed by it
  bool enabled() const { return !cert_file.empty(); }
};

struct ClientTlsConfig {
  std::string ca_file;    // roots that sign the server's certificate; empty: system roots
  std::string cert_file;  // client certificate for mTLS (with key_file)
  std::string key_file;
  std::string server_name;  // name to verify instead of the target's host (SNI and SAN check)
  bool enabled = false;     // set by callers when any TLS option is given
};

// Reads a whole file; NOT_FOUND / PERMISSION_DENIED name the path.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Insecure credentials when TLS is off, else SSL credentials (requiring and verifying client
// certificates when client_ca_file is set). Errors name the flag-level problem.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsConfig& config);

// Insecure credentials when `enabled` is false, else SSL credentials.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsConfig& config);

// Applies server_name (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG) when set.
void ApplyTlsChannelArgs(const ClientTlsConfig& config, grpc::ChannelArguments* args);

}  // namespace common
