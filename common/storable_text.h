// The one rule for text in requests of both services: every string field is stored verbatim or
// refused, never changed on the way into PostgreSQL (issue 12, case 7).
//
// Why a rule at all: PostgreSQL's `text` cannot hold U+0000, and libpq passes text parameters as
// C strings, so a value with a NUL byte used to arrive cut at the NUL ("changed\0mind" stored
// as "changed", a filter "alice\0x" matching "alice") while the answer, or a replay of it,
// showed the whole value. The databases are UTF8, so bytes that are not UTF-8 cannot be stored
// either: over gRPC they never reach a handler (protobuf refuses a proto3 string that is not
// UTF-8 while parsing, and gRPC then answers INTERNAL with no field named), and in-process
// callers are held to the same rule here.
//
// Lengths: every length limit of both APIs is documented in characters and counted with
// CharacterCount (Unicode code points), never in bytes.
#pragma once

#include <cstddef>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/errors.h"

namespace google::protobuf {
class Message;
}

namespace common {

// ErrorInfo reason of CheckStorableText's refusal.
inline constexpr char kTextNotStorableReason[] = "TEXT_NOT_STORABLE";

// Characters (Unicode code points) in `text`, the unit of every documented length limit. For
// valid UTF-8 this is the number of code points; a byte of an invalid sequence counts as one.
size_t CharacterCount(absl::string_view text);

// Whether `text` is valid UTF-8 as PostgreSQL's UTF8 encoding accepts it: no overlong forms,
// no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
bool IsValidUtf8(absl::string_view text);

// Every string field of `message` (bytes fields excepted: they are stored as bytea) whose value
// PostgreSQL cannot store verbatim: one holding a NUL byte, or bytes that are not UTF-8. Walks
// nested messages, repeated fields and map fields (keys and values). Each violation's `field` is
// the path as BadRequest names it: "reason", "address.line1", "items[2].sku",
// "orders[0].items[1].sku", "labels[\"k\"]" (a map entry; its key C-escaped, e.g. "a\x00b").
// Empty when every string can be stored.
std::vector<FieldViolation> UnstorableTextFields(const google::protobuf::Message& message);

// OK, or INVALID_ARGUMENT reason TEXT_NOT_STORABLE with one BadRequest violation per field of
// UnstorableTextFields. Each service calls it once per RPC, on the whole request, in the one
// place all its requests pass through (orders: OrderGrpcService::ScopeOf and the OutboxAdmin
// handlers; payments: the adapter's CallerOf), before any domain rule or store sees the request.
absl::Status CheckStorableText(const google::protobuf::Message& request);

}  // namespace common
