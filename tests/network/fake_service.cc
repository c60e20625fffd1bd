// A stand-in service for the harness's own tests: `fake_service --port 0 --port_file F
// [--exit_after_ms N]` listens on 127.0.0.1, writes its port to F (atomically, via rename), echoes
// every connection, exits 0 on SIGTERM, and exits by itself after N ms when asked (a failpoint).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {
std::atomic<bool> stop{false};
void OnTerm(int) { stop = true; }
}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string port_file;
  long exit_after_ms = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port"))
      port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--port_file"))
      port_file = argv[i + 1];
    else if (!strcmp(argv[i], "--exit_after_ms"))
      exit_after_ms = atol(argv[i + 1]);
  }
  signal(SIGTERM, OnTerm);
  signal(SIGPIPE, SIG_IGN);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0) {
    perror("listen");
    return 1;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    FILE* f = fopen(tmp.c_str(), "w");
    if (!f) return 1;
    fprintf(f, "%d\n", ntohs(addr.sin_port));
    fclose(f);
    rename(tmp.c_str(), port_file.c_str());
  }
  printf("fake_service listening on %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  if (exit_after_ms >= 0) {
    std::thread([exit_after_ms] {
      usleep(exit_after_ms * 1000);
      _exit(3);
    }).detach();
  }
  while (!stop) {
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::thread([c] {
      char buf[4096];
      while (true) {
        ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        if (send(c, buf, n, MSG_NOSIGNAL) != n) break;
      }
      close(c);
    }).detach();
  }
  return 0;
}
