// The order service's schema, applied at start-up by pg::Migrate.
#pragma once

#include <vector>

#include "common/pg/migrate.h"

namespace orders {

const std::vector<pg::Migration>& OrderMigrations();

}  // namespace orders
