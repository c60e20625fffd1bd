// The real pair for integration tests: payment_service and order_service as child processes on
// 127.0.0.1 port 0, each with a fresh database on the private cluster.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "orders/v1/orders.grpc.pb.h"
#include "payments/v1/payments.grpc.pb.h"
#include "tests/support/child_process.h"

namespace testing_support {

struct StackOptions {
  std::vector<std::string> payment_args;  // extra flags
  std::vector<std::string> order_args;
  bool start_order_service = true;
  // Serve Prometheus metrics on a free port from every process (see *metrics_port()).
  bool metrics = false;
  // The cluster the databases are created on (default: TEST_PG_CONNINFO).
  std::string cluster_conninfo;
  // What the services connect through to that cluster's databases, e.g. PgBouncer (default:
  // cluster_conninfo). order_db()/payment_db() stay direct.
  std::string service_conninfo;
};

// payment_service and order_service as bare child processes on free loopback ports, on databases
// the caller prepared (`order_db`, `payment_db`), `extra_args` given to both, logs in `dir`.
// Unlike ServiceStack it waits for nothing: a test of start-up watches readiness itself.
struct ServicePair {
  ChildProcess payment, order;
  std::string payment_addr, order_addr;
};
absl::StatusOr<ServicePair> StartServicePair(const std::string& dir, const std::string& order_db,
                                             const std::string& payment_db,
                                             const std::vector<std::string>& extra_args = {});

class ServiceStack {
 public:
  // Creates both databases and starts both services; fails if either is not serving in time.
  static absl::StatusOr<std::unique_ptr<ServiceStack>> Start(const StackOptions& options);

  absl::Status StartPayment(const std::vector<std::string>& extra_args = {});
  absl::Status StartOrder(const std::vector<std::string>& extra_args = {});
  // Another order_service process on the same database (e.g. --role=relay); returns its index.
  absl::StatusOr<int> StartExtraOrderProcess(const std::vector<std::string>& args);
  ChildProcess& extra(int index) { return extras_[index].process; }
  std::string extra_addr(int index) const;
  // Metrics HTTP ports (StackOptions::metrics); 0 when not serving.
  int order_metrics_port() const { return order_metrics_port_; }
  int payment_metrics_port() const { return payment_metrics_port_; }
  int extra_metrics_port(int index) const { return extras_[index].metrics_port; }
  int extra_count() const { return static_cast<int>(extras_.size()); }
  // SIGKILL (crash) and reap.
  void KillPayment();
  void KillOrder();
  ChildProcess* payment() { return payment_ ? &*payment_ : nullptr; }
  ChildProcess* order() { return order_ ? &*order_ : nullptr; }

  std::string order_addr() const;
  std::string payment_addr() const;
  const std::string& order_db() const { return order_db_; }
  const std::string& payment_db() const { return payment_db_; }
  // The --database the services were given (service_conninfo + the database name).
  const std::string& order_service_db() const { return order_service_db_; }
  const std::string& payment_service_db() const { return payment_service_db_; }
  const std::string& dir() const { return dir_; }

  orders::v1::OrderService::Stub& orders();
  payments::v1::PaymentService::Stub& payments();
  payments::v1::PaymentFaultAdmin::Stub& faults();

  // Blocks until the order has left CREATED (or the timeout); returns its last state.
  absl::StatusOr<orders::v1::Order> WaitForSettled(int64_t order_id, absl::Duration timeout);
  // Every charge the payment service holds for an order.
  absl::StatusOr<std::vector<payments::v1::Charge>> ChargesOf(int64_t order_id);

 private:
  ServiceStack() = default;

  StackOptions options_;
  std::string dir_, order_db_, payment_db_, order_service_db_, payment_service_db_;
  int order_port_ = 0, payment_port_ = 0;
  int order_metrics_port_ = 0, payment_metrics_port_ = 0;
  std::optional<ChildProcess> payment_, order_;
  struct Extra {
    ChildProcess process;
    int port;
    int metrics_port = 0;
  };
  std::vector<Extra> extras_;
  std::unique_ptr<orders::v1::OrderService::Stub> orders_;
  std::unique_ptr<payments::v1::PaymentService::Stub> payments_;
  std::unique_ptr<payments::v1::PaymentFaultAdmin::Stub> faults_;
};

}  // namespace testing_support
