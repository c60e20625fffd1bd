// The ErrorInfo domain of every error payment_service answers, in a header of its own so the
// adapter and the server wiring name it without including each other.
#pragma once

namespace payment_service {

inline constexpr char kErrorDomain[] = "payments.example";

}  // namespace payment_service
