#include "store/memory/memory_store.h"

#include "store/store_conformance.h"

namespace correio::store {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, StoreConformance,
                         testing::Values(StoreBackend{
                             "memory",
                             [](ChangeHub* hub, const std::string&) {
                               return NewMemoryStore(hub);
                             }}),
                         BackendName);

}  // namespace
}  // namespace correio::store
