#include "tests/support/service_stack.h"

#include <signal.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/client_context.h"
#include "common/status_mapper.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/support/private_cluster.h"
#include "tests/support/test_db.h"

namespace testing_support {
namespace {

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& addr) {
  return grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
}

struct Launched {
  ChildProcess process;
  int port = 0;
  int metrics_port = 0;  // 0 without metrics
};

// Starts `binary` with `arg_groups` joined in order and a fresh <dir>/<name>.port port file (with
// `metrics`, a metrics port too, written to <dir>/<name>.metrics_port), logging to
// <dir>/<name>.log, and waits until it listens (30 s) and serves metrics (10 s). The port-file
// flags come first, so a flag given in `arg_groups` wins.
absl::StatusOr<Launched> Launch(const std::string& binary, const std::string& dir,
                                const std::string& name, bool metrics,
                                std::initializer_list<std::vector<std::string>> arg_groups) {
  const std::string port_file = absl::StrCat(dir, "/", name, ".port");
  const std::string metrics_file = absl::StrCat(dir, "/", name, ".metrics_port");
  unlink(port_file.c_str());
  std::vector<std::string> all = {"--port_file=" + port_file};
  if (metrics) {
    unlink(metrics_file.c_str());
    all.push_back("--metrics_port=0");
    all.push_back("--metrics_port_file=" + metrics_file);
  }
  for (const auto& group : arg_groups) all.insert(all.end(), group.begin(), group.end());
  auto child = ChildProcess::Start(binary, all, absl::StrCat(dir, "/", name, ".log"));
  if (!child.ok()) return child.status();
  Launched launched{*std::move(child)};
  auto port = WaitForPortFile(port_file, absl::Seconds(30));
  if (!port.ok()) return port.status();
  launched.port = *port;
  if (metrics) {
    auto metrics_port = WaitForPortFile(metrics_file, absl::Seconds(10));
    if (!metrics_port.ok()) return metrics_port.status();
    launched.metrics_port = *metrics_port;
  }
  return launched;
}

// What a (re)started process of the stack keeps: the process, its port and metrics port.
absl::Status Adopt(absl::StatusOr<Launched> launched, std::optional<ChildProcess>& process,
                   int& port, int& metrics_port) {
  if (!launched.ok()) return launched.status();
  process.emplace(std::move(launched->process));
  port = launched->port;
  metrics_port = launched->metrics_port;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServicePair> StartServicePair(const std::string& dir, const std::string& order_db,
                                             const std::string& payment_db,
                                             const std::vector<std::string>& extra_args) {
  const int payment_port = FreeLoopbackPort();
  const int order_port = FreeLoopbackPort();
  const std::string payment_addr = absl::StrCat("127.0.0.1:", payment_port);
  std::vector<std::string> payment_args = {absl::StrCat("--port=", payment_port),
                                           "--database=" + payment_db};
  payment_args.insert(payment_args.end(), extra_args.begin(), extra_args.end());
  auto payment = ChildProcess::Start(PAYMENT_SERVICE_BIN, payment_args, dir + "/payment.log");
  if (!payment.ok()) return payment.status();
  std::vector<std::string> order_args = {absl::StrCat("--port=", order_port),
                                         "--database=" + order_db,
                                         "--payment_addr=" + payment_addr};
  order_args.insert(order_args.end(), extra_args.begin(), extra_args.end());
  auto order = ChildProcess::Start(ORDER_SERVICE_BIN, order_args, dir + "/order.log");
  if (!order.ok()) return order.status();
  return ServicePair{*std::move(payment), *std::move(order), payment_addr,
                     absl::StrCat("127.0.0.1:", order_port)};
}

absl::StatusOr<std::unique_ptr<ServiceStack>> ServiceStack::Start(const StackOptions& options) {
  std::unique_ptr<ServiceStack> stack(new ServiceStack());
  stack->options_ = options;
  stack->dir_ = MakeTempDir("stack");
  const std::string cluster =
      options.cluster_conninfo.empty() ? ClusterConninfo() : options.cluster_conninfo;
  auto dbs = CreateServiceDatabases(cluster);
  if (!dbs.ok()) return dbs.status();
  stack->order_db_ = dbs->order;
  stack->payment_db_ = dbs->payment;
  // CreateTestDatabase appends " dbname=<name>" to the cluster's string.
  const std::string via = options.service_conninfo.empty() ? cluster : options.service_conninfo;
  stack->order_service_db_ = via + stack->order_db_.substr(cluster.size());
  stack->payment_service_db_ = via + stack->payment_db_.substr(cluster.size());
  if (absl::Status s = stack->StartPayment(); !s.ok()) return s;
  if (options.start_order_service) {
    if (absl::Status s = stack->StartOrder(); !s.ok()) return s;
  }
  return stack;
}

absl::Status ServiceStack::StartPayment(const std::vector<std::string>& extra_args) {
  // A restarted payment service keeps its port, so the order service's channel reconnects.
  absl::Status started =
      Adopt(Launch(PAYMENT_SERVICE_BIN, dir_, "payment", options_.metrics,
                   {{absl::StrCat("--port=", payment_port_), "--database=" + payment_service_db_,
                     "--enable_fault_admin"},
                    options_.payment_args,
                    extra_args}),
            payment_, payment_port_, payment_metrics_port_);
  if (!started.ok()) return started;
  auto channel = ChannelTo(payment_addr());
  payments_ = payments::v1::PaymentService::NewStub(channel);
  faults_ = payments::v1::PaymentFaultAdmin::NewStub(channel);
  return absl::OkStatus();
}

absl::Status ServiceStack::StartOrder(const std::vector<std::string>& extra_args) {
  absl::Status started =
      Adopt(Launch(ORDER_SERVICE_BIN, dir_, "order", options_.metrics,
                   {{absl::StrCat("--port=", order_port_), "--database=" + order_service_db_,
                     "--payment_addr=" + payment_addr()},
                    options_.order_args,
                    extra_args}),
            order_, order_port_, order_metrics_port_);
  if (!started.ok()) return started;
  orders_ = orders::v1::OrderService::NewStub(ChannelTo(order_addr()));
  return absl::OkStatus();
}

absl::StatusOr<int> ServiceStack::StartExtraOrderProcess(const std::vector<std::string>& args) {
  const int index = static_cast<int>(extras_.size());
  auto launched = Launch(
      ORDER_SERVICE_BIN, dir_, absl::StrCat("extra", index), options_.metrics,
      {{"--port=0", "--database=" + order_service_db_, "--payment_addr=" + payment_addr()}, args});
  if (!launched.ok()) return launched.status();
  extras_.push_back({std::move(launched->process), launched->port, launched->metrics_port});
  return index;
}

std::string ServiceStack::extra_addr(int index) const {
  return absl::StrCat("127.0.0.1:", extras_[index].port);
}

void ServiceStack::KillPayment() {
  if (payment_) {
    payment_->Signal(SIGKILL);
    payment_->WaitExit(absl::Seconds(10));
  }
  payment_.reset();
}

void ServiceStack::KillOrder() {
  if (order_) {
    order_->Signal(SIGKILL);
    order_->WaitExit(absl::Seconds(10));
  }
  order_.reset();
}

std::string ServiceStack::order_addr() const { return absl::StrCat("127.0.0.1:", order_port_); }
std::string ServiceStack::payment_addr() const { return absl::StrCat("127.0.0.1:", payment_port_); }
orders::v1::OrderService::Stub& ServiceStack::orders() { return *orders_; }
payments::v1::PaymentService::Stub& ServiceStack::payments() { return *payments_; }
payments::v1::PaymentFaultAdmin::Stub& ServiceStack::faults() { return *faults_; }

absl::StatusOr<orders::v1::Order> ServiceStack::WaitForSettled(int64_t order_id,
                                                               absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  orders::v1::Order order;
  while (true) {
    orders::v1::GetOrderRequest request;
    request.set_id(order_id);
    auto context = common::NewClientContext({.timeout = absl::Seconds(2)});
    grpc::Status status = orders_->GetOrder(context.get(), request, &order);
    if (status.ok() && order.status() != orders::v1::ORDER_STATUS_CREATED) return order;
    if (absl::Now() >= until) {
      if (!status.ok()) return common::FromGrpcStatus(status);
      return absl::DeadlineExceededError(
          absl::StrCat("order ", order_id, " still CREATED after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

absl::StatusOr<std::vector<payments::v1::Charge>> ServiceStack::ChargesOf(int64_t order_id) {
  std::vector<payments::v1::Charge> charges;
  payments::v1::ListChargesRequest request;
  request.set_order_id(order_id);
  request.set_page_size(100);
  while (true) {
    payments::v1::ListChargesResponse response;
    auto context = common::NewClientContext({.timeout = absl::Seconds(5)});
    grpc::Status status = payments_->ListCharges(context.get(), request, &response);
    if (!status.ok()) return common::FromGrpcStatus(status);
    for (const auto& c : response.charges()) charges.push_back(c);
    if (response.next_page_token().empty()) return charges;
    request.set_page_token(response.next_page_token());
  }
}

}  // namespace testing_support
