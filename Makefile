# correio — the two commands a user needs:
#   make run    install what is missing, build, start the server (embedded default)
#   make test   install, build (ASan+UBSan, -Werror) and run every test
BUILD      ?= build
TEST_BUILD ?= build-test
DATA       ?= ./correio-data
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

.PHONY: all deps build run test test-build clean format

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORREIO_TESTS=OFF

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target correio

run: build
	$(BUILD)/correio serve --data $(DATA) --demo

$(TEST_BUILD)/build.ninja:
	cmake -S . -B $(TEST_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug \
	  -DCORREIO_SANITIZE=ON -DCORREIO_WERROR=ON -DCORREIO_TESTS=ON

test-build: deps $(TEST_BUILD)/build.ninja
	cmake --build $(TEST_BUILD) -j $(JOBS)

test: test-build
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h')

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
