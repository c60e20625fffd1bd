// OrderLogic: bulk import in named chunks (seed 003, pattern 4) and the analytics read.
#include "absl/strings/str_cat.h"
#include "common/currency.h"
#include "common/errors.h"
#include "common/idempotency.h"
#include "common/storable_text.h"
#include "order_service/order_logic.h"

namespace orders {
namespace {

constexpr char kPutChunkMethod[] = "orders.v1.OrderService/PutImportChunk";
constexpr int kMaxChunks = 10000;

void CheckImportId(const std::string& id, std::vector<common::FieldViolation>& out) {
  if (id.empty() || common::CharacterCount(id) > 128) {
    out.push_back({"import_id", "1 to 128 characters"});
    return;
  }
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) {
      out.push_back({"import_id", "visible ASCII only"});
      return;
    }
  }
}

}  // namespace

absl::StatusOr<orders::v1::OrderAnalytics> OrderLogic::GetOrderAnalytics(
    const RequestScope& scope, const orders::v1::GetOrderAnalyticsRequest& request) {
  if (request.customer_id().empty() || common::CharacterCount(request.customer_id()) > 128) {
    return common::InvalidArgument("CUSTOMER_ID_INVALID", "customer_id is required",
                                   {{"customer_id", "1 to 128 characters"}});
  }
  return repository_.GetAnalytics(scope.tenant, request.customer_id(), scope.deadline);
}

absl::StatusOr<ImportChunkResult> OrderLogic::PutImportChunk(
    const RequestScope& scope, const orders::v1::PutImportChunkRequest& request) {
  std::vector<common::FieldViolation> violations;
  CheckImportId(request.import_id(), violations);
  if (request.chunk_index() < 0 || request.chunk_index() >= kMaxChunks) {
    violations.push_back({"chunk_index", absl::StrCat("between 0 and ", kMaxChunks - 1)});
  }
  if (request.orders_size() == 0 || request.orders_size() > kMaxOrdersPerChunk) {
    violations.push_back({"orders", absl::StrCat("1 to ", kMaxOrdersPerChunk, " orders")});
  }
  // Per currency: the orders of one chunk may have several, and their amounts are not one unit.
  google::protobuf::RepeatedPtrField<orders::v1::MoneyTotal> totals;
  for (int i = 0; i < request.orders_size() && i < kMaxOrdersPerChunk; ++i) {
    absl::StatusOr<int64_t> amount = ValidateCreateOrder(request.orders(i));
    if (!amount.ok()) {
      for (const std::string& field : common::ViolatedFields(amount.status())) {
        violations.push_back({absl::StrCat("orders[", i, "].", field), "invalid"});
      }
      continue;
    }
    common::AddToTotals(&totals, request.orders(i).currency(), *amount);
  }
  if (!violations.empty()) {
    return common::InvalidArgument("IMPORT_CHUNK_INVALID", "the import chunk is not valid",
                                   violations);
  }
  return repository_.PutImportChunk(scope.tenant, request,
                                    common::RequestFingerprint(kPutChunkMethod, request), totals,
                                    scope.deadline);
}

absl::StatusOr<ImportCommitResult> OrderLogic::CommitImport(
    const RequestScope& scope, const orders::v1::CommitImportRequest& request) {
  std::vector<common::FieldViolation> violations;
  CheckImportId(request.import_id(), violations);
  if (request.chunk_count() < 1 || request.chunk_count() > kMaxChunks) {
    violations.push_back({"chunk_count", absl::StrCat("between 1 and ", kMaxChunks)});
  }
  if (!violations.empty()) {
    return common::InvalidArgument("IMPORT_COMMIT_INVALID", "the commit request is not valid",
                                   violations);
  }
  absl::StatusOr<ImportCommitResult> result = repository_.CommitImport(
      scope.tenant, request.import_id(), request.chunk_count(), scope.deadline);
  if (result.ok() && !result->replayed && on_outbox_write_) on_outbox_write_();
  return result;
}

}  // namespace orders
