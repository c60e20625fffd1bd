// The ErrorInfo domain of every error order_service answers (OrderService and OutboxAdmin alike),
// in a header of its own so each adapter and the server wiring name it without including another
// adapter.
#pragma once

namespace orders {

inline constexpr char kOrdersErrorDomain[] = "orders.example";

}  // namespace orders
