// The in-memory reference backend of store::Store (ARCHITECTURE "Storage").
//
// Simple and obviously right rather than fast: every call takes one mutex
// and works on plain std containers, so it serves as the reference the
// conformance suite (store/store_conformance.h) holds the SQLite backend to,
// and as the store of protocol tests. Nothing is persisted.
//
// Changes are published on the given hub after the data lock is released,
// in commit order.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>

#include "store/change_hub.h"
#include "store/store.h"

namespace correio::store {

// `hub` must outlive the store; it may be null (nothing is published).
std::unique_ptr<Store> NewMemoryStore(ChangeHub* hub);

}  // namespace correio::store
