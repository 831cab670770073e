# Thin wrappers: `make demo` and `make test` install what is missing, build, and run.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: setup build demo test sanitize fuzz bench clean gpu-build-check

setup:
	@bash scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/kiln train mlp --epochs 3

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Every test under AddressSanitizer + UBSan (a separate RelWithDebInfo build; ~10 min on 2 cores).
SANITIZE_BUILD ?= build-asan
SANITIZE_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
sanitize: setup
	cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS="$(SANITIZE_FLAGS)" -DCMAKE_EXE_LINKER_FLAGS="$(SANITIZE_FLAGS)" \
	  -DCMAKE_SHARED_LINKER_FLAGS="$(SANITIZE_FLAGS)"
	cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	cd $(SANITIZE_BUILD) && ctest --output-on-failure -j $(JOBS)

# libFuzzer (clang-14, ASan + UBSan) on the graph, model and checkpoint loaders for
# FUZZ_SECONDS (default 600); crash files land in build-fuzz/.
FUZZ_SECONDS ?= 600
fuzz:
	@bash scripts/setup.sh fuzz
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DKILN_FUZZ=ON \
	  -DKILN_BUILD_TESTS=OFF -DKILN_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build build-fuzz --target fuzz

# The GPU machines' build here (README "Building without LLVM"): -DKILN_LLVM=OFF with the
# bundle in build-gpu/, then its tests. A second full build: not part of `make test`.
gpu-build-check: setup
	@test -d .gpu-bundle || bash scripts/gpu_bundle.sh --no-cpu
	bash scripts/gpu_check.sh --no-gpu --jobs $(JOBS)

bench: build
	python3 bench/mlp_vs_pytorch.py

clean:
	rm -rf $(BUILD)
