// print_sql: prints the SQL the services run, so scripts measure and query what the code does
// instead of a copy of it (bench/run.sh builds its pgbench script from CreateOrder's statement).
//
//   print_sql --statement=order_create        the statement's text, its parameters as $n
//   print_sql --order_status=ORDER_STATUS_PAID the stored form of an order status (orders.status)
//
// Exit status 2 for an unknown name.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "order_service/order_sql.h"

ABSL_FLAG(std::string, statement, "", "name of a statement (pg::Query::name) to print");
ABSL_FLAG(std::string, order_status, "", "an orders.v1.OrderStatus name, printed as stored");

namespace {

// The statements scripts use, by their prepared-statement name.
constexpr const pg::Query* kPrintable[] = {&orders::sql::kCreateOrder};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string statement = absl::GetFlag(FLAGS_statement);
  const std::string status = absl::GetFlag(FLAGS_order_status);
  if (!statement.empty()) {
    for (const pg::Query* query : kPrintable) {
      if (statement == query->name) {
        std::printf("%s\n", query->sql);
        return 0;
      }
    }
    std::fprintf(stderr, "print_sql: no statement named %s\n", statement.c_str());
    return 2;
  }
  orders::v1::OrderStatus parsed;
  if (!status.empty() && orders::v1::OrderStatus_Parse(status, &parsed)) {
    std::printf("%d\n", orders::StoredStatus(parsed));
    return 0;
  }
  std::fprintf(stderr, "print_sql: give --statement=NAME or --order_status=ORDER_STATUS_...\n");
  return 2;
}
