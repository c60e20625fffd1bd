// Test helpers for the operability suites: a minimal HTTP GET (to scrape /metrics), a parser for
// the Prometheus text format, and test certificates made with the openssl command line tool.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace testing_support {

// GET http://127.0.0.1:<port><path>; returns the body of a 200 answer.
inline absl::StatusOr<std::string> HttpGet(int port, const std::string& path = "/metrics") {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to 127.0.0.1:", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("short write");
  }
  std::string response;
  char buf[8192];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) response.append(buf, n);
  close(fd);
  const size_t split = response.find("\r\n\r\n");
  if (split == std::string::npos) return absl::UnavailableError("no HTTP header");
  if (!absl::StartsWith(response, "HTTP/1.1 200") && !absl::StartsWith(response, "HTTP/1.0 200")) {
    return absl::UnavailableError(response.substr(0, response.find("\r\n")));
  }
  return response.substr(split + 4);
}

// Series of a Prometheus text exposition: "name{label=\"v\",...}" -> value.
using MetricSamples = std::map<std::string, double>;

inline MetricSamples ParseMetrics(const std::string& text) {
  MetricSamples out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    double value = 0;
    if (!absl::SimpleAtod(line.substr(space + 1), &value)) continue;
    out[std::string(line.substr(0, space))] = value;
  }
  return out;
}

// The sum of every series named `name` whose labels include all of `labels` ("k=\"v\"" pieces).
inline double MetricSum(const MetricSamples& samples, const std::string& name,
                        const std::vector<std::string>& labels = {}) {
  double sum = 0;
  for (const auto& [series, value] : samples) {
    if (series != name && !absl::StartsWith(series, name + "{")) continue;
    bool match = true;
    for (const std::string& l : labels) match = match && absl::StrContains(series, l);
    if (match) sum += value;
  }
  return sum;
}

inline bool HasMetric(const MetricSamples& samples, const std::string& name) {
  for (const auto& [series, value] : samples) {
    if (series == name || absl::StartsWith(series, name + "{")) return true;
  }
  return false;
}

// Scrapes and parses; an empty map when the endpoint does not answer.
inline MetricSamples Scrape(int port) {
  auto body = HttpGet(port);
  return body.ok() ? ParseMetrics(*body) : MetricSamples{};
}

// Test PKI under `dir`: ca.pem/ca.key, server.pem/server.key (SAN 127.0.0.1 and localhost),
// client.pem/client.key signed by ca; rogue-ca.pem and rogue-client.pem/.key signed by another CA.
inline absl::Status MakeTestCertificates(const std::string& dir) {
  const std::string script = absl::StrCat(R"(set -e
cd ')",
                                          dir, R"('
q() { "$@" >/dev/null 2>&1; }
mkca() { q openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" -keyout "$1.key" -out "$1.pem"; }
mkcert() {  # name ca cn ext
  q openssl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$1.key" -out "$1.csr"
  printf '%s\n' "$4" > "$1.ext"
  q openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 -out "$1.pem" -extfile "$1.ext"
}
mkca ca
mkca rogue-ca
mkcert server ca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
mkcert client ca orders-client "extendedKeyUsage=clientAuth"
mkcert rogue-client rogue-ca intruder "extendedKeyUsage=clientAuth"
)");
  const std::string path = dir + "/make_certs.sh";
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return absl::InternalError("cannot write " + path);
  std::fputs(script.c_str(), f);
  std::fclose(f);
  const int rc = std::system(("bash '" + path + "'").c_str());
  if (rc != 0) return absl::InternalError(absl::StrCat("openssl failed (", rc, ")"));
  return absl::OkStatus();
}

}  // namespace testing_support
