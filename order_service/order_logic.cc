#include "order_service/order_logic.h"

#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/currency.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "common/page_token.h"
#include "common/storable_text.h"

namespace orders {
namespace {

constexpr char kCreateMethod[] = "orders.v1.OrderService/CreateOrder";
constexpr char kCancelMethod[] = "orders.v1.OrderService/CancelOrder";
constexpr int kMaxPageSize = 100;
constexpr int kDefaultPageSize = 20;

// The query a ListOrders page token is bound to: the tenant and every filter.
std::string ListOrdersQuery(const RequestScope& scope, const orders::v1::ListOrdersRequest& r) {
  return common::PageQuery({"orders.v1.OrderService/ListOrders", scope.tenant, r.customer_id(),
                            absl::StrCat(static_cast<int>(r.status()))});
}

}  // namespace

absl::StatusOr<CreateResult> OrderLogic::CreateOrder(
    const RequestScope& scope, const orders::v1::CreateOrderRequest& request) {
  absl::StatusOr<int64_t> amount = ValidateCreateOrder(request);
  if (!amount.ok()) return amount.status();
  IdempotencyScope idem{scope.tenant, kCreateMethod, scope.idempotency_key,
                        common::RequestFingerprint(kCreateMethod, request)};
  absl::StatusOr<CreateResult> result =
      repository_.CreateOrder(idem, request, *amount, scope.deadline);
  if (result.ok() && !result->replayed && on_outbox_write_) on_outbox_write_();
  return result;
}

absl::StatusOr<CancelResult> OrderLogic::CancelOrder(
    const RequestScope& scope, const orders::v1::CancelOrderRequest& request) {
  std::vector<common::FieldViolation> violations;
  if (request.id() <= 0) violations.push_back({"id", "must be a positive order id"});
  if (common::CharacterCount(request.reason()) > 500) {
    violations.push_back({"reason", "at most 500 characters"});
  }
  if (!violations.empty()) {
    return common::InvalidArgument("CANCEL_INVALID", "the cancel request is not valid", violations);
  }
  IdempotencyScope idem{scope.tenant, kCancelMethod, scope.idempotency_key,
                        common::RequestFingerprint(kCancelMethod, request)};
  absl::StatusOr<CancelResult> result =
      repository_.CancelOrder(idem, request.id(), request.reason(), scope.deadline);
  if (result.ok() && !result->replayed && on_outbox_write_) on_outbox_write_();
  return result;
}

absl::StatusOr<orders::v1::Order> OrderLogic::SetShippingAddress(
    const RequestScope& scope, const orders::v1::SetShippingAddressRequest& request) {
  std::vector<common::FieldViolation> violations;
  if (request.id() <= 0) violations.push_back({"id", "must be a positive order id"});
  const auto& a = request.address();
  CheckText(a.name(), "address.name", 200, violations);
  CheckText(a.line1(), "address.line1", 200, violations);
  if (!a.line2().empty()) CheckText(a.line2(), "address.line2", 200, violations);
  CheckText(a.city(), "address.city", 100, violations);
  if (!a.postal_code().empty()) CheckText(a.postal_code(), "address.postal_code", 20, violations);
  if (a.country().size() != 2 || !absl::ascii_isupper(a.country()[0]) ||
      !absl::ascii_isupper(a.country()[1])) {
    violations.push_back({"address.country", "an ISO 3166-1 alpha-2 code such as JP or US"});
  }
  if (!violations.empty()) {
    return common::InvalidArgument("ADDRESS_INVALID", "the shipping address is not valid",
                                   violations);
  }
  return repository_.SetShippingAddress(scope.tenant, request.id(), a, scope.deadline);
}

absl::StatusOr<orders::v1::Order> OrderLogic::GetOrder(const RequestScope& scope,
                                                       const orders::v1::GetOrderRequest& request) {
  if (request.id() <= 0) {
    return common::InvalidArgument("ORDER_ID_INVALID", "id must be a positive order id",
                                   {{"id", "must be positive"}});
  }
  return repository_.GetOrder(scope.tenant, request.id(), scope.deadline);
}

absl::StatusOr<orders::v1::ListOrdersResponse> OrderLogic::ListOrders(
    const RequestScope& scope, const orders::v1::ListOrdersRequest& request) {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return common::InvalidArgument("PAGE_SIZE_INVALID", "page_size must be between 0 and 100",
                                   {{"page_size", "between 0 and 100"}});
  }
  if (absl::Status s = common::CheckEnumValue(orders::v1::OrderStatus_descriptor(),
                                              request.status(), "status", "ORDER_STATUS_INVALID");
      !s.ok()) {
    return s;
  }
  const std::string page_query = ListOrdersQuery(scope, request);
  absl::StatusOr<int64_t> before =
      common::DecodePageToken(request.page_token(), page_query, "PAGE_TOKEN_INVALID");
  if (!before.ok()) return before.status();
  ListQuery query;
  query.customer_id = request.customer_id();
  query.status = request.status();
  query.page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  query.before_id = *before;
  absl::StatusOr<OrderPage> page = repository_.ListOrders(scope.tenant, query, scope.deadline);
  if (!page.ok()) return page.status();
  orders::v1::ListOrdersResponse response;
  for (auto& order : page->orders) *response.add_orders() = std::move(order);
  if (page->next_before_id > 0)
    response.set_next_page_token(common::EncodePageToken(page_query, page->next_before_id));
  return response;
}

// The only writes of the deprecated fields: their accessors are marked deprecated on purpose.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void FillDeprecatedAmounts(orders::v1::OrderAnalytics& analytics) {
  analytics.set_paid_cents(common::SingleCurrencyAmount(analytics.paid_totals()));
  analytics.set_cancelled_cents(common::SingleCurrencyAmount(analytics.cancelled_totals()));
}
void FillDeprecatedAmounts(orders::v1::ImportChunk& chunk) {
  chunk.set_amount_cents(common::SingleCurrencyAmount(chunk.totals()));
}
void FillDeprecatedAmounts(orders::v1::ImportSummary& summary) {
  summary.set_amount_cents(common::SingleCurrencyAmount(summary.totals()));
}
#pragma GCC diagnostic pop

std::string ChargeKeyForOrder(absl::string_view deployment, int64_t order_id) {
  return absl::StrCat("charge:", deployment, ":order:", order_id);
}
std::string NewDeploymentIdentity() {
  absl::BitGen gen;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}
std::string RefundKeyForOrder(absl::string_view deployment, int64_t order_id) {
  return absl::StrCat("refund:", deployment, ":order:", order_id);
}

}  // namespace orders
