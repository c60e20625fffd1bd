// gRPC adapter of OutboxAdmin: list events, re-queue DEAD ones, outbox and relay figures.
#pragma once

#include "order_service/outbox_relay.h"
#include "order_service/outbox_store.h"
#include "orders/v1/orders.grpc.pb.h"

namespace orders {

class OutboxAdminService final : public orders::v1::OutboxAdmin::Service {
 public:
  // `relay` may be null (an api-only process): relay figures are then zero.
  OutboxAdminService(OutboxStore& store, const OutboxRelay* relay) : store_(store), relay_(relay) {}

  grpc::Status ListOutboxEvents(grpc::ServerContext* context,
                                const orders::v1::ListOutboxEventsRequest* request,
                                orders::v1::ListOutboxEventsResponse* response) override;
  grpc::Status RequeueOutboxEvents(grpc::ServerContext* context,
                                   const orders::v1::RequeueOutboxEventsRequest* request,
                                   orders::v1::RequeueOutboxEventsResponse* response) override;
  grpc::Status GetOutboxStats(grpc::ServerContext* context,
                              const orders::v1::GetOutboxStatsRequest* request,
                              orders::v1::OutboxStats* response) override;

 private:
  OutboxStore& store_;
  const OutboxRelay* relay_;
};

}  // namespace orders
