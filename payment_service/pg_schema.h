// The payment service's PostgreSQL schema, applied at start-up by pg::Migrate under an advisory
// lock (component "payment_service").
#pragma once

#include "absl/status/status.h"
#include "common/pg/connection.h"

namespace payment_service {

absl::Status MigratePaymentSchema(pg::Connection& conn);

}  // namespace payment_service
