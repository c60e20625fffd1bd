// Pool usage as metrics, read at scrape time:
//   db_pool_size{pool}, db_pool_connections_open{pool}, db_pool_connections_in_use{pool},
//   db_pool_acquire_timeouts_total{pool}, db_pool_connections_discarded_total{pool}
#pragma once

#include <string>

#include "common/metrics.h"
#include "common/pg/pool.h"

namespace common {

// `pool` must outlive `metrics`' endpoint (declare the pool first in main).
inline void AddPoolMetrics(Metrics& metrics, pg::Pool& pool, const std::string& name) {
  metrics.AddCollector([&pool, name](MetricsWriter& w) {
    const pg::Pool::Usage u = pool.usage();
    const MetricLabels labels = {{"pool", name}};
    w.Gauge("db_pool_size", "Connections the pool may open.", u.size, labels);
    w.Gauge("db_pool_connections_open", "Connections open (idle or on loan).", u.open, labels);
    w.Gauge("db_pool_connections_in_use", "Connections on loan.", u.open - u.idle, labels);
    w.Counter("db_pool_acquire_timeouts_total",
              "Connection requests that gave up at their deadline (RESOURCE_EXHAUSTED).",
              static_cast<double>(u.exhausted), labels);
    w.Counter("db_pool_connections_discarded_total",
              "Connections dropped as unusable or unfit for writes (link lost, server shutting "
              "down, read-only or a standby); each is reopened through the connection string.",
              static_cast<double>(u.discarded), labels);
  });
}

}  // namespace common
