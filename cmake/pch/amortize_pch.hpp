// Precompiled header: LibTorch's headers cost ~20 s per translation unit, so every target
// of the project reuses this one precompiled copy. Sources still include what they use.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>
